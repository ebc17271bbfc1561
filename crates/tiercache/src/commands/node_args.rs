//! The flags `api` and `serve` share: the node's tiers and its bus. Each maps onto a
//! [`NodeConfig`] setting and is parsed as that setting is in the file, so a value means and
//! fails the same wherever it is written.

use tiercache_core::ByteSize;
use tiercache_deploy::NodeConfig;
use tiercache_deploy::setting::{self, SettingError};

/// Applies the node flags given (and their variables) over `node`, a section of the file or
/// its defaults, then checks the settings that depend on each other.
pub fn apply(tiers: &TierArgs, bus: &BusArgs, node: &mut NodeConfig) -> anyhow::Result<()> {
    tiers.apply(node)?;
    bus.apply(node)?;
    node.validate()?;
    Ok(())
}

/// The shared tier and the near cache of each API node.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TierArgs {
    /// The shared tier's URL, or `none` [default: none for api, memory:// for serve].
    #[arg(long, value_name = "URL", env = "TIERCACHE_TIER")]
    tier: Option<String>,

    /// Each node's near-cache byte budget, e.g. 64MiB; 0 disables it [default: 64MiB].
    #[arg(long, value_name = "SIZE", env = "TIERCACHE_NEAR_CAPACITY")]
    near_capacity: Option<ByteSize>,

    /// The near cache's eviction policy (the eight Redis policies, fifo, sieve, s3fifo,
    /// w-tinylfu) [default: allkeys-lru].
    #[arg(long, value_name = "POLICY", env = "TIERCACHE_POLICY")]
    policy: Option<String>,

    /// The longest a copy lives in the near cache, and a value in the shared tier, after it
    /// was cached, e.g. 60s or none. Without the outbox (--outbox none) it bounds, at twice
    /// this, how long a write can stay unseen when its writer crashed between the store
    /// commit and the invalidation [default: 60s].
    #[arg(long, value_name = "DURATION", env = "TIERCACHE_MAX_AGE")]
    max_age: Option<String>,

    /// Replay a write's notice (shared-tier tombstone, invalidation on the bus) when no
    /// node confirmed it published after this long — a writer that crashed between its
    /// store commit and its publish — e.g. 3s, or none. Every running node sweeps the
    /// store's outbox each second; a crashed writer's write then reaches every copy within
    /// about this plus a second [default: 3s].
    #[arg(long, value_name = "DURATION", env = "TIERCACHE_OUTBOX")]
    outbox: Option<String>,

    /// Redis Cluster with replicas: how long a shared-tier write waits for a replica to
    /// hold it before it fails (a failover could lose a write no replica holds). Longer:
    /// a loaded replica slows writes instead of failing them; shorter: a write fails sooner
    /// when a replica is really gone [default: 5s].
    #[arg(long, value_name = "DURATION", env = "TIERCACHE_REPLICA_WAIT")]
    replica_wait: Option<String>,

    /// How long connecting to the shared tier's Redis and each of its commands may take
    /// before it fails (a read then goes to the store, a write answers 503). Longer: a
    /// loaded Redis slows requests instead of failing them; shorter: a dead one is noticed
    /// sooner [default: 2s].
    #[arg(long, value_name = "DURATION", env = "TIERCACHE_REDIS_TIMEOUT")]
    redis_timeout: Option<String>,
}

impl TierArgs {
    /// Applies the flags (or their variables) given over `node`.
    fn apply(&self, node: &mut NodeConfig) -> Result<(), SettingError> {
        if let Some(text) = &self.max_age {
            node.max_age = setting::max_age(text)?;
        }
        if let Some(text) = &self.outbox {
            node.outbox = setting::outbox(text)?;
        }
        if let Some(text) = &self.replica_wait {
            node.replica_wait = setting::replica_wait(text)?;
        }
        if let Some(text) = &self.redis_timeout {
            node.redis_timeout = setting::redis_timeout(text)?;
        }
        if let Some(url) = &self.tier {
            node.tier = setting::tier(url)?;
        }
        if let Some(size) = self.near_capacity {
            node.near_capacity = size;
        }
        if let Some(name) = &self.policy {
            node.policy = setting::policy(name)?;
        }
        Ok(())
    }
}

/// How API nodes hear about each other's writes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BusArgs {
    /// The bus keeping near caches coherent: memory:// (this process), redis://HOST:PORT,
    /// or none (other nodes are not told about writes) [default: none for api, memory://
    /// for serve].
    #[arg(long, value_name = "URL", env = "TIERCACHE_BUS")]
    bus: Option<String>,

    /// Topic granularity: object (a topic per key) or bucket:N (keys hashed to N topics;
    /// fewer subscriptions, receivers discard notices for keys they do not hold)
    /// [default: object].
    #[arg(long, value_name = "GRANULARITY", env = "TIERCACHE_TOPICS")]
    topics: Option<String>,

    /// How writes travel: invalidate (write-through; other nodes drop their copy), update
    /// (write-through; they take the new value) or write-behind (answered from memory,
    /// stored in coalesced batches every --flush-interval; other nodes read the previous
    /// version until then, and a crash loses at most that interval) [default: invalidate].
    #[arg(long, value_name = "MODE", env = "TIERCACHE_WRITE_MODE")]
    write_mode: Option<String>,

    /// Write-behind: how often unflushed writes go to the store, e.g. 100ms or 2s (a bare
    /// number is milliseconds) [default: 100ms].
    #[arg(long, value_name = "DURATION", env = "TIERCACHE_FLUSH_INTERVAL")]
    flush_interval: Option<String>,

    /// When a write is answered: async (once its notice is published; other nodes may
    /// serve the old copy for the invalidation delay) or sync (once every node that may
    /// hold a copy confirmed, or its lease lapsed: no stale reads, a silent node delays
    /// writes by up to one lease) [default: async].
    #[arg(long, value_name = "DELIVERY", env = "TIERCACHE_INVALIDATION")]
    invalidation: Option<String>,

    /// The bus session's lease in ms. A node that cannot renew stops serving near hits a
    /// quarter of the lease before the bus drops its subscriptions [default: 3000].
    #[arg(long, value_name = "MS", env = "TIERCACHE_LEASE_MS")]
    lease_ms: Option<u64>,
}

impl BusArgs {
    /// Applies the flags (or their variables) given over `node`'s bus settings.
    fn apply(&self, node: &mut NodeConfig) -> Result<(), SettingError> {
        let bus = &mut node.bus;
        if let Some(url) = &self.bus {
            bus.url = setting::bus_url(url)?;
        }
        if let Some(topics) = &self.topics {
            bus.topics = setting::topics(topics)?;
        }
        if let Some(mode) = &self.write_mode {
            bus.write_mode = setting::write_mode(mode)?;
        }
        if let Some(interval) = &self.flush_interval {
            bus.flush_interval = setting::flush_interval(interval)?;
        }
        if let Some(delivery) = &self.invalidation {
            bus.invalidation = setting::invalidation(delivery)?;
        }
        if let Some(ms) = self.lease_ms {
            bus.lease = std::time::Duration::from_millis(ms);
        }
        Ok(())
    }
}

/// An API node's listener: its limits and who may send what.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ListenerArgs {
    /// The bearer tokens file: one `TOKEN SCOPE[,SCOPE]` per line (scopes read, write,
    /// admin; `#` comments). With it, every route but /healthz and the dashboard page needs
    /// `Authorization: Bearer TOKEN` with the route's scope: objects and logs read → read,
    /// written → write, /v1/stats and /metrics → admin. 401 without a known token, 403
    /// without the scope. Tokens are never taken on the command line [default: none, no
    /// token asked].
    #[arg(long, value_name = "FILE", env = "TIERCACHE_AUTH_TOKENS")]
    auth_tokens: Option<std::path::PathBuf>,

    /// With --auth-tokens, let /metrics answer without a token (for a scraper that cannot
    /// send one).
    #[arg(long)]
    metrics_open: bool,

    /// Requests per second each client address may send (a token bucket); over it the
    /// answer is 429 with Retry-After. 0 sets no limit [default: 0].
    #[arg(long, value_name = "PER_SECOND", env = "TIERCACHE_RATE_LIMIT")]
    rate_limit: Option<f64>,

    /// Requests a client address may send at once after being idle [default: one second's
    /// worth of --rate-limit].
    #[arg(long, value_name = "N", env = "TIERCACHE_RATE_BURST")]
    rate_burst: Option<u32>,

    /// Longest a client may take to send a request's headers — or stay idle between
    /// requests on a kept-alive connection — before it is closed, in ms [default: 30000].
    #[arg(long, value_name = "MS", env = "TIERCACHE_HEADER_TIMEOUT_MS")]
    header_timeout_ms: Option<u64>,

    /// Connections served at once, per node; more are closed as soon as they are accepted
    /// [default: 10000].
    #[arg(long, value_name = "N", env = "TIERCACHE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
}

impl ListenerArgs {
    /// Applies the flags (or their variables) given over `listener`.
    pub fn apply(&self, listener: &mut crate::config::ListenerConfig) {
        if let Some(path) = &self.auth_tokens {
            listener.auth_tokens = Some(path.clone());
        }
        if self.metrics_open {
            listener.metrics_open = true;
        }
        if let Some(rate) = self.rate_limit {
            listener.rate_limit = rate;
        }
        if let Some(burst) = self.rate_burst {
            listener.rate_burst = Some(burst);
        }
        if let Some(ms) = self.header_timeout_ms {
            listener.header_timeout_ms = ms;
        }
        if let Some(connections) = self.max_connections {
            listener.max_connections = connections;
        }
    }
}
