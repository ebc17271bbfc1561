//! Exact LRU: one list in recency order; a hit moves the entry to the head.

use super::contract::{Admit, Policy};
use crate::list::{Links, List};

#[derive(Debug, Default)]
pub(crate) struct Lru {
    links: Links,
    recency: List,
}

impl Policy for Lru {
    fn insert(&mut self, idx: u32, _: Admit) {
        self.recency.push_head(&mut self.links, idx, 0);
    }

    fn touch(&mut self, idx: u32) {
        self.recency.move_to_head(&mut self.links, idx, 0);
    }

    fn remove(&mut self, idx: u32) {
        self.recency.unlink(&mut self.links, idx, 0);
    }

    fn evict(&mut self) -> Option<u32> {
        let victim = self.recency.tail()?;
        self.recency.unlink(&mut self.links, victim, 0);
        Some(victim)
    }
}
