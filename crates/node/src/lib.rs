//! The read and write path of a processing node (an API node): near cache → shared tier →
//! store.
//!
//! A [`Node`] answers reads from the first tier that holds the object and records which
//! one did ([`Source`]). What it guarantees:
//!
//! * **Single flight.** Concurrent misses on one key on one node cause one trip to the
//!   shared tier and at most one store read; the other callers wait for that answer
//!   (counted as `coalesced`). If the caller running the fill is cancelled, a waiting
//!   caller takes over, so no caller waits on a fill nobody runs.
//! * **Version-checked fills.** An object read from the store is written to the shared tier
//!   with its version, and the tier never replaces a version with an older one (see
//!   `tiercache-tier`). The near cache keeps the same rule, and a delete leaves a short
//!   marker there, so a fill that read an old version before a write finished can never
//!   put it back over the write's version.
//! * **Write-through.** [`Node::put`] and [`Node::delete`] write to the store first (the
//!   store assigns the version), then install the result in the near cache, then replace
//!   the shared tier's copy by a versioned tombstone. The write is acknowledged only when
//!   all three happened; if the tier cannot be reached the caller gets
//!   [`NodeError::TierInvalidation`] with the version the store assigned. A read that starts
//!   after a write returned on this node sees that write or a later one.
//! * **Degraded tier.** A shared tier that cannot be reached on a read counts as a miss
//!   (the node reads the store); store errors are returned as they are.
//!
//! * **Coherence across nodes** (with a bus: [`Node::with_bus`]). A node subscribes to
//!   an object's topic, and waits for the bus to confirm, *before* it reads the object for
//!   its near cache; a writer publishes a notice after the store and the shared tier took
//!   the write. A receiver drops (or, in `update` mode, replaces) any older copy and stops
//!   fills in flight from installing anything older. A node serves near-cache hits only
//!   while it can prove its bus session's lease and has flushed for every loss of it, so
//!   a notice it may have missed can never leave a replaced copy in service. With
//!   asynchronous delivery ([`Delivery::Async`]), another node can still answer its older
//!   copy for the time the notice takes to reach it (the invalidation delay). With
//!   synchronous delivery ([`Delivery::Sync`]) a write is acknowledged only once every
//!   session subscribed to its topic confirmed the notice or lost its lease: no node
//!   answers a replaced version after that (a silent node delays the writer by at most
//!   one lease; past two, the write answers [`NodeError::Unconfirmed`]).
//! * **Write-behind** ([`NodeOptions::write_behind`]): writes are answered from memory
//!   (version [`PENDING`]; this node reads its own) and stored in coalesced batches every
//!   flush interval ([`Node::flush_dirty`]). Other nodes read the previous version until
//!   the flush and its notice reach them; a crash loses at most the writes of the last
//!   interval and the flush in progress; [`Node::close`] flushes first.
//! * **Max age** ([`NodeOptions::near_max_age`]): a near copy is served at most that long
//!   after it was installed, which bounds a copy whose invalidation was lost with a writer
//!   that crashed between its commit and its publish.
//!
//! Without a bus, other nodes' near caches are not told about writes and can serve their
//! own older copy until it is evicted (or its max age passes).

mod coherence;
mod error;
mod latency;
mod near;
mod stats;
mod write_behind;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use tiercache_bus::{Bus, SessionEvent};
use tiercache_cache::PolicySpec;
use tiercache_core::Version;
use tiercache_store::{Limits, Lookup, Precondition, Store};
use tiercache_tier::Tier;
use tokio::sync::OnceCell;
use tokio::sync::mpsc::{Receiver, UnboundedReceiver, UnboundedSender};

pub use coherence::{
    AckRequest, CoherenceOptions, CoherenceStats, Delivery, DurationSummary, Notice, Stamp,
    TopicGranularity, WriteMode,
};
pub use error::{NodeError, NodeResult};
pub use latency::{LatencyHistogram, LatencySnapshot};
pub use stats::{LatencyByKind, LatencySummary, NearStats, NodeStats, SharedStats, StoreStats};
pub use write_behind::{WriteBehindOptions, WriteBehindStats};

/// The version a write-behind write is answered with, and that reads of it show: the store
/// has not assigned one yet.
pub const PENDING: Version = Version(0);

use coherence::{Admission, Coherence, PublishFailure, bump};
use near::NearCache;
use stats::Counters;
use write_behind::{Dirty, WriteBehind};

/// Which tier answered a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The node's own near cache.
    Near,
    /// The shared tier.
    Shared,
    /// The store.
    Store,
    /// This node's own write, not yet in the store (write-behind).
    Pending,
}

impl Source {
    /// `near`, `shared`, `store` or `pending`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Near => "near",
            Source::Shared => "shared",
            Source::Store => "store",
            Source::Pending => "pending",
        }
    }
}

/// A live object and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The value.
    pub value: Bytes,
    /// The store's version of it.
    pub version: Version,
    /// The tier that answered.
    pub source: Source,
}

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The near cache's budget in bytes (keys + values + per-entry overhead); 0 disables
    /// the near cache. Default 64 MiB.
    pub near_capacity_bytes: u64,
    /// The near cache's eviction policy (default `allkeys-lru`).
    pub near_policy: PolicySpec,
    /// Key and value limits, checked before anything is sent anywhere (default: the
    /// store's defaults, 512-byte keys and 1 MiB values).
    pub limits: Limits,
    /// The longest a value stays in the near cache after it was installed (default
    /// `None`: until evicted, replaced or invalidated). Bounds how long a copy can be
    /// served when its invalidation never comes — a writer that crashed between its store
    /// commit and its publish.
    pub near_max_age: Option<std::time::Duration>,
    /// Fault injection: abort the whole process right after a write's store commit, before
    /// the shared tier and the other nodes hear of it (default `false`).
    pub crash_after_commit: bool,
    /// Write-behind instead of write-through (default `None`: write-through). Needs a
    /// node made by [`Node::start`] or [`Node::with_bus`], which run its flusher.
    pub write_behind: Option<WriteBehindOptions>,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            near_capacity_bytes: 64 << 20,
            near_policy: "allkeys-lru".parse().expect("a built-in policy name"),
            limits: Limits::default(),
            near_max_age: None,
            crash_after_commit: false,
            write_behind: None,
        }
    }
}

/// The outcome of one fill, shared by every caller that waited for it.
type FillOutcome = Result<Option<Answer>, NodeError>;

/// One fill in progress (single flight).
#[derive(Default)]
struct Flight {
    outcome: OnceCell<FillOutcome>,
    /// The newest version a notice announced while the fill ran: the fill may not install
    /// anything older in the near cache. Raised under the near cache's install lock.
    floor: AtomicU64,
}

/// The read and write path of one API node.
pub struct Node {
    near: Option<NearCache>,
    tier: Option<Arc<dyn Tier>>,
    store: Arc<dyn Store>,
    limits: Limits,
    crash_after_commit: bool,
    /// Fills in progress, by key (single flight).
    flights: Mutex<HashMap<Vec<u8>, Arc<Flight>>>,
    counters: Counters,
    /// The bus side; `None` for a node without a bus.
    coherence: Option<Coherence>,
    /// Keys whose topic may no longer be needed (object topics only).
    releases: Option<UnboundedSender<Vec<u8>>>,
    /// Unflushed writes (write-behind mode).
    write_behind: Option<WriteBehind>,
    /// Fills and writes between subscribing to a key's topic and their install attempt,
    /// by key (with a bus). Their topic must not be released under them, and a notice
    /// that arrives meanwhile must stop them from installing anything older — even a
    /// write's own version, or a fill a notice already took out of the flight map.
    installing: Mutex<HashMap<Vec<u8>, Installing>>,
}

/// The fills and writes of one key on their way to the near cache.
#[derive(Default)]
struct Installing {
    holders: u32,
    /// The newest version a notice announced meanwhile: nothing older may be installed.
    /// Raised under the near cache's install lock.
    floor: Arc<AtomicU64>,
}

/// What a fill or a write checks before it installs in the near cache (see
/// [`Node::prepare_install`]); dropping it lets the key's topic go if nothing else needs it.
struct InstallTicket<'a> {
    node: &'a Node,
    key: &'a [u8],
    /// Session generation and flush epoch when it started (`None`: no bus).
    admission: Option<Admission>,
    /// The key's shared floor (`None`: no bus).
    floor: Option<Arc<AtomicU64>>,
}

impl InstallTicket<'_> {
    /// Whether `version` may still be installed: no notice at a newer version arrived, and
    /// no session loss or flush happened since the ticket was taken.
    fn admits(&self, version: Version) -> bool {
        let floor_ok = self
            .floor
            .as_ref()
            .is_none_or(|floor| version.0 >= floor.load(Ordering::Acquire));
        let admission_ok = match (self.admission, &self.node.coherence) {
            (Some(admission), Some(coherence)) => coherence.admission() == admission,
            _ => true,
        };
        floor_ok && admission_ok
    }
}

impl Drop for InstallTicket<'_> {
    fn drop(&mut self) {
        if self.floor.is_none() {
            return;
        }
        let mut installing = self.node.installing.lock();
        if let Some(entry) = installing.get_mut(self.key) {
            entry.holders -= 1;
            if entry.holders == 0 {
                installing.remove(self.key);
            }
        }
        drop(installing);
        // Re-checked by the release task under the topic's lock. A copy that is installed
        // queues its own release when it leaves the near cache.
        if !self
            .node
            .near
            .as_ref()
            .is_some_and(|near| near.contains(self.key))
        {
            self.node.queue_release(self.key);
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("near", &self.near.is_some())
            .field("tier", &self.tier.as_ref().map(|t| t.describe()))
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node over `store`, with `tier` as its shared tier (none: near cache → store).
    pub fn new(
        store: Arc<dyn Store>,
        tier: Option<Arc<dyn Tier>>,
        options: &NodeOptions,
    ) -> Result<Node, String> {
        if options.write_behind.is_some() {
            return Err("write-behind needs a flusher task: make the node with Node::start".into());
        }
        Node::assemble(store, tier, options, None, None)
    }

    /// A node without a bus, shared, with its background tasks running (the write-behind
    /// flusher, when set).
    pub async fn start(
        store: Arc<dyn Store>,
        tier: Option<Arc<dyn Tier>>,
        options: &NodeOptions,
    ) -> Result<Arc<Node>, String> {
        let node = Arc::new(Node::assemble(store, tier, options, None, None)?);
        node.spawn_flusher();
        Ok(node)
    }

    /// Starts the write-behind flusher (if the node is in write-behind mode); it stops when
    /// the node is dropped.
    fn spawn_flusher(self: &Arc<Node>) {
        if let Some(write_behind) = &self.write_behind {
            tokio::spawn(flush_periodically(
                Arc::downgrade(self),
                write_behind.options.flush_interval,
            ));
        }
    }

    /// The node's parts; `releases` receives the keys that leave the near cache.
    fn assemble(
        store: Arc<dyn Store>,
        tier: Option<Arc<dyn Tier>>,
        options: &NodeOptions,
        coherence: Option<Coherence>,
        releases: Option<UnboundedSender<Vec<u8>>>,
    ) -> Result<Node, String> {
        let near = match options.near_capacity_bytes {
            0 => None,
            capacity => Some(NearCache::new(
                options.near_policy,
                capacity,
                options.near_max_age,
                releases.clone(),
            )?),
        };
        Ok(Node {
            near,
            tier,
            store,
            limits: options.limits,
            crash_after_commit: options.crash_after_commit,
            flights: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            coherence,
            releases,
            installing: Mutex::new(HashMap::new()),
            write_behind: match options.write_behind {
                Some(write_behind) => {
                    write_behind.validate()?;
                    Some(WriteBehind::new(write_behind))
                }
                None => None,
            },
        })
    }

    /// A node whose near cache is kept coherent with the other nodes on `bus` (see the
    /// crate docs). Opens a bus session (fails if the bus cannot be reached) and starts the
    /// tasks that apply notices and release subscriptions; they stop when the node is
    /// dropped.
    pub async fn with_bus(
        store: Arc<dyn Store>,
        tier: Option<Arc<dyn Tier>>,
        bus: Arc<dyn Bus>,
        options: &NodeOptions,
        coherence: CoherenceOptions,
    ) -> Result<Arc<Node>, String> {
        // Object topics are released when their object leaves the near cache; bucket
        // topics are few and held for the session's life.
        let (releases, released) = match (coherence.topics, options.near_capacity_bytes) {
            (TopicGranularity::Object, 1..) => {
                let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
                (Some(sender), Some(receiver))
            }
            _ => (None, None),
        };
        let (coherence, events) = Coherence::start(bus, coherence)
            .await
            .map_err(|error| format!("bus: {error}"))?;
        let node = Arc::new(Node::assemble(
            store,
            tier,
            options,
            Some(coherence),
            releases,
        )?);
        let paused = node
            .coherence
            .as_ref()
            .map(|c| c.events_paused.subscribe())
            .expect("a node with a bus has a coherence side");
        tokio::spawn(apply_events(Arc::downgrade(&node), events, paused));
        if let Some(released) = released {
            tokio::spawn(release_topics(Arc::downgrade(&node), released));
        }
        node.spawn_flusher();
        Ok(node)
    }

    /// Shuts the node down gracefully: flushes its unflushed writes (write-behind), then
    /// ends its bus session (its subscriptions leave the bus at once instead of when the
    /// lease lapses). The node keeps answering from the shared tier and the store.
    pub async fn close(&self) {
        // A store that refuses keeps the writes in memory; a shutdown tries a few times.
        for _ in 0..3 {
            if self.flush_dirty().await.failed == 0 {
                break;
            }
        }
        if let Some(coherence) = &self.coherence {
            coherence.session.close().await;
        }
    }

    /// Fault injection for tests: stops (or resumes) the renewals of the bus session's
    /// lease, as if the node froze.
    pub fn pause_lease_renewals(&self, paused: bool) {
        if let Some(coherence) = &self.coherence {
            coherence.session.pause_renewals(paused);
        }
    }

    /// Fault injection for tests: freezes (or thaws) the node's bus side — no lease
    /// renewals, no notices applied, no acknowledgements sent — while it keeps answering
    /// requests, as a node stuck in a long pause would once it wakes.
    pub fn freeze_bus(&self, frozen: bool) {
        if let Some(coherence) = &self.coherence {
            coherence.session.pause_renewals(frozen);
            coherence.events_paused.send_replace(frozen);
        }
    }

    /// The limits keys and values are checked against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The shared tier's description, or `None` when the node has no shared tier.
    pub fn tier_description(&self) -> Option<String> {
        self.tier.as_ref().map(|tier| tier.describe())
    }

    /// Checks a key: 1..=`max_key_bytes` bytes, no control characters (they break logs,
    /// URLs and the Redis protocol's inline form, and no real key needs them).
    pub fn check_key(&self, key: &[u8]) -> NodeResult<()> {
        if key.is_empty() {
            return Err(NodeError::InvalidKey("the key is empty".into()));
        }
        if key.len() > self.limits.max_key_bytes {
            return Err(NodeError::Store(tiercache_store::StoreError::TooLarge {
                what: "key".into(),
                size: key.len(),
                limit: self.limits.max_key_bytes,
            }));
        }
        if let Some(position) = key.iter().position(|b| b.is_ascii_control()) {
            return Err(NodeError::InvalidKey(format!(
                "the key contains a control character (byte {:#04x} at offset {position})",
                key[position]
            )));
        }
        Ok(())
    }

    /// The live object under `key`, or `None` when it does not exist (never written, or
    /// deleted).
    pub async fn get(&self, key: &[u8]) -> NodeResult<Option<Answer>> {
        let started = Instant::now();
        self.check_key(key)?;
        if let Some(pending) = self.write_behind.as_ref().and_then(|wb| wb.lookup(key)) {
            self.counters.near_hit(started.elapsed());
            return Ok(pending.map(|value| Answer {
                value,
                version: PENDING,
                source: Source::Pending,
            }));
        }
        if let Some(near) = &self.near {
            if let Some(hit) = near.get(key).filter(|_| self.may_serve_near()) {
                self.counters.near_hit(started.elapsed());
                return Ok(Some(Answer {
                    value: hit.value,
                    version: hit.version,
                    source: Source::Near,
                }));
            }
            self.counters.near_miss();
        }
        let outcome = self.single_flight(key).await;
        self.counters.read_done(&outcome, started.elapsed());
        outcome
    }

    /// Whether the near cache may answer: always without a bus; with one, only while the
    /// session's lease is provably held and every loss of it was flushed for.
    fn may_serve_near(&self) -> bool {
        self.coherence
            .as_ref()
            .is_none_or(Coherence::may_serve_near)
    }

    /// Joins the fill of `key` in progress on this node, or starts one.
    async fn single_flight(&self, key: &[u8]) -> FillOutcome {
        let flight = {
            let mut flights = self.flights.lock();
            match flights.get(key) {
                Some(flight) => Arc::clone(flight),
                None => {
                    let flight = Arc::new(Flight::default());
                    flights.insert(key.to_vec(), Arc::clone(&flight));
                    flight
                }
            }
        };
        let mut ran_fill = false;
        let outcome = flight
            .outcome
            .get_or_init(|| {
                ran_fill = true;
                self.fill(key, &flight)
            })
            .await
            .clone();
        if ran_fill {
            let mut flights = self.flights.lock();
            if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(key);
            }
        } else {
            self.counters.coalesced();
        }
        outcome
    }

    /// Before reading (or writing) `key` for the near cache: registers the install in
    /// progress, subscribes to the key's topic (confirmed) and returns what to check at
    /// install time. `None`: do not install.
    async fn prepare_install<'a>(&'a self, key: &'a [u8]) -> Option<InstallTicket<'a>> {
        self.near.as_ref()?;
        let Some(coherence) = &self.coherence else {
            return Some(InstallTicket {
                node: self,
                key,
                admission: None,
                floor: None,
            });
        };
        let floor = {
            let mut installing = self.installing.lock();
            let entry = installing.entry(key.to_vec()).or_default();
            entry.holders += 1;
            Arc::clone(&entry.floor)
        };
        let ticket = InstallTicket {
            node: self,
            key,
            admission: Some(coherence.admission()),
            floor: Some(floor),
        };
        // Without a confirmed subscription a later write could not reach this copy: the
        // answer is still served, just not cached.
        coherence.subscribe_for(key).await.ok()?;
        Some(ticket)
    }

    /// Installs a filled object in the near cache, unless a notice announced a newer
    /// version meanwhile, or the bus session was lost or the near cache flushed since
    /// `admission`.
    fn install_fill(
        &self,
        key: &[u8],
        value: Bytes,
        version: Version,
        flight: &Flight,
        ticket: Option<&InstallTicket<'_>>,
    ) {
        let (Some(near), Some(ticket)) = (&self.near, ticket) else {
            return;
        };
        let installed = near.install_if(key, Some(value), version, || {
            version.0 >= flight.floor.load(Ordering::Acquire) && ticket.admits(version)
        });
        if !installed {
            self.counters.fill_refused();
        }
    }

    /// Asks the release task to drop `key`'s subscription if nothing uses it.
    fn queue_release(&self, key: &[u8]) {
        if let Some(releases) = &self.releases {
            let _ = releases.send(key.to_vec());
        }
    }

    /// Shared tier, then store; fills the tiers it missed with version-checked writes.
    async fn fill(&self, key: &[u8], flight: &Flight) -> FillOutcome {
        let ticket = self.prepare_install(key).await;
        if ticket.is_none() && self.coherence.is_some() {
            // Not subscribed, so no notice can stop this fill: a read that starts later
            // (perhaps after a write) must not join it and get what it read.
            let mut flights = self.flights.lock();
            if flights
                .get(key)
                .is_some_and(|f| std::ptr::eq(Arc::as_ptr(f), flight))
            {
                flights.remove(key);
            }
        }
        if let Some(tier) = &self.tier {
            match tier.get(key).await {
                Ok(Some(entry)) => {
                    self.counters.shared_hit();
                    let value = Bytes::from(entry.value);
                    self.install_fill(key, value.clone(), entry.version, flight, ticket.as_ref());
                    return Ok(Some(Answer {
                        value,
                        version: entry.version,
                        source: Source::Shared,
                    }));
                }
                Ok(None) => self.counters.shared_miss(),
                // An unreachable tier is a miss: the store still answers.
                Err(_) => self.counters.shared_error(),
            }
        }
        let lookup = self.store.get(key).await.inspect_err(|_| {
            self.counters.store_error();
        })?;
        match lookup {
            Lookup::Live { value, version } => {
                self.counters.store_hit();
                let value = Bytes::from(value);
                if let Some(tier) = &self.tier
                    && tier.set(key, &value, version).await.is_err()
                {
                    self.counters.shared_error();
                }
                self.install_fill(key, value.clone(), version, flight, ticket.as_ref());
                Ok(Some(Answer {
                    value,
                    version,
                    source: Source::Store,
                }))
            }
            Lookup::Absent | Lookup::Deleted { .. } => {
                self.counters.store_not_found();
                Ok(None)
            }
        }
    }

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
            eprintln!(
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
            let update = (coherence.options.write_mode == WriteMode::Update).then_some(value);
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

    /// Applies one event of the bus session.
    fn on_session_event(&self, event: SessionEvent) {
        let Some(coherence) = &self.coherence else {
            return;
        };
        match event {
            SessionEvent::Message { payload, .. } => {
                bump(&coherence.counters.received);
                match Notice::decode(payload) {
                    Ok(notice) => {
                        let stamp = notice.stamp();
                        if stamp.is_some_and(|stamp| Some(stamp.origin) == coherence.session.id()) {
                            // This node's own write: its copy moved before the publish.
                            bump(&coherence.counters.own_notices);
                            return;
                        }
                        let ack = notice.ack_request();
                        self.apply_notice(notice);
                        if let Some(stamp) = stamp {
                            coherence.counters.record_delay(stamp);
                        }
                        if let Some(ack) = ack {
                            coherence.acknowledge(ack);
                        }
                    }
                    Err(_) => {
                        // A notice we cannot read may have been an invalidation.
                        bump(&coherence.counters.malformed);
                        self.flush_near(None);
                    }
                }
            }
            SessionEvent::Direct { payload } => match Notice::decode(payload) {
                Ok(Notice::Ack { request, from }) => coherence.acknowledged(request, from),
                // A stray direct message cannot have been an invalidation: ignored.
                _ => bump(&coherence.counters.malformed),
            },
            SessionEvent::Lost { current, .. } => self.flush_near(Some(current)),
            // A new incarnation needs nothing: topics are subscribed again on the next fill.
            SessionEvent::Restored { .. } => {}
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
        match self.apply_change(&key, version, replacement) {
            Some(true) => bump(&coherence.counters.applied),
            Some(false) => {}
            None => bump(&coherence.counters.discarded),
        }
    }

    /// `key` is at `version` in the store: drops (or replaces) any older copy here and keeps
    /// installs in progress from putting anything older in place. `None`: nothing here had
    /// to do with `key`; otherwise whether anything was changed or stopped.
    fn apply_change(
        &self,
        key: &[u8],
        version: Version,
        replacement: Option<Option<Bytes>>,
    ) -> Option<bool> {
        let flight = self.flights.lock().get(key).cloned();
        let installing = self
            .installing
            .lock()
            .get(key)
            .map(|entry| Arc::clone(&entry.floor));
        let near = self.near.as_ref()?;
        if flight.is_none() && installing.is_none() && !near.contains(key) {
            return None;
        }
        let changed = near.apply_notice(key, version, replacement, || {
            if let Some(flight) = &flight {
                flight.floor.fetch_max(version.0, Ordering::AcqRel);
            }
            if let Some(floor) = &installing {
                floor.fetch_max(version.0, Ordering::AcqRel);
            }
        });
        if let Some(flight) = &flight {
            // Readers that start from now on must not join a fill that may be older.
            let mut flights = self.flights.lock();
            if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
                flights.remove(key);
            }
        }
        Some(changed || flight.is_some() || installing.is_some())
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
                Err(tiercache_store::StoreError::NotFound(_)) => {
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

    /// Empties the near cache so nothing a missed notice should have dropped is served.
    /// `lost_until`: the session was lost, and this flush covers every loss up to that
    /// generation (from the `Lost` event, not read now: a later loss has its own event and
    /// must be flushed for again); the subscriptions are gone too.
    fn flush_near(&self, lost_until: Option<u64>) {
        let Some(coherence) = &self.coherence else {
            return;
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
        coherence.flush_epoch.fetch_add(1, Ordering::AcqRel);
        {
            let mut flights = self.flights.lock();
            for flight in flights.values() {
                flight.floor.store(u64::MAX, Ordering::Release);
            }
            flights.clear();
        }
        if let Some(near) = &self.near {
            // Fills that passed their checks before the loss finish installing first, so
            // the clear below removes what they installed.
            near.barrier();
            near.clear();
        }
        if let Some(generation) = lost_until {
            coherence
                .flushed_generation
                .fetch_max(generation, Ordering::AcqRel);
        }
        bump(&coherence.counters.flushes);
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

    /// Drops every entry of this node's near cache.
    pub fn clear_near(&self) {
        if let Some(near) = &self.near {
            near.clear();
        }
    }

    /// Counters and latency percentiles since the node started.
    pub fn stats(&self) -> NodeStats {
        let mut stats = self.counters.snapshot(
            self.near.as_ref().map(NearCache::stats),
            self.tier.as_ref().map(|tier| tier.stats()),
        );
        stats.coherence = self.coherence.as_ref().map(Coherence::stats);
        stats.write_behind = self.write_behind.as_ref().map(WriteBehind::stats);
        stats
    }

    /// The read and write latency histograms, by source, for Prometheus.
    pub fn latency(&self) -> Vec<(&'static str, LatencySnapshot)> {
        self.counters.latency()
    }
}

/// What one write-behind flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Writes now in the store.
    pub stored: usize,
    /// Writes the store could not take now (unavailable); kept for the next flush.
    pub failed: usize,
    /// Writes the store refused for good (it judged them invalid); given up and counted.
    pub dropped: usize,
}

/// Whether a store error may go away on its own (worth keeping a write-behind write for).
fn retryable(error: &tiercache_store::StoreError) -> bool {
    matches!(
        error,
        tiercache_store::StoreError::Unavailable(_) | tiercache_store::StoreError::Internal(_)
    )
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
