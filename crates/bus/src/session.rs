//! Sessions: what a session is to its owner (its id, its events, its lease settings) and
//! the machinery every backend shares — the lease, its renewal, and the replacement of a
//! lost incarnation. A backend only knows how to start an [`Incarnation`] and how to
//! deliver into a [`Sink`].
//!
//! ```text
//!   owner ──subscribe/unsubscribe──▶ Session ──▶ current Incarnation ──▶ backend
//!   owner ◀──SessionEvent (bounded)── Sink ◀── backend deliveries
//!                     driver task: renew every `renew_every`; on loss → Lost, start a
//!                     new incarnation → Restored
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};

use crate::error::{BusError, BusResult};
use crate::topic::check_topic;

/// Identifies one session *incarnation* on a bus. A session that is lost comes back under
/// a new id, so an id never names two different lifetimes of subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// What a session hands to its owner, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A message published on a topic the session subscribes to.
    Message {
        /// The topic it was published on.
        topic: String,
        /// The publisher's bytes, unchanged.
        payload: Bytes,
    },
    /// A message sent to this session alone ([`Bus::send_to`](crate::Bus::send_to)).
    Direct {
        /// The sender's bytes, unchanged.
        payload: Bytes,
    },
    /// The session ended: messages published from now back to some earlier point may never
    /// arrive, and every subscription is gone. Already raised in
    /// [`Session::generation`] before this event is queued.
    Lost {
        /// The generation that ended (see [`Session::generation`]).
        generation: u64,
        /// The generation current when the loss was reported: once its owner flushed for
        /// this event, messages are missed again only if the generation moves past it
        /// (and then another `Lost` follows).
        current: u64,
        /// Why, for logs.
        reason: String,
    },
    /// A new incarnation replaced a lost one. It has no subscriptions yet.
    Restored {
        /// The new incarnation's id.
        id: SessionId,
        /// Its generation.
        generation: u64,
    },
}

/// Lease settings of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// How long the bus keeps a session (and its subscriptions) after its last renewal.
    pub lease: Duration,
    /// How often the session renews its lease. Must be well below `lease - safety_margin`.
    pub renew_every: Duration,
    /// How much earlier than the bus the session counts its lease as expired
    /// ([`Session::lease_valid`]): covers the renewal's transit time and clock-rate drift
    /// between the node and the bus.
    pub safety_margin: Duration,
    /// How many undelivered events the session queues before it counts as a slow consumer
    /// and is ended (its owner then gets [`SessionEvent::Lost`]).
    pub queue_limit: usize,
}

/// The default lease: long enough to ride out a scheduler hiccup, short enough that a
/// writer in synchronous mode waits at most this long for a silent node.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions::with_lease(DEFAULT_LEASE)
    }
}

impl SessionOptions {
    /// A lease of `lease`, renewed every quarter of it, with a safety margin of a quarter.
    pub fn with_lease(lease: Duration) -> SessionOptions {
        SessionOptions {
            lease,
            renew_every: lease / 4,
            safety_margin: lease / 4,
            queue_limit: 100_000,
        }
    }

    /// Checks the settings hold together.
    pub fn validate(&self) -> BusResult<()> {
        if self.lease < Duration::from_millis(20) {
            return Err(BusError::InvalidArgument(format!(
                "the lease must be at least 20 ms, got {:?}",
                self.lease
            )));
        }
        if self.safety_margin.is_zero() || self.safety_margin >= self.lease {
            return Err(BusError::InvalidArgument(format!(
                "the safety margin ({:?}) must be above zero and below the lease ({:?})",
                self.safety_margin, self.lease
            )));
        }
        if self.renew_every.is_zero() || self.renew_every >= self.lease - self.safety_margin {
            return Err(BusError::InvalidArgument(format!(
                "renewals every {:?} cannot keep a lease of {:?} with a margin of {:?}",
                self.renew_every, self.lease, self.safety_margin
            )));
        }
        if self.queue_limit == 0 {
            return Err(BusError::InvalidArgument(
                "the queue limit must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// How a backend starts session incarnations.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Starts an incarnation holding a lease of `lease`; its deliveries go to `sink`.
    async fn start(&self, lease: Duration, sink: Sink) -> BusResult<Arc<dyn Incarnation>>;
}

/// One lifetime of a session on the bus.
#[async_trait]
pub(crate) trait Incarnation: Send + Sync + 'static {
    fn id(&self) -> SessionId;
    /// Returns once the bus will deliver the topic's messages to this incarnation.
    async fn subscribe(&self, topic: &str) -> BusResult<()>;
    /// Returns once the bus no longer counts this incarnation as a subscriber.
    async fn unsubscribe(&self, topic: &str) -> BusResult<()>;
    /// Extends the lease to `lease` from now. `SessionLost` when the bus already dropped it.
    async fn renew(&self, lease: Duration) -> BusResult<()>;
    /// Ends the incarnation at the bus (best effort: the lease ends it anyway).
    async fn end(&self);
}

/// State shared by the session handle, its driver and its sinks.
struct Shared {
    options: SessionOptions,
    /// Raised the moment a loss is detected, before the `Lost` event is queued.
    generation: AtomicU64,
    /// Nanoseconds after `base` until which the lease is provably held; 0 = not held.
    valid_until: AtomicU64,
    base: Instant,
    /// The incarnation in use; `None` while a lost one is being replaced.
    current: Mutex<Option<Arc<dyn Incarnation>>>,
    /// An incarnation taken out of service by a loss, waiting for the driver to end it.
    dead: Mutex<Option<Arc<dyn Incarnation>>>,
    /// Why the current generation ended, for the `Lost` event.
    loss_reason: Mutex<Option<String>>,
    wake_driver: Notify,
    renewals_paused: AtomicBool,
    closed: AtomicBool,
    events: mpsc::Sender<SessionEvent>,
}

impl Shared {
    fn now_nanos(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Ends generation `generation` (once): from here on the lease is not valid.
    fn lose(&self, generation: u64, reason: String) {
        if self
            .generation
            .compare_exchange(
                generation,
                generation + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            self.valid_until.store(0, Ordering::Release);
            // Nothing may subscribe on the lost incarnation from now on: a subscription
            // confirmed there would never deliver.
            let lost = self.current.lock().take();
            if lost.is_some() {
                *self.dead.lock() = lost;
            }
            *self.loss_reason.lock() = Some(reason);
            self.wake_driver.notify_one();
        }
    }
}

/// Where a backend delivers an incarnation's messages. Deliveries for an incarnation that
/// was already replaced are dropped.
#[derive(Clone)]
pub(crate) struct Sink {
    shared: Arc<Shared>,
    generation: u64,
}

impl Sink {
    /// Queues an event for the owner; a full queue makes this a slow consumer: lost.
    pub(crate) fn deliver(&self, event: SessionEvent) {
        if self.shared.generation.load(Ordering::Acquire) != self.generation {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.shared.events.try_send(event) {
            self.lose(format!(
                "slow consumer: {} events queued",
                self.shared.options.queue_limit
            ));
        }
    }

    /// Reports that the bus dropped this incarnation (connection closed, lease lapsed).
    pub(crate) fn lose(&self, reason: String) {
        self.shared.lose(self.generation, reason);
    }
}

/// A leased session on a bus: it holds subscriptions, renews its lease in the background,
/// and replaces itself when lost. Obtained from [`Bus::open_session`](crate::Bus::open_session).
///
/// Guarantee to the owner: if [`Session::lease_valid`] is true and
/// [`Session::generation`] has not changed since a subscription was confirmed, every
/// message published on that topic since then has been queued (or will be before the
/// next `Lost`). The lease counts as expired `safety_margin` earlier than the bus expires
/// it, measured from when the last successful renewal was *sent*.
pub struct Session {
    shared: Arc<Shared>,
    driver: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id())
            .field("generation", &self.generation())
            .field("lease_valid", &self.lease_valid())
            .finish()
    }
}

impl Session {
    /// Starts a session on `backend`: the first incarnation is started before this returns.
    pub(crate) async fn open(
        backend: Arc<dyn Backend>,
        options: SessionOptions,
    ) -> BusResult<(Session, mpsc::Receiver<SessionEvent>)> {
        options.validate()?;
        let (events, receiver) = mpsc::channel(options.queue_limit);
        let shared = Arc::new(Shared {
            options,
            generation: AtomicU64::new(0),
            valid_until: AtomicU64::new(0),
            base: Instant::now(),
            current: Mutex::new(None),
            dead: Mutex::new(None),
            loss_reason: Mutex::new(None),
            wake_driver: Notify::new(),
            renewals_paused: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            events,
        });
        start_incarnation(&shared, &*backend).await?;
        // Generation 0 is handed over explicitly: a loss before the driver first runs must
        // still be reported.
        let driver = tokio::spawn(drive(Arc::clone(&shared), backend, 0));
        Ok((Session { shared, driver }, receiver))
    }

    /// The current incarnation's id (`None` while a lost one is being replaced).
    pub fn id(&self) -> Option<SessionId> {
        self.shared.current.lock().as_ref().map(|i| i.id())
    }

    /// Counts the incarnations that ended. It rises the moment a loss is detected, before
    /// the `Lost` event is queued: an owner that compares it before and after some work
    /// knows whether messages may have been missed in between.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Whether the session can prove its lease is held right now (see the type's docs).
    pub fn lease_valid(&self) -> bool {
        self.shared.now_nanos() < self.shared.valid_until.load(Ordering::Acquire)
    }

    /// The lease settings.
    pub fn options(&self) -> &SessionOptions {
        &self.shared.options
    }

    fn current(&self) -> BusResult<Arc<dyn Incarnation>> {
        self.shared
            .current
            .lock()
            .clone()
            .ok_or_else(|| BusError::SessionLost("the session is being replaced".into()))
    }

    /// Subscribes to `topic`; returns once the bus confirmed it. Subscribing twice is the
    /// same as once.
    pub async fn subscribe(&self, topic: &str) -> BusResult<()> {
        check_topic(topic)?;
        self.current()?.subscribe(topic).await
    }

    /// Unsubscribes from `topic`; returns once the bus confirmed it. Unsubscribing from a
    /// topic the session does not hold is not an error.
    pub async fn unsubscribe(&self, topic: &str) -> BusResult<()> {
        check_topic(topic)?;
        self.current()?.unsubscribe(topic).await
    }

    /// Fault injection: stops (or resumes) lease renewals and the replacement of lost
    /// incarnations, as if the node were frozen. The lease then lapses on its own.
    pub fn pause_renewals(&self, paused: bool) {
        self.shared.renewals_paused.store(paused, Ordering::Release);
        self.shared.wake_driver.notify_one();
    }

    /// Ends the session: the current incarnation leaves the bus, and no replacement starts.
    pub async fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        // From now on the lease cannot be proven: the bus is about to drop it.
        self.shared.valid_until.store(0, Ordering::Release);
        self.shared.wake_driver.notify_one();
        let current = self.shared.current.lock().take();
        if let Some(incarnation) = current {
            incarnation.end().await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.driver.abort();
        let current = self.shared.current.lock().take();
        if let Some(incarnation) = current
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move { incarnation.end().await });
        }
    }
}

/// Starts an incarnation for the current generation and makes it current.
async fn start_incarnation(shared: &Arc<Shared>, backend: &dyn Backend) -> BusResult<SessionId> {
    let generation = shared.generation.load(Ordering::Acquire);
    let sink = Sink {
        shared: Arc::clone(shared),
        generation,
    };
    let sent = shared.now_nanos();
    let incarnation = backend.start(shared.options.lease, sink).await?;
    if shared.generation.load(Ordering::Acquire) != generation {
        // Lost while it started: its deliveries would be dropped, so it must not serve.
        incarnation.end().await;
        return Err(BusError::SessionLost(
            "the session was lost while an incarnation started".into(),
        ));
    }
    let id = incarnation.id();
    *shared.current.lock() = Some(incarnation);
    extend_validity(shared, generation, sent);
    Ok(id)
}

/// After a renewal sent at `sent` succeeded: the lease holds until `sent + lease - margin`.
fn extend_validity(shared: &Shared, generation: u64, sent: u64) {
    let options = &shared.options;
    let until = sent + (options.lease - options.safety_margin).as_nanos() as u64;
    if shared.generation.load(Ordering::Acquire) == generation {
        shared.valid_until.fetch_max(until, Ordering::AcqRel);
        // A loss between the check and the store must not leave a valid lease behind.
        if shared.generation.load(Ordering::Acquire) != generation {
            shared.valid_until.store(0, Ordering::Release);
        }
    }
}

/// The background task of a session: renews the lease and replaces lost incarnations.
async fn drive(shared: Arc<Shared>, backend: Arc<dyn Backend>, mut reported_generation: u64) {
    let mut ticks = tokio::time::interval(shared.options.renew_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shared.wake_driver.notified() => {}
        }
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        let generation = shared.generation.load(Ordering::Acquire);
        if generation != reported_generation {
            // Lost: drop the dead incarnation, tell the owner, then start a new one.
            let dead = shared.dead.lock().take();
            if let Some(dead) = dead {
                tokio::spawn(async move { dead.end().await });
            }
            let reason = shared
                .loss_reason
                .lock()
                .take()
                .unwrap_or_else(|| "lost".into());
            let lost = SessionEvent::Lost {
                generation: reported_generation,
                current: generation,
                reason,
            };
            if shared.events.send(lost).await.is_err() {
                return; // The owner is gone.
            }
            reported_generation = generation;
        }
        if shared.renewals_paused.load(Ordering::Acquire) {
            let now = shared.now_nanos();
            if now >= shared.valid_until.load(Ordering::Acquire) && shared.current.lock().is_some()
            {
                shared.lose(generation, "the lease lapsed: renewals were paused".into());
            }
            continue;
        }
        let current = shared.current.lock().clone();
        match current {
            Some(incarnation) => {
                let sent = shared.now_nanos();
                // A renewal that hangs must not stall the check below.
                let renewal = tokio::time::timeout(
                    shared.options.renew_every,
                    incarnation.renew(shared.options.lease),
                )
                .await
                .unwrap_or_else(|_| Err(BusError::Unavailable("the renewal timed out".into())));
                match renewal {
                    Ok(()) => extend_validity(&shared, generation, sent),
                    Err(BusError::SessionLost(reason)) => shared.lose(generation, reason),
                    Err(error) => {
                        if shared.now_nanos() >= shared.valid_until.load(Ordering::Acquire) {
                            shared.lose(generation, format!("the lease lapsed: {error}"));
                        }
                    }
                }
            }
            None => {
                if let Ok(id) = start_incarnation(&shared, &*backend).await {
                    let restored = SessionEvent::Restored { id, generation };
                    if shared.events.send(restored).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
