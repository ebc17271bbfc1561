//! The in-process cache engine of tiercache.
//!
//! Every API node keeps a *near cache* built on this engine, and the embedded shared tier
//! runs on it too. It reproduces Redis's eight eviction policies (exactly, or with Redis's
//! own sampling approximation when asked), adds FIFO, SIEVE, S3-FIFO and W-TinyLFU, and
//! supports TTLs, byte budgets and a removal listener. It does no I/O and spawns no thread.
//!
//! ```
//! use std::time::Duration;
//! use tiercache_cache::{CacheBuilder, PolicySpec, Ttl};
//!
//! let cache = CacheBuilder::new("allkeys-lru".parse::<PolicySpec>().unwrap())
//!     .max_entries(10_000)
//!     .build()
//!     .unwrap();
//! cache.insert("kepler-22b", 42u64).unwrap();
//! cache.insert_with_ttl("kepler-186f", 7u64, Duration::from_secs(60)).unwrap();
//! assert_eq!(cache.get("kepler-22b"), Some(42));
//! assert!(matches!(cache.ttl("kepler-186f"), Ttl::Remaining(_)));
//! ```
//!
//! # Policies
//!
//! Select a policy by name (`"allkeys-lru".parse::<PolicySpec>()`). *Candidates* are the
//! entries a policy may evict.
//!
//! | name | candidates | evicts | on a hit | when nothing may be evicted |
//! |---|---|---|---|---|
//! | `noeviction` | none | nothing | — | insert fails: out of memory |
//! | `allkeys-lru` | all | least recently used | moves to most recent | — |
//! | `allkeys-lfu` | all | fewest accesses, then least recent | count + 1 | — |
//! | `allkeys-random` | all | uniformly random (seeded) | — | — |
//! | `volatile-lru` | keys with a TTL | least recently used | moves to most recent | out of memory |
//! | `volatile-lfu` | keys with a TTL | fewest accesses, then least recent | count + 1 | out of memory |
//! | `volatile-random` | keys with a TTL | uniformly random (seeded) | — | out of memory |
//! | `volatile-ttl` | keys with a TTL | nearest expiry | — | out of memory |
//! | `fifo` | all | oldest insert | — | — |
//! | `sieve` | all | first unvisited entry from the hand (SIEVE) | sets the visited bit | — |
//! | `s3fifo` | all | small FIFO (10%) → main FIFO, with a ghost queue (S3-FIFO) | frequency + 1 (max 3) | — |
//! | `w-tinylfu` | all | LRU window (1%) + segmented LRU, admission by a frequency sketch | moves + sketch | — |
//!
//! **Redis's approximation.** The LRU, LFU and TTL policies are exact by default. With
//! `:samples=N` (for example `allkeys-lru:samples=5`) they evict the way Redis does: sample
//! N candidates, keep the best in a 16-entry eviction pool, evict the pool's best. The LFU
//! policies then count accesses with Redis's 8-bit logarithmic counter, tuned by
//! `log-factor` (Redis's `lfu-log-factor`, default 10) and `decay-time` (`lfu-decay-time`,
//! minutes, default 1); giving either implies sampling. S3-FIFO takes `small=` and
//! `ghost=` ratios, W-TinyLFU a `window=` ratio.
//!
//! **Refusals.** `noeviction` refuses an insert that does not fit with
//! [`InsertError::OutOfMemory`] and changes nothing; the `volatile-*` policies refuse the
//! same way when evicting every key that has a TTL would still not make room. An entry that
//! outweighs a whole shard is refused with [`InsertError::TooLarge`].
//!
//! **Writes to a cached key.** An insert over a live entry replaces it (the listener hears
//! `Replaced`). When the new value weighs the same and the entry stays a candidate (and,
//! for `volatile-ttl`, keeps its deadline), the write counts as an access and the entry
//! keeps its place, as Redis's `SET` refreshes a key's LRU clock and LFU counter; otherwise
//! the entry re-enters the policy as a new arrival.
//!
//! # Capacity
//!
//! A budget of entries ([`CacheBuilder::max_entries`]), of bytes
//! ([`CacheBuilder::max_bytes`]: a weigher's `key + value` bytes plus
//! [`DEFAULT_ENTRY_OVERHEAD`] per entry), or both. The cache is split into shards, each an
//! independent cache with an equal share of the budget; the policies are exact *per shard*
//! (build with `shards(1)` for one global order, as the simulator does). The budget is never
//! exceeded, not even for a moment.
//!
//! # Time to live
//!
//! [`Cache::insert_with_ttl`], [`Cache::expire`], [`Cache::persist`], [`Cache::ttl`]. An
//! expired entry is never returned: reads check the deadline (lazy expiry), every write
//! purges a few expired entries in passing, and [`Cache::purge_expired`] purges all of them
//! (active expiry; the engine has no thread of its own, its owner calls it periodically).
//! The clock is injectable ([`ManualClock`]) so TTL behaviour can be tested deterministically.
//!
//! # Concurrency guarantees
//!
//! A `Cache` is `Send + Sync`. Each key belongs to one shard, guarded by a reader-writer
//! lock, so:
//! - **operations on one key are linearizable**: each takes effect at one instant between
//!   its call and its return; a `get` that starts after an `insert` or `invalidate` of the
//!   same key returned sees that write or a later one;
//! - operations on keys in different shards never wait for each other; reads of one shard
//!   run in parallel when the policy records hits with atomics (all but exact LRU, exact
//!   LFU and W-TinyLFU, whose hits reorder lists under the exclusive lock);
//! - policy bookkeeping done by parallel readers (SIEVE's visited bit, S3-FIFO's counter,
//!   Redis's LRU clock and LFU counter) uses relaxed atomics: two racing hits may count as
//!   one, which only affects which entry is evicted later, never correctness;
//! - [`Cache::stats`] adds up per-shard and striped counters: exact when the cache is quiet,
//!   possibly a few operations behind while it is busy;
//! - the removal listener runs after the shard's lock is released, exactly once per entry
//!   that leaves (see [`RemovalListener`]).
//!
//! # Layout
//! - [`CacheBuilder`] → [`Cache`]: the public surface.
//! - [`PolicySpec`], [`PolicyKind`]: naming policies and their parameters.
//! - [`Clock`], [`SystemClock`], [`ManualClock`]: time.
//! - [`RemovalListener`], [`RemovalCause`]: hearing about entries that leave.
//! - [`CacheStats`]: counters (hits and misses on per-thread lanes). [`InsertError`]: refusals.
//! - private: `shard` (table + TTL index + policy), `policy/*` (one file per policy),
//!   `list` and `slab` (index-linked storage), `rng` (seeded randomness).

/// Configuring a cache: [`CacheBuilder`].
mod builder;
/// The concurrent cache: [`Cache`].
mod cache;
/// The engine's time, injectable for tests.
mod clock;
/// Why an insert was refused.
mod error;
/// Intrusive lists over slot indices.
mod list;
/// Telling the owner when an entry leaves, and why.
mod listener;
/// The eviction policies, one file each, behind one contract.
mod policy;
/// A seeded generator for victim sampling.
mod rng;
/// One shard: hash table, slots, TTL deadlines, policy.
mod shard;
/// Entries addressed by a stable index.
mod slab;
/// Naming a policy and its parameters: [`PolicySpec`].
mod spec;
/// Counters of what the cache did.
mod stats;

pub use builder::{
    BuildError, CacheBuilder, DEFAULT_ENTRY_OVERHEAD, DEFAULT_SEED, MIN_SHARD_BYTES,
    MIN_SHARD_ENTRIES,
};
pub use cache::{Cache, Ttl, Weigher};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::InsertError;
pub use listener::{RemovalCause, RemovalListener};
pub use spec::{ParsePolicyError, PolicyKind, PolicySpec, Sampling};
pub use stats::CacheStats;

// The README's example is compiled and run as a doctest, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
