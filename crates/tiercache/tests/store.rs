//! The `store` and `load` commands end to end: the real binary, real databases (SQLite
//! files, a PostgreSQL server from the test kit), the gRPC client.
//!
//! * load → serve → every row answers by key, on both backends; loads are idempotent;
//! * crash: writers stream while the store is SIGKILLed and restarted; every acknowledged
//!   write survives with its version;
//! * bad input: typed gRPC errors, one-line CLI errors, nothing partially written; the
//!   database going away is UNAVAILABLE and the store recovers when it returns.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tiercache_core::Version;
use tiercache_store::dataset::kepler;
use tiercache_store::{
    Limits, ObjectRead, ObjectStore, Precondition, Registry, StoreClient, StoreError,
};
use tiercache_testkit::Postgres;

use common::{run, start, tiercache};
use tiercache_launch::Process;

/// A `tiercache store` on `listen` over `db`, once it printed its `listening on` line.
fn store_process(db: &str, listen: &str, dir: &Path) -> Process {
    start(&["store", "--db", db, "--listen", listen], dir, 1)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn load_then_serve_every_row(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(&["load", "--db", db, "--dataset", "kepler"], dir.path());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("9564 written, 0 unchanged"), "{stdout}");
    // Idempotent: the second run writes nothing.
    let (ok, stdout, stderr) = run(&["load", "--db", db, "--dataset", "kepler"], dir.path());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("0 written, 9564 unchanged"), "{stdout}");

    let store = store_process(db, "127.0.0.1:0", dir.path());
    runtime().block_on(async {
        let client = StoreClient::connect(&store.addresses()[0], Limits::default())
            .await
            .unwrap();
        let expected: Vec<_> = kepler::rows(kepler::FULL_ROWS, kepler::DEFAULT_SEED).collect();
        for chunk in expected.chunks(1000) {
            let keys: Vec<Vec<u8>> = chunk.iter().map(|r| r.key.as_bytes().to_vec()).collect();
            let lookups = client.batch_get(&keys).await.unwrap();
            for (row, lookup) in chunk.iter().zip(lookups) {
                assert_eq!(
                    lookup,
                    ObjectRead::Live {
                        value: row.value.clone(),
                        version: Version(1)
                    },
                    "row {}",
                    row.key
                );
            }
        }
        // And one by one through Get, the lab's lookup by id.
        for id in ["1", "500", "9564"] {
            let lookup = client.get(id.as_bytes()).await.unwrap();
            let json: serde_json::Value = serde_json::from_slice(lookup.value().unwrap()).unwrap();
            assert_eq!(json["rowid"].to_string(), id);
        }
        assert_eq!(client.get(b"9565").await.unwrap(), ObjectRead::Absent);
    });
}

#[test]
fn kepler_loads_and_is_served_by_key_from_sqlite() {
    load_then_serve_every_row("sqlite://data/tiercache.db");
}

#[test]
fn kepler_loads_and_is_served_by_key_from_postgres() {
    let server = Postgres::start().expect("PostgreSQL must start for this test");
    load_then_serve_every_row(&server.create_database("kepler").unwrap());
}

#[test]
fn a_csv_file_loads_keyed_by_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "# This file was produced by the NASA Exoplanet Archive\n\
               # COLUMN kepid: KepID\n\
               kepid,kepoi_name,koi_disposition,koi_period,koi_score\n\
               10797460,K00752.01,CONFIRMED,9.488035570,1.0\n\
               10811496,\"K00753,01\",CANDIDATE,19.899139950,\n";
    std::fs::write(dir.path().join("koi.csv"), csv).unwrap();
    let db = "sqlite://koi.db";
    let (ok, stdout, stderr) = run(
        &[
            "load",
            "--db",
            db,
            "--csv",
            "koi.csv",
            "--key",
            "kepoi_name",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("2 written"), "{stdout}");
    let store = store_process(db, "127.0.0.1:0", dir.path());
    runtime().block_on(async {
        let client = StoreClient::connect(&store.addresses()[0], Limits::default())
            .await
            .unwrap();
        let lookup = client.get(b"K00753,01").await.unwrap();
        let row: serde_json::Value = serde_json::from_slice(lookup.value().unwrap()).unwrap();
        assert_eq!(
            row,
            serde_json::json!({"kepid": 10811496, "kepoi_name": "K00753,01",
                "koi_disposition": "CANDIDATE", "koi_period": 19.89913995, "koi_score": null})
        );
    });

    // A missing column is one line naming the columns there are; nothing is written.
    let (ok, _, stderr) = run(
        &[
            "load",
            "--db",
            "sqlite://other.db",
            "--csv",
            "koi.csv",
            "--key",
            "id",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no column \"id\"") && stderr.contains("kepid, kepoi_name"),
        "{stderr}"
    );
    // A repeated key is refused with both lines (the real table repeats kepid).
    std::fs::write(dir.path().join("dup.csv"), "kepid,name\n7,a\n8,b\n7,c\n").unwrap();
    let (ok, _, stderr) = run(
        &[
            "load",
            "--db",
            "sqlite://dup.db",
            "--csv",
            "dup.csv",
            "--key",
            "kepid",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(
        stderr.contains("dup.csv:4") && stderr.contains("first on line 2"),
        "{stderr}"
    );
    // A row without a key stops the load at that line.
    std::fs::write(dir.path().join("bad.csv"), "id,v\n1,a\n,b\n").unwrap();
    let (ok, _, stderr) = run(
        &[
            "load",
            "--db",
            "sqlite://bad.db",
            "--csv",
            "bad.csv",
            "--key",
            "id",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(
        stderr.contains("bad.csv:3") && stderr.contains("empty"),
        "{stderr}"
    );
}

/// What the writers saw acknowledged.
#[derive(Default)]
struct History {
    /// Unique keys: (key, value, version) for every acknowledged put.
    acknowledged: Vec<(String, String, Version)>,
    /// Versions acknowledged for the shared hot key, per value.
    hot: Vec<(String, Version)>,
    failures: u64,
}

fn crash_and_restart_loses_no_acknowledged_write(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_process(db, "127.0.0.1:0", dir.path());
    let address = store.addresses()[0].clone();
    let history = Arc::new(Mutex::new(History::default()));
    let rt = runtime();
    let client = rt.block_on(async {
        StoreClient::connect(&address, Limits::default())
            .await
            .unwrap()
    });

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let client = client.clone();
            let history = history.clone();
            let stop = stop.clone();
            rt.spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && Instant::now() < deadline
                    && i < 100_000
                {
                    i += 1;
                    let value = format!("{writer}-{i}");
                    let (key, hot) = if i.is_multiple_of(4) {
                        ("hot".to_owned(), true)
                    } else {
                        (format!("crash-{value}"), false)
                    };
                    match client
                        .put(key.as_bytes(), value.as_bytes(), Precondition::None)
                        .await
                    {
                        Ok(version) => {
                            let mut h = history.lock().unwrap();
                            if hot {
                                h.hot.push((value, version));
                            } else {
                                h.acknowledged.push((key, value, version));
                            }
                        }
                        Err(StoreError::Unavailable(_)) => {
                            history.lock().unwrap().failures += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(error) => panic!("unexpected error during the crash test: {error}"),
                    }
                }
            })
        })
        .collect();

    let acknowledged = || history.lock().unwrap().acknowledged.len();
    for _ in 0..3 {
        // Let writes flow, then crash the store in the middle of them.
        let before = acknowledged();
        let deadline = Instant::now() + Duration::from_secs(20);
        while acknowledged() < before + 200 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        store.kill().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        store = store_process(db, &address, dir.path());
    }
    let before = acknowledged();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged() < before + 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    rt.block_on(async {
        for writer in writers {
            writer.await.unwrap();
        }
    });

    let history = history.lock().unwrap();
    assert!(
        history.acknowledged.len() >= 800,
        "too few writes went through: {}",
        history.acknowledged.len()
    );
    assert!(
        history.failures > 0,
        "the kills did not interrupt any write"
    );
    rt.block_on(async {
        for chunk in history.acknowledged.chunks(1000) {
            let keys: Vec<Vec<u8>> = chunk
                .iter()
                .map(|(k, _, _)| k.as_bytes().to_vec())
                .collect();
            let lookups = client.batch_get(&keys).await.unwrap();
            for ((key, value, version), lookup) in chunk.iter().zip(lookups) {
                assert_eq!(
                    lookup,
                    ObjectRead::Live {
                        value: value.as_bytes().to_vec(),
                        version: *version
                    },
                    "acknowledged write of {key} is missing or changed"
                );
            }
        }
        // The hot key: no version was acknowledged twice (no lost update), and the store is
        // at or above the highest one acknowledged.
        let mut by_version: HashMap<Version, &str> = HashMap::new();
        for (value, version) in &history.hot {
            assert!(
                by_version.insert(*version, value).is_none(),
                "version {version} acknowledged twice"
            );
        }
        let highest = history.hot.iter().map(|(_, v)| *v).max().unwrap();
        let stored = client.get(b"hot").await.unwrap();
        assert!(stored.version() >= highest);
        if stored.version() == highest {
            assert_eq!(stored.value().unwrap(), by_version[&highest].as_bytes());
        }
    });
    eprintln!(
        "crash test on {db}: {} acknowledged writes, {} hot-key writes, {} failed during crashes",
        history.acknowledged.len(),
        history.hot.len(),
        history.failures
    );
}

#[test]
fn sqlite_store_survives_sigkill_with_every_acknowledged_write() {
    crash_and_restart_loses_no_acknowledged_write("sqlite://data/crash.db");
}

#[test]
fn postgres_store_survives_sigkill_with_every_acknowledged_write() {
    let server = Postgres::start().expect("PostgreSQL must start for this test");
    crash_and_restart_loses_no_acknowledged_write(&server.create_database("crash").unwrap());
}

#[test]
fn bad_input_is_a_typed_grpc_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_process("sqlite://bad.db", "127.0.0.1:0", dir.path());
    runtime().block_on(async {
        // A client with generous limits, so the server is the one that says no.
        let generous = Limits {
            max_key_bytes: 1 << 20,
            max_value_bytes: 4 << 20,
            ..Limits::default()
        };
        let client = StoreClient::connect(&store.addresses()[0], generous).await.unwrap();
        let error = client.put(&[b'k'; 513], b"v", Precondition::None).await.unwrap_err();
        assert!(matches!(error, StoreError::TooLarge { ref what, size: 513, limit: 512 } if what == "key"), "{error}");
        let error = client.put(b"big", &vec![0; (1 << 20) + 1], Precondition::None).await.unwrap_err();
        assert!(matches!(error, StoreError::TooLarge { ref what, .. } if what == "value"), "{error}");
        let error = client.put(b"", b"v", Precondition::None).await.unwrap_err();
        assert!(matches!(error, StoreError::InvalidArgument(_)), "{error}");
        let batch = vec![(b"ok".to_vec(), b"v".to_vec()), (b"big".to_vec(), vec![0; (1 << 20) + 1])];
        assert!(matches!(client.batch_put(&batch).await, Err(StoreError::TooLarge { .. })));
        let error = client.heartbeat("api", "gone", Duration::from_secs(1)).await.unwrap_err();
        assert!(matches!(error, StoreError::NotFound(_)), "{error}");
        // Nothing of any of it was written.
        let page = client.scan(b"", None, 100).await.unwrap();
        assert!(page.objects.is_empty(), "{:?}", page.objects);
        // The status codes themselves, as a non-Rust client sees them.
        let mut raw = tiercache_store::grpc::proto::object_store_client::ObjectStoreClient::connect(
            format!("http://{}", store.addresses()[0]),
        )
        .await
        .unwrap();
        let status = raw
            .put(tiercache_store::grpc::proto::PutRequest { key: Vec::new(), value: Vec::new(), precondition: None })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let status = raw
            .get(tiercache_store::grpc::proto::GetRequest { key: b"nothing".to_vec() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound);
    });
}

#[test]
fn bad_command_lines_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            vec!["store", "--db", "mysql://h/db"],
            "unknown database URL scheme \"mysql\"",
        ),
        (
            vec!["load", "--db", "redis://h", "--dataset", "kepler"],
            "unknown database URL scheme \"redis\"",
        ),
        (
            vec!["store", "--db", "postgres://postgres@127.0.0.1:1/x"],
            "Connection refused",
        ),
        (
            vec![
                "load",
                "--db",
                "sqlite://x.db",
                "--csv",
                "missing.csv",
                "--key",
                "id",
            ],
            "cannot open missing.csv",
        ),
        (
            vec!["store", "--max-value-size", "12 parsecs"],
            "invalid value",
        ),
    ] {
        let (ok, _, stderr) = run(&args, dir.path());
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        // Our errors are one line; clap's usage errors add a pointer to --help.
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(expected),
            "{args:?}: {stderr}"
        );
        if !stderr.contains("try '--help'") {
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

#[test]
fn a_lost_database_is_unavailable_and_the_store_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Postgres::start().expect("PostgreSQL must start for this test");
    let db = server.create_database("outage").unwrap();
    let store = store_process(&db, "127.0.0.1:0", dir.path());
    let rt = runtime();
    let client = rt.block_on(async {
        let client = StoreClient::connect(&store.addresses()[0], Limits::default())
            .await
            .unwrap();
        client
            .put(b"k", b"before", Precondition::None)
            .await
            .unwrap();
        client
    });
    server.stop();
    rt.block_on(async {
        let error = client
            .put(b"k", b"during", Precondition::None)
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
        let error = client.get(b"k").await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    });
    server.restart().unwrap();
    rt.block_on(async {
        // The pool reconnects by itself; allow it a bounded number of attempts.
        let deadline = Instant::now() + Duration::from_secs(20);
        let lookup = loop {
            match client.get(b"k").await {
                Ok(lookup) => break lookup,
                Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("{error}"),
            }
        };
        assert_eq!(
            lookup,
            ObjectRead::Live {
                value: b"before".to_vec(),
                version: Version(1)
            }
        );
        assert_eq!(
            client
                .put(b"k", b"after", Precondition::None)
                .await
                .unwrap(),
            Version(2)
        );
    });
}

#[test]
fn settings_come_from_defaults_then_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tiercache.toml"),
        "[store]\ndb = \"sqlite://from-file.db\"\nlisten = \"127.0.0.1:7001\"\nmax_value_size = \"2MiB\"\n",
    )
    .unwrap();
    let print = |envs: &[(&str, &str)], flags: &[&str]| {
        let mut command = tiercache();
        command
            .args(["store", "--config", "tiercache.toml", "--print-config"])
            .args(flags);
        for (name, value) in envs {
            command.env(name, value);
        }
        let output = command.current_dir(dir.path()).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let file_only = print(&[], &[]);
    assert!(file_only.starts_with("[store]"), "{file_only}");
    assert!(
        file_only.contains("db = \"sqlite://from-file.db\""),
        "{file_only}"
    );
    assert!(
        file_only.contains("max_value_size = \"2MiB\""),
        "{file_only}"
    );
    assert!(
        file_only.contains("max_key_bytes = 512"),
        "defaults fill the rest: {file_only}"
    );
    let env = print(&[("TIERCACHE_DB", "sqlite://from-env.db")], &[]);
    assert!(
        env.contains("db = \"sqlite://from-env.db\"") && env.contains("127.0.0.1:7001"),
        "{env}"
    );
    let flag = print(
        &[("TIERCACHE_DB", "sqlite://from-env.db")],
        &["--db", "sqlite://from-flag.db"],
    );
    assert!(flag.contains("db = \"sqlite://from-flag.db\""), "{flag}");

    std::fs::write(
        dir.path().join("typo.toml"),
        "[store]\nlisten_address = \"x\"\n",
    )
    .unwrap();
    let (ok, _, stderr) = run(&["store", "--config", "typo.toml"], dir.path());
    assert!(!ok);
    assert!(
        stderr.contains("typo.toml (line 2)") && stderr.contains("listen_address"),
        "{stderr}"
    );
}

#[test]
fn health_and_reflection_are_served() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    /// The service names a reflection client of one protocol version (`v1`, `v1alpha`:
    /// the same messages in two packages) lists on `channel`.
    macro_rules! list_services {
        ($version:ident, $channel:expr) => {{
            use tonic_reflection::pb::$version::ServerReflectionRequest;
            use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut answers = ServerReflectionClient::new($channel)
                .server_reflection_info(tokio_stream::iter(vec![request]))
                .await
                .unwrap_or_else(|status| {
                    panic!(
                        "reflection {} is not served: {status}",
                        stringify!($version)
                    )
                })
                .into_inner();
            let answer = answers.message().await.unwrap().unwrap();
            let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
                panic!("not a service list: {answer:?}");
            };
            list.service
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<String>>()
        }};
    }

    let dir = tempfile::tempdir().unwrap();
    let store = store_process("sqlite://health.db", "127.0.0.1:0", dir.path());
    let url = format!("http://{}", store.addresses()[0]);
    runtime().block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut health = HealthClient::new(channel.clone());
        for service in [
            "",
            "tiercache.v1.ObjectStore",
            "tiercache.v1.Registry",
            "tiercache.v1.AdminState",
        ] {
            let answer = health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(answer.status, ServingStatus::Serving as i32, "{service:?}");
        }

        // Both reflection versions (older grpcurl, grpcui and Postman speak only v1alpha)
        // list the same services: the store's three, health and reflection, and nothing
        // else (the benchmark's echo service is not part of a production store).
        for (version, names) in [
            ("v1", list_services!(v1, channel.clone())),
            ("v1alpha", list_services!(v1alpha, channel.clone())),
        ] {
            for expected in [
                "tiercache.v1.ObjectStore",
                "tiercache.v1.Registry",
                "tiercache.v1.AdminState",
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ] {
                assert!(
                    names.iter().any(|n| n == expected),
                    "reflection {version}: {expected} missing from {names:?}"
                );
            }
            assert!(
                !names.iter().any(|n| n.contains("Echo")),
                "reflection {version} lists the benchmark's echo service: {names:?}"
            );
            assert_eq!(names.len(), 6, "reflection {version}: {names:?}");
        }
    });
}

#[test]
fn the_store_serves_metrics_of_its_calls_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::start(
        &[
            "store",
            "--db",
            "sqlite://store.db",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        dir.path(),
        1,
    );
    let log = store.log().text();
    let metrics_at = log
        .lines()
        .find_map(|line| line.strip_prefix("metrics on "))
        .unwrap_or_else(|| panic!("no `metrics on` line: {log}"))
        .trim()
        .to_owned();
    // One call that finds nothing: `nodes` looks the binder up through the Registry service.
    let url = format!("http://{}", store.addresses()[0]);
    let (ok, _, stderr) = common::run(&["nodes", "--store", &url], dir.path());
    assert!(ok, "{stderr}");
    let text = common::http_text(&metrics_at, "/metrics");
    assert!(
        text.contains("# TYPE tiercache_store_rpcs_total counter"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l
            .starts_with("tiercache_store_rpcs_total{method=\"Registry/Lookup\",code=\"OK\"} ")),
        "{text}"
    );
    assert!(text.contains("tiercache_store_rpc_seconds_count{method=\"Registry/Lookup\"}"));
    common::terminate(store);
}

/// Regression (found with a full disk: thousands of writes acknowledged, then gone, and
/// served stale): an autocommitted `INSERT … RETURNING` hands its row over before SQLite
/// commits, and a commit that fails (the disk full) was never seen. The store runs under a
/// 2 MiB file-size limit (`ulimit -f`, SIGXFSZ ignored, so a write past it fails as a full
/// disk does); writes go on until it refuses them, and every write it acknowledged must
/// then be there, at its version.
#[test]
fn a_full_disk_fails_writes_and_loses_no_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("bash");
    command
        .args(["-c", "ulimit -f 2048; trap '' XFSZ; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_tiercache"))
        .args([
            "store",
            "--db",
            "sqlite://store.db",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path());
    let store = tiercache_launch::Launch::new("tiercache store (2 MiB files)", command)
        .ready(tiercache_launch::Ready::listening(1))
        .timeout(Duration::from_secs(60))
        .start()
        .unwrap_or_else(|error| panic!("{error}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (acknowledged, refused) = runtime.block_on(async {
        let client = StoreClient::connect(&store.addresses()[0], Limits::default())
            .await
            .unwrap();
        let value = vec![b'x'; 4096];
        let (mut acknowledged, mut refused) = (Vec::new(), 0);
        // 2 000 × 4 KiB is four times the limit: bounded, and sure to reach it.
        for n in 0..2000 {
            let key = format!("full-{n}").into_bytes();
            match client.put(&key, &value, Precondition::None).await {
                Ok(version) => acknowledged.push((key, version)),
                Err(_) => refused += 1,
            }
            if refused >= 20 {
                break;
            }
        }
        let mut lost = Vec::new();
        for (key, version) in &acknowledged {
            match client.get(key).await {
                Ok(ObjectRead::Live { version: held, .. }) if held == *version => {}
                other => lost.push(format!("{}: {other:?}", String::from_utf8_lossy(key))),
            }
        }
        assert!(
            lost.is_empty(),
            "{} acknowledged writes lost: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        (acknowledged.len(), refused)
    });
    drop(runtime);
    assert!(
        refused > 0,
        "the limit was never reached ({acknowledged} writes)"
    );
    assert!(acknowledged > 0, "nothing was written before the limit");
    drop(store);
}
