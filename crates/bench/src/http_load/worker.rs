//! One worker of a run: its connection, its own seeded random choices, and what it counts.
//!
//! A worker sends its share of the requests one after another over its connection, so a run
//! has exactly one request in flight per worker. It stops early at the run's deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use tiercache_node::Source;

use super::answer::{source_of, version_of};
use super::client::Connection;
use super::keys::{KeyPicker, Scatter};
use super::spec::LoadSpec;
use crate::staleness::Operation;

/// What one worker counted — and, added up, a whole run.
#[derive(Debug)]
pub(super) struct Tally {
    /// Latency of every request, in µs.
    pub(super) histogram: Histogram<u64>,
    /// Latency of the reads alone.
    pub(super) reads_histogram: Histogram<u64>,
    /// Latency of the writes alone.
    pub(super) writes_histogram: Histogram<u64>,
    pub(super) reads: u64,
    pub(super) writes: u64,
    /// Reads answered 404.
    pub(super) not_found: u64,
    /// Reads answered by a near cache (a node's own pending write-behind write included).
    pub(super) near: u64,
    pub(super) shared: u64,
    pub(super) store: u64,
    /// Failed requests by status (0: no answer; 200: an answer that could not be read).
    pub(super) errors: BTreeMap<u16, u64>,
    /// Every checkable operation, with `check_staleness`.
    pub(super) history: Vec<Operation>,
    /// Each request's send time and latency, in order of sending (per worker), up to the
    /// worker's share of [`TIMELINE_LIMIT`].
    pub(super) timeline: Vec<TimedRequest>,
}

/// Requests a run keeps on its timeline (24 bytes each): a long `bench` run keeps its first
/// 200 000, not all of them.
pub const TIMELINE_LIMIT: usize = 200_000;

/// One request on the run's timeline.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TimedRequest {
    /// When it was sent, in µs from the start of the run.
    pub sent_us: u64,
    /// How long its answer took, in µs.
    pub latency_us: u64,
    /// Whether it was a write.
    pub write: bool,
}

impl Default for Tally {
    fn default() -> Tally {
        let histogram = || {
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds are valid")
        };
        Tally {
            histogram: histogram(),
            reads_histogram: histogram(),
            writes_histogram: histogram(),
            reads: 0,
            writes: 0,
            not_found: 0,
            near: 0,
            shared: 0,
            store: 0,
            errors: BTreeMap::new(),
            history: Vec::new(),
            timeline: Vec::new(),
        }
    }
}

impl Tally {
    /// Adds another worker's counts to these.
    pub(super) fn add(&mut self, other: Tally) {
        for (total, part) in [
            (&mut self.histogram, &other.histogram),
            (&mut self.reads_histogram, &other.reads_histogram),
            (&mut self.writes_histogram, &other.writes_histogram),
        ] {
            total.add(part).expect("histograms share their bounds");
        }
        self.reads += other.reads;
        self.writes += other.writes;
        self.not_found += other.not_found;
        self.near += other.near;
        self.shared += other.shared;
        self.store += other.store;
        for (status, count) in other.errors {
            *self.errors.entry(status).or_default() += count;
        }
        self.history.extend(other.history);
        self.timeline.extend(other.timeline);
    }

    fn latency(&mut self, write: bool, took: Duration) {
        let micros = took.as_micros().max(1) as u64;
        self.histogram.saturating_record(micros);
        if write {
            self.writes_histogram.saturating_record(micros);
        } else {
            self.reads_histogram.saturating_record(micros);
        }
    }

    fn hit(&mut self, source: Source) {
        match source {
            Source::Near | Source::Pending => self.near += 1,
            Source::Shared => self.shared += 1,
            Source::Store => self.store += 1,
        }
    }

    fn error(&mut self, status: u16) {
        *self.errors.entry(status).or_default() += 1;
    }
}

/// A worker's choices, request after request: which key, and whether to write. Seeded from
/// the run's seed and the worker's index, so the same spec makes the same choices (what
/// [`planned`](super::planned) replays without sending anything).
pub(super) struct Choices {
    keys: KeyPicker,
    rng: Xoshiro256PlusPlus,
    write_ratio: f64,
    /// Requests in the worker's share (the workloads that change over a run follow it).
    share: u64,
}

impl Choices {
    /// Worker `index`'s choices in a run of `spec`.
    pub(super) fn new(spec: &LoadSpec, index: usize, scatter: Arc<Scatter>) -> Choices {
        Choices {
            keys: KeyPicker::new(spec.distribution, spec.keys, scatter),
            rng: Xoshiro256PlusPlus::seed_from_u64(
                spec.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            write_ratio: spec.write_ratio,
            share: spec.share_of(index),
        }
    }

    /// Requests in the share.
    pub(super) fn share(&self) -> u64 {
        self.share
    }

    /// The key of request `sequence` of the share, and whether it is a write.
    pub(super) fn next(&mut self, sequence: u64) -> (u64, bool) {
        let progress = sequence as f64 / self.share.max(1) as f64;
        let key = self.keys.pick(&mut self.rng, progress);
        let write = self.write_ratio > 0.0 && self.rng.random::<f64>() < self.write_ratio;
        (key, write)
    }
}

/// One worker: a connection and the requests it still has to send over it.
pub(super) struct Worker {
    /// The worker's number: it seeds the worker's choices and tags its writes' bodies.
    index: usize,
    connection: Connection,
    /// Which requests to send.
    choices: Choices,
    check_staleness: bool,
    /// Finished requests of the whole run, for a progress bar.
    done: Arc<AtomicU64>,
    /// When the run started: the history's times count from here.
    started: Instant,
    /// No request is sent after this.
    deadline: Instant,
    /// Requests this worker keeps on the timeline: its share of [`TIMELINE_LIMIT`].
    timeline_room: usize,
    tally: Tally,
}

impl Worker {
    /// Worker `index` of a run of `spec` that started at `started`, over `connection`.
    pub(super) fn new(
        spec: &LoadSpec,
        index: usize,
        connection: Connection,
        scatter: Arc<Scatter>,
        done: Arc<AtomicU64>,
        started: Instant,
    ) -> Worker {
        Worker {
            index,
            connection,
            choices: Choices::new(spec, index, scatter),
            check_staleness: spec.check_staleness,
            done,
            started,
            deadline: started + spec.max_duration,
            timeline_room: TIMELINE_LIMIT / spec.concurrency.max(1),
            tally: Tally::default(),
        }
    }

    /// Sends the worker's share (or what the deadline leaves of it) and returns the counts.
    pub(super) async fn run(mut self) -> Tally {
        for sequence in 0..self.choices.share() {
            if Instant::now() >= self.deadline {
                break;
            }
            let (key, write) = self.choices.next(sequence);
            self.send(key, write, sequence).await;
        }
        self.tally
    }

    /// One request: sent, timed, and its answer counted.
    async fn send(&mut self, key: u64, write: bool, sequence: u64) {
        let path = format!("/v1/objects/{key}");
        let request = if write {
            let body = format!(
                "{{\"written_by\":\"bench\",\"worker\":{},\"sequence\":{sequence}}}",
                self.index
            );
            self.connection.put_json(&path, body)
        } else {
            self.connection.get(&path)
        };
        if write {
            self.tally.writes += 1;
        } else {
            self.tally.reads += 1;
        }

        let sent = Instant::now();
        let answer = self.connection.exchange(request).await;
        let answered = Instant::now();
        self.tally.latency(write, answered - sent);
        if self.tally.timeline.len() < self.timeline_room {
            self.tally.timeline.push(TimedRequest {
                sent_us: (sent - self.started).as_micros() as u64,
                latency_us: (answered - sent).as_micros() as u64,
                write,
            });
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        let operation = Operation {
            key,
            write,
            invoked_ns: (sent - self.started).as_nanos() as u64,
            completed_ns: (answered - self.started).as_nanos() as u64,
            version: 0,
            source: None,
        };
        match answer {
            Ok((200, body)) => self.answered(operation, &body),
            Ok((404, _)) if !write => {
                self.tally.not_found += 1;
                if self.check_staleness {
                    self.tally.history.push(Operation {
                        source: Some(Source::Store.as_str()),
                        ..operation
                    });
                }
            }
            Ok((status, _)) => self.tally.error(status),
            Err(_) => {
                self.tally.error(0);
                // The connection is gone: open another (bounded by the request count).
                self.connection.reopen().await;
            }
        }
    }

    /// Counts a 200 answer: the tier of a read, and the operation for the history.
    fn answered(&mut self, operation: Operation, body: &[u8]) {
        let mut source = None;
        if !operation.write {
            match source_of(body) {
                Some(tier) => {
                    self.tally.hit(tier);
                    source = Some(tier);
                }
                None => self.tally.error(200),
            }
        }
        // A write-behind write (version 0) or a read of one has no store version to check
        // yet.
        let pending =
            source == Some(Source::Pending) || (operation.write && version_of(body) == Some(0));
        if self.check_staleness && !pending {
            match version_of(body) {
                Some(version) => self.tally.history.push(Operation {
                    version,
                    source: source.map(Source::as_str),
                    ..operation
                }),
                None => self.tally.error(200),
            }
        }
    }
}
