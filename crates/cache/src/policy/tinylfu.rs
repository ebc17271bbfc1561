//! W-TinyLFU (Einziger et al., 2017): a small LRU window in front of a segmented LRU, with
//! admission to the main area decided by a frequency sketch.
//!
//! New entries enter the window (1% of the capacity by default). When room is needed, the
//! window's least recent entry becomes a *candidate* for the main area: if main has room it
//! simply moves there; otherwise it competes with main's victim (the probation tail, or the
//! protected tail when probation is empty) and the one the sketch estimates as less frequent
//! leaves (ties keep the incumbent). Main is a segmented LRU: probation (20%) and protected
//! (80%); a hit in probation promotes to protected, whose overflow is demoted back to
//! probation; a candidate enters the first segment with room. When main's room does not
//! split exactly 1:4, probation can hold one entry over its share; a hit that demotes into
//! it then sheds probation's tail (the shard collects it as an eviction).
//!
//! The sketch counts inserts, hits in main and every candidate considered, and is halved
//! after `32 × main capacity` hits in main. These rules follow libCacheSim's `WTinyLFU.c` and
//! `SLRU.c` so our miss ratios stay within a point of it; its sketch is a counting Bloom
//! filter, ours a count-min sketch of similar precision.

use super::contract::{Admit, Policy};
use super::sketch::FrequencySketch;
use crate::list::{Links, List};

/// Main-area hits between two halvings of the sketch, per unit of main capacity.
const RESET_HITS_PER_CAPACITY: u64 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Window,
    Probation,
    Protected,
}

#[derive(Debug)]
pub(crate) struct WTinyLfu {
    links: Links,
    window: List,
    probation: List,
    protected: List,
    segment: Vec<Segment>,
    weight: Vec<u64>,
    hash: Vec<u64>,
    sketch: FrequencySketch,
    main_capacity: u64,
    probation_capacity: u64,
    protected_capacity: u64,
    main_hits: u64,
    entries: u64,
    /// Entries probation shed during a hit (see `touch`), for the shard to collect.
    surplus: Vec<u32>,
}

impl WTinyLfu {
    pub(crate) fn new(capacity: u64, window_ratio: f64) -> Self {
        let window_capacity = (capacity as f64 * window_ratio) as u64;
        let main_capacity = capacity - window_capacity;
        WTinyLfu {
            links: Links::default(),
            window: List::default(),
            probation: List::default(),
            protected: List::default(),
            segment: Vec::new(),
            weight: Vec::new(),
            hash: Vec::new(),
            // Sized for the main capacity in entries; under a byte budget it starts smaller and
            // grows with the entry count.
            sketch: FrequencySketch::new(main_capacity.clamp(1, 1 << 16)),
            main_capacity,
            probation_capacity: main_capacity / 5,
            protected_capacity: main_capacity * 4 / 5,
            main_hits: 0,
            entries: 0,
            surplus: Vec::new(),
        }
    }

    fn list_of(&mut self, segment: Segment) -> (&mut List, &mut Links) {
        let list = match segment {
            Segment::Window => &mut self.window,
            Segment::Probation => &mut self.probation,
            Segment::Protected => &mut self.protected,
        };
        (list, &mut self.links)
    }

    fn push(&mut self, idx: u32, segment: Segment) {
        self.segment[idx as usize] = segment;
        let weight = self.weight[idx as usize];
        let (list, links) = self.list_of(segment);
        list.push_head(links, idx, weight);
    }

    fn unlink(&mut self, idx: u32) {
        let weight = self.weight[idx as usize];
        let (list, links) = self.list_of(self.segment[idx as usize]);
        list.unlink(links, idx, weight);
    }

    fn main_weight(&self) -> u64 {
        self.probation.weight() + self.protected.weight()
    }

    fn main_victim(&self) -> Option<u32> {
        self.probation.tail().or_else(|| self.protected.tail())
    }

    fn frequency(&self, idx: u32) -> u16 {
        self.sketch.estimate(self.hash[idx as usize])
    }

    /// Moves window entry `idx` into main: the first segment with room, else probation.
    fn admit_to_main(&mut self, idx: u32) {
        self.unlink(idx);
        let weight = self.weight[idx as usize];
        let segment = if self.protected.weight() + weight <= self.protected_capacity
            && self.probation.weight() + weight > self.probation_capacity
        {
            Segment::Protected
        } else {
            Segment::Probation
        };
        self.push(idx, segment);
    }
}

impl Policy for WTinyLfu {
    fn insert(&mut self, idx: u32, admit: Admit) {
        let i = idx as usize;
        if self.segment.len() <= i {
            let len = (i + 1).max(self.segment.len() * 2);
            self.segment.resize(len, Segment::Window);
            self.weight.resize(len, 0);
            self.hash.resize(len, 0);
        }
        self.weight[i] = admit.weight;
        self.hash[i] = admit.hash;
        self.entries += 1;
        if self.entries > 2 * self.sketch.items() && self.sketch.items() < 1 << 26 {
            // A byte budget holds more entries than the sketch was sized for: grow it (the
            // counts restart, as after a reset).
            self.sketch = FrequencySketch::new(self.entries * 2);
        }
        self.sketch.increment(admit.hash);
        self.push(idx, Segment::Window);
    }

    fn touch(&mut self, idx: u32) {
        let segment = self.segment[idx as usize];
        let weight = self.weight[idx as usize];
        match segment {
            Segment::Window => {
                let (list, links) = self.list_of(segment);
                list.move_to_head(links, idx, weight);
                return;
            }
            Segment::Protected => {
                let (list, links) = self.list_of(segment);
                list.move_to_head(links, idx, weight);
            }
            Segment::Probation => {
                self.unlink(idx);
                self.push(idx, Segment::Protected);
                while self.protected.weight() > self.protected_capacity {
                    let Some(demoted) = self.protected.tail() else {
                        break;
                    };
                    self.unlink(demoted);
                    self.push(demoted, Segment::Probation);
                }
                // Probation over its share (main's room not divisible 1:4) sheds its tail,
                // as libCacheSim's SLRU does on a hit.
                while self.probation.weight() > self.probation_capacity {
                    let Some(shed) = self.probation.tail() else {
                        break;
                    };
                    self.unlink(shed);
                    self.entries -= 1;
                    self.surplus.push(shed);
                }
            }
        }
        self.sketch.increment(self.hash[idx as usize]);
        self.main_hits += 1;
        if self.main_hits >= RESET_HITS_PER_CAPACITY * self.main_capacity.max(1) {
            self.main_hits = 0;
            self.sketch.halve();
        }
    }

    fn remove(&mut self, idx: u32) {
        self.unlink(idx);
        self.entries -= 1;
    }

    fn evict(&mut self) -> Option<u32> {
        let victim = loop {
            let Some(candidate) = self.window.tail() else {
                let victim = self.main_victim()?;
                self.unlink(victim);
                break victim;
            };
            let candidate_hash = self.hash[candidate as usize];
            if self.main_weight() + self.weight[candidate as usize] <= self.main_capacity {
                self.admit_to_main(candidate);
                self.sketch.increment(candidate_hash);
                continue;
            }
            let victim = match self.main_victim() {
                Some(incumbent) if self.frequency(candidate) > self.frequency(incumbent) => {
                    self.unlink(incumbent);
                    self.admit_to_main(candidate);
                    incumbent
                }
                _ => {
                    self.unlink(candidate);
                    candidate
                }
            };
            self.sketch.increment(candidate_hash);
            break victim;
        };
        self.entries -= 1;
        Some(victim)
    }

    fn take_surplus(&mut self) -> Option<u32> {
        self.surplus.pop()
    }
}
