//! The coherence guarantees end to end, as a user would check them, with the real binary:
//!
//! * `tiercache serve --nodes 3` and `tiercache bench --check-staleness`, with the
//!   in-process bus and with a real redis-server as the bus. Each run is 200 000 operations
//!   over the Kepler-like dataset's 9 564 keys (Zipf 0.99), 10 % writes, spread over the
//!   three nodes by 12 workers.
//! * write-behind: what `kill -9` loses, and that a graceful stop loses nothing.
//! * a writer that dies between its store commit and its invalidation: the other copies
//!   still converge, within twice `--max-age`.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;
use tiercache_testkit::RedisServer;

use common::{http, run, start, start_with_env, store_service, terminate};
use tiercache_launch::Process;

const OPERATIONS: u64 = 200_000;

/// Starts three coherent nodes with `serve_args`, runs the checker against them, and
/// returns (whether bench succeeded, its JSON report, its stderr).
fn serve_and_check(serve_args: &[&str]) -> (bool, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    serve_and_check_in(dir.path(), serve_args, &[], None)
}

/// [`serve_and_check`] in `dir`, with `env` for `serve` and, with `certs`, TLS: the nodes
/// serve it with the `api` certificate and bench trusts the CA.
fn serve_and_check_in(
    dir: &std::path::Path,
    serve_args: &[&str],
    env: &[(&str, &str)],
    certs: Option<&std::path::Path>,
) -> (bool, Value, String) {
    let tls_flags = |role: &str| -> Vec<String> {
        let Some(certs) = certs else {
            return Vec::new();
        };
        let files = tiercache_tls::certs::role_files(certs, role);
        let mut flags = vec!["--tls-ca".to_owned(), files.ca.display().to_string()];
        if role != "client" {
            flags.extend([
                "--tls-cert".to_owned(),
                files.cert.unwrap().display().to_string(),
                "--tls-key".to_owned(),
                files.key.unwrap().display().to_string(),
            ]);
        }
        flags
    };
    let scheme = if certs.is_some() { "https" } else { "http" };
    let mut args = vec![
        "serve",
        "--nodes",
        "3",
        "--listen",
        "127.0.0.1:0",
        "--no-progress",
    ];
    args.extend_from_slice(serve_args);
    let serve_tls = tls_flags("api");
    args.extend(serve_tls.iter().map(String::as_str));
    let serve = start_with_env(&args, dir, 3, env);
    let nodes: Vec<String> = serve
        .addresses()
        .iter()
        .map(|address| format!("{scheme}://{address}"))
        .collect();
    let requests = OPERATIONS.to_string();
    let bench_tls = tls_flags("client");
    let nodes = nodes.join(",");
    let mut bench_args = vec![
        "bench",
        "--nodes",
        &nodes,
        "--write-ratio",
        "0.1",
        "--requests",
        &requests,
        "--concurrency",
        "12",
        "--check-staleness",
        "--no-progress",
        "--json",
        "--max-seconds",
        "900",
    ];
    bench_args.extend(bench_tls.iter().map(String::as_str));
    let (ok, stdout, stderr) = run(&bench_args, dir);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("bench printed no JSON ({error}): {stdout}\n{stderr}"));
    terminate(serve);
    (ok, report, stderr)
}

/// What every run must show: every operation answered, the history checked, notices
/// flowing.
fn assert_complete_run(report: &Value) {
    assert_eq!(report["requests"], OPERATIONS, "{report}");
    assert_eq!(report["truncated"], false);
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    let staleness = &report["staleness"];
    let checked = staleness["reads"].as_u64().unwrap() + staleness["writes"].as_u64().unwrap();
    assert_eq!(checked, OPERATIONS, "every operation is in the history");
    assert!(staleness["writes"].as_u64().unwrap() > OPERATIONS / 20);
    let coherence = &report["coherence"];
    assert_eq!(coherence["published"], staleness["writes"]);
    assert!(coherence["applied"].as_u64().unwrap() > 0, "{coherence}");
    assert!(
        coherence["delay_count"].as_u64().unwrap() > 0,
        "{coherence}"
    );
    // Reads were served from near caches, so coherence had something to protect.
    assert!(report["hits"]["near"].as_u64().unwrap() > OPERATIONS / 4);
}

fn assert_no_stale_read_in_sync_mode(bus: &str) {
    let (ok, report, stderr) = serve_and_check(&["--invalidation", "sync", "--bus", bus]);
    assert_sync_run_without_stale_reads(ok, &report, &stderr);
}

/// The same check with everything secured: the nodes serve TLS (bench checks their
/// certificate), and reach Redis as an ACL user with only the documented rights, its
/// password in a file. `bus` gets `USER@` put before its addresses.
fn assert_no_stale_read_in_sync_mode_secured(
    bus: &str,
    add_user: impl Fn(&str, &str, &str) -> std::io::Result<()>,
) {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    tiercache_tls::certs::generate(&certs, &Default::default()).unwrap();
    let password = "coherence-test-password";
    let password_file = dir.path().join("redis.password");
    std::fs::write(&password_file, password).unwrap();
    let rights = format!(
        "{} {}",
        tiercache_tier::REQUIRED_RIGHTS,
        tiercache_bus::REQUIRED_RIGHTS
    );
    let bus = match bus.split_once("://") {
        Some((scheme, rest)) if scheme.starts_with("redis") => {
            add_user("tc-api", password, &rights).unwrap();
            format!("{scheme}://tc-api@{rest}")
        }
        _ => bus.to_owned(),
    };
    let env = [(
        "TIERCACHE_REDIS_PASSWORD_FILE",
        password_file.to_str().unwrap(),
    )];
    let (ok, report, stderr) = serve_and_check_in(
        dir.path(),
        &["--invalidation", "sync", "--bus", &bus],
        &env,
        Some(&certs),
    );
    assert_sync_run_without_stale_reads(ok, &report, &stderr);
}

fn assert_sync_run_without_stale_reads(ok: bool, report: &Value, stderr: &str) {
    assert!(ok, "{stderr}");
    assert_complete_run(report);
    assert_eq!(
        report["coherence"]["delivery"],
        serde_json::json!(["sync", "sync", "sync"])
    );
    assert!(report["coherence"]["acks_sent"].as_u64().unwrap() > 0);
    assert_eq!(
        report["staleness"]["stale_reads"], 0,
        "{}",
        report["staleness"]
    );
}

#[test]
fn sync_delivery_serves_no_stale_read_with_the_in_process_bus() {
    assert_no_stale_read_in_sync_mode("memory://");
}

#[test]
fn sync_delivery_serves_no_stale_read_with_the_redis_bus() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    assert_no_stale_read_in_sync_mode(&format!("redis://{}", server.address()));
}

#[test]
fn sync_delivery_serves_no_stale_read_over_tls_with_the_in_process_bus() {
    assert_no_stale_read_in_sync_mode_secured("memory://", |_, _, _| Ok(()));
}

#[test]
fn sync_delivery_serves_no_stale_read_over_tls_as_an_acl_user_on_redis() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    assert_no_stale_read_in_sync_mode_secured(
        &format!("redis://{}", server.address()),
        |name, password, rights| server.add_user(name, password, rights),
    );
}

#[test]
fn sync_delivery_serves_no_stale_read_over_tls_as_an_acl_user_on_a_redis_cluster() {
    let cluster = tiercache_testkit::RedisCluster::start(3, 0)
        .expect("redis-server must be installed (scripts/test.sh)");
    assert_no_stale_read_in_sync_mode_secured(&cluster.url(), |name, password, rights| {
        cluster.add_user(name, password, rights)
    });
}

/// Asynchronous delivery may serve stale reads, but only within the time notices take to
/// arrive: the bench fails otherwise, and the report states the worst case.
#[test]
fn async_delivery_is_stale_only_within_the_measured_delay() {
    let (ok, report, stderr) = serve_and_check(&["--invalidation", "async"]);
    assert!(ok, "{stderr}");
    assert_complete_run(&report);
    let staleness = &report["staleness"];
    let worst_lag = staleness["worst_lag_us"].as_f64().unwrap();
    let delay_max = report["coherence"]["delay_max_us"].as_f64().unwrap();
    assert!(
        worst_lag <= delay_max,
        "lag {worst_lag} µs beyond the measured delay {delay_max} µs"
    );
    assert_eq!(report["coherence"]["acks_sent"], 0);
}

/// Starts one write-behind node over the database in `dir`.
fn write_behind_node(dir: &std::path::Path, flush_interval_ms: u64) -> Process {
    let interval = format!("{flush_interval_ms}ms");
    start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-progress",
            "--write-mode",
            "write-behind",
            "--flush-interval",
            &interval,
        ],
        dir,
        1,
    )
}

/// `kill -9` of a write-behind node loses at most the writes answered within the last
/// flush interval (plus the flush that was running): every older write is in the store
/// when the node comes back. Reports how much was lost.
#[test]
fn kill_9_in_write_behind_loses_at_most_the_unflushed_interval() {
    const INTERVAL_MS: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let mut node = write_behind_node(dir.path(), INTERVAL_MS);
    let address = node.addresses()[0].clone();
    let started = Instant::now();
    let mut answered = Vec::new();
    // About a second and a half of writes, each to its own key, then the kill.
    while started.elapsed() < Duration::from_millis(1500) && answered.len() < 20_000 {
        let key = format!("wb-{}", answered.len());
        let (status, body) = http(&address, "PUT", &format!("/v1/objects/{key}"), "{}");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["pending"], true, "{body}");
        answered.push((key, Instant::now()));
    }
    node.kill().unwrap();
    let killed = Instant::now();

    let node = write_behind_node(dir.path(), INTERVAL_MS);
    let address = node.addresses()[0].clone();
    let mut lost = Vec::new();
    for (key, at) in &answered {
        let (status, _) = http(&address, "GET", &format!("/v1/objects/{key}"), "");
        match status {
            200 => {}
            404 => lost.push(killed - *at),
            other => panic!("GET {key}: {other}"),
        }
    }
    let oldest_lost = lost.iter().max().copied().unwrap_or_default();
    eprintln!(
        "kill -9 in write-behind (flush every {INTERVAL_MS} ms): lost {} of {} answered writes; the oldest lost was answered {:?} before the kill",
        lost.len(),
        answered.len(),
        oldest_lost
    );
    // The bound: one interval until the flush picks a write up, plus the time that flush
    // takes (generous for a debug build on a busy machine).
    let bound = Duration::from_millis(INTERVAL_MS) + Duration::from_millis(800);
    assert!(
        oldest_lost <= bound,
        "a write answered {oldest_lost:?} before the kill was lost (bound {bound:?})"
    );
    assert!(answered.len() > 100, "too few writes to mean anything");
    terminate(node);
}

/// A graceful stop (SIGTERM) flushes first: nothing answered is lost, however long the
/// interval.
#[test]
fn a_graceful_stop_in_write_behind_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = write_behind_node(dir.path(), 3_600_000);
    let address = node.addresses()[0].clone();
    for n in 0..50 {
        let (status, _) = http(&address, "PUT", &format!("/v1/objects/g-{n}"), "{}");
        assert_eq!(status, 200);
    }
    let (_, stats) = http(&address, "GET", "/v1/stats", "");
    assert_eq!(
        stats["write_behind"]["pending_keys"], 50,
        "nothing flushed yet"
    );
    terminate(node);

    let node = write_behind_node(dir.path(), 3_600_000);
    let address = node.addresses()[0].clone();
    for n in 0..50 {
        let (status, body) = http(&address, "GET", &format!("/v1/objects/g-{n}"), "");
        assert_eq!(status, 200, "g-{n} lost");
        assert_eq!(body["source"], "store");
    }
    terminate(node);
}

/// Sends one request and ignores whatever happens to the connection (the server may die
/// while answering).
fn fire(address: &str, method: &str, path: &str, body: &str) {
    use std::io::{Read, Write};
    if let Ok(mut stream) = std::net::TcpStream::connect(address) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

/// For the crashed-writer tests: a redis-server (tier and bus) and a store service, and
/// the `api` command line over them with `extra` flags (listening on a free port).
fn crash_deployment(extra: &[&str]) -> (RedisServer, tempfile::TempDir, Process, Vec<String>) {
    let redis = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let redis_url = format!("redis://{}", redis.address());
    let dir = tempfile::tempdir().unwrap();
    let store = store_service(dir.path());
    let store_url = format!("http://{}", store.addresses()[0]);
    let mut api_args: Vec<String> = ["api", "--store", &store_url, "--tier", &redis_url]
        .into_iter()
        .chain(["--bus", &redis_url, "--listen", "127.0.0.1:0"])
        .map(str::to_owned)
        .collect();
    api_args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    (redis, dir, store, api_args)
}

/// The failpoint aborts a writer right after its store commit: no shared-tier delete, no
/// notice. With the outbox off, another node keeps its copy (and the tier its value) only
/// until `--max-age` retires them; it then reads the committed version. The bound is twice
/// the max age (a near copy filled from a tier value just before that value expired); the
/// test measures the real time and reports it.
#[test]
fn without_the_outbox_a_killed_writer_leaves_copies_that_expire() {
    const MAX_AGE_MS: u64 = 1000;
    let max_age = format!("{MAX_AGE_MS}ms");
    let (_redis, dir, store, api_args) =
        crash_deployment(&["--max-age", &max_age, "--outbox", "none"]);
    let api_args: Vec<&str> = api_args.iter().map(String::as_str).collect();
    let reader = start(&api_args, dir.path(), 1);
    let mut writer = start_with_env(
        &api_args,
        dir.path(),
        1,
        &[("TIERCACHE_FAILPOINT", "crash-after-commit")],
    );
    let (r, w) = (reader.addresses()[0].clone(), writer.addresses()[0].clone());
    let (status, _) = http(&r, "PUT", "/v1/objects/k", "\"one\"");
    assert_eq!(status, 200);
    http(&r, "GET", "/v1/objects/k", "");
    let (_, held) = http(&r, "GET", "/v1/objects/k", "");
    assert_eq!(
        (held["value"].as_str(), held["source"].as_str()),
        (Some("one"), Some("near"))
    );

    fire(&w, "PUT", "/v1/objects/k", "\"two\"");
    let crashed = Instant::now();
    let status = writer.wait_exit(Duration::from_secs(10)).unwrap();
    assert!(
        !status.success(),
        "the failpoint aborts the writer: {status}"
    );
    // Nobody told the reader: it still serves its copy.
    let (_, stale) = http(&r, "GET", "/v1/objects/k", "");
    assert_eq!(stale["value"], "one", "{stale}");
    let converged = loop {
        let (_, answer) = http(&r, "GET", "/v1/objects/k", "");
        if answer["value"] == "two" {
            break crashed.elapsed();
        }
        assert!(
            crashed.elapsed() < Duration::from_secs(30),
            "never converged: {answer}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!(
        "writer killed between commit and publish: the other node served the old version for {converged:?} (max age {MAX_AGE_MS} ms, bound {} ms)",
        2 * MAX_AGE_MS
    );
    assert!(
        converged <= Duration::from_millis(2 * MAX_AGE_MS + 500),
        "converged after {converged:?}"
    );
    terminate(reader);
    terminate(store);
}

/// The same crash with the outbox on (and the copies' max age at its default, a minute):
/// the reader's sweep finds the write's notice unconfirmed after `--outbox` and replays it,
/// so the reader converges within the outbox delay plus a sweep — in each of five runs,
/// each with a new writer killed by the failpoint.
#[test]
fn with_the_outbox_a_killed_writer_s_write_reaches_every_copy_within_seconds() {
    const OUTBOX_MS: u64 = 1000;
    let outbox = format!("{OUTBOX_MS}ms");
    let (_redis, dir, store, api_args) = crash_deployment(&["--outbox", &outbox]);
    let api_args: Vec<&str> = api_args.iter().map(String::as_str).collect();
    let reader = start(&api_args, dir.path(), 1);
    let r = reader.addresses()[0].clone();
    let bound = Duration::from_millis(OUTBOX_MS + 1000 + 1000);
    let mut times = Vec::new();
    for run in 0..5 {
        let (old, new) = (format!("\"old-{run}\""), format!("new-{run}"));
        assert_eq!(http(&r, "PUT", "/v1/objects/k", &old).0, 200);
        http(&r, "GET", "/v1/objects/k", "");
        let (_, held) = http(&r, "GET", "/v1/objects/k", "");
        assert_eq!(held["source"], "near", "{held}");
        let mut writer = start_with_env(
            &api_args,
            dir.path(),
            1,
            &[("TIERCACHE_FAILPOINT", "crash-after-commit")],
        );
        let w = writer.addresses()[0].clone();
        fire(&w, "PUT", "/v1/objects/k", &format!("\"{new}\""));
        let crashed = Instant::now();
        let status = writer.wait_exit(Duration::from_secs(10)).unwrap();
        assert!(
            !status.success(),
            "the failpoint aborts the writer: {status}"
        );
        let converged = loop {
            let (_, answer) = http(&r, "GET", "/v1/objects/k", "");
            if answer["value"] == new.as_str() {
                break crashed.elapsed();
            }
            assert!(
                crashed.elapsed() < Duration::from_secs(30),
                "run {run} never converged: {answer}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(
            converged <= bound,
            "run {run}: converged after {converged:?} (bound {bound:?})"
        );
        times.push(converged);
    }
    eprintln!(
        "writer killed between commit and publish, outbox {OUTBOX_MS} ms: the other node converged after {times:?} (bound {bound:?}; max age 60 s)"
    );
    let (_, stats) = http(&r, "GET", "/v1/stats", "");
    assert!(
        stats["outbox"]["replayed"].as_u64().unwrap() >= 5,
        "{stats}"
    );
    terminate(reader);
    terminate(store);
}
