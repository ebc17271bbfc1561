//! The shared cache tier: a second cache level between the API nodes' near caches and the
//! store, chosen by URL.
//!
//! Every topology implements [`Tier`] with the same guarantee: a write carries the store's
//! version of the object, and **a tier never replaces a version with an older one, nor a
//! live value with anything at its own version** — the check and the write are one atomic
//! step (a striped lock in process, a Lua script on Redis). Concurrent fills after a miss
//! therefore cannot put an old value over a new one, and a versioned delete leaves a
//! short-lived tombstone so a fill of a replaced version that arrives late is refused too;
//! only the value of the tombstone's own version may fill over it ([`Tier::set`]).
//!
//! | URL | topology |
//! |---|---|
//! | `memory://` | one in-process node on the tiercache engine (the embedded default) |
//! | `memory-partitioned://N` | N in-process nodes, keys routed by CRC16 hash slot (16384 slots, as Redis Cluster) |
//! | `memory-replicated://N` | a primary and N−1 replicas, asynchronous replication, reads from replicas |
//! | `redis://HOST:PORT` | one Redis server (centralized) |
//! | `redis-sharded://HOST:PORT,HOST:PORT,…` | independent Redis servers, client-side CRC16 slot map (the original lab's setup) |
//! | `redis-cluster://HOST:PORT,…` | Redis Cluster: server-side slots, MOVED/ASK followed, slot map refreshed |
//! | `redis-replicated://PRIMARY,REPLICA,…` | writes to the primary, reads spread over the replicas |
//! | `redis-sentinel://SENTINEL,…/MASTER` | a Sentinel-managed primary; after a failover the tier flushes the new primary before serving from it |

/// Why a tier operation failed: [`TierError`].
mod error;
/// In-process topologies on the engine: [`MemoryNode`], partitioned, replicated.
mod memory;
/// The contract: [`Tier`], its entries and counters, and the ordering rule [`write_refused`].
mod model;
/// redis-server settings that match an in-process node's policy.
mod redis_settings;
/// One Redis server: [`RedisNode`] and the Lua scripts of checked writes.
mod redis_tier;
/// Redis Cluster, primary + replicas, Sentinel.
mod redis_topologies;
/// Redis Cluster's hash slots (CRC16).
pub mod slot;
/// Tier URLs and [`open`].
mod url;

pub use error::{REQUIRED_RIGHTS, TierError, TierResult};
pub use memory::MemoryNode;
pub use model::{
    DEFAULT_REPLICA_WAIT, Entry, SetOutcome, Tier, TierOptions, TierStats, write_refused,
};
pub use redis_settings::redis_server_args;
pub use redis_tier::RedisNode;
pub use url::{TierUrl, open, split_credentials};
