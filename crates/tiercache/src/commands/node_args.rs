//! The flags `api` and `serve` share: the node's tiers and its bus.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tiercache_bus::{Bus, SessionOptions};
use tiercache_cache::PolicySpec;
use tiercache_core::ByteSize;
use tiercache_node::{CoherenceOptions, WriteBehindOptions, WriteMode};

use crate::config::BusConfig;

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
    /// was cached, e.g. 60s or none. Bounds, at twice this, how long a write can stay
    /// unseen when its writer crashed between the store commit and the invalidation
    /// [default: 60s].
    #[arg(long, value_name = "DURATION", env = "TIERCACHE_MAX_AGE")]
    max_age: Option<String>,
}

impl TierArgs {
    /// Applies the flags given over a section's settings.
    pub fn apply(
        &self,
        tier: &mut String,
        near_capacity: &mut ByteSize,
        policy: &mut String,
        max_age: &mut String,
    ) {
        if let Some(age) = &self.max_age {
            max_age.clone_from(age);
        }
        if let Some(url) = &self.tier {
            tier.clone_from(url);
        }
        if let Some(size) = self.near_capacity {
            *near_capacity = size;
        }
        if let Some(name) = &self.policy {
            policy.clone_from(name);
        }
    }
}

/// `--max-age`: a duration, or `None` for `none`.
pub fn parse_max_age(text: &str) -> anyhow::Result<Option<Duration>> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let age = parse_duration(text).context("max_age")?;
    anyhow::ensure!(
        age >= Duration::from_millis(1),
        "max_age must be at least 1ms (or none), got {text:?}"
    );
    Ok(Some(age))
}

/// The near-cache policy by name, with the list of names on error.
pub fn parse_policy(name: &str) -> anyhow::Result<PolicySpec> {
    name.parse::<PolicySpec>()
        .with_context(|| format!("bad near-cache policy {name:?}"))
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
    /// Applies the flags given over `config`.
    pub fn apply(&self, config: &mut BusConfig) {
        if let Some(url) = &self.bus {
            config.url = url.clone();
        }
        if let Some(topics) = &self.topics {
            config.topics = topics.clone();
        }
        if let Some(mode) = &self.write_mode {
            config.write_mode = mode.clone();
        }
        if let Some(interval) = &self.flush_interval {
            config.flush_interval = interval.clone();
        }
        if let Some(delivery) = &self.invalidation {
            config.invalidation = delivery.clone();
        }
        if let Some(ms) = self.lease_ms {
            config.lease_ms = ms;
        }
    }
}

/// `100ms`, `2s`, `1.5s` or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "ms"),
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|value: &f64| value.is_finite() && *value >= 0.0)
        .with_context(|| format!("bad duration {text:?}: expected e.g. 100ms or 2s"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" => value,
        other => anyhow::bail!("bad duration {text:?}: unknown unit {other:?} (ms, s)"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// The write-behind settings `config` asks for (`None` for write-through).
pub fn write_behind(config: &BusConfig) -> anyhow::Result<Option<WriteBehindOptions>> {
    if config.write_mode != "write-behind" {
        return Ok(None);
    }
    let options = WriteBehindOptions {
        flush_interval: parse_duration(&config.flush_interval).context("flush_interval")?,
        ..WriteBehindOptions::default()
    };
    options.validate().map_err(anyhow::Error::msg)?;
    Ok(Some(options))
}

/// The coherence settings `config` describes, checked (the bus URL too, so a typo fails
/// before anything else starts).
pub fn coherence_options(config: &BusConfig) -> anyhow::Result<CoherenceOptions> {
    if !config.url.trim().eq_ignore_ascii_case("none") {
        config.url.parse::<tiercache_bus::BusUrl>()?;
    }
    let session = SessionOptions::with_lease(Duration::from_millis(config.lease_ms));
    session
        .validate()
        .map_err(|error| anyhow::anyhow!("bus lease_ms: {error}"))?;
    Ok(CoherenceOptions {
        topics: config.topics.parse().map_err(anyhow::Error::msg)?,
        // Write-behind flushes publish invalidations.
        write_mode: match config.write_mode.as_str() {
            "write-behind" => WriteMode::Invalidate,
            mode => mode
                .parse()
                .map_err(|error: String| anyhow::anyhow!("{error}; or write-behind"))?,
        },
        delivery: config.invalidation.parse().map_err(anyhow::Error::msg)?,
        session,
    })
}

/// The bus at `url` with the nodes' (already checked) coherence settings, or `None` for
/// `none`.
pub async fn open_bus(
    url: &str,
    options: CoherenceOptions,
) -> anyhow::Result<Option<(Arc<dyn Bus>, CoherenceOptions)>> {
    if url.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let bus = tiercache_bus::open(url)
        .await
        .with_context(|| format!("opening the bus {url}"))?;
    Ok(Some((bus, options)))
}

/// One line for the startup banner.
pub fn describe(
    coherence: &Option<(Arc<dyn Bus>, CoherenceOptions)>,
    write_behind: Option<WriteBehindOptions>,
) -> String {
    let writes = match write_behind {
        Some(options) => format!(
            "write-behind every {:?} (a crash loses up to that much)",
            options.flush_interval
        ),
        None => "write-through".to_owned(),
    };
    let bus = match coherence {
        None => "no bus (near caches are not coherent across nodes)".to_owned(),
        Some((bus, options)) => format!(
            "{} ({} topics, {}, {} delivery, lease {:?})",
            bus.describe(),
            options.topics,
            options.write_mode,
            options.delivery,
            options.session.lease
        ),
    };
    format!("{bus}, {writes}")
}
