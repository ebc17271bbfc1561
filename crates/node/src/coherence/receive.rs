//! What a node does when its bus session reports something: another node's notice (drop or
//! replace the older copy, stop older fills, acknowledge in synchronous delivery), an
//! acknowledgement of its own write, or the loss of its session (flush the near cache).
//! Also the release of topics whose objects left the near cache.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tiercache_bus::SessionEvent;
use tokio::sync::mpsc::{Receiver, UnboundedReceiver};

use super::Coherence;
use super::notice::Notice;
use crate::node::Node;

impl Node {
    /// Starts the tasks that apply the session's `events` and release the topics of the
    /// keys `released` from the near cache; they stop when the node is dropped.
    pub(crate) fn spawn_bus_tasks(
        self: &Arc<Node>,
        events: Receiver<SessionEvent>,
        released: Option<UnboundedReceiver<Vec<u8>>>,
    ) {
        let paused = self
            .coherence
            .as_ref()
            .map(Coherence::events_paused)
            .expect("a node with a bus has a coherence side");
        tokio::spawn(apply_events(Arc::downgrade(self), events, paused));
        if let Some(released) = released {
            tokio::spawn(release_topics(Arc::downgrade(self), released));
        }
    }

    /// Applies one event of the bus session.
    fn on_session_event(&self, event: SessionEvent) {
        let Some(coherence) = &self.coherence else {
            return;
        };
        match event {
            SessionEvent::Message { payload, .. } => {
                coherence.note_received();
                match Notice::decode(payload) {
                    Ok(notice) => {
                        let stamp = notice.stamp();
                        if stamp.is_some_and(|stamp| coherence.is_own(stamp)) {
                            // This node's own write: its copy moved before the publish.
                            coherence.note_own_notice();
                            return;
                        }
                        let ack = notice.ack_request();
                        self.apply_notice(notice);
                        if let Some(stamp) = stamp {
                            coherence.note_delay(stamp);
                        }
                        if let Some(ack) = ack {
                            coherence.acknowledge(ack);
                        }
                    }
                    Err(error) => {
                        // A notice we cannot read may have been an invalidation.
                        coherence.note_malformed();
                        tracing::warn!(%error, "a notice does not decode; flushing the near cache");
                        self.flush_near(None);
                    }
                }
            }
            SessionEvent::Direct { payload } => match Notice::decode(payload) {
                Ok(Notice::Ack { request, from }) => coherence.acknowledged(request, from),
                // A stray direct message cannot have been an invalidation: ignored.
                _ => coherence.note_malformed(),
            },
            SessionEvent::Lost {
                generation,
                current,
                reason,
            } => {
                tracing::warn!(
                    generation,
                    %reason,
                    "bus session lost; flushing the near cache (notices may have been missed)"
                );
                let cleared = self.flush_near(Some(current));
                tracing::info!(
                    cleared,
                    generation = current,
                    "near cache flushed after the lost bus session; its subscriptions are gone"
                );
            }
            // A new incarnation needs nothing: topics are subscribed again on the next fill.
            SessionEvent::Restored { id, generation } => {
                tracing::info!(session = %id, generation, "bus session restored");
            }
        }
    }

    /// Another node wrote `key` at `version`: drop (or replace) any older copy, and keep
    /// fills in flight from installing anything older.
    fn apply_notice(&self, notice: Notice) {
        let Some(coherence) = &self.coherence else {
            return;
        };
        let (key, version, replacement) = match notice {
            Notice::Invalidate { key, version, .. } => (key, version, None),
            Notice::Update {
                key,
                version,
                value,
                ..
            } => (key, version, Some(value)),
            Notice::Ack { .. } => return,
        };
        coherence.note_applied(self.apply_change(&key, version, replacement));
    }

    /// Empties the near cache so nothing a missed notice should have dropped is served.
    /// `lost_until`: the session was lost, and this flush covers every loss up to that
    /// generation (from the `Lost` event, not read now: a later loss has its own event and
    /// must be flushed for again); the subscriptions are gone too.
    /// Returns how many entries the near cache held.
    fn flush_near(&self, lost_until: Option<u64>) -> usize {
        let Some(coherence) = &self.coherence else {
            return 0;
        };
        // Forgotten before the epoch moves: a fill admitted under the new epoch must not
        // find a subscription of the lost session and skip subscribing.
        if lost_until.is_some() {
            coherence.forget_subscriptions();
        }
        // Fills that started before this point may have skipped a subscription of the lost
        // session, or missed the notice that went astray: none of them installs from now on
        // (they check the epoch under the install lock). Taking them out of the flight map
        // is not enough — a notice may already have taken a fill out of it.
        coherence.begin_flush();
        {
            let mut flights = self.flights.lock();
            for flight in flights.values() {
                flight.floor.store(u64::MAX, Ordering::Release);
            }
            flights.clear();
        }
        let mut cleared = 0;
        if let Some(near) = &self.near {
            // Fills that passed their checks before the loss finish installing first, so
            // the clear below removes what they installed.
            near.barrier();
            cleared = near.clear();
        }
        coherence.end_flush(lost_until);
        cleared
    }

    /// Drops `key`'s subscription unless the near cache holds it or a fill needs it.
    async fn release_topic(&self, key: &[u8]) {
        let Some(coherence) = &self.coherence else {
            return;
        };
        coherence
            .release(key, || {
                self.near.as_ref().is_some_and(|near| near.contains(key))
                    || self.flights.lock().contains_key(key)
                    || self.installing.lock().contains_key(key)
            })
            .await;
    }
}

/// Applies the bus session's events to the node, in order, until the node is dropped.
async fn apply_events(
    node: Weak<Node>,
    mut events: Receiver<SessionEvent>,
    mut paused: tokio::sync::watch::Receiver<bool>,
) {
    while let Some(event) = events.recv().await {
        if paused.wait_for(|paused| !paused).await.is_err() {
            return;
        }
        let Some(node) = node.upgrade() else {
            return;
        };
        node.on_session_event(event);
    }
}

/// Releases the topics of objects that left the near cache, until the node is dropped.
async fn release_topics(node: Weak<Node>, mut released: UnboundedReceiver<Vec<u8>>) {
    while let Some(key) = released.recv().await {
        let Some(node) = node.upgrade() else {
            return;
        };
        node.release_topic(&key).await;
    }
}
