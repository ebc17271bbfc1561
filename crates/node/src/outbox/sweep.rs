//! The outbox's tasks on a node: this node's confirmations sent in batches, and the sweep
//! that replays the notices nobody confirmed.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tiercache_store::PendingNotice;
use tokio::sync::mpsc;

use super::CONFIRM_EVERY;
use crate::counters::bump;
use crate::node::Node;

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
