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

use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tiercache_store::PendingNotice;
use tokio::sync::mpsc;

use crate::counters::bump;
use crate::node::Node;

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
const CONFIRM_EVERY: Duration = Duration::from_millis(200);
/// Confirmations waiting at most; past it new ones are dropped (their notices are replayed:
/// harmless, only extra work).
const MAX_WAITING: usize = 65_536;

/// The node's side: where its confirmations go, and its counters.
pub(crate) struct Outbox {
    pub(crate) options: OutboxOptions,
    confirmations: mpsc::Sender<PendingNotice>,
    waiting: std::sync::Mutex<Option<mpsc::Receiver<PendingNotice>>>,
    counters: OutboxCounters,
}

#[derive(Debug, Default)]
struct OutboxCounters {
    confirmed: AtomicU64,
    dropped_confirmations: AtomicU64,
    replayed: AtomicU64,
    replay_errors: AtomicU64,
    sweep_errors: AtomicU64,
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

impl Node {
    /// Starts the confirmation sender and the sweeper, when the outbox is on. They stop
    /// when the node is dropped.
    pub(crate) fn spawn_outbox_tasks(self: &Arc<Node>) {
        let Some(outbox) = &self.outbox else { return };
        let waiting = outbox
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(waiting) = waiting {
            tokio::spawn(send_confirmations(Arc::downgrade(self), waiting));
        }
        tokio::spawn(sweep_periodically(
            Arc::downgrade(self),
            outbox.options.sweep_every,
        ));
    }

    /// One sweep: claims the notices old enough and unconfirmed, replays each (tier
    /// tombstone, then an invalidation on the bus) and confirms those replayed. Returns how
    /// many were replayed.
    pub async fn replay_unpublished(&self) -> usize {
        let Some(outbox) = &self.outbox else { return 0 };
        let options = outbox.options;
        let claimed = match self
            .store
            .claim_unpublished(options.replay_after, options.claim_for, options.batch)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                bump(&outbox.counters.sweep_errors);
                tracing::debug!(%error, "the outbox sweep could not reach the store");
                return 0;
            }
        };
        let mut replayed = Vec::with_capacity(claimed.len());
        for notice in claimed {
            if self.replay(&notice).await {
                replayed.push(notice);
            } else {
                bump(&outbox.counters.replay_errors);
            }
        }
        if replayed.is_empty() {
            return 0;
        }
        tracing::info!(
            count = replayed.len(),
            "replayed notices no writer confirmed (a writer stopped between its commit and its publish?)"
        );
        outbox
            .counters
            .replayed
            .fetch_add(replayed.len() as u64, Ordering::Relaxed);
        if let Err(error) = self.store.confirm_published(&replayed).await {
            // Claimed for a while: replayed again later, which is harmless.
            tracing::debug!(%error, "confirming replayed notices failed");
        }
        replayed.len()
    }

    /// Makes every copy of `notice.key` older than its version go: the shared tier's, this
    /// node's, the other nodes'. Whether all of that was done.
    async fn replay(&self, notice: &PendingNotice) -> bool {
        let (key, version) = (notice.key.as_slice(), notice.version);
        self.apply_change(key, version, None);
        if let Some(tier) = &self.tier
            && let Err(error) = tier.delete(key, version).await
        {
            tracing::debug!(%error, "replaying a notice: the shared tier refused");
            return false;
        }
        if let Some(coherence) = &self.coherence
            && let Err(error) = coherence.later_invalidation(key, version).send().await
        {
            tracing::debug!(%error, "replaying a notice: the bus refused");
            return false;
        }
        true
    }
}

async fn send_confirmations(node: Weak<Node>, mut waiting: mpsc::Receiver<PendingNotice>) {
    // Ends when the node is dropped: its sender goes with it.
    while let Some(first) = waiting.recv().await {
        // Gather an interval's worth, then send them in batches the store takes.
        tokio::time::sleep(CONFIRM_EVERY).await;
        let mut batch = vec![first];
        while let Ok(notice) = waiting.try_recv() {
            batch.push(notice);
        }
        let Some(node) = node.upgrade() else { return };
        let Some(outbox) = &node.outbox else { return };
        for chunk in batch.chunks(node.limits.max_batch_items.max(1)) {
            match node.store.confirm_published(chunk).await {
                Ok(()) => {
                    outbox
                        .counters
                        .confirmed
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                // Left to the sweep: these notices were published, so a replay is only
                // extra work.
                Err(error) => tracing::debug!(%error, "confirming published notices failed"),
            }
        }
    }
}

async fn sweep_periodically(node: Weak<Node>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(node) = node.upgrade() else { return };
        node.replay_unpublished().await;
    }
}
