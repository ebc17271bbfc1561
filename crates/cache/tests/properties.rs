//! Property tests: random sequences of operations against a naive model of the cache.
//!
//! The model tracks every entry (key, weight, TTL deadline) and, for the policies whose
//! choice is deterministic, the exact victim a naive implementation would pick. The removal
//! listener's events drive the model: each event must name an entry the model holds, with a
//! cause the operation allows, and each entry leaves exactly once. After every operation:
//! - the cache never holds more weight than its capacity;
//! - a `get` returns a value exactly when the model says the entry is present and not
//!   expired (so expired entries are never returned);
//! - refusals (out of memory) happen exactly when the model says nothing may be evicted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use tiercache_cache::{
    Cache, CacheBuilder, InsertError, ManualClock, PolicyKind, PolicySpec, RemovalCause,
};

const CAPACITY: u64 = 8;
const KEYS: u8 = 12;

#[derive(Debug, Clone)]
enum Op {
    Get(u8),
    Insert(u8, u64),
    InsertTtl(u8, u64, u64),
    Remove(u8),
    Invalidate(u8),
    Expire(u8, u64),
    Persist(u8),
    Advance(u64),
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS;
    let weight = 1..=3u64;
    let ttl = 1..=50u64;
    prop_oneof![
        4 => key.clone().prop_map(Op::Get),
        3 => (key.clone(), weight.clone()).prop_map(|(k, w)| Op::Insert(k, w)),
        3 => (key.clone(), weight, ttl.clone()).prop_map(|(k, w, t)| Op::InsertTtl(k, w, t)),
        1 => key.clone().prop_map(Op::Remove),
        1 => key.clone().prop_map(Op::Invalidate),
        1 => (key.clone(), ttl).prop_map(|(k, t)| Op::Expire(k, t)),
        1 => key.prop_map(Op::Persist),
        1 => (1..=30u64).prop_map(Op::Advance),
        1 => Just(Op::Purge),
    ]
}

#[derive(Debug, Clone)]
struct ModelEntry {
    weight: u64,
    /// Deadline in ms on the manual clock, 0 = none.
    deadline: u64,
    /// When the entry became an eviction candidate (insert, or gained a TTL).
    arrived: u64,
    /// Last access as a candidate (arrival or hit).
    touched: u64,
    /// Hits as a candidate, counting the arrival.
    count: u64,
    /// SIEVE's visited bit.
    visited: bool,
}

struct Model {
    kind: PolicyKind,
    /// Whether the model can name the exact victim (deterministic policies).
    exact: bool,
    entries: BTreeMap<u8, ModelEntry>,
    now_ms: u64,
    tick: u64,
    /// SIEVE: the queue from oldest to newest, and the hand (a key, or the tail when None).
    sieve_queue: Vec<u8>,
    sieve_hand: Option<u8>,
}

impl Model {
    fn new(spec: &PolicySpec) -> Self {
        let exact = matches!(
            spec.kind,
            PolicyKind::Fifo
                | PolicyKind::AllKeysLru
                | PolicyKind::VolatileLru
                | PolicyKind::AllKeysLfu
                | PolicyKind::VolatileLfu
                | PolicyKind::VolatileTtl
                | PolicyKind::Sieve
        ) && spec.sampling.is_none();
        Model {
            kind: spec.kind,
            exact,
            entries: BTreeMap::new(),
            now_ms: 0,
            tick: 0,
            sieve_queue: Vec::new(),
            sieve_hand: None,
        }
    }

    fn is_candidate(&self, entry: &ModelEntry) -> bool {
        !self.kind.is_volatile() || entry.deadline != 0
    }

    fn is_expired(&self, entry: &ModelEntry) -> bool {
        entry.deadline != 0 && self.now_ms >= entry.deadline
    }

    fn weight(&self) -> u64 {
        self.entries.values().map(|e| e.weight).sum()
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn become_candidate(&mut self, key: u8) {
        let tick = self.next_tick();
        let entry = self.entries.get_mut(&key).unwrap();
        entry.arrived = tick;
        entry.touched = tick;
        entry.count = 1;
        entry.visited = false;
        self.sieve_queue.push(key);
    }

    fn stop_being_candidate(&mut self, key: u8) {
        if let Some(at) = self.sieve_queue.iter().position(|k| *k == key) {
            if self.sieve_hand == Some(key) {
                self.sieve_hand = self.sieve_queue.get(at + 1).copied();
            }
            self.sieve_queue.remove(at);
        }
    }

    fn hit(&mut self, key: u8) {
        let tick = self.next_tick();
        let candidate = self.is_candidate(&self.entries[&key]);
        if candidate {
            let entry = self.entries.get_mut(&key).unwrap();
            entry.touched = tick;
            entry.count += 1;
            entry.visited = true;
        }
    }

    /// The victim the policy must choose now, for exact policies.
    fn expected_victim(&mut self) -> Option<u8> {
        let candidates: Vec<(u8, ModelEntry)> = self
            .entries
            .iter()
            .filter(|(_, e)| self.is_candidate(e))
            .map(|(k, e)| (*k, e.clone()))
            .collect();
        match self.kind {
            PolicyKind::Fifo => candidates
                .iter()
                .min_by_key(|(_, e)| e.arrived)
                .map(|(k, _)| *k),
            PolicyKind::AllKeysLru | PolicyKind::VolatileLru => candidates
                .iter()
                .min_by_key(|(_, e)| e.touched)
                .map(|(k, _)| *k),
            PolicyKind::AllKeysLfu | PolicyKind::VolatileLfu => candidates
                .iter()
                .min_by_key(|(_, e)| (e.count, e.touched))
                .map(|(k, _)| *k),
            PolicyKind::Sieve => {
                // Walk from the hand (or the tail) towards the newest, clearing visited bits.
                let mut at = self
                    .sieve_hand
                    .and_then(|h| self.sieve_queue.iter().position(|k| *k == h))
                    .unwrap_or(0);
                loop {
                    let key = *self.sieve_queue.get(at)?;
                    let entry = self.entries.get_mut(&key).unwrap();
                    if entry.visited {
                        entry.visited = false;
                        at = (at + 1) % self.sieve_queue.len();
                    } else {
                        return Some(key);
                    }
                }
            }
            _ => None,
        }
    }

    /// Applies one removal reported by the listener, checking it is legal.
    fn apply_removal(
        &mut self,
        key: u8,
        cause: RemovalCause,
        allowed: &[RemovalCause],
    ) -> Result<(), TestCaseError> {
        prop_assert!(
            allowed.contains(&cause),
            "unexpected cause {cause} for key {key}"
        );
        let Some(entry) = self.entries.get(&key).cloned() else {
            return Err(TestCaseError::fail(format!(
                "removal of {key} ({cause}) which the cache does not hold (twice?)"
            )));
        };
        match cause {
            RemovalCause::Expired => prop_assert!(
                self.is_expired(&entry),
                "{key} reported expired before its deadline"
            ),
            RemovalCause::Evicted => {
                prop_assert!(
                    self.kind != PolicyKind::NoEviction,
                    "noeviction evicted {key}"
                );
                prop_assert!(
                    self.is_candidate(&entry),
                    "{key} evicted but is no candidate (volatile policy, no TTL)"
                );
                if self.exact {
                    if self.kind == PolicyKind::VolatileTtl {
                        let nearest = self
                            .entries
                            .values()
                            .filter(|e| self.is_candidate(e))
                            .map(|e| e.deadline)
                            .min();
                        prop_assert_eq!(
                            Some(entry.deadline),
                            nearest,
                            "volatile-ttl evicted {} not the nearest expiry",
                            key
                        );
                    } else {
                        let expected = self.expected_victim();
                        prop_assert_eq!(Some(key), expected, "wrong victim for {:?}", self.kind);
                    }
                }
            }
            _ => {}
        }
        if self.kind == PolicyKind::Sieve && cause == RemovalCause::Evicted {
            let at = self.sieve_queue.iter().position(|k| *k == key).unwrap();
            self.sieve_hand = self.sieve_queue.get(at + 1).copied();
            self.sieve_queue.remove(at);
        } else if self.is_candidate(&entry) {
            self.stop_being_candidate(key);
        }
        self.entries.remove(&key);
        Ok(())
    }
}

type Events = Arc<Mutex<Vec<(u8, u64, RemovalCause)>>>;

fn build(spec: PolicySpec, clock: &ManualClock, events: &Events) -> Cache<u8, u64> {
    let events = events.clone();
    CacheBuilder::new(spec)
        .max_bytes(CAPACITY, |_: &u8, weight: &u64| *weight)
        .entry_overhead(0)
        .shards(1)
        .clock(Arc::new(clock.clone()))
        .removal_listener(move |key: u8, value: u64, cause| {
            events.lock().unwrap().push((key, value, cause))
        })
        .build()
        .unwrap()
}

fn run(spec: PolicySpec, ops: Vec<Op>) -> Result<(), TestCaseError> {
    use RemovalCause::*;
    let clock = ManualClock::new();
    let events: Events = Arc::default();
    let cache = build(spec, &clock, &events);
    let mut model = Model::new(&spec);
    let take = |events: &Events| std::mem::take(&mut *events.lock().unwrap());
    for op in ops {
        match op {
            Op::Get(key) => {
                let got = cache.get(&key);
                for (k, _, cause) in take(&events) {
                    // The key itself may turn out expired; W-TinyLFU's probation may shed
                    // another entry on a hit (as libCacheSim's SLRU does).
                    if cause == Expired {
                        prop_assert_eq!(k, key);
                    }
                    model.apply_removal(k, cause, &[Expired, Evicted])?;
                }
                let live = model
                    .entries
                    .get(&key)
                    .filter(|e| !model.is_expired(e))
                    .map(|e| e.weight);
                prop_assert_eq!(got, live, "get({}) disagrees with the model", key);
                if live.is_some() {
                    model.hit(key);
                }
            }
            Op::Insert(key, weight) | Op::InsertTtl(key, weight, _) => {
                let ttl = if let Op::InsertTtl(_, _, ttl) = op {
                    Some(ttl)
                } else {
                    None
                };
                let result = match ttl {
                    Some(ttl) => cache.insert_with_ttl(key, weight, Duration::from_millis(ttl)),
                    None => cache.insert(key, weight),
                };
                let deadline = ttl.map_or(0, |t| model.now_ms + t);
                let mut in_place = false;
                for (k, _, cause) in take(&events) {
                    if cause == Replaced {
                        prop_assert_eq!(k, key, "only the inserted key is replaced");
                        // Same weight and candidacy (and, for volatile-ttl, same deadline):
                        // the entry keeps its place and the write counts as an access.
                        let old = model.entries[&key].clone();
                        let candidacy = |d: u64| !model.kind.is_volatile() || d != 0;
                        if old.weight == weight
                            && candidacy(old.deadline) == candidacy(deadline)
                            && (old.deadline == deadline || model.kind != PolicyKind::VolatileTtl)
                        {
                            model.entries.get_mut(&key).unwrap().deadline = deadline;
                            model.hit(key);
                            in_place = true;
                            continue;
                        }
                    }
                    model.apply_removal(k, cause, &[Expired, Evicted, Replaced])?;
                }
                match result {
                    Ok(()) if in_place => {}
                    Ok(()) => {
                        prop_assert!(
                            !model.entries.contains_key(&key),
                            "old entry of {} not reported",
                            key
                        );
                        model.entries.insert(
                            key,
                            ModelEntry {
                                weight,
                                deadline,
                                arrived: 0,
                                touched: 0,
                                count: 0,
                                visited: false,
                            },
                        );
                        if model.is_candidate(&model.entries[&key]) {
                            model.become_candidate(key);
                        }
                    }
                    Err(InsertError::OutOfMemory { .. }) => {
                        // Refused: evicting every other candidate would not make room.
                        let others: u64 = model
                            .entries
                            .iter()
                            .filter(|(k, e)| **k != key && model.is_candidate(e))
                            .map(|(_, e)| e.weight)
                            .sum();
                        let old = model.entries.get(&key).map_or(0, |e| e.weight);
                        let need = (model.weight() - old + weight).saturating_sub(CAPACITY);
                        let may_evict = model.kind != PolicyKind::NoEviction;
                        prop_assert!(
                            need > 0 && (!may_evict || need > others),
                            "refused although room could be made"
                        );
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("unexpected {e}"))),
                }
            }
            Op::Remove(key) | Op::Invalidate(key) => {
                let (found, cause) = match op {
                    Op::Remove(_) => (cache.remove(&key), Removed),
                    _ => (cache.invalidate(&key), Invalidated),
                };
                let live = model
                    .entries
                    .get(&key)
                    .is_some_and(|e| !model.is_expired(e));
                prop_assert_eq!(found, live);
                for (k, _, c) in take(&events) {
                    prop_assert_eq!(k, key);
                    model.apply_removal(k, c, &[cause, Expired])?;
                }
            }
            Op::Expire(key, _) | Op::Persist(key) => {
                let found = match op {
                    Op::Expire(_, ttl) => cache.expire(&key, Duration::from_millis(ttl)),
                    _ => cache.persist(&key),
                };
                let deadline = match op {
                    Op::Expire(_, ttl) => model.now_ms + ttl,
                    _ => 0,
                };
                for (k, _, c) in take(&events) {
                    model.apply_removal(k, c, &[Expired])?;
                }
                prop_assert_eq!(found, model.entries.contains_key(&key));
                if let Some(entry) = model.entries.get(&key).cloned()
                    && entry.deadline != deadline
                {
                    if model.is_candidate(&entry) {
                        model.stop_being_candidate(key);
                    }
                    model.entries.get_mut(&key).unwrap().deadline = deadline;
                    if model.is_candidate(&model.entries[&key]) {
                        model.become_candidate(key);
                    }
                }
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(ms));
                model.now_ms += ms;
            }
            Op::Purge => {
                let purged = cache.purge_expired();
                let reported = take(&events);
                prop_assert_eq!(purged, reported.len());
                for (k, _, c) in reported {
                    model.apply_removal(k, c, &[Expired])?;
                }
                prop_assert!(
                    model.entries.values().all(|e| !model.is_expired(e)),
                    "purge left an expired entry"
                );
            }
        }
        prop_assert!(
            cache.weight() <= CAPACITY,
            "capacity exceeded: {}",
            cache.weight()
        );
        prop_assert_eq!(cache.weight(), model.weight());
        prop_assert_eq!(cache.len(), model.entries.len());
    }
    // Every remaining entry is reported exactly once by a final flush.
    cache.invalidate_all();
    for (k, _, c) in take(&events) {
        model.apply_removal(k, c, &[Invalidated])?;
    }
    prop_assert!(
        model.entries.is_empty(),
        "entries never reported: {:?}",
        model.entries.keys()
    );
    prop_assert_eq!(cache.len(), 0);
    let stats = cache.stats();
    prop_assert_eq!(stats.entries, 0);
    Ok(())
}

fn every_spec() -> Vec<PolicySpec> {
    let mut specs = PolicySpec::all();
    for text in [
        "allkeys-lru:samples=3",
        "volatile-lfu:samples=5",
        "volatile-ttl:samples=2",
        "allkeys-lfu:samples=4,decay-time=0",
    ] {
        specs.push(text.parse().unwrap());
    }
    specs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_policy_agrees_with_the_model(policy in 0..every_spec().len(), ops in proptest::collection::vec(op(), 1..120)) {
        run(every_spec()[policy], ops)?;
    }
}

#[test]
fn each_policy_survives_a_long_random_run() {
    // A longer deterministic run per policy, so every policy is covered whatever proptest draws.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    for spec in every_spec() {
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
        );
        for _ in 0..20 {
            let ops = proptest::collection::vec(op(), 200..400)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            if let Err(e) = run(spec, ops) {
                panic!("{spec}: {e}");
            }
        }
    }
}
