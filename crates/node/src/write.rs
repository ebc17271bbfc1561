//! The write path (write-through): the store first, then this node's copy, then the
//! shared tier, then the other nodes' copies through a notice. A write-behind node takes
//! the write into memory instead (see `write_behind`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tiercache_core::Version;
use tiercache_store::Precondition;
use tiercache_tier::Tier;

use crate::answer::PENDING;
use crate::coherence::WriteMode;
use crate::coherence::publish::{LaterInvalidation, PublishFailure};
use crate::error::{NodeError, NodeResult};
use crate::node::Node;

impl Node {
    /// Writes `value` under `key` through to the store (if `precondition` holds), then
    /// updates this node's near cache and invalidates the shared tier. Returns the new
    /// version.
    pub async fn put(
        &self,
        key: &[u8],
        value: Bytes,
        precondition: Precondition,
    ) -> NodeResult<Version> {
        let started = Instant::now();
        self.check_key(key)?;
        self.limits.check_value(&value)?;
        let outcome = self.write(key, Some(value), precondition).await;
        self.counters.write_done(&outcome, started.elapsed());
        outcome
    }

    /// Deletes `key` through to the store (if `precondition` holds), then drops it from
    /// this node's near cache and the shared tier. Returns the tombstone's version.
    pub async fn delete(&self, key: &[u8], precondition: Precondition) -> NodeResult<Version> {
        let started = Instant::now();
        self.check_key(key)?;
        let outcome = self.write(key, None, precondition).await;
        self.counters.write_done(&outcome, started.elapsed());
        outcome
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<Bytes>,
        precondition: Precondition,
    ) -> NodeResult<Version> {
        if let Some(write_behind) = &self.write_behind {
            if precondition != Precondition::None {
                return Err(NodeError::NotSupported(
                    "conditional writes (If-Match, If-None-Match) need write-through; this node writes behind".into(),
                ));
            }
            write_behind.accept(key, value).await?;
            return Ok(PENDING);
        }
        // This node keeps a copy of what it writes, so it subscribes first, as a read does.
        let ticket = self.prepare_install(key).await;
        let version = match &value {
            Some(value) => self.store.put(key, value, precondition).await?,
            None => self.store.delete(key, precondition).await?,
        };
        if self.crash_after_commit {
            tracing::error!(
                "tiercache: failpoint crash-after-commit: aborting after committing version {version}"
            );
            std::process::abort();
        }
        // The store's answer is the truth from here on: this node's copy moves first (it
        // cannot fail), then the shared tier's, then the other nodes'.
        if let (Some(near), Some(ticket)) = (&self.near, &ticket) {
            near.install_if(key, value.clone(), version, || ticket.admits(version));
        }
        // Whether or not this node's copy moved (not subscribed, session lost, flushed, a
        // newer write first), nothing older may stay or arrive: older copies are dropped and
        // the floors of fills in flight raised, under the install lock. A read that starts
        // after this write returns must not join a fill that started before it.
        self.apply_change(key, version, None);
        self.flights.lock().remove(key);
        // A tier that cannot be invalidated now may keep the older copy; the other nodes
        // are told all the same (their near copies go, and no fill installs anything older
        // than this version), and the tier's copy is retried in the background.
        let tier_failure = match &self.tier {
            Some(tier) => match tier.delete(key, version).await {
                Ok(_) => None,
                Err(error) => {
                    let again = self
                        .coherence
                        .as_ref()
                        .map(|coherence| coherence.later_invalidation(key, version));
                    retry_tier_invalidation(Arc::clone(tier), key.to_vec(), version, again);
                    Some(error)
                }
            },
            None => None,
        };
        let announced = match &self.coherence {
            Some(coherence) => {
                let update = (coherence.options().write_mode == WriteMode::Update).then_some(value);
                coherence.announce(key, version, update).await
            }
            None => Ok(()),
        };
        if let Some(error) = tier_failure {
            return Err(NodeError::TierInvalidation { version, error });
        }
        match announced {
            Ok(()) => {
                if let Some(outbox) = &self.outbox {
                    outbox.confirm(key, version);
                }
            }
            Err(PublishFailure::Bus(error)) => return Err(NodeError::Publish { version, error }),
            Err(PublishFailure::Unconfirmed(reason)) => {
                return Err(NodeError::Unconfirmed { version, reason });
            }
        }
        Ok(version)
    }
}

/// How long a failed tier invalidation keeps being retried: past it, the tier's copy has
/// expired on its own (values live at most the max age, 60 s by default) or a later write
/// replaced it.
const TIER_RETRY_FOR: Duration = Duration::from_secs(60);

/// Retries dropping the tier's copies older than `version` of `key`, with backoff (50 ms,
/// doubling to 2 s), until it works or [`TIER_RETRY_FOR`] passed; then publishes the
/// invalidation `again`, because nodes that read the tier's older copy meanwhile may have
/// put it in their near caches (their fill floors went with the topics the first notice
/// released). A retry that lands after a later write is harmless: the tier never replaces a
/// version with an older one, and a tombstone at `version` is older than the later write's.
fn retry_tier_invalidation(
    tier: Arc<dyn Tier>,
    key: Vec<u8>,
    version: Version,
    again: Option<LaterInvalidation>,
) {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        while started.elapsed() < TIER_RETRY_FOR {
            tokio::time::sleep(pause).await;
            match tier.delete(&key, version).await {
                Ok(_) => {
                    if let Some(again) = &again
                        && let Err(error) = again.send().await
                    {
                        tracing::warn!(%error, "the invalidation after a tier retry could not be published; near copies expire with their max age");
                    }
                    tracing::info!(
                        version = %version,
                        after_ms = started.elapsed().as_millis() as u64,
                        "the shared tier's older copy was invalidated on a retry"
                    );
                    return;
                }
                Err(error) => tracing::debug!(%error, "retrying a tier invalidation"),
            }
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        tracing::warn!(
            version = %version,
            "the shared tier could not be invalidated within {TIER_RETRY_FOR:?}; its copy expires with its max age"
        );
    });
}
