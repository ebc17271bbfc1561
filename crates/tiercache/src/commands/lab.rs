//! `tiercache lab`: the topology × policy × memory × workload matrix, and its HTML report.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiercache_core::ByteSize;
use tiercache_lab::matrix::{ENGINE_POLICIES, REDIS_POLICIES};
use tiercache_lab::{Filter, Plan, Results, Target};

/// Runs the lab's matrix — shared-tier topology (centralized, partitioned, replicated) ×
/// eviction policy × memory rule (equal per node, equal in total) × workload × size, with
/// near caches on and off — against real API nodes over HTTP, and writes a self-contained
/// report: DIR/index.html (charts, a table per workload, generated conclusions),
/// DIR/results.json and DIR/results.csv.
///
/// Every configuration starts cold on the same seeded requests; each is also replayed
/// offline through Belady's MIN at the tier's memory, the bound no policy can beat.
/// The default target runs every tier in process (nothing to install); --redis launches
/// real Redis servers (one server, a Cluster, a primary with two replicas) with
/// `maxmemory` and `maxmemory-policy` set.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache lab                               # the quick matrix (under a minute), report in lab-report/
  tiercache lab --full --out full-report      # everything (tens of minutes)
  tiercache lab --only topology=partitioned,centralized --only policy=allkeys-lfu
  tiercache lab --list --full --only workload=burst   # what would run, without running it
  tiercache lab --redis --budget 4MiB         # real Redis servers launched by the lab
  tiercache lab --discover http://127.0.0.1:7070   # a running `tiercache up` deployment

--only DIMENSION=VALUE[,VALUE…] keeps the configurations whose DIMENSION is one of the values;
repeat it to filter on several dimensions. Dimensions: topology, near (on/off), policy, memory
(per-node/total), workload (zipf:0.99, burst, shifting, uniform…), writes (1%, 10%), requests,
rows, clients.")]
pub struct LabArgs {
    /// The small matrix (the default): every topology with LRU and LFU under both memory
    /// rules on Zipf 0.99 and the burst, near caches on and off, 1–16 clients.
    #[arg(long, conflicts_with = "full")]
    quick: bool,

    /// Every topology × policy × memory rule × workload on the full table, plus sizes
    /// (1 000 / 10 000 / 100 000 queries on both tables) and clients (1–32).
    #[arg(long)]
    full: bool,

    /// Where the report is written (created if missing; its files are replaced).
    #[arg(long, value_name = "DIR", default_value = "lab-report")]
    out: PathBuf,

    /// Keep only these configurations (repeatable; see below).
    #[arg(long, value_name = "DIMENSION=VALUE,…")]
    only: Vec<String>,

    /// Seed of every workload: the same seed sends the same requests.
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,

    /// The shared tier's memory (each node's at equal memory per node, the whole tier's at
    /// equal total memory); default 48KiB for --quick (1 000-row table), 512KiB for --full.
    #[arg(long, value_name = "SIZE")]
    budget: Option<ByteSize>,

    /// Run the shared tiers on real Redis servers launched by the lab (Redis's eight
    /// policies only). Needs redis-server and redis-cli. Redis counts its own overhead in
    /// `maxmemory`: the lab gives each node its overhead plus the budget, and budgets under
    /// about 1MiB still see writes refused (OOM), reported as errors per configuration.
    #[arg(long, conflicts_with = "discover")]
    redis: bool,

    /// Drive a running deployment (`tiercache up`) instead: its API nodes are found in the
    /// binder of the store at this URL. Its topology, policies and memory are its own, so
    /// only workloads, sizes and clients vary; its caches stay warm between runs, and the
    /// writes are real writes to its store.
    #[arg(long, value_name = "STORE_URL")]
    discover: Option<String>,

    /// Print the configurations that would run, and exit.
    #[arg(long)]
    list: bool,

    /// Do not draw the progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// Runs the lab and writes the report.
pub fn run(args: LabArgs) -> anyhow::Result<()> {
    let filter = Filter::parse(&args.only).map_err(anyhow::Error::msg)?;
    let mut plan = if args.full {
        let mut policies: Vec<&str> = REDIS_POLICIES.to_vec();
        if !args.redis {
            policies.extend(ENGINE_POLICIES);
        }
        Plan::full(args.seed, &policies)
    } else {
        Plan::quick(args.seed)
    };
    if let Some(budget) = args.budget {
        anyhow::ensure!(budget.bytes() >= 1024, "--budget must be at least 1KiB");
        plan.budget = budget.bytes();
    }
    if args.discover.is_some() {
        plan = plan.deployed();
    }
    plan.retain(&filter);
    if args.redis {
        plan.configs
            .retain(|config| REDIS_POLICIES.contains(&config.policy.as_str()));
    }
    anyhow::ensure!(
        !plan.configs.is_empty(),
        "no configuration left to run: check --only (see --list)"
    );
    if args.list {
        for config in &plan.configs {
            println!("{}", config.id());
        }
        eprintln!("{} configurations", plan.configs.len());
        return Ok(());
    }
    let target = match (&args.discover, args.redis) {
        (Some(url), _) => Target::Discover(url.clone()),
        (None, true) => Target::Redis,
        (None, false) => Target::Embedded,
    };
    let results = run_plan(&plan, target, args.no_progress)?;
    let index = tiercache_lab::report::write(&args.out, &results)?;
    print_summary(&results);
    println!("report: {}", index.display());
    Ok(())
}

/// Runs `plan` with a progress bar over its requests; shared with `demo`.
pub fn run_plan(plan: &Plan, target: Target, no_progress: bool) -> anyhow::Result<Results> {
    let total: u64 = plan.configs.iter().map(|config| config.requests).sum();
    let bar = super::progress_bar(
        total,
        "{bar:30} {pos}/{len} requests, eta {eta} — {msg}",
        no_progress,
    );
    let done = Arc::new(AtomicU64::new(0));
    super::runtime()?.block_on(async {
        let ticker = {
            let bar = bar.clone();
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                loop {
                    bar.set_position(done.load(Ordering::Relaxed));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let step = |step: tiercache_lab::Step<'_>| {
            bar.set_message(format!(
                "[{}/{}] {}",
                step.index + 1,
                step.total,
                step.config.id()
            ));
        };
        let results = tiercache_lab::run(plan, target, &step, Arc::clone(&done)).await;
        ticker.abort();
        bar.finish_and_clear();
        results.context("running the lab")
    })
}

/// The generated conclusions, one per line.
pub fn print_summary(results: &Results) {
    println!(
        "{} configurations in {:.1} s ({} target, seed {})",
        results.outcomes.len(),
        results.elapsed_seconds,
        results.target,
        results.plan.seed
    );
    for line in tiercache_lab::report::summary::conclusions(results) {
        println!("- {line}");
    }
}
