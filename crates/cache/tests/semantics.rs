//! Redis's refusal semantics, TTLs, the removal listener and concurrent use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tiercache_cache::{
    Cache, CacheBuilder, InsertError, ManualClock, PolicySpec, RemovalCause, Ttl,
};

fn cache(policy: &str, entries: u64, clock: &ManualClock) -> Cache<u32, u32> {
    CacheBuilder::new(policy.parse::<PolicySpec>().unwrap())
        .max_entries(entries)
        .shards(1)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn noeviction_refuses_new_keys_when_full_and_changes_nothing() {
    let clock = ManualClock::new();
    let cache = cache("noeviction", 3, &clock);
    for k in 0..3 {
        cache.insert(k, k).unwrap();
    }
    let error = cache.insert(99, 99).unwrap_err();
    assert_eq!(
        error,
        InsertError::OutOfMemory {
            policy: "noeviction"
        }
    );
    assert_eq!(error.code(), tiercache_core::ErrorCode::OutOfMemory);
    assert!(error.to_string().contains("noeviction"), "{error}");
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.peek(&99), None);
    for k in 0..3 {
        assert_eq!(cache.peek(&k), Some(k), "entry {k} survived the refusal");
    }
    // Overwriting an existing key needs no room, so it is allowed.
    cache.insert(1, 100).unwrap();
    assert_eq!(cache.get(&1), Some(100));
    // Removing one makes room again.
    assert!(cache.remove(&0));
    cache.insert(99, 99).unwrap();
    let stats = cache.stats();
    assert_eq!(stats.rejected_inserts, 1);
    assert_eq!(stats.removed(RemovalCause::Evicted), 0);
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl_and_refuse_without_them() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "volatile-lru:samples=5",
        "volatile-lfu:samples=5",
        "volatile-ttl:samples=3",
    ] {
        let clock = ManualClock::new();
        let cache = cache(policy, 4, &clock);
        cache.insert(1, 1).unwrap();
        cache.insert(2, 2).unwrap();
        cache.insert_with_ttl(3, 3, MINUTE).unwrap();
        cache.insert_with_ttl(4, 4, MINUTE * 2).unwrap();
        // Full: two more inserts can evict the two keys that have a TTL…
        cache.insert(5, 5).unwrap();
        cache.insert(6, 6).unwrap();
        assert!(
            cache.peek(&3).is_none() && cache.peek(&4).is_none(),
            "{policy}: TTL keys go first"
        );
        for k in [1, 2, 5, 6] {
            assert_eq!(
                cache.peek(&k),
                Some(k),
                "{policy}: key {k} without TTL stays"
            );
        }
        // …and then nothing may be evicted.
        assert_eq!(
            cache.insert(7, 7),
            Err(InsertError::OutOfMemory {
                policy: policy.split(':').next().unwrap().to_string().leak()
            }),
            "{policy}"
        );
        assert_eq!(cache.len(), 4);
        // Giving a key a TTL makes it a candidate again.
        assert!(cache.expire(&1, MINUTE));
        cache.insert(7, 7).unwrap();
        assert_eq!(cache.peek(&1), None, "{policy}");
    }
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first() {
    let clock = ManualClock::new();
    let cache = cache("volatile-ttl", 3, &clock);
    cache.insert_with_ttl(1, 1, MINUTE * 3).unwrap();
    cache.insert_with_ttl(2, 2, MINUTE).unwrap();
    cache.insert_with_ttl(3, 3, MINUTE * 2).unwrap();
    cache.insert(4, 4).unwrap();
    assert_eq!(cache.peek(&2), None);
    cache.insert(5, 5).unwrap();
    assert_eq!(cache.peek(&3), None);
    assert_eq!(cache.peek(&1), Some(1));
}

#[test]
fn an_entry_larger_than_a_shard_is_refused() {
    let cache: Cache<String, Vec<u8>> = CacheBuilder::new("allkeys-lru".parse().unwrap())
        .max_bytes(1000, |k: &String, v: &Vec<u8>| (k.len() + v.len()) as u64)
        .entry_overhead(10)
        .shards(1)
        .build()
        .unwrap();
    cache.insert("small".into(), vec![0; 100]).unwrap();
    let error = cache.insert("big".into(), vec![0; 988]).unwrap_err();
    assert_eq!(
        error,
        InsertError::TooLarge {
            weight: 1001,
            limit: 1000
        }
    );
    assert_eq!(
        cache.peek("small"),
        Some(vec![0; 100]),
        "a refusal changes nothing"
    );
    assert_eq!(cache.weight(), 115);
}

#[test]
fn ttls_can_be_read_changed_and_removed_and_expired_entries_are_never_returned() {
    let clock = ManualClock::new();
    let cache = cache("allkeys-lru", 10, &clock);
    cache
        .insert_with_ttl(1, 10, Duration::from_secs(10))
        .unwrap();
    cache.insert(2, 20).unwrap();
    assert_eq!(cache.ttl(&1), Ttl::Remaining(Duration::from_secs(10)));
    assert_eq!(cache.ttl(&2), Ttl::Persistent);
    assert_eq!(cache.ttl(&3), Ttl::Missing);
    clock.advance(Duration::from_secs(4));
    assert_eq!(cache.ttl(&1), Ttl::Remaining(Duration::from_secs(6)));
    assert!(cache.persist(&1));
    assert_eq!(cache.ttl(&1), Ttl::Persistent);
    assert!(cache.expire(&2, Duration::from_secs(1)));
    clock.advance(Duration::from_millis(999));
    assert_eq!(cache.get(&2), Some(20));
    clock.advance(Duration::from_millis(1));
    assert_eq!(cache.get(&2), None, "expired exactly at the deadline");
    assert_eq!(cache.ttl(&2), Ttl::Missing);
    assert!(!cache.expire(&2, MINUTE), "cannot revive an expired entry");
    cache.insert_with_ttl(3, 30, Duration::ZERO).unwrap();
    assert_eq!(cache.get(&3), None, "a zero TTL is already expired");
    assert_eq!(cache.get(&1), Some(10));
    let stats = cache.stats();
    assert_eq!(stats.removed(RemovalCause::Expired), 2);
}

#[test]
fn active_expiry_purges_without_reads() {
    let clock = ManualClock::new();
    let cache = cache("sieve", 100, &clock);
    for k in 0..50 {
        cache
            .insert_with_ttl(k, k, Duration::from_secs(u64::from(k % 5) + 1))
            .unwrap();
    }
    clock.advance(Duration::from_secs(3));
    assert_eq!(cache.purge_expired(), 30);
    assert_eq!(cache.len(), 20);
    // Writes purge a few in passing as well.
    clock.advance(Duration::from_secs(10));
    cache.insert(1000, 0).unwrap();
    assert!(cache.len() < 21, "a write purged some expired entries");
}

#[test]
fn the_listener_hears_every_cause() {
    let clock = ManualClock::new();
    let heard: Arc<Mutex<Vec<(u32, u32, RemovalCause)>>> = Arc::default();
    let log = heard.clone();
    let cache: Cache<u32, u32> = CacheBuilder::new("fifo".parse().unwrap())
        .max_entries(2)
        .shards(1)
        .clock(Arc::new(clock.clone()))
        .removal_listener(move |k, v, cause| log.lock().unwrap().push((k, v, cause)))
        .build()
        .unwrap();
    cache.insert(1, 10).unwrap();
    cache.insert(1, 11).unwrap(); // replaced
    cache.insert(2, 20).unwrap();
    cache.insert(3, 30).unwrap(); // evicts 1
    cache.invalidate(&2); // invalidated
    cache
        .insert_with_ttl(4, 40, Duration::from_secs(1))
        .unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.get(&4), None); // expired
    cache.remove(&3); // removed
    assert_eq!(
        *heard.lock().unwrap(),
        vec![
            (1, 10, RemovalCause::Replaced),
            (1, 11, RemovalCause::Evicted),
            (2, 20, RemovalCause::Invalidated),
            (4, 40, RemovalCause::Expired),
            (3, 30, RemovalCause::Removed),
        ]
    );
    assert!(cache.is_empty());
}

#[test]
fn the_listener_may_call_back_into_the_cache() {
    // The listener runs after the shard lock is released: re-entering must not deadlock.
    type Slot = Arc<Mutex<Option<Arc<Cache<u32, u32>>>>>;
    let cache: Slot = Arc::default();
    let handle = cache.clone();
    let built = Arc::new(
        CacheBuilder::new("allkeys-lru".parse().unwrap())
            .max_entries(1)
            .shards(1)
            .removal_listener(move |k: u32, _v: u32, _| {
                if let Some(c) = handle.lock().unwrap().as_ref() {
                    let _ = c.contains_key(&k);
                }
            })
            .build()
            .unwrap(),
    );
    *cache.lock().unwrap() = Some(built.clone());
    built.insert(1, 1).unwrap();
    built.insert(2, 2).unwrap();
    assert_eq!(built.peek(&2), Some(2));
    cache.lock().unwrap().take();
}

#[test]
fn concurrent_use_keeps_the_budget_and_reports_every_removal() {
    for policy in [
        "allkeys-lru",
        "sieve",
        "s3fifo",
        "w-tinylfu",
        "allkeys-lfu:samples=5",
        "allkeys-random",
    ] {
        let removed = Arc::new(AtomicU64::new(0));
        let counter = removed.clone();
        let cache: Arc<Cache<u64, u64>> = Arc::new(
            CacheBuilder::new(policy.parse().unwrap())
                .max_entries(1000)
                .shards(4)
                .removal_listener(move |_, _, _| {
                    counter.fetch_add(1, Ordering::Relaxed);
                })
                .build()
                .unwrap(),
        );
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    let mut state = t + 1;
                    for _ in 0..20_000 {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let key = (state >> 33) % 3000;
                        if cache.get(&key).is_none() {
                            cache.insert(key, key).unwrap();
                        } else if key % 7 == 0 {
                            cache.invalidate(&key);
                        }
                        assert!(cache.len() <= 1000);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let stats = cache.stats();
        assert!(stats.entries <= 1000, "{policy}");
        assert_eq!(stats.hits + stats.misses, 80_000, "{policy}");
        assert_eq!(
            stats.inserts - stats.entries,
            removed.load(Ordering::Relaxed),
            "{policy}: one notification per removal"
        );
        assert_eq!(
            stats.removals.iter().sum::<u64>(),
            removed.load(Ordering::Relaxed),
            "{policy}"
        );
        assert!(stats.hit_ratio() > 0.0, "{policy}");
    }
}

#[test]
fn a_same_weight_write_counts_as_an_access_and_keeps_the_entry_in_place() {
    let clock = ManualClock::new();
    let lru = cache("allkeys-lru", 3, &clock);
    for k in 1..=3 {
        lru.insert(k, k).unwrap();
    }
    lru.insert(1, 100).unwrap(); // a write refreshes 1: 2 is now least recent
    lru.insert(4, 4).unwrap();
    assert_eq!(lru.peek(&2), None);
    assert_eq!(lru.peek(&1), Some(100));

    // FIFO ignores accesses: the rewritten key keeps its original (oldest) position.
    let fifo = cache("fifo", 3, &clock);
    for k in 1..=3 {
        fifo.insert(k, k).unwrap();
    }
    fifo.insert(1, 100).unwrap();
    fifo.insert(4, 4).unwrap();
    assert_eq!(fifo.peek(&1), None);
    assert_eq!(fifo.stats().removed(RemovalCause::Replaced), 1);

    // Gaining a TTL under a volatile policy changes candidacy: the entry re-enters as new.
    let volatile = cache("volatile-lru", 2, &clock);
    volatile.insert(1, 1).unwrap();
    volatile.insert_with_ttl(2, 2, MINUTE).unwrap();
    volatile.insert_with_ttl(1, 10, MINUTE).unwrap(); // 1 is now the most recent candidate
    volatile.insert(3, 3).unwrap();
    assert_eq!(volatile.peek(&2), None);
    assert_eq!(volatile.peek(&1), Some(10));
}
