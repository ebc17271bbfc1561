//! Log appends against a baseline: acknowledged publishes of 256-byte messages from 1 and 16
//! concurrent publishers, each publisher waiting for the acknowledgement of one message
//! before it sends the next. Each run lasts 2 s or 200 000 messages, whichever comes first;
//! the table gives the median of 5 runs of msgs/s, p50 and p99.
//!
//! tiercache: a deployment started by `tiercache up --nodes 1` (three log nodes, one API
//! node, a redis-server as the bus), appended to with `POST /v1/logs/bench`, for each of the
//! log nodes' `--fsync always` and `--fsync interval:10ms` (written before the
//! acknowledgement, fsynced within 10 ms) and each of the API node's `--log-acks` 1, 2 and 3:
//! a fresh deployment per setting. On the `interval:10ms`, 2-ack deployment the log is then
//! read by 1 and 16 readers, a page of 100 messages at a time (every copy answering).
//!
//! The closest settings to JetStream's: `--log-acks 2` (a quorum of the three copies, as an
//! R3 stream's PubAck) and `--fsync interval:10ms` — stronger than JetStream 2.9, which does
//! not fsync before the acknowledgement either but only every 2 min (so a tiercache row at
//! equal throughput is the better one).
//!
//! Baseline: NATS JetStream (the Debian `nats-server`), a stream of 3 replicas (file storage)
//! on three local servers, started by [`tiercache_launch::NatsCluster`]. Its durability is
//! printed with the table: by default a message is acknowledged once a quorum of the
//! replicas wrote it, without an fsync. Where the installed server knows `sync_interval`
//! (2.10 and later) a second row set runs with `sync_interval: always`.
//!
//! `scripts/bench_logs.sh` installs nats-server when missing and runs
//! `cargo bench -p tiercache --bench logs [-- --runs 5 --seconds 2 --messages 200000
//! --publishers 1,16 --fsync always,interval:10ms --acks 1,2,3 --jetstream yes]`; the lists
//! choose which rows run (one row while tuning: `--publishers 1 --fsync interval:10ms --acks
//! 2`, JetStream still beside it, so the ratio stays a same-run ratio); under `cargo test --all-targets` one short run per row, as a smoke
//! test. Without nats-server the benchmark says how to install it and exits with status 2.
//!
//! Each system is a [`runner::Target`]: the runner and the statistics are the same for all.
//!
//! The last results are in BENCHMARKS.md ("Application logs").
//!
//! "No fsync" was checked, not only read in nats-server's source: under `strace -f` a run
//! with 16 publishers (stream creation included) made no `fsync` or `fdatasync` call.

/// NATS JetStream as a target.
mod jetstream;
/// Publishers, runs, statistics, the table.
mod runner;
/// tiercache's application logs as a target.
mod tiercache;

use std::time::Duration;

use tiercache_launch::NatsCluster;
use tiercache_testkit::bench::BenchArgs;

use crate::jetstream::{JetStream, STREAM};
use crate::runner::{Limits, Row, Target, measure, print_table};
use crate::tiercache::{APP, PAGE, Readers, TierCache};

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

/// The log nodes' `--fsync` settings, and what a node's confirmation means under each.
const FSYNC: [(&str, &str); 2] = [
    ("always", "fdatasync before the ack"),
    ("interval:10ms", "written, fsync within 10 ms"),
];

/// The API node's `--log-acks` settings: how many of the three copies confirm an append.
const ACKS: [usize; 3] = [1, 2, 3];

fn main() {
    let args = BenchArgs::from_env();
    let runs = args.value_or("--runs", 5, 1);
    let limits = Limits {
        duration: Duration::from_secs_f64(args.value_or("--seconds", 2.0, 0.2)),
        messages: args.value_or("--messages", 200_000, 2_000),
        payload_bytes: PAYLOAD_BYTES,
    };
    let publishers = counts(&args, "--publishers").unwrap_or_else(|| vec![1, 16]);
    let fsyncs: Vec<(&str, &str)> = match args.value::<String>("--fsync") {
        None => FSYNC.to_vec(),
        Some(list) => list
            .split(',')
            .map(|want| {
                *FSYNC
                    .iter()
                    .find(|(fsync, _)| *fsync == want)
                    .unwrap_or_else(|| panic!("--fsync takes always and/or interval:10ms"))
            })
            .collect(),
    };
    let ack_counts = counts(&args, "--acks").unwrap_or_else(|| ACKS.to_vec());
    let jetstream = args
        .value::<String>("--jetstream")
        .is_none_or(|v| v != "no");

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

    let plan = Plan {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime"),
        publishers,
        runs,
        limits,
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut reads: Vec<Row> = Vec::new();
    for &(fsync, durability) in &fsyncs {
        for &acks in &ack_counts {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let target = plan
                .runtime
                .block_on(TierCache::prepare(dir.path(), fsync, acks))
                .unwrap_or_else(|error| panic!("{error:#}"));
            let durability = format!("{acks}/3 log nodes, {durability}");
            let system = ("tiercache R3", durability.as_str());
            rows.extend(plan.rows(&target, system));
            if fsync == FSYNC[1].0 && acks == 2 {
                // Reads do not depend on the settings; the log now holds every append above.
                let what = format!("pages of {PAGE}, every copy answering");
                let system = ("tiercache R3 reads", what.as_str());
                let readers = Readers(&target);
                reads.extend(plan.rows(&readers, system));
            }
            drop(target);
        }
    }
    let system = format!(
        "JetStream {} R{REPLICAS}",
        version.trim_start_matches("nats-server: v")
    );
    for setting in settings.iter().filter(|_| jetstream) {
        // Blocking: starting and stopping processes happens outside the runtime.
        let cluster = NatsCluster::start(REPLICAS, setting.jetstream)
            .unwrap_or_else(|error| panic!("{error}"));
        let target = plan
            .runtime
            .block_on(JetStream::prepare(&cluster))
            .unwrap_or_else(|error| panic!("{error:#}"));
        println!(
            "{system} ({}): the stream's leader is {}, publisher 0 connects to it",
            setting.durability, target.leader
        );
        let system = (system.as_str(), setting.durability);
        rows.extend(plan.rows(&target, system));
        drop(target);
        drop(cluster);
    }
    print_table(&rows);
    println!(
        "\nReads: GET /v1/logs/{APP}?after=ID&limit={PAGE}, each reader paging from the start \
         of the log; here the rate column counts pages (of {PAGE} messages, but the last of a \
         pass) per second, and the latencies are per page:\n"
    );
    print_table(&reads);
    for row in rows.iter().chain(&reads) {
        assert!(
            row.acked > 0,
            "{} acknowledged nothing with {} publishers",
            row.system,
            row.publishers
        );
    }
}

/// The comma-separated numbers given to `flag` (`--publishers 1,16`), if it was given.
fn counts(args: &BenchArgs, flag: &str) -> Option<Vec<usize>> {
    let list = args.value::<String>(flag)?;
    Some(
        list.split(',')
            .map(|n| {
                n.parse().unwrap_or_else(|_| {
                    panic!("{flag} takes numbers separated by commas, got {n:?}")
                })
            })
            .collect(),
    )
}

/// What every row measures: the publisher counts, the runs per row and their limits.
struct Plan {
    runtime: tokio::runtime::Runtime,
    publishers: Vec<usize>,
    runs: usize,
    limits: Limits,
}

impl Plan {
    /// One row per publisher count for `target`.
    fn rows<T: Target>(&self, target: &T, system: (&str, &str)) -> Vec<Row> {
        let Plan {
            runtime,
            publishers,
            runs,
            limits,
        } = self;
        publishers
            .iter()
            .map(|&count| {
                runtime
                    .block_on(measure(target, system, count, *runs, *limits))
                    .unwrap_or_else(|error| panic!("{error:#}"))
            })
            .collect()
    }
}

/// What was measured, and what JetStream's acknowledgement guarantees on this server.
fn print_conditions(version: &str, sync_interval: bool, runs: usize, limits: Limits) {
    println!(
        "tiercache: `up --nodes 1` (store on SQLite, 3 admins, a redis-server as the bus, 3 log \
         nodes, 1 API node) on 127.0.0.1; log {APP}, 3 copies; every publisher has a kept-alive \
         connection to the API node and waits for the 200 of its POST /v1/logs/{APP} (--log-acks \
         of the 3 log nodes confirmed it durable under their --fsync)"
    );
    println!(
        "{version}; {REPLICAS} servers on 127.0.0.1; stream {STREAM} on bench.>, \
         {REPLICAS} replicas, file storage"
    );
    println!(
        "{} runs per row, each {:?} or {} messages, whichever first; {} bytes per message; \
         JetStream publisher i connects to server (stream leader + i) mod {REPLICAS}, so a lone one talks to the leader (JetStream's best case); each waits for its PubAck",
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
