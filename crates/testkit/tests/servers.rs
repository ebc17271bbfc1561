//! The test kit starts every kind of server it offers, and they really work.

use std::process::Command;

use tiercache_testkit::{Postgres, RedisCluster, RedisSentinel, RedisServer};

#[test]
fn postgres_starts_accepts_queries_and_restarts_with_its_data() {
    let mut server = Postgres::start().expect("PostgreSQL must start");
    let url = server.create_database("kit").unwrap();
    assert!(url.ends_with("/kit"));
    let psql = |sql: &str| {
        let output = Command::new("psql")
            .args([
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                &server.database_url("kit"),
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    psql("CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1)");
    assert_eq!(psql("SELECT sum(x) FROM t"), "42");
    server.stop();
    server.restart().expect("restart");
    let output = Command::new("psql")
        .args([
            "-At",
            &server.database_url("kit"),
            "-c",
            "SELECT count(*) FROM t",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2");
}

#[test]
fn redis_single_node_and_replica_replicate() {
    let primary = RedisServer::start_with(&["--maxmemory", "10mb"]).unwrap();
    assert_eq!(
        primary.command(&["CONFIG", "GET", "maxmemory"]).unwrap(),
        "maxmemory\n10485760"
    );
    let replica = RedisServer::replica_of(&primary).unwrap();
    primary.command(&["SET", "k", "v"]).unwrap();
    primary.command(&["WAIT", "1", "2000"]).unwrap();
    assert_eq!(replica.command(&["GET", "k"]).unwrap(), "v");
}

#[test]
fn redis_cluster_assigns_every_slot() {
    let cluster = RedisCluster::start(3, 1).unwrap();
    assert_eq!(cluster.nodes().len(), 6);
    let info = cluster.nodes()[0].command(&["CLUSTER", "INFO"]).unwrap();
    assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
    assert!(cluster.url().starts_with("redis-cluster://127.0.0.1:"));
}

#[test]
fn redis_sentinel_fails_over_when_the_primary_dies() {
    let mut setup = RedisSentinel::start(2, 3, "tiercache").unwrap();
    let first = setup.primary.port();
    assert_eq!(setup.current_primary_port(), Some(first));
    setup.primary.kill();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let promoted = loop {
        match setup.current_primary_port() {
            Some(port) if port != first => break port,
            _ if std::time::Instant::now() > deadline => panic!("no failover within 30 s"),
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    };
    assert!(setup.replicas.iter().any(|r| r.port() == promoted));
}
