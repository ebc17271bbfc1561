//! `tiercache demo`: the three topologies side by side, embedded, in a few seconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiercache_api::ApiOptions;
use tiercache_bench::http_load::{KeyDistribution, LoadReport, LoadSpec};
use tiercache_core::ByteSize;
use tiercache_store::ObjectStore;
use tiercache_tier::TierOptions;

use tiercache_deploy::{self as deployment, LocalRedis, NodeConfig, setting};

/// Runs the same seeded workload through the HTTP API of an embedded deployment once per
/// shared-tier topology (centralized, partitioned, replicated) and eviction policy, then
/// prints a table of throughput, response-time percentiles and the share of reads each
/// tier answered, and names the configuration that kept the most reads off the store.
///
/// The shared tier is smaller than the dataset (512KiB per node by default, the dataset is
/// about 4 MB), as in the original lab: with equal memory per node a partitioned tier holds
/// three times what one node holds, a replicated one the same as one node, and the policy
/// decides what stays. Nothing needs to be installed: the store is SQLite in a temporary
/// directory, loaded with the Kepler-like dataset, and the tiers run in process. Every run
/// starts cold.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache demo
  tiercache demo --requests 100000 --concurrency 16 --seed 7
  tiercache demo --near-capacity 0      # every read goes to the shared tier or the store
  tiercache demo --tier-capacity 64MiB  # a tier that holds everything: the topologies tie
  tiercache demo --tier-policy allkeys-lru,allkeys-lfu,sieve,s3fifo

The same --seed gives the same requests; the table prints it so a run can be reproduced.")]
pub struct DemoArgs {
    /// Key popularity: zipf:ALPHA or uniform.
    #[arg(long, value_name = "NAME", default_value = "zipf:0.99")]
    workload: KeyDistribution,

    /// Requests per topology.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    requests: u64,

    /// Concurrent clients (one connection each).
    #[arg(long, value_name = "C", default_value_t = 8)]
    concurrency: usize,

    /// Fraction of requests that are writes.
    #[arg(long, value_name = "R", default_value_t = 0.01)]
    write_ratio: f64,

    /// Seed of the workload.
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,

    /// API nodes sharing the tier (clients are spread over them).
    #[arg(long, value_name = "N", default_value_t = 2)]
    nodes: usize,

    /// Each node's near cache (the dataset is about 4 MB: 512KiB holds roughly its
    /// hottest tenth); 0 disables the near caches.
    #[arg(long, value_name = "SIZE", default_value = "512KiB")]
    near_capacity: ByteSize,

    /// The near caches' eviction policy.
    #[arg(long, value_name = "POLICY", default_value = "allkeys-lru")]
    policy: String,

    /// Nodes of the partitioned and replicated tiers.
    #[arg(long, value_name = "N", default_value_t = 3)]
    tier_nodes: usize,

    /// Memory budget of each shared-tier node (in process, and Redis's `maxmemory`): equal
    /// memory per node, so a partitioned tier holds N times one node's.
    #[arg(long, value_name = "SIZE", default_value = "512KiB")]
    tier_capacity: ByteSize,

    /// Eviction policies of the shared tier, comma-separated: every topology runs once per
    /// policy (with --redis, Redis's `maxmemory-policy`, so only Redis's eight policies).
    #[arg(
        long,
        value_name = "POLICY,…",
        value_delimiter = ',',
        default_value = "allkeys-lru,allkeys-lfu"
    )]
    tier_policy: Vec<String>,

    /// Also launch local Redis topologies (one server; a Cluster of 3 primaries with a
    /// replica each; a primary with 2 replicas), with the tier's budget and policy, and
    /// compare them too. Needs redis-server and redis-cli installed.
    #[arg(long)]
    redis: bool,

    /// Print the reports as JSON instead of a table.
    #[arg(long)]
    json: bool,

    /// Do not draw progress bars.
    #[arg(long)]
    no_progress: bool,
}

/// One row of the table.
#[derive(Debug, serde::Serialize)]
struct TopologyRun {
    topology: String,
    tier_policy: String,
    tier_url: String,
    report: LoadReport,
}

impl TopologyRun {
    /// The share of the reads that reached the shared tier which it answered.
    fn tier_hit_ratio(&self) -> f64 {
        let hits = &self.report.hits;
        let reached = hits.shared + hits.store;
        if reached == 0 {
            0.0
        } else {
            hits.shared as f64 / reached as f64
        }
    }
}

/// Runs the demo and prints the table.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=16).contains(&args.nodes), "--nodes must be 1 to 16");
    anyhow::ensure!(
        (1..=64).contains(&args.tier_nodes),
        "--tier-nodes must be 1 to 64"
    );
    // The nodes of every topology keep their near caches coherent in process; cached
    // copies live until evicted or invalidated.
    let node = NodeConfig {
        near_capacity: args.near_capacity,
        policy: setting::policy(&args.policy)?,
        max_age: None,
        ..NodeConfig::embedded()
    };
    anyhow::ensure!(
        !args.tier_policy.is_empty(),
        "--tier-policy names no policy"
    );
    let mut tier_policies = Vec::new();
    for name in &args.tier_policy {
        let policy = setting::policy(name)?;
        if args.redis {
            // Refused here, before anything runs, rather than at the first Redis launch.
            LocalRedis::server_args(&policy, args.tier_capacity.bytes())?;
        }
        tier_policies.push((name.clone(), policy));
    }
    let in_process = [
        ("centralized", "memory://".to_owned()),
        (
            "partitioned",
            format!("memory-partitioned://{}", args.tier_nodes),
        ),
        (
            "replicated",
            format!("memory-replicated://{}", args.tier_nodes),
        ),
    ];
    let dir = tempfile::Builder::new()
        .prefix("tiercache-demo-")
        .tempdir()
        .context("creating a temporary directory for the store")?;
    let db = format!("sqlite://{}", dir.path().join("tiercache.db").display());

    let runs = super::runtime()?.block_on(async {
        let setup = node.setup(ApiOptions::default()).await?;
        let store: Arc<dyn ObjectStore> = deployment::open_store(&db).await?;
        let rows = super::load_dataset_if_empty(store.as_ref(), args.no_progress).await?;
        if !args.json {
            eprintln!(
                "store: SQLite in a temporary directory, {rows} rows of the Kepler-like dataset"
            );
        }
        let mut runs = Vec::new();
        for (policy_name, policy) in &tier_policies {
            let tier_options = TierOptions {
                policy: *policy,
                node_capacity_bytes: args.tier_capacity.bytes(),
                ..TierOptions::default()
            };
            let mut topologies = in_process.to_vec();
            // Kept alive for this policy's runs: dropping them stops the servers.
            let redis = if args.redis {
                let server_args = LocalRedis::server_args(policy, args.tier_capacity.bytes())?;
                if !args.json {
                    eprintln!(
                        "launching local Redis topologies ({})",
                        server_args.join(" ")
                    );
                }
                let servers = tokio::task::block_in_place(|| LocalRedis::launch(&server_args))?;
                topologies.extend(servers.topologies());
                Some(servers)
            } else {
                None
            };
            for (name, url) in &topologies {
                let tier = deployment::open_tier(url, &tier_options).await?;
                let nodes = deployment::start_nodes(
                    Arc::clone(&store),
                    tier,
                    args.nodes,
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                    &setup,
                )
                .await?;
                let spec = LoadSpec {
                    targets: nodes.addresses.clone(),
                    distribution: args.workload,
                    keys: rows.max(1),
                    requests: args.requests,
                    concurrency: args.concurrency,
                    write_ratio: args.write_ratio,
                    seed: args.seed,
                    max_duration: Duration::from_secs(600),
                    check_staleness: false,
                };
                if !args.json {
                    eprintln!("{name} + {policy_name}: {url}, {} API node(s)", args.nodes);
                }
                let report = super::bench::run_with_progress(&spec, args.no_progress).await;
                nodes.stop().await?;
                runs.push(TopologyRun {
                    topology: (*name).to_owned(),
                    tier_policy: policy_name.clone(),
                    tier_url: url.clone(),
                    report: report?,
                });
            }
            tokio::task::block_in_place(|| drop(redis));
        }
        anyhow::Ok(runs)
    })?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    println!();
    println!(
        "workload {} over {} keys, {} requests per run, {} clients, {:.0}% writes, seed {}, {} API node(s) with {} near caches ({}); shared tier {} per node",
        args.workload,
        runs.first().map_or(0, |r| r.report.keys),
        args.requests,
        args.concurrency,
        args.write_ratio * 100.0,
        args.seed,
        args.nodes,
        args.near_capacity,
        args.policy,
        args.tier_capacity,
    );
    println!();
    println!(
        "{:<18} {:<13} {:>9} {:>8} {:>8} {:>9}   {:>6} {:>7} {:>6}   {:>8}   {:>6}",
        "topology",
        "tier policy",
        "req/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "near",
        "shared",
        "store",
        "tier hit",
        "errors"
    );
    for run in &runs {
        let r = &run.report;
        println!(
            "{:<18} {:<13} {:>9.0} {:>8.0} {:>8.0} {:>9.0}   {:>5.1}% {:>6.1}% {:>5.1}%   {:>7.1}%   {:>6}",
            run.topology,
            run.tier_policy,
            r.throughput,
            r.latency.p50_us,
            r.latency.p99_us,
            r.latency.p999_us,
            r.hits.near_ratio * 100.0,
            r.hits.shared_ratio * 100.0,
            r.hits.store_ratio * 100.0,
            run.tier_hit_ratio() * 100.0,
            r.error_count(),
        );
    }
    println!();
    println!(
        "near/shared/store: the share of successful reads each tier answered (the `source` of each answer); tier hit: shared / (shared + store), the reads that reached the shared tier."
    );
    if let Some(line) = verdict(&runs, &args) {
        println!("{line}");
    }
    Ok(())
}

/// One line naming the run that sent the fewest reads to the store (the most throughput
/// among equals) and why, or `None` when nothing ran.
fn verdict(runs: &[TopologyRun], args: &DemoArgs) -> Option<String> {
    let best = runs.iter().min_by(|a, b| {
        let store = a
            .report
            .hits
            .store_ratio
            .total_cmp(&b.report.hits.store_ratio);
        store.then(b.report.throughput.total_cmp(&a.report.throughput))
    })?;
    let worst = runs.iter().max_by(|a, b| {
        a.report
            .hits
            .store_ratio
            .total_cmp(&b.report.hits.store_ratio)
    })?;
    let tier = args.tier_capacity;
    let n = args.tier_nodes;
    let why = match best.topology.as_str() {
        "partitioned" | "redis cluster" => format!(
            "with {tier} per node, its {n} nodes hold {n} × {tier} of distinct objects, where a \
             centralized tier holds {tier} and every replica the same {tier}"
        ),
        _ => format!(
            "the shared tier ({tier} per node) is not what limits the hit ratio here (a tier \
             as large as the working set makes the topologies tie)"
        ),
    };
    Some(format!(
        "winner: {} + {}: {:.1}% of reads reached the store (worst: {} + {}, {:.1}%) — {why}.",
        best.topology,
        best.tier_policy,
        best.report.hits.store_ratio * 100.0,
        worst.topology,
        worst.tier_policy,
        worst.report.hits.store_ratio * 100.0,
    ))
}
