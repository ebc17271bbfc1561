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
//! * **A store that fails for a while** (an error its [`ErrorCode`](tiercache_core::ErrorCode)
//!   calls retryable: `Unavailable` — the database down, busy, out of disk, a lost
//!   connection) keeps the writes in memory (newer writes of a key win) and the next interval
//!   retries; when `max_dirty_keys` keys wait, new keys wait for a flush and are answered 503
//!   if none completes in time. Any other error is final for the writes it refused: they are
//!   dropped and counted (`dropped`), since sending them again would fail the same way.

/// The flush: batches to the store, then every other copy follows.
pub(crate) mod flush;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::counters::bump;
use crate::error::{NodeError, NodeResult, SetupError};
use crate::latency::{LatencyHistogram, LatencySummary};
use crate::stats::WriteBehindStats;

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
    pub fn validate(&self) -> Result<(), SetupError> {
        if self.flush_interval < Duration::from_millis(1)
            || self.flush_interval > Duration::from_secs(3600)
        {
            return Err(SetupError::FlushInterval(self.flush_interval));
        }
        if self.max_dirty_keys == 0 || self.max_batch == 0 {
            return Err(SetupError::EmptyBatch);
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
                    bump(&self.coalesced);
                    bump(&self.accepted);
                    return Ok(());
                }
                if !full {
                    let since = Instant::now();
                    state.dirty.insert(key.to_vec(), Dirty { value, since });
                    bump(&self.accepted);
                    return Ok(());
                }
            }
            bump(&self.backpressure_waits);
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
        self.window.record(since.elapsed());
        bump(&self.store_writes);
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
            window: LatencySummary::of(&self.window.snapshot()),
        }
    }
}
