//! `tiercache bench`: the HTTP load generator.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiercache_bench::http_load::{self, KeyDistribution, LoadReport, LoadSpec};
use tiercache_bench::report::LoadTable;

/// Drives running API nodes with a seeded mix of reads and writes and reports throughput,
/// latency percentiles (HDR histogram) and which tier answered the reads.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache serve &   # then:
  tiercache bench --target http://127.0.0.1:8080 --workload zipf:0.99 --keys 9564 --requests 100000
  tiercache bench --target http://127.0.0.1:8080,http://127.0.0.1:8081 --write-ratio 0.05 --json
  tiercache bench --discover http://127.0.0.1:7070 --requests 10000
  tiercache serve --nodes 3 --invalidation sync &   # then:
  tiercache bench --nodes http://127.0.0.1:8080,http://127.0.0.1:8081,http://127.0.0.1:8082 \
      --write-ratio 0.1 --requests 200000 --check-staleness

Each of --concurrency workers keeps one HTTP/1.1 connection and one request in flight;
workers are spread over the targets in turn. Keys are 1..=--keys (the dataset's row ids).
Targets must be loopback addresses unless --allow-remote is given. --discover STORE_URL
looks the live API nodes up in the store's registry (the binder) and targets each of them
(their addresses are printed on stderr).

--check-staleness records every operation (send and answer times on this client's clock,
key, version) and counts stale reads: reads that returned a version older than a write of
the same key answered before the read was sent. It also reads the nodes' /v1/stats before
and after, for the messages and subscriptions of the run and the publish-to-applied delay
of notices. The command fails (exit status 1) when a node in sync delivery served a stale
read, or when a stale read lagged further behind its write than any notice took to arrive
(something other than notice transit served old data).")]
pub struct BenchArgs {
    /// The API nodes, http://HOST:PORT separated by commas.
    #[arg(
        long,
        visible_alias = "nodes",
        value_name = "URLS",
        default_value = "http://127.0.0.1:8080"
    )]
    target: String,

    /// Target every live API node registered in this store (http://HOST:PORT of a
    /// `tiercache store`, or a database URL) instead of --target.
    #[arg(long, value_name = "STORE_URL", conflicts_with = "target")]
    discover: Option<String>,

    /// Key popularity: zipf:ALPHA (e.g. zipf:0.99) or uniform.
    #[arg(long, value_name = "NAME", default_value = "zipf:0.99")]
    workload: KeyDistribution,

    /// Keys are 1..=N.
    #[arg(long, value_name = "N", default_value_t = 9_564)]
    keys: u64,

    /// Requests to send in total.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    requests: u64,

    /// Workers (connections), each with one request in flight.
    #[arg(long, value_name = "C", default_value_t = 16)]
    concurrency: usize,

    /// Fraction of requests that are writes (PUT), 0 to 1.
    #[arg(long, value_name = "R", default_value_t = 0.0)]
    write_ratio: f64,

    /// Seed of every random choice (printed in the report).
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,

    /// Stop after this many seconds even if requests remain (the report says so).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    max_seconds: u64,

    /// Record every operation and count stale reads (see below).
    #[arg(long)]
    check_staleness: bool,

    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,

    /// Allow targets that are not loopback addresses.
    #[arg(long)]
    allow_remote: bool,

    /// Do not draw the progress bar.
    #[arg(long)]
    no_progress: bool,

    /// A file holding the bearer token to send, for nodes started with --auth-tokens (its
    /// first line that is not blank or a `#` comment). Reads need its read scope, writes
    /// its write scope; the nodes' stats in the report need admin.
    #[arg(long, value_name = "FILE", env = "TIERCACHE_TOKEN_FILE")]
    token_file: Option<std::path::PathBuf>,
}

/// `http://HOST:PORT,…` (or all `https://`) → socket addresses, and whether they are
/// reached over TLS; loopback-only unless `allow_remote`.
pub fn parse_targets(text: &str, allow_remote: bool) -> anyhow::Result<(Vec<SocketAddr>, bool)> {
    let mut targets = Vec::new();
    let mut schemes = std::collections::BTreeSet::new();
    for item in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (scheme, authority) = item
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
            .with_context(|| {
                format!("target {item:?} must look like http://HOST:PORT or https://HOST:PORT")
            })?;
        schemes.insert(scheme);
        let authority = authority.trim_end_matches('/');
        let address = authority
            .to_socket_addrs()
            .with_context(|| format!("target {item:?}: cannot resolve {authority:?}"))?
            .next()
            .with_context(|| format!("target {item:?} resolves to no address"))?;
        anyhow::ensure!(
            allow_remote || address.ip().is_loopback(),
            "target {item:?} is not a loopback address; pass --allow-remote to load a remote deployment"
        );
        targets.push(address);
    }
    anyhow::ensure!(!targets.is_empty(), "--target names no address");
    anyhow::ensure!(
        schemes.len() == 1,
        "the targets mix http:// and https://; one run talks to its nodes one way"
    );
    Ok((targets, schemes.contains("https")))
}

/// Runs `spec` with a progress bar.
pub async fn run_with_progress(spec: &LoadSpec, no_progress: bool) -> anyhow::Result<LoadReport> {
    let done = Arc::new(AtomicU64::new(0));
    let bar = super::progress_bar(
        spec.requests,
        "{bar:30} {pos}/{len} requests ({per_sec}, eta {eta})",
        no_progress,
    );
    let ticker = {
        let bar = bar.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            loop {
                bar.set_position(done.load(std::sync::atomic::Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let report = http_load::run(spec, done).await;
    ticker.abort();
    bar.finish_and_clear();
    Ok(report?)
}

/// The live API nodes registered in the store at `url`, as `http://HOST:PORT,…`.
async fn discover(url: &str) -> anyhow::Result<String> {
    let live = tiercache_deploy::lookup(url, &[tiercache_deploy::API_ROLE]).await?;
    anyhow::ensure!(
        !live.is_empty(),
        "no live API node is registered in the store at {url}"
    );
    let addresses: Vec<String> = live.into_iter().map(|entry| entry.address).collect();
    Ok(addresses.join(","))
}

/// Runs the benchmark and prints its report.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = super::runtime()?;
    let targets = match &args.discover {
        None => args.target.clone(),
        Some(url) => {
            let targets = runtime.block_on(discover(url))?;
            eprintln!("tiercache bench: discovered API nodes {targets}");
            targets
        }
    };
    let token = args
        .token_file
        .as_deref()
        .map(tiercache_core::Secret::from_file)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let (targets, tls) = parse_targets(&targets, args.allow_remote)?;
    let tls = match tls {
        true => Some(
            tiercache_tls::process::identity_for("an https:// target")
                .map_err(anyhow::Error::msg)?
                .clone(),
        ),
        false => None,
    };
    let spec = LoadSpec {
        targets,
        distribution: args.workload,
        keys: args.keys,
        requests: args.requests,
        concurrency: args.concurrency,
        write_ratio: args.write_ratio,
        seed: args.seed,
        max_duration: Duration::from_secs(args.max_seconds.max(1)),
        check_staleness: args.check_staleness,
        token,
        tls,
    };
    let report = runtime.block_on(run_with_progress(&spec, args.no_progress))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", LoadTable(&report));
    }
    // Fails (exit status 1) when the history shows what the nodes' mode promises cannot
    // happen.
    Ok(report.check_coherence()?)
}
