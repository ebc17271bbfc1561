//! One conformance suite for every tier topology: the in-process ones and real
//! redis-server processes started by the test kit (a single server; three independent
//! sharded servers). Replicated tiers read from replicas that apply writes asynchronously,
//! so reads that follow a write poll (bounded) until the write shows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tiercache_core::Version;
use tiercache_testkit::{RedisCluster, RedisSentinel, RedisServer};
use tiercache_tier::{Entry, SetOutcome, Tier, TierOptions, open};

fn options() -> TierOptions {
    TierOptions {
        tombstone_ttl: Duration::from_millis(300),
        ..TierOptions::default()
    }
}

/// Polls `tier.get(key)` until it equals `expected` (at most 3 s); returns the last answer.
async fn read_until(tier: &dyn Tier, key: &[u8], expected: Option<(&[u8], u64)>) -> Option<Entry> {
    let expected = expected.map(|(value, version)| Entry {
        value: value.to_vec(),
        version: Version(version),
    });
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let got = tier.get(key).await.unwrap();
        if got == expected || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn check(tier: &dyn Tier, key: &[u8], expected: Option<(&[u8], u64)>) {
    let got = read_until(tier, key, expected).await;
    let expected = expected.map(|(value, version)| Entry {
        value: value.to_vec(),
        version: Version(version),
    });
    assert_eq!(
        got,
        expected,
        "{} key {:?}",
        tier.describe(),
        String::from_utf8_lossy(key)
    );
}

async fn run_suite(tier: Arc<dyn Tier>) {
    eprintln!("tier conformance: {}", tier.describe());
    tier.flush().await.unwrap();
    let t = &*tier;

    // Miss, fill, hit.
    assert_eq!(t.get(b"a").await.unwrap(), None);
    assert_eq!(
        t.set(b"a", b"v3", Version(3)).await.unwrap(),
        SetOutcome::Stored
    );
    check(t, b"a", Some((b"v3", 3))).await;

    // Never replace a version with an older or equal one.
    assert_eq!(
        t.set(b"a", b"v2", Version(2)).await.unwrap(),
        SetOutcome::Kept {
            current: Version(3)
        }
    );
    assert_eq!(
        t.set(b"a", b"other v3", Version(3)).await.unwrap(),
        SetOutcome::Kept {
            current: Version(3)
        }
    );
    assert_eq!(
        t.set(b"a", b"v5", Version(5)).await.unwrap(),
        SetOutcome::Stored
    );
    check(t, b"a", Some((b"v5", 5))).await;

    // A versioned delete leaves a tombstone that refuses late fills of older versions.
    assert_eq!(
        t.delete(b"a", Version(6)).await.unwrap(),
        SetOutcome::Stored
    );
    check(t, b"a", None).await;
    // Once a delete returned, no read finds the replaced version: not even on a replica
    // (reads rotate over them), which is what lets a write be acknowledged.
    assert_eq!(
        t.set(b"d", b"d1", Version(1)).await.unwrap(),
        SetOutcome::Stored
    );
    check(t, b"d", Some((b"d1", 1))).await;
    assert_eq!(
        t.delete(b"d", Version(2)).await.unwrap(),
        SetOutcome::Stored
    );
    for _ in 0..6 {
        assert_eq!(t.get(b"d").await.unwrap(), None, "{}", t.describe());
    }
    // The writer's invalidation at the write's own version gives way to that write's value
    // (the first read after a write fills the tier at once), but a live value at a version
    // outranks a tombstone at the same version.
    assert_eq!(
        t.delete(b"w", Version(4)).await.unwrap(),
        SetOutcome::Stored
    );
    assert_eq!(
        t.set(b"w", b"w4", Version(4)).await.unwrap(),
        SetOutcome::Stored
    );
    check(t, b"w", Some((b"w4", 4))).await;
    assert_eq!(
        t.delete(b"w", Version(4)).await.unwrap(),
        SetOutcome::Kept {
            current: Version(4)
        }
    );
    check(t, b"w", Some((b"w4", 4))).await;
    assert_eq!(
        t.set(b"a", b"late v5", Version(5)).await.unwrap(),
        SetOutcome::Kept {
            current: Version(6)
        }
    );
    assert_eq!(
        t.delete(b"a", Version(4)).await.unwrap(),
        SetOutcome::Kept {
            current: Version(6)
        }
    );
    assert_eq!(
        t.set(b"a", b"v7", Version(7)).await.unwrap(),
        SetOutcome::Stored
    );
    check(t, b"a", Some((b"v7", 7))).await;

    // The tombstone is short-lived: once it is gone, the key is simply absent.
    assert_eq!(
        t.delete(b"t", Version(9)).await.unwrap(),
        SetOutcome::Stored
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match t
            .set(b"t", b"after the tombstone", Version(2))
            .await
            .unwrap()
        {
            SetOutcome::Stored => break,
            SetOutcome::Kept { .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            kept => panic!("the tombstone outlived its TTL: {kept:?}"),
        }
    }

    // Concurrent fills of one key in any order end at the newest version.
    let writers: Vec<_> = (0..8u64)
        .map(|writer| {
            let tier = tier.clone();
            tokio::spawn(async move {
                for round in 0..25u64 {
                    let version = 100 + ((round * 8 + writer) * 7919) % 200;
                    let value = format!("v{version}");
                    tier.set(b"race", value.as_bytes(), Version(version))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    check(t, b"race", Some((b"v299", 299))).await;

    // Keys and values are bytes; hash tags are just bytes too.
    let binary_key: Vec<u8> = (0..=255u8).collect();
    let binary_value: Vec<u8> = (0..=255u8).rev().collect();
    t.set(&binary_key, &binary_value, Version(1)).await.unwrap();
    check(t, &binary_key, Some((&binary_value, 1))).await;
    t.set("{user:1}ключ".as_bytes(), b"", Version(1))
        .await
        .unwrap();
    check(t, "{user:1}ключ".as_bytes(), Some((b"", 1))).await;

    // Flush empties the tier.
    t.flush().await.unwrap();
    for key in [b"a".as_slice(), b"race", &binary_key] {
        check(t, key, None).await;
    }

    let stats = t.stats();
    assert!(
        stats.hits > 0 && stats.misses > 0 && stats.sets > 0 && stats.kept >= 4,
        "{stats:?}"
    );
    assert!(stats.deletes >= 2, "{stats:?}");
    assert_eq!(stats.errors, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_topologies_conform() {
    for url in [
        "memory://",
        "memory-partitioned://3",
        "memory-replicated://3",
    ] {
        run_suite(open(url, &options()).await.unwrap()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_single_server_conforms() {
    let server = RedisServer::start().expect("redis-server must start for this test");
    run_suite(open(&server.url(), &options()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sharded_servers_conform() {
    let servers: Vec<RedisServer> = (0..3)
        .map(|_| RedisServer::start().expect("redis-server must start for this test"))
        .collect();
    let addresses: Vec<String> = servers.iter().map(RedisServer::address).collect();
    let tier = open(
        &format!("redis-sharded://{}", addresses.join(",")),
        &options(),
    )
    .await
    .unwrap();
    run_suite(tier.clone()).await;
    // Keys really spread over the three servers.
    for i in 0..300u64 {
        tier.set(format!("spread-{i}").as_bytes(), b"x", Version(1))
            .await
            .unwrap();
    }
    for server in &servers {
        let keys: u64 = server.command(&["DBSIZE"]).unwrap().parse().unwrap();
        assert!(keys > 50, "a shard holds only {keys} of 300 keys");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_conforms() {
    let cluster = RedisCluster::start(3, 1).expect("a Redis Cluster must start for this test");
    let tier = open(&cluster.url(), &options()).await.unwrap();
    run_suite(tier.clone()).await;
    // Keys land on every primary (server-side slots, followed redirections).
    for i in 0..300u64 {
        tier.set(format!("spread-{i}").as_bytes(), b"x", Version(1))
            .await
            .unwrap();
    }
    let holding = cluster
        .nodes()
        .iter()
        .filter(|node| node.command(&["DBSIZE"]).unwrap().parse::<u64>().unwrap() > 50)
        .count();
    assert!(
        holding >= 3,
        "only {holding} nodes hold a share of 300 keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_primary_with_replicas_conforms() {
    let primary = RedisServer::start().expect("redis-server must start for this test");
    let replicas: Vec<RedisServer> = (0..2)
        .map(|_| RedisServer::replica_of(&primary).expect("a replica must start"))
        .collect();
    let url = format!(
        "redis-replicated://{},{},{}",
        primary.address(),
        replicas[0].address(),
        replicas[1].address()
    );
    let tier = open(&url, &options()).await.unwrap();
    run_suite(tier.clone()).await;
    // Reads are served by the replicas: they answer once replication caught up.
    tier.set(b"replicated", b"r", Version(1)).await.unwrap();
    for replica in &replicas {
        let deadline = Instant::now() + Duration::from_secs(3);
        while replica.command(&["HGET", "tc:replicated", "d"]).unwrap() != "r" {
            assert!(
                Instant::now() < deadline,
                "replica {} never caught up",
                replica.port()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sentinel_conforms() {
    let setup = RedisSentinel::start(2, 3, "tiercache").expect("Sentinel must start for this test");
    run_suite(open(&setup.url(), &options()).await.unwrap()).await;
}

#[tokio::test]
async fn an_unreachable_redis_is_unavailable_quickly() {
    let port = tiercache_testkit::free_port();
    let started = Instant::now();
    let error = match open(&format!("redis://127.0.0.1:{port}"), &options()).await {
        Ok(_) => panic!("connected to a closed port"),
        Err(error) => error,
    };
    assert!(
        matches!(error, tiercache_tier::TierError::Unavailable(_)),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn launched_redis_nodes_take_the_policy_and_budget_of_the_same_name() {
    let policy: tiercache_cache::PolicySpec = "allkeys-lfu:samples=7".parse().unwrap();
    let args = tiercache_tier::redis_server_args(&policy, 32 << 20).unwrap();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = RedisServer::start_with(&args).unwrap();
    let config = |name: &str| server.command(&["CONFIG", "GET", name]).unwrap();
    assert!(config("maxmemory-policy").contains("allkeys-lfu"));
    assert!(config("maxmemory").contains(&(32u64 << 20).to_string()));
    assert!(config("maxmemory-samples").contains('7'));
}

/// With `value_ttl`, a value leaves the tier on its own: the bound on serving a version
/// whose invalidation never came.
async fn values_expire(tier: Arc<dyn Tier>) {
    tier.flush().await.unwrap();
    let set_at = Instant::now();
    tier.set(b"aging", b"v1", Version(1)).await.unwrap();
    assert!(
        tier.get(b"aging").await.unwrap().is_some(),
        "{}",
        tier.describe()
    );
    check(&*tier, b"aging", None).await;
    let lived = set_at.elapsed();
    assert!(
        lived >= Duration::from_millis(200),
        "{}: gone after {lived:?}",
        tier.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_expire_after_the_value_ttl() {
    let aging = TierOptions {
        value_ttl: Some(Duration::from_millis(200)),
        ..options()
    };
    values_expire(open("memory://", &aging).await.unwrap()).await;
    let server = RedisServer::start().expect("redis-server must start for this test");
    values_expire(open(&server.url(), &aging).await.unwrap()).await;
}

/// The tier's ACL user: exactly the rights the tier documents.
const TIER_USER: &str = "tc-tier";
const TIER_PASSWORD: &str = "tier-password-for-tests";

/// Opening the tier as a user without its rights, or with a wrong password, fails with
/// `Refused` naming the rights; the password never shows.
async fn refuses_users_without_the_tier_rights(url_of: &impl Fn(&str) -> String) {
    match open(&url_of("stranger:stranger-password"), &options()).await {
        Err(tiercache_tier::TierError::Refused(message)) => {
            assert!(message.to_uppercase().contains("NOPERM"), "{message}");
            assert!(message.contains("as stranger"), "{message}");
            assert!(message.contains("~tc:*"), "{message}");
            assert!(!message.contains("stranger-password"), "{message}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a user without the tier's rights opened the tier"),
    }
    match open(&url_of(&format!("{TIER_USER}:wrong")), &options()).await {
        Err(tiercache_tier::TierError::Refused(message)) => {
            let lower = message.to_lowercase();
            assert!(
                lower.contains("wrongpass") || lower.contains("authentication failed"),
                "{message}"
            );
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a wrong password opened the tier"),
    }
}

/// The tier's user (with exactly [`tiercache_tier::REQUIRED_RIGHTS`]) and a stranger
/// (anything, but not on tiercache's keys) created by `add_user`; both refusals; then the
/// whole suite as the tier's user, whose password its description never shows.
async fn suite_as_the_tier_user(
    add_user: impl Fn(&str, &str, &str) -> std::io::Result<()>,
    url_of: impl Fn(&str) -> String,
) {
    add_user(TIER_USER, TIER_PASSWORD, tiercache_tier::REQUIRED_RIGHTS).unwrap();
    add_user("stranger", "stranger-password", "~other:* +@all").unwrap();
    refuses_users_without_the_tier_rights(&url_of).await;
    let tier = open(&url_of(&format!("{TIER_USER}:{TIER_PASSWORD}")), &options())
        .await
        .unwrap();
    assert!(
        !tier.describe().contains(TIER_PASSWORD),
        "{}",
        tier.describe()
    );
    run_suite(tier).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_single_server_conforms_as_an_acl_user_with_only_the_tier_rights() {
    let server = RedisServer::start().expect("redis-server must start for this test");
    suite_as_the_tier_user(
        |name, password, rights| server.add_user(name, password, rights),
        |credentials| format!("redis://{credentials}@{}", server.address()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_conforms_as_an_acl_user_with_only_the_tier_rights() {
    let cluster = RedisCluster::start(3, 1).expect("a Redis Cluster must start for this test");
    let seeds: Vec<String> = cluster.nodes().iter().map(RedisServer::address).collect();
    suite_as_the_tier_user(
        |name, password, rights| cluster.add_user(name, password, rights),
        |credentials| format!("redis-cluster://{credentials}@{}", seeds.join(",")),
    )
    .await;
}

/// `rediss://`: the tier over TLS to a Redis that asks for client certificates, as an ACL
/// user; the process presents the certificate it was started with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_conforms_as_an_acl_user() {
    let certs = tempfile::tempdir().unwrap();
    tiercache_tls::certs::generate(certs.path(), &Default::default()).unwrap();
    let (server, tls_port) = RedisServer::start_tls_in(certs.path())
        .expect("redis-server (built with TLS) must start for this test");
    server
        .add_user(TIER_USER, TIER_PASSWORD, tiercache_tier::REQUIRED_RIGHTS)
        .unwrap();
    let url = format!("rediss://{TIER_USER}:{TIER_PASSWORD}@127.0.0.1:{tls_port}");
    // Without an identity to present, the URL is refused with what is missing.
    let error = open(&url, &options())
        .await
        .err()
        .expect("rediss:// without --tls-ca");
    assert!(error.to_string().contains("--tls-ca"), "{error}");
    let client = tiercache_tls::certs::role_files(certs.path(), "api");
    tiercache_tls::process::install(tiercache_tls::Identity::load(&client).unwrap());
    let tier = open(&url, &options()).await.unwrap();
    run_suite(tier).await;
}
