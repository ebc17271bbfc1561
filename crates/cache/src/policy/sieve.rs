//! SIEVE (Zhang et al., NSDI '24): a FIFO queue, a visited bit per entry and a hand.
//!
//! New entries enter at the head. A hit sets the visited bit and moves nothing, so hits need
//! only a shared lock. To evict, the hand walks from where it stopped last (the tail at
//! first) towards the head, clearing visited bits, wrapping to the tail; the first entry
//! found unvisited is the victim, and the hand stays at its newer neighbour. This follows
//! libCacheSim's `Sieve.c`, whose miss ratios our differential test matches exactly.

use std::sync::atomic::{AtomicBool, Ordering};

use super::contract::{Admit, Policy};
use crate::list::{Links, List, NIL};

#[derive(Debug)]
pub(crate) struct Sieve {
    links: Links,
    queue: List,
    visited: Vec<AtomicBool>,
    /// Where the next eviction starts; `NIL` means the tail.
    hand: u32,
}

impl Default for Sieve {
    fn default() -> Self {
        Sieve {
            links: Links::default(),
            queue: List::default(),
            visited: Vec::new(),
            hand: NIL,
        }
    }
}

impl Policy for Sieve {
    fn insert(&mut self, idx: u32, _: Admit) {
        if self.visited.len() <= idx as usize {
            let len = (idx as usize + 1).max(self.visited.len() * 2);
            self.visited.resize_with(len, || AtomicBool::new(false));
        }
        self.visited[idx as usize].store(false, Ordering::Relaxed);
        self.queue.push_head(&mut self.links, idx, 0);
    }

    fn touch(&mut self, idx: u32) {
        self.touch_shared(idx);
    }

    #[inline]
    fn touch_shared(&self, idx: u32) {
        let bit = &self.visited[idx as usize];
        // Read first: a hot entry's line stays shared between cores instead of bouncing.
        if !bit.load(Ordering::Relaxed) {
            bit.store(true, Ordering::Relaxed);
        }
    }

    fn remove(&mut self, idx: u32) {
        if self.hand == idx {
            self.hand = self.links.newer(idx).unwrap_or(NIL);
        }
        self.queue.unlink(&mut self.links, idx, 0);
    }

    fn evict(&mut self) -> Option<u32> {
        let tail = self.queue.tail()?;
        let mut cursor = if self.hand == NIL { tail } else { self.hand };
        while self.visited[cursor as usize].swap(false, Ordering::Relaxed) {
            cursor = self.links.newer(cursor).unwrap_or(tail);
        }
        self.hand = self.links.newer(cursor).unwrap_or(NIL);
        self.queue.unlink(&mut self.links, cursor, 0);
        Some(cursor)
    }
}
