//! Coherence across nodes: per-object (or per-bucket) subscriptions held by a leased bus
//! session, notices published by writers, and what a node does when it receives one or
//! loses its session. This module holds the bus side's state ([`Coherence`]) and what it
//! reports; its files hold what is done with it.
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
//!
//! In synchronous delivery the notice carries an acknowledgement request. Every receiver
//! applies the notice, then sends `Ack` straight to the writer's session; the writer
//! answers its client once each session the bus counted as subscribed at the publish has
//! acknowledged or is no longer alive on the bus (its lease lapsed — and a node counts its
//! own lease as lapsed earlier than the bus does, so it already stopped serving).
//!
//! ```text
//!  writer                     bus                      receiver (session r)
//!  publish(Invalidate{k,v, ack: (w, n)}) ──▶ receivers = {r, …}
//!                                         ──▶ apply: drop k if older than v
//!  ◀──────────── send_to(w, Ack{n, from: r}) ◀──
//!  every r acknowledged, or alive(r) = false → answer the client
//! ```

/// The wire format of notices and acknowledgements.
mod notice;
/// Topic granularity, write mode, delivery mode and lease settings.
mod options;
/// Publishing a notice, and the acknowledgements of synchronous delivery.
pub(crate) mod publish;
/// Applying what the bus session reports: notices, acknowledgements, a lost session.
mod receive;
/// Subscribing to a key's topic before a fill, releasing it afterwards.
mod subscriptions;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tiercache_bus::{Bus, BusResult, Session, SessionId};
use tokio::sync::{Notify, watch};

pub use notice::{AckRequest, Notice, Stamp};
pub use options::{CoherenceOptions, Delivery, TopicGranularity, WriteMode};

use crate::counters::bump;
use crate::latency::{LatencyHistogram, LatencySummary};
use crate::stats::CoherenceStats;

/// What a fill records before it subscribes and reads, and checks again under the install
/// lock: if either changed, what it read may have missed a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    generation: u64,
    epoch: u64,
}

/// A synchronous write waiting for the receivers' acknowledgements.
#[derive(Default)]
struct PendingAcks {
    confirmed: Mutex<HashSet<SessionId>>,
    arrived: Notify,
}

/// Whether this node's session is subscribed to a topic. Locked across the bus call, so a
/// subscribe and an unsubscribe of one topic never overtake each other.
#[derive(Debug, Default)]
struct TopicState {
    /// The session generation the subscription was confirmed in: a subscription of an
    /// earlier generation died with its incarnation and does not count.
    subscribed: Option<u64>,
}

/// The bus side of a node.
pub(crate) struct Coherence {
    bus: Arc<dyn Bus>,
    session: Session,
    options: CoherenceOptions,
    /// Topics of the current session, by name.
    topics: Mutex<HashMap<String, Arc<tokio::sync::Mutex<TopicState>>>>,
    /// The session generation whose loss this node has already flushed for. Near hits are
    /// served only while it equals the session's generation.
    flushed_generation: AtomicU64,
    /// Counts near-cache flushes; a fill installs only if none happened since it began.
    flush_epoch: AtomicU64,
    counters: CoherenceCounters,
    /// Synchronous writes waiting for acknowledgements, by request id.
    pending: Mutex<HashMap<u64, Arc<PendingAcks>>>,
    next_request: AtomicU64,
    /// Fault injection: while `true`, the node applies no bus events (a frozen node).
    events_paused: watch::Sender<bool>,
}

/// Counters of the bus side (all monotonic except `subscriptions`).
#[derive(Debug, Default)]
struct CoherenceCounters {
    subscriptions: AtomicU64,
    subscribes: AtomicU64,
    unsubscribes: AtomicU64,
    subscribe_errors: AtomicU64,
    published: AtomicU64,
    publish_errors: AtomicU64,
    received: AtomicU64,
    applied: AtomicU64,
    discarded: AtomicU64,
    malformed: AtomicU64,
    flushes: AtomicU64,
    acks_sent: AtomicU64,
    acks_received: AtomicU64,
    confirmed_writes: AtomicU64,
    lapsed_receivers: AtomicU64,
    unconfirmed_writes: AtomicU64,
    own_notices: AtomicU64,
    /// From a notice's stamp to the moment this node applied it (other nodes' notices).
    notice_delay: LatencyHistogram,
    /// From the start of a publish to its end (sync: every confirmation in).
    publish_wait: LatencyHistogram,
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
            flush_epoch: AtomicU64::new(0),
            session,
            options,
            topics: Mutex::new(HashMap::new()),
            counters: CoherenceCounters::default(),
            pending: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            events_paused: watch::Sender::new(false),
        };
        Ok((coherence, events))
    }

    /// The session generation and flush epoch now (see [`Admission`]).
    pub(crate) fn admission(&self) -> Admission {
        Admission {
            generation: self.session.generation(),
            epoch: self.flush_epoch.load(Ordering::Acquire),
        }
    }

    /// Whether near-cache hits may be served: the lease is provably held and every loss of
    /// the session has been flushed for.
    pub(crate) fn may_serve_near(&self) -> bool {
        self.session.lease_valid()
            && self.session.generation() == self.flushed_generation.load(Ordering::Acquire)
    }

    /// The settings this node's bus side runs with.
    pub(crate) fn options(&self) -> &CoherenceOptions {
        &self.options
    }

    /// Whether a notice stamped `stamp` is this node's own write coming back.
    pub(crate) fn is_own(&self, stamp: Stamp) -> bool {
        Some(stamp.origin) == self.session.id()
    }

    /// Starts a near-cache flush: no fill admitted before it installs from now on (they
    /// check the epoch under the install lock).
    pub(crate) fn begin_flush(&self) {
        self.flush_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Ends a near-cache flush, which covered every loss of the session up to generation
    /// `lost_until` (`None`: no loss, a notice could not be read): near hits may be served
    /// again once the flush covers the current generation.
    pub(crate) fn end_flush(&self, lost_until: Option<u64>) {
        if let Some(generation) = lost_until {
            self.flushed_generation
                .fetch_max(generation, Ordering::AcqRel);
        }
        bump(&self.counters.flushes);
    }

    /// Counts a message the session delivered on a subscribed topic.
    pub(crate) fn note_received(&self) {
        bump(&self.counters.received);
    }

    /// Counts this node's own notice coming back (skipped).
    pub(crate) fn note_own_notice(&self) {
        bump(&self.counters.own_notices);
    }

    /// Counts a message that did not decode, or a stray direct message.
    pub(crate) fn note_malformed(&self) {
        bump(&self.counters.malformed);
    }

    /// Counts another node's notice applied here: `Some(changed)` if anything here had to
    /// do with its key (a copy dropped or replaced, an install stopped), `None` if not.
    pub(crate) fn note_applied(&self, outcome: Option<bool>) {
        match outcome {
            Some(true) => bump(&self.counters.applied),
            Some(false) => {}
            None => bump(&self.counters.discarded),
        }
    }

    /// Records how long after it was sent, by its `stamp`, a notice was applied here.
    pub(crate) fn note_delay(&self, stamp: Stamp) {
        if let Some(age) = stamp.age() {
            self.counters.notice_delay.record(age);
        }
    }

    /// A receiver of the fault-injection switch: while it reads `true`, the node applies
    /// no bus events.
    pub(crate) fn events_paused(&self) -> watch::Receiver<bool> {
        self.events_paused.subscribe()
    }

    /// Fault injection: stops (or resumes) the renewals of the session's lease.
    pub(crate) fn pause_lease_renewals(&self, paused: bool) {
        self.session.pause_renewals(paused);
    }

    /// Fault injection: no lease renewals and no bus events applied while `frozen`.
    pub(crate) fn freeze(&self, frozen: bool) {
        self.session.pause_renewals(frozen);
        self.events_paused.send_replace(frozen);
    }

    /// Ends the bus session: its subscriptions leave the bus at once.
    pub(crate) async fn close(&self) {
        self.session.close().await;
    }

    pub(crate) fn stats(&self) -> CoherenceStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let c = &self.counters;
        CoherenceStats {
            bus: self.bus.describe(),
            topics: self.options.topics.to_string(),
            write_mode: self.options.write_mode.to_string(),
            delivery: self.options.delivery.to_string(),
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
            acks_sent: load(&c.acks_sent),
            acks_received: load(&c.acks_received),
            confirmed_writes: load(&c.confirmed_writes),
            lapsed_receivers: load(&c.lapsed_receivers),
            unconfirmed_writes: load(&c.unconfirmed_writes),
            own_notices: load(&c.own_notices),
            notice_delay: LatencySummary::of(&c.notice_delay.snapshot()),
            publish_wait: LatencySummary::of(&c.publish_wait.snapshot()),
        }
    }
}
