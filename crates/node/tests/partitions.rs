//! Network faults between a node and real servers, through the test kit's fault proxy: a
//! node cut from the Redis bus (a blackhole, no FIN, no RST), a store behind added latency,
//! and a Redis tier whose connections are reset under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tiercache_bus::{Bus, RedisBus, SessionOptions};
use tiercache_core::Version;
use tiercache_node::{CoherenceOptions, Delivery, Node, NodeOptions, Source};
use tiercache_store::{Limits, Precondition, StoreClient};
use tiercache_testkit::RedisServer;
use tiercache_testkit::fault_proxy::{FaultProxy, Faults};
use tiercache_tier::{Tier, TierOptions};

mod common;
use common::sqlite;

/// Polls `condition` every 10 ms for at most `within`; fails the test with `what`.
async fn eventually(what: &str, within: Duration, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn read(node: &Node, key: &[u8]) -> (Version, Source) {
    let answer = node.get(key).await.unwrap().unwrap();
    (answer.version, answer.source)
}

fn loopback(address: std::net::SocketAddr) -> String {
    address.to_string()
}

/// Node B's bus connections are blackholed: its lease cannot be renewed and no notice
/// reaches it, but nothing tells it so (no FIN, no RST). It must stop answering from its
/// near cache before the bus drops it; node A's synchronous write then waits at most for
/// the lapse, and no read on B returns the replaced version. Healed, B starts a new session
/// and hears writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_from_the_bus_stops_near_hits_and_serves_no_stale_read() {
    let lease = Duration::from_millis(800);
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let address = server.address().parse().unwrap();
    let proxy = FaultProxy::start(address, 11).unwrap();
    let direct: Arc<dyn Bus> = Arc::new(RedisBus::connect(&server.address()).await.unwrap());
    let cut: Arc<dyn Bus> = Arc::new(RedisBus::connect(&loopback(proxy.address())).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let coherence = CoherenceOptions {
        delivery: Delivery::Sync,
        session: SessionOptions::with_lease(lease),
        ..CoherenceOptions::default()
    };
    let start = |bus: Arc<dyn Bus>| {
        let store = Arc::clone(&store);
        async move {
            Node::with_bus(store, None, bus, &NodeOptions::default(), coherence)
                .await
                .unwrap()
        }
    };
    let a = start(direct).await;
    let b = start(cut).await;
    b.get(b"k").await.unwrap();
    assert_eq!(read(&b, b"k").await.1, Source::Near);

    proxy.blackhole();
    let cut_at = Instant::now();
    eventually("B stops near hits", lease * 3, async || {
        read(&b, b"k").await.1 != Source::Near
    })
    .await;
    let stopped_after = cut_at.elapsed();
    assert!(
        stopped_after < lease,
        "near hits went on {stopped_after:?} (lease {lease:?})"
    );

    let writing = Instant::now();
    let v2 = tokio::time::timeout(
        Duration::from_secs(10),
        a.put(b"k", Bytes::from_static(b"two"), Precondition::None),
    )
    .await
    .expect("a sync write waits at most for the cut node's lapse")
    .unwrap();
    let waited = writing.elapsed();
    println!("near hits stopped {stopped_after:?} after the cut; the write waited {waited:?}");
    assert!(waited < lease * 3, "the write waited {waited:?}");
    assert_eq!(a.stats().coherence.unwrap().lapsed_receivers, 1);
    // Checked at once, and again while B is still cut off: never the replaced copy.
    for _ in 0..20 {
        let (version, source) = read(&b, b"k").await;
        assert_eq!(version, v2, "a stale read on the cut node");
        assert_ne!(source, Source::Near);
    }

    proxy.heal();
    eventually(
        "B serves near hits again, under a new session",
        Duration::from_secs(15),
        async || {
            let stats = b.stats().coherence.unwrap();
            stats.session_generation >= 1 && read(&b, b"k").await.1 == Source::Near
        },
    )
    .await;
    let v3 = a
        .put(b"k", Bytes::from_static(b"three"), Precondition::None)
        .await
        .unwrap();
    let (version, _) = read(&b, b"k").await;
    assert_eq!(version, v3, "B acknowledged the write before it returned");
    a.close().await;
    b.close().await;
}

/// A store 50 ms away (each way): concurrent reads of one cold key still make one store
/// read (single flight), and the node's answer times include the latency, not more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distant_store_keeps_single_flight() {
    let dir = tempfile::tempdir().unwrap();
    let sql = sqlite(&dir).await;
    sql.put(b"cold", b"value", Precondition::None)
        .await
        .unwrap();
    let store = Arc::new(
        tiercache_store::SqlStore::open(
            &format!("sqlite://{}/store.db", dir.path().display()),
            tiercache_store::SqlOptions::default(),
        )
        .await
        .unwrap(),
    );
    let served = tiercache_store::grpc::serve_on_loopback(store)
        .await
        .unwrap();
    let proxy = FaultProxy::start(served, 12).unwrap();
    let client = StoreClient::connect(&loopback(proxy.address()), Limits::default())
        .await
        .unwrap();
    proxy.set(Faults {
        latency: Duration::from_millis(50),
        ..Faults::default()
    });
    let node = Node::start(Arc::new(client), None, &NodeOptions::default())
        .await
        .unwrap();
    let started = Instant::now();
    let reads: Vec<_> = (0..16)
        .map(|_| {
            let node = Arc::clone(&node);
            tokio::spawn(async move { node.get(b"cold").await })
        })
        .collect();
    for read in reads {
        let answer = read.await.unwrap().unwrap().unwrap();
        assert_eq!(&answer.value[..], b"value");
    }
    let took = started.elapsed();
    println!("16 concurrent cold reads took {took:?}");
    let stats = node.stats();
    assert_eq!(
        stats.store.hits, 1,
        "one store read for 16 concurrent misses: {stats:?}"
    );
    assert_eq!(stats.coalesced, 15);
    // One round trip at 2 × 50 ms, not sixteen.
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_millis(100 * 8), "{took:?}");
}

/// Two nodes over a Redis tier whose connections are reset again and again while one
/// writes and both read: no read ever goes back to an older version than one it saw before,
/// and at the end both read the last write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_that_resets_connections_under_load_never_moves_a_version_back() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let proxy = FaultProxy::start(server.address().parse().unwrap(), 13).unwrap();
    let tier: Arc<dyn Tier> = tiercache_tier::open(
        &format!("redis://{}", proxy.address()),
        &TierOptions::default(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let keys: Vec<Vec<u8>> = (0..8).map(|i| format!("key-{i}").into_bytes()).collect();
    for key in &keys {
        store.put(key, b"0", Precondition::None).await.unwrap();
    }
    // No near cache (no bus between them): every read goes to the tier or the store.
    let options = NodeOptions {
        near_capacity_bytes: 0,
        ..NodeOptions::default()
    };
    let writer = Node::start(Arc::clone(&store), Some(Arc::clone(&tier)), &options)
        .await
        .unwrap();
    let reader = Node::start(Arc::clone(&store), Some(tier), &options)
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = [Arc::clone(&writer), Arc::clone(&reader)]
        .into_iter()
        .map(|node| {
            let (keys, stop) = (keys.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut seen = vec![Version::ZERO; keys.len()];
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for (index, key) in keys.iter().enumerate() {
                        // A read may fail while a connection is being reset: that is an
                        // error, never an older version.
                        if let Ok(Some(answer)) = node.get(key).await {
                            assert!(
                                answer.version >= seen[index],
                                "version went back from {:?} to {:?} ({:?})",
                                seen[index],
                                answer.version,
                                answer.source
                            );
                            seen[index] = answer.version;
                            reads += 1;
                        }
                    }
                }
                reads
            })
        })
        .collect();
    let mut last = vec![Version::ZERO; keys.len()];
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut round = 0u64;
    while Instant::now() < deadline {
        round += 1;
        let index = (round % keys.len() as u64) as usize;
        if let Ok(version) = writer
            .put(
                &keys[index],
                Bytes::from(round.to_string()),
                Precondition::None,
            )
            .await
        {
            last[index] = version;
        }
        if round.is_multiple_of(25) {
            proxy.reset_connections();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        let reads = reader.await.unwrap();
        println!(
            "{reads} reads answered during {round} writes and {} resets",
            round / 25
        );
        assert!(reads > 0, "some reads were answered");
    }
    let tier_stats = reader.stats().shared;
    println!("reader's tier: {tier_stats:?}");
    assert!(
        proxy.accepted_connections() > 1,
        "the resets made the tier reconnect"
    );
    // A write whose tier invalidation a reset cut answered an error and left the tier's
    // older copy to the background retry (10 ms, doubling): the nodes converge on the last
    // write once it ran — bounded, 5 s (a full test run once checked before it had).
    for (index, key) in keys.iter().enumerate() {
        let expected = store.get(key).await.unwrap().version();
        assert!(expected >= last[index]);
        for node in [&writer, &reader] {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let answer = node.get(key).await.unwrap().unwrap();
                if answer.version == expected {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the last write of {key:?}: still {:?}, not {expected:?}, after 5 s",
                    answer.version
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The writer's shared tier cannot be reached when it writes: the write answers
/// `TierInvalidation`, but the other node is notified all the same (its near copy goes at
/// once), and the tier's older copy is dropped by a background retry once the tier is back
/// — the held command itself was lost with its connection, so only the retry can do it —
/// followed by the invalidation again, for the near copies refilled from the tier's older
/// copy meanwhile (regression: the reader kept version 1 in its near cache until max age).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_tier_missed_still_notifies_and_retries_the_tier() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let proxy = FaultProxy::start(server.address().parse().unwrap(), 14).unwrap();
    let tier_options = TierOptions {
        redis_timeout: Duration::from_millis(300),
        ..TierOptions::default()
    };
    let cut_tier = tiercache_tier::open(&format!("redis://{}", proxy.address()), &tier_options)
        .await
        .unwrap();
    let direct_tier = tiercache_tier::open(&format!("redis://{}", server.address()), &tier_options)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let bus: Arc<dyn Bus> = Arc::new(tiercache_bus::MemoryBus::new());
    let coherence = CoherenceOptions {
        delivery: Delivery::Sync,
        ..CoherenceOptions::default()
    };
    let node = |tier: Arc<dyn Tier>| {
        let (store, bus) = (Arc::clone(&store), Arc::clone(&bus));
        async move {
            Node::with_bus(store, Some(tier), bus, &NodeOptions::default(), coherence)
                .await
                .unwrap()
        }
    };
    let writer = node(cut_tier).await;
    let reader = node(direct_tier).await;
    reader.get(b"k").await.unwrap();
    assert_eq!(read(&reader, b"k").await.1, Source::Near);

    proxy.blackhole();
    let error = writer
        .put(b"k", Bytes::from_static(b"two"), Precondition::None)
        .await
        .unwrap_err();
    let tiercache_node::NodeError::TierInvalidation { version: v2, .. } = error else {
        panic!("expected a tier invalidation error, got {error}");
    };
    // Notified: the reader's near copy is gone the moment the write returned.
    let stats = reader.stats().coherence.unwrap();
    assert_eq!(stats.applied, 1, "{stats:?}");
    assert_ne!(read(&reader, b"k").await.1, Source::Near);
    // The held delete dies with its connection; the tier comes back.
    proxy.reset_connections();
    proxy.heal();
    eventually(
        "the retry drops the tier's older copy",
        Duration::from_secs(10),
        async || read(&reader, b"k").await.0 == v2,
    )
    .await;
    writer.close().await;
    reader.close().await;
}

/// A bus whose `send_to` refuses the first `failures` calls (then forwards): a lost
/// acknowledgement, as a connection reset at the wrong moment would lose it.
#[derive(Debug)]
struct DroppingAcks {
    inner: Arc<dyn Bus>,
    failures: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl Bus for DroppingAcks {
    async fn open_session(
        &self,
        options: SessionOptions,
    ) -> tiercache_bus::BusResult<(
        tiercache_bus::Session,
        tokio::sync::mpsc::Receiver<tiercache_bus::SessionEvent>,
    )> {
        self.inner.open_session(options).await
    }

    async fn publish(
        &self,
        topic: &str,
        payload: Bytes,
    ) -> tiercache_bus::BusResult<tiercache_bus::Receivers> {
        self.inner.publish(topic, payload).await
    }

    async fn send_to(
        &self,
        session: tiercache_bus::SessionId,
        payload: Bytes,
    ) -> tiercache_bus::BusResult<bool> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(tiercache_bus::BusError::Unavailable(
                "injected: the send was lost".into(),
            ));
        }
        self.inner.send_to(session, payload).await
    }

    async fn alive(
        &self,
        sessions: &[tiercache_bus::SessionId],
    ) -> tiercache_bus::BusResult<Vec<bool>> {
        self.inner.alive(sessions).await
    }

    async fn append(
        &self,
        topic: &str,
        payload: Bytes,
    ) -> tiercache_bus::BusResult<tiercache_bus::Offset> {
        self.inner.append(topic, payload).await
    }

    async fn read(
        &self,
        topic: &str,
        after: Option<tiercache_bus::Offset>,
        max: usize,
    ) -> tiercache_bus::BusResult<Vec<tiercache_bus::Record>> {
        self.inner.read(topic, after, max).await
    }

    async fn acknowledge(
        &self,
        topic: &str,
        consumer: &str,
        offset: tiercache_bus::Offset,
    ) -> tiercache_bus::BusResult<()> {
        self.inner.acknowledge(topic, consumer, offset).await
    }

    async fn acknowledged(
        &self,
        topic: &str,
        consumer: &str,
    ) -> tiercache_bus::BusResult<Option<tiercache_bus::Offset>> {
        self.inner.acknowledged(topic, consumer).await
    }

    fn describe(&self) -> String {
        "a bus that drops acknowledgements".into()
    }
}

/// A receiver whose first two acknowledgement sends are refused sends it again: the
/// synchronous writer is confirmed in milliseconds, not held until it gives up on a node
/// that is alive and applied the notice (regression: the send was fire-and-forget).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_acknowledgement_is_sent_again_within_the_lease() {
    let lease = Duration::from_millis(3000);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.put(b"k", b"one", Precondition::None).await.unwrap();
    let memory: Arc<dyn Bus> = Arc::new(tiercache_bus::MemoryBus::new());
    let dropping: Arc<dyn Bus> = Arc::new(DroppingAcks {
        inner: Arc::clone(&memory),
        failures: std::sync::atomic::AtomicU32::new(2),
    });
    let coherence = CoherenceOptions {
        delivery: Delivery::Sync,
        session: SessionOptions::with_lease(lease),
        ..CoherenceOptions::default()
    };
    let writer = Node::with_bus(
        Arc::clone(&store),
        None,
        memory,
        &NodeOptions::default(),
        coherence,
    )
    .await
    .unwrap();
    let reader = Node::with_bus(
        Arc::clone(&store),
        None,
        dropping,
        &NodeOptions::default(),
        coherence,
    )
    .await
    .unwrap();
    reader.get(b"k").await.unwrap();
    assert_eq!(read(&reader, b"k").await.1, Source::Near);
    let started = Instant::now();
    let v2 = writer
        .put(b"k", Bytes::from_static(b"two"), Precondition::None)
        .await
        .expect("confirmed");
    let took = started.elapsed();
    let stats = writer.stats().coherence.unwrap();
    assert_eq!(
        (stats.confirmed_writes, stats.lapsed_receivers),
        (1, 0),
        "{stats:?}"
    );
    assert!(took < lease / 2, "the writer waited {took:?}");
    assert_eq!(read(&reader, b"k").await.0, v2);
    writer.close().await;
    reader.close().await;
}
