//! Log nodes on a real bus: every case runs on the in-process bus and on a real
//! redis-server started by the test kit. A publisher session stands in for an API node: it
//! publishes appends on an application's log topic and counts the acknowledgements that come
//! back to it directly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tiercache_bus::{Bus, Session, SessionEvent, SessionOptions};
use tiercache_log::{
    Ack, Append, LogNode, LogNotice, LogStorage, MemoryStorage, MessageId, MessageIds, Record,
    log_topic,
};
use tiercache_testkit::RedisServer;
use tokio::sync::mpsc::Receiver;

/// One message confirmed by one node (an [`Ack`] notice confirms several).
#[derive(Debug)]
struct NodeAck {
    node: String,
    id: MessageId,
    position: u64,
    duplicate: bool,
}

/// Three log nodes over one bus, each with its own storage, and a publisher.
struct Cluster {
    bus: Arc<dyn Bus>,
    nodes: Vec<LogNode>,
    storages: Vec<Arc<MemoryStorage>>,
    publisher: Session,
    acks: Receiver<SessionEvent>,
    ids: MessageIds,
}

impl Cluster {
    async fn new(bus: Arc<dyn Bus>) -> Cluster {
        let mut nodes = Vec::new();
        let mut storages = Vec::new();
        for n in 1..=3 {
            let storage = Arc::new(MemoryStorage::default());
            let node = LogNode::start(
                format!("log-{n}"),
                storage.clone(),
                bus.clone(),
                SessionOptions::default(),
            )
            .await
            .unwrap();
            nodes.push(node);
            storages.push(storage);
        }
        let (publisher, acks) = bus.open_session(SessionOptions::default()).await.unwrap();
        Cluster {
            bus,
            nodes,
            storages,
            publisher,
            acks,
            ids: MessageIds::new(42),
        }
    }

    fn record(&mut self, value: &str, key: Option<&str>) -> Record {
        Record {
            id: self.ids.next_now(),
            idempotency_key: key.map(|k| k.as_bytes().to_vec()),
            value: value.as_bytes().to_vec(),
        }
    }

    /// Publishes `record` on `app`'s topic; how many log nodes it reached.
    async fn publish(&self, app: &str, record: Record) -> usize {
        let notice = LogNotice::Append(Append {
            reply_to: self.publisher.id().unwrap(),
            records: vec![record],
        });
        self.bus
            .publish(&log_topic(app), notice.encode())
            .await
            .unwrap()
            .len()
    }

    /// The next `count` confirmations, from however many notices (bounded: 10 s).
    async fn acks(&mut self, count: usize) -> Vec<NodeAck> {
        let mut acks = Vec::new();
        while acks.len() < count {
            let event = tokio::time::timeout(Duration::from_secs(10), self.acks.recv())
                .await
                .unwrap_or_else(|_| panic!("{} of {count} acks after 10 s", acks.len()))
                .unwrap();
            if let SessionEvent::Direct { payload } = event {
                match LogNotice::decode(&payload).unwrap() {
                    LogNotice::Ack(Ack { node, confirmed }) => {
                        acks.extend(confirmed.into_iter().map(|message| NodeAck {
                            node: node.clone(),
                            id: message.id,
                            position: message.position,
                            duplicate: message.duplicate,
                        }))
                    }
                    other => panic!("not an ack: {other:?}"),
                }
            }
        }
        acks
    }
}

async fn every_copy_stores_each_message_once_in_publish_order(cluster: &mut Cluster) {
    for node in &cluster.nodes {
        node.assign(&["shop".to_owned()]).await.unwrap();
    }
    let mut sent = Vec::new();
    for n in 0..100 {
        let record = cluster.record(&format!("m{n}"), None);
        sent.push(record.id);
        assert_eq!(
            cluster.publish("shop", record).await,
            3,
            "every copy subscribed"
        );
    }
    let acks = cluster.acks(300).await;
    let mut by_message: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for ack in &acks {
        assert!(!ack.duplicate, "{ack:?}");
        by_message
            .entry(ack.id)
            .or_default()
            .push((ack.node.clone(), ack.position));
    }
    for (n, id) in sent.iter().enumerate() {
        let mut copies = by_message[id].clone();
        copies.sort();
        let expected: Vec<_> = (1..=3).map(|k| (format!("log-{k}"), n as u64)).collect();
        assert_eq!(copies, expected, "message {n}");
    }
    for storage in &cluster.storages {
        let records = storage.read("shop", 0, 1000).await.unwrap();
        let ids: Vec<_> = records.iter().map(|(_, r)| r.id).collect();
        assert_eq!(ids, sent, "one publisher's order is kept on every copy");
    }
    assert_eq!(
        cluster.nodes[0].counters().stored.load(Ordering::Relaxed),
        100
    );
}

async fn a_redelivered_or_retried_message_is_acknowledged_not_stored_again(cluster: &mut Cluster) {
    cluster.nodes[0].assign(&["app".to_owned()]).await.unwrap();
    let first = cluster.record("once", Some("client-retry-1"));
    cluster.publish("app", first.clone()).await;
    let original = cluster.acks(1).await.remove(0);
    assert!(!original.duplicate);
    // The same message delivered again, and a retry under a new id with the same key.
    cluster.publish("app", first.clone()).await;
    let retry = cluster.record("once", Some("client-retry-1"));
    cluster.publish("app", retry).await;
    for ack in cluster.acks(2).await {
        assert!(ack.duplicate, "{ack:?}");
        assert_eq!(ack.position, original.position);
    }
    assert_eq!(cluster.storages[0].len("app").await.unwrap(), 1);
    assert_eq!(
        cluster.nodes[0]
            .counters()
            .duplicates
            .load(Ordering::Relaxed),
        2
    );
}

async fn unassigned_apps_reach_no_node_and_bad_notices_are_counted(cluster: &mut Cluster) {
    let record = cluster.record("x", None);
    let node = &cluster.nodes[1];
    node.assign(&["a".to_owned(), "b".to_owned()])
        .await
        .unwrap();
    assert_eq!(node.assigned().await, ["a", "b"]);
    node.assign(&["b".to_owned()]).await.unwrap();
    assert_eq!(cluster.publish("a", record).await, 0, "unsubscribed from a");
    cluster
        .bus
        .publish(&log_topic("b"), Bytes::from_static(b"\x01\x01garbage"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while node.counters().malformed.load(Ordering::Relaxed) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the malformed notice was not counted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(cluster.storages[1].len("b").await.unwrap(), 0);
}

macro_rules! run_cases {
    ($bus:expr, $($case:ident),*) => {{
        $(
            eprintln!("{}", stringify!($case));
            let mut cluster = Cluster::new($bus().await).await;
            $case(&mut cluster).await;
        )*
    }};
}

macro_rules! all_cases {
    ($bus:expr) => {
        run_cases!(
            $bus,
            every_copy_stores_each_message_once_in_publish_order,
            a_redelivered_or_retried_message_is_acknowledged_not_stored_again,
            unassigned_apps_reach_no_node_and_bad_notices_are_counted
        )
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_in_process_bus() {
    all_cases!(async || {
        let bus: Arc<dyn Bus> = Arc::new(tiercache_bus::MemoryBus::new());
        bus
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let server = RedisServer::start().expect("the Redis run needs redis-server");
    let url = server.url();
    all_cases!(async || tiercache_bus::open(&url).await.unwrap());
}
