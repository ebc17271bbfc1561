//! Per-application replicated logs: the durable storage of a log node, the log node itself
//! on the bus and over HTTP, and how its copies are read and caught up.
//!
//! # Guarantees
//!
//! * **Positions are dense and fixed**: an application's records sit at positions 0, 1, 2,
//!   … in the order this node appended them; nothing is inserted or moved. Positions are
//!   per copy; [`MessageId`]s are global, and reads across copies page by id.
//! * **Each message once**: a record whose id or idempotency key the log already holds is
//!   reported as a duplicate of the original, not stored again.
//! * **Acknowledged means durable** under the [`FsyncPolicy`] (segment files), and visible
//!   to every later read; [`MemoryStorage`] keeps nothing past the process.
//! * **Damage is reported, never skipped**: every record carries a CRC32C of its header and
//!   of its body; a torn tail is truncated on open and reported, a corrupt record in the
//!   middle is reported by file and offset and the log refuses appends until repaired.
//! * **A copy counts only once caught up**: a [`LogNode`] acknowledges an application's
//!   appends only after it read another copy to its end since it subscribed (and again
//!   after every lost bus session), so an acknowledgement never comes from a copy with a
//!   hole; it keeps comparing with the other copies and copies what it lacks.
//!
//! # Layout
//!
//! * [`MessageId`], [`MessageIds`]: message identity and the per-publisher generator;
//! * [`Record`], [`Limits`]: what is stored, and what one append may hold;
//!   [`check_app`]: what names an application;
//! * [`LogStorage`]: the contract every backend keeps, with [`Appended`];
//! * `index`: one application's ids and keys in memory (dedup, positions, id order);
//!   `registry`: the applications of a storage and what their indexes answer;
//! * [`MemoryStorage`]: in process, not durable;
//! * [`SegmentStorage`]: segment files, group commit, recovery ([`segment`]);
//! * [`LogNotice`]: the protocol's messages on the bus ([`Append`] on [`log_topic`], [`Ack`]
//!   to the publisher), their wire format as a table;
//! * [`LogPublisher`]: an API node's appends — publish, count distinct acknowledgements;
//! * [`LogNode`]: a log node: its assignment, the bus events, acknowledgements, catch-up;
//! * [`LogCopy`]: one copy as readers see it — a [`LogNode`] here or a [`RemoteCopy`];
//! * [`router`]: a log node's HTTP routes, with their bodies in [`wire`];
//!   [`http::request`]: one HTTP request between the roles;
//! * [`LogError`]: what can go wrong, classified once.

mod app_name;
mod copy;
mod error;
pub mod http;
mod id;
mod index;
mod memory;
mod node;
mod notice;
mod publisher;
mod record;
mod registry;
mod remote;
pub mod segment;
mod server;
mod storage;
pub mod wire;

pub use app_name::{MAX_APP_BYTES, check_app};
pub use copy::{CopyPage, LogCopy};
pub use error::{LogError, LogResult};
pub use id::{ID_TEXT_LEN, MessageId, MessageIds, ParseIdError};
pub use memory::MemoryStorage;
pub use node::{DEFAULT_SYNC_INTERVAL, LogNode, NodeCounters};
pub use notice::{
    Ack, Append, Confirmed, LogNotice, MAX_BATCH, NoticeError, app_of_topic, log_topic,
};
pub use publisher::{
    Acknowledged, LogPublisher, PublishError, PublisherCounters, PublisherOptions,
};
pub use record::{
    DEFAULT_MAX_BATCH, DEFAULT_MAX_KEY, DEFAULT_MAX_VALUE, FORMAT_MAX_KEY, Limits, Record,
};
pub use remote::RemoteCopy;
pub use segment::{FsyncPolicy, ParseFsyncError, Recovery, SegmentOptions, SegmentStorage};
pub use server::router;
pub use storage::{Appended, Duplicate, DuplicateOf, LogStorage};
