//! `tiercache demo`: the three topologies side by side, embedded, in a few seconds.

use std::path::PathBuf;

use clap::Args;
use tiercache_bench::http_load::KeyDistribution;
use tiercache_core::ByteSize;
use tiercache_deploy::{LocalRedis, setting};
use tiercache_lab::matrix::FULL_TABLE;
use tiercache_lab::{Config, MemoryRule, Outcome, Plan, Results, Target, Topology};

/// Runs the same seeded workload through the HTTP API of an embedded deployment once per
/// shared-tier topology (centralized, partitioned, replicated) and eviction policy, then
/// prints a table of throughput, response-time percentiles and the share of reads each
/// tier answered, and names the configuration that kept the most reads off the store. It
/// writes the lab's HTML report of what it ran (charts, results.json, results.csv) and
/// prints its path last.
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

    /// Print the runs as JSON instead of a table.
    #[arg(long)]
    json: bool,

    /// Where the HTML report is written (with --redis, the Redis runs' report goes in
    /// DIR/redis).
    #[arg(long, value_name = "DIR", default_value = "demo-report")]
    out: PathBuf,

    /// Do not draw progress bars.
    #[arg(long)]
    no_progress: bool,
}

/// One row of the table: a run, with its topology named for its target.
#[derive(Debug, serde::Serialize)]
struct TopologyRun<'a> {
    topology: String,
    tier_policy: &'a str,
    tier_url: &'a str,
    outcome: &'a Outcome,
}

/// The rows of `results`, the topologies named with their target (`redis cluster`).
fn rows(results: &Results) -> Vec<TopologyRun<'_>> {
    results
        .outcomes
        .iter()
        .map(|outcome| TopologyRun {
            topology: match (results.target.as_str(), outcome.config.topology) {
                ("redis", Topology::Centralized) => "redis centralized".to_owned(),
                ("redis", Topology::Partitioned) => "redis cluster".to_owned(),
                ("redis", Topology::Replicated) => "redis replicated".to_owned(),
                (_, topology) => topology.to_string(),
            },
            tier_policy: &outcome.config.policy,
            tier_url: &outcome.tier_url,
            outcome,
        })
        .collect()
}

/// The demo's plan: every topology once per tier policy, equal memory per node.
fn plan(args: &DemoArgs) -> Plan {
    let configs = args
        .tier_policy
        .iter()
        .flat_map(|policy| {
            Topology::ALL.into_iter().map(move |topology| Config {
                topology,
                near: args.near_capacity.bytes() > 0,
                policy: policy.clone(),
                memory: MemoryRule::PerNode,
                workload: args.workload,
                write_ratio: args.write_ratio,
                requests: args.requests,
                rows: FULL_TABLE,
                clients: args.concurrency,
            })
        })
        .collect();
    Plan {
        name: "demo".to_owned(),
        budget: args.tier_capacity.bytes(),
        tier_nodes: args.tier_nodes,
        api_nodes: args.nodes,
        near_bytes: args.near_capacity.bytes(),
        near_policy: args.policy.clone(),
        seed: args.seed,
        curve_fractions: vec![0.02, 0.05, 0.1, 0.2, 0.4, 0.8],
        configs,
    }
}

/// Runs the demo, prints the table and writes the report.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=16).contains(&args.nodes), "--nodes must be 1 to 16");
    anyhow::ensure!(
        (1..=64).contains(&args.tier_nodes),
        "--tier-nodes must be 1 to 64"
    );
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(args.requests >= 1, "--requests must be at least 1");
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.write_ratio),
        "--write-ratio must be between 0 and 1"
    );
    setting::policy(&args.policy)?;
    anyhow::ensure!(
        !args.tier_policy.is_empty(),
        "--tier-policy names no policy"
    );
    for name in &args.tier_policy {
        let policy = setting::policy(name)?;
        if args.redis {
            // Refused here, before anything runs, rather than at the first Redis launch.
            LocalRedis::server_args(&policy, args.tier_capacity.bytes())?;
        }
    }
    let plan = plan(&args);
    if !args.json {
        eprintln!(
            "store: SQLite in a temporary directory, {FULL_TABLE} rows of the Kepler-like dataset; {} runs in process{}",
            plan.configs.len(),
            if args.redis {
                ", then on local Redis servers"
            } else {
                ""
            }
        );
    }
    let embedded = super::lab::run_plan(&plan, Target::Embedded, args.no_progress)?;
    let redis = if args.redis {
        Some(super::lab::run_plan(
            &plan,
            Target::Redis,
            args.no_progress,
        )?)
    } else {
        None
    };
    let mut runs = rows(&embedded);
    if let Some(redis) = &redis {
        runs.extend(rows(redis));
    }
    let redis_report = match &redis {
        Some(redis) => Some(tiercache_lab::report::write(
            &args.out.join("redis"),
            redis,
        )?),
        None => None,
    };
    let report = tiercache_lab::report::write(&args.out, &embedded)?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    print_table(&runs, &args);
    if let Some(path) = redis_report {
        println!("report of the Redis runs: {}", path.display());
    }
    println!("report: {}", report.display());
    Ok(())
}

fn print_table(runs: &[TopologyRun<'_>], args: &DemoArgs) {
    println!();
    println!(
        "workload {} over {} keys, {} requests per run, {} clients, {:.0}% writes, seed {}, {} API node(s) with {} near caches ({}); shared tier {} per node",
        args.workload,
        FULL_TABLE,
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
    for run in runs {
        let o = run.outcome;
        println!(
            "{:<18} {:<13} {:>9.0} {:>8.0} {:>8.0} {:>9.0}   {:>5.1}% {:>6.1}% {:>5.1}%   {:>7.1}%   {:>6}",
            run.topology,
            run.tier_policy,
            o.throughput,
            o.latency.p50_us,
            o.latency.p99_us,
            o.latency.p999_us,
            o.shares.near * 100.0,
            o.shares.shared * 100.0,
            o.shares.store * 100.0,
            o.tier_hit_ratio * 100.0,
            o.errors,
        );
    }
    println!();
    println!(
        "near/shared/store: the share of successful reads each tier answered (the `source` of each answer); tier hit: shared / (shared + store), the reads that reached the shared tier."
    );
    if let Some(line) = verdict(runs, args) {
        println!("{line}");
    }
}

/// Store shares closer than this (1 point) do not name a winner.
const TIE: f64 = 0.01;

/// One line naming the run that sent the fewest reads to the store (the most throughput
/// among equals) and why, or `None` when nothing ran.
fn verdict(runs: &[TopologyRun<'_>], args: &DemoArgs) -> Option<String> {
    let best = runs.iter().min_by(|a, b| {
        let store = a.outcome.shares.store.total_cmp(&b.outcome.shares.store);
        store.then(b.outcome.throughput.total_cmp(&a.outcome.throughput))
    })?;
    let worst = runs
        .iter()
        .max_by(|a, b| a.outcome.shares.store.total_cmp(&b.outcome.shares.store))?;
    let tier = args.tier_capacity;
    let n = args.tier_nodes;
    if worst.outcome.shares.store - best.outcome.shares.store < TIE {
        return Some(format!(
            "no clear winner: every run sent {:.1}% of reads to the store (±{:.1} point) — the \
             shared tier ({tier} per node) is not what limits the hit ratio here (a run too short \
             to fill it, or a tier as large as the working set, makes the topologies tie).",
            best.outcome.shares.store * 100.0,
            TIE * 100.0
        ));
    }
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
        best.outcome.shares.store * 100.0,
        worst.topology,
        worst.tier_policy,
        worst.outcome.shares.store * 100.0,
    ))
}
