//! Copies of a log, read and caught up: the [`LogCopy`] suite on a node in process and the
//! same node over HTTP, then catch-up between three log nodes serving each other over HTTP
//! on the in-process bus and on a real redis-server — a fresh copy, a copy that missed
//! appends while its bus session was lost, and the epoch fence of assignments; and a copy
//! cut off by the network (fault proxies blackholing its bus and its peers) that catches up
//! once the network heals.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tiercache_bus::{Bus, Session, SessionEvent, SessionOptions};
use tiercache_log::wire::{AssignmentBody, NodeRef};
use tiercache_log::{
    Append, LogCopy, LogError, LogNode, LogNotice, LogStorage, MemoryStorage, MessageId,
    MessageIds, Record, RemoteCopy, SegmentOptions, SegmentStorage, log_topic, router,
};
use tiercache_testkit::RedisServer;
use tokio::sync::mpsc::Receiver;

/// A log node serving HTTP on a free loopback port.
struct Served {
    node: Arc<LogNode>,
    storage: Arc<dyn LogStorage>,
    server: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn start(bus: Arc<dyn Bus>, id: &str, session: SessionOptions) -> Served {
        Served::start_on(bus, id, session, Arc::new(MemoryStorage::default())).await
    }

    async fn start_on(
        bus: Arc<dyn Bus>,
        id: &str,
        session: SessionOptions,
        storage: Arc<dyn LogStorage>,
    ) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let node = LogNode::start_with(
            id,
            url,
            storage.clone(),
            bus,
            session,
            Duration::from_millis(100),
        )
        .await
        .unwrap();
        let node = Arc::new(node);
        let app = router(node.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Served {
            node,
            storage,
            server,
        }
    }

    fn node_ref(&self) -> NodeRef {
        NodeRef {
            id: self.node.id().to_owned(),
            url: self.node.url().to_owned(),
        }
    }

    fn remote(&self) -> RemoteCopy {
        RemoteCopy::new(self.node.url())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn record(ids: &mut MessageIds, value: &str) -> Record {
    Record {
        id: ids.next_now(),
        idempotency_key: None,
        value: value.as_bytes().to_vec(),
    }
}

/// Polls `check` every 20 ms until it holds, for at most 10 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "after 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- the LogCopy suite: one node, in process and over HTTP ----

async fn copies_answer_alike(local: &dyn LogCopy, remote: &dyn LogCopy, storage: &dyn LogStorage) {
    let mut a = MessageIds::new(1);
    let mut b = MessageIds::new(2);
    let mut records = Vec::new();
    for n in 0..30 {
        // Two publishers, interleaved so position order differs from id order.
        let ids = if n % 3 == 0 { &mut b } else { &mut a };
        records.push(record(ids, &format!("m{n}")));
    }
    records.reverse();
    storage.append("app", records.clone()).await.unwrap();
    for copy in [local, remote] {
        let all = copy.read_after("app", None, 1000).await.unwrap();
        assert_eq!(all.len, 30, "{}", copy.name());
        let ids: Vec<MessageId> = all.records.iter().map(|(_, r)| r.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "{}: read_after is in id order", copy.name());
        let next = copy.read_after("app", Some(ids[9]), 5).await.unwrap();
        let next: Vec<MessageId> = next.records.iter().map(|(_, r)| r.id).collect();
        assert_eq!(next, ids[10..15], "{}", copy.name());
        let page = copy.read("app", 4, 3).await.unwrap();
        let expected: Vec<(u64, Record)> =
            (4..7).map(|p| (p, records[p as usize].clone())).collect();
        assert_eq!(page.records, expected, "{}", copy.name());
        let (some, len) = copy.ids_since("app", 28, 10).await.unwrap();
        assert_eq!(len, 30);
        assert_eq!(some, [records[28].id, records[29].id], "{}", copy.name());
        let empty = copy.read_after("nobody", None, 10).await.unwrap();
        assert!(empty.records.is_empty() && empty.len == 0);
    }
    // Local and remote say the same about readiness and contents.
    let l = local.read_after("app", None, 1000).await.unwrap();
    let r = remote.read_after("app", None, 1000).await.unwrap();
    assert_eq!(l, r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_in_process_and_over_http_answer_alike() {
    let bus: Arc<dyn Bus> = Arc::new(tiercache_bus::MemoryBus::new());
    let served = Served::start(bus, "log-1", SessionOptions::default()).await;
    copies_answer_alike(&*served.node, &served.remote(), &*served.storage).await;

    // Bad input over HTTP is refused with a clear error, not an empty answer.
    let (status, body) = tiercache_log::http::request(
        served.node.url(),
        "GET",
        "/v1/log/app/messages?after=nope",
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _) = tiercache_log::http::request(
        served.node.url(),
        "GET",
        "/v1/log/a%20b/ids",
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(status, 400);

    // A copy that cannot be reached fails; it never reads as empty.
    let url = served.node.url().to_owned();
    drop(served);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gone = RemoteCopy::new(url).with_timeout(Duration::from_secs(1));
    match gone.read_after("app", None, 10).await {
        Err(LogError::Unreachable(_)) => {}
        other => panic!("a stopped node answered {other:?}"),
    }
}

// ---- catch-up between three nodes ----

/// Three served log nodes on one bus and a publisher session standing in for an API node.
struct Trio {
    bus: Arc<dyn Bus>,
    nodes: Vec<Served>,
    publisher: Session,
    acks: Receiver<SessionEvent>,
    ids: MessageIds,
}

impl Trio {
    async fn new(bus: Arc<dyn Bus>, session: SessionOptions) -> Trio {
        let mut nodes = Vec::new();
        for n in 1..=3 {
            nodes.push(Served::start(bus.clone(), &format!("log-{n}"), session).await);
        }
        let (publisher, acks) = bus.open_session(SessionOptions::default()).await.unwrap();
        Trio {
            bus,
            nodes,
            publisher,
            acks,
            ids: MessageIds::new(7),
        }
    }

    /// Ends every session at once, so the next case on the same bus hears none of these.
    async fn close(&self) {
        for served in &self.nodes {
            served.node.close().await;
        }
        self.publisher.close().await;
    }

    fn assignment(&self, epoch: u64, app: &str, nodes: &[usize]) -> AssignmentBody {
        let refs = nodes.iter().map(|&n| self.nodes[n].node_ref()).collect();
        AssignmentBody {
            epoch,
            revision: 0,
            apps: [(app.to_owned(), refs)].into(),
        }
    }

    /// Publishes a new message on `app`; returns its id.
    async fn publish(&mut self, app: &str, value: &str) -> MessageId {
        let record = record(&mut self.ids, value);
        let id = record.id;
        let notice = LogNotice::Append(Append {
            reply_to: self.publisher.id().unwrap(),
            records: vec![record],
        });
        self.bus
            .publish(&log_topic(app), notice.encode())
            .await
            .unwrap();
        id
    }

    /// Which nodes acknowledged `id` within `wait`.
    async fn ackers(&mut self, id: MessageId, wait: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut nodes = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.acks.recv()).await {
            if let SessionEvent::Direct { payload } = event
                && let Ok(LogNotice::Ack(ack)) = LogNotice::decode(&payload)
                && ack.confirmed.iter().any(|message| message.id == id)
            {
                nodes.push(ack.node);
            }
        }
        nodes.sort();
        nodes
    }
}

async fn ids_of(storage: &dyn LogStorage, app: &str) -> Vec<MessageId> {
    let mut ids: Vec<MessageId> = storage
        .read(app, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.id)
        .collect();
    ids.sort();
    ids
}

async fn a_fresh_copy_catches_up_before_it_acknowledges(trio: &mut Trio) {
    // Two copies hold the history (each a little different: anti-entropy joins them).
    let mut history = Vec::new();
    for n in 0..250 {
        history.push(record(&mut trio.ids, &format!("old {n}")));
    }
    trio.nodes[0]
        .storage
        .append("app", history.clone())
        .await
        .unwrap();
    trio.nodes[1]
        .storage
        .append("app", history[..240].to_vec())
        .await
        .unwrap();
    trio.nodes[1]
        .storage
        .append("app", history[245..].to_vec())
        .await
        .unwrap();
    let body = trio.assignment(1, "app", &[0, 1, 2]);
    for served in &trio.nodes {
        served.node.apply(&body).await.unwrap();
    }
    for served in &trio.nodes {
        eventually("every copy is ready", async || served.node.is_ready("app")).await;
    }
    let mut expected: Vec<MessageId> = history.iter().map(|r| r.id).collect();
    expected.sort();
    for served in &trio.nodes {
        assert_eq!(
            ids_of(&*served.storage, "app").await,
            expected,
            "{}",
            served.node.id()
        );
    }
    assert!(trio.nodes[2].node.counters().pulled.load(Ordering::Relaxed) >= 250);
    let status = trio.nodes[2].remote().status().await.unwrap();
    let app = &status.apps["app"];
    assert!(app.ready && app.subscribed && app.len == 250, "{status:?}");
    assert!(
        app.peers
            .iter()
            .any(|p| p.synced == 250 && p.error.is_none()),
        "{status:?}"
    );
    // Ready copies acknowledge new appends.
    let id = trio.publish("app", "new").await;
    assert_eq!(
        trio.ackers(id, Duration::from_millis(500)).await,
        ["log-1", "log-2", "log-3"]
    );
}

async fn a_copy_that_lost_its_session_stops_acknowledging_and_catches_up(trio: &mut Trio) {
    let body = trio.assignment(1, "app", &[0, 1, 2]);
    for served in &trio.nodes {
        served.node.apply(&body).await.unwrap();
    }
    for served in &trio.nodes {
        eventually("ready", async || served.node.is_ready("app")).await;
    }
    // Cut node 3 off the bus: its lease lapses, the bus drops its subscriptions.
    let cut = trio.nodes[2].node.clone();
    let generation = cut.session().generation();
    cut.session().pause_renewals(true);
    eventually("the lease lapsed", async || {
        cut.session().generation() > generation
    })
    .await;
    assert!(!cut.is_ready("app"));
    let mut missed = Vec::new();
    for n in 0..20 {
        let id = trio.publish("app", &format!("while cut {n}")).await;
        assert_eq!(
            trio.ackers(id, Duration::from_millis(150)).await,
            ["log-1", "log-2"]
        );
        missed.push(id);
    }
    cut.session().pause_renewals(false);
    eventually("caught up again", async || cut.is_ready("app")).await;
    let held = ids_of(&**cut.storage(), "app").await;
    for id in &missed {
        assert!(held.contains(id), "{id} came back from the other copies");
    }
    assert!(cut.counters().sessions_lost.load(Ordering::Relaxed) >= 1);
    let id = trio.publish("app", "after").await;
    assert_eq!(
        trio.ackers(id, Duration::from_millis(500)).await,
        ["log-1", "log-2", "log-3"]
    );
}

async fn an_older_assignment_is_refused(trio: &mut Trio) {
    let node = trio.nodes[0].node.clone();
    node.apply(&trio.assignment(5, "app", &[0, 1]))
        .await
        .unwrap();
    let stale = trio.assignment(4, "other", &[0]);
    match trio.nodes[0].remote().assign(&stale).await {
        Err(LogError::StaleAssignment { got: 4, current: 5 }) => {}
        other => panic!("a stale assignment answered {other:?}"),
    }
    assert_eq!(node.assigned().await, ["app"], "nothing of it was taken");
    // The same or a newer epoch is taken; an application left out is given up.
    let status = trio.nodes[0]
        .remote()
        .assign(&trio.assignment(6, "other", &[0]))
        .await
        .unwrap();
    assert_eq!(status.epoch, 6);
    assert_eq!(node.assigned().await, ["other"]);
}

macro_rules! run_cases {
    ($bus:expr, $session:expr; $($case:ident),*) => {{
        $(
            eprintln!("case {}", stringify!($case));
            let mut trio = Trio::new($bus, $session).await;
            $case(&mut trio).await;
            trio.close().await;
        )*
    }};
}

/// A short lease, so a cut-off node loses its session within a second.
fn short_lease() -> SessionOptions {
    SessionOptions::with_lease(Duration::from_millis(600))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_on_the_in_process_bus() {
    let bus = || -> Arc<dyn Bus> { Arc::new(tiercache_bus::MemoryBus::new()) };
    run_cases!(bus(), short_lease();
        a_fresh_copy_catches_up_before_it_acknowledges,
        a_copy_that_lost_its_session_stops_acknowledging_and_catches_up,
        an_older_assignment_is_refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_on_redis() {
    let server = RedisServer::start().expect("the Redis run needs redis-server");
    let url = server.url();
    run_cases!(tiercache_bus::open(&url).await.unwrap(), short_lease();
        a_fresh_copy_catches_up_before_it_acknowledges,
        a_copy_that_lost_its_session_stops_acknowledging_and_catches_up,
        an_older_assignment_is_refused);
}

// ---- a network partition ----

/// Log node 3 reaches Redis and both peers only through fault proxies. Blackholing them
/// partitions it: appends go on with two acknowledgements, its lease lapses. Healed, it
/// subscribes again, pulls what it missed from its peers (through the proxies) and
/// acknowledges again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_partitioned_from_its_peers_catches_up_when_healed() {
    use tiercache_testkit::fault_proxy::FaultProxy;
    let server = RedisServer::start().expect("the Redis run needs redis-server");
    let bus = tiercache_bus::open(&server.url()).await.unwrap();
    let redis_address: std::net::SocketAddr = server.address().parse().unwrap();
    let bus_proxy = FaultProxy::start(redis_address, 1).unwrap();
    let partitioned_bus = tiercache_bus::open(&format!("redis://{}", bus_proxy.address()))
        .await
        .unwrap();

    let mut trio = Trio::new(bus.clone(), short_lease()).await;
    // Replace node 3 by one on the proxied bus.
    trio.nodes[2].node.close().await;
    trio.nodes[2] = Served::start(partitioned_bus, "log-3", short_lease()).await;
    let peer_proxies: Vec<FaultProxy> = trio.nodes[..2]
        .iter()
        .enumerate()
        .map(|(n, served)| {
            let address = served
                .node
                .url()
                .trim_start_matches("http://")
                .parse()
                .unwrap();
            FaultProxy::start(address, 10 + n as u64).unwrap()
        })
        .collect();
    let body = trio.assignment(1, "app", &[0, 1, 2]);
    for served in &trio.nodes[..2] {
        served.node.apply(&body).await.unwrap();
    }
    // Node 3's view of the assignment: its peers at their proxies.
    let mut seen_by_3 = body.clone();
    for (peer, proxy) in seen_by_3
        .apps
        .get_mut("app")
        .unwrap()
        .iter_mut()
        .zip(&peer_proxies)
    {
        peer.url = format!("http://{}", proxy.address());
    }
    trio.nodes[2].node.apply(&seen_by_3).await.unwrap();
    for served in &trio.nodes {
        eventually("ready", async || served.node.is_ready("app")).await;
    }
    let before = trio.publish("app", "before").await;
    assert_eq!(
        trio.ackers(before, Duration::from_millis(500)).await,
        ["log-1", "log-2", "log-3"]
    );

    let cut = trio.nodes[2].node.clone();
    let generation = cut.session().generation();
    bus_proxy.blackhole();
    peer_proxies.iter().for_each(FaultProxy::blackhole);
    let mut missed = Vec::new();
    for n in 0..20 {
        let id = trio.publish("app", &format!("while partitioned {n}")).await;
        assert_eq!(
            trio.ackers(id, Duration::from_millis(150)).await,
            ["log-1", "log-2"],
            "message {n}"
        );
        missed.push(id);
    }
    eventually("the partitioned copy's lease lapsed", async || {
        cut.session().generation() > generation || !cut.is_ready("app")
    })
    .await;

    bus_proxy.heal();
    peer_proxies.iter().for_each(FaultProxy::heal);
    eventually("caught up after the heal", async || {
        cut.is_ready("app") && {
            let held = ids_of(&**cut.storage(), "app").await;
            missed.iter().all(|id| held.contains(id))
        }
    })
    .await;
    assert!(cut.counters().sessions_lost.load(Ordering::Relaxed) >= 1);
    let after = trio.publish("app", "after").await;
    assert_eq!(
        trio.ackers(after, Duration::from_millis(1000)).await,
        ["log-1", "log-2", "log-3"]
    );
    trio.close().await;
}

// ---- damaged segment files on one copy ----

/// The one segment file of `app` under `dir`.
fn segment_of(dir: &std::path::Path, app: &str) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir.join(app))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

fn open_segments(dir: &std::path::Path) -> (Arc<SegmentStorage>, tiercache_log::Recovery) {
    let (storage, recovery) = SegmentStorage::open(dir, SegmentOptions::default()).unwrap();
    (Arc::new(storage), recovery)
}

/// Three copies, the third on segment files; 40 messages reach all three, then the third
/// stops, its files are damaged by `damage`, and it comes back: it reports the damage,
/// (repaired if corrupt) catches up, and holds all 40 again.
async fn damaged_copy_comes_back(damage: impl FnOnce(&std::path::Path)) {
    let bus: Arc<dyn Bus> = Arc::new(tiercache_bus::MemoryBus::new());
    let dir = tempfile::tempdir().unwrap();
    let session = SessionOptions::default();
    let a = Served::start(bus.clone(), "log-1", session).await;
    let b = Served::start(bus.clone(), "log-2", session).await;
    let (segments, _) = open_segments(dir.path());
    let c = Served::start_on(bus.clone(), "log-3", session, segments).await;
    let refs = vec![a.node_ref(), b.node_ref(), c.node_ref()];
    let body = AssignmentBody {
        epoch: 1,
        revision: 1,
        apps: [("app".to_owned(), refs)].into(),
    };
    for served in [&a, &b, &c] {
        served.node.apply(&body).await.unwrap();
        eventually("ready", async || served.node.is_ready("app")).await;
    }
    let (publisher, _acks) = bus.open_session(SessionOptions::default()).await.unwrap();
    let mut ids = MessageIds::new(3);
    let mut sent = Vec::new();
    for n in 0..40 {
        let record = record(&mut ids, &format!("message {n}"));
        sent.push(record.id);
        let notice = LogNotice::Append(Append {
            reply_to: publisher.id().unwrap(),
            records: vec![record],
        });
        bus.publish(&log_topic("app"), notice.encode())
            .await
            .unwrap();
    }
    for served in [&a, &b, &c] {
        eventually("every copy holds the 40", async || {
            served.storage.len("app").await.unwrap() == 40
        })
        .await;
    }
    // Stop the third copy (its files closed), damage them, and bring it back.
    c.node.close().await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    damage(dir.path());
    let (segments, recovery) = open_segments(dir.path());
    let held = segments.len("app").await.unwrap();
    assert!(
        held < 40,
        "the damage cost records on this copy: {recovery:?}"
    );
    if let Some((app, error)) = recovery.corrupt.first() {
        assert_eq!(app, "app");
        let LogError::Corrupt { file, offset, .. } = error else {
            panic!("not a corruption: {error:?}");
        };
        assert_eq!(*file, segment_of(dir.path(), "app"), "named by its file");
        assert!(*offset > 0, "and the offset of the damaged record: {error}");
        assert!(
            segments
                .append("app", vec![record(&mut ids, "refused")])
                .await
                .is_err()
        );
        let repaired = segments.repair("app").await.unwrap();
        assert!(repaired.cut.is_some(), "{repaired:?}");
    }
    let c = Served::start_on(bus.clone(), "log-3", session, segments.clone()).await;
    c.node.apply(&body).await.unwrap();
    eventually("the damaged copy caught up", async || {
        c.node.is_ready("app")
    })
    .await;
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(
        ids_of(&*segments, "app").await,
        expected,
        "every record came back"
    );
    for served in [&a, &b, &c] {
        served.node.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_is_truncated_and_the_lost_records_come_back_from_the_other_copies() {
    damaged_copy_comes_back(|dir| {
        let file = segment_of(dir, "app");
        let len = std::fs::metadata(&file).unwrap().len();
        // Cut in the middle of the last record.
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(len - 7).unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_is_reported_by_file_and_offset_and_the_cut_records_come_back() {
    damaged_copy_comes_back(|dir| {
        let file = segment_of(dir, "app");
        let len = std::fs::metadata(&file).unwrap().len();
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[(len / 3) as usize] ^= 0x20;
        std::fs::write(&file, bytes).unwrap();
    })
    .await;
}
