//! TLS between the roles, end to end: `tiercache certs`, then the real binary's roles over
//! mutual TLS, and what happens to a caller without the right certificate.

mod common;

use std::path::Path;

use tiercache_store::{Limits, ObjectRead, ObjectStore, Precondition, StoreClient};
use tiercache_tls::{Identity, TlsFiles, certs};

use common::{run, start};

/// `tiercache certs --dir DIR` into `dir/name`; the directory.
fn certs_in(dir: &Path, name: &str) -> std::path::PathBuf {
    let certs = dir.join(name);
    let (ok, stdout, stderr) = run(&["certs", "--dir", certs.to_str().unwrap()], dir);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("store.key"), "{stdout}");
    certs
}

/// The `--tls-*` flags of `role` with the certificates in `certs`.
fn tls_flags(certs: &Path, role: &str) -> Vec<String> {
    let files = certs::role_files(certs, role);
    vec![
        "--tls-ca".into(),
        files.ca.display().to_string(),
        "--tls-cert".into(),
        files.cert.unwrap().display().to_string(),
        "--tls-key".into(),
        files.key.unwrap().display().to_string(),
    ]
}

/// `tiercache store` over SQLite on a free port, before its TLS flags.
const STORE: [&str; 5] = [
    "store",
    "--db",
    "sqlite://store.db",
    "--listen",
    "127.0.0.1:0",
];

/// `tiercache store` over SQLite in `dir`, serving mutual TLS with the store certificate
/// of `certs`.
fn tls_store(dir: &Path, certs: &Path) -> tiercache_launch::Process {
    let mut args = STORE.to_vec();
    let flags = tls_flags(certs, "store");
    args.extend(flags.iter().map(String::as_str));
    start(&args, dir, 1)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_store_serves_only_callers_with_a_certificate_of_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ours = certs_in(dir.path(), "certs");
    let theirs = certs_in(dir.path(), "other-certs");
    let store = tls_store(dir.path(), &ours);
    let address = store.addresses()[0].clone();
    let url = format!("https://{address}");

    runtime().block_on(async {
        let client = Identity::load(&certs::role_files(&ours, "client")).unwrap();
        let store = StoreClient::connect_as(&url, Limits::default(), Some(&client))
            .await
            .unwrap();
        let written = store.put(b"k", b"v", Precondition::None).await.unwrap();
        match store.get(b"k").await.unwrap() {
            ObjectRead::Live { value, version } => {
                assert_eq!((value.as_slice(), version), (&b"v"[..], written));
            }
            other => panic!("{other:?}"),
        }

        // A certificate of another CA, no certificate at all, plain HTTP/2: all refused.
        let impostor = Identity::load(&TlsFiles {
            ca: ours.join("ca.pem"),
            ..certs::role_files(&theirs, "client")
        })
        .unwrap();
        let anonymous = Identity::load(&TlsFiles {
            ca: ours.join("ca.pem"),
            cert: None,
            key: None,
        })
        .unwrap();
        for (who, identity) in [("impostor", &impostor), ("anonymous", &anonymous)] {
            let refused =
                match StoreClient::connect_as(&url, Limits::default(), Some(identity)).await {
                    // With TLS 1.3 the client may finish its side before the server judges its
                    // certificate: then the first call fails.
                    Ok(client) => client.get(b"k").await.map(|_| ()),
                    Err(error) => Err(error),
                };
            let error = refused.expect_err(who);
            assert_eq!(
                error.code(),
                tiercache_core::ErrorCode::Unavailable,
                "{who}: {error}"
            );
            eprintln!("{who}: {error}");
        }
        let plain =
            match StoreClient::connect(&format!("http://{address}"), Limits::default()).await {
                Ok(client) => client.get(b"k").await.map(|_| ()),
                Err(error) => Err(error),
            };
        assert!(plain.is_err(), "plain HTTP/2 reached a TLS store");
    });

    // The command line: `nodes` with the client's flags reaches it; without them it is told
    // what is missing.
    let mut args = vec!["nodes", "--store", &url];
    let client_flags = tls_flags(&ours, "client");
    args.extend(client_flags.iter().map(String::as_str));
    let (ok, _stdout, stderr) = run(&args, dir.path());
    assert!(ok, "{stderr}");
    let (ok, _stdout, stderr) = run(&["nodes", "--store", &url], dir.path());
    assert!(!ok);
    assert!(stderr.contains("--tls-ca"), "{stderr}");
}

#[test]
fn bad_tls_flags_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certs_in(dir.path(), "certs");
    let key = certs.join("store.key").display().to_string();
    let cert = certs.join("store.pem").display().to_string();
    let ca = certs.join("ca.pem").display().to_string();
    let wrong_key = certs.join("api.key").display().to_string();
    let cases: [(&[&str], &str); 4] = [
        (&["--tls-cert", &cert, "--tls-key", &key], "need --tls-ca"),
        (&["--tls-ca", &ca, "--tls-cert", &cert], "without its key"),
        (
            &[
                "--tls-ca",
                &ca,
                "--tls-cert",
                &cert,
                "--tls-key",
                &wrong_key,
            ],
            "does not fit",
        ),
        (&["--tls-ca", "missing.pem"], "missing.pem"),
    ];
    for (flags, expected) in cases {
        let mut args = STORE.to_vec();
        args.extend_from_slice(flags);
        let (ok, _stdout, stderr) = run(&args, dir.path());
        assert!(!ok, "{flags:?}");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    }
    assert!(
        !dir.path().join("store.db").exists(),
        "a refused start opened the database"
    );
}

#[test]
fn an_api_node_serves_tls_over_a_tls_store_and_bench_drives_it() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certs_in(dir.path(), "certs");
    let store = tls_store(dir.path(), &certs);
    let store_url = format!("https://{}", store.addresses()[0]);

    let mut args = vec!["api", "--store", &store_url, "--listen", "127.0.0.1:0"];
    let api_flags = tls_flags(&certs, "api");
    args.extend(api_flags.iter().map(String::as_str));
    let api = start(&args, dir.path(), 1);
    let target = format!("https://{}", api.addresses()[0]);

    // bench trusts the CA; the API node asks no client certificate.
    let ca = certs.join("ca.pem").display().to_string();
    let (ok, stdout, stderr) = run(
        &[
            "bench",
            "--target",
            &target,
            "--requests",
            "400",
            "--keys",
            "50",
            "--write-ratio",
            "0.1",
            "--json",
            "--no-progress",
            "--tls-ca",
            &ca,
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["requests"], 400, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    // The node answered from its near cache: requests went through, not just handshakes.
    assert!(report["hits"]["near"].as_u64().unwrap() > 0, "{report}");

    // Without the CA, bench says what it needs; a CA that did not sign the node's
    // certificate fails the handshake.
    let (ok, _stdout, stderr) = run(
        &["bench", "--target", &target, "--requests", "10"],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("--tls-ca"), "{stderr}");
    let other = certs_in(dir.path(), "other-certs");
    let other_ca = other.join("ca.pem").display().to_string();
    let (ok, _stdout, stderr) = run(
        &[
            "bench",
            "--target",
            &target,
            "--requests",
            "10",
            "--tls-ca",
            &other_ca,
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("TLS handshake"), "{stderr}");
}
