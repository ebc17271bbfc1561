//! The read and write path of a node over a real SQLite store (directly and through gRPC)
//! and an in-process shared tier.

use std::sync::Arc;

use bytes::Bytes;
use tiercache_core::{ErrorCode, Version};
use tiercache_node::{Node, NodeError, NodeOptions, Source};
use tiercache_store::{Limits, ObjectStore, Precondition, SqlOptions, SqlStore, StoreClient};

mod common;
use common::{memory_tier, sqlite};

fn no_near() -> NodeOptions {
    NodeOptions {
        near_capacity_bytes: 0,
        ..NodeOptions::default()
    }
}

/// A fresh SQLite store in `dir`, served over gRPC on a free loopback port: a client to it.
/// (The server needs the whole store, not just its object service.)
async fn over_grpc(dir: &tempfile::TempDir) -> Arc<dyn ObjectStore> {
    let url = format!("sqlite://{}/store.db", dir.path().display());
    let store = SqlStore::open(&url, SqlOptions::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(tiercache_store::grpc::serve(
        Arc::new(store),
        listener,
        tiercache_store::grpc::ServeOptions {
            limits: Limits::default(),
            ..Default::default()
        },
        std::future::pending(),
    ));
    Arc::new(
        StoreClient::connect(&format!("http://{address}"), Limits::default())
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn answers_come_from_the_store_then_the_near_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let v1 = store
        .put(b"kepler-22b", b"{\"koi\":1}", Precondition::None)
        .await
        .unwrap();
    let node = Node::new(store, Some(memory_tier().await), &NodeOptions::default()).unwrap();

    let first = node.get(b"kepler-22b").await.unwrap().unwrap();
    assert_eq!(first.source, Source::Store);
    assert_eq!(first.version, v1);
    assert_eq!(first.value, Bytes::from_static(b"{\"koi\":1}"));
    let second = node.get(b"kepler-22b").await.unwrap().unwrap();
    assert_eq!(second.source, Source::Near);
    assert_eq!(second.version, v1);

    assert_eq!(node.get(b"unknown").await.unwrap(), None);
    let stats = node.stats();
    assert_eq!(stats.reads, 3);
    assert_eq!((stats.near.hits, stats.near.misses), (1, 2));
    assert_eq!((stats.shared.hits, stats.shared.misses), (0, 2));
    assert_eq!((stats.store.hits, stats.store.not_found), (1, 1));
    assert_eq!(stats.latency.near.count, 1);
}

#[tokio::test]
async fn a_node_without_near_cache_reads_the_shared_tier_after_a_fill() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"v", Precondition::None).await.unwrap();
    let tier = memory_tier().await;
    let filler = Node::new(Arc::clone(&store), Some(Arc::clone(&tier)), &no_near()).unwrap();
    let other = Node::new(store, Some(tier), &no_near()).unwrap();

    assert_eq!(
        filler.get(b"k").await.unwrap().unwrap().source,
        Source::Store
    );
    // The fill reached the shared tier: another node finds it there.
    assert_eq!(
        other.get(b"k").await.unwrap().unwrap().source,
        Source::Shared
    );
    assert_eq!(
        other.get(b"k").await.unwrap().unwrap().source,
        Source::Shared
    );
    assert!(!other.stats().near.enabled);
}

#[tokio::test]
async fn writes_go_through_and_later_reads_see_them_on_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let tier = memory_tier().await;
    let writer = Node::new(
        Arc::clone(&store),
        Some(Arc::clone(&tier)),
        &NodeOptions::default(),
    )
    .unwrap();
    let reader = Node::new(Arc::clone(&store), Some(Arc::clone(&tier)), &no_near()).unwrap();

    let v1 = writer
        .put(b"k", Bytes::from_static(b"one"), Precondition::None)
        .await
        .unwrap();
    assert_eq!(reader.get(b"k").await.unwrap().unwrap().version, v1);
    // The shared tier now holds v1 (the reader's fill); a write replaces it.
    let v2 = writer
        .put(b"k", Bytes::from_static(b"two"), Precondition::Version(v1))
        .await
        .unwrap();
    assert!(v2 > v1);
    let seen = reader.get(b"k").await.unwrap().unwrap();
    assert_eq!((seen.version, seen.source), (v2, Source::Store));
    assert_eq!(seen.value, Bytes::from_static(b"two"));
    // That read refilled the tier over the writer's tombstone (same version).
    let again = reader.get(b"k").await.unwrap().unwrap();
    assert_eq!((again.version, again.source), (v2, Source::Shared));
    // The writer installed its own write in its near cache.
    let own = writer.get(b"k").await.unwrap().unwrap();
    assert_eq!((own.version, own.source), (v2, Source::Near));

    // A stale precondition is a conflict and changes nothing.
    let conflict = writer
        .put(
            b"k",
            Bytes::from_static(b"three"),
            Precondition::Version(v1),
        )
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), ErrorCode::Conflict);
    assert_eq!(reader.get(b"k").await.unwrap().unwrap().version, v2);

    let v3 = writer.delete(b"k", Precondition::None).await.unwrap();
    assert!(v3 > v2);
    assert_eq!(writer.get(b"k").await.unwrap(), None);
    assert_eq!(reader.get(b"k").await.unwrap(), None);
    assert_eq!(tier.get(b"k").await.unwrap(), None);
    let stats = writer.stats();
    assert_eq!((stats.writes, stats.write_errors), (3, 1));
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_misses_on_one_key_read_the_store_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = over_grpc(&dir).await;
    store
        .put(b"hot", b"value", Precondition::None)
        .await
        .unwrap();
    store
        .put(b"other", b"value", Precondition::None)
        .await
        .unwrap();
    let node = Node::new(store, None, &NodeOptions::default()).unwrap();

    // On one thread, every read below starts (and misses) before the first store answer
    // arrives over the socket, so all of them overlap.
    let node = Arc::new(node);
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..20 {
        let node = Arc::clone(&node);
        let key: &[u8] = if i % 10 == 9 { b"other" } else { b"hot" };
        reads.spawn(async move { node.get(key).await.unwrap().unwrap() });
    }
    let answers = reads.join_all().await;
    assert!(answers.iter().all(|a| a.source == Source::Store));
    let stats = node.stats();
    assert_eq!(stats.store.hits, 2, "one store read per key");
    assert_eq!(stats.coalesced, 18);
    assert_eq!(stats.reads, 20);
    assert_eq!(
        node.get(b"hot").await.unwrap().unwrap().source,
        Source::Near
    );
}

#[tokio::test]
async fn bad_keys_and_values_are_refused_before_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let node = Node::new(
        Arc::clone(&store),
        None,
        &NodeOptions {
            limits: Limits {
                max_value_bytes: 8,
                ..Limits::default()
            },
            ..NodeOptions::default()
        },
    )
    .unwrap();
    let long_key = vec![b'k'; 513];
    let cases: [(&[u8], ErrorCode); 3] = [
        (b"", ErrorCode::InvalidArgument),
        (&long_key, ErrorCode::TooLarge),
        (b"line\nbreak", ErrorCode::InvalidArgument),
    ];
    for (key, code) in cases {
        assert_eq!(node.get(key).await.unwrap_err().code(), code);
        let error = node
            .put(key, Bytes::from_static(b"v"), Precondition::None)
            .await
            .unwrap_err();
        assert_eq!(error.code(), code);
    }
    let error = node
        .put(b"k", Bytes::from_static(b"123456789"), Precondition::None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::TooLarge);
    assert_eq!(store.get(b"k").await.unwrap().version(), Version::ZERO);
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable_and_nothing_is_cached() {
    // A port nothing listens on (bound, then released).
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let store: Arc<dyn ObjectStore> = Arc::new(
        StoreClient::connect_lazy(&format!("http://127.0.0.1:{port}"), Limits::default()).unwrap(),
    );
    let node = Node::new(store, Some(memory_tier().await), &NodeOptions::default()).unwrap();
    let error = node.get(b"k").await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::Unavailable, "{error}");
    let error = node
        .put(b"k", Bytes::from_static(b"v"), Precondition::None)
        .await
        .unwrap_err();
    assert!(matches!(error, NodeError::Store(_)), "{error}");
    assert_eq!(error.code(), ErrorCode::Unavailable);
    let stats = node.stats();
    assert_eq!((stats.failed_reads, stats.write_errors), (1, 1));
    assert_eq!(stats.near.entries, 0);
}

/// With `near_max_age`, a near copy is served only that long after it was installed; then
/// the next read goes back to the store (and sees what changed there meanwhile).
#[tokio::test]
async fn near_copies_expire_after_the_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let node = Node::new(
        Arc::clone(&store),
        None,
        &NodeOptions {
            near_max_age: Some(std::time::Duration::from_millis(200)),
            ..NodeOptions::default()
        },
    )
    .unwrap();
    let installed = std::time::Instant::now();
    node.get(b"k").await.unwrap();
    // Behind the node's back, as a crashed writer would leave it.
    let v2 = store.put(b"k", b"two", Precondition::None).await.unwrap();
    loop {
        let answer = node.get(b"k").await.unwrap().unwrap();
        if answer.source != Source::Near {
            assert_eq!(answer.version, v2);
            break;
        }
        assert!(
            installed.elapsed() < std::time::Duration::from_secs(5),
            "never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(installed.elapsed() >= std::time::Duration::from_millis(200));
}
