//! The write-behind flush: the unflushed writes go to the store in coalesced batches, then
//! every other copy follows as after a write-through (local copies, the shared tier, the
//! other nodes). Runs every flush interval, and once more at shutdown.

use std::sync::{Arc, Weak};

use tiercache_core::Version;
use tiercache_store::{Precondition, StoreError};

use super::Dirty;
use crate::counters::bump;
use crate::node::Node;

/// What one write-behind flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Writes now in the store.
    pub stored: usize,
    /// Writes the store could not take now (a retryable error: unavailable); kept for the
    /// next flush.
    pub failed: usize,
    /// Writes the store refused for good (any other error: it judged them invalid, or
    /// failed in a way waiting does not fix); given up and counted.
    pub dropped: usize,
}

impl Node {
    /// Starts the write-behind flusher (if the node is in write-behind mode); it stops when
    /// the node is dropped.
    pub(crate) fn spawn_flusher(self: &Arc<Node>) {
        if let Some(write_behind) = &self.write_behind {
            tokio::spawn(flush_periodically(
                Arc::downgrade(self),
                write_behind.options.flush_interval,
            ));
        }
    }

    /// Sends the unflushed writes to the store (write-behind), then makes every other copy
    /// follow as a write-through would: local copies, the shared tier, other nodes.
    /// Returns how many writes were stored and how many must wait for the next flush.
    pub async fn flush_dirty(&self) -> FlushOutcome {
        let mut outcome = FlushOutcome::default();
        let Some(write_behind) = &self.write_behind else {
            return outcome;
        };
        let _one_at_a_time = write_behind.flush_lock.lock().await;
        let Some(batch) = write_behind.take() else {
            return outcome;
        };
        let mut items: Vec<(&Vec<u8>, &Dirty)> = batch.iter().collect();
        // Key order: concurrent batches of different nodes lock rows in the same order.
        items.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let (puts, deletes): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|(_, dirty)| dirty.value.is_some());
        let mut stored: Vec<(&[u8], Version, &Dirty)> = Vec::with_capacity(batch.len());
        let mut failed: Vec<(Vec<u8>, Dirty)> = Vec::new();
        for chunk in puts.chunks(write_behind.options.max_batch) {
            let rows: Vec<(Vec<u8>, Vec<u8>)> = chunk
                .iter()
                .map(|(key, dirty)| {
                    let value = dirty.value.as_ref().expect("partitioned on Some");
                    ((*key).clone(), value.to_vec())
                })
                .collect();
            bump(&write_behind.batches);
            match self.store.batch_put(&rows).await {
                Ok(versions) => stored.extend(
                    chunk
                        .iter()
                        .zip(versions)
                        .map(|((key, dirty), version)| (key.as_slice(), version, *dirty)),
                ),
                Err(error) => {
                    bump(&write_behind.flush_errors);
                    let kept = chunk
                        .iter()
                        .map(|(key, dirty)| ((*key).clone(), (*dirty).clone()));
                    if retryable(&error) {
                        failed.extend(kept);
                    } else {
                        outcome.dropped += chunk.len();
                    }
                }
            }
        }
        for (key, dirty) in deletes {
            bump(&write_behind.batches);
            match self.store.delete(key, Precondition::None).await {
                Ok(version) => stored.push((key.as_slice(), version, dirty)),
                // Nothing to delete: the store already holds what the write asked for.
                Err(StoreError::NotFound(_)) => {
                    write_behind.committed(dirty.since);
                    outcome.stored += 1;
                }
                Err(error) => {
                    bump(&write_behind.flush_errors);
                    if retryable(&error) {
                        failed.push((key.clone(), dirty.clone()));
                    } else {
                        outcome.dropped += 1;
                    }
                }
            }
        }
        outcome.failed = failed.len();
        write_behind.restore(failed);
        write_behind.dropped(outcome.dropped);
        for (_, _, dirty) in &stored {
            write_behind.committed(dirty.since);
        }
        outcome.stored += stored.len();
        // Each stored write now goes out as a write-through would have sent it; several at
        // once, since each waits for the tier and the bus.
        use futures_util::StreamExt;
        futures_util::stream::iter(stored)
            .for_each_concurrent(64, |(key, version, _)| self.after_store(key, version))
            .await;
        write_behind.finish();
        outcome
    }

    /// After a flushed write was stored at `version`: local copies, shared tier, notice.
    async fn after_store(&self, key: &[u8], version: Version) {
        self.apply_change(key, version, None);
        if let Some(tier) = &self.tier
            && tier.delete(key, version).await.is_err()
        {
            self.counters.shared_error();
        }
        if let Some(coherence) = &self.coherence {
            // Counted in the stats; nobody waits for this write's answer any more.
            let _ = coherence.announce(key, version, None).await;
        }
    }
}

/// Whether a store error may go away on its own (worth keeping a write-behind write for):
/// what its [`ErrorCode`](tiercache_core::ErrorCode) says, as for every other caller.
fn retryable(error: &StoreError) -> bool {
    error.code().is_retryable()
}

/// Flushes a write-behind node every `interval`, until the node is dropped.
async fn flush_periodically(node: Weak<Node>, interval: std::time::Duration) {
    // The first flush comes one interval after the start, not at once.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(node) = node.upgrade() else {
            return;
        };
        node.flush_dirty().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_classified_retryable_keep_a_write_for_the_next_flush() {
        assert!(retryable(&StoreError::Unavailable("restarting".into())));
        // A bug or an unexpected database answer does not go away by waiting: retrying it
        // every interval would keep the write in memory (and the window open) for ever.
        assert!(!retryable(&StoreError::Internal(
            "unexpected answer".into()
        )));
        assert!(!retryable(&StoreError::InvalidArgument("empty key".into())));
        assert!(!retryable(&StoreError::TooLarge {
            what: "value".into(),
            size: 2,
            limit: 1,
        }));
    }
}
