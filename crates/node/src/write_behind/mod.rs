//! Write-behind: a write is answered once it is in the node's memory, and reaches the
//! store later, coalesced with the other writes of the same interval.
//!
//! ```text
//!  put(k, v) ──▶ dirty[k] = v (a later write of k replaces it: coalesced) ──▶ answer
//!  every flush interval: dirty ──▶ flushing ──▶ store.batch_put (chunks, one transaction
//!  each) ──▶ per key: drop older local copies, tombstone the shared tier, publish an
//!  invalidation ──▶ flushing emptied
//! ```
//!
//! What it guarantees, and what it does not:
//! * **Read your writes on this node.** Reads on the writing node see its unflushed writes
//!   (`source: pending`, version 0: the store has not assigned one yet).
//! * **Other nodes read the previous version until the flush** reaches the store and its
//!   invalidation reaches them: the window is the time a write waits in memory (at most
//!   one flush interval plus the flush itself) plus the notice delay. Measured per write
//!   (`window` in the stats).
//! * **A crash loses the unflushed writes**: at most one flush interval's worth, plus a
//!   flush in progress. A graceful shutdown ([`crate::Node::close`]) flushes first.
//! * **Concurrent writers of one key on different nodes**: the store keeps whichever flush
//!   commits last. Write-behind does not order writes across nodes; use write-through for
//!   keys written from several nodes at once.
//! * **A store that fails** keeps the writes in memory (newer writes of a key win) and the
//!   next interval retries; when `max_dirty_keys` keys wait, new keys wait for a flush and
//!   are answered 503 if none completes in time.

/// The flush: batches to the store, then every other copy follows.
pub(crate) mod flush;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::{NodeError, NodeResult};
use crate::latency::LatencyHistogram;

/// Write-behind settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBehindOptions {
    /// How often dirty writes are sent to the store (default 100 ms). Bounds what a crash
    /// loses and how long other nodes read the previous version.
    pub flush_interval: Duration,
    /// How many distinct keys may wait in memory before new keys wait for a flush
    /// (default 100 000).
    pub max_dirty_keys: usize,
    /// Items per `batch_put` (one store transaction each; default 1 000).
    pub max_batch: usize,
}

impl Default for WriteBehindOptions {
    fn default() -> WriteBehindOptions {
        WriteBehindOptions {
            flush_interval: Duration::from_millis(100),
            max_dirty_keys: 100_000,
            max_batch: 1_000,
        }
    }
}

impl WriteBehindOptions {
    /// Checks the settings hold together.
    pub fn validate(&self) -> Result<(), String> {
        if self.flush_interval < Duration::from_millis(1)
            || self.flush_interval > Duration::from_secs(3600)
        {
            return Err(format!(
                "the flush interval must be from 1 ms to 1 h, got {:?}",
                self.flush_interval
            ));
        }
        if self.max_dirty_keys == 0 || self.max_batch == 0 {
            return Err("max_dirty_keys and max_batch must be at least 1".into());
        }
        Ok(())
    }
}

/// One key's unflushed write.
#[derive(Debug, Clone)]
pub(crate) struct Dirty {
    /// The value, or `None` for a delete.
    pub(crate) value: Option<Bytes>,
    /// When the oldest write this entry coalesced was answered.
    pub(crate) since: Instant,
}

#[derive(Default)]
struct Pending {
    /// Writes not yet taken by a flush.
    dirty: HashMap<Vec<u8>, Dirty>,
    /// Writes of the flush in progress: still served to this node's reads until their
    /// store versions are in place.
    flushing: Arc<HashMap<Vec<u8>, Dirty>>,
}

/// What write-behind reports (part of `/v1/stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WriteBehindStats {
    /// The flush interval, in ms.
    pub flush_interval_ms: u64,
    /// Keys waiting in memory now (dirty and flushing).
    pub pending_keys: u64,
    /// Writes answered.
    pub accepted: u64,
    /// Writes that replaced an unflushed write of the same key.
    pub coalesced: u64,
    /// Objects written to the store by flushes.
    pub store_writes: u64,
    /// `1 - store_writes / accepted`: the share of store writes coalescing saved.
    pub saved_ratio: f64,
    /// Store transactions (`batch_put` calls and deletes).
    pub batches: u64,
    /// Flush steps that failed (their writes were kept for the next flush, unless dropped).
    pub flush_errors: u64,
    /// Writes the store refused for good (invalid for it): answered, then lost. Values and
    /// keys are checked before a write is answered, so this stays 0 unless the store's
    /// limits are tighter than the node's.
    pub dropped: u64,
    /// Writes that had to wait for a flush because `max_dirty_keys` keys were waiting.
    pub backpressure_waits: u64,
    /// From a write's answer to its store commit, in µs: how long other nodes could read
    /// the previous version, before the notice delay, and what a crash would lose.
    pub window_p50_us: f64,
    /// 99th percentile of the same.
    pub window_p99_us: f64,
    /// The longest, exactly.
    pub window_max_us: f64,
}

/// The write-behind side of a node.
pub(crate) struct WriteBehind {
    pub(crate) options: WriteBehindOptions,
    state: Mutex<Pending>,
    /// Woken after every flush.
    flushed: Notify,
    /// One flush at a time (the timer's and a shutdown's).
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
    accepted: AtomicU64,
    coalesced: AtomicU64,
    pub(crate) store_writes: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) flush_errors: AtomicU64,
    backpressure_waits: AtomicU64,
    dropped: AtomicU64,
    window: LatencyHistogram,
    window_max_nanos: AtomicU64,
}

impl WriteBehind {
    pub(crate) fn new(options: WriteBehindOptions) -> WriteBehind {
        WriteBehind {
            options,
            state: Mutex::new(Pending::default()),
            flushed: Notify::new(),
            flush_lock: tokio::sync::Mutex::new(()),
            accepted: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            store_writes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            flush_errors: AtomicU64::new(0),
            backpressure_waits: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            window: LatencyHistogram::default(),
            window_max_nanos: AtomicU64::new(0),
        }
    }

    /// This node's unflushed write of `key`: `Some(None)` for a delete.
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<Option<Bytes>> {
        let state = self.state.lock();
        state
            .dirty
            .get(key)
            .or_else(|| state.flushing.get(key))
            .map(|dirty| dirty.value.clone())
    }

    /// Takes a write into memory; waits for a flush when too many keys are waiting.
    pub(crate) async fn accept(&self, key: &[u8], value: Option<Bytes>) -> NodeResult<()> {
        let patience = (self.options.flush_interval * 10).max(Duration::from_secs(1));
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let flushed = self.flushed.notified();
            {
                let mut state = self.state.lock();
                let full = state.dirty.len() >= self.options.max_dirty_keys;
                if let Some(dirty) = state.dirty.get_mut(key) {
                    dirty.value = value;
                    self.coalesced.fetch_add(1, Ordering::Relaxed);
                    self.accepted.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                if !full {
                    let since = Instant::now();
                    state.dirty.insert(key.to_vec(), Dirty { value, since });
                    self.accepted.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
            }
            self.backpressure_waits.fetch_add(1, Ordering::Relaxed);
            if tokio::time::timeout_at(deadline, flushed).await.is_err() {
                return Err(NodeError::Timeout(patience));
            }
        }
    }

    /// Moves the dirty writes to the flush in progress (`None` when there are none).
    pub(crate) fn take(&self) -> Option<Arc<HashMap<Vec<u8>, Dirty>>> {
        let mut state = self.state.lock();
        if state.dirty.is_empty() {
            return None;
        }
        let batch = Arc::new(std::mem::take(&mut state.dirty));
        state.flushing = Arc::clone(&batch);
        Some(batch)
    }

    /// Puts back writes a flush could not store, unless the key was written again since.
    pub(crate) fn restore(&self, failed: Vec<(Vec<u8>, Dirty)>) {
        let mut state = self.state.lock();
        for (key, dirty) in failed {
            state.dirty.entry(key).or_insert(dirty);
        }
    }

    /// Records that a write answered at `since` is now in the store.
    pub(crate) fn committed(&self, since: Instant) {
        let window = since.elapsed();
        self.window.record(window);
        self.window_max_nanos
            .fetch_max(window.as_nanos() as u64, Ordering::Relaxed);
        self.store_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts writes given up for good.
    pub(crate) fn dropped(&self, count: usize) {
        self.dropped.fetch_add(count as u64, Ordering::Relaxed);
    }

    /// Ends the flush in progress.
    pub(crate) fn finish(&self) {
        self.state.lock().flushing = Arc::default();
        self.flushed.notify_waiters();
    }

    pub(crate) fn stats(&self) -> WriteBehindStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let pending_keys = {
            let state = self.state.lock();
            (state.dirty.len() + state.flushing.len()) as u64
        };
        let accepted = load(&self.accepted);
        let store_writes = load(&self.store_writes);
        let snapshot = self.window.snapshot();
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        WriteBehindStats {
            flush_interval_ms: self.options.flush_interval.as_millis() as u64,
            pending_keys,
            accepted,
            coalesced: load(&self.coalesced),
            store_writes,
            saved_ratio: if accepted == 0 {
                0.0
            } else {
                1.0 - store_writes.min(accepted) as f64 / accepted as f64
            },
            batches: load(&self.batches),
            flush_errors: load(&self.flush_errors),
            dropped: load(&self.dropped),
            backpressure_waits: load(&self.backpressure_waits),
            window_p50_us: micros(snapshot.quantile(0.5)),
            window_p99_us: micros(snapshot.quantile(0.99)),
            window_max_us: load(&self.window_max_nanos) as f64 / 1e3,
        }
    }
}
