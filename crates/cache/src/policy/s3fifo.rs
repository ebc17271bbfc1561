//! S3-FIFO (Yang et al., SOSP '23): a small probationary FIFO, a main FIFO, a ghost queue.
//!
//! New entries enter the small queue (10% of the capacity by default), unless their key is
//! remembered by the ghost queue, in which case they go straight to main. A hit increments a
//! 2-bit counter (max 3) and moves nothing, so hits need only a shared lock. Evicting:
//! - from small (when main is within its share): the tail moves to main if it was hit at
//!   least twice (`MOVE_TO_MAIN_THRESHOLD`), otherwise it leaves and its key enters the ghost;
//! - from main: a tail that was hit is reinserted at the head with its counter decreased,
//!   the first tail with a zero counter leaves.
//!
//! Parameters follow libCacheSim's `S3FIFO.c` (small 0.1, ghost 0.9, threshold 2, counter
//! capped at 3 on reinsertion), including its warm-up rule: until the first eviction, new
//! entries go to main once small is full. The ghost remembers key hashes and weights, up to
//! `ghost_ratio × capacity` weight.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};

use super::contract::{Admit, Policy};
use crate::list::{Links, List};

const MOVE_TO_MAIN_THRESHOLD: u8 = 2;
const MAX_FREQ: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Small,
    Main,
}

/// Key hashes of entries recently evicted from small, in FIFO order, bounded by weight.
#[derive(Debug, Default)]
struct Ghost {
    /// (sequence number, hash, weight), oldest first; entries whose sequence number no longer
    /// matches `members` were removed early and are skipped.
    order: VecDeque<(u64, u64, u64)>,
    members: HashMap<u64, (u64, u64), foldhash::fast::FixedState>,
    weight: u64,
    capacity: u64,
    next_seq: u64,
}

impl Ghost {
    fn take(&mut self, hash: u64) -> bool {
        match self.members.remove(&hash) {
            Some((_, weight)) => {
                self.weight -= weight;
                true
            }
            None => false,
        }
    }

    fn remember(&mut self, hash: u64, weight: u64) {
        if weight > self.capacity || self.members.contains_key(&hash) {
            return;
        }
        while self.weight + weight > self.capacity {
            let Some((seq, old, old_weight)) = self.order.pop_front() else {
                break;
            };
            if self.members.get(&old).is_some_and(|(s, _)| *s == seq) {
                self.members.remove(&old);
                self.weight -= old_weight;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((seq, hash, weight));
        self.members.insert(hash, (seq, weight));
        self.weight += weight;
        // Early removals leave stale records behind; compact when they dominate.
        if self.order.len() > 2 * self.members.len() + 64 {
            let members = &self.members;
            self.order
                .retain(|(seq, hash, _)| members.get(hash).is_some_and(|(s, _)| s == seq));
        }
    }
}

#[derive(Debug)]
pub(crate) struct S3Fifo {
    links: Links,
    small: List,
    main: List,
    ghost: Ghost,
    /// Per slot: which queue, weight, hash and hit counter.
    queue: Vec<Queue>,
    weight: Vec<u64>,
    hash: Vec<u64>,
    freq: Vec<AtomicU8>,
    small_capacity: u64,
    main_capacity: u64,
    has_evicted: bool,
}

impl S3Fifo {
    pub(crate) fn new(capacity: u64, small_ratio: f64, ghost_ratio: f64) -> Self {
        let small_capacity = (capacity as f64 * small_ratio) as u64;
        S3Fifo {
            links: Links::default(),
            small: List::default(),
            main: List::default(),
            ghost: Ghost {
                capacity: (capacity as f64 * ghost_ratio) as u64,
                ..Ghost::default()
            },
            queue: Vec::new(),
            weight: Vec::new(),
            hash: Vec::new(),
            freq: Vec::new(),
            small_capacity,
            main_capacity: capacity - small_capacity,
            has_evicted: false,
        }
    }

    fn push(&mut self, idx: u32, queue: Queue) {
        self.queue[idx as usize] = queue;
        let weight = self.weight[idx as usize];
        let list = match queue {
            Queue::Small => &mut self.small,
            Queue::Main => &mut self.main,
        };
        list.push_head(&mut self.links, idx, weight);
    }

    fn unlink(&mut self, idx: u32) {
        let weight = self.weight[idx as usize];
        let queue = self.queue[idx as usize];
        let list = match queue {
            Queue::Small => &mut self.small,
            Queue::Main => &mut self.main,
        };
        list.unlink(&mut self.links, idx, weight);
    }

    fn freq(&self, idx: u32) -> u8 {
        self.freq[idx as usize].load(Ordering::Relaxed)
    }

    fn set_freq(&self, idx: u32, freq: u8) {
        self.freq[idx as usize].store(freq, Ordering::Relaxed);
    }

    /// One step of eviction from small: promote or evict the tail.
    fn evict_small(&mut self) -> Option<u32> {
        while let Some(tail) = self.small.tail() {
            self.unlink(tail);
            if self.freq(tail) >= MOVE_TO_MAIN_THRESHOLD {
                self.set_freq(tail, 0);
                self.push(tail, Queue::Main);
            } else {
                let (hash, weight) = (self.hash[tail as usize], self.weight[tail as usize]);
                self.ghost.remember(hash, weight);
                return Some(tail);
            }
        }
        None
    }

    fn evict_main(&mut self) -> Option<u32> {
        while let Some(tail) = self.main.tail() {
            self.unlink(tail);
            let freq = self.freq(tail);
            if freq >= 1 {
                self.set_freq(tail, freq.min(MAX_FREQ) - 1);
                self.push(tail, Queue::Main);
            } else {
                return Some(tail);
            }
        }
        None
    }
}

impl Policy for S3Fifo {
    fn insert(&mut self, idx: u32, admit: Admit) {
        let i = idx as usize;
        if self.queue.len() <= i {
            let len = (i + 1).max(self.queue.len() * 2);
            self.queue.resize(len, Queue::Small);
            self.weight.resize(len, 0);
            self.hash.resize(len, 0);
            self.freq.resize_with(len, || AtomicU8::new(0));
        }
        self.weight[i] = admit.weight;
        self.hash[i] = admit.hash;
        self.set_freq(idx, 0);
        let queue = if self.ghost.take(admit.hash)
            || (!self.has_evicted && self.small.weight() >= self.small_capacity)
        {
            Queue::Main
        } else {
            Queue::Small
        };
        self.push(idx, queue);
    }

    fn touch(&mut self, idx: u32) {
        self.touch_shared(idx);
    }

    #[inline]
    fn touch_shared(&self, idx: u32) {
        let freq = &self.freq[idx as usize];
        let now = freq.load(Ordering::Relaxed);
        if now < MAX_FREQ {
            freq.store(now + 1, Ordering::Relaxed);
        }
    }

    fn remove(&mut self, idx: u32) {
        self.unlink(idx);
    }

    fn evict(&mut self) -> Option<u32> {
        self.has_evicted = true;
        loop {
            if self.small.len() + self.main.len() == 0 {
                return None;
            }
            let victim = if self.main.weight() > self.main_capacity || self.small.len() == 0 {
                self.evict_main()
            } else {
                self.evict_small()
            };
            if victim.is_some() {
                return victim;
            }
        }
    }
}

impl S3Fifo {
    #[cfg(test)]
    fn queue_of(&self, idx: u32) -> Queue {
        self.queue[idx as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hit_wonders_leave_from_small_and_return_to_main_via_the_ghost() {
        let mut policy = S3Fifo::new(10, 0.1, 0.9);
        for idx in 0..10 {
            policy.insert(idx, Admit::unit(100 + u64::from(idx)));
        }
        // small holds 1 (the first insert), main took the rest during warm-up
        assert_eq!(policy.queue_of(0), Queue::Small);
        assert_eq!(policy.queue_of(5), Queue::Main);
        assert_eq!(policy.evict(), Some(0));
        policy.insert(0, Admit::unit(100)); // the ghost remembers hash 100
        assert_eq!(policy.queue_of(0), Queue::Main);
    }

    #[test]
    fn hit_entries_get_a_second_chance_in_main() {
        let mut policy = S3Fifo::new(4, 0.25, 0.9);
        for idx in 0..4 {
            policy.insert(idx, Admit::unit(u64::from(idx)));
        }
        // small = {0}, main = {1, 2, 3} (oldest first); hit 1 so main evicts 2 first
        policy.touch(1);
        policy.main_capacity = 2; // force eviction from main
        assert_eq!(policy.evict(), Some(2));
    }
}
