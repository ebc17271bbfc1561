//! Deployments of tiercache: the roles wired together and started.
//!
//! * **A node's configuration** ([`NodeConfig`]): the settings every role running a node
//!   shares, typed and checked, and turned into what the nodes are started with
//!   ([`NodeConfig::setup`]).
//! * **Embedded** (`tiercache serve`, `demo`, and `api` over a store URL): the store and the
//!   shared tier opened by URL ([`open_store`], [`open_tier`]), the dataset loaded into an
//!   empty store ([`load_dataset`]), and API nodes served in this process
//!   ([`start_nodes`]).
//! * **The binder in use** ([`Membership`]): a node's entry in the store's registry,
//!   renewed every heartbeat, removed on a clean stop; a killed node disappears from
//!   lookups within one TTL.
//! * **Local Redis** ([`LocalRedis`]): the shared tier's topologies as redis-server
//!   processes on this machine, started through `tiercache-launch`.
//!
//! * **Local multi-process** ([`up`]): `tiercache up` — the store, Redis, the admins and
//!   the API nodes as child processes, started in order once healthy, watched, restarted
//!   with backoff, stopped in reverse.
//!
//! Errors are
//! [`Error`]: what was being done, with the cause as its source.
//!
//! # Layout
//!
//! * `node_config`: a node's settings, their defaults, and the conversion to its options;
//!   `node_config::setting` parses each setting's text (file, variables and flags alike),
//!   `node_config::keys` reads configuration tables key by key over their defaults;
//! * `binder`: a node's membership in the store's registry (heartbeats, leaving);
//! * `backends`: the store and the shared tier, opened by URL;
//! * `dataset`: the Kepler-like table loaded into an empty store;
//! * `nodes`: API nodes in this process, started and stopped together;
//! * `local_redis`: Redis topologies on this machine;
//! * [`up`]: the local multi-process deployment;
//! * `error`: what can go wrong.

mod backends;
mod binder;
mod dataset;
mod error;
mod local_redis;
mod node_config;
mod nodes;
pub mod up;

pub use backends::{open_store, open_tier};
pub use binder::{
    API_ROLE, DEFAULT_HEARTBEAT, HEARTBEATS_PER_TTL, Membership, ROLES, lookup, ttl_of,
};
pub use dataset::{DATASET_ROWS, load_dataset, store_is_empty};
pub use error::{Error, Result};
pub use local_redis::LocalRedis;
pub use node_config::{
    BusConfig, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_AGE, DEFAULT_NEAR_CAPACITY, DEFAULT_POLICY,
    IN_PROCESS, NodeConfig, WritePath, keys, setting,
};
pub use nodes::{LogSetup, NodeSetup, RunningNodes, start_nodes};
