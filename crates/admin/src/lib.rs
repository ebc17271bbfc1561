//! The admin service (NA): three instances in warm standby, one active, placing three live
//! log nodes for each application.
//!
//! # Guarantees
//!
//! * **At most one instance changes the state at a time, and a former active never again.**
//!   The instances compete for one lease in the store (`AdminState`); the holder's epoch
//!   fences every state write *inside the store's transaction*, so an instance that was
//!   paused or cut off past its lease has its writes refused even before it notices, and
//!   steps down on the refusal.
//! * **A standby takes over within one lease and one tick** of the active's last renewal
//!   (a clean stop hands the lease over at once), at a higher epoch, after reloading the
//!   state from the store: no acknowledged assignment is lost.
//! * **Warm standby.** The active sends every other admin (found in the binder) a
//!   [`Heartbeat`] each tick with its epoch and its state's version; a standby reloads its
//!   copy when the version moved, so every instance answers `GET /v1/admin` with the state
//!   at most one tick old. Roles follow the store's answers alone, never heartbeats.
//! * **Assignments follow the state, fenced too.** Every tick, and at once when an
//!   application is placed, the active sends each live log node the applications it serves
//!   with their nodes, stamped with its epoch; a node refuses an older epoch, so a former
//!   active cannot undo its successor's assignments. The nodes' answers show, on the
//!   active's `GET /v1/admin`, how far each copy has caught up ([`CopyProgress`]).
//! * **Placement** ([`place`]): each application gets up to [`REPLICAS`] distinct live log
//!   nodes, least loaded first; a node whose binder entry lapsed is replaced at the next
//!   tick, and live nodes never move.
//!
//! # Layout
//!
//! * [`placement`](place): the placement rule, one pure function;
//! * `state`: the state's entries in the store and their encoding;
//! * [`Admin`]: one instance — lease, ticks, fenced writes, requests;
//! * `peers`: the active's heartbeats to the standbys;
//! * `assign`: the active's assignments to the log nodes, and their answers;
//! * [`AdminService`]: the requests, answered in process or by [`AdminClient`] over HTTP;
//! * [`router`]: the HTTP routes, `/metrics` and the fleet dashboard (`GET /`) included;
//! * `fleet`: every API node in the binder with its stats ([`Fleet`]), for the dashboard;
//! * [`AdminError`]: what can go wrong, classified once.

mod admin;
mod assign;
mod client;
mod error;
mod fleet;
mod http;
mod options;
mod peers;
mod placement;
mod service;
mod state;

pub use admin::{Admin, LOG_ROLE};
pub use assign::CopyProgress;
pub use client::AdminClient;
pub use error::{AdminError, AdminResult};
pub use fleet::{API_ROLE, Fleet, FleetNode};
pub use http::router;
pub use options::{AdminOptions, DEFAULT_LEASE};
pub use peers::{ADMIN_ROLE, Heartbeat};
pub use placement::{LogNode, Placement, REPLICAS, loads, place, repair};
pub use service::{ActivePeer, AdminService, AdminStatus, Assignment, NodeLoad, Role, WriteCounts};
pub use state::{LEASE, Snapshot, load};
pub use tiercache_log::{MAX_APP_BYTES, check_app};
