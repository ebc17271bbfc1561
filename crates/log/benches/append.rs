//! Append throughput and latency of the segment storage: 1 and 16 concurrent appenders,
//! fsync `always` and `interval:10ms`, one 256-byte message per append, each run on a fresh
//! data directory for a fixed time; the median of 3 runs of appends/s, p50 and p99.
//!
//! `cargo bench -p tiercache-log --bench append [-- --seconds 3 --runs 3 --dir /path]`
//! (`--dir` picks the file system; default: a temporary directory); under `cargo test
//! --all-targets` one short run per row, as a smoke test.
//!
//! Last results (release, 2-core Firecracker VM, ext4 on a virtio disk, 2 s × 3 runs):
//!
//! | fsync | appenders | appends/s | p50 | p99 |
//! |---|---|---|---|---|
//! | always | 1 | 3721 | 230 µs | 887 µs |
//! | always | 16 | 31332 | 453 µs | 1700 µs |
//! | interval:10ms | 1 | 24629 | 28 µs | 168 µs |
//! | interval:10ms | 16 | 151325 | 89 µs | 280 µs |
//!
//! With `always` the fsync is the cost (about 0.25 ms for one record here, growing with the
//! bytes flushed); 16 appenders share it, about 16 jobs a group.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tiercache_log::{FsyncPolicy, LogStorage, MessageIds, Record, SegmentOptions, SegmentStorage};
use tiercache_testkit::bench::{BenchArgs, median};

const VALUE_BYTES: usize = 256;

/// One run's figures.
struct Run {
    appends_per_second: f64,
    p50_micros: f64,
    p99_micros: f64,
}

async fn run(fsync: FsyncPolicy, appenders: usize, duration: Duration, parent: &str) -> Run {
    let dir = tempfile::tempdir_in(parent).unwrap();
    let options = SegmentOptions {
        fsync,
        ..SegmentOptions::default()
    };
    let (storage, _) = SegmentStorage::open(dir.path(), options).unwrap();
    let storage = Arc::new(storage);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..appenders)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move {
                let mut ids = MessageIds::random();
                let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                while Instant::now() < deadline {
                    let record = Record {
                        id: ids.next_now(),
                        idempotency_key: None,
                        value: vec![0x5a; VALUE_BYTES],
                    };
                    let sent = Instant::now();
                    storage.append("bench", vec![record]).await.unwrap();
                    latencies.saturating_record(sent.elapsed().as_micros() as u64);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for task in tasks {
        latencies.add(task.await.unwrap()).unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(storage.len("bench").await.unwrap(), latencies.len());
    Run {
        appends_per_second: latencies.len() as f64 / elapsed,
        p50_micros: latencies.value_at_quantile(0.50) as f64,
        p99_micros: latencies.value_at_quantile(0.99) as f64,
    }
}

fn main() {
    let args = BenchArgs::from_env();
    let runs: usize = args.value_or("--runs", 3, 1);
    let seconds: f64 = args.value_or("--seconds", 2.0, 0.1);
    let parent: String = args
        .value("--dir")
        .unwrap_or_else(|| std::env::temp_dir().display().to_string());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "segment storage, {VALUE_BYTES}-byte messages, one per append, {seconds} s per run, \
         median of {runs} runs, data in {parent}"
    );
    println!("| fsync | appenders | appends/s | p50 | p99 |");
    println!("|---|---|---|---|---|");
    for fsync in [
        FsyncPolicy::Always,
        FsyncPolicy::Interval(Duration::from_millis(10)),
    ] {
        for appenders in [1, 16] {
            let results: Vec<Run> = (0..runs)
                .map(|_| {
                    runtime.block_on(run(
                        fsync,
                        appenders,
                        Duration::from_secs_f64(seconds),
                        &parent,
                    ))
                })
                .collect();
            let of = |f: fn(&Run) -> f64| median(results.iter().map(f).collect());
            println!(
                "| {fsync} | {appenders} | {:.0} | {:.0} µs | {:.0} µs |",
                of(|r| r.appends_per_second),
                of(|r| r.p50_micros),
                of(|r| r.p99_micros),
            );
        }
    }
}
