//! The admin in warm standby, with real processes: a `tiercache store` and three
//! `tiercache admin` instances. A kill -9 of the active hands over within two leases at a
//! higher epoch with every assignment; a paused active has its writes refused by the epoch
//! fence and steps down on its own; a store restart loses nothing.
//!
//! Log nodes do not exist yet: their binder entries are registered through the store's own
//! registry RPCs, and left to lapse.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tiercache_launch::{Process, free_port};
use tiercache_store::{Limits, Registry, StoreClient};

use common::{http, start, terminate};

/// The admins' lease in these tests.
const LEASE_MS: u64 = 1000;

/// `tiercache store` over `store.db` in `dir`, on `port`.
fn store_on(dir: &Path, port: u16) -> Process {
    let listen = format!("127.0.0.1:{port}");
    start(
        &["store", "--db", "sqlite://store.db", "--listen", &listen],
        dir,
        1,
    )
}

/// Three admins over the store at `store`.
fn admins(store: &str, dir: &Path) -> Vec<Process> {
    let lease = LEASE_MS.to_string();
    (1..=3)
        .map(|n| {
            let id = format!("admin-{n}");
            let args = [
                "admin",
                "--store",
                store,
                "--id",
                &id,
                "--listen",
                "127.0.0.1:0",
                "--lease-ms",
                &lease,
                "--heartbeat-ms",
                "200",
            ];
            start(&args, dir, 1)
        })
        .collect()
}

fn status(admin: &Process) -> Value {
    let (code, body) = http(&admin.addresses()[0], "GET", "/v1/admin", "");
    assert_eq!(code, 200, "{body}");
    body
}

/// Polls until exactly one of `admins` (all alive) answers as active; returns its index.
fn wait_for_one_active(admins: &[&Process], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let active: Vec<usize> = (0..admins.len())
            .filter(|&i| status(admins[i])["role"] == "active")
            .collect();
        if active.len() == 1 {
            return active[0];
        }
        assert!(
            Instant::now() < deadline,
            "after {within:?}: active {active:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Registers log nodes `ids` through the store's registry RPCs, each living `ttl`.
fn register_log_nodes(store: &str, ids: &[&str], ttl: Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = StoreClient::connect(store, Limits::default())
            .await
            .unwrap();
        for id in ids {
            client
                .register("log", id, &format!("http://{id}.log"), ttl)
                .await
                .unwrap();
        }
    });
}

fn activate(admin: &Process, app: &str) -> Vec<String> {
    let (code, body) = http(
        &admin.addresses()[0],
        "POST",
        &format!("/v1/admin/apps/{app}"),
        "",
    );
    assert_eq!(code, 200, "{body}");
    body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn killing_the_active_hands_over_within_two_leases_with_every_assignment() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _store = store_on(dir.path(), port);
    let store = format!("127.0.0.1:{port}");
    register_log_nodes(&store, &["a", "b", "c", "d"], Duration::from_secs(60));
    let mut admins = admins(&format!("http://{store}"), dir.path());
    let all: Vec<&Process> = admins.iter().collect();
    let first = wait_for_one_active(&all, Duration::from_secs(5));
    let before = status(all[first]);
    let assigned: Vec<Vec<String>> = ["shop", "blog", "wiki"]
        .iter()
        .map(|app| activate(all[first], app))
        .collect();
    assert_eq!(assigned[0], ["a", "b", "c"]);
    // Every instance is in the binder, answers its health check and exposes its counters.
    let (ok, listing, stderr) = common::run(
        &[
            "nodes",
            "--store",
            &format!("http://{store}"),
            "--role",
            "admin",
            "--json",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let listing: Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(listing["nodes"].as_array().unwrap().len(), 3, "{listing}");
    for admin in &all {
        let (code, body) = http(&admin.addresses()[0], "GET", "/healthz", "");
        assert_eq!((code, body["ok"].as_bool()), (200, Some(true)), "{body}");
    }
    let metrics = common::http_text(&all[first].addresses()[0], "/metrics");
    assert!(
        metrics.contains("tiercache_admin_state_writes_total{admin=\"admin-"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tiercache_admin_active{") && metrics.contains("} 1\n"),
        "{metrics}"
    );
    // A standby refuses, naming the active.
    let standby = (first + 1) % 3;
    let (code, body) = http(
        &admins[standby].addresses()[0],
        "POST",
        "/v1/admin/apps/other",
        "",
    );
    assert_eq!(
        (code, body["error"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );

    // Warm standby: both standbys hear the active and hold its state before it dies.
    let active_url = format!("http://{}", all[first].addresses()[0]);
    for standby in (0..3).filter(|&i| i != first) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let copy = status(all[standby]);
            if copy["apps"] == status(all[first])["apps"]
                && copy["active"]["url"] == active_url.as_str()
            {
                assert_eq!(copy["epoch"], status(all[first])["epoch"], "{copy}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "standby {standby} is not warm: {copy}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    let killed_at = Instant::now();
    admins[first].kill().unwrap();
    let rest: Vec<&Process> = (0..3).filter(|&i| i != first).map(|i| &admins[i]).collect();
    let next = wait_for_one_active(&rest, Duration::from_millis(2 * LEASE_MS));
    let took = killed_at.elapsed();
    assert!(took < Duration::from_millis(2 * LEASE_MS), "took {took:?}");
    let after = status(rest[next]);
    assert!(
        after["epoch"].as_u64() > before["epoch"].as_u64(),
        "{after} after {before}"
    );
    for (app, nodes) in ["shop", "blog", "wiki"].iter().zip(&assigned) {
        let urls: Vec<String> = nodes.iter().map(|id| format!("http://{id}.log")).collect();
        assert_eq!(
            after["apps"][app],
            serde_json::json!(urls),
            "{app} in {after}"
        );
        assert_eq!(&activate(rest[next], app), nodes, "{app} moved");
    }
    for admin in admins
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != first)
        .map(|(_, a)| a)
    {
        terminate(admin);
    }
}

#[test]
fn a_paused_active_is_fenced_and_steps_down_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _store = store_on(dir.path(), port);
    let store = format!("127.0.0.1:{port}");
    register_log_nodes(&store, &["a", "b", "c"], Duration::from_secs(60));
    // `d` lapses while the active is paused: the active's stale view then wants to repair.
    register_log_nodes(&store, &["d"], Duration::from_millis(LEASE_MS));
    let admins = admins(&format!("http://{store}"), dir.path());
    let all: Vec<&Process> = admins.iter().collect();
    let first = wait_for_one_active(&all, Duration::from_secs(5));
    activate(all[first], "one");
    assert!(
        activate(all[first], "two").contains(&"d".to_owned()),
        "d serves the second app"
    );
    let accepted = status(all[first])["writes"]["accepted"].as_u64().unwrap();

    admins[first].pause();
    std::thread::sleep(Duration::from_millis(2 * LEASE_MS));
    let rest: Vec<&Process> = (0..3).filter(|&i| i != first).map(|i| &admins[i]).collect();
    let next = wait_for_one_active(&rest, Duration::from_secs(2));
    // The new active repairs `two` (d lapsed) at its epoch.
    let deadline = Instant::now() + Duration::from_secs(2);
    while status(rest[next])["apps"]["two"]
        .to_string()
        .contains("d.log")
    {
        assert!(Instant::now() < deadline, "d was never replaced");
        std::thread::sleep(Duration::from_millis(20));
    }
    admins[first].resume();
    let deadline = Instant::now() + Duration::from_secs(3);
    let former = loop {
        let former = status(&admins[first]);
        if former["writes"]["fenced"].as_u64() >= Some(1) {
            break former;
        }
        assert!(Instant::now() < deadline, "no write was refused: {former}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        former["writes"]["accepted"].as_u64(),
        Some(accepted),
        "{former}"
    );
    assert_eq!(former["role"], "standby", "{former}");
    let log = admins[first].log().text();
    assert!(log.contains("standby again"), "{log}");
    // Still exactly one active, and its state is the repaired one.
    let all: Vec<&Process> = admins.iter().collect();
    let active = wait_for_one_active(&all, Duration::from_secs(2));
    assert!(
        !status(all[active])["apps"]["two"]
            .to_string()
            .contains("d.log")
    );
}

#[test]
fn a_store_restart_under_the_admins_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let store_process = store_on(dir.path(), port);
    let store = format!("127.0.0.1:{port}");
    register_log_nodes(&store, &["a", "b", "c"], Duration::from_secs(60));
    let admins = admins(&format!("http://{store}"), dir.path());
    let all: Vec<&Process> = admins.iter().collect();
    let first = wait_for_one_active(&all, Duration::from_secs(5));
    let assigned: Vec<Vec<String>> = ["x", "y"]
        .iter()
        .map(|app| activate(all[first], app))
        .collect();

    terminate(store_process);
    std::thread::sleep(Duration::from_millis(2 * LEASE_MS)); // every lease lapses meanwhile
    let _store = store_on(dir.path(), port);
    let active = wait_for_one_active(&all, Duration::from_secs(5));
    for (app, nodes) in ["x", "y"].iter().zip(&assigned) {
        assert_eq!(
            &activate(all[active], app),
            nodes,
            "{app} after the restart"
        );
    }
    assert_eq!(
        activate(all[active], "z").len(),
        3,
        "the active writes again"
    );
}
