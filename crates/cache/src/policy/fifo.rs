//! FIFO: evict the oldest insert; hits change nothing.

use super::contract::{Admit, Policy};
use crate::list::{Links, List};

#[derive(Debug, Default)]
pub(crate) struct Fifo {
    links: Links,
    queue: List,
}

impl Policy for Fifo {
    fn insert(&mut self, idx: u32, _: Admit) {
        self.queue.push_head(&mut self.links, idx, 0);
    }

    fn touch(&mut self, _: u32) {}

    fn touch_shared(&self, _: u32) {}

    fn remove(&mut self, idx: u32) {
        self.queue.unlink(&mut self.links, idx, 0);
    }

    fn evict(&mut self) -> Option<u32> {
        let victim = self.queue.tail()?;
        self.queue.unlink(&mut self.links, victim, 0);
        Some(victim)
    }
}
