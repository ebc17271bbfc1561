//! Configuring a [`Cache`].

use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::RwLock;

use crate::cache::{Cache, Weigher};
use crate::policy::AnyPolicy;
use crate::shard::Shard;
use crate::stats::LookupCounters;
use crate::{Clock, PolicySpec, RemovalListener, SystemClock};

/// Bytes of bookkeeping the engine adds to each entry's key and value under a byte budget
/// (slot, hash-table index, policy links and metadata). An estimate measured on 64-bit
/// targets; set your own with [`CacheBuilder::entry_overhead`].
pub const DEFAULT_ENTRY_OVERHEAD: u64 = 96;

/// The seed of random policies and sampling unless [`CacheBuilder::seed`] says otherwise, so
/// that two runs of the same workload evict the same entries.
pub const DEFAULT_SEED: u64 = 0x7469_6572_6361_6368; // "tiercach"

/// Fewer shards are used when a shard would hold fewer entries than this (a shard is an
/// independent cache: tiny shards make every policy worse).
pub const MIN_SHARD_ENTRIES: u64 = 256;

/// Fewer shards are used when a shard's byte budget would be smaller than this.
pub const MIN_SHARD_BYTES: u64 = 1 << 20;

/// Why a configuration cannot make a cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Neither an entry count nor a byte budget was given.
    #[error("no capacity: set max_entries and/or max_bytes")]
    NoCapacity,
    /// A capacity of zero would refuse every insert.
    #[error("capacity must be at least 1, got 0")]
    ZeroCapacity,
    /// More shards than the capacity allows, or not a power of two.
    #[error(
        "bad shard count {shards}: it must be a power of two no larger than the entry capacity"
    )]
    BadShards {
        /// The shard count asked for.
        shards: usize,
    },
}

/// Builds a [`Cache`]: a policy, a capacity (entries and/or bytes), and optionally a clock,
/// a removal listener, a shard count, a seed and a hasher.
///
/// ```
/// use tiercache_cache::{CacheBuilder, PolicySpec};
/// let cache = CacheBuilder::new("s3fifo".parse::<PolicySpec>().unwrap())
///     .max_bytes(64 << 20, |key: &String, value: &Vec<u8>| (key.len() + value.len()) as u64)
///     .build()
///     .unwrap();
/// cache.insert("answer".to_string(), b"42".to_vec()).unwrap();
/// assert_eq!(cache.get("answer"), Some(b"42".to_vec()));
/// ```
pub struct CacheBuilder<K, V, S = foldhash::fast::RandomState> {
    spec: PolicySpec,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    weigher: Option<Weigher<K, V>>,
    entry_overhead: u64,
    shards: Option<usize>,
    clock: Option<Arc<dyn Clock>>,
    listener: Option<Arc<dyn RemovalListener<K, V>>>,
    seed: u64,
    hasher: S,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> CacheBuilder<K, V> {
    /// A builder for a cache evicting by `spec`, hashing keys with a per-process random seed
    /// (so clients cannot choose keys that collide).
    pub fn new(spec: PolicySpec) -> Self {
        CacheBuilder {
            spec,
            max_entries: None,
            max_bytes: None,
            weigher: None,
            entry_overhead: DEFAULT_ENTRY_OVERHEAD,
            shards: None,
            clock: None,
            listener: None,
            seed: DEFAULT_SEED,
            hasher: foldhash::fast::RandomState::default(),
            _types: PhantomData,
        }
    }
}

impl<K, V, S> CacheBuilder<K, V, S> {
    /// Holds at most `n` entries.
    pub fn max_entries(mut self, n: u64) -> Self {
        self.max_entries = Some(n);
        self
    }

    /// Holds entries whose weights add up to at most `bytes`; an entry weighs
    /// `weigher(key, value)` plus the per-entry overhead.
    pub fn max_bytes(
        mut self,
        bytes: u64,
        weigher: impl Fn(&K, &V) -> u64 + Send + Sync + 'static,
    ) -> Self {
        self.max_bytes = Some(bytes);
        self.weigher = Some(Arc::new(weigher));
        self
    }

    /// The bytes added to each entry's weight under a byte budget (default
    /// [`DEFAULT_ENTRY_OVERHEAD`]; the simulator uses 0 so weights are the trace's sizes).
    pub fn entry_overhead(mut self, bytes: u64) -> Self {
        self.entry_overhead = bytes;
        self
    }

    /// Splits the cache into `n` shards (a power of two). Each shard is an independent cache
    /// with an equal share of the capacity; 1 makes the policy exact over the whole cache.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = Some(n);
        self
    }

    /// The clock TTLs and LFU decay are measured on (default: [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Called once for every entry that leaves the cache.
    pub fn removal_listener(mut self, listener: impl RemovalListener<K, V> + 'static) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Seeds random eviction and sampling (default [`DEFAULT_SEED`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Hashes keys with `hasher` instead of a per-process random seed (a fixed hasher makes
    /// sharding and W-TinyLFU's sketch reproducible, as the simulator needs).
    pub fn hasher<S2>(self, hasher: S2) -> CacheBuilder<K, V, S2> {
        CacheBuilder {
            spec: self.spec,
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
            weigher: self.weigher,
            entry_overhead: self.entry_overhead,
            shards: self.shards,
            clock: self.clock,
            listener: self.listener,
            seed: self.seed,
            hasher,
            _types: PhantomData,
        }
    }

    /// Builds the cache.
    pub fn build(self) -> Result<Cache<K, V, S>, BuildError>
    where
        S: BuildHasher,
    {
        if self.max_entries.is_none() && self.max_bytes.is_none() {
            return Err(BuildError::NoCapacity);
        }
        if self.max_entries == Some(0) || self.max_bytes == Some(0) {
            return Err(BuildError::ZeroCapacity);
        }
        let shard_count = match self.shards {
            Some(n) => {
                if !n.is_power_of_two()
                    || self.max_entries.is_some_and(|m| (n as u64) > m)
                    || self.max_bytes.is_some_and(|b| (n as u64) > b)
                {
                    return Err(BuildError::BadShards { shards: n });
                }
                n
            }
            None => default_shards(self.max_entries, self.max_bytes),
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock::new()));
        // Under a byte budget the policy sizes its queues in bytes, otherwise in entries.
        let policy_capacity = self.max_bytes.or(self.max_entries).expect("checked above");
        let shards = (0..shard_count)
            .map(|i| {
                let share =
                    |total: Option<u64>| total.map_or(u64::MAX, |t| split(t, shard_count, i));
                let (max_weight, max_entries) = match self.max_bytes {
                    Some(_) => (share(self.max_bytes), share(self.max_entries)),
                    // Every entry weighs 1: the entry count is the weight.
                    None => (share(self.max_entries), u64::MAX),
                };
                let seed = self
                    .seed
                    .wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let policy = AnyPolicy::new(
                    &self.spec,
                    split(policy_capacity, shard_count, i),
                    seed,
                    clock.clone(),
                );
                CachePadded::new(RwLock::new(Shard::new(
                    policy,
                    self.spec.kind.name(),
                    self.spec.kind.is_volatile(),
                    max_weight,
                    max_entries,
                )))
            })
            .collect::<Box<[_]>>();
        let shared_hits = shards[0].read().shared_hits();
        Ok(Cache {
            shards,
            shard_mask: shard_count - 1,
            hasher: self.hasher,
            clock,
            listener: self.listener,
            weigher: if self.max_bytes.is_some() {
                self.weigher
            } else {
                None
            },
            entry_overhead: self.entry_overhead,
            shared_hits,
            lookups: LookupCounters::default(),
            spec: self.spec,
            capacity: policy_capacity,
        })
    }
}

/// Shard `i`'s share of `total` split `n` ways; the shares add up to `total` exactly.
fn split(total: u64, n: usize, i: usize) -> u64 {
    let n = n as u64;
    total / n + u64::from((i as u64) < total % n)
}

/// Sixteen shards per core (rounded to a power of two), fewer when shards would be tiny.
/// Many shards spread a skewed workload's hot keys over many locks: measured with the
/// throughput bench, 32 shards on 2 cores read 1.3× faster at 2 threads than 8.
fn default_shards(max_entries: Option<u64>, max_bytes: Option<u64>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut shards = (cores * 16).next_power_of_two();
    while shards > 1
        && (max_entries.is_some_and(|m| m / (shards as u64) < MIN_SHARD_ENTRIES)
            || max_bytes.is_some_and(|b| b / (shards as u64) < MIN_SHARD_BYTES))
    {
        shards /= 2;
    }
    shards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        for (total, n) in [(10, 4), (3, 4), (1000, 16), (7, 1)] {
            assert_eq!((0..n).map(|i| split(total, n, i)).sum::<u64>(), total);
        }
    }

    #[test]
    fn small_caches_get_fewer_shards() {
        assert_eq!(default_shards(Some(100), None), 1);
        assert!(default_shards(Some(1 << 20), None) >= 4);
        assert_eq!(default_shards(None, Some(1 << 20)), 1);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let spec = PolicySpec::new(crate::PolicyKind::Fifo);
        assert_eq!(
            CacheBuilder::<u64, u64>::new(spec).build().unwrap_err(),
            BuildError::NoCapacity
        );
        assert_eq!(
            CacheBuilder::<u64, u64>::new(spec)
                .max_entries(0)
                .build()
                .unwrap_err(),
            BuildError::ZeroCapacity
        );
        assert_eq!(
            CacheBuilder::<u64, u64>::new(spec)
                .max_entries(10)
                .shards(3)
                .build()
                .unwrap_err(),
            BuildError::BadShards { shards: 3 }
        );
    }
}
