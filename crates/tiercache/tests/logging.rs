//! What an operator reads: an API node whose pub/sub connection is killed logs the lost bus
//! session and the near-cache flush (`RUST_LOG=info`, text), `--log-format json` writes one
//! JSON object per line with the event's fields, `--log-level debug` adds a line per request,
//! `up --log-format json` passes the format on to its children, and a filter that does not
//! parse is refused before anything starts.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tiercache_launch::Process;
use tiercache_testkit::RedisServer;

use common::{http, run, start_with_env, store_service, up};

/// An API node over `store` with `redis` as its tier and bus, started with `args` and `env`.
fn api(
    dir: &Path,
    store: &Process,
    redis: &RedisServer,
    args: &[&str],
    env: &[(&str, &str)],
) -> Process {
    let store_url = format!("http://{}", store.addresses()[0]);
    let redis_url = redis.url();
    let mut all = vec![
        "api",
        "--store",
        store_url.as_str(),
        "--tier",
        redis_url.as_str(),
        "--bus",
        redis_url.as_str(),
        "--listen",
        "127.0.0.1:0",
    ];
    all.extend_from_slice(args);
    start_with_env(&all, dir, 1, env)
}

/// Kills every pub/sub connection of `redis` (the node's session) and waits (bounded: 10 s)
/// until `node`'s log holds every one of `wanted`; returns the log.
fn kill_pubsub_and_wait(redis: &RedisServer, node: &Process, wanted: &[&str]) -> String {
    let killed = redis
        .command(&["CLIENT", "KILL", "TYPE", "pubsub"])
        .unwrap();
    assert_ne!(killed.trim(), "0", "the node had a pub/sub connection");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = node.log().text();
        if wanted.iter().all(|line| log.contains(line)) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "not all of {wanted:?} in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every line of `log` but the `listening on` lines (stdout, in the same log), each parsed
/// as one JSON object; panics naming `who` and the line that is not one.
fn json_events(who: &str, log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| !line.starts_with("listening on"))
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{who}: not one JSON object: {e}: {line}"))
        })
        .collect()
}

#[test]
fn rust_log_info_shows_a_lost_bus_session_and_its_flush() {
    let redis = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let dir = tempfile::tempdir().unwrap();
    let store = store_service(dir.path());
    let node = api(dir.path(), &store, &redis, &[], &[("RUST_LOG", "info")]);
    // Something in the near cache, so the flush has something to drop.
    let address = &node.addresses()[0];
    assert_eq!(http(address, "PUT", "/v1/objects/k", "\"v\"").0, 200);
    http(address, "GET", "/v1/objects/k", "");
    let log = kill_pubsub_and_wait(
        &redis,
        &node,
        &[
            "bus session lost",
            "near cache flushed",
            "bus session restored",
        ],
    );
    let lost = log
        .lines()
        .find(|l| l.contains("bus session lost"))
        .unwrap();
    assert!(lost.contains("WARN"), "{lost}");
    assert!(lost.contains("reason="), "the event carries why: {lost}");
    let flushed = log
        .lines()
        .find(|l| l.contains("near cache flushed"))
        .unwrap();
    assert!(
        flushed.contains("INFO") && flushed.contains("cleared="),
        "{flushed}"
    );
    // Nothing at debug under `info`: no request lines.
    assert!(!log.contains("DEBUG"), "{log}");
}

#[test]
fn log_format_json_writes_one_object_per_line_and_debug_adds_requests() {
    let redis = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let dir = tempfile::tempdir().unwrap();
    let store = store_service(dir.path());
    let node = api(
        dir.path(),
        &store,
        &redis,
        &[
            "--log-format",
            "json",
            "--log-level",
            "info,tiercache_api=debug",
        ],
        &[],
    );
    let address = &node.addresses()[0];
    assert_eq!(http(address, "GET", "/v1/objects/nothing-here", "").0, 404);
    let log = kill_pubsub_and_wait(&redis, &node, &["bus session lost", "near cache flushed"]);
    let events = json_events("the API node", &log);
    assert!(
        events
            .iter()
            .all(|e| e["timestamp"].is_string() && e["level"].is_string())
    );
    let lost = events
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("bus session lost"))
        })
        .unwrap();
    assert_eq!(lost["level"], "WARN");
    assert!(
        lost["reason"].is_string() && lost["generation"].is_u64(),
        "{lost}"
    );
    let request = events
        .iter()
        .find(|e| e["message"] == "request" && e["path"] == "/v1/objects/nothing-here")
        .unwrap_or_else(|| panic!("no request line in {log}"));
    assert_eq!(
        (request["level"].as_str(), request["status"].as_u64()),
        (Some("DEBUG"), Some(404))
    );
    assert!(request["micros"].is_u64(), "{request}");
}

#[test]
fn a_filter_that_does_not_parse_is_refused_with_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(
        &["--log-level", "info,=[", "nodes", "--store", "x"],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.starts_with("error: --log-level"), "{stderr}");
    let (ok, _, stderr) = run(
        &["--log-format", "yaml", "nodes", "--store", "x"],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("yaml"), "{stderr}");
}

#[test]
fn up_passes_its_log_format_on_to_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let (up, _) = up(
        dir.path(),
        &["--nodes", "1", "--log-nodes", "0", "--log-format", "json"],
        &[],
    );
    let logs = dir.path().join("deployment/logs");
    for child in ["store", "admin-1", "api-1"] {
        let text = std::fs::read_to_string(logs.join(format!("{child}.log"))).unwrap();
        let events = json_events(child, &text);
        assert!(
            events.iter().any(|e| e["level"] == "INFO"),
            "{child} logged no event: {text}"
        );
    }
    drop(up);
}
