//! Write-behind over a real SQLite store: coalescing, read-your-writes on the writing node,
//! the window during which other nodes read the previous version, deletes, shutdown, and
//! what is refused. Flushes are driven by hand (a one-hour interval) unless a test is about
//! the timer, so no sleep decides an outcome.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tiercache_bus::{Bus, MemoryBus};
use tiercache_node::{
    CoherenceOptions, Node, NodeError, NodeOptions, PENDING, SetupError, Source, WriteBehindOptions,
};
use tiercache_store::faults::GatedStore;
use tiercache_store::{ObjectRead, Precondition};

mod common;
use common::{memory_tier, sqlite};

fn behind(flush_interval: Duration) -> NodeOptions {
    NodeOptions {
        write_behind: Some(WriteBehindOptions {
            flush_interval,
            ..WriteBehindOptions::default()
        }),
        ..NodeOptions::default()
    }
}

const BY_HAND: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_coalesce_in_memory_and_reach_the_store_at_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let node = Node::start(Arc::clone(&store), None, &behind(BY_HAND))
        .await
        .unwrap();
    for round in 0..10u32 {
        for key in 0..10u32 {
            let version = node
                .put(
                    format!("k{key}").as_bytes(),
                    Bytes::from(format!("{key}:{round}")),
                    Precondition::None,
                )
                .await
                .unwrap();
            assert_eq!(version, PENDING);
        }
    }
    // This node reads its own writes; the store has none of them yet.
    let answer = node.get(b"k3").await.unwrap().unwrap();
    assert_eq!(
        (answer.value.as_ref(), answer.source, answer.version),
        (&b"3:9"[..], Source::Pending, PENDING)
    );
    assert_eq!(store.get(b"k3").await.unwrap(), ObjectRead::Absent);

    let flushed = node.flush_dirty().await;
    assert_eq!((flushed.stored, flushed.failed), (10, 0));
    for key in 0..10u32 {
        let ObjectRead::Live { value, version } =
            store.get(format!("k{key}").as_bytes()).await.unwrap()
        else {
            panic!("k{key} not stored");
        };
        assert_eq!(value, format!("{key}:9").as_bytes());
        assert_eq!(version.0, 1, "one store write per key");
    }
    let stats = node.stats().write_behind.unwrap();
    assert_eq!(
        (
            stats.accepted,
            stats.coalesced,
            stats.store_writes,
            stats.pending_keys
        ),
        (100, 90, 10, 0)
    );
    assert!((stats.saved_ratio - 0.9).abs() < 1e-9);
    assert!(stats.window.max_us > 0.0);
    assert_eq!(stats.window.count, 10, "one window per write stored");
    // After the flush, reads come from the store's version.
    let answer = node.get(b"k3").await.unwrap().unwrap();
    assert_eq!((answer.version.0, answer.source), (1, Source::Store));
    assert_eq!(node.flush_dirty().await.stored, 0, "nothing left");
}

/// Another node keeps reading the previous version until the flush — the documented
/// window — and the flush's invalidation then reaches it like a write-through's would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_nodes_read_the_previous_version_until_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let v1 = store.put(b"k", b"one", Precondition::None).await.unwrap();
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let tier = Some(memory_tier().await);
    let writer = Node::with_bus(
        Arc::clone(&store),
        tier.clone(),
        Arc::clone(&bus),
        &behind(BY_HAND),
        CoherenceOptions::default(),
    )
    .await
    .unwrap();
    let reader = Node::with_bus(
        Arc::clone(&store),
        tier,
        bus,
        &NodeOptions::default(),
        CoherenceOptions::default(),
    )
    .await
    .unwrap();
    reader.get(b"k").await.unwrap();
    writer
        .put(b"k", Bytes::from_static(b"two"), Precondition::None)
        .await
        .unwrap();
    let before = reader.get(b"k").await.unwrap().unwrap();
    assert_eq!((before.version, before.source), (v1, Source::Near));

    assert_eq!(writer.flush_dirty().await.stored, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = reader.get(b"k").await.unwrap().unwrap();
        if answer.value.as_ref() == b"two" {
            assert!(answer.version > v1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the flush never reached the reader"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(writer.stats().coherence.unwrap().published, 1);
}

/// A store that refuses a flush loses nothing: the writes wait for the next one, and a
/// write made meanwhile wins over the one it replaces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_keeps_the_writes_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let gated = Arc::new(GatedStore::new(Arc::clone(&store)));
    let node = Node::start(gated.clone(), None, &behind(BY_HAND))
        .await
        .unwrap();
    gated.fail_writes(true);
    for key in [&b"a"[..], b"b"] {
        node.put(key, Bytes::from_static(b"old"), Precondition::None)
            .await
            .unwrap();
    }
    node.delete(b"c", Precondition::None).await.unwrap();
    let first = node.flush_dirty().await;
    assert_eq!((first.stored, first.failed), (0, 3));
    assert_eq!(
        node.get(b"a").await.unwrap().unwrap().source,
        Source::Pending
    );
    node.put(b"a", Bytes::from_static(b"new"), Precondition::None)
        .await
        .unwrap();

    gated.fail_writes(false);
    let second = node.flush_dirty().await;
    assert_eq!((second.stored, second.failed), (3, 0));
    let ObjectRead::Live { value, .. } = store.get(b"a").await.unwrap() else {
        panic!("a not stored");
    };
    assert_eq!(value, b"new");
    assert!(matches!(
        store.get(b"b").await.unwrap(),
        ObjectRead::Live { .. }
    ));
    let stats = node.stats().write_behind.unwrap();
    assert_eq!(stats.flush_errors, 2, "one batch and one delete");
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.pending_keys, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_are_written_behind_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let node = Node::start(Arc::clone(&store), None, &behind(BY_HAND))
        .await
        .unwrap();
    node.get(b"k").await.unwrap();
    node.delete(b"k", Precondition::None).await.unwrap();
    assert_eq!(node.get(b"k").await.unwrap(), None, "read your delete");
    assert!(matches!(
        store.get(b"k").await.unwrap(),
        ObjectRead::Live { .. }
    ));
    node.flush_dirty().await;
    assert!(matches!(
        store.get(b"k").await.unwrap(),
        ObjectRead::Deleted { .. }
    ));
    assert_eq!(node.get(b"k").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_flushes_and_close_flushes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let node = Node::start(Arc::clone(&store), None, &behind(Duration::from_millis(20)))
        .await
        .unwrap();
    node.put(b"early", Bytes::from_static(b"1"), Precondition::None)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.get(b"early").await.unwrap() == ObjectRead::Absent {
        assert!(std::time::Instant::now() < deadline, "no timed flush");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let slow = Node::start(Arc::clone(&store), None, &behind(BY_HAND))
        .await
        .unwrap();
    slow.put(b"late", Bytes::from_static(b"2"), Precondition::None)
        .await
        .unwrap();
    slow.close().await;
    assert!(matches!(
        store.get(b"late").await.unwrap(),
        ObjectRead::Live { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_write_behind_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let error = node_error(Node::new(Arc::clone(&store), None, &behind(BY_HAND)).err());
    assert_eq!(error, SetupError::WriteBehindWithoutFlusher);
    assert!(error.to_string().contains("Node::start"), "{error}");
    let error = node_error(
        Node::start(Arc::clone(&store), None, &behind(Duration::ZERO))
            .await
            .err(),
    );
    assert_eq!(error, SetupError::FlushInterval(Duration::ZERO));
    assert!(error.to_string().contains("flush interval"), "{error}");

    let node = Node::start(store, None, &behind(BY_HAND)).await.unwrap();
    let refused = node
        .put(
            b"k",
            Bytes::from_static(b"v"),
            Precondition::Version(tiercache_core::Version(3)),
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, NodeError::NotSupported(_)), "{refused:?}");
    assert_eq!(node.get(b"k").await.unwrap(), None, "nothing was taken");
}

fn node_error(error: Option<SetupError>) -> SetupError {
    error.expect("expected the node to be refused")
}
