//! `noeviction`: never chooses a victim, so a full cache refuses inserts (Redis's default).

use super::contract::{Admit, Policy};

/// `noeviction`: keeps no order because it never chooses a victim.
#[derive(Debug, Default)]
pub(crate) struct NoEviction;

impl Policy for NoEviction {
    fn insert(&mut self, _: u32, _: Admit) {}
    fn touch(&mut self, _: u32) {}
    fn touch_shared(&self, _: u32) {}
    fn remove(&mut self, _: u32) {}
    fn evict(&mut self) -> Option<u32> {
        None
    }
}
