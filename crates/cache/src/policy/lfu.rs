//! Exact LFU: evict the entry with the fewest hits since it was inserted; among those, the
//! least recently used.
//!
//! Entries sit in one recency list per hit count; the lists are kept in a `BTreeMap` by
//! count, so the victim is the tail of the first list. A hit moves an entry to the head of
//! the next count's list: O(log d) where d is the number of distinct counts (small).

use std::collections::BTreeMap;

use super::contract::{Admit, Policy};
use crate::list::{Links, List};

#[derive(Debug, Default)]
pub(crate) struct Lfu {
    links: Links,
    by_count: BTreeMap<u64, List>,
    /// Hit count per slot index, counting the insert as the first access.
    counts: Vec<u64>,
}

impl Lfu {
    fn detach(&mut self, idx: u32) -> u64 {
        let count = self.counts[idx as usize];
        let list = self
            .by_count
            .get_mut(&count)
            .expect("an entry's count has a list");
        list.unlink(&mut self.links, idx, 0);
        if list.len() == 0 {
            self.by_count.remove(&count);
        }
        count
    }

    fn attach(&mut self, idx: u32, count: u64) {
        if self.counts.len() <= idx as usize {
            self.counts.resize(idx as usize + 1, 0);
        }
        self.counts[idx as usize] = count;
        self.by_count
            .entry(count)
            .or_default()
            .push_head(&mut self.links, idx, 0);
    }
}

impl Policy for Lfu {
    fn insert(&mut self, idx: u32, _: Admit) {
        self.attach(idx, 1);
    }

    fn touch(&mut self, idx: u32) {
        let count = self.detach(idx);
        self.attach(idx, count.saturating_add(1));
    }

    fn remove(&mut self, idx: u32) {
        self.detach(idx);
    }

    fn evict(&mut self) -> Option<u32> {
        let victim = self.by_count.first_key_value()?.1.tail()?;
        self.detach(victim);
        Some(victim)
    }
}
