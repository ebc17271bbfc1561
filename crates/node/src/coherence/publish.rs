//! Publishing notices: a writer tells the other nodes that a key moved to a new version,
//! and in synchronous delivery waits until every receiver confirmed or lapsed. Also the
//! other half of that exchange: a receiver's acknowledgement, and the writer recording it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tiercache_bus::{BusError, SessionId};
use tiercache_core::Version;

use super::notice::{AckRequest, Notice, Stamp};
use super::{Coherence, Delivery, PendingAcks};
use crate::counters::bump;

/// Why a notice did not (provably) reach every other copy.
#[derive(Debug)]
pub(crate) enum PublishFailure {
    /// The bus refused the publish.
    Bus(BusError),
    /// Synchronous delivery: some copies were neither confirmed gone nor dropped by the
    /// bus in time, or this node's own session (where the confirmations arrive) was lost.
    Unconfirmed(String),
}

/// A notice to publish later, without the node: the invalidation a background task sends
/// again once the shared tier finally dropped an older copy that nodes may have refilled
/// their near caches from meanwhile.
pub(crate) struct LaterInvalidation {
    bus: Arc<dyn tiercache_bus::Bus>,
    topic: String,
    key: Bytes,
    version: Version,
    origin: SessionId,
}

impl LaterInvalidation {
    /// Publishes the invalidation now (stamped now, no confirmation asked).
    pub(crate) async fn send(&self) -> Result<(), BusError> {
        let notice = Notice::Invalidate {
            key: self.key.clone(),
            version: self.version,
            stamp: Stamp::now(self.origin),
            ack: None,
        };
        self.bus
            .publish(&self.topic, notice.encode())
            .await
            .map(|_| ())
    }
}

impl Coherence {
    /// The invalidation of `key` at `version`, to publish later with
    /// [`LaterInvalidation::send`].
    pub(crate) fn later_invalidation(&self, key: &[u8], version: Version) -> LaterInvalidation {
        LaterInvalidation {
            bus: Arc::clone(&self.bus),
            topic: self.options.topics.topic(key),
            key: Bytes::copy_from_slice(key),
            version,
            origin: self.session.id().unwrap_or_default(),
        }
    }
}

/// Takes a pending write out of the map however its wait ends (including cancellation).
struct PendingGuard<'a> {
    pending: &'a Mutex<HashMap<u64, Arc<PendingAcks>>>,
    request: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.request);
    }
}

impl Coherence {
    /// Tells the other nodes that `key` is at `version` in the store: an invalidation, or
    /// with `update` the new value (`None`: deleted). Publishes on the key's topic, stamped
    /// with this session and the time; in synchronous delivery, waits for confirmations.
    pub(crate) async fn announce(
        &self,
        key: &[u8],
        version: Version,
        update: Option<Option<Bytes>>,
    ) -> Result<(), PublishFailure> {
        let key = Bytes::copy_from_slice(key);
        let origin = self.session.id().unwrap_or_default();
        let topic = self.options.topics.topic(&key);
        let notice = |ack| {
            let stamp = Stamp::now(origin);
            match update {
                None => Notice::Invalidate {
                    key: key.clone(),
                    version,
                    stamp,
                    ack,
                },
                Some(value) => Notice::Update {
                    key: key.clone(),
                    version,
                    value,
                    stamp,
                    ack,
                },
            }
        };
        let outcome = self.publish(&topic, notice).await;
        if let Err(PublishFailure::Bus(_)) = &outcome {
            bump(&self.counters.publish_errors);
        }
        outcome
    }

    /// Publishes the notice `build` makes on `topic`. In synchronous delivery, returns only
    /// once every other session subscribed at the publish acknowledged it or was dropped
    /// by the bus — at most `lease + renew_every` after the publish for a silent node,
    /// given up (as `Unconfirmed`) after two leases.
    pub(crate) async fn publish(
        &self,
        topic: &str,
        build: impl FnOnce(Option<AckRequest>) -> Notice,
    ) -> Result<(), PublishFailure> {
        let started = Instant::now();
        let outcome = self.publish_and_confirm(topic, build).await;
        if outcome.is_ok() {
            self.counters.publish_wait.record(started.elapsed());
        }
        outcome
    }

    async fn publish_and_confirm(
        &self,
        topic: &str,
        build: impl FnOnce(Option<AckRequest>) -> Notice,
    ) -> Result<(), PublishFailure> {
        if self.options.delivery == Delivery::Async {
            self.bus
                .publish(topic, build(None).encode())
                .await
                .map_err(PublishFailure::Bus)?;
            bump(&self.counters.published);
            return Ok(());
        }
        let generation = self.session.generation();
        let Some(own) = self.session.id() else {
            bump(&self.counters.unconfirmed_writes);
            return Err(PublishFailure::Unconfirmed(
                "this node's bus session is being replaced, so no confirmation can reach it".into(),
            ));
        };
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let pending = Arc::new(PendingAcks::default());
        self.pending.lock().insert(request, Arc::clone(&pending));
        let _guard = PendingGuard {
            pending: &self.pending,
            request,
        };
        let ack = AckRequest {
            session: own,
            request,
        };
        let receivers = self
            .bus
            .publish(topic, build(Some(ack)).encode())
            .await
            .map_err(PublishFailure::Bus)?;
        bump(&self.counters.published);
        let mut waiting: Vec<SessionId> = receivers
            .sessions
            .into_iter()
            .filter(|session| *session != own)
            .collect();
        let lease = self.session.options().lease;
        let deadline = Instant::now() + 2 * lease;
        // Acknowledgements wake the writer; liveness is polled only while one is missing.
        let poll = (lease / 16).clamp(Duration::from_millis(1), Duration::from_millis(50));
        loop {
            {
                let confirmed = pending.confirmed.lock();
                waiting.retain(|session| !confirmed.contains(session));
            }
            if waiting.is_empty() {
                bump(&self.counters.confirmed_writes);
                return Ok(());
            }
            let failure = if self.session.generation() != generation {
                Some("this node's bus session was lost while it waited for confirmations".into())
            } else if Instant::now() >= deadline {
                Some(format!(
                    "{} node session(s) neither confirmed the notice nor lapsed within {:?}",
                    waiting.len(),
                    2 * lease
                ))
            } else {
                None
            };
            if let Some(reason) = failure {
                bump(&self.counters.unconfirmed_writes);
                return Err(PublishFailure::Unconfirmed(reason));
            }
            if tokio::time::timeout(poll, pending.arrived.notified())
                .await
                .is_err()
            {
                // An unreachable bus leaves everyone waiting until the deadline.
                if let Ok(alive) = self.bus.alive(&waiting).await {
                    let before = waiting.len();
                    let mut alive = alive.into_iter();
                    waiting.retain(|_| alive.next().unwrap_or(true));
                    self.counters
                        .lapsed_receivers
                        .fetch_add((before - waiting.len()) as u64, Ordering::Relaxed);
                }
            }
        }
    }

    /// Confirms a notice to the writer that asked for it (the notice is applied by now).
    pub(crate) fn acknowledge(&self, ack: AckRequest) {
        let Some(own) = self.session.id() else {
            // Being replaced: the writer sees this incarnation lapse instead.
            return;
        };
        if ack.session == own {
            return; // This node's own write: it does not wait for itself.
        }
        let bus = Arc::clone(&self.bus);
        let payload = Notice::Ack {
            request: ack.request,
            from: own,
        }
        .encode();
        bump(&self.counters.acks_sent);
        // A lost confirmation holds the writer until this node's lease lapses (or fails its
        // write past two), so a send the bus refused is retried — within one lease: past
        // it the writer has counted this node as lapsed anyway.
        let lease = self.options.session.lease;
        // Off the event loop: the next notice need not wait for this one's round trip.
        tokio::spawn(async move {
            let deadline = Instant::now() + lease;
            let mut pause = Duration::from_millis(10);
            loop {
                match bus.send_to(ack.session, payload.clone()).await {
                    // Delivered, or the writer's inbox is gone: nothing more to do.
                    Ok(_) => return,
                    Err(error) if Instant::now() + pause < deadline => {
                        tracing::debug!(%error, "sending an acknowledgement failed; retrying");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(lease / 4);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "an acknowledgement could not be sent within the lease");
                        return;
                    }
                }
            }
        });
    }

    /// Records an acknowledgement of one of this node's synchronous writes.
    pub(crate) fn acknowledged(&self, request: u64, from: SessionId) {
        bump(&self.counters.acks_received);
        let pending = self.pending.lock().get(&request).cloned();
        if let Some(pending) = pending {
            pending.confirmed.lock().insert(from);
            pending.arrived.notify_one();
        }
    }
}
