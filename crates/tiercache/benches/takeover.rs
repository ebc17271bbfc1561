//! How long the admin takes to hand over: a `tiercache store` and three `tiercache admin`
//! instances (release build), the active killed with SIGKILL, timed until another instance
//! answers `GET /v1/admin` as active. Five rounds per lease (the killed instance is started
//! again between rounds); median and max, and their ratio to the lease.
//!
//! `cargo bench -p tiercache --bench takeover [-- --rounds 5 --leases 1000,3000]`; under
//! `cargo test --all-targets` one round with a 300 ms lease, as a smoke test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use tiercache_launch::{Launch, Process, Ready, free_port};
use tiercache_testkit::bench::BenchArgs;

const TIERCACHE: &str = env!("CARGO_BIN_EXE_tiercache");

fn start(args: &[String]) -> Process {
    let mut command = Command::new(TIERCACHE);
    command.args(args);
    Launch::new(format!("tiercache {}", args[0]), command)
        .ready(Ready::listening(1))
        .start()
        .unwrap_or_else(|error| panic!("{error}"))
}

/// The role `GET /v1/admin` answers, or `None` when the instance does not answer.
fn role(address: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET /v1/admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let body = answer.split_once("\r\n\r\n")?.1;
    let status: serde_json::Value = serde_json::from_str(body).ok()?;
    status["role"].as_str().map(str::to_owned)
}

fn wait_for_active(admins: &[Process], skip: Option<usize>, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        for (i, admin) in admins.iter().enumerate() {
            if Some(i) != skip && role(&admin.addresses()[0]).as_deref() == Some("active") {
                return i;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no active admin after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn admin(store: &str, n: usize, port: u16, lease_ms: u64) -> Process {
    start(&[
        "admin".into(),
        "--store".into(),
        store.into(),
        "--id".into(),
        format!("admin-{n}"),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--lease-ms".into(),
        lease_ms.to_string(),
    ])
}

/// Takeover times of `rounds` kills under lease `lease_ms`.
fn measure(lease_ms: u64, rounds: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("store.db").display());
    let _store = start(&[
        "store".into(),
        "--db".into(),
        db,
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]);
    let store = format!("http://{}", _store.addresses()[0]);
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut admins: Vec<Process> = (0..3)
        .map(|n| admin(&store, n, ports[n], lease_ms))
        .collect();
    let mut times = Vec::new();
    for round in 0..rounds {
        let active = wait_for_active(&admins, None, Duration::from_millis(5 * lease_ms));
        // Let the standbys settle (heard a heartbeat, tried the lease), then kill at a
        // different point of the tick each round: the time since the last renewal varies
        // from 0 to a tick, and with it the takeover time.
        let tick = lease_ms / 3;
        let phase = tick * round as u64 / rounds as u64;
        std::thread::sleep(Duration::from_millis(lease_ms / 2 + phase));
        let killed = Instant::now();
        admins[active].kill().unwrap();
        wait_for_active(&admins, Some(active), Duration::from_millis(5 * lease_ms));
        times.push(killed.elapsed());
        admins[active] = admin(&store, active, ports[active], lease_ms);
    }
    times
}

fn main() {
    // A smoke run (one round, a short lease) under `cargo test --all-targets`.
    let args = BenchArgs::from_env();
    let rounds = args.value_or("--rounds", 5, 1);
    let leases: Vec<u64> = args
        .value::<String>("--leases")
        .map(|list| {
            list.split(',')
                .map(|ms| ms.parse().expect("--leases MS,MS"))
                .collect()
        })
        .unwrap_or_else(|| {
            if args.full {
                vec![1000, 3000]
            } else {
                vec![300]
            }
        });
    println!("| lease | takeover median | max | median / lease | max / lease | rounds |");
    println!("|---|---|---|---|---|---|");
    for lease_ms in leases {
        let mut times = measure(lease_ms, rounds);
        times.sort();
        let median = times[times.len() / 2];
        let max = *times.last().unwrap();
        let ratio = |t: Duration| t.as_secs_f64() * 1000.0 / lease_ms as f64;
        println!(
            "| {lease_ms} ms | {} ms | {} ms | {:.2} | {:.2} | {rounds} |",
            median.as_millis(),
            max.as_millis(),
            ratio(median),
            ratio(max)
        );
    }
}
