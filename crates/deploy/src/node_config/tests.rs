//! A node's configuration read from TOML, printed back, checked and converted.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tiercache_node::{Delivery, TopicGranularity, WriteMode};

use super::keys::{self, Keyed};
use super::*;

/// A section like `[serve]`: one key of its own beside the node's.
#[derive(Debug, Serialize)]
struct Section {
    nodes: u32,
    #[serde(flatten)]
    node: NodeConfig,
}

impl Default for Section {
    fn default() -> Section {
        Section {
            nodes: 1,
            node: NodeConfig::embedded(),
        }
    }
}

impl Keyed for Section {
    const KEYS: &'static [&'static str] = &[
        "nodes",
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
            "nodes" => self.nodes = map.next_value()?,
            node => self.node.read_key(node, map)?,
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(deserialize_with = "keys::over_default")]
    section: Section,
}

fn read(text: &str) -> std::result::Result<Section, String> {
    toml::from_str::<File>(text)
        .map(|file| file.section)
        .map_err(|error| error.to_string())
}

#[test]
fn the_defaults_print_as_the_file_writes_them() {
    let printed = toml::to_string(&File {
        section: Section::default(),
    })
    .unwrap();
    assert_eq!(
        printed,
        "[section]\nnodes = 1\ntier = \"memory://\"\nnear_capacity = \"64MiB\"\n\
         policy = \"allkeys-lru\"\nmax_age = \"60s\"\noutbox = \"3s\"\nreplica_wait = \"5s\"\n\
         redis_timeout = \"2s\"\n\n[section.bus]\nurl = \"memory://\"\n\
         topics = \"object\"\nwrite_mode = \"invalidate\"\nflush_interval = \"100ms\"\n\
         invalidation = \"async\"\nlease_ms = 3000\n"
    );
    assert_eq!(read(&printed).unwrap().node, NodeConfig::embedded());
}

#[test]
fn a_near_capacity_written_as_a_number_is_a_byte_count() {
    // Regression: TOML integers arrive as i64, which ByteSize used to refuse.
    let section = read("[section]\nnear_capacity = 0\n").unwrap();
    assert_eq!(section.node.near_capacity, ByteSize(0));
    let section = read("[section]\nnear_capacity = 4096\n").unwrap();
    assert_eq!(section.node.near_capacity, ByteSize(4096));
}

#[test]
fn every_key_reads_and_prints_back() {
    let text = "[section]\nnodes = 3\ntier = \"none\"\nnear_capacity = \"16MiB\"\n\
                policy = \"s3fifo:small=0.2\"\nmax_age = \"none\"\noutbox = \"none\"\n\
                replica_wait = \"250ms\"\nredis_timeout = \"750ms\"\n\n[section.bus]\n\
                url = \"none\"\ntopics = \"bucket:16\"\nwrite_mode = \"write-behind\"\n\
                flush_interval = \"250ms\"\ninvalidation = \"sync\"\nlease_ms = 5000\n";
    let section = read(text).unwrap();
    let node = &section.node;
    assert_eq!((section.nodes, node.tier.as_deref()), (3, None));
    assert_eq!(node.near_capacity, ByteSize(16 << 20));
    assert_eq!(node.policy.to_string(), "s3fifo:small=0.2");
    assert_eq!(node.max_age, None);
    assert_eq!(node.outbox, None);
    assert_eq!(node.replica_wait, Duration::from_millis(250));
    assert_eq!(node.redis_timeout, Duration::from_millis(750));
    assert_eq!(
        node.tier_options().redis_timeout,
        Duration::from_millis(750)
    );
    assert_eq!(
        node.bus,
        BusConfig {
            url: None,
            topics: TopicGranularity::Bucket(16),
            write_mode: WritePath::Behind,
            flush_interval: Duration::from_millis(250),
            invalidation: Delivery::Sync,
            lease: Duration::from_secs(5),
        }
    );
    assert_eq!(toml::to_string(&File { section }).unwrap(), text);
}

#[test]
fn a_sub_table_keeps_the_sections_defaults_for_the_keys_it_leaves_out() {
    let section = read("[section.bus]\nlease_ms = 4000\n").unwrap();
    assert_eq!(section.node.bus.url.as_deref(), Some(IN_PROCESS));
    assert_eq!(section.node.bus.lease, Duration::from_secs(4));
    assert_eq!(section.node.tier.as_deref(), Some(IN_PROCESS));
}

#[test]
fn unknown_keys_and_bad_values_are_errors_at_their_line() {
    for (text, line, expected) in [
        (
            "[section]\nnodes = 2\nbogus = 1\n",
            3,
            "unknown field `bogus`, expected one of `nodes`, `tier`",
        ),
        (
            "[section.bus]\nurl = \"none\"\nlease = 5\n",
            3,
            "unknown field `lease`, expected one of `url`, `topics`",
        ),
        (
            "[section]\n\npolicy = \"most-recent\"\n",
            3,
            "bad near-cache policy \"most-recent\": unknown policy",
        ),
        (
            "[section]\nmax_age = \"soon\"\n",
            2,
            "max_age: bad duration \"soon\"",
        ),
        (
            "[section.bus]\ntopics = \"bucket:0\"\n",
            2,
            "bucket:N needs N from 1 to 1048576",
        ),
        (
            "[section.bus]\nurl = \"kafka://x:1\"\n",
            2,
            "bad bus URL: \"kafka://x:1\": unknown scheme",
        ),
    ] {
        let error = read(text).unwrap_err();
        assert!(error.contains(expected), "{text}: {error}");
        assert!(error.contains(&format!("line {line}")), "{text}: {error}");
    }
}

#[test]
fn settings_that_depend_on_each_other_are_checked_once_merged() {
    let mut config = NodeConfig::standalone();
    assert_eq!(config.validate(), Ok(()));
    config.bus.flush_interval = Duration::ZERO;
    assert_eq!(
        config.validate(),
        Ok(()),
        "write-through ignores the interval"
    );
    config.bus.write_mode = WritePath::Behind;
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "the flush interval must be from 1 ms to 1 h, got 0ns"
    );
    let mut config = NodeConfig::standalone();
    config.bus.lease = Duration::from_millis(5);
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "bus lease_ms: the lease must be at least 20 ms, got 5ms"
    );
}

#[test]
fn the_node_gets_its_options_from_one_conversion() {
    let mut config = NodeConfig::embedded();
    config.near_capacity = ByteSize(1 << 20);
    config.max_age = Some(Duration::from_secs(5));
    config.bus.topics = TopicGranularity::Bucket(8);
    config.bus.invalidation = Delivery::Sync;
    config.bus.lease = Duration::from_secs(4);
    let options = config.node_options();
    assert_eq!(options.near_capacity_bytes, 1 << 20);
    assert_eq!(options.near_policy, PolicySpec::new(DEFAULT_POLICY));
    assert_eq!(options.near_max_age, Some(Duration::from_secs(5)));
    assert_eq!(options.write_behind, None);
    assert!(!options.crash_after_commit);
    assert_eq!(
        config.tier_options().value_ttl,
        Some(Duration::from_secs(5))
    );
    let coherence = config.coherence();
    assert_eq!(coherence.topics, TopicGranularity::Bucket(8));
    assert_eq!(coherence.write_mode, WriteMode::Invalidate);
    assert_eq!(coherence.delivery, Delivery::Sync);
    assert_eq!(coherence.session.lease, Duration::from_secs(4));

    config.bus.write_mode = WritePath::Through(WriteMode::Update);
    assert_eq!(config.coherence().write_mode, WriteMode::Update);
    // Write-behind flushes publish invalidations.
    config.bus.write_mode = WritePath::Behind;
    config.bus.flush_interval = Duration::from_secs(1);
    assert_eq!(config.coherence().write_mode, WriteMode::Invalidate);
    assert_eq!(
        config.node_options().write_behind.map(|w| w.flush_interval),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        DEFAULT_FLUSH_INTERVAL,
        WriteBehindOptions::default().flush_interval
    );
}

#[test]
fn setup_opens_the_bus_it_names() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let setup = NodeConfig::embedded()
            .setup(ApiOptions::default())
            .await
            .unwrap();
        assert!(setup.coherence.is_some());
        assert!(
            setup.describe().contains("write-through"),
            "{}",
            setup.describe()
        );
        let alone = NodeConfig::standalone()
            .setup(ApiOptions::default())
            .await
            .unwrap();
        assert!(alone.coherence.is_none());
        assert!(
            alone.describe().starts_with("no bus"),
            "{}",
            alone.describe()
        );
    });
}
