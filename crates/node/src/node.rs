//! The node itself: what it holds, how it is made and shut down, and what it reports. The
//! read path, the write path, install admission, the bus side and the write-behind flush
//! each add their methods to [`Node`] from a file of their own.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tiercache_bus::Bus;
use tiercache_store::{Limits, ObjectStore};
use tiercache_tier::Tier;
use tokio::sync::mpsc::UnboundedSender;

use crate::coherence::{Coherence, CoherenceOptions, TopicGranularity};
use crate::counters::Counters;
use crate::error::{NodeError, NodeResult, SetupError};
use crate::in_flight::{Flight, Installing};
use crate::latency::LatencySnapshot;
use crate::near::NearCache;
use crate::options::NodeOptions;
use crate::outbox::Outbox;
use crate::stats::NodeStats;
use crate::write_behind::WriteBehind;

/// The read and write path of one API node.
pub struct Node {
    pub(crate) near: Option<NearCache>,
    pub(crate) tier: Option<Arc<dyn Tier>>,
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) limits: Limits,
    pub(crate) crash_after_commit: bool,
    /// Fills in progress, by key (single flight).
    pub(crate) flights: Mutex<HashMap<Vec<u8>, Arc<Flight>>>,
    pub(crate) counters: Counters,
    /// The bus side; `None` for a node without a bus.
    pub(crate) coherence: Option<Coherence>,
    /// Keys whose topic may no longer be needed (object topics only).
    pub(crate) releases: Option<UnboundedSender<Vec<u8>>>,
    /// Unflushed writes (write-behind mode).
    pub(crate) write_behind: Option<WriteBehind>,
    /// Fills and writes between subscribing to a key's topic and their install attempt,
    /// by key (with a bus). Their topic must not be released under them, and a notice
    /// that arrives meanwhile must stop them from installing anything older — even a
    /// write's own version, or a fill a notice already took out of the flight map.
    pub(crate) installing: Mutex<HashMap<Vec<u8>, Installing>>,
    /// Confirming this node's notices and replaying unconfirmed ones (`None`: off).
    pub(crate) outbox: Option<Outbox>,
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
        store: Arc<dyn ObjectStore>,
        tier: Option<Arc<dyn Tier>>,
        options: &NodeOptions,
    ) -> Result<Node, SetupError> {
        if options.write_behind.is_some() {
            return Err(SetupError::WriteBehindWithoutFlusher);
        }
        Node::assemble(store, tier, options, None, None)
    }

    /// A node without a bus, shared, with its background tasks running (the write-behind
    /// flusher, when set).
    pub async fn start(
        store: Arc<dyn ObjectStore>,
        tier: Option<Arc<dyn Tier>>,
        options: &NodeOptions,
    ) -> Result<Arc<Node>, SetupError> {
        let node = Arc::new(Node::assemble(store, tier, options, None, None)?);
        node.spawn_flusher();
        node.spawn_outbox_tasks();
        Ok(node)
    }

    /// The node's parts; `releases` receives the keys that leave the near cache.
    fn assemble(
        store: Arc<dyn ObjectStore>,
        tier: Option<Arc<dyn Tier>>,
        options: &NodeOptions,
        coherence: Option<Coherence>,
        releases: Option<UnboundedSender<Vec<u8>>>,
    ) -> Result<Node, SetupError> {
        let near = match options.near_capacity_bytes {
            0 => None,
            capacity => Some(
                NearCache::new(
                    options.near_policy,
                    capacity,
                    options.near_max_age,
                    releases.clone(),
                )
                .map_err(SetupError::NearCache)?,
            ),
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
            outbox: options.outbox.map(Outbox::new),
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
        store: Arc<dyn ObjectStore>,
        tier: Option<Arc<dyn Tier>>,
        bus: Arc<dyn Bus>,
        options: &NodeOptions,
        coherence: CoherenceOptions,
    ) -> Result<Arc<Node>, SetupError> {
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
            .map_err(SetupError::Bus)?;
        let node = Arc::new(Node::assemble(
            store,
            tier,
            options,
            Some(coherence),
            releases,
        )?);
        node.spawn_bus_tasks(events, released);
        node.spawn_flusher();
        node.spawn_outbox_tasks();
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
            coherence.close().await;
        }
    }

    /// Fault injection for tests: stops (or resumes) the renewals of the bus session's
    /// lease, as if the node froze.
    pub fn pause_lease_renewals(&self, paused: bool) {
        if let Some(coherence) = &self.coherence {
            coherence.pause_lease_renewals(paused);
        }
    }

    /// Fault injection for tests: freezes (or thaws) the node's bus side — no lease
    /// renewals, no notices applied, no acknowledgements sent — while it keeps answering
    /// requests, as a node stuck in a long pause would once it wakes.
    pub fn freeze_bus(&self, frozen: bool) {
        if let Some(coherence) = &self.coherence {
            coherence.freeze(frozen);
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
        stats.outbox = self.outbox.as_ref().map(Outbox::stats);
        stats
    }

    /// The read and write latency histograms, by source, for Prometheus.
    pub fn latency(&self) -> Vec<(&'static str, LatencySnapshot)> {
        self.counters.latency()
    }
}
