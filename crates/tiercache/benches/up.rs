//! How long `tiercache up` takes to all-healthy (release build): from spawning `up` to its
//! JSON line, embedded (SQLite, three admins, two API nodes) and with `--tier redis`; the
//! baseline is one `tiercache store` to its `listening on` line, timed the same way. Median
//! and max of five runs each, each in a fresh directory.
//!
//! `cargo bench -p tiercache --bench up [-- --runs 5]`; one run of each under
//! `cargo test --all-targets`, as a smoke test.

use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tiercache_launch::{Launch, Ready};
use tiercache_testkit::bench::BenchArgs;

const TIERCACHE: &str = env!("CARGO_BIN_EXE_tiercache");

/// Spawns `tiercache ARGS` in a fresh directory, times it to its ready line, stops it.
fn time_to_ready(args: &[&str], ready: Ready) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(TIERCACHE);
    command.args(args).current_dir(dir.path());
    let started = Instant::now();
    let mut process = Launch::new(format!("tiercache {}", args[0]), command)
        .ready(ready)
        .timeout(Duration::from_secs(120))
        .grace(Duration::from_secs(30))
        .start()
        .unwrap_or_else(|error| panic!("{error}"));
    let took = started.elapsed();
    let status = process
        .stop_with(Signal::SIGTERM, Duration::from_secs(30))
        .unwrap();
    assert!(status.success(), "{status}: {}", process.log().text());
    took
}

/// (what is measured, its command line, when it counts as ready).
type Case = (&'static str, &'static [&'static str], fn() -> Ready);

fn main() {
    let args = BenchArgs::from_env();
    let runs = args.value_or("--runs", 5, 1);
    let json = || Ready::Lines {
        prefix: "{\"processes\"".to_owned(),
        count: 1,
    };
    let cases: [Case; 3] = [
        (
            "one `tiercache store` (baseline)",
            &["store", "--db", "sqlite://t.db", "--listen", "127.0.0.1:0"],
            || Ready::listening(1),
        ),
        (
            "`up`: store, 3 admins, 2 API nodes (SQLite)",
            &["up", "--json", "--log-nodes", "0"],
            json,
        ),
        (
            "`up --tier redis`: + one redis-server",
            &["up", "--json", "--log-nodes", "0", "--tier", "redis"],
            json,
        ),
    ];
    println!("| deployment | processes | median to all-healthy | max | runs |");
    println!("|---|---|---|---|---|");
    for (name, command, ready) in cases {
        let mut times: Vec<Duration> = (0..runs).map(|_| time_to_ready(command, ready())).collect();
        times.sort();
        let processes = match command {
            ["store", ..] => 1,
            [.., "redis"] => 7,
            _ => 6,
        };
        println!(
            "| {name} | {processes} | {} ms | {} ms | {runs} |",
            times[times.len() / 2].as_millis(),
            times.last().unwrap().as_millis()
        );
    }
}
