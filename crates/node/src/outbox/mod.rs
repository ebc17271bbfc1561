//! The outbox's two halves on a node: confirming its own writes' notices, and replaying the
//! notices nobody confirmed — a writer that died between its store commit and its publish.
//!
//! ```text
//!  write: store commit ─(same transaction)─▶ outbox row (key, version)
//!         tier tombstone, publish ──ok──▶ confirmations ─(batched, every 200 ms)─▶ row deleted
//!  every node, every sweep interval:
//!         claim rows older than `replay_after` ──▶ tier tombstone, publish invalidation
//!                                              ──▶ confirm (row deleted)
//! ```
//!
//! What it bounds: a write whose writer crashed before its notice went out is invalidated
//! everywhere (shared tier and near caches) within `replay_after + sweep_every` (plus one
//! publish) of its commit, as long as one node with the outbox on is running — instead of
//! waiting for the copies' max age. A replayed notice that was in fact delivered (the
//! writer died after publishing, before confirming) changes nothing: notices and tier
//! tombstones only ever move a key forward.

/// The node's tasks: confirmations sent, notices swept and replayed.
mod sweep;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tiercache_store::PendingNotice;
use tokio::sync::mpsc;

use crate::counters::bump;

/// How the node takes part in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxOptions {
    /// A write's notice is replayed once it is this old and unconfirmed (default 3 s): long
    /// enough for a live writer to publish and confirm, short enough to bound a crashed
    /// writer's staleness.
    pub replay_after: Duration,
    /// How often the node looks for notices to replay (default 1 s).
    pub sweep_every: Duration,
    /// How long a claimed notice is this node's before another may take it (default 30 s).
    pub claim_for: Duration,
    /// Most notices claimed per sweep (default 500).
    pub batch: usize,
}

impl Default for OutboxOptions {
    fn default() -> OutboxOptions {
        OutboxOptions {
            replay_after: Duration::from_secs(3),
            sweep_every: Duration::from_secs(1),
            claim_for: Duration::from_secs(30),
            batch: 500,
        }
    }
}

/// How often confirmations are sent, batched.
pub(crate) const CONFIRM_EVERY: Duration = Duration::from_millis(200);
/// Confirmations waiting at most; past it new ones are dropped (their notices are replayed:
/// harmless, only extra work).
const MAX_WAITING: usize = 65_536;

/// The node's side: where its confirmations go, and its counters.
pub(crate) struct Outbox {
    pub(crate) options: OutboxOptions,
    confirmations: mpsc::Sender<PendingNotice>,
    pub(crate) waiting: std::sync::Mutex<Option<mpsc::Receiver<PendingNotice>>>,
    pub(crate) counters: OutboxCounters,
}

#[derive(Debug, Default)]
pub(crate) struct OutboxCounters {
    pub(crate) confirmed: AtomicU64,
    dropped_confirmations: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) replay_errors: AtomicU64,
    pub(crate) sweep_errors: AtomicU64,
}

/// What the outbox did on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboxStats {
    /// This node's writes whose notices it confirmed published.
    pub confirmed: u64,
    /// Confirmations dropped because too many waited (their notices get replayed).
    pub dropped_confirmations: u64,
    /// Unconfirmed notices (other writers', or this node's) this node replayed.
    pub replayed: u64,
    /// Replays that failed (tier or bus unreachable); claimed again after the claim lapses.
    pub replay_errors: u64,
    /// Sweeps that could not reach the store.
    pub sweep_errors: u64,
}

impl Outbox {
    pub(crate) fn new(options: OutboxOptions) -> Outbox {
        let (confirmations, waiting) = mpsc::channel(MAX_WAITING);
        Outbox {
            options,
            confirmations,
            waiting: std::sync::Mutex::new(Some(waiting)),
            counters: OutboxCounters::default(),
        }
    }

    /// Records that the notice of `key` at `version` was published everywhere it had to go.
    pub(crate) fn confirm(&self, key: &[u8], version: tiercache_core::Version) {
        let notice = PendingNotice {
            key: key.to_vec(),
            version,
        };
        if self.confirmations.try_send(notice).is_err() {
            bump(&self.counters.dropped_confirmations);
        }
    }

    pub(crate) fn stats(&self) -> OutboxStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        OutboxStats {
            confirmed: read(&self.counters.confirmed),
            dropped_confirmations: read(&self.counters.dropped_confirmations),
            replayed: read(&self.counters.replayed),
            replay_errors: read(&self.counters.replay_errors),
            sweep_errors: read(&self.counters.sweep_errors),
        }
    }
}
