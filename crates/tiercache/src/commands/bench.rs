//! `tiercache bench`: the HTTP load generator.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiercache_bench::http_load::{self, KeyDistribution, LoadReport, LoadSpec};

/// Drives running API nodes with a seeded mix of reads and writes and reports throughput,
/// latency percentiles (HDR histogram) and which tier answered the reads.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache serve &   # then:
  tiercache bench --target http://127.0.0.1:8080 --workload zipf:0.99 --keys 9564 --requests 100000
  tiercache bench --target http://127.0.0.1:8080,http://127.0.0.1:8081 --write-ratio 0.05 --json
  tiercache serve --nodes 3 --invalidation sync &   # then:
  tiercache bench --nodes http://127.0.0.1:8080,http://127.0.0.1:8081,http://127.0.0.1:8082 \
      --write-ratio 0.1 --requests 200000 --check-staleness

Each of --concurrency workers keeps one HTTP/1.1 connection and one request in flight;
workers are spread over the targets in turn. Keys are 1..=--keys (the dataset's row ids).
Targets must be loopback addresses unless --allow-remote is given.

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
}

/// `http://HOST:PORT,…` → socket addresses, loopback-only unless `allow_remote`.
pub fn parse_targets(text: &str, allow_remote: bool) -> anyhow::Result<Vec<SocketAddr>> {
    let mut targets = Vec::new();
    for item in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let authority = item
            .strip_prefix("http://")
            .with_context(|| format!("target {item:?} must look like http://HOST:PORT"))?
            .trim_end_matches('/');
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
    Ok(targets)
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

/// The report as a short table.
pub fn print_report(report: &LoadReport) {
    println!(
        "workload {} over {} keys, seed {}, concurrency {}: {} requests ({} reads, {} writes) in {:.2} s{}",
        report.workload,
        report.keys,
        report.seed,
        report.concurrency,
        report.requests,
        report.reads,
        report.writes,
        report.elapsed_seconds,
        if report.truncated {
            " (stopped at --max-seconds)"
        } else {
            ""
        },
    );
    println!("throughput   {:>10.0} req/s", report.throughput);
    let l = &report.latency;
    println!(
        "latency µs   p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}  mean {:.1}",
        l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
    );
    if report.writes > 0 && report.reads > 0 {
        let (r, w) = (&report.read_latency, &report.write_latency);
        println!(
            "  reads µs   p50 {:.0}  p99 {:.0}     writes µs  p50 {:.0}  p99 {:.0}",
            r.p50_us, r.p99_us, w.p50_us, w.p99_us
        );
    }
    let h = &report.hits;
    println!(
        "answered by  near {:.1}%  shared {:.1}%  store {:.1}%   (404: {})",
        h.near_ratio * 100.0,
        h.shared_ratio * 100.0,
        h.store_ratio * 100.0,
        report.not_found
    );
    if report.error_count() > 0 {
        let errors: Vec<String> = report
            .errors
            .iter()
            .map(|(status, count)| match status {
                0 => format!("no answer ×{count}"),
                status => format!("{status} ×{count}"),
            })
            .collect();
        println!("errors       {}", errors.join(", "));
    }
    if let Some(staleness) = &report.staleness {
        println!(
            "staleness    {} stale of {} reads checked against {} acknowledged writes; worst lag {} µs",
            staleness.stale_reads, staleness.reads, staleness.writes, staleness.worst_lag_us
        );
        for stale in staleness.examples.iter().take(3) {
            println!(
                "             key {} returned v{} from {} after v{} was acknowledged ({} µs before)",
                stale.key,
                stale.returned,
                stale.source.unwrap_or("?"),
                stale.expected,
                stale.lag_us
            );
        }
    }
    if let Some(w) = &report.write_behind {
        println!(
            "write-behind {} writes answered, {} store writes ({:.1}% saved by coalescing), {} still in memory",
            w.accepted,
            w.store_writes,
            w.saved_ratio * 100.0,
            w.pending_at_end
        );
        println!(
            "             answer-to-store window p99 {:.0} µs, max {:.0} µs (other nodes read the previous version meanwhile)",
            w.window_p99_us, w.window_max_us
        );
    }
    if let Some(c) = &report.coherence {
        println!(
            "coherence    {} delivery, {}: {} notices published, {} received, {} applied, {} discarded, {} acks, {} flushes",
            c.delivery.join("/"),
            c.write_mode.join("/"),
            c.published,
            c.received,
            c.applied,
            c.discarded,
            c.acks_sent,
            c.flushes
        );
        println!(
            "             {} subscribes, {} subscriptions held at the end",
            c.subscribes, c.subscriptions
        );
        println!(
            "notice delay p50 {:.0} µs  p99 {:.0} µs  max {:.0} µs  ({} notices; worst node per percentile)",
            c.delay_p50_us, c.delay_p99_us, c.delay_max_us, c.delay_count
        );
    }
}

/// Fails when the history shows what the nodes' mode promises cannot happen.
pub fn staleness_verdict(report: &LoadReport) -> anyhow::Result<()> {
    let (Some(staleness), Some(coherence)) = (&report.staleness, &report.coherence) else {
        return Ok(());
    };
    if staleness.stale_reads == 0 {
        return Ok(());
    }
    anyhow::ensure!(
        !coherence.delivery.iter().any(|mode| mode == "sync"),
        "{} stale read(s) from nodes in sync delivery (worst lag {} µs)",
        staleness.stale_reads,
        staleness.worst_lag_us
    );
    anyhow::ensure!(
        staleness.worst_lag_us as f64 <= coherence.delay_max_us,
        "a stale read lagged {} µs behind its write, longer than any notice took to arrive ({:.0} µs)",
        staleness.worst_lag_us,
        coherence.delay_max_us
    );
    Ok(())
}

/// Runs the benchmark and prints its report.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let spec = LoadSpec {
        targets: parse_targets(&args.target, args.allow_remote)?,
        distribution: args.workload,
        keys: args.keys,
        requests: args.requests,
        concurrency: args.concurrency,
        write_ratio: args.write_ratio,
        seed: args.seed,
        max_duration: Duration::from_secs(args.max_seconds.max(1)),
        check_staleness: args.check_staleness,
    };
    let report = super::runtime()?.block_on(run_with_progress(&spec, args.no_progress))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    staleness_verdict(&report)
}
