//! Credentials for Redis and PostgreSQL, through the real binary:
//!
//! * API nodes on a Redis with ACL users: the node's user with the documented rights works
//!   (password from a file, never on the command line or in what the node prints); a user
//!   without them makes the node refuse to start, saying which rights it needs.
//! * The store on PostgreSQL as a role that logs in with a password, read from a
//!   `PGPASSFILE` or given in the URL, never printed.

mod common;

use tiercache_store::{Limits, ObjectStore, Precondition, StoreClient};
use tiercache_testkit::{Postgres, RedisServer};

use common::{http, run, start, start_with_env, store_service, terminate};

const PASSWORD: &str = "node-password-0123456789";

/// The rights an API node's user needs: the tier's and the bus's.
fn node_rights() -> String {
    format!(
        "{} {}",
        tiercache_tier::REQUIRED_RIGHTS,
        tiercache_bus::REQUIRED_RIGHTS
    )
}

#[test]
fn an_api_node_runs_as_an_acl_user_with_its_password_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    redis.add_user("tc-api", PASSWORD, &node_rights()).unwrap();
    let password_file = dir.path().join("redis.password");
    std::fs::write(
        &password_file,
        format!("# the API nodes' Redis password\n{PASSWORD}\n"),
    )
    .unwrap();
    let store = store_service(dir.path());
    let store_url = format!("http://{}", store.addresses()[0]);
    let redis_url = format!("redis://tc-api@{}", redis.address());
    let env = [(
        "TIERCACHE_REDIS_PASSWORD_FILE",
        password_file.to_str().unwrap(),
    )];
    let args = [
        "api",
        "--store",
        &store_url,
        "--tier",
        &redis_url,
        "--bus",
        &redis_url,
        "--invalidation",
        "sync",
        "--listen",
        "127.0.0.1:0",
    ];
    let api = start_with_env(&args, dir.path(), 1, &env);
    let node = api.addresses()[0].clone();
    assert_eq!(http(&node, "PUT", "/v1/objects/k", "\"v\"").0, 200);
    let (code, body) = http(&node, "GET", "/v1/objects/k", "");
    assert_eq!((code, body["value"].as_str()), (200, Some("v")), "{body}");
    // The value reached the shared tier as the node's user.
    let keys = redis.command(&["KEYS", "tc:*"]).unwrap();
    assert!(!keys.is_empty(), "nothing in the tier");

    let command_line = std::fs::read(format!("/proc/{}/cmdline", api.id())).unwrap();
    assert!(!String::from_utf8_lossy(&command_line).contains(PASSWORD));
    let log = terminate(api);
    // The banner names the bus's user (and only the user).
    assert!(log.contains("as tc-api"), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
}

#[test]
fn a_node_whose_redis_user_lacks_the_rights_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    redis.add_user("tc-api", PASSWORD, &node_rights()).unwrap();
    // May read and write, but not tiercache's keys.
    redis
        .add_user("reporting", PASSWORD, "~reports:* +@all")
        .unwrap();
    let store = store_service(dir.path());
    let store_url = format!("http://{}", store.addresses()[0]);
    let cases = [
        (
            "--tier",
            format!("redis://reporting:{PASSWORD}@{}", redis.address()),
            "NOPERM",
        ),
        (
            "--bus",
            format!("redis://reporting:{PASSWORD}@{}", redis.address()),
            "NOPERM",
        ),
        (
            "--tier",
            format!("redis://tc-api:wrong-password@{}", redis.address()),
            "refused",
        ),
    ];
    for (flag, url, expected) in cases {
        let (ok, _stdout, stderr) = run(
            &[
                "api",
                "--store",
                &store_url,
                flag,
                &url,
                "--listen",
                "127.0.0.1:0",
            ],
            dir.path(),
        );
        assert!(!ok, "{flag} {url}: started");
        assert!(
            stderr.to_uppercase().contains(&expected.to_uppercase()),
            "{stderr}"
        );
        assert!(
            stderr.contains("~tc:*"),
            "the message names the rights: {stderr}"
        );
        assert!(
            !stderr.contains(PASSWORD) && !stderr.contains("wrong-password"),
            "{stderr}"
        );
    }
}

#[test]
fn print_config_hides_redis_and_postgres_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(
        &[
            "api",
            "--store",
            "postgres://app:db-secret-123@127.0.0.1:5432/tc",
            "--tier",
            "redis://tc-api:redis-secret-456@127.0.0.1:6379",
            "--print-config",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(
        !stdout.contains("db-secret-123") && !stdout.contains("redis-secret-456"),
        "{stdout}"
    );
    assert!(
        stdout.contains("redis://tc-api:<secret>@127.0.0.1:6379"),
        "{stdout}"
    );
}

#[test]
fn the_store_logs_in_to_postgresql_with_a_password_from_pgpassfile_or_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = Postgres::start().expect("PostgreSQL must be installed (scripts/test.sh)");
    let secret = "pg-secret-0123456789";
    let url = postgres
        .create_role("tc_store", secret, "tc_secured")
        .unwrap();
    // No password anywhere: refused, and said so.
    let (ok, _stdout, stderr) = run(
        &["store", "--db", &url, "--listen", "127.0.0.1:0"],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("password"), "{stderr}");

    // The password in a PGPASSFILE (host:port:database:user:password, owner-only).
    let passfile = dir.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "127.0.0.1:{}:tc_secured:tc_store:{secret}\n",
            postgres.port()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let env = [("PGPASSFILE", passfile.to_str().unwrap())];
    let store = start_with_env(
        &["store", "--db", &url, "--listen", "127.0.0.1:0"],
        dir.path(),
        1,
        &env,
    );
    // A runtime of its own, dropped before the store stops: its connection must close for
    // the store's graceful stop to end.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = StoreClient::connect(&store.addresses()[0], Limits::default())
                .await
                .unwrap();
            client.put(b"k", b"v", Precondition::None).await.unwrap();
        });
    let log = terminate(store);
    assert!(!log.contains(secret), "{log}");

    // The password in the URL: works, and neither the log nor --print-config shows it.
    let with_password = url.replace("tc_store@", &format!("tc_store:{secret}@"));
    let store = start(
        &["store", "--db", &with_password, "--listen", "127.0.0.1:0"],
        dir.path(),
        1,
    );
    let log = terminate(store);
    assert!(log.contains("tc_store:<secret>@"), "{log}");
    assert!(!log.contains(secret), "{log}");
    let (ok, stdout, stderr) = run(
        &["store", "--db", &with_password, "--print-config"],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(!stdout.contains(secret), "{stdout}");
}
