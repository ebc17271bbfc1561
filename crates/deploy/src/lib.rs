//! Deployments of tiercache: the roles wired together and started.
//!
//! * **Embedded** (`tiercache serve`, `demo`, and `api` over a store URL): the store and the
//!   shared tier opened by URL ([`open_store`], [`open_tier`]), the dataset loaded into an
//!   empty store ([`load_dataset`]), and API nodes served in this process
//!   ([`start_nodes`]).
//! * **Local Redis** ([`LocalRedis`]): the shared tier's topologies as redis-server
//!   processes on this machine, started through `tiercache-launch`.
//!
//! The local multi-process deployment (`tiercache up`) will live here too. Errors are
//! [`Error`]: what was being done, with the cause as its source.
//!
//! # Layout
//!
//! * `backends`: the store and the shared tier, opened by URL;
//! * `dataset`: the Kepler-like table loaded into an empty store;
//! * `nodes`: API nodes in this process, started and stopped together;
//! * `local_redis`: Redis topologies on this machine;
//! * `error`: what can go wrong.

mod backends;
mod dataset;
mod error;
mod local_redis;
mod nodes;

pub use backends::{open_store, open_tier, tier_options};
pub use dataset::{DATASET_ROWS, load_dataset, store_is_empty};
pub use error::{Error, Result};
pub use local_redis::LocalRedis;
pub use nodes::{NodeSetup, RunningNodes, start_nodes};
