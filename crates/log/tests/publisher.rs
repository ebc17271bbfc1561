//! [`LogPublisher`] against real log nodes: each case runs on the in-process bus and on a
//! real redis-server — confirmations from distinct nodes, a short answer with the message's
//! id, a retry stored once, a node that subscribes late, concurrent publishers keeping
//! their order, and limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tiercache_bus::{Bus, SessionOptions};
use tiercache_log::{
    LogNode, LogPublisher, LogStorage, MemoryStorage, MessageId, PublishError, PublisherOptions,
};
use tiercache_testkit::RedisServer;

struct Setup {
    bus: Arc<dyn Bus>,
    nodes: Vec<LogNode>,
    storages: Vec<Arc<MemoryStorage>>,
}

impl Setup {
    /// Starts log node `log-{n}` serving `app` alone (no peers: ready once subscribed).
    async fn node(&mut self, app: &str) -> usize {
        let storage = Arc::new(MemoryStorage::default());
        let n = self.nodes.len() + 1;
        let node = LogNode::start(
            format!("log-{n}"),
            storage.clone(),
            self.bus.clone(),
            SessionOptions::default(),
        )
        .await
        .unwrap();
        node.assign(&[app.to_owned()]).await.unwrap();
        self.nodes.push(node);
        self.storages.push(storage);
        n - 1
    }

    async fn publisher(&self, timeout: Duration) -> LogPublisher {
        let options = PublisherOptions {
            timeout,
            republish: Duration::from_millis(100),
            ..PublisherOptions::default()
        };
        LogPublisher::start(self.bus.clone(), options)
            .await
            .unwrap()
    }

    async fn close(&self) {
        for node in &self.nodes {
            node.close().await;
        }
    }
}

async fn ids(storage: &dyn LogStorage, app: &str) -> Vec<MessageId> {
    let records = storage.read(app, 0, 100_000).await.unwrap();
    records.into_iter().map(|(_, r)| r.id).collect()
}

async fn two_of_three_confirm_and_all_three_store_once(s: &mut Setup) {
    for _ in 0..3 {
        s.node("a1").await;
    }
    let publisher = s.publisher(Duration::from_secs(5)).await;
    let acked = publisher
        .append("a1", b"hello".to_vec(), None)
        .await
        .unwrap();
    assert!(acked.nodes.len() >= 2, "{acked:?}");
    let distinct: std::collections::BTreeSet<_> = acked.nodes.iter().collect();
    assert_eq!(distinct.len(), acked.nodes.len());
    for storage in &s.storages {
        let deadline = Instant::now() + Duration::from_secs(5);
        while ids(&**storage, "a1").await != [acked.id] {
            assert!(Instant::now() < deadline, "every copy stores it once");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn too_few_nodes_answer_unconfirmed_with_the_id_and_a_retry_is_stored_once(s: &mut Setup) {
    s.node("a2").await;
    let publisher = s.publisher(Duration::from_millis(400)).await;
    let key = Some(b"client-key-1".to_vec());
    let started = Instant::now();
    let short = publisher.append("a2", b"once".to_vec(), key.clone()).await;
    let Err(PublishError::Unconfirmed {
        id,
        acks: 1,
        needed: 2,
    }) = short
    else {
        panic!("one node of two needed answered {short:?}");
    };
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        ids(&*s.storages[0], "a2").await,
        [id],
        "the message landed anyway"
    );
    s.node("a2").await;
    let retried = publisher.append("a2", b"once".to_vec(), key).await.unwrap();
    assert_ne!(retried.id, id, "a retry is a new message id…");
    assert!(retried.duplicate, "…that a node recognised by its key");
    assert_eq!(s.storages[0].len("a2").await.unwrap(), 1, "stored once");
    assert_eq!(
        publisher
            .counters()
            .unconfirmed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

async fn no_node_at_all_is_unconfirmed_within_the_timeout(s: &mut Setup) {
    let publisher = s.publisher(Duration::from_millis(300)).await;
    let started = Instant::now();
    match publisher.append("nobody", b"x".to_vec(), None).await {
        Err(PublishError::Unconfirmed {
            acks: 0, needed: 2, ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// An append whose caller stops waiting (a client that hung up drops the request) leaves
/// nothing behind among the appends in flight; one still waiting is counted.
async fn an_abandoned_append_leaves_nothing_in_flight(s: &mut Setup) {
    let publisher = s.publisher(Duration::from_secs(5)).await;
    let abandoned = tokio::time::timeout(
        Duration::from_millis(100),
        publisher.append("abandoned", b"x".to_vec(), None),
    )
    .await;
    assert!(abandoned.is_err(), "no log node: it cannot be confirmed");
    assert_eq!(publisher.in_flight(), 0);
    let waiting = publisher.append("abandoned", b"y".to_vec(), None);
    tokio::pin!(waiting);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), &mut waiting)
            .await
            .is_err()
    );
    assert_eq!(publisher.in_flight(), 1);
}

async fn a_node_that_subscribes_late_still_confirms(s: &mut Setup) {
    s.node("a4").await;
    let publisher = s.publisher(Duration::from_secs(3)).await;
    let append = publisher.append("a4", b"late".to_vec(), None);
    let late = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        s.node("a4").await;
    };
    let (acked, ()) = tokio::join!(append, late);
    let acked = acked.unwrap();
    assert_eq!(acked.nodes.len(), 2, "{acked:?}");
    assert!(
        publisher
            .counters()
            .republished
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

async fn concurrent_publishers_lose_nothing_and_keep_their_order(s: &mut Setup) {
    for _ in 0..3 {
        s.node("a5").await;
    }
    let publisher = Arc::new(s.publisher(Duration::from_secs(10)).await);
    let mut tasks = Vec::new();
    for p in 0..8 {
        let publisher = publisher.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..50 {
                let value = format!("{p}/{n}").into_bytes();
                ids.push(publisher.append("a5", value, None).await.unwrap().id);
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let ids = task.await.unwrap();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "one caller's ids increase"
        );
        all.extend(ids);
    }
    all.sort();
    for storage in &s.storages {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut held = ids(&**storage, "a5").await;
            held.sort();
            if held == all {
                break;
            }
            assert!(Instant::now() < deadline, "{} of 400 on a copy", held.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn over_the_limits_nothing_is_sent(s: &mut Setup) {
    s.node("a6").await;
    let publisher = s.publisher(Duration::from_secs(1)).await;
    let big = vec![0; tiercache_log::DEFAULT_MAX_VALUE + 1];
    assert!(matches!(
        publisher.append("a6", big, None).await,
        Err(PublishError::InvalidArgument(_))
    ));
    assert!(matches!(
        publisher.append("a/b", b"x".to_vec(), None).await,
        Err(PublishError::InvalidArgument(_))
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.storages[0].len("a6").await.unwrap(), 0);
}

macro_rules! run_cases {
    ($bus:expr; $($case:ident),*) => {{
        $(
            eprintln!("case {}", stringify!($case));
            let mut setup = Setup { bus: $bus, nodes: Vec::new(), storages: Vec::new() };
            $case(&mut setup).await;
            setup.close().await;
        )*
    }};
}

macro_rules! all_cases {
    ($bus:expr) => {
        run_cases!($bus;
            two_of_three_confirm_and_all_three_store_once,
            too_few_nodes_answer_unconfirmed_with_the_id_and_a_retry_is_stored_once,
            no_node_at_all_is_unconfirmed_within_the_timeout,
            an_abandoned_append_leaves_nothing_in_flight,
            a_node_that_subscribes_late_still_confirms,
            concurrent_publishers_lose_nothing_and_keep_their_order,
            over_the_limits_nothing_is_sent)
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_in_process_bus() {
    all_cases!(Arc::new(tiercache_bus::MemoryBus::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let server = RedisServer::start().expect("the Redis run needs redis-server");
    let url = server.url();
    all_cases!(tiercache_bus::open(&url).await.unwrap());
}
