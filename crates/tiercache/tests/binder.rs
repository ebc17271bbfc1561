//! The binder in use, with real processes: a `tiercache store` and `tiercache api` nodes
//! registering in it; `nodes` lists only the live ones after a kill -9 (within one TTL) and
//! at once after a clean stop; `bench --discover` drives exactly the live API nodes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{http, run, start, store_service, terminate};

/// The nodes' heartbeat in these tests: an entry lives three of them.
const HEARTBEAT_MS: u64 = 200;

/// `tiercache nodes --store URL --role api --json`: (id, address) of each live API node.
fn live_api_nodes(store: &str, dir: &Path) -> Vec<(String, String)> {
    let (ok, stdout, stderr) = run(&["nodes", "--store", store, "--role", "api", "--json"], dir);
    assert!(ok, "{stderr}");
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    listing["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            assert_eq!(node["role"], "api", "{node}");
            let expires_in = node["expires_in_ms"].as_i64().unwrap();
            assert!(expires_in <= 3 * HEARTBEAT_MS as i64 + 100, "{node}");
            let text = |key: &str| node[key].as_str().unwrap().to_owned();
            (text("id"), text("address"))
        })
        .collect()
}

/// Polls `nodes` until it lists exactly `expected`, failing after `within`.
fn wait_for_nodes(store: &str, dir: &Path, expected: &[(String, String)], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let live = live_api_nodes(store, dir);
        if live == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {within:?} the binder lists {live:?}, not {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_binder_lists_only_live_nodes_and_bench_discovers_exactly_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_service(dir.path());
    let store_url = format!("http://{}", store.addresses()[0]);
    let heartbeat = HEARTBEAT_MS.to_string();
    let api = |id: &str| {
        let args = [
            "api",
            "--store",
            &store_url,
            "--listen",
            "127.0.0.1:0",
            "--id",
            id,
            "--heartbeat-ms",
            &heartbeat,
        ];
        start(&args, dir.path(), 1)
    };
    let mut killed = api("a");
    let survivor = api("b");
    let entry = |id: &str, process: &tiercache_launch::Process| {
        (id.to_owned(), format!("http://{}", process.addresses()[0]))
    };
    let (a, b) = (entry("a", &killed), entry("b", &survivor));
    // Registered before `listening on`: both are listed at once.
    assert_eq!(live_api_nodes(&store_url, dir.path()), [a, b.clone()]);
    // Still listed after several TTLs: their heartbeats renew them.
    std::thread::sleep(Duration::from_millis(4 * 3 * HEARTBEAT_MS));
    assert_eq!(live_api_nodes(&store_url, dir.path()).len(), 2);

    // kill -9: nothing deregisters; the entry lapses within one TTL of the last heartbeat.
    killed.kill().unwrap();
    let ttl = Duration::from_millis(3 * HEARTBEAT_MS);
    wait_for_nodes(
        &store_url,
        dir.path(),
        std::slice::from_ref(&b),
        ttl + Duration::from_secs(1),
    );

    // bench --discover targets exactly the live node: every request answered (a target
    // that is down would count connection errors), and the node served them all.
    let requests_before = served_requests(&survivor);
    let (ok, stdout, stderr) = run(
        &[
            "bench",
            "--discover",
            &store_url,
            "--requests",
            "200",
            "--concurrency",
            "4",
            "--json",
            "--no-progress",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!("discovered API nodes {}\n", b.1)),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["requests"], 200, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert_eq!(served_requests(&survivor) - requests_before, 200);

    // A clean stop deregisters at once: no wait for the TTL.
    let log = terminate(survivor);
    assert!(log.contains("registered as api/b"), "{log}");
    assert!(live_api_nodes(&store_url, dir.path()).is_empty());

    // With no node registered, bench --discover says so.
    let (ok, _, stderr) = run(&["bench", "--discover", &store_url], dir.path());
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        format!("error: no live API node is registered in the store at {store_url}")
    );
}

/// The reads and writes a node answered, from its `/v1/stats`.
fn served_requests(node: &tiercache_launch::Process) -> u64 {
    let (status, stats) = http(&node.addresses()[0], "GET", "/v1/stats", "");
    assert_eq!(status, 200, "{stats}");
    let count = |key: &str| {
        stats[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {stats}"))
    };
    count("reads") + count("writes")
}

#[test]
fn serve_registers_its_nodes_in_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "serve",
        "--data",
        "data",
        "--listen",
        "127.0.0.1:0",
        "--nodes",
        "2",
        "--no-progress",
    ];
    let serve = start(&args, dir.path(), 2);
    let db = "sqlite://data/tiercache.db";
    let expected: Vec<(String, String)> = serve
        .addresses()
        .iter()
        .enumerate()
        .map(|(index, address)| (format!("api-{index}"), format!("http://{address}")))
        .collect();
    let (ok, stdout, stderr) = run(&["nodes", "--store", db, "--json"], dir.path());
    assert!(ok, "{stderr}");
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    let listed: Vec<(String, String)> = listing["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let text = |key: &str| node[key].as_str().unwrap().to_owned();
            (text("id"), text("address"))
        })
        .collect();
    assert_eq!(listed, expected);
    // The table: a header and one line per node.
    let (ok, table, stderr) = run(&["nodes", "--store", db], dir.path());
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("ROLE") && lines[0].ends_with("EXPIRES IN"),
        "{table}"
    );
    assert!(lines[1].starts_with("api   api-0  http://"), "{table}");
    terminate(serve);
    let (ok, table, stderr) = run(&["nodes", "--store", db], dir.path());
    assert!(ok, "{stderr}");
    assert_eq!(table.lines().count(), 1, "{table}");
    assert!(
        stderr.starts_with("no live node of api, admin, log in"),
        "{stderr}"
    );
}

#[test]
fn nodes_with_an_unreachable_store_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", tiercache_testkit::free_port());
    for args in [
        vec!["nodes", "--store", url.as_str()],
        vec!["bench", "--discover", url.as_str()],
    ] {
        let (ok, stdout, stderr) = run(&args, dir.path());
        assert!(!ok && stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: connecting to the store service at {url}")),
            "{args:?}: {stderr}"
        );
    }
    // --discover and --target are exclusive.
    let (ok, _, stderr) = run(
        &[
            "bench",
            "--discover",
            &url,
            "--target",
            "http://127.0.0.1:1",
        ],
        dir.path(),
    );
    assert!(!ok && stderr.contains("cannot be used with"), "{stderr}");
}
