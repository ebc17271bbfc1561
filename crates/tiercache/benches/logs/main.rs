//! Log appends against a baseline: acknowledged publishes of 256-byte messages from 1 and 16
//! concurrent publishers, each publisher waiting for the acknowledgement of one message
//! before it sends the next. Each run lasts 2 s or 200 000 messages, whichever comes first;
//! the table gives the median of 5 runs of msgs/s, p50 and p99.
//!
//! Baseline: NATS JetStream (the Debian `nats-server`), a stream of 3 replicas (file storage)
//! on three local servers, started by [`tiercache_launch::NatsCluster`]. Its durability is
//! printed with the table: by default a message is acknowledged once a quorum of the
//! replicas wrote it, without an fsync. Where the installed server knows `sync_interval`
//! (2.10 and later) a second row set runs with `sync_interval: always`.
//!
//! `scripts/bench_logs.sh` installs nats-server when missing and runs
//! `cargo bench -p tiercache --bench logs [-- --runs 5 --seconds 2 --messages 200000
//! --publishers 1,16]`; under `cargo test --all-targets` one short run per row, as a smoke
//! test. Without nats-server the benchmark says how to install it and exits with status 2.
//!
//! Each system is a [`runner::Target`]: the runner and the statistics are the same for all.
//!
//! Last results (release, 2-core VM, nats-server 2.9.10 from Debian 12, 2 s × 5 runs):
//!
//! | system | acknowledged when | publishers | msgs/s | p50 | p99 |
//! |---|---|---:|---:|---:|---:|
//! | JetStream 2.9.10 R3 | quorum 2/3 written, no fsync | 1 | 2231 | 414 µs | 1152 µs |
//! | JetStream 2.9.10 R3 | quorum 2/3 written, no fsync | 16 | 10784 | 1251 µs | 5191 µs |
//!
//! "No fsync" was checked, not only read in nats-server's source: under `strace -f` a run
//! with 16 publishers (stream creation included) made no `fsync` or `fdatasync` call.

/// NATS JetStream as a target.
mod jetstream;
/// Publishers, runs, statistics, the table.
mod runner;

use std::time::Duration;

use tiercache_launch::NatsCluster;
use tiercache_testkit::bench::BenchArgs;

use crate::jetstream::{JetStream, STREAM};
use crate::runner::{Limits, Row, measure, print_table};

/// Bytes per message.
const PAYLOAD_BYTES: usize = 256;

/// Replicas of the stream, and servers of the cluster.
const REPLICAS: usize = 3;

/// One setting of the JetStream servers: its name in the table, the lines added to each
/// server's `jetstream { … }` block, and what an acknowledgement means under it.
struct Setting {
    durability: &'static str,
    jetstream: &'static [&'static str],
}

fn main() {
    let args = BenchArgs::from_env();
    let runs = args.value_or("--runs", 5, 1);
    let limits = Limits {
        duration: Duration::from_secs_f64(args.value_or("--seconds", 2.0, 0.2)),
        messages: args.value_or("--messages", 200_000, 2_000),
        payload_bytes: PAYLOAD_BYTES,
    };
    let publishers: Vec<usize> = args
        .value::<String>("--publishers")
        .map(|list| {
            list.split(',')
                .map(|n| n.parse().expect("--publishers N,N"))
                .collect()
        })
        .unwrap_or_else(|| vec![1, 16]);

    if let Err(error) = NatsCluster::program() {
        eprintln!(
            "{error}\nThe baseline of this benchmark is NATS JetStream: install the Debian \
             package with `apt-get install nats-server`, or run scripts/bench_logs.sh, which \
             installs it when missing."
        );
        std::process::exit(2);
    }
    let version = NatsCluster::version().unwrap_or_else(|error| panic!("{error}"));
    let sync_interval = NatsCluster::accepts_jetstream_option("sync_interval: always")
        .unwrap_or_else(|error| panic!("{error}"));
    let mut settings = vec![Setting {
        durability: "quorum 2/3 written, no fsync",
        jetstream: &[],
    }];
    if sync_interval {
        settings.push(Setting {
            durability: "quorum 2/3, sync_interval: always",
            jetstream: &["sync_interval: always"],
        });
    }
    print_conditions(&version, sync_interval, runs, limits);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let system = format!(
        "JetStream {} R{REPLICAS}",
        version.trim_start_matches("nats-server: v")
    );
    let mut rows: Vec<Row> = Vec::new();
    for setting in &settings {
        // Blocking: starting and stopping processes happens outside the runtime.
        let cluster = NatsCluster::start(REPLICAS, setting.jetstream)
            .unwrap_or_else(|error| panic!("{error}"));
        let target = runtime
            .block_on(JetStream::prepare(&cluster))
            .unwrap_or_else(|error| panic!("{error:#}"));
        for &count in &publishers {
            let row = runtime
                .block_on(measure(
                    &target,
                    (&system, setting.durability),
                    count,
                    runs,
                    limits,
                ))
                .unwrap_or_else(|error| panic!("{error:#}"));
            rows.push(row);
        }
        drop(target);
        drop(cluster);
    }
    print_table(&rows);
    for row in &rows {
        assert!(
            row.acked > 0,
            "{} acknowledged nothing with {} publishers",
            row.system,
            row.publishers
        );
    }
}

/// What was measured, and what JetStream's acknowledgement guarantees on this server.
fn print_conditions(version: &str, sync_interval: bool, runs: usize, limits: Limits) {
    println!(
        "{version}; {REPLICAS} servers on 127.0.0.1; stream {STREAM} on bench.>, \
         {REPLICAS} replicas, file storage"
    );
    println!(
        "{} runs per row, each {:?} or {} messages, whichever first; {} bytes per message; \
         publisher i connects to server i mod {REPLICAS}, each waits for its PubAck",
        runs, limits.duration, limits.messages, limits.payload_bytes
    );
    println!(
        "durability: a publish is acknowledged once the stream's leader has the message \
         committed by a quorum (2 of 3) of the replicas' raft logs, written to the OS page \
         cache and not fsynced: crashes of server processes lose nothing acknowledged, an OS \
         crash or power cut of 2 of the 3 machines before the next fsync may."
    );
    if sync_interval {
        println!(
            "fsync: by default every 2 min in the background (`sync_interval`); the second \
             row set runs with `sync_interval: always` (an fsync on every write)."
        );
    } else {
        println!(
            "fsync: in the background only, every 2 min for the stream's files and every \
             5 min for its raft log (fixed in nats-server 2.9); this server has no \
             `sync_interval` option (it came with 2.10), so no `always` row set."
        );
    }
    println!();
}
