//! `tiercache up`: a local multi-process deployment in one command, on the launcher.
//!
//! ```text
//! store (SQLite under DIR, or --db) → Redis (--tier) → admin-1..3 → api-1..N
//!   each started once the one before answers its health check; stopped in reverse
//! ```
//!
//! Guarantees:
//!
//! * **Ready means healthy**: [`Deployment::start`] returns once every process printed its
//!   `listening on` line *and* answers its health check (the store a registry call over
//!   gRPC, admins and API nodes `GET /healthz`, Redis `PING`); a failure stops what was
//!   started and names the process with its log's tail.
//! * **Nothing left running** after [`Deployment::stop`]: reverse start order, SIGTERM, then
//!   SIGKILL after a grace period, every child reaped. Children run in process groups of
//!   their own, so a Ctrl-C at the terminal reaches `up` alone, which then stops them in
//!   order. (A `kill -9` of `up` itself leaves them running: nothing can stop them then.)
//! * **Stable addresses**: every child gets a fixed loopback port, kept when it is restarted.
//! * **Coherent by default**: API nodes share a bus only through Redis; without Redis and
//!   with several nodes, their near caches are off (said at start).
//!
//! # Layout
//!
//! * `plan`: [`UpOptions`] and the children's command lines;
//! * `child`: one child — start, health, restart with backoff, stop;
//! * `health`: the health checks;
//! * `redis`: the Redis topology;
//! * `secrets`: the API nodes' tokens and the admins' ([`UpAuth`]);
//! * `deployment`: [`Deployment`] — start in order, watch, stop in reverse.

mod child;
mod deployment;
mod health;
mod plan;
mod redis;
mod secrets;

pub use deployment::{Deployment, ProcessInfo};
pub use plan::{ChildSpec, Role, UpOptions, UpTier};
pub use secrets::{UpAuth, generated_tokens_path};
