//! Coherence across nodes: per-object (or per-bucket) subscriptions held by a leased bus
//! session, notices published by writers, and what a node does when it receives one or
//! loses its session.
//!
//! ```text
//!  writer node                    bus                         reader node
//!  store.put → v                                              (holds k, subscribed to k's topic)
//!  tier.delete(k, v)
//!  publish(topic(k), Invalidate{k,v}) ───▶ topic(k) ───▶ event loop: drop k if older than v,
//!                                                        raise k's fill floor to v, unsubscribe
//!  answer the client
//! ```
//!
//! The reader's fill of `k` subscribes *before* it reads, and installs what it read only if
//! no notice at a newer version arrived meanwhile and the session was not lost since it
//! subscribed — both checked under the near cache's per-key install lock, which notices
//! take too.

mod notice;
mod options;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tiercache_bus::{Bus, BusResult, Session};

pub use notice::{AckRequest, Notice};
pub use options::{CoherenceOptions, TopicGranularity, WriteMode};

/// Whether this node's session is subscribed to a topic. Locked across the bus call, so a
/// subscribe and an unsubscribe of one topic never overtake each other.
#[derive(Debug, Default)]
struct TopicState {
    subscribed: bool,
}

/// The bus side of a node.
pub(crate) struct Coherence {
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) session: Session,
    pub(crate) options: CoherenceOptions,
    /// Topics of the current session, by name.
    topics: Mutex<HashMap<String, Arc<tokio::sync::Mutex<TopicState>>>>,
    /// The session generation whose loss this node has already flushed for. Near hits are
    /// served only while it equals the session's generation.
    pub(crate) flushed_generation: AtomicU64,
    pub(crate) counters: CoherenceCounters,
}

/// Counters of the bus side (all monotonic except `subscriptions`).
#[derive(Debug, Default)]
pub(crate) struct CoherenceCounters {
    pub(crate) subscriptions: AtomicU64,
    pub(crate) subscribes: AtomicU64,
    pub(crate) unsubscribes: AtomicU64,
    pub(crate) subscribe_errors: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) applied: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) flushes: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What a node reports about its coherence (part of `/v1/stats`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CoherenceStats {
    /// The bus, described.
    pub bus: String,
    /// `object` or `bucket:N`.
    pub topics: String,
    /// `invalidate` or `update`.
    pub write_mode: String,
    /// The current session incarnation (`None` while a lost one is being replaced).
    pub session: Option<String>,
    /// How many incarnations ended (each one flushed the near cache).
    pub session_generation: u64,
    /// Whether the node can prove its lease right now (near hits are served only then).
    pub lease_valid: bool,
    /// Topics subscribed now.
    pub subscriptions: u64,
    /// Subscribe and unsubscribe calls confirmed by the bus.
    pub subscribes: u64,
    /// Unsubscribe calls confirmed by the bus.
    pub unsubscribes: u64,
    /// Subscribes that failed (the fill was answered but not cached).
    pub subscribe_errors: u64,
    /// Notices this node published (one per write).
    pub published: u64,
    /// Publishes that failed (the write answered 503).
    pub publish_errors: u64,
    /// Notices received from the bus.
    pub received: u64,
    /// Notices that dropped or replaced a copy or stopped a fill.
    pub applied: u64,
    /// Notices for keys this node neither held nor was filling (bucket topics, races).
    pub discarded: u64,
    /// Notices that did not decode (each flushed the near cache).
    pub malformed: u64,
    /// Near-cache flushes after a lost session or a malformed notice.
    pub flushes: u64,
}

impl Coherence {
    pub(crate) async fn start(
        bus: Arc<dyn Bus>,
        options: CoherenceOptions,
    ) -> BusResult<(
        Coherence,
        tokio::sync::mpsc::Receiver<tiercache_bus::SessionEvent>,
    )> {
        let (session, events) = bus.open_session(options.session).await?;
        let coherence = Coherence {
            bus,
            flushed_generation: AtomicU64::new(session.generation()),
            session,
            options,
            topics: Mutex::new(HashMap::new()),
            counters: CoherenceCounters::default(),
        };
        Ok((coherence, events))
    }

    /// Whether near-cache hits may be served: the lease is provably held and every loss of
    /// the session has been flushed for.
    pub(crate) fn may_serve_near(&self) -> bool {
        self.session.lease_valid()
            && self.session.generation() == self.flushed_generation.load(Ordering::Acquire)
    }

    /// The topic state of `topic`, locked, and still the one registered (an unsubscribe
    /// may have retired the one we found while we waited for its lock).
    async fn lock_topic(&self, topic: &str) -> tokio::sync::OwnedMutexGuard<TopicState> {
        loop {
            let state = Arc::clone(self.topics.lock().entry(topic.to_owned()).or_default());
            let guard = Arc::clone(&state).lock_owned().await;
            let current = self
                .topics
                .lock()
                .get(topic)
                .is_some_and(|registered| Arc::ptr_eq(registered, &state));
            if current {
                return guard;
            }
        }
    }

    /// Subscribes to `key`'s topic unless already subscribed; returns once confirmed.
    pub(crate) async fn subscribe_for(&self, key: &[u8]) -> BusResult<()> {
        let topic = self.options.topics.topic(key);
        if let Some(state) = self.topics.lock().get(&topic)
            && let Ok(state) = state.try_lock()
            && state.subscribed
        {
            return Ok(());
        }
        let mut state = self.lock_topic(&topic).await;
        if !state.subscribed {
            self.session.subscribe(&topic).await.inspect_err(|_| {
                bump(&self.counters.subscribe_errors);
            })?;
            state.subscribed = true;
            bump(&self.counters.subscribes);
            self.counters.subscriptions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Unsubscribes from `key`'s topic if `still_needed` says nothing uses it, asked under
    /// the topic's lock so a fill that subscribes meanwhile is not undone.
    pub(crate) async fn release(&self, key: &[u8], still_needed: impl Fn() -> bool) {
        let topic = self.options.topics.topic(key);
        if !self.topics.lock().contains_key(&topic) {
            return;
        }
        let mut state = self.lock_topic(&topic).await;
        if still_needed() {
            return;
        }
        if state.subscribed {
            // A failed unsubscribe only leaves an extra subscription until the session ends.
            if self.session.unsubscribe(&topic).await.is_ok() {
                bump(&self.counters.unsubscribes);
            }
            state.subscribed = false;
            self.counters.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        self.topics.lock().remove(&topic);
    }

    /// Forgets every subscription (the session that held them is gone).
    pub(crate) fn forget_subscriptions(&self) {
        self.topics.lock().clear();
        self.counters.subscriptions.store(0, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> CoherenceStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let c = &self.counters;
        CoherenceStats {
            bus: self.bus.describe(),
            topics: self.options.topics.to_string(),
            write_mode: self.options.write_mode.to_string(),
            session: self.session.id().map(|id| id.to_string()),
            session_generation: self.session.generation(),
            lease_valid: self.session.lease_valid(),
            subscriptions: load(&c.subscriptions),
            subscribes: load(&c.subscribes),
            unsubscribes: load(&c.unsubscribes),
            subscribe_errors: load(&c.subscribe_errors),
            published: load(&c.published),
            publish_errors: load(&c.publish_errors),
            received: load(&c.received),
            applied: load(&c.applied),
            discarded: load(&c.discarded),
            malformed: load(&c.malformed),
            flushes: load(&c.flushes),
        }
    }
}
