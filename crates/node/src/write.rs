//! The write path (write-through): the store first, then this node's copy, then the
//! shared tier, then the other nodes' copies through a notice. A write-behind node takes
//! the write into memory instead (see `write_behind`).

use std::time::Instant;

use bytes::Bytes;
use tiercache_core::Version;
use tiercache_store::Precondition;

use crate::answer::PENDING;
use crate::coherence::WriteMode;
use crate::coherence::publish::PublishFailure;
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
        if let Some(tier) = &self.tier
            && let Err(error) = tier.delete(key, version).await
        {
            return Err(NodeError::TierInvalidation { version, error });
        }
        if let Some(coherence) = &self.coherence {
            let update = (coherence.options().write_mode == WriteMode::Update).then_some(value);
            match coherence.announce(key, version, update).await {
                Ok(()) => {}
                Err(PublishFailure::Bus(error)) => {
                    return Err(NodeError::Publish { version, error });
                }
                Err(PublishFailure::Unconfirmed(reason)) => {
                    return Err(NodeError::Unconfirmed { version, reason });
                }
            }
        }
        Ok(version)
    }
}
