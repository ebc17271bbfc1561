//! The coherence figures of BENCHMARKS.md, measured side by side in one run.
//!
//! Starts `tiercache serve --nodes 3` once per configuration (a fresh store each time),
//! drives it with `tiercache bench --json` several times, and prints Markdown tables of
//! medians:
//!
//! 1. write latency, async vs sync delivery (in-process bus and Redis bus);
//! 2. invalidation (notice) delay, in-process vs Redis bus;
//! 3. object vs bucket:1024 topics: subscriptions, messages, discards, throughput;
//! 4. write-behind: store writes saved by coalescing at 10 % and 50 % writes.
//!
//! ```text
//! cargo bench -p tiercache --bench coherence [-- --runs 3 --requests 100000]
//! ```
//!
//! Needs redis-server for the Redis rows. Everything listens on loopback and runs through
//! `tiercache-launch` (ready on `listening on`, stopped with SIGTERM then SIGKILL); every
//! run is bounded by its request count. Under `cargo test` (no `--bench` argument) it does
//! a small smoke run of every table instead.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tiercache_launch::{Launch, Process, Ready, RedisServer};
use tiercache_testkit::bench::{BenchArgs, median};

/// The binary under test, built with the bench's profile (release under `cargo bench`).
const TIERCACHE: &str = env!("CARGO_BIN_EXE_tiercache");

/// How much to measure.
struct Settings {
    runs: usize,
    requests: u64,
}

/// `tiercache serve --nodes 3 ARGS` over a fresh store in `data`; ready once its three
/// nodes print their addresses.
fn serve(args: &[&str], data: &Path) -> Process {
    let mut command = Command::new(TIERCACHE);
    command
        .args("serve --nodes 3 --listen 127.0.0.1:0 --no-progress".split(' '))
        .arg("--data")
        .arg(data)
        .args(args);
    Launch::new(format!("tiercache serve {}", args.join(" ")), command)
        .ready(Ready::listening(3))
        // Loading the dataset comes first; an unoptimised build takes a while.
        .timeout(Duration::from_secs(120))
        .grace(Duration::from_secs(30))
        .start()
        .unwrap_or_else(|error| panic!("{error}"))
}

/// One `tiercache bench --json` run against `nodes`; its report.
fn bench(nodes: &[String], write_ratio: f64, requests: u64, seed: u64) -> Value {
    let output = Command::new(TIERCACHE)
        .args(["bench", "--nodes", &nodes.join(",")])
        .args(["--write-ratio", &write_ratio.to_string()])
        .args(["--requests", &requests.to_string()])
        .args(["--concurrency", "12", "--seed", &seed.to_string()])
        .args([
            "--check-staleness",
            "--json",
            "--no-progress",
            "--max-seconds",
            "600",
        ])
        .output()
        .expect("running tiercache bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stdout.trim().is_empty(),
        "tiercache bench printed no report: {stderr}"
    );
    if !output.status.success() {
        eprintln!("tiercache bench ended with {}: {stderr}", output.status);
    }
    serde_json::from_str(&stdout).expect("tiercache bench --json prints one JSON report")
}

/// `runs` bench runs against one fresh deployment started with `serve_args`.
fn measure(settings: &Settings, serve_args: &[&str], write_ratio: f64) -> Vec<Value> {
    let data = tempfile::Builder::new()
        .prefix("tc-bench-serve-")
        .tempdir()
        .unwrap();
    let mut deployment = serve(serve_args, data.path());
    let nodes: Vec<String> = deployment
        .addresses()
        .iter()
        .map(|address| format!("http://{address}"))
        .collect();
    // A warm-up run fills the near caches, so every measured run starts alike.
    bench(&nodes, write_ratio, settings.requests / 4, 1);
    let reports = (0..settings.runs)
        .map(|run| bench(&nodes, write_ratio, settings.requests, 100 + run as u64))
        .collect();
    let _ = deployment.stop();
    reports
}

/// The number at `path` in a report; a missing field stops the benchmark (a renamed field
/// must not read as zero).
fn number(report: &Value, path: &[&str]) -> f64 {
    path.iter()
        .try_fold(report, |value, name| value.get(name))
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path:?} in the bench report"))
}

/// The median over the reports of the number at `path`.
fn med(reports: &[Value], path: &[&str]) -> f64 {
    median(reports.iter().map(|report| number(report, path)).collect())
}

/// The sum over the reports of the number at `path`.
fn sum(reports: &[Value], path: &[&str]) -> f64 {
    reports.iter().map(|report| number(report, path)).sum()
}

/// The largest over the reports of the number at `path`.
fn max(reports: &[Value], path: &[&str]) -> f64 {
    reports
        .iter()
        .map(|report| number(report, path))
        .fold(f64::MIN, f64::max)
}

const WRITE_P50: &[&str] = &["write_latency", "p50_us"];
const WRITE_P99: &[&str] = &["write_latency", "p99_us"];
const STALE: &[&str] = &["staleness", "stale_reads"];

fn write_latency_and_delay(settings: &Settings, redis: &RedisServer) {
    let redis_url = redis.url();
    let buses = [("in-process", "memory://"), ("Redis", redis_url.as_str())];
    println!("### Write latency, async vs sync delivery (10 % writes)\n");
    println!(
        "| bus | delivery | write p50 µs | write p99 µs | p50 sync/async | p99 sync/async | \
         publish (+confirm) p50 µs | p99 µs | p50 sync/async | read p50 µs | stale reads |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut delays = Vec::new();
    for (name, url) in buses {
        let rows: Vec<(&str, Vec<Value>)> = ["async", "sync"]
            .into_iter()
            .map(|delivery| {
                let args = ["--bus", url, "--invalidation", delivery];
                (delivery, measure(settings, &args, 0.1))
            })
            .collect();
        let base = &rows[0].1;
        let publish50 = &["coherence", "publish_p50_us"][..];
        for (delivery, reports) in &rows {
            let p50 = med(reports, WRITE_P50);
            let p99 = med(reports, WRITE_P99);
            let publish = med(reports, publish50);
            println!(
                "| {name} | {delivery} | {p50:.0} | {p99:.0} | {:.2} | {:.2} | {publish:.0} | \
                 {:.0} | {:.2} | {:.0} | {} |",
                p50 / med(base, WRITE_P50),
                p99 / med(base, WRITE_P99),
                med(reports, &["coherence", "publish_p99_us"]),
                publish / med(base, publish50),
                med(reports, &["read_latency", "p50_us"]),
                sum(reports, STALE),
            );
        }
        delays.push((name, rows.into_iter().next().unwrap().1));
    }

    println!("\n### Invalidation delay, async delivery (publish → applied on another node)\n");
    println!(
        "| bus | p50 µs | p99 µs (worst node) | max µs | Redis/in-process p50 | stale reads | \
         worst lag µs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let delay50 = &["coherence", "delay_p50_us"][..];
    let base = med(&delays[0].1, delay50);
    for (name, reports) in &delays {
        let p50 = med(reports, delay50);
        println!(
            "| {name} | {p50:.0} | {:.0} | {:.0} | {:.2} | {} | {} |",
            med(reports, &["coherence", "delay_p99_us"]),
            max(reports, &["coherence", "delay_max_us"]),
            p50 / base,
            sum(reports, STALE),
            max(reports, &["staleness", "worst_lag_us"]),
        );
    }
}

fn topic_granularity(settings: &Settings) {
    println!("\n### Topic granularity, async, in-process bus (10 % writes)\n");
    println!(
        "| topics | subscriptions held | subscribes | messages delivered | discarded | applied | \
         throughput req/s | throughput vs object |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let rows: Vec<(&str, Vec<Value>)> = ["object", "bucket:1024"]
        .into_iter()
        .map(|topics| (topics, measure(settings, &["--topics", topics], 0.1)))
        .collect();
    let base = med(&rows[0].1, &["throughput"]);
    for (topics, reports) in &rows {
        let coherence = |name| med(reports, &["coherence", name]);
        let throughput = med(reports, &["throughput"]);
        println!(
            "| {topics} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {throughput:.0} | {:.2} |",
            coherence("subscriptions"),
            coherence("subscribes"),
            coherence("received"),
            coherence("discarded"),
            coherence("applied"),
            throughput / base,
        );
    }
}

fn write_behind(settings: &Settings) {
    println!("\n### Write-behind coalescing (flush every 100 ms, in-process bus)\n");
    println!(
        "| write ratio | writes answered | store writes | saved | write p50 µs | \
         write-through write p50 µs | window p99 ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for ratio in [0.1, 0.5] {
        let behind = measure(
            settings,
            &["--write-mode", "write-behind", "--flush-interval", "100ms"],
            ratio,
        );
        let through = measure(settings, &[], ratio);
        println!(
            "| {:.0}% | {:.0} | {:.0} | {:.1}% | {:.0} | {:.0} | {:.0} |",
            ratio * 100.0,
            med(&behind, &["write_behind", "accepted"]),
            med(&behind, &["write_behind", "store_writes"]),
            med(&behind, &["write_behind", "saved_ratio"]) * 100.0,
            med(&behind, WRITE_P50),
            med(&through, WRITE_P50),
            med(&behind, &["write_behind", "window_p99_us"]) / 1000.0,
        );
    }
}

fn main() {
    let args = BenchArgs::from_env();
    let settings = Settings {
        runs: args.value_or("--runs", 3, 1),
        requests: args.value_or("--requests", 100_000, 2_000),
    };
    let redis = RedisServer::start().expect("redis-server must be installed for the Redis rows");
    println!(
        "median of {} runs of {} requests, 3 nodes, Zipf 0.99 over 9 564 keys, 12 workers\n",
        settings.runs, settings.requests
    );
    write_latency_and_delay(&settings, &redis);
    topic_granularity(&settings);
    write_behind(&settings);
}
