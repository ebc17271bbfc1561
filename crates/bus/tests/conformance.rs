//! One conformance suite for every bus backend: in process, a real redis-server and a real
//! three-primary Redis Cluster started by the test kit. Waits are bounded; a missing event fails the test with what was seen.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tiercache_bus::{
    Bus, BusError, MemoryBus, Offset, RedisBus, RedisClusterBus, Session, SessionEvent,
    SessionOptions, UNANSWERED_CONNECTION_NAME,
};
use tiercache_testkit::{RedisCluster, RedisServer};
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(5);

fn short_lease() -> SessionOptions {
    SessionOptions::with_lease(Duration::from_millis(400))
}

async fn next(events: &mut Receiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("no session event within 5 s")
        .expect("the session's event channel closed")
}

/// Asserts that no event arrives within `quiet`.
async fn nothing_more(events: &mut Receiver<SessionEvent>, quiet: Duration) {
    if let Ok(Some(event)) = tokio::time::timeout(quiet, events.recv()).await {
        panic!("unexpected event {event:?}");
    }
}

fn message(topic: &str, payload: &'static str) -> SessionEvent {
    SessionEvent::Message {
        topic: topic.into(),
        payload: Bytes::from_static(payload.as_bytes()),
    }
}

async fn delivers_to_subscribers_only(bus: &dyn Bus) {
    let (a, mut a_events) = bus.open_session(SessionOptions::default()).await.unwrap();
    let (b, mut b_events) = bus.open_session(SessionOptions::default()).await.unwrap();
    assert_ne!(a.id(), b.id());
    a.subscribe("o:k1").await.unwrap();
    b.subscribe("o:k1").await.unwrap();
    b.subscribe("o:k2").await.unwrap();

    let receivers = bus
        .publish("o:k1", Bytes::from_static(b"one"))
        .await
        .unwrap();
    let mut expected = vec![a.id().unwrap(), b.id().unwrap()];
    expected.sort();
    assert_eq!(receivers.sessions, expected);
    assert_eq!(next(&mut a_events).await, message("o:k1", "one"));
    assert_eq!(next(&mut b_events).await, message("o:k1", "one"));

    let receivers = bus
        .publish("o:k2", Bytes::from_static(b"two"))
        .await
        .unwrap();
    assert_eq!(receivers.sessions, vec![b.id().unwrap()]);
    assert_eq!(next(&mut b_events).await, message("o:k2", "two"));

    // Nobody listens: not an error, nobody receives.
    assert!(
        bus.publish("o:none", Bytes::from_static(b"x"))
            .await
            .unwrap()
            .is_empty()
    );

    // Unsubscribing stops delivery at once; subscribing twice is once.
    a.subscribe("o:k1").await.unwrap();
    a.unsubscribe("o:k1").await.unwrap();
    a.unsubscribe("o:never").await.unwrap();
    let receivers = bus
        .publish("o:k1", Bytes::from_static(b"three"))
        .await
        .unwrap();
    assert_eq!(receivers.sessions, vec![b.id().unwrap()]);
    assert_eq!(next(&mut b_events).await, message("o:k1", "three"));
    nothing_more(&mut a_events, Duration::from_millis(100)).await;

    // Binary payloads and odd topic names travel unchanged.
    let topic = "o:{braces} and spaces/é";
    a.subscribe(topic).await.unwrap();
    let payload = Bytes::from((0..=255u8).collect::<Vec<u8>>());
    bus.publish(topic, payload.clone()).await.unwrap();
    assert_eq!(
        next(&mut a_events).await,
        SessionEvent::Message {
            topic: topic.into(),
            payload
        }
    );
    a.close().await;
    b.close().await;
}

/// `broadcast` delivers as `publish` does (to subscribers only, once each, one publisher's
/// broadcasts in order), without the receivers.
async fn broadcast_delivers_as_publish(bus: &dyn Bus) {
    let (a, mut a_events) = bus.open_session(SessionOptions::default()).await.unwrap();
    let (b, mut b_events) = bus.open_session(SessionOptions::default()).await.unwrap();
    a.subscribe("log/one").await.unwrap();
    b.subscribe("log/one").await.unwrap();
    b.subscribe("log/two").await.unwrap();
    let sent = [
        ("log/one", "1"),
        ("log/one", "2"),
        ("log/two", "3"),
        ("log/one", "4"),
        ("log/nobody", "5"),
    ];
    for (topic, payload) in sent {
        bus.broadcast(topic, Bytes::from_static(payload.as_bytes()))
            .await
            .unwrap();
    }
    for expected in ["1", "2", "4"] {
        assert_eq!(next(&mut a_events).await, message("log/one", expected));
    }
    for (topic, expected) in [
        ("log/one", "1"),
        ("log/one", "2"),
        ("log/two", "3"),
        ("log/one", "4"),
    ] {
        assert_eq!(next(&mut b_events).await, message(topic, expected));
    }
    nothing_more(&mut a_events, Duration::from_millis(100)).await;
    nothing_more(&mut b_events, Duration::from_millis(10)).await;
    assert!(matches!(
        bus.broadcast("tab\there", Bytes::new()).await,
        Err(BusError::InvalidArgument(_))
    ));
    a.close().await;
    b.close().await;
}

async fn keeps_one_publishers_order(bus: &dyn Bus) {
    let (session, mut events) = bus.open_session(SessionOptions::default()).await.unwrap();
    session.subscribe("o:ordered").await.unwrap();
    for n in 0..300u32 {
        bus.publish("o:ordered", Bytes::from(n.to_be_bytes().to_vec()))
            .await
            .unwrap();
    }
    for n in 0..300u32 {
        match next(&mut events).await {
            SessionEvent::Message { payload, .. } => {
                assert_eq!(
                    payload.as_ref(),
                    n.to_be_bytes(),
                    "message {n} out of order"
                )
            }
            other => panic!("expected message {n}, got {other:?}"),
        }
    }
    session.close().await;
}

async fn direct_messages_and_liveness(bus: &dyn Bus) {
    let (a, mut a_events) = bus.open_session(SessionOptions::default()).await.unwrap();
    let (b, _b_events) = bus.open_session(SessionOptions::default()).await.unwrap();
    let (a_id, b_id) = (a.id().unwrap(), b.id().unwrap());
    assert!(
        bus.send_to(a_id, Bytes::from_static(b"ack 7"))
            .await
            .unwrap()
    );
    assert_eq!(
        next(&mut a_events).await,
        SessionEvent::Direct {
            payload: Bytes::from_static(b"ack 7")
        }
    );
    assert_eq!(bus.alive(&[a_id, b_id]).await.unwrap(), vec![true, true]);
    b.close().await;
    assert_eq!(bus.alive(&[a_id, b_id]).await.unwrap(), vec![true, false]);
    assert!(
        !bus.send_to(b_id, Bytes::from_static(b"late"))
            .await
            .unwrap()
    );
    a.close().await;
}

/// A session whose renewals stop stops proving its lease before the bus drops it; the bus
/// then drops it from every topic; after renewals resume a new incarnation starts.
async fn a_lapsed_lease_ends_the_session(bus: &dyn Bus) {
    let (session, mut events) = bus.open_session(short_lease()).await.unwrap();
    let (other, _other_events) = bus.open_session(short_lease()).await.unwrap();
    let first = session.id().unwrap();
    session.subscribe("o:leased").await.unwrap();
    other.subscribe("o:leased").await.unwrap();
    assert!(session.lease_valid());
    assert_eq!(session.generation(), 0);

    session.pause_renewals(true);
    let lost = next(&mut events).await;
    assert!(
        matches!(lost, SessionEvent::Lost { generation: 0, .. }),
        "{lost:?}"
    );
    assert!(!session.lease_valid());
    assert_eq!(session.generation(), 1);
    // The bus still counts the subscription until its own lease ends: at most one lease.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while bus.alive(&[first]).await.unwrap() != vec![false] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bus kept {first} for 3 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Redis drops a dead id from a subscriber set lazily; liveness is what writers check.
    let receivers = bus
        .publish("o:leased", Bytes::from_static(b"x"))
        .await
        .unwrap();
    let live: Vec<_> = bus.alive(&receivers.sessions).await.unwrap();
    let live_receivers: Vec<_> = receivers
        .sessions
        .iter()
        .zip(live)
        .filter(|(_, alive)| *alive)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(live_receivers, vec![other.id().unwrap()]);

    session.pause_renewals(false);
    match next(&mut events).await {
        SessionEvent::Restored { id, generation } => {
            assert_ne!(id, first);
            assert_eq!(generation, 1);
            assert_eq!(session.id(), Some(id));
        }
        other => panic!("expected Restored, got {other:?}"),
    }
    assert!(session.lease_valid());
    // The new incarnation holds no subscriptions.
    let receivers = bus
        .publish("o:leased", Bytes::from_static(b"y"))
        .await
        .unwrap();
    assert!(!receivers.sessions.contains(&session.id().unwrap()));
    session.close().await;
    other.close().await;
}

/// An owner that does not drain its events is a slow consumer: it gets every event that
/// fit, then `Lost`, then a fresh incarnation.
async fn a_slow_consumer_is_lost_not_silently_behind(bus: &dyn Bus) {
    let options = SessionOptions {
        queue_limit: 4,
        ..SessionOptions::default()
    };
    let (session, mut events) = bus.open_session(options).await.unwrap();
    session.subscribe("o:busy").await.unwrap();
    for n in 0..10u8 {
        bus.publish("o:busy", Bytes::from(vec![n])).await.unwrap();
    }
    // Redis delivers asynchronously: give the pushes time to arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut received = 0;
    loop {
        match next(&mut events).await {
            SessionEvent::Message { payload, .. } => {
                assert_eq!(payload.as_ref(), [received]);
                received += 1;
            }
            SessionEvent::Lost { reason, .. } => {
                assert!(reason.contains("slow consumer"), "{reason}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(received <= 4, "{received} events fitted a queue of 4");
    assert!(matches!(
        next(&mut events).await,
        SessionEvent::Restored { .. }
    ));
    session.close().await;
}

async fn durable_topics(bus: &dyn Bus) {
    let topic = "log:app-1";
    assert_eq!(bus.read(topic, None, 10).await.unwrap(), vec![]);
    assert_eq!(bus.acknowledged(topic, "nl-1").await.unwrap(), None);
    let mut offsets = Vec::new();
    for n in 0..5u8 {
        offsets.push(
            bus.append(topic, Bytes::from(vec![b'a' + n]))
                .await
                .unwrap(),
        );
    }
    assert!(
        offsets.windows(2).all(|pair| pair[0] < pair[1]),
        "{offsets:?}"
    );

    let all = bus.read(topic, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), offsets);
    assert_eq!(all[0].payload.as_ref(), b"a");
    let page = bus.read(topic, Some(offsets[1]), 2).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.offset).collect::<Vec<_>>(),
        offsets[2..4]
    );
    assert_eq!(bus.read(topic, Some(offsets[4]), 10).await.unwrap(), vec![]);

    bus.acknowledge(topic, "nl-1", offsets[3]).await.unwrap();
    bus.acknowledge(topic, "nl-1", offsets[1]).await.unwrap(); // never backwards
    assert_eq!(
        bus.acknowledged(topic, "nl-1").await.unwrap(),
        Some(offsets[3])
    );
    assert_eq!(bus.acknowledged(topic, "nl-2").await.unwrap(), None);
    let text = offsets[3].to_string();
    assert_eq!(text.parse::<Offset>().unwrap(), offsets[3]);
}

async fn refuses_bad_topics(bus: &dyn Bus) {
    let (session, _events) = bus.open_session(SessionOptions::default()).await.unwrap();
    for bad in [String::new(), "x".repeat(2000), "tab\there".into()] {
        assert!(matches!(
            session.subscribe(&bad).await,
            Err(BusError::InvalidArgument(_))
        ));
        assert!(matches!(
            bus.publish(&bad, Bytes::new()).await,
            Err(BusError::InvalidArgument(_))
        ));
    }
    let lease_too_short = SessionOptions::with_lease(Duration::from_millis(1));
    assert!(matches!(
        bus.open_session(lease_too_short).await,
        Err(BusError::InvalidArgument(_))
    ));
    session.close().await;
}

async fn run_suite(bus: Arc<dyn Bus>) {
    eprintln!("bus conformance: {}", bus.describe());
    delivers_to_subscribers_only(&*bus).await;
    broadcast_delivers_as_publish(&*bus).await;
    keeps_one_publishers_order(&*bus).await;
    direct_messages_and_liveness(&*bus).await;
    a_lapsed_lease_ends_the_session(&*bus).await;
    a_slow_consumer_is_lost_not_silently_behind(&*bus).await;
    durable_topics(&*bus).await;
    refuses_bad_topics(&*bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process() {
    run_suite(Arc::new(MemoryBus::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_single_server() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let bus = RedisBus::connect(&server.address()).await.unwrap();
    run_suite(Arc::new(bus)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster() {
    let cluster =
        RedisCluster::start(3, 0).expect("redis-server must be installed (scripts/test.sh)");
    let seeds: Vec<String> = cluster.nodes().iter().map(RedisServer::address).collect();
    let bus = RedisClusterBus::connect(&seeds).await.unwrap();
    run_suite(Arc::new(bus)).await;
}

/// Killing a session's connections on the servers (as an operator or a crash would) loses
/// the session, and a new incarnation takes its place. `kill` returns how many
/// subscribed connections it killed.
async fn connection_kill_loses_the_session(bus: &dyn Bus, kill: impl Fn() -> usize) {
    let (session, mut events): (Session, _) = bus.open_session(short_lease()).await.unwrap();
    session.subscribe("o:killed").await.unwrap();
    let first = session.id().unwrap();
    // Held back, the replacement cannot make the lease valid again before it is checked
    // below (the driver starts one right after `Lost`).
    session.pause_renewals(true);
    assert!(kill() >= 1, "a subscribed connection to kill");
    let lost = next(&mut events).await;
    assert!(matches!(lost, SessionEvent::Lost { .. }), "{lost:?}");
    assert!(!session.lease_valid());
    session.pause_renewals(false);
    match next(&mut events).await {
        SessionEvent::Restored { id, .. } => assert_ne!(id, first),
        other => panic!("expected Restored, got {other:?}"),
    }
    // The old incarnation is ended on the bus, not left for its lease to lapse.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while bus.alive(&[first]).await.unwrap() != vec![false] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bus kept {first} for 3 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    session.subscribe("o:killed").await.unwrap();
    bus.publish("o:killed", Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, message("o:killed", "after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_connection_kill_loses_the_session() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let bus = RedisBus::connect(&server.address()).await.unwrap();
    connection_kill_loses_the_session(&bus, || {
        let killed = server
            .command(&["CLIENT", "KILL", "TYPE", "pubsub"])
            .unwrap();
        killed.trim().parse().unwrap()
    })
    .await;
}

/// A Redis server, the bus on it, and a session subscribed to `topic`.
async fn one_server_subscribed_to(
    topic: &str,
) -> (RedisServer, RedisBus, Session, Receiver<SessionEvent>) {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    let bus = RedisBus::connect(&server.address()).await.unwrap();
    let (session, events) = bus.open_session(SessionOptions::default()).await.unwrap();
    session.subscribe(topic).await.unwrap();
    (server, bus, session, events)
}

/// A topic only ever broadcast on still has its subscriber set pruned of the sessions that
/// ended without leaving it (a crash): the first broadcast on it does (then one a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_broadcasts_prune_sessions_that_ended_without_leaving() {
    let (server, bus, session, mut events) = one_server_subscribed_to("log/prune").await;
    let set = "tc:bus:subs:{log/prune}";
    // The entry of a session that crashed: in the set, without a lease.
    server.command(&["SADD", set, "987654321"]).unwrap();
    bus.broadcast("log/prune", Bytes::from_static(b"1"))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, message("log/prune", "1"));
    // Pruned in the background: awaited, bounded.
    let alive = vec![session.id().unwrap().0.to_string()];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let members = server.command(&["SMEMBERS", set]).unwrap();
        let members: Vec<String> = members.split_whitespace().map(str::to_owned).collect();
        if members == alive {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {members:?} 3 s after the first broadcast"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    session.close().await;
}

/// The connection `broadcast` writes on, which Redis does not answer, is replaced when it is
/// killed: broadcasts go on without an error and reach the subscriber again within a
/// bounded time (one written into the dead connection before its end was noticed may be
/// lost, as `broadcast` allows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unanswered_broadcasts_survive_a_killed_connection() {
    let (server, bus, session, mut events) = one_server_subscribed_to("log/kill").await;
    bus.broadcast("log/kill", Bytes::from_static(b"before"))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, message("log/kill", "before"));

    let clients = server.command(&["CLIENT", "LIST"]).unwrap();
    let named = format!("name={UNANSWERED_CONNECTION_NAME} ");
    let ids: Vec<&str> = clients
        .lines()
        .filter(|line| line.contains(&named))
        .filter_map(|line| line.strip_prefix("id=")?.split(' ').next())
        .collect();
    assert_eq!(ids.len(), 1, "one unanswered connection in {clients}");
    server.command(&["CLIENT", "KILL", "ID", ids[0]]).unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut sent = 0;
    let arrived = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no broadcast arrived within 3 s after the kill"
        );
        sent += 1;
        bus.broadcast("log/kill", Bytes::from(format!("after {sent}")))
            .await
            .unwrap();
        match tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            Ok(Some(event)) => break event,
            Ok(None) => panic!("the session's events ended"),
            Err(_) => {}
        }
    };
    match arrived {
        SessionEvent::Message { payload, .. } => assert!(payload.starts_with(b"after ")),
        other => panic!("expected a message, got {other:?}"),
    }
    assert!(sent <= 2, "{sent} broadcasts before one arrived");
    let clients = server.command(&["CLIENT", "LIST"]).unwrap();
    assert_eq!(
        clients.lines().filter(|line| line.contains(&named)).count(),
        1,
        "{clients}"
    );
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_connection_kill_loses_the_session() {
    let cluster =
        RedisCluster::start(3, 0).expect("redis-server must be installed (scripts/test.sh)");
    let seeds: Vec<String> = cluster.nodes().iter().map(RedisServer::address).collect();
    let bus = RedisClusterBus::connect(&seeds).await.unwrap();
    connection_kill_loses_the_session(&bus, || {
        cluster
            .nodes()
            .iter()
            .map(|node| {
                let killed = node.command(&["CLIENT", "KILL", "TYPE", "pubsub"]).unwrap();
                killed.trim().parse::<usize>().unwrap()
            })
            .sum()
    })
    .await;
}

/// The id of a cluster node, and the slots it serves by `CLUSTER NODES`' own line.
fn owns(node: &RedisServer, slot: u16) -> bool {
    let nodes = node.command(&["CLUSTER", "NODES"]).unwrap();
    let mine = nodes.lines().find(|line| line.contains("myself")).unwrap();
    mine.split_whitespace().skip(8).any(|range| {
        let (start, end) = range.split_once('-').unwrap_or((range, range));
        match (start.parse::<u16>(), end.parse::<u16>()) {
            (Ok(start), Ok(end)) => (start..=end).contains(&slot),
            _ => false,
        }
    })
}

/// Moves `slot` from `from` to `to` as a reshard does: importing, migrating, its keys
/// moved, then assigned on both.
fn move_slot(from: &RedisServer, to: &RedisServer, slot: u16) {
    let slot = slot.to_string();
    let from_id = from.command(&["CLUSTER", "MYID"]).unwrap();
    let to_id = to.command(&["CLUSTER", "MYID"]).unwrap();
    to.command(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id])
        .unwrap();
    from.command(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id])
        .unwrap();
    for _ in 0..100 {
        let keys = from
            .command(&["CLUSTER", "GETKEYSINSLOT", &slot, "100"])
            .unwrap();
        if keys.trim().is_empty() {
            break;
        }
        let port = to.port().to_string();
        for key in keys.lines() {
            from.command(&["MIGRATE", "127.0.0.1", &port, key, "0", "5000"])
                .unwrap();
        }
    }
    to.command(&["CLUSTER", "SETSLOT", &slot, "NODE", &to_id])
        .unwrap();
    from.command(&["CLUSTER", "SETSLOT", &slot, "NODE", &to_id])
        .unwrap();
}

/// A slot moved to another shard (a reshard; a failover does the same to a demoted
/// primary's subscribers) ends the subscriptions of its channels with a server-sent
/// `SUNSUBSCRIBE`: messages published meanwhile may be missed, so the session is lost, and
/// a new incarnation hears the topic on its new shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_a_moved_slot_loses_the_session() {
    let cluster =
        RedisCluster::start(3, 0).expect("redis-server must be installed (scripts/test.sh)");
    let seeds: Vec<String> = cluster.nodes().iter().map(RedisServer::address).collect();
    let bus = RedisClusterBus::connect(&seeds).await.unwrap();
    let (session, mut events): (Session, _) = bus.open_session(short_lease()).await.unwrap();
    let topic = "o:moved";
    session.subscribe(topic).await.unwrap();
    let first = session.id().unwrap();
    let nodes = cluster.nodes();
    let slot: u16 = nodes[0]
        .command(&["CLUSTER", "KEYSLOT", "{o:moved}"])
        .unwrap()
        .parse()
        .unwrap();
    let owner = nodes.iter().position(|node| owns(node, slot)).unwrap();
    let target = (owner + 1) % nodes.len();
    move_slot(&nodes[owner], &nodes[target], slot);
    match next(&mut events).await {
        SessionEvent::Lost { reason, .. } => {
            assert!(reason.contains("without being asked"), "{reason}");
        }
        other => panic!("expected Lost after the slot moved, got {other:?}"),
    }
    match next(&mut events).await {
        SessionEvent::Restored { id, .. } => assert_ne!(id, first),
        other => panic!("expected Restored, got {other:?}"),
    }
    session.subscribe(topic).await.unwrap();
    bus.publish(topic, Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, message(topic, "after"));
}

/// A Cluster session renews over its own connections and then pings every primary on them:
/// when the shard holding one of its subscriptions freezes, the session is lost even though
/// its lease key lives on a shard that still answers (renewals over a shared command
/// connection to that other shard kept it alive, deaf to the frozen shard's notices).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_a_frozen_subscription_shard_loses_the_session() {
    // The other shards keep answering while one is down (no CLUSTERDOWN everywhere), so
    // only the session's own check can notice.
    let cluster = RedisCluster::start_with(3, 0, &["--cluster-require-full-coverage", "no"])
        .expect("redis-server must be installed (scripts/test.sh)");
    let seeds: Vec<String> = cluster.nodes().iter().map(RedisServer::address).collect();
    let bus = RedisClusterBus::connect(&seeds).await.unwrap();
    let (session, mut events): (Session, _) = bus.open_session(short_lease()).await.unwrap();
    let nodes = cluster.nodes();
    let slot_of = |key: &str| -> u16 {
        nodes[0]
            .command(&["CLUSTER", "KEYSLOT", key])
            .unwrap()
            .parse()
            .unwrap()
    };
    let owner_of = |key: &str| {
        nodes
            .iter()
            .position(|node| owns(node, slot_of(key)))
            .unwrap()
    };
    let id = session.id().unwrap();
    let lease_owner = owner_of(&format!("tc:bus:s:{{{}}}", id.0));
    // A topic whose channel lives on another shard than the lease key.
    let topic = (0..100)
        .map(|n| format!("o:frozen-{n}"))
        .find(|topic| owner_of(&format!("{{{topic}}}")) != lease_owner)
        .unwrap();
    session.subscribe(&topic).await.unwrap();
    let frozen = owner_of(&format!("{{{topic}}}"));
    nodes[frozen].pause();
    let lost = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(SessionEvent::Lost { reason, .. }) = events.recv().await {
                return reason;
            }
        }
    })
    .await;
    nodes[frozen].resume();
    let reason = lost.expect("the session stayed up while a shard of its subscriptions froze");
    assert!(reason.contains("renewal"), "{reason}");
}

/// How many WAIT commands `node` ran.
fn waits(node: &RedisServer) -> u64 {
    let stats = node.command(&["INFO", "commandstats"]).unwrap();
    stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_wait:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

/// On a Cluster with replicas, a subscriber entry counts only once a replica holds it
/// (`WAIT 1` on its shard): a failover cannot lose it and let a synchronous writer skip
/// this session. With every replica frozen, subscribing fails (and the fill would not
/// cache); thawed, it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_subscriber_entries_wait_for_a_replica() {
    let cluster =
        RedisCluster::start(3, 1).expect("redis-server must be installed (scripts/test.sh)");
    let seeds: Vec<String> = cluster.nodes().iter().map(RedisServer::address).collect();
    let bus = RedisClusterBus::connect(&seeds).await.unwrap();
    let (session, mut events): (Session, _) = bus.open_session(short_lease()).await.unwrap();
    let topic = "o:waited";
    let slot: u16 = cluster.nodes()[0]
        .command(&["CLUSTER", "KEYSLOT", "{o:waited}"])
        .unwrap()
        .parse()
        .unwrap();
    let primary = cluster
        .nodes()
        .iter()
        .find(|node| owns(node, slot))
        .unwrap();
    let before = waits(primary);
    // Right after creation a replica may still be syncing: retry (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Err(error) = session.subscribe(topic).await {
        assert!(tokio::time::Instant::now() < deadline, "{error}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        waits(primary) > before,
        "the subscriber entry was not waited for"
    );
    let replicas: Vec<&RedisServer> = cluster
        .nodes()
        .iter()
        .filter(|node| {
            node.command(&["INFO", "replication"])
                .is_ok_and(|info| info.contains("role:slave"))
        })
        .collect();
    for replica in &replicas {
        replica.pause();
    }
    let refused = session.subscribe("o:frozen").await;
    for replica in &replicas {
        replica.resume();
    }
    let error = refused.expect_err("no replica can hold the entry");
    assert!(
        error.to_string().contains("no replica acknowledged"),
        "{error}"
    );
    // The failed subscribe left nothing behind: no entry in the topic's set, and the
    // session (its renewals on its own connection, not behind the WAIT) is still the same.
    let entry = primary_of(&cluster, "{o:frozen}")
        .command(&[
            "SISMEMBER",
            "tc:bus:subs:{o:frozen}",
            &session.id().unwrap().0.to_string(),
        ])
        .unwrap();
    assert_eq!(entry, "0");
    nothing_more(&mut events, Duration::from_millis(300)).await;
    session.subscribe("o:frozen").await.unwrap();
    bus.publish("o:frozen", Bytes::from_static(b"thawed"))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, message("o:frozen", "thawed"));
}

/// The primary that owns `key`'s slot.
fn primary_of<'a>(cluster: &'a RedisCluster, key: &str) -> &'a RedisServer {
    let slot: u16 = cluster.nodes()[0]
        .command(&["CLUSTER", "KEYSLOT", key])
        .unwrap()
        .parse()
        .unwrap();
    cluster
        .nodes()
        .iter()
        .find(|node| owns(node, slot))
        .unwrap()
}

/// The bus's ACL user: exactly the rights the bus documents, and nothing more.
const BUS_USER: &str = "tc-bus";
const BUS_PASSWORD: &str = "bus-password-for-tests";

/// Opening the bus as `stranger` or with a wrong password fails with `Refused`, naming the
/// rights the bus needs.
async fn refuses_users_without_the_bus_rights(url_of: &impl Fn(&str) -> String) {
    match tiercache_bus::open(&url_of("stranger:stranger-password")).await {
        Err(BusError::Refused(message)) => {
            assert!(message.to_uppercase().contains("NOPERM"), "{message}");
            assert!(message.contains("as stranger"), "{message}");
            assert!(message.contains("~tc:* &tc:*"), "{message}");
            assert!(!message.contains("stranger-password"), "{message}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a user without the bus's rights opened the bus"),
    }
    match tiercache_bus::open(&url_of(&format!("{BUS_USER}:not-the-password"))).await {
        Err(BusError::Refused(message)) => {
            let lower = message.to_lowercase();
            assert!(
                lower.contains("wrongpass") || lower.contains("authentication failed"),
                "{message}"
            );
            assert!(!message.contains("not-the-password"), "{message}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a wrong password opened the bus"),
    }
}

/// The bus's user (with exactly [`tiercache_bus::REQUIRED_RIGHTS`]) and a stranger (anything,
/// but not on tiercache's keys and channels) created by `add_user`; the stranger and a
/// wrong password refused; then the whole suite as the bus's user. `url_of` puts the
/// credentials it is given into the server's URL.
async fn suite_as_the_bus_user(
    add_user: impl Fn(&str, &str, &str) -> std::io::Result<()>,
    url_of: impl Fn(&str) -> String,
) {
    add_user(BUS_USER, BUS_PASSWORD, tiercache_bus::REQUIRED_RIGHTS).unwrap();
    add_user("stranger", "stranger-password", "~other:* &other:* +@all").unwrap();
    refuses_users_without_the_bus_rights(&url_of).await;
    let bus = tiercache_bus::open(&url_of(&format!("{BUS_USER}:{BUS_PASSWORD}")))
        .await
        .unwrap();
    assert!(bus.describe().contains(BUS_USER), "{}", bus.describe());
    run_suite(bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_single_server_as_an_acl_user_with_only_the_bus_rights() {
    let server = RedisServer::start().expect("redis-server must be installed (scripts/test.sh)");
    suite_as_the_bus_user(
        |name, password, rights| server.add_user(name, password, rights),
        |credentials| format!("redis://{credentials}@{}", server.address()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_as_an_acl_user_with_only_the_bus_rights() {
    let cluster =
        RedisCluster::start(3, 1).expect("redis-server must be installed (scripts/test.sh)");
    let seeds: Vec<String> = cluster.nodes().iter().map(RedisServer::address).collect();
    suite_as_the_bus_user(
        |name, password, rights| cluster.add_user(name, password, rights),
        |credentials| format!("redis-cluster://{credentials}@{}", seeds.join(",")),
    )
    .await;
}

/// `rediss://`: the bus over TLS to a Redis that asks for client certificates, as an ACL
/// user with only the bus's rights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_as_an_acl_user() {
    let certs = tempfile::tempdir().unwrap();
    tiercache_tls::certs::generate(certs.path(), &Default::default()).unwrap();
    let (server, tls_port) = RedisServer::start_tls_in(certs.path())
        .expect("redis-server (built with TLS) must start for this test");
    server
        .add_user(BUS_USER, BUS_PASSWORD, tiercache_bus::REQUIRED_RIGHTS)
        .unwrap();
    let client = tiercache_tls::certs::role_files(certs.path(), "api");
    tiercache_tls::process::install(tiercache_tls::Identity::load(&client).unwrap());
    let url = format!("rediss://{BUS_USER}:{BUS_PASSWORD}@127.0.0.1:{tls_port}");
    let bus = tiercache_bus::open(&url).await.unwrap();
    assert!(
        bus.describe().contains(&tls_port.to_string()),
        "{}",
        bus.describe()
    );
    run_suite(bus).await;
}
