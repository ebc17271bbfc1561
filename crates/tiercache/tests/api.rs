//! The `serve`, `api`, `bench` and `demo` commands, run as the real binary.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tiercache_launch::{Launch, Process, Ready};
use tiercache_store::dataset::kepler;

use common::{http, http_as, run, start, store_service, terminate, tiercache};

/// `serve --nodes 2` on two consecutive free loopback ports (node i listens on the port +
/// i); returns it with its arguments. Another test can take the second port between the
/// check and serve's bind, so a start that lost that race is retried (bounded), over a data
/// directory of its own (the failed start may have loaded the dataset already).
fn serve_on_consecutive_ports(dir: &Path) -> (Process, Vec<String>) {
    for attempt in 0..5 {
        let port = tiercache_testkit::free_port();
        if TcpListener::bind(("127.0.0.1", port + 1)).is_err() {
            continue;
        }
        let listen = format!("127.0.0.1:{port}");
        let data = format!("data-{attempt}");
        let args: Vec<String> = ["serve", "--data", &data, "--listen", &listen]
            .into_iter()
            .chain(["--nodes", "2", "--no-progress"])
            .map(str::to_owned)
            .collect();
        let mut command = tiercache();
        command.args(&args).current_dir(dir);
        match Launch::new("tiercache serve", command)
            .ready(Ready::listening(2))
            .timeout(Duration::from_secs(60))
            .start()
        {
            Ok(serve) => return (serve, args),
            Err(error) if error.to_string().contains("Address already in use") => continue,
            Err(error) => panic!("{error}"),
        }
    }
    panic!("no two consecutive free loopback ports for serve in 5 tries");
}

#[test]
fn serve_answers_the_search_route_from_the_store_then_the_near_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, args) = serve_on_consecutive_ports(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let listen = args[4].to_owned();
    let port: u16 = listen.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(
        serve.addresses(),
        [listen.clone(), format!("127.0.0.1:{}", port + 1)]
    );

    let expected: Value = {
        let row = kepler::rows(42, kepler::DEFAULT_SEED).last().unwrap();
        serde_json::from_slice(&row.value).unwrap()
    };
    let (status, first) = http(&listen, "GET", "/search?id=42", "");
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["source"], "store");
    assert_eq!(first["value"], expected);
    let (_, second) = http(&listen, "GET", "/search?id=42", "");
    assert_eq!(second["source"], "near");
    assert_eq!(second["version"], first["version"]);
    // The second node shares the tier: the first node's fill is there.
    let (_, other) = http(&serve.addresses()[1], "GET", "/v1/objects/42", "");
    assert_eq!(
        (other["source"].as_str(), &other["value"]),
        (Some("shared"), &expected)
    );

    // The nodes share an in-process bus: a write through the first node makes the second
    // drop its near copy.
    let (_, held) = http(&serve.addresses()[1], "GET", "/v1/objects/42", "");
    assert_eq!(held["source"], "near");
    let (status, written) = http(&listen, "PUT", "/v1/objects/42", "\"replaced\"");
    assert_eq!(status, 200, "{written}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, seen) = http(&serve.addresses()[1], "GET", "/v1/objects/42", "");
        if seen["version"] == written["version"] {
            assert_eq!(seen["value"], "replaced");
            break;
        }
        assert_eq!(seen["version"], held["version"], "{seen}");
        assert!(
            std::time::Instant::now() < deadline,
            "node 1 kept the old copy for 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (_, stats) = http(&serve.addresses()[1], "GET", "/v1/stats", "");
    assert_eq!(stats["coherence"]["applied"], 1, "{stats}");

    // The load generator, on both nodes, as JSON.
    let targets = format!(
        "http://{},http://{}",
        serve.addresses()[0],
        serve.addresses()[1]
    );
    let (ok, stdout, stderr) = run(
        &[
            "bench",
            "--target",
            &targets,
            "--requests",
            "2000",
            "--concurrency",
            "4",
            "--write-ratio",
            "0.05",
            "--seed",
            "7",
            "--json",
            "--no-progress",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["requests"], 2000);
    assert_eq!(report["seed"], 7);
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    let reads = report["reads"].as_u64().unwrap();
    let writes = report["writes"].as_u64().unwrap();
    assert_eq!(reads + writes, 2000);
    assert!(
        (40..=200).contains(&writes),
        "{writes} writes for a ratio of 0.05"
    );
    let hits = &report["hits"];
    let answered = ["near", "shared", "store"].map(|t| hits[t].as_u64().unwrap());
    assert_eq!(
        answered.iter().sum::<u64>() + report["not_found"].as_u64().unwrap(),
        reads
    );
    assert!(answered[0] > 0 && report["latency"]["p99_us"].as_f64().unwrap() > 0.0);

    let stderr = terminate(serve);
    assert!(stderr.contains("loaded 9564 rows"), "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");

    // A second start finds the data and does not load it again; a bench write survived.
    let serve = start(&args, dir.path(), 2);
    let (status, _) = http(&serve.addresses()[0], "GET", "/search?id=9564", "");
    assert_eq!(status, 200);
    let stderr = terminate(serve);
    assert!(!stderr.contains("loaded"), "{stderr}");
}

#[test]
fn api_over_a_store_service_with_an_in_process_tier() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_service(dir.path());
    let store_url = format!("http://{}", store.addresses()[0]);
    let api = start(
        &[
            "api",
            "--store",
            &store_url,
            "--tier",
            "memory://",
            "--listen",
            "127.0.0.1:0",
        ],
        dir.path(),
        1,
    );
    let address = &api.addresses()[0];
    let (status, written) = http(address, "PUT", "/v1/objects/k", "{\"a\":1}");
    assert_eq!(status, 200, "{written}");
    let (_, read) = http(address, "GET", "/v1/objects/k", "");
    assert_eq!(
        (read["source"].as_str(), &read["value"]["a"]),
        (Some("near"), &Value::from(1))
    );
    let (status, metrics) = {
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        (text[9..12].to_owned(), text)
    };
    assert_eq!(status, "200");
    assert!(
        metrics.contains("tiercache_writes_total{node=\"api\"} 1"),
        "{metrics}"
    );

    // The store going away: reads of uncached keys are 503, cached ones still answer.
    drop(store);
    let (status, error) = http(address, "GET", "/v1/objects/other", "");
    assert_eq!(
        (status, error["error"].as_str()),
        (503, Some("unavailable")),
        "{error}"
    );
    let (status, _) = http(address, "GET", "/v1/objects/k", "");
    assert_eq!(status, 200);
    // A clean stop with the store gone still succeeds: the node's entry in the binder
    // lapses by itself.
    let log = terminate(api);
    assert!(
        log.contains("not deregistered (it lapses within one TTL)"),
        "{log}"
    );
}

#[test]
fn demo_prints_a_row_per_topology_and_policy_and_the_topologies_differ() {
    let dir = tempfile::tempdir().unwrap();
    // No near caches: every read reaches the shared tier, whose size then decides.
    let (ok, stdout, stderr) = run(
        &[
            "demo",
            "--requests",
            "3000",
            "--near-capacity",
            "0",
            // Well under what 3 000 requests touch, so eviction decides from the start.
            "--tier-capacity",
            "128KiB",
            "--no-progress",
            "--json",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let runs: Value = serde_json::from_str(&stdout).unwrap();
    let runs = runs.as_array().unwrap();
    let names: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["topology"].as_str().unwrap(),
                r["tier_policy"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("centralized", "allkeys-lru"),
            ("partitioned", "allkeys-lru"),
            ("replicated", "allkeys-lru"),
            ("centralized", "allkeys-lfu"),
            ("partitioned", "allkeys-lfu"),
            ("replicated", "allkeys-lfu"),
        ]
    );
    for run in runs {
        let outcome = &run["outcome"];
        let sent = outcome["reads"].as_u64().unwrap() + outcome["writes"].as_u64().unwrap();
        assert_eq!(sent, 3000, "{run}");
        assert_eq!(outcome["errors"], 0, "{run}");
        let ratios: f64 = ["near", "shared", "store"]
            .iter()
            .map(|r| outcome["shares"][r].as_f64().unwrap())
            .sum();
        assert!((ratios - 1.0).abs() < 1e-9, "{run}");
    }
    // Regression: the tier once held the whole table, so every topology answered the same
    // shares. With equal memory per node (smaller than the table), three partitions hold
    // more than one node, for each policy.
    let shared = |i: usize| runs[i]["outcome"]["shares"]["shared"].as_f64().unwrap();
    for (centralized, partitioned) in [(0, 1), (3, 4)] {
        assert!(
            shared(partitioned) > shared(centralized) + 0.02,
            "partitioned {} vs centralized {}",
            shared(partitioned),
            shared(centralized)
        );
    }
    // The table form names the seed so the run can be reproduced, and a winner; the
    // report of what ran is written and its path printed last.
    let (ok, stdout, stderr) = run(
        &[
            "demo",
            "--requests",
            "3000",
            "--near-capacity",
            "0",
            "--tier-capacity",
            "128KiB",
            "--no-progress",
            "--seed",
            "9",
            "--out",
            "shown",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("seed 9") && stdout.contains("partitioned"),
        "{stdout}"
    );
    assert!(stdout.contains("\nwinner: partitioned"), "{stdout}");
    let last = stdout.trim_end().lines().last().unwrap();
    assert_eq!(
        last,
        format!(
            "report: {}",
            Path::new("shown").join("index.html").display()
        )
    );
    let page = std::fs::read_to_string(dir.path().join("shown/index.html")).unwrap();
    assert!(
        page.contains("<svg") && page.contains("partitioned"),
        "no chart in the report"
    );
    for file in ["results.json", "results.csv"] {
        assert!(
            dir.path().join("shown").join(file).is_file(),
            "{file} missing"
        );
    }
    // A run too short to fill the tier names no winner rather than a false one.
    let (ok, stdout, stderr) = run(
        &[
            "demo",
            "--requests",
            "200",
            "--no-progress",
            "--out",
            "short",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\nno clear winner: "), "{stdout}");
}

#[test]
fn demo_launches_local_redis_topologies_with_the_tier_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(
        &[
            "demo",
            "--redis",
            "--requests",
            "300",
            "--no-progress",
            "--json",
            "--tier-policy",
            "allkeys-lfu",
            "--tier-capacity",
            "16MiB",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let runs: Value = serde_json::from_str(&stdout).unwrap();
    let runs = runs.as_array().unwrap();
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["topology"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[3..],
        ["redis centralized", "redis cluster", "redis replicated"]
    );
    for run in runs {
        let outcome = &run["outcome"];
        assert_eq!(outcome["errors"], 0, "{run}");
        let sent = outcome["reads"].as_u64().unwrap() + outcome["writes"].as_u64().unwrap();
        assert_eq!(sent, 300, "{run}");
    }
    assert!(dir.path().join("demo-report/redis/index.html").is_file());
    // A policy Redis does not have is refused before anything starts.
    let (ok, _, stderr) = run(&["demo", "--redis", "--tier-policy", "s3fifo"], dir.path());
    assert!(!ok);
    assert!(stderr.contains("Redis has no `s3fifo` policy"), "{stderr}");
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.tokens"), "# ops\nshort admin\n").unwrap();
    std::fs::write(
        dir.path().join("reader.tokens"),
        "reader-0123456789abcdef read\n",
    )
    .unwrap();
    let cases: [(&[&str], &str); 17] = [
        (
            &[
                "api",
                "--store",
                "sqlite://s.db",
                "--tier",
                "bogus://x",
                "--listen",
                "127.0.0.1:0",
            ],
            "bad tier URL",
        ),
        (
            &[
                "api",
                "--store",
                "http://127.0.0.1:1",
                "--listen",
                "127.0.0.1:0",
            ],
            "connecting to the store service",
        ),
        (
            &["api", "--store", "sqlite://s.db", "--policy", "most-recent"],
            "bad near-cache policy",
        ),
        (
            &["bench", "--target", "http://192.0.2.1:80"],
            "not a loopback address",
        ),
        (&["serve", "--nodes", "0"], "nodes must be between 1 and 64"),
        (&["serve", "--bus", "kafka://x:1"], "unknown scheme"),
        (&["serve", "--topics", "bucket:0"], "bucket:N needs N"),
        (&["api", "--write-mode", "write-back"], "unknown write mode"),
        (
            &["serve", "--invalidation", "eventually"],
            "unknown invalidation delivery",
        ),
        (
            &["api", "--max-connections", "0"],
            "max_connections must be at least 1",
        ),
        (
            &["api", "--header-timeout-ms", "0"],
            "header_timeout_ms must be from 1 to 600000",
        ),
        (
            &["serve", "--auth-tokens", "missing.tokens"],
            "reading the token file missing.tokens",
        ),
        (
            &["serve", "--auth-tokens", "bad.tokens"],
            "token file, line 2: a token must be at least 16 characters",
        ),
        (&["api", "--rate-limit=-1"], "rate_limit must be"),
        (
            &["up", "--auth-tokens", "reader.tokens", "--dir", "up-data"],
            "no token with the admin scope",
        ),
        (
            &["up", "--outbox", "5ms", "--dir", "up-data"],
            "outbox must be at least 100ms",
        ),
        (
            &["up", "--max-connections", "0", "--dir", "up-data"],
            "--max-connections must be at least 1",
        ),
    ];
    for (args, expected) in cases {
        let (ok, _, stderr) = run(args, dir.path());
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// `tiercache api` over a SQLite store in `dir`, on a free port, with `extra` flags.
fn standalone_api(dir: &Path, extra: &[&str]) -> Process {
    let mut args = vec!["api", "--store", "sqlite://s.db", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    start(&args, dir, 1)
}

#[test]
fn api_limits_slow_and_surplus_connections() {
    let dir = tempfile::tempdir().unwrap();
    let node = standalone_api(
        dir.path(),
        &["--header-timeout-ms", "300", "--max-connections", "1"],
    );
    let address = node.addresses()[0].clone();
    // Whether the server closed `stream` within `seconds` (a read timeout is "still open").
    let closed_within = |stream: &mut TcpStream, seconds: u64| {
        stream
            .set_read_timeout(Some(Duration::from_secs(seconds)))
            .unwrap();
        let mut buffer = [0u8; 256];
        match stream.read(&mut buffer) {
            Ok(read) => read == 0,
            Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        }
    };
    // Half a request: cut off after the header timeout (well before 5 s).
    let mut slow = TcpStream::connect(&address).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    assert!(closed_within(&mut slow, 5));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // One connection held: a second one is closed on accept, answered nothing.
    let mut held = TcpStream::connect(&address).unwrap();
    held.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buffer = [0u8; 512];
    let read = held.read(&mut buffer).unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
    let mut surplus = TcpStream::connect(&address).unwrap();
    let _ = surplus.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut answer = Vec::new();
    surplus
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = surplus.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    drop(held);
    terminate(node);
}

#[test]
fn serve_asks_for_the_tokens_of_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let reader = "reader-0123456789abcdef";
    let writer = "writer-0123456789abcdef";
    std::fs::write(
        dir.path().join("tokens"),
        format!("{reader} read\n{writer} write\n"),
    )
    .unwrap();
    let serve = start(
        &[
            "serve",
            "--data",
            "d",
            "--listen",
            "127.0.0.1:0",
            "--no-progress",
            "--auth-tokens",
            "tokens",
        ],
        dir.path(),
        1,
    );
    let address = serve.addresses()[0].clone();
    assert_eq!(http(&address, "GET", "/search?id=42", "").0, 401);
    let (code, body) = http_as(&address, "GET", "/search?id=42", "", Some(reader));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        http_as(&address, "PUT", "/v1/objects/42", "1", Some(reader)).0,
        403
    );
    assert_eq!(
        http_as(&address, "PUT", "/v1/objects/42", "1", Some(writer)).0,
        200
    );
}

/// The resident memory of process `pid`, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

/// Whether the server closed `stream` (a read answers end-of-stream or a reset at once).
fn closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let mut buffer = [0u8; 64];
    match stream.read(&mut buffer) {
        Ok(read) => read == 0,
        Err(error) => !matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// The slowloris case from the issue: 4 000 connections that sent a request line and half a
/// header are all closed within the header timeout (2 s here), while fresh requests keep
/// being answered.
#[test]
fn four_thousand_half_open_connections_are_closed_within_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let node = standalone_api(dir.path(), &["--header-timeout-ms", "2000"]);
    let address = node.addresses()[0].clone();
    let opening = std::time::Instant::now();
    // Each with the time it was opened: its own header timeout counts from then.
    let mut slow: Vec<(TcpStream, std::time::Instant)> = (0..4000)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            (stream, std::time::Instant::now())
        })
        .collect();
    println!(
        "4000 half-open connections opened in {:?}",
        opening.elapsed()
    );
    // Meanwhile, fresh requests are served.
    for _ in 0..10 {
        assert_eq!(http(&address, "GET", "/healthz", "").0, 200);
        std::thread::sleep(Duration::from_millis(50));
    }
    // The header timeout (2 s), plus room for a loaded machine to get to each.
    let allowed = Duration::from_secs(2) + Duration::from_secs(4);
    let mut longest = Duration::ZERO;
    while !slow.is_empty() {
        let now = std::time::Instant::now();
        slow.retain_mut(|(stream, opened)| {
            if closed(stream) {
                longest = longest.max(now - *opened);
                return false;
            }
            assert!(
                now - *opened < allowed,
                "a half-open connection is still open {:?} after it was opened",
                now - *opened
            );
            true
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    let opened = opening;
    println!(
        "4000 half-open connections all closed, {:?} after the first opened; each within {longest:?} of its opening (checked every 100 ms)",
        opened.elapsed()
    );
    assert_eq!(http(&address, "GET", "/healthz", "").0, 200);
}

/// 10 000 connection attempts beyond the connection limit are closed on accept, and the
/// server's resident memory grows by less than the stated bound (16 MiB) meanwhile.
#[test]
fn connections_beyond_the_limit_are_refused_without_memory_growth() {
    let dir = tempfile::tempdir().unwrap();
    let node = standalone_api(dir.path(), &["--max-connections", "50"]);
    let address = node.addresses()[0].clone();
    // Hold the limit.
    let held: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut buffer = [0u8; 512];
            let read = stream.read(&mut buffer).unwrap();
            assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
            stream
        })
        .collect();
    let before = resident_kib(node.id());
    let mut refused = 0;
    for _ in 0..10_000 {
        let Ok(mut stream) = TcpStream::connect(&address) else {
            continue;
        };
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        if answer.is_empty() {
            refused += 1;
        }
    }
    let after = resident_kib(node.id());
    println!(
        "10 000 attempts beyond the limit: {refused} refused; resident memory {before} KiB -> {after} KiB"
    );
    assert_eq!(
        refused, 10_000,
        "every attempt beyond the limit is closed unanswered"
    );
    assert!(
        after.saturating_sub(before) < 16 * 1024,
        "resident memory grew from {before} KiB to {after} KiB"
    );
    drop(held);
}
