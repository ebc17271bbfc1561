//! Belady's MIN: on a miss, evict the object whose next request is furthest in the future.
//!
//! It needs the future, so it exists only offline. Like libCacheSim's `Belady`, it inserts
//! every missed object (no bypass) after evicting, one object at a time, the cached object
//! with the furthest next access (objects never requested again first) until the new one
//! fits. With unit sizes this is the optimal miss ratio among caches that admit everything.

use std::collections::{BinaryHeap, HashMap};

use crate::trace::{Request, next_accesses};

/// Hits and misses of Belady's MIN over `requests` with room for `capacity` weight, where a
/// request weighs its size (`by_size`) or 1.
pub fn simulate(
    requests: &[Request],
    capacity: u64,
    by_size: bool,
    progress: &dyn Fn(usize),
) -> (u64, u64) {
    let next = next_accesses(requests);
    // key -> (next access, weight) of cached objects
    let mut cached: HashMap<u64, (u64, u64)> = HashMap::new();
    // (next access, key), max first; stale records are skipped when popped
    let mut furthest: BinaryHeap<(u64, u64)> = BinaryHeap::new();
    let (mut hits, mut misses, mut used) = (0u64, 0u64, 0u64);
    for (i, request) in requests.iter().enumerate() {
        if i % 65_536 == 0 {
            progress(i);
        }
        let weight = if by_size { u64::from(request.size) } else { 1 };
        if let Some(entry) = cached.get_mut(&request.key) {
            hits += 1;
            entry.0 = next[i];
            furthest.push((next[i], request.key));
            continue;
        }
        misses += 1;
        if weight > capacity {
            continue;
        }
        while used + weight > capacity {
            let (when, key) = furthest.pop().expect("a full cache has objects");
            if cached.get(&key).is_some_and(|(n, _)| *n == when) {
                used -= cached.remove(&key).expect("present").1;
            }
        }
        cached.insert(request.key, (next[i], weight));
        furthest.push((next[i], request.key));
        used += weight;
        if furthest.len() > 4 * cached.len() + 1024 {
            furthest = cached.iter().map(|(k, (n, _))| (*n, *k)).collect();
        }
    }
    progress(requests.len());
    (hits, misses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(keys: &[u64]) -> Vec<Request> {
        keys.iter().map(|&key| Request { key, size: 1 }).collect()
    }

    #[test]
    fn evicts_the_object_needed_last() {
        // capacity 2: at the request for 3 the cache holds {1, 2}; 1 is next needed at index 3,
        // 2 at index 4 → evict 2; at the request for 2, 3 (never needed again) goes
        let (hits, misses) = simulate(&unit(&[1, 2, 3, 1, 2, 1]), 2, false, &|_| {});
        // 1 2 3 miss; 1 hit; 2 miss; 1 hit
        assert_eq!((hits, misses), (2, 4));
    }

    #[test]
    fn never_beats_a_cache_that_holds_everything() {
        let requests = unit(&[5, 6, 5, 7, 6, 5, 8, 8]);
        let (hits, misses) = simulate(&requests, 100, false, &|_| {});
        assert_eq!(misses, 4); // only cold misses
        assert_eq!(hits, 4);
    }
}
