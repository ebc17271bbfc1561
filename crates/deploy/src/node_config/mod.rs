//! One node's configuration: the settings every role that runs a node shares (`[api]`,
//! `[serve]`; `[lognode]`, `[admin]` and `[up]` later), typed, with named defaults, and
//! turned into what the node needs in one place ([`NodeConfig::setup`]).
//!
//! Values come as text from three places — the configuration file, `TIERCACHE_*` variables
//! and flags — and every one goes through the same parser in [`setting`] as it arrives, so a
//! bad value is refused with the same message wherever it was written. What only holds
//! across settings (the lease, the flush interval with write-behind) is checked once the
//! sources are merged, by [`NodeConfig::validate`].
//!
//! In the file the settings are flat keys of the role's section, beside its own, and the
//! bus has a sub-table:
//!
//! ```toml
//! [api]
//! store = "http://127.0.0.1:7070"   # the section's own key
//! tier = "redis://127.0.0.1:6379"
//! near_capacity = "64MiB"
//! policy = "allkeys-lru"
//! max_age = "60s"
//! outbox = "3s"                     # or "none"
//! replica_wait = "5s"               # Redis Cluster with replicas
//! redis_timeout = "2s"              # connecting to Redis, and each command
//!
//! [api.bus]
//! url = "redis://127.0.0.1:6379"
//! topics = "object"
//! write_mode = "invalidate"
//! flush_interval = "100ms"
//! invalidation = "async"
//! lease_ms = 3000
//! ```

pub mod keys;
pub mod setting;
mod write_path;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::MapAccess;
use tiercache_api::ApiOptions;
use tiercache_bus::SessionOptions;
use tiercache_cache::{PolicyKind, PolicySpec};
use tiercache_core::ByteSize;
use tiercache_node::{
    CoherenceOptions, Delivery, NodeOptions, OutboxOptions, TopicGranularity, WriteBehindOptions,
    WriteMode,
};
use tiercache_tier::{Tier, TierOptions};

use crate::{Error, NodeSetup, Result};
use keys::{Keyed, Over, Parsed};
use setting::SettingError;
pub use write_path::WritePath;

/// Each node's near-cache budget unless configured.
pub const DEFAULT_NEAR_CAPACITY: ByteSize = ByteSize(64 << 20);
/// The near cache's eviction policy unless configured.
pub const DEFAULT_POLICY: PolicyKind = PolicyKind::AllKeysLru;
/// How long a cached copy lives by default: the bound on serving a version whose
/// invalidation was lost with a crashed writer is twice this.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);
/// How often write-behind sends unflushed writes to the store unless configured.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// How old an unconfirmed notice is when a node replays it, unless configured.
pub const DEFAULT_OUTBOX: Duration = Duration::from_secs(3);
/// The bus and tier URL of the embedded deployment: in this process.
pub const IN_PROCESS: &str = "memory://";

/// A node's settings (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeConfig {
    /// The shared tier's URL (`memory://`, `redis://HOST:PORT`, …; checked when opened), or
    /// `None` (`none`): reads go from the near cache to the store.
    #[serde(serialize_with = "setting::print_url")]
    pub tier: Option<String>,
    /// The near cache's byte budget (0 disables it).
    pub near_capacity: ByteSize,
    /// The near cache's eviction policy.
    #[serde(serialize_with = "setting::print_text")]
    pub policy: PolicySpec,
    /// The longest a cached copy lives, near or shared (`None`: until evicted or
    /// invalidated). Bounds, at twice this, how long a write can stay unseen when its
    /// writer crashed between the store commit and the invalidation.
    #[serde(serialize_with = "setting::print_max_age")]
    pub max_age: Option<Duration>,
    /// The outbox: a write's notice not confirmed published after this long is replayed by
    /// a running node (`None`: off). With it, a crashed writer's write reaches every copy
    /// within about this plus a second, instead of twice the max age.
    #[serde(serialize_with = "setting::print_max_age")]
    pub outbox: Option<Duration>,
    /// Redis Cluster with replicas: how long a write waits for a replica to hold it before
    /// it fails (longer: a loaded replica slows writes instead of failing them).
    #[serde(serialize_with = "setting::print_duration")]
    pub replica_wait: Duration,
    /// Redis (the tier): how long connecting and each command may take before it fails
    /// (a read then goes to the store, a write answers 503). Longer: a loaded Redis slows
    /// requests instead of failing them; shorter: a dead one is noticed sooner.
    #[serde(serialize_with = "setting::print_duration")]
    pub redis_timeout: Duration,
    /// The bus that keeps near caches coherent, and how writes use it.
    pub bus: BusConfig,
}

/// The bus and coherence settings of a node (`[api.bus]`, `[serve.bus]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusConfig {
    /// The bus's URL (`memory://`, `redis://HOST:PORT`, `redis-cluster://…`; checked), or
    /// `None` (`none`): other nodes' near caches are then not told about writes.
    #[serde(serialize_with = "setting::print_url")]
    pub url: Option<String>,
    /// A topic per key, or keys hashed to N topics.
    #[serde(serialize_with = "setting::print_text")]
    pub topics: TopicGranularity,
    /// Write-through with invalidations or updates, or write-behind.
    #[serde(serialize_with = "setting::print_text")]
    pub write_mode: WritePath,
    /// Write-behind only: how often unflushed writes go to the store.
    #[serde(serialize_with = "setting::print_duration")]
    pub flush_interval: Duration,
    /// A write is answered once its notice is published (`async`), or once every node that
    /// may hold a copy confirmed it or its lease lapsed (`sync`).
    #[serde(serialize_with = "setting::print_text")]
    pub invalidation: Delivery,
    /// The bus session's lease: a silent node's subscriptions last this long; the node
    /// stops serving near hits a quarter of it earlier. Written in milliseconds.
    #[serde(rename = "lease_ms", serialize_with = "setting::print_millis")]
    pub lease: Duration,
}

impl BusConfig {
    /// The defaults, on the bus at `url` (`None`: no bus).
    pub fn on(url: Option<&str>) -> BusConfig {
        BusConfig {
            url: url.map(str::to_owned),
            topics: TopicGranularity::Object,
            write_mode: WritePath::Through(WriteMode::Invalidate),
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            invalidation: Delivery::Async,
            lease: tiercache_bus::DEFAULT_LEASE,
        }
    }
}

impl Default for BusConfig {
    /// No bus.
    fn default() -> BusConfig {
        BusConfig::on(None)
    }
}

impl NodeConfig {
    /// A node on its own: no shared tier, no bus (the defaults of `[api]`).
    pub fn standalone() -> NodeConfig {
        NodeConfig {
            tier: None,
            near_capacity: DEFAULT_NEAR_CAPACITY,
            policy: PolicySpec::new(DEFAULT_POLICY),
            max_age: Some(DEFAULT_MAX_AGE),
            outbox: Some(DEFAULT_OUTBOX),
            replica_wait: tiercache_tier::DEFAULT_REPLICA_WAIT,
            redis_timeout: TierOptions::default().redis_timeout,
            bus: BusConfig::default(),
        }
    }

    /// Nodes of one process sharing an in-process tier and bus (the defaults of `[serve]`).
    pub fn embedded() -> NodeConfig {
        NodeConfig {
            tier: Some(IN_PROCESS.to_owned()),
            bus: BusConfig::on(Some(IN_PROCESS)),
            ..NodeConfig::standalone()
        }
    }

    /// Checks what only holds across settings; call it once every source is applied.
    pub fn validate(&self) -> std::result::Result<(), SettingError> {
        self.session()
            .validate()
            .map_err(|error| SettingError::Lease(error.to_string()))?;
        if let Some(options) = self.write_behind() {
            options.validate().map_err(SettingError::WriteBehind)?;
        }
        Ok(())
    }

    /// The bus session's settings.
    fn session(&self) -> SessionOptions {
        SessionOptions::with_lease(self.bus.lease)
    }

    /// The write-behind settings (`None` for write-through).
    pub fn write_behind(&self) -> Option<WriteBehindOptions> {
        (self.bus.write_mode == WritePath::Behind).then(|| WriteBehindOptions {
            flush_interval: self.bus.flush_interval,
            ..WriteBehindOptions::default()
        })
    }

    /// How the node keeps its near cache coherent over the bus.
    pub fn coherence(&self) -> CoherenceOptions {
        CoherenceOptions {
            topics: self.bus.topics,
            write_mode: match self.bus.write_mode {
                WritePath::Through(mode) => mode,
                // Write-behind flushes publish invalidations.
                WritePath::Behind => WriteMode::Invalidate,
            },
            delivery: self.bus.invalidation,
            session: self.session(),
        }
    }

    /// The node's own options.
    pub fn node_options(&self) -> NodeOptions {
        NodeOptions {
            near_capacity_bytes: self.near_capacity.bytes(),
            near_policy: self.policy,
            write_behind: self.write_behind(),
            near_max_age: self.max_age,
            // Only copies elsewhere need the replay: a tier, or near caches on a bus.
            outbox: self
                .outbox
                .filter(|_| self.tier.is_some() || self.bus.url.is_some())
                .map(|replay_after| OutboxOptions {
                    replay_after,
                    ..OutboxOptions::default()
                }),
            ..NodeOptions::default()
        }
    }

    /// The shared tier's settings: values live at most `max_age` there too.
    pub fn tier_options(&self) -> TierOptions {
        TierOptions {
            value_ttl: self.max_age,
            replica_wait: self.replica_wait,
            redis_timeout: self.redis_timeout,
            ..TierOptions::default()
        }
    }

    /// Opens the shared tier (`None` without one).
    pub async fn open_tier(&self) -> Result<Option<Arc<dyn Tier>>> {
        match &self.tier {
            None => Ok(None),
            Some(url) => crate::open_tier(url, &self.tier_options()).await,
        }
    }

    /// Opens the bus and gives what every node of a deployment is started with
    /// ([`crate::start_nodes`]); `api` is how they serve HTTP.
    pub async fn setup(&self, api: ApiOptions) -> Result<NodeSetup> {
        let coherence = match &self.bus.url {
            None => None,
            Some(url) => {
                let bus = tiercache_bus::open(url)
                    .await
                    .map_err(|source| Error::Bus {
                        url: url.clone(),
                        source,
                    })?;
                Some((bus, self.coherence()))
            }
        };
        Ok(NodeSetup {
            node: self.node_options(),
            api,
            coherence,
            logs: None,
        })
    }
}

impl Default for NodeConfig {
    /// [`NodeConfig::standalone`].
    fn default() -> NodeConfig {
        NodeConfig::standalone()
    }
}

impl Keyed for NodeConfig {
    const KEYS: &'static [&'static str] = &[
        "tier",
        "near_capacity",
        "policy",
        "max_age",
        "outbox",
        "replica_wait",
        "redis_timeout",
        "bus",
    ];

    fn read_key<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<(), A::Error> {
        match key {
            "tier" => self.tier = map.next_value_seed(Parsed::with(setting::tier))?,
            "near_capacity" => self.near_capacity = map.next_value()?,
            "policy" => self.policy = map.next_value_seed(Parsed::with(setting::policy))?,
            "max_age" => self.max_age = map.next_value_seed(Parsed::with(setting::max_age))?,
            "outbox" => self.outbox = map.next_value_seed(Parsed::with(setting::outbox))?,
            "replica_wait" => {
                self.replica_wait = map.next_value_seed(Parsed::with(setting::replica_wait))?;
            }
            "redis_timeout" => {
                self.redis_timeout = map.next_value_seed(Parsed::with(setting::redis_timeout))?;
            }
            "bus" => map.next_value_seed(Over(&mut self.bus))?,
            other => return Err(serde::de::Error::unknown_field(other, Self::KEYS)),
        }
        Ok(())
    }
}

impl Keyed for BusConfig {
    const KEYS: &'static [&'static str] = &[
        "url",
        "topics",
        "write_mode",
        "flush_interval",
        "invalidation",
        "lease_ms",
    ];

    fn read_key<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<(), A::Error> {
        match key {
            "url" => self.url = map.next_value_seed(Parsed::with(setting::bus_url))?,
            "topics" => self.topics = map.next_value_seed(Parsed::with(setting::topics))?,
            "write_mode" => {
                self.write_mode = map.next_value_seed(Parsed::with(setting::write_mode))?;
            }
            "flush_interval" => {
                self.flush_interval = map.next_value_seed(Parsed::with(setting::flush_interval))?;
            }
            "invalidation" => {
                self.invalidation = map.next_value_seed(Parsed::with(setting::invalidation))?;
            }
            "lease_ms" => self.lease = Duration::from_millis(map.next_value()?),
            other => return Err(serde::de::Error::unknown_field(other, Self::KEYS)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
