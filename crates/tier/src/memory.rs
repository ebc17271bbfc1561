//! In-process topologies on the tiercache engine: one node, partitioned nodes, a replicated
//! primary. They let the three topologies be compared with nothing installed.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use parking_lot::Mutex;
use tiercache_cache::{Cache, CacheBuilder, RemovalCause};
use tiercache_core::Version;
use tokio::sync::mpsc;

use crate::error::{TierError, TierResult};
use crate::model::{Entry, SetOutcome, TierOptions, Topology, write_refused};
use crate::slot::{key_slot, node_for_slot};

/// What a node holds under a key: a value, or a tombstone (`None`), at a version.
#[derive(Debug, Clone)]
struct Held {
    version: Version,
    value: Option<Arc<[u8]>>,
}

/// Locks that make "check the version, then write" one step per key. 256 stripes keep
/// unrelated keys from waiting on each other.
const STRIPES: usize = 256;
/// Fixed so that stripe choice is reproducible; keys cannot pick their stripe to hurt
/// anyone but themselves (a stripe only serialises writes of the keys that share it).
const STRIPE_SEED: u64 = 0x7469_6572;

/// One in-process cache node with version-checked writes.
pub struct MemoryNode {
    cache: Cache<Vec<u8>, Held>,
    stripes: Box<[Mutex<()>]>,
    options: TierOptions,
}

impl std::fmt::Debug for MemoryNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryNode")
            .field("entries", &self.cache.len())
            .finish()
    }
}

impl MemoryNode {
    /// A node with the options' policy and byte budget.
    pub fn new(options: &TierOptions) -> TierResult<MemoryNode> {
        let cache = CacheBuilder::new(options.policy)
            .max_bytes(options.node_capacity_bytes, |key: &Vec<u8>, held: &Held| {
                (key.len() + held.value.as_ref().map_or(0, |v| v.len())) as u64
            })
            .build()
            .map_err(|error| TierError::InvalidUrl(format!("in-process node: {error}")))?;
        Ok(MemoryNode {
            cache,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            options: options.clone(),
        })
    }

    fn stripe(&self, key: &[u8]) -> &Mutex<()> {
        // Any well-mixed hash will do here; foldhash is far cheaper than the CRC16 that
        // routes keys between nodes (and a partitioned write already computed that).
        let hash = foldhash::fast::FixedState::with_seed(STRIPE_SEED).hash_one(key);
        &self.stripes[(hash as usize) % STRIPES]
    }

    /// The live entry under `key`.
    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        let held = self.cache.get(key)?;
        Some(Entry {
            value: held.value?.to_vec(),
            version: held.version,
        })
    }

    /// Writes `value` (or a tombstone for `None`) at `version` unless a newer or equal
    /// version is held.
    pub fn write(&self, key: &[u8], value: Option<&[u8]>, version: Version) -> SetOutcome {
        let _guard = self.stripe(key).lock();
        if let Some(held) = self.cache.peek(key)
            && write_refused(held.version, held.value.is_some(), version, value.is_some())
        {
            return SetOutcome::Kept {
                current: held.version,
            };
        }
        let held = Held {
            version,
            value: value.map(Arc::from),
        };
        // A full `noeviction` node refuses the write; the tier then simply does not hold
        // the object (a miss later), which is always safe.
        let _ = match value {
            Some(_) => match self.options.value_ttl {
                Some(ttl) => self.cache.insert_with_ttl(key.to_vec(), held, ttl),
                None => self.cache.insert(key.to_vec(), held),
            },
            None => self
                .cache
                .insert_with_ttl(key.to_vec(), held, self.options.tombstone_ttl),
        };
        SetOutcome::Stored
    }

    /// Entries evicted to make room since the node was made.
    pub fn evictions(&self) -> u64 {
        self.cache.stats().removed(RemovalCause::Evicted)
    }

    /// Drops everything.
    pub fn flush(&self) {
        self.cache.invalidate_all();
    }
}

/// `memory://`: one in-process node.
#[derive(Debug)]
pub(crate) struct MemoryTier {
    node: MemoryNode,
}

impl MemoryTier {
    /// One node.
    pub(crate) fn new(options: &TierOptions) -> TierResult<MemoryTier> {
        Ok(MemoryTier {
            node: MemoryNode::new(options)?,
        })
    }
}

#[async_trait]
impl Topology for MemoryTier {
    async fn read(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        Ok(self.node.get(key))
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome> {
        Ok(self.node.write(key, value, version))
    }

    async fn flush(&self) -> TierResult<()> {
        self.node.flush();
        Ok(())
    }

    fn evictions(&self) -> Option<u64> {
        Some(self.node.evictions())
    }

    fn describe(&self) -> String {
        "centralized (one in-process node)".to_owned()
    }
}

/// `memory-partitioned://N`: N in-process nodes, each owning a contiguous range of the
/// 16384 hash slots.
#[derive(Debug)]
pub(crate) struct PartitionedTier {
    nodes: Vec<MemoryNode>,
}

impl PartitionedTier {
    /// `nodes` nodes (at least 1).
    pub(crate) fn new(nodes: usize, options: &TierOptions) -> TierResult<PartitionedTier> {
        if nodes == 0 {
            return Err(TierError::InvalidUrl(
                "a partitioned tier needs at least 1 node".into(),
            ));
        }
        Ok(PartitionedTier {
            nodes: (0..nodes)
                .map(|_| MemoryNode::new(options))
                .collect::<TierResult<_>>()?,
        })
    }

    fn node(&self, key: &[u8]) -> &MemoryNode {
        &self.nodes[node_for_slot(key_slot(key), self.nodes.len())]
    }
}

#[async_trait]
impl Topology for PartitionedTier {
    async fn read(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        Ok(self.node(key).get(key))
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome> {
        Ok(self.node(key).write(key, value, version))
    }

    async fn flush(&self) -> TierResult<()> {
        self.nodes.iter().for_each(MemoryNode::flush);
        Ok(())
    }

    fn evictions(&self) -> Option<u64> {
        Some(self.nodes.iter().map(MemoryNode::evictions).sum())
    }

    fn describe(&self) -> String {
        format!(
            "partitioned ({} in-process nodes, CRC16 slots)",
            self.nodes.len()
        )
    }
}

/// One replicated write: key, value (`None` for a tombstone), version.
type Replication = (Vec<u8>, Option<Vec<u8>>, Version);

/// `memory-replicated://N`: writes go to a primary and are replicated asynchronously, in
/// order, to N−1 replicas; reads are spread round-robin over the replicas (the primary when
/// there are none). Fills reach the replicas asynchronously (a replica that lags merely
/// misses: the replication lag this topology trades for read capacity), but a tombstone is
/// written to every replica before the delete returns, so once a versioned delete returned
/// no replica serves the version it replaced. Replicas apply writes version-checked, so a
/// late replicated write never moves a replica backwards.
pub(crate) struct ReplicatedTier {
    primary: Arc<MemoryNode>,
    replicas: Vec<Arc<MemoryNode>>,
    to_replicas: mpsc::UnboundedSender<Replication>,
    next_read: AtomicUsize,
}

impl std::fmt::Debug for ReplicatedTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedTier")
            .field("replicas", &self.replicas.len())
            .finish()
    }
}

impl ReplicatedTier {
    /// A primary and `nodes - 1` replicas. Must be called inside a tokio runtime (the
    /// replication stream runs as a task).
    pub(crate) fn new(nodes: usize, options: &TierOptions) -> TierResult<ReplicatedTier> {
        if nodes == 0 {
            return Err(TierError::InvalidUrl(
                "a replicated tier needs at least 1 node".into(),
            ));
        }
        let primary = Arc::new(MemoryNode::new(options)?);
        let replicas: Vec<Arc<MemoryNode>> = (1..nodes)
            .map(|_| MemoryNode::new(options).map(Arc::new))
            .collect::<TierResult<_>>()?;
        let (to_replicas, mut stream) = mpsc::unbounded_channel::<Replication>();
        let targets = replicas.clone();
        tokio::spawn(async move {
            while let Some((key, value, version)) = stream.recv().await {
                for replica in &targets {
                    replica.write(&key, value.as_deref(), version);
                }
            }
        });
        Ok(ReplicatedTier {
            primary,
            replicas,
            to_replicas,
            next_read: AtomicUsize::new(0),
        })
    }

    fn read_node(&self) -> &MemoryNode {
        if self.replicas.is_empty() {
            return &self.primary;
        }
        let index = self.next_read.fetch_add(1, Ordering::Relaxed) % self.replicas.len();
        &self.replicas[index]
    }

    fn write_through(&self, key: &[u8], value: Option<&[u8]>, version: Version) -> SetOutcome {
        let outcome = self.primary.write(key, value, version);
        if outcome == SetOutcome::Stored && value.is_none() {
            // A tombstone reaches every replica before the delete returns, or a reader could
            // still find the replaced value on a lagging replica after the write finished.
            // The stream below may deliver an older write later: replicas refuse it by version.
            for replica in &self.replicas {
                replica.write(key, None, version);
            }
        }
        if outcome == SetOutcome::Stored && !self.replicas.is_empty() {
            // The stream ends only when the tier is dropped.
            let _ = self
                .to_replicas
                .send((key.to_vec(), value.map(<[u8]>::to_vec), version));
        }
        outcome
    }
}

#[async_trait]
impl Topology for ReplicatedTier {
    async fn read(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        Ok(self.read_node().get(key))
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome> {
        Ok(self.write_through(key, value, version))
    }

    async fn flush(&self) -> TierResult<()> {
        self.primary.flush();
        self.replicas.iter().for_each(|replica| replica.flush());
        Ok(())
    }

    fn evictions(&self) -> Option<u64> {
        // Every replica holds what the primary holds: count the copies a reader can miss.
        Some(self.primary.evictions() + self.replicas.iter().map(|r| r.evictions()).sum::<u64>())
    }

    fn describe(&self) -> String {
        format!(
            "replicated (in-process primary + {} replicas, asynchronous)",
            self.replicas.len()
        )
    }
}
