//! Exact `volatile-ttl`: evict the entry whose TTL ends first (ties: lowest slot index).

use std::collections::BTreeSet;

use super::contract::{Admit, Policy};

#[derive(Debug, Default)]
pub(crate) struct NearestExpiry {
    order: BTreeSet<(u64, u32)>,
    deadline: Vec<u64>,
}

impl Policy for NearestExpiry {
    fn insert(&mut self, idx: u32, admit: Admit) {
        if self.deadline.len() <= idx as usize {
            self.deadline.resize(idx as usize + 1, 0);
        }
        self.deadline[idx as usize] = admit.expires_at;
        self.order.insert((admit.expires_at, idx));
    }

    fn touch(&mut self, _: u32) {}

    fn touch_shared(&self, _: u32) {}

    fn remove(&mut self, idx: u32) {
        self.order.remove(&(self.deadline[idx as usize], idx));
    }

    fn evict(&mut self) -> Option<u32> {
        self.order.pop_first().map(|(_, idx)| idx)
    }
}
