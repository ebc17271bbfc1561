//! Random eviction: every candidate equally likely, drawn from a seeded generator.

use super::contract::{Admit, Policy};
use crate::rng::SplitMix64;

/// A set of slot indices with O(1) insert, remove and uniform draw. Also used by the sampled
/// (Redis-approximated) policies to pick their samples.
#[derive(Debug, Default)]
pub(crate) struct DenseSet {
    members: Vec<u32>,
    /// Position of each slot index in `members`, valid only for members.
    position: Vec<u32>,
}

impl DenseSet {
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn insert(&mut self, idx: u32) {
        if self.position.len() <= idx as usize {
            self.position
                .resize((idx as usize + 1).max(self.position.len() * 2), 0);
        }
        self.position[idx as usize] = self.members.len() as u32;
        self.members.push(idx);
    }

    pub(crate) fn remove(&mut self, idx: u32) {
        let at = self.position[idx as usize] as usize;
        debug_assert_eq!(self.members[at], idx);
        self.members.swap_remove(at);
        if let Some(&moved) = self.members.get(at) {
            self.position[moved as usize] = at as u32;
        }
    }

    pub(crate) fn contains(&self, idx: u32) -> bool {
        self.position
            .get(idx as usize)
            .is_some_and(|&at| self.members.get(at as usize) == Some(&idx))
    }

    pub(crate) fn draw(&self, rng: &mut SplitMix64) -> Option<u32> {
        (!self.members.is_empty()).then(|| self.members[rng.below(self.members.len())])
    }
}

#[derive(Debug)]
pub(crate) struct Random {
    candidates: DenseSet,
    rng: SplitMix64,
}

impl Random {
    pub(crate) fn new(seed: u64) -> Self {
        Random {
            candidates: DenseSet::default(),
            rng: SplitMix64::new(seed),
        }
    }
}

impl Policy for Random {
    fn insert(&mut self, idx: u32, _: Admit) {
        self.candidates.insert(idx);
    }

    fn touch(&mut self, _: u32) {}

    fn touch_shared(&self, _: u32) {}

    fn remove(&mut self, idx: u32) {
        self.candidates.remove(idx);
    }

    fn evict(&mut self) -> Option<u32> {
        let victim = self.candidates.draw(&mut self.rng)?;
        self.candidates.remove(victim);
        Some(victim)
    }
}
