//! `tiercache up` with real processes: everything listed is running and healthy, the API
//! nodes share the store (and, with Redis, the tier and the bus), one admin is active, a
//! killed child is reported and (with --restart) restarted on its address, and SIGTERM
//! leaves nothing running.

mod common;

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tiercache_launch::Process;

use common::{address, http, https_as, of_role, run, up};
use tiercache_tls::{Identity, TlsFiles};

fn alive(pid: u64) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_ok()
}

/// SIGTERM to `up`: it exits 0 and every process it listed is gone.
fn stop_and_check_nothing_left(mut up: Process, processes: &[Value]) -> String {
    let status = up
        .stop_with(Signal::SIGTERM, Duration::from_secs(60))
        .unwrap();
    let log = up.log().text();
    assert!(status.success(), "{status}: {log}");
    for process in processes {
        let pid = process["pid"].as_u64().unwrap();
        assert!(!alive(pid), "{process} still runs after up stopped: {log}");
    }
    log
}

#[test]
fn up_starts_every_role_healthy_and_stops_them_all_in_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let (up, processes) = up(dir.path(), &["--nodes", "2"], &[]);
    let roles: Vec<&str> = processes
        .iter()
        .map(|p| p["role"].as_str().unwrap())
        .collect();
    // With no --tier, a redis-server runs as the bus of the logs (the test suite installs it).
    assert_eq!(
        roles,
        [
            "store", "redis", "admin", "admin", "admin", "log", "log", "log", "api", "api"
        ]
    );
    assert!(
        processes.iter().all(|p| alive(p["pid"].as_u64().unwrap())),
        "{processes:?}"
    );
    assert!(dir.path().join("deployment/tiercache.db").is_file());
    assert!(dir.path().join("deployment/logs/api-1.log").is_file());

    // The API nodes share the store: a write through one is read through the other.
    let nodes = of_role(&processes, "api");
    let (code, _) = http(&address(nodes[0]), "PUT", "/v1/objects/up-key", "\"one\"");
    assert_eq!(code, 200);
    let (code, read) = http(&address(nodes[1]), "GET", "/v1/objects/up-key", "");
    assert_eq!((code, read["value"].as_str()), (200, Some("one")), "{read}");
    let (code, written) = http(&address(nodes[1]), "PUT", "/v1/objects/up-key", "\"two\"");
    assert_eq!(code, 200, "{written}");
    // `up`'s nodes deliver invalidations asynchronously: node 0 drops its copy of "one"
    // when the notice arrives, within milliseconds (a full test run on two cores once took
    // longer than the next request). Sync delivery's "at once" is tested in coherence.rs.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, read) = http(&address(nodes[0]), "GET", "/v1/objects/up-key", "");
        if read["value"] == "two" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 0 still serves the replaced copy after 5 s: {read}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // Exactly one admin is active (polled: the first lease is taken on the first tick).
    let admins = of_role(&processes, "admin");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let active = admins
            .iter()
            .filter(|a| http(&address(a), "GET", "/v1/admin", "").1["role"] == "active")
            .count();
        if active == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{active} active admins");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Everyone is in the binder.
    let store = processes[0]["url"].as_str().unwrap();
    let (ok, listing, stderr) = run(&["nodes", "--store", store, "--json"], dir.path());
    assert!(ok, "{stderr}");
    let listing: Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(listing["nodes"].as_array().unwrap().len(), 8, "{listing}");

    // The logs work through any API node: appended through one, read through the other.
    let (code, appended) = http(&address(nodes[0]), "POST", "/v1/logs/up-app", "first");
    assert_eq!(code, 200, "{appended}");
    assert!(appended["acks"].as_u64().unwrap() >= 2, "{appended}");
    let (code, read) = http(&address(nodes[1]), "GET", "/v1/logs/up-app", "");
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["messages"][0]["value"], "first", "{read}");
    assert_eq!(read["messages"][0]["id"], appended["id"], "{read}");
    assert_eq!(read["replicas"]["answered"], 3, "{read}");
    assert!(dir.path().join("deployment/log-1").is_dir());

    let log = stop_and_check_nothing_left(up, &processes);
    let order: Vec<usize> = [
        "api api-2 stopped",
        "api api-1 stopped",
        "log log-1 stopped",
        "admin admin-1 stopped",
        "up: store stopped",
    ]
    .iter()
    .map(|line| {
        log.find(line)
            .unwrap_or_else(|| panic!("no {line:?} in {log}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "not in reverse order: {log}"
    );
}

#[test]
fn a_killed_child_is_reported_and_restarted_on_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let (up, processes) = up(dir.path(), &["--nodes", "1", "--restart"], &[]);
    let node = of_role(&processes, "api")[0];
    let pid = node["pid"].as_u64().unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = up.log().text();
        if log.contains("api api-1 restarted, pid") {
            assert!(log.contains("api api-1 exited (signal: 9"), "{log}");
            assert!(
                log.contains("listening on"),
                "the report quotes the child's log: {log}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "not restarted: {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, _) = http(&address(node), "GET", "/healthz", "");
    assert_eq!(code, 200, "back on the same address");
    assert!(
        dir.path().join("deployment/logs/api-1.log.1").is_file(),
        "the crashed run's log is kept"
    );
    let log = stop_and_check_nothing_left(up, &processes);
    let new_pid: u32 = log
        .split("api api-1 restarted, pid ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap();
    assert_ne!(u64::from(new_pid), pid);
    assert!(!alive(u64::from(new_pid)), "the restarted node outlived up");
}

#[test]
fn up_with_redis_shares_the_tier_and_the_bus() {
    let dir = tempfile::tempdir().unwrap();
    let (up, processes) = up(
        dir.path(),
        &["--nodes", "2", "--tier", "redis", "--maxmemory", "16MiB"],
        &[],
    );
    let redis = of_role(&processes, "redis");
    assert_eq!(redis.len(), 1, "{processes:?}");
    assert!(
        redis[0]["url"]
            .as_str()
            .unwrap()
            .starts_with("redis://127.0.0.1:")
    );
    let nodes = of_role(&processes, "api");
    http(&address(nodes[0]), "PUT", "/v1/objects/k", "\"v1\"");
    // Read twice on the other node: the second read comes from its near cache…
    http(&address(nodes[1]), "GET", "/v1/objects/k", "");
    let (_, read) = http(&address(nodes[1]), "GET", "/v1/objects/k", "");
    assert_eq!(
        (read["value"].as_str(), read["source"].as_str()),
        (Some("v1"), Some("near")),
        "{read}"
    );
    // …and a write on the first node reaches it over the bus.
    http(&address(nodes[0]), "PUT", "/v1/objects/k", "\"v2\"");
    let deadline = Instant::now() + Duration::from_secs(5);
    while http(&address(nodes[1]), "GET", "/v1/objects/k", "").1["value"] != "v2" {
        assert!(Instant::now() < deadline, "the invalidation never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop_and_check_nothing_left(up, &processes);
}

#[test]
fn bad_settings_are_one_line_errors_and_start_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    for (args, expected) in [
        (&["up", "--nodes", "0"][..], "--nodes must be from 1 to 64"),
        (
            &["up", "--tier", "memcached"][..],
            "unknown tier `memcached`",
        ),
        (&["up", "--dir", "a-file"][..], "a-file"),
        (&["up", "--db", "mysql://x"][..], "--db must be"),
    ] {
        let (ok, _, stderr) = run(args, dir.path());
        assert!(!ok, "{args:?} succeeded");
        let line = stderr.trim();
        assert_eq!(line.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            line.starts_with("error: ") && line.contains(expected),
            "{args:?}: {line}"
        );
    }
}

/// Regression: the roles installed their SIGTERM handler only after printing `listening on`,
/// so a SIGTERM sent at once (as `up` and tests do) killed them by the signal instead of a
/// clean stop.
#[test]
fn every_role_stops_cleanly_on_a_sigterm_sent_as_soon_as_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let store = common::store_service(dir.path());
        let url = format!("http://{}", store.addresses()[0]);
        let admin = common::start(
            &["admin", "--store", &url, "--listen", "127.0.0.1:0"],
            dir.path(),
            1,
        );
        common::terminate(admin);
        let api = common::start(
            &["api", "--store", &url, "--listen", "127.0.0.1:0"],
            dir.path(),
            1,
        );
        common::terminate(api);
        let log = common::start(
            &[
                "lognode",
                "--store",
                &url,
                "--bus",
                "memory://",
                "--data",
                "log-data",
                "--listen",
                "127.0.0.1:0",
            ],
            dir.path(),
            1,
        );
        common::terminate(log);
        common::terminate(store);
    }
}

/// The tokens of a token file, by the scopes written after them (`read,write`, `admin`).
fn tokens_by_scope(path: &std::path::Path) -> std::collections::HashMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (token, scopes) = line.split_once(' ').unwrap();
            (scopes.to_owned(), token.to_owned())
        })
        .collect()
}

#[test]
fn up_secure_generates_tokens_the_nodes_ask_for_and_the_admins_send() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (up, processes) = up(
        dir.path(),
        &[
            "--secure",
            "--tier",
            "redis",
            "--nodes",
            "1",
            "--log-nodes",
            "3",
            "--rate-limit",
            "1000",
        ],
        &[],
    );
    let tokens = tokens_by_scope(&dir.path().join("deployment/secrets/tokens"));
    let (app, reader, admin) = (&tokens["read,write"], &tokens["read"], &tokens["admin"]);
    for process in &processes {
        if process["role"] != "redis" {
            assert!(
                process["url"].as_str().unwrap().starts_with("https://"),
                "{process}"
            );
        }
    }
    let node = address(of_role(&processes, "api")[0]);
    let certs = dir.path().join("deployment/certs");
    // A client of the API needs only the CA (it proves who it is with a token).
    let api_client = Identity::load(&TlsFiles {
        ca: certs.join("ca.pem"),
        cert: None,
        key: None,
    })
    .unwrap();
    let call = |method: &str, path: &str, body: &str, token: Option<&str>| {
        https_as(&node, method, path, body, token, &api_client).unwrap()
    };

    let (code, body) = call("PUT", "/v1/objects/secret-key", "\"v\"", None);
    assert_eq!(
        (code, body["error"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
    let (code, body) = call("PUT", "/v1/objects/secret-key", "\"v\"", Some(app));
    assert_eq!(code, 200, "{body}");
    let (code, body) = call("GET", "/v1/objects/secret-key", "", Some(reader));
    assert_eq!((code, body["value"].as_str()), (200, Some("v")), "{body}");
    let (code, body) = call("DELETE", "/v1/objects/secret-key", "", Some(reader));
    assert_eq!(
        (code, body["error"].as_str()),
        (403, Some("permission_denied")),
        "{body}"
    );
    assert_eq!(call("GET", "/v1/stats", "", Some(app)).0, 403);
    assert_eq!(call("GET", "/v1/stats", "", Some(admin)).0, 200);
    assert_eq!(call("GET", "/healthz", "", None).0, 200);
    // Plain HTTP to a TLS port gets no HTTP answer.
    {
        use std::io::{Read, Write};
        let mut plain = std::net::TcpStream::connect(&node).unwrap();
        plain
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        plain
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = plain.read_to_end(&mut answer);
        assert!(!answer.starts_with(b"HTTP/1.1"), "{answer:?}");
    }

    // An application log: the API node appends through the bus and reads the log nodes'
    // copies over mutual TLS.
    let (code, body) = call("POST", "/v1/logs/secure-app", "hello", Some(app));
    assert_eq!(code, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, read) = call("GET", "/v1/logs/secure-app", "", Some(reader));
        assert_eq!(code, 200, "{read}");
        if read["messages"].as_array().is_some_and(|m| m.len() == 1) {
            assert_eq!(read["replicas"]["answered"], 3, "{read}");
            break;
        }
        assert!(Instant::now() < deadline, "{read}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Redis has access control: an anonymous client can do nothing; the API nodes reach it
    // as tc-api, the log nodes as tc-log, their passwords in files.
    let redis = address(of_role(&processes, "redis")[0]);
    let port: u16 = redis.rsplit_once(':').unwrap().1.parse().unwrap();
    let anonymous = tiercache_launch::redis_command(port, &["GET", "tc:anything"]);
    assert!(
        anonymous
            .as_ref()
            .is_err_and(|e| e.to_string().contains("NOAUTH")),
        "{anonymous:?}"
    );
    for (role, user) in [("api", "tc-api@"), ("log", "tc-log@")] {
        let pid = of_role(&processes, role)[0]["pid"].as_u64().unwrap();
        let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(
            String::from_utf8_lossy(&command_line).contains(user),
            "{role}"
        );
    }
    for role in ["api", "log"] {
        let mode = std::fs::metadata(
            dir.path()
                .join(format!("deployment/secrets/redis-{role}.password")),
        )
        .unwrap()
        .permissions()
        .mode();
        assert_eq!(mode & 0o077, 0);
    }

    // The admins read the node's stats over TLS with the token `up` gave them; the admin's
    // own API is mutual TLS: the client certificate gets in, a CA-only client does not.
    let admin_address = address(of_role(&processes, "admin")[0]);
    let operator = Identity::load(&tiercache_tls::certs::role_files(&certs, "client")).unwrap();
    let (code, fleet) = https_as(
        &admin_address,
        "GET",
        "/v1/admin/nodes",
        "",
        None,
        &operator,
    )
    .unwrap();
    assert_eq!(code, 200, "{fleet}");
    let nodes = fleet["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{fleet}");
    assert!(
        nodes[0]["error"].is_null() && nodes[0]["stats"].is_object(),
        "{fleet}"
    );
    let refused = https_as(
        &admin_address,
        "GET",
        "/v1/admin/nodes",
        "",
        None,
        &api_client,
    );
    assert!(refused.is_err(), "{refused:?}");

    // The token file and the keys are the owner's alone, and no child's command line
    // holds a token.
    for private in [
        "secrets/tokens",
        "certs/ca.key",
        "certs/api.key",
        "certs/store.key",
    ] {
        let path = dir.path().join("deployment").join(private);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{private}: mode {mode:o}");
    }
    for process in &processes {
        let pid = process["pid"].as_u64().unwrap();
        let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let command_line = String::from_utf8_lossy(&command_line);
        for token in tokens.values() {
            assert!(!command_line.contains(token.as_str()), "{command_line}");
        }
        // The API flags given to `up` reach the API nodes.
        if process["role"] == "api" {
            assert!(
                command_line.contains("--rate-limit\x001000"),
                "{command_line}"
            );
        }
    }
    stop_and_check_nothing_left(up, &processes);
}
