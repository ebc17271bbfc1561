//! The outbox over a real SQLite store, an in-process tier and bus: a write committed with
//! no notice (what a writer that crashed after its commit leaves) reaches the shared tier
//! and the other near caches once its notice is old enough to replay; a write whose notice
//! went out is confirmed and never replayed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tiercache_bus::{Bus, MemoryBus};
use tiercache_node::{CoherenceOptions, Node, NodeOptions, OutboxOptions, Source};
use tiercache_store::Precondition;

mod common;
use common::{memory_tier, sqlite};

const REPLAY_AFTER: Duration = Duration::from_millis(1000);

fn options() -> NodeOptions {
    NodeOptions {
        outbox: Some(OutboxOptions {
            replay_after: REPLAY_AFTER,
            sweep_every: Duration::from_millis(100),
            ..OutboxOptions::default()
        }),
        ..NodeOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_committed_without_its_notice_is_replayed_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let tier = memory_tier().await;
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let start = || {
        let (store, tier, bus) = (Arc::clone(&store), Arc::clone(&tier), Arc::clone(&bus));
        async move {
            Node::with_bus(
                store,
                Some(tier),
                bus,
                &options(),
                CoherenceOptions::default(),
            )
            .await
            .unwrap()
        }
    };
    let writer = start().await;
    let reader = start().await;

    // A write through a node: published, then confirmed — never replayed.
    let v1 = writer
        .put(b"k", Bytes::from_static(b"one"), Precondition::None)
        .await
        .unwrap();
    reader.get(b"k").await.unwrap();
    let held = reader.get(b"k").await.unwrap().unwrap();
    assert_eq!((held.version, held.source), (v1, Source::Near));

    // The crashed writer: committed in the store, nothing else.
    let v2 = store.put(b"k", b"two", Precondition::None).await.unwrap();
    let committed = Instant::now();
    let stale = reader.get(b"k").await.unwrap().unwrap();
    assert_eq!(stale.version, v1, "nobody was told yet");
    let converged = loop {
        let answer = reader.get(b"k").await.unwrap().unwrap();
        if answer.version == v2 {
            break committed.elapsed();
        }
        assert!(
            committed.elapsed() < Duration::from_secs(10),
            "never replayed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!("replayed {converged:?} after the commit (replay after {REPLAY_AFTER:?})");
    assert!(
        converged >= REPLAY_AFTER - Duration::from_millis(50),
        "{converged:?}"
    );
    assert!(
        converged < REPLAY_AFTER + Duration::from_secs(1),
        "{converged:?}"
    );
    // The tier's copy went too: a node with an empty near cache reads the new version.
    writer.clear_near();
    assert_eq!(writer.get(b"k").await.unwrap().unwrap().version, v2);

    // Exactly one notice was replayed, by one of the two nodes: the node's own was confirmed.
    tokio::time::sleep(REPLAY_AFTER + Duration::from_millis(300)).await;
    let (w, r) = (
        writer.stats().outbox.unwrap(),
        reader.stats().outbox.unwrap(),
    );
    assert_eq!(w.replayed + r.replayed, 1, "writer {w:?}, reader {r:?}");
    assert_eq!(w.confirmed, 1, "{w:?}");
    assert_eq!(w.replay_errors + r.replay_errors, 0);
}
