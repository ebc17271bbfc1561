//! End to end through the HTTP API on every shared-tier topology: the in-process ones and
//! real redis-server processes (single, sharded, Cluster, primary + replicas, Sentinel).
//!
//! Two API nodes share one SQLite store and one tier, over real sockets. Node A has a near
//! cache; node B has none, so every read of B shows what the shared tier holds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tiercache_api::ApiOptions;
use tiercache_node::{Node, NodeOptions};
use tiercache_store::{SqlOptions, SqlStore, Store};
use tiercache_testkit::{RedisCluster, RedisSentinel, RedisServer};
use tiercache_tier::TierOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request on a fresh connection; the status and the JSON body.
async fn http(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn start_node(
    store: Arc<dyn Store>,
    tier: Arc<dyn tiercache_tier::Tier>,
    near: u64,
) -> SocketAddr {
    let node = Node::new(
        store,
        Some(tier),
        &NodeOptions {
            near_capacity_bytes: near,
            ..NodeOptions::default()
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = tiercache_api::router(Arc::new(node), ApiOptions::default());
    tokio::spawn(tiercache_api::serve(
        listener,
        router,
        std::future::pending(),
    ));
    address
}

async fn exercise(tier_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/store.db", dir.path().display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&db, SqlOptions::default()).await.unwrap());
    let tier = tiercache_tier::open(tier_url, &TierOptions::default())
        .await
        .unwrap();
    tier.flush().await.unwrap();
    let describe = tier.describe();
    let a = start_node(Arc::clone(&store), Arc::clone(&tier), 1 << 20).await;
    let b = start_node(store, tier, 0).await;

    let (status, written) = http(a, "PUT", "/v1/objects/planet", r#"{"kepid":1,"v":1}"#).await;
    assert_eq!(status, 200, "{describe}: {written}");
    let v1 = written["version"].as_u64().unwrap();
    let (_, read) = http(a, "GET", "/search?id=planet", "").await;
    assert_eq!(
        (read["source"].as_str(), read["version"].as_u64()),
        (Some("near"), Some(v1)),
        "{describe}"
    );

    // B's first read fills the tier from the store; later reads of B come from the tier
    // (a replicated tier's replicas catch up asynchronously: bounded polling).
    let (_, first) = http(b, "GET", "/v1/objects/planet", "").await;
    assert_eq!(
        (first["source"].as_str(), first["version"].as_u64()),
        (Some("store"), Some(v1)),
        "{describe}"
    );
    let mut shared = None;
    for _ in 0..200 {
        let (_, read) = http(b, "GET", "/v1/objects/planet", "").await;
        assert_eq!(read["version"].as_u64(), Some(v1), "{describe}");
        if read["source"] == "shared" {
            shared = Some(read);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let shared = shared.unwrap_or_else(|| panic!("{describe}: B never read from the tier"));
    assert_eq!(shared["value"]["v"], 1);

    // A write through A replaces the tier's copy before it is acknowledged: B's very next
    // read sees the new version, never the old one.
    let (status, written) = http(a, "PUT", "/v1/objects/planet", r#"{"kepid":1,"v":2}"#).await;
    assert_eq!(status, 200, "{describe}: {written}");
    let v2 = written["version"].as_u64().unwrap();
    assert!(v2 > v1);
    for _ in 0..5 {
        let (_, read) = http(b, "GET", "/v1/objects/planet", "").await;
        assert_eq!(read["version"].as_u64(), Some(v2), "{describe}: {read}");
        assert_eq!(read["value"]["v"], 2, "{describe}");
    }
    let (_, read) = http(a, "GET", "/v1/objects/planet", "").await;
    assert_eq!(
        (read["source"].as_str(), read["version"].as_u64()),
        (Some("near"), Some(v2))
    );

    // A delete: 404 everywhere at once.
    let (status, _) = http(a, "DELETE", "/v1/objects/planet", "").await;
    assert_eq!(status, 200, "{describe}");
    for node in [a, b, b, b] {
        let (status, error) = http(node, "GET", "/v1/objects/planet", "").await;
        assert_eq!(
            (status, error["error"].as_str()),
            (404, Some("not_found")),
            "{describe}"
        );
    }

    let (_, stats) = http(b, "GET", "/v1/stats", "").await;
    assert!(
        stats["shared"]["hits"].as_u64().unwrap() >= 1,
        "{describe}: {stats}"
    );
    assert_eq!(stats["failed_reads"], 0, "{describe}");
}

#[tokio::test]
async fn in_process_topologies() {
    for url in [
        "memory://",
        "memory-partitioned://3",
        "memory-replicated://3",
    ] {
        exercise(url).await;
    }
}

#[tokio::test]
async fn redis_single_and_sharded() {
    let single = RedisServer::start().unwrap();
    exercise(&format!("redis://{}", single.address())).await;
    let shards: Vec<RedisServer> = (0..3).map(|_| RedisServer::start().unwrap()).collect();
    let addresses: Vec<String> = shards.iter().map(RedisServer::address).collect();
    exercise(&format!("redis-sharded://{}", addresses.join(","))).await;
}

#[tokio::test]
async fn redis_cluster() {
    let cluster = RedisCluster::start(3, 1).unwrap();
    exercise(&cluster.url()).await;
}

#[tokio::test]
async fn redis_primary_with_replicas_and_sentinel() {
    let primary = RedisServer::start().unwrap();
    let replicas = [
        RedisServer::replica_of(&primary).unwrap(),
        RedisServer::replica_of(&primary).unwrap(),
    ];
    exercise(&format!(
        "redis-replicated://{},{},{}",
        primary.address(),
        replicas[0].address(),
        replicas[1].address()
    ))
    .await;
    drop(replicas);
    drop(primary);
    let sentinel = RedisSentinel::start(2, 3, "tiercache").unwrap();
    exercise(&sentinel.url()).await;
}

#[tokio::test]
async fn an_unreachable_shared_tier_degrades_reads_and_fails_writes_with_503() {
    let mut redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/store.db", dir.path().display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&db, SqlOptions::default()).await.unwrap());
    store
        .put(b"k", b"\"stored\"", tiercache_store::Precondition::None)
        .await
        .unwrap();
    let options = TierOptions {
        redis_timeout: Duration::from_millis(500),
        ..TierOptions::default()
    };
    let tier = tiercache_tier::open(&format!("redis://{}", redis.address()), &options)
        .await
        .unwrap();
    let node = start_node(Arc::clone(&store), tier, 0).await;
    redis.kill();

    // Reads fall through to the store.
    let (status, read) = http(node, "GET", "/v1/objects/k", "").await;
    assert_eq!(
        (status, read["source"].as_str()),
        (200, Some("store")),
        "{read}"
    );
    // A write reaches the store but cannot invalidate the tier: 503, with the version.
    let (status, error) = http(node, "PUT", "/v1/objects/k", "\"new\"").await;
    assert_eq!(
        (status, error["error"].as_str()),
        (503, Some("unavailable")),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("written to the store at version v2"),
        "{error}"
    );
    assert_eq!(store.get(b"k").await.unwrap().version().0, 2);
}
