//! Coherence across nodes over a real SQLite store, with the in-process bus and with a real
//! redis-server bus: invalidation, update, bucket topics, and the races and faults of the
//! protocol, made deterministic by holding store replies (no sleeps decide an outcome).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tiercache_bus::{Bus, MemoryBus, RedisBus, RedisClusterBus, SessionOptions};
use tiercache_core::Version;
use tiercache_node::{
    CoherenceOptions, Delivery, Node, NodeError, NodeOptions, Notice, Source, Stamp,
    TopicGranularity, WriteMode,
};
use tiercache_store::faults::GatedStore;
use tiercache_store::{ObjectStore, Precondition};
use tiercache_testkit::{RedisCluster, RedisServer};
use tiercache_tier::Tier;

mod common;
use common::{memory_tier, sqlite};

/// `count` nodes over one store, one shared tier (if any) and one bus.
async fn nodes(
    count: usize,
    store: Arc<dyn ObjectStore>,
    tier: Option<Arc<dyn Tier>>,
    bus: Arc<dyn Bus>,
    coherence: CoherenceOptions,
) -> Vec<Arc<Node>> {
    let mut nodes = Vec::new();
    for _ in 0..count {
        let node = Node::with_bus(
            Arc::clone(&store),
            tier.clone(),
            Arc::clone(&bus),
            &NodeOptions::default(),
            coherence,
        )
        .await
        .unwrap();
        nodes.push(node);
    }
    nodes
}

/// One node without a shared tier, default options, over `store` and `bus`.
async fn node_on(
    store: Arc<dyn ObjectStore>,
    bus: Arc<dyn Bus>,
    coherence: CoherenceOptions,
) -> Arc<Node> {
    Node::with_bus(store, None, bus, &NodeOptions::default(), coherence)
        .await
        .unwrap()
}

/// Polls `condition` every 5 ms for at most 5 s.
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn applied(node: &Node) -> u64 {
    node.stats().coherence.unwrap().applied
}

fn received(node: &Node) -> u64 {
    node.stats().coherence.unwrap().received
}

async fn read(node: &Node, key: &[u8]) -> (Version, Source) {
    let answer = node.get(key).await.unwrap().unwrap();
    (answer.version, answer.source)
}

/// Three nodes hold a copy; a write on one makes the others drop theirs, and no node ever
/// goes back to the old version once it saw the new one.
async fn a_write_drops_the_other_copies(bus: Arc<dyn Bus>) {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let v1 = store.put(b"k", b"one", Precondition::None).await.unwrap();
    let nodes = nodes(
        3,
        store,
        Some(memory_tier().await),
        bus,
        CoherenceOptions::default(),
    )
    .await;
    for node in &nodes {
        node.get(b"k").await.unwrap();
        assert_eq!(read(node, b"k").await, (v1, Source::Near));
        assert_eq!(node.stats().coherence.unwrap().subscriptions, 1);
    }

    let v2 = nodes[0]
        .put(b"k", Bytes::from_static(b"two"), Precondition::None)
        .await
        .unwrap();
    assert_eq!(read(&nodes[0], b"k").await, (v2, Source::Near));
    for node in &nodes[1..] {
        eventually("the invalidation reaches the node", async || {
            applied(node) == 1
        })
        .await;
        // Dropped, so the topic is released.
        eventually("the topic is released", async || {
            node.stats().coherence.unwrap().subscriptions == 0
        })
        .await;
        let (version, source) = read(node, b"k").await;
        assert_eq!(version, v2);
        assert_ne!(source, Source::Near);
        assert_eq!(read(node, b"k").await, (v2, Source::Near));
    }
    let writer = nodes[0].stats().coherence.unwrap();
    assert_eq!(writer.published, 1);
    for node in &nodes {
        node.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_drops_the_other_copies_in_process() {
    a_write_drops_the_other_copies(Arc::new(MemoryBus::new())).await;
}

/// A bus on a three-primary Redis Cluster (sharded pub/sub), with the cluster it runs on.
async fn cluster_bus() -> (RedisCluster, Arc<dyn Bus>) {
    let cluster =
        RedisCluster::start(3, 0).expect("redis-server must be installed (scripts/test.sh)");
    let seeds: Vec<String> = cluster.nodes().iter().map(RedisServer::address).collect();
    let bus = RedisClusterBus::connect(&seeds).await.unwrap();
    (cluster, Arc::new(bus))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_drops_the_other_copies_over_redis_cluster() {
    let (_cluster, bus) = cluster_bus().await;
    a_write_drops_the_other_copies(bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_drops_the_other_copies_over_redis() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let bus = RedisBus::connect(&server.address()).await.unwrap();
    a_write_drops_the_other_copies(Arc::new(bus)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_mode_replaces_copies_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let coherence = CoherenceOptions {
        write_mode: WriteMode::Update,
        ..CoherenceOptions::default()
    };
    let nodes = nodes(2, store, None, Arc::new(MemoryBus::new()), coherence).await;
    nodes[1].get(b"k").await.unwrap();
    let v2 = nodes[0]
        .put(b"k", Bytes::from_static(b"two"), Precondition::None)
        .await
        .unwrap();
    eventually("the update reaches node 1", async || {
        applied(&nodes[1]) == 1
    })
    .await;
    let answer = nodes[1].get(b"k").await.unwrap().unwrap();
    assert_eq!((answer.version, answer.source), (v2, Source::Near));
    assert_eq!(answer.value, Bytes::from_static(b"two"));
    assert_eq!(
        nodes[1].stats().store.hits,
        1,
        "node 1 never read the store again"
    );

    // A delete travels as an update too: the copy becomes a delete marker.
    nodes[0].delete(b"k", Precondition::None).await.unwrap();
    eventually("the delete reaches node 1", async || {
        applied(&nodes[1]) == 2
    })
    .await;
    assert_eq!(nodes[1].get(b"k").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_topics_discard_notices_for_keys_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"a", b"one", Precondition::None).await.unwrap();
    let coherence = CoherenceOptions {
        topics: TopicGranularity::Bucket(1),
        ..CoherenceOptions::default()
    };
    let nodes = nodes(2, store, None, Arc::new(MemoryBus::new()), coherence).await;
    nodes[1].get(b"a").await.unwrap();
    nodes[0]
        .put(b"b", Bytes::from_static(b"x"), Precondition::None)
        .await
        .unwrap();
    eventually("the notice for b reaches node 1", async || {
        received(&nodes[1]) == 1
    })
    .await;
    let stats = nodes[1].stats().coherence.unwrap();
    assert_eq!(
        (stats.discarded, stats.applied, stats.subscriptions),
        (1, 0, 1)
    );
    assert_eq!(read(&nodes[1], b"a").await.1, Source::Near);
}

/// The race the subscription order exists for: node 1 reads v1 from the store, node 0
/// writes v2 and its invalidation reaches node 1, and only then does node 1's read return.
/// The read may answer v1 (it overlapped the write), but v1 must not enter the near cache.
async fn a_fill_finishing_after_a_notice_is_not_installed(write_mode: WriteMode) {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let v1 = store.put(b"k", b"one", Precondition::None).await.unwrap();
    let gated = Arc::new(GatedStore::new(Arc::clone(&store)));
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let coherence = CoherenceOptions {
        write_mode,
        ..CoherenceOptions::default()
    };
    let writer = node_on(Arc::clone(&store), Arc::clone(&bus), coherence).await;
    let reader = node_on(gated.clone(), bus, coherence).await;

    gated.hold_reads();
    let slow_read = tokio::spawn({
        let reader = Arc::clone(&reader);
        async move { reader.get(b"k").await }
    });
    eventually("the reader's store read is held", async || {
        gated.waiting_reads() == 1
    })
    .await;
    let v2 = writer
        .put(b"k", Bytes::from_static(b"two"), Precondition::None)
        .await
        .unwrap();
    eventually("the notice reaches the reader", async || {
        applied(&reader) == 1
    })
    .await;
    gated.release_reads();
    let answer = slow_read.await.unwrap().unwrap().unwrap();
    assert_eq!(
        answer.version, v1,
        "the overlapping read answers what it read"
    );

    assert_eq!(reader.stats().near.fills_refused, 1);
    let (version, source) = read(&reader, b"k").await;
    assert_eq!(version, v2, "{write_mode}: the old version was installed");
    assert_eq!(source, Source::Store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_finishing_after_an_invalidation_is_not_installed() {
    a_fill_finishing_after_a_notice_is_not_installed(WriteMode::Invalidate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_finishing_after_an_update_is_not_installed() {
    a_fill_finishing_after_a_notice_is_not_installed(WriteMode::Update).await;
}

/// Duplicated, late and reordered notices (as several publishers can produce) never move a
/// copy back to an older version, in either write mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_and_duplicate_notices_never_move_a_version_back() {
    for write_mode in [WriteMode::Invalidate, WriteMode::Update] {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(&dir).await;
        for value in [&b"one"[..], b"two", b"three"] {
            store.put(b"k", value, Precondition::None).await.unwrap();
        }
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
        let coherence = CoherenceOptions {
            write_mode,
            ..CoherenceOptions::default()
        };
        let node = node_on(store, Arc::clone(&bus), coherence).await;
        node.get(b"k").await.unwrap();
        assert_eq!(read(&node, b"k").await, (Version(3), Source::Near));

        let key = Bytes::from_static(b"k");
        let stale = [
            Notice::Invalidate {
                key: key.clone(),
                version: Version(2),
                stamp: Stamp::default(),
                ack: None,
            },
            Notice::Invalidate {
                key: key.clone(),
                version: Version(3),
                stamp: Stamp::default(),
                ack: None,
            },
            Notice::Invalidate {
                key: key.clone(),
                version: Version(3),
                stamp: Stamp::default(),
                ack: None,
            },
            Notice::Update {
                key: key.clone(),
                version: Version(1),
                value: Some(Bytes::from_static(b"one")),
                stamp: Stamp::default(),
                ack: None,
            },
            Notice::Update {
                key: key.clone(),
                version: Version(2),
                value: None,
                stamp: Stamp::default(),
                ack: None,
            },
        ];
        for notice in &stale {
            bus.publish("o:k", notice.encode()).await.unwrap();
        }
        eventually("every notice arrives", async || received(&node) == 5).await;
        let answer = node.get(b"k").await.unwrap().unwrap();
        assert_eq!(
            (answer.version, answer.source),
            (Version(3), Source::Near),
            "{write_mode}"
        );
        assert_eq!(answer.value, Bytes::from_static(b"three"));
        assert_eq!(applied(&node), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_notice_flushes_the_near_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let node = node_on(store, Arc::clone(&bus), CoherenceOptions::default()).await;
    node.get(b"k").await.unwrap();
    bus.publish("o:k", Bytes::from_static(b"\x01garbage"))
        .await
        .unwrap();
    eventually("the near cache is flushed", async || {
        node.stats().coherence.unwrap().flushes == 1
    })
    .await;
    assert_eq!(node.stats().coherence.unwrap().malformed, 1);
    assert_eq!(read(&node, b"k").await.1, Source::Store);
}

/// Regression: a notice takes a fill out of the flight map, then a flush happens (here for
/// a malformed message, which might have been a newer invalidation). The fill's read is
/// older than whatever that message announced, so it must not be installed after the
/// flush — found by the frozen-node test, where the flush followed a lost session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_that_began_before_a_flush_is_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let v1 = store.put(b"k", b"one", Precondition::None).await.unwrap();
    let gated = Arc::new(GatedStore::new(Arc::clone(&store)));
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let reader = node_on(gated.clone(), Arc::clone(&bus), CoherenceOptions::default()).await;

    gated.hold_reads();
    let slow_read = tokio::spawn({
        let reader = Arc::clone(&reader);
        async move { reader.get(b"k").await }
    });
    eventually("the reader's store read is held", async || {
        gated.waiting_reads() == 1
    })
    .await;
    // A notice at the version being read leaves the fill admissible but takes it out of
    // the flight map...
    let notice = Notice::Invalidate {
        key: Bytes::from_static(b"k"),
        version: v1,
        stamp: Stamp::default(),
        ack: None,
    };
    bus.publish("o:k", notice.encode()).await.unwrap();
    eventually("the notice is applied", async || applied(&reader) == 1).await;
    // ...and then the node flushes.
    bus.publish("o:k", Bytes::from_static(b"\x01garbage"))
        .await
        .unwrap();
    eventually("the near cache is flushed", async || {
        reader.stats().coherence.unwrap().flushes == 1
    })
    .await;
    gated.release_reads();
    assert_eq!(slow_read.await.unwrap().unwrap().unwrap().version, v1);
    assert_eq!(reader.stats().near.fills_refused, 1);
    assert_eq!(read(&reader, b"k").await.1, Source::Store);
}

/// Regression (found by the staleness checker): node R holds k and writes it; while R's
/// write is between its commit and its install, another node's older write drops R's copy,
/// which used to release k's topic. R then installed its own newer version with no
/// subscription left, and served it after later writes — stale for as long as it stayed
/// cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_between_commit_and_install_keeps_its_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let w_store = Arc::new(GatedStore::new(Arc::clone(&store)));
    let r_store = Arc::new(GatedStore::new(Arc::clone(&store)));
    let coherence = CoherenceOptions::default();
    let w = node_on(w_store.clone(), Arc::clone(&bus), coherence).await;
    let r = node_on(r_store.clone(), bus, coherence).await;
    r.get(b"k").await.unwrap();
    assert_eq!(read(&r, b"k").await.1, Source::Near);

    // W commits v2 and R commits v3; both replies wait.
    w_store.hold_writes();
    r_store.hold_writes();
    let w_write = tokio::spawn({
        let w = Arc::clone(&w);
        async move {
            w.put(b"k", Bytes::from_static(b"w"), Precondition::None)
                .await
        }
    });
    eventually("W's write is committed", async || {
        w_store.waiting_writes() == 1
    })
    .await;
    let r_write = tokio::spawn({
        let r = Arc::clone(&r);
        async move {
            r.put(b"k", Bytes::from_static(b"r"), Precondition::None)
                .await
        }
    });
    eventually("R's write is committed", async || {
        r_store.waiting_writes() == 1
    })
    .await;
    // W's notice (v2) drops R's v1 copy...
    w_store.release_writes();
    let v2 = w_write.await.unwrap().unwrap();
    eventually("R applies W's notice", async || applied(&r) == 1).await;
    // ...and the release task gets time to act on it (a failure needs it to run; a pass
    // does not depend on this pause).
    tokio::time::sleep(Duration::from_millis(100)).await;
    r_store.release_writes();
    let v3 = r_write.await.unwrap().unwrap();
    assert!(v3 > v2);
    assert_eq!(read(&r, b"k").await, (v3, Source::Near));
    assert_eq!(r.stats().coherence.unwrap().subscriptions, 1);

    let v4 = w
        .put(b"k", Bytes::from_static(b"w again"), Precondition::None)
        .await
        .unwrap();
    eventually("R hears the next write", async || {
        read(&r, b"k").await.0 == v4
    })
    .await;
}

/// Regression (found by the staleness checker over Redis): node R's write commits v2; before
/// R installs v2 in its near cache, node W commits v3 and its notice reaches R, which holds
/// no copy yet. The notice used to be discarded and R then installed v2 — a copy older
/// than an acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_overtaking_a_write_keeps_its_older_version_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let r_store = Arc::new(GatedStore::new(Arc::clone(&store)));
    let coherence = CoherenceOptions::default();
    let w = node_on(Arc::clone(&store), Arc::clone(&bus), coherence).await;
    let r = node_on(r_store.clone(), bus, coherence).await;

    r_store.hold_writes();
    let r_write = tokio::spawn({
        let r = Arc::clone(&r);
        async move {
            r.put(b"k", Bytes::from_static(b"r"), Precondition::None)
                .await
        }
    });
    eventually("R's write is committed", async || {
        r_store.waiting_writes() == 1
    })
    .await;
    let v_w = w
        .put(b"k", Bytes::from_static(b"w"), Precondition::None)
        .await
        .unwrap();
    eventually("R receives W's notice", async || received(&r) == 1).await;
    r_store.release_writes();
    let v_r = r_write.await.unwrap().unwrap();
    assert!(v_r < v_w);
    assert_eq!(applied(&r), 1, "the notice stopped R's install");
    let (version, source) = read(&r, b"k").await;
    assert_eq!(version, v_w, "R serves its own older write");
    assert_ne!(source, Source::Near);
}

/// Regression (found in review): a write's own install is refused (a flush came between its
/// start and its commit) while a fill that began after the flush is reading the old
/// version. The refused write used to leave that fill's floor alone, so the fill installed
/// the old version after the write was acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_install_still_stops_older_fills() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let v0 = store.put(b"k", b"zero", Precondition::None).await.unwrap();
    let gated = Arc::new(GatedStore::new(Arc::clone(&store)));
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let node = node_on(gated.clone(), Arc::clone(&bus), CoherenceOptions::default()).await;

    gated.hold_writes_before_commit();
    let write = tokio::spawn({
        let node = Arc::clone(&node);
        async move {
            node.put(b"k", Bytes::from_static(b"one"), Precondition::None)
                .await
        }
    });
    eventually("the write waits before its commit", async || {
        gated.waiting_before_commit() == 1
    })
    .await;
    // A flush (a malformed notice) after the write started.
    bus.publish("o:k", Bytes::from_static(b"\x01garbage"))
        .await
        .unwrap();
    eventually("the near cache is flushed", async || {
        node.stats().coherence.unwrap().flushes == 1
    })
    .await;
    // A fill after the flush reads the old version and waits.
    gated.hold_reads();
    let fill = tokio::spawn({
        let node = Arc::clone(&node);
        async move { node.get(b"k").await }
    });
    eventually("the fill's read is held", async || {
        gated.waiting_reads() == 1
    })
    .await;
    gated.release_writes_before_commit();
    let v1 = write.await.unwrap().unwrap();
    gated.release_reads();
    assert_eq!(fill.await.unwrap().unwrap().unwrap().version, v0);
    let (version, _) = read(&node, b"k").await;
    assert_eq!(
        version, v1,
        "the old version was installed after the write returned"
    );
}

/// Regression (found in review): after its session is lost, and before the node has
/// processed the loss, a fill used to find the lost incarnation's subscription in the topic
/// map and skip subscribing — so nothing would invalidate what it installed. Subscriptions
/// now count only in the generation they were confirmed in, and a lost incarnation takes
/// no new subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_sessions_subscriptions_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let coherence = CoherenceOptions {
        session: SessionOptions::with_lease(Duration::from_millis(300)),
        ..CoherenceOptions::default()
    };
    let node = node_on(store, Arc::new(MemoryBus::new()), coherence).await;
    node.get(b"k").await.unwrap();
    assert_eq!(read(&node, b"k").await.1, Source::Near);
    // Frozen: the loss is detected, but its event waits.
    node.freeze_bus(true);
    eventually("the loss is detected", async || {
        node.stats().coherence.unwrap().session_generation == 1
    })
    .await;
    assert_eq!(
        node.stats().coherence.unwrap().flushes,
        0,
        "not yet processed"
    );
    let answer = node.get(b"k").await.unwrap().unwrap();
    assert_ne!(answer.source, Source::Near);
    let stats = node.stats().coherence.unwrap();
    assert_eq!(
        stats.subscribe_errors, 1,
        "the fill tried to subscribe again (and could not: no live incarnation)"
    );
    node.freeze_bus(false);
    eventually("near hits resume under a new session", async || {
        read(&node, b"k").await.1 == Source::Near
    })
    .await;
}

/// A node that cannot renew its lease stops answering from its near cache before the bus
/// drops its subscriptions, and serves near hits again only after a new session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_stops_near_hits() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let coherence = CoherenceOptions {
        session: SessionOptions::with_lease(Duration::from_millis(300)),
        ..CoherenceOptions::default()
    };
    let bus = Arc::new(MemoryBus::new());
    let node = node_on(store, bus, coherence).await;
    node.get(b"k").await.unwrap();
    assert_eq!(read(&node, b"k").await.1, Source::Near);

    node.pause_lease_renewals(true);
    eventually("near hits stop", async || {
        read(&node, b"k").await.1 != Source::Near
    })
    .await;
    let stats = node.stats().coherence.unwrap();
    assert!(!stats.lease_valid);
    for _ in 0..3 {
        assert_ne!(
            read(&node, b"k").await.1,
            Source::Near,
            "a near hit without a lease"
        );
    }

    // Still paused: at its next renewal tick the session declares itself lost, and the
    // node flushes. (Resumed before that tick, a renewal the bus still accepts would make
    // the same session valid again — no message was missed, so that is safe too.)
    eventually("the session is declared lost", async || {
        let stats = node.stats().coherence.unwrap();
        stats.session_generation == 1 && stats.flushes == 1
    })
    .await;
    assert_ne!(read(&node, b"k").await.1, Source::Near);

    node.pause_lease_renewals(false);
    eventually("near hits resume under a new session", async || {
        read(&node, b"k").await.1 == Source::Near
    })
    .await;
    assert_eq!(node.stats().coherence.unwrap().session_generation, 1);
}

/// Killing the nodes' bus connections on the Redis server loses their sessions: each node
/// flushes, subscribes again under a new session, and still hears later writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_connection_flushes_and_recovers() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let bus: Arc<dyn Bus> = Arc::new(RedisBus::connect(&server.address()).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let nodes = nodes(2, store, None, bus, CoherenceOptions::default()).await;
    nodes[1].get(b"k").await.unwrap();
    assert_eq!(read(&nodes[1], b"k").await.1, Source::Near);

    let killed = server
        .command(&["CLIENT", "KILL", "TYPE", "pubsub"])
        .unwrap();
    assert_eq!(killed.trim(), "2", "both nodes' session connections");
    eventually("node 1 flushes", async || {
        nodes[1].stats().coherence.unwrap().flushes == 1
    })
    .await;
    eventually("node 1 refills under a new session", async || {
        read(&nodes[1], b"k").await.1 == Source::Near
    })
    .await;
    let v2 = nodes[0]
        .put(b"k", Bytes::from_static(b"two"), Precondition::None)
        .await
        .unwrap();
    eventually("node 1 hears the write", async || {
        read(&nodes[1], b"k").await.0 == v2
    })
    .await;
}

/// Synchronous delivery: the write returns only after both other nodes confirmed, so the
/// moment it returns neither can answer the old version — no waiting, no polling.
async fn a_sync_write_returns_after_every_copy_is_gone(bus: Arc<dyn Bus>, write_mode: WriteMode) {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let coherence = CoherenceOptions {
        delivery: Delivery::Sync,
        write_mode,
        ..CoherenceOptions::default()
    };
    let nodes = nodes(3, store, Some(memory_tier().await), bus, coherence).await;
    for node in &nodes {
        node.get(b"k").await.unwrap();
        assert_eq!(read(node, b"k").await.1, Source::Near);
    }
    for round in 0..20u32 {
        let writer = &nodes[round as usize % 3];
        let version = writer
            .put(b"k", Bytes::from(format!("v{round}")), Precondition::None)
            .await
            .unwrap();
        // Checked immediately: any older answer here is a stale read.
        for node in &nodes {
            let answer = node.get(b"k").await.unwrap().unwrap();
            assert_eq!(answer.version, version, "round {round}");
            assert_eq!(answer.value, format!("v{round}").as_bytes());
        }
    }
    let mut confirmed = 0;
    let mut acks_sent = 0;
    for node in &nodes {
        let stats = node.stats().coherence.unwrap();
        assert_eq!(stats.delivery, "sync");
        assert_eq!(stats.unconfirmed_writes, 0);
        assert_eq!(stats.lapsed_receivers, 0);
        confirmed += stats.confirmed_writes;
        acks_sent += stats.acks_sent;
    }
    assert_eq!(confirmed, 20);
    // Every node re-reads (and so subscribes) after each write: two receivers per write.
    assert_eq!(acks_sent, 40);
    for node in &nodes {
        node.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_write_returns_after_every_copy_is_gone_in_process() {
    let bus = Arc::new(MemoryBus::new());
    a_sync_write_returns_after_every_copy_is_gone(bus.clone(), WriteMode::Invalidate).await;
    a_sync_write_returns_after_every_copy_is_gone(bus, WriteMode::Update).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_write_returns_after_every_copy_is_gone_over_redis_cluster() {
    let (_cluster, bus) = cluster_bus().await;
    a_sync_write_returns_after_every_copy_is_gone(bus.clone(), WriteMode::Invalidate).await;
    a_sync_write_returns_after_every_copy_is_gone(bus, WriteMode::Update).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_write_returns_after_every_copy_is_gone_over_redis() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let bus: Arc<dyn Bus> = Arc::new(RedisBus::connect(&server.address()).await.unwrap());
    a_sync_write_returns_after_every_copy_is_gone(bus.clone(), WriteMode::Invalidate).await;
    a_sync_write_returns_after_every_copy_is_gone(bus, WriteMode::Update).await;
}

/// A node whose bus side froze (no renewals, no notices applied, no confirmations) holds
/// up a synchronous writer only until its lease lapses; by then it has stopped answering
/// from its near cache, so the write is still never read stale.
async fn a_frozen_node_blocks_sync_writers_at_most_one_lease(bus: Arc<dyn Bus>) {
    let lease = Duration::from_millis(800);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let coherence = CoherenceOptions {
        delivery: Delivery::Sync,
        session: SessionOptions::with_lease(lease),
        ..CoherenceOptions::default()
    };
    let nodes = nodes(2, store, None, bus, coherence).await;
    nodes[1].get(b"k").await.unwrap();
    assert_eq!(read(&nodes[1], b"k").await.1, Source::Near);

    nodes[1].freeze_bus(true);
    let started = std::time::Instant::now();
    let v2 = nodes[0]
        .put(b"k", Bytes::from_static(b"two"), Precondition::None)
        .await
        .expect("the frozen node lapses, so the write is confirmed");
    let waited = started.elapsed();
    let writer = nodes[0].stats().coherence.unwrap();
    assert_eq!(writer.lapsed_receivers, 1, "it waited for the frozen node");
    // The bound the docs promise: one lease plus one renewal interval (and scheduling).
    assert!(
        waited < lease + lease / 4 + Duration::from_millis(400),
        "waited {waited:?} for a lease of {lease:?}"
    );
    // The frozen node still holds the old copy but may not serve it.
    assert_eq!(read(&nodes[1], b"k").await.0, v2);
    assert_ne!(read(&nodes[1], b"k").await.1, Source::Near);

    nodes[1].freeze_bus(false);
    eventually(
        "the thawed node flushes and serves near hits again",
        async || {
            let (version, source) = read(&nodes[1], b"k").await;
            version == v2 && source == Source::Near
        },
    )
    .await;
    let v3 = nodes[0]
        .put(b"k", Bytes::from_static(b"three"), Precondition::None)
        .await
        .unwrap();
    assert_eq!(
        read(&nodes[1], b"k").await.0,
        v3,
        "confirmed by the new session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_blocks_sync_writers_at_most_one_lease_in_process() {
    a_frozen_node_blocks_sync_writers_at_most_one_lease(Arc::new(MemoryBus::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_blocks_sync_writers_at_most_one_lease_over_redis_cluster() {
    let (_cluster, bus) = cluster_bus().await;
    a_frozen_node_blocks_sync_writers_at_most_one_lease(bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_blocks_sync_writers_at_most_one_lease_over_redis() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let bus = RedisBus::connect(&server.address()).await.unwrap();
    a_frozen_node_blocks_sync_writers_at_most_one_lease(Arc::new(bus)).await;
}

/// A synchronous writer whose own session is gone cannot collect confirmations: it says so
/// (503 with the version) instead of claiming the write is coherent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_writer_without_a_session_reports_the_write_unconfirmed() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let coherence = CoherenceOptions {
        delivery: Delivery::Sync,
        ..CoherenceOptions::default()
    };
    let nodes = nodes(
        1,
        Arc::clone(&store),
        None,
        Arc::new(MemoryBus::new()),
        coherence,
    )
    .await;
    nodes[0].close().await;
    let error = nodes[0]
        .put(b"k", Bytes::from_static(b"one"), Precondition::None)
        .await
        .unwrap_err();
    let NodeError::Unconfirmed { version, .. } = error else {
        panic!("expected Unconfirmed, got {error:?}");
    };
    assert_eq!(
        store.get(b"k").await.unwrap(),
        tiercache_store::ObjectRead::Live {
            value: b"one".to_vec(),
            version
        },
        "the write itself is durable"
    );
}

/// `CLIENT KILL TYPE pubsub` while another node keeps writing, in synchronous delivery: the
/// reader flushes, and no read — before, across or after the kill — returns a version older
/// than a write acknowledged before the read began. Writes the kill left unconfirmed (the
/// writer's own session went too) are answered 503 and do not count as acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_while_others_write_serves_no_stale_read() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let bus: Arc<dyn Bus> = Arc::new(RedisBus::connect(&server.address()).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"0", Precondition::None).await.unwrap();
    let coherence = CoherenceOptions {
        delivery: Delivery::Sync,
        session: SessionOptions::with_lease(Duration::from_millis(1000)),
        ..CoherenceOptions::default()
    };
    let nodes = nodes(2, store, None, bus, coherence).await;
    let (writer, reader) = (Arc::clone(&nodes[0]), Arc::clone(&nodes[1]));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writes = tokio::spawn({
        let (acknowledged, done) = (Arc::clone(&acknowledged), Arc::clone(&done));
        async move {
            let mut unconfirmed = 0;
            for n in 0..300u32 {
                match writer
                    .put(b"k", Bytes::from(n.to_string()), Precondition::None)
                    .await
                {
                    Ok(version) => {
                        acknowledged.fetch_max(version.0, Ordering::AcqRel);
                    }
                    Err(NodeError::Unconfirmed { .. }) => unconfirmed += 1,
                    Err(error) => panic!("write {n}: {error}"),
                }
            }
            done.store(true, Ordering::Release);
            unconfirmed
        }
    });
    let reads = tokio::spawn({
        let (acknowledged, done) = (Arc::clone(&acknowledged), Arc::clone(&done));
        let reader = Arc::clone(&reader);
        async move {
            let (mut count, mut near) = (0u64, 0u64);
            while !done.load(Ordering::Acquire) {
                let floor = acknowledged.load(Ordering::Acquire);
                let answer = reader.get(b"k").await.unwrap().unwrap();
                assert!(
                    answer.version.0 >= floor,
                    "stale read: v{} after v{floor} was acknowledged ({:?})",
                    answer.version.0,
                    answer.source
                );
                count += 1;
                near += u64::from(answer.source == Source::Near);
            }
            (count, near)
        }
    });
    // Kill once the writes are under way.
    eventually("writes under way", async || {
        acknowledged.load(Ordering::Acquire) >= 50
    })
    .await;
    let killed = server
        .command(&["CLIENT", "KILL", "TYPE", "pubsub"])
        .unwrap();
    assert_eq!(killed.trim(), "2");
    let unconfirmed = writes.await.unwrap();
    let (count, near) = reads.await.unwrap();
    let flushes = reader.stats().coherence.unwrap().flushes;
    eprintln!(
        "CLIENT KILL under writes: {count} reads checked ({near} near hits), {unconfirmed} writes unconfirmed, {flushes} flush(es)"
    );
    assert!(flushes >= 1, "the reader flushed after losing its session");
    assert!(
        near > 0,
        "the reader served near hits, so staleness was possible"
    );
}
