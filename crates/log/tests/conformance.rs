//! One conformance suite for every [`LogStorage`] backend: each named case runs on the
//! memory storage and on segment storage (with `fsync always` and default sizes, and with
//! `interval` and small segments so that rollover happens in every case). Every case gets a
//! fresh, empty storage; the reopen case runs only on durable backends.

use std::sync::Arc;
use std::time::Duration;

use tiercache_log::{
    Appended, Duplicate, DuplicateOf, FsyncPolicy, Limits, LogError, LogStorage, MemoryStorage,
    MessageId, Record, SegmentOptions, SegmentStorage,
};

/// One backend's storage for one case.
struct Harness {
    storage: Option<Arc<dyn LogStorage>>,
    limits: Limits,
    /// Drops the storage and opens it again on the same files (durable backends).
    reopen: Option<Box<dyn Fn() -> Arc<dyn LogStorage> + Send + Sync>>,
    /// Holds the data directory for as long as the case runs.
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    fn storage(&self) -> &dyn LogStorage {
        self.storage.as_deref().unwrap()
    }

    fn shared(&self) -> Arc<dyn LogStorage> {
        self.storage.clone().unwrap()
    }

    /// Closes the storage (its last handle: queued work done, files closed) and reopens it.
    fn reopen(&mut self) {
        let storage = self.storage.take().unwrap();
        assert_eq!(
            Arc::strong_count(&storage),
            1,
            "the case still holds the storage"
        );
        drop(storage);
        self.storage = Some((self.reopen.as_ref().expect("a durable backend"))());
    }
}

fn id(publisher: u32, seq: u32) -> MessageId {
    MessageId {
        time_ms: 1_700_000_000_000 + u64::from(seq / 7),
        publisher,
        seq,
    }
}

fn record(publisher: u32, seq: u32) -> Record {
    Record {
        id: id(publisher, seq),
        idempotency_key: None,
        value: format!("message {seq} of publisher {publisher}").into_bytes(),
    }
}

fn keyed(publisher: u32, seq: u32, key: &str) -> Record {
    Record {
        idempotency_key: Some(key.as_bytes().to_vec()),
        ..record(publisher, seq)
    }
}

async fn all(storage: &dyn LogStorage, app: &str) -> Vec<Record> {
    let records = storage.read(app, 0, usize::MAX).await.unwrap();
    for (i, (position, _)) in records.iter().enumerate() {
        assert_eq!(*position, i as u64);
    }
    records.into_iter().map(|(_, record)| record).collect()
}

async fn positions_start_at_zero_and_increase(h: &mut Harness) {
    let s = h.storage();
    assert_eq!(s.len("app").await.unwrap(), 0);
    let first: Vec<Record> = (0..3).map(|n| record(1, n)).collect();
    let appended = s.append("app", first.clone()).await.unwrap();
    assert_eq!(
        appended,
        Appended {
            first: 0,
            appended: 3,
            duplicates: vec![]
        }
    );
    let second: Vec<Record> = (3..5).map(|n| record(1, n)).collect();
    let appended = s.append("app", second.clone()).await.unwrap();
    assert_eq!((appended.first, appended.appended), (3, 2));
    assert_eq!(appended.position(1), 4);
    assert_eq!(s.len("app").await.unwrap(), 5);
    assert_eq!(all(s, "app").await, [first, second].concat());
    let empty = s.append("app", vec![]).await.unwrap();
    assert_eq!((empty.first, empty.appended), (5, 0));
    assert_eq!(s.len("app").await.unwrap(), 5);
}

async fn reads_and_id_lists_page(h: &mut Harness) {
    let s = h.storage();
    let records: Vec<Record> = (0..25).map(|n| record(2, n)).collect();
    for chunk in records.chunks(4) {
        s.append("app", chunk.to_vec()).await.unwrap();
    }
    let mut read = Vec::new();
    for from in [0, 10, 20] {
        let page = s.read("app", from, 10).await.unwrap();
        assert_eq!(page.len(), if from == 20 { 5 } else { 10 });
        assert_eq!(page[0].0, from);
        read.extend(page.into_iter().map(|(_, r)| r));
    }
    assert_eq!(read, records);
    assert!(s.read("app", 25, 10).await.unwrap().is_empty());
    assert!(s.read("app", u64::MAX, 10).await.unwrap().is_empty());
    assert!(s.read("app", 3, 0).await.unwrap().is_empty());
    let ids = s.ids_since("app", 20, 100).await.unwrap();
    assert_eq!(ids, records[20..].iter().map(|r| r.id).collect::<Vec<_>>());
    assert_eq!(
        s.ids_since("app", 7, 2).await.unwrap(),
        [records[7].id, records[8].id]
    );
    assert!(s.ids_since("app", 25, 10).await.unwrap().is_empty());
    assert_eq!(
        s.position_of("app", records[13].id).await.unwrap(),
        Some(13)
    );
    assert!(s.has("app", records[24].id).await.unwrap());
    assert!(!s.has("app", id(2, 99)).await.unwrap());
}

async fn reads_after_an_id_follow_id_order(h: &mut Harness) {
    let s = h.storage();
    // Appended out of id order (publisher 2's messages first), across several appends.
    let mut appended = Vec::new();
    for batch in [[(2, 5), (2, 6)], [(1, 0), (3, 9)], [(1, 1), (2, 7)]] {
        let records: Vec<Record> = batch.iter().map(|&(p, n)| record(p, n)).collect();
        s.append("app", records.clone()).await.unwrap();
        appended.extend(records);
    }
    let mut by_id = appended.clone();
    by_id.sort_by_key(|r| r.id);
    let read = s.read_after("app", None, usize::MAX).await.unwrap();
    let ids: Vec<MessageId> = read.iter().map(|(_, r)| r.id).collect();
    assert_eq!(ids, by_id.iter().map(|r| r.id).collect::<Vec<_>>());
    // Each record comes with its position in this copy.
    for (position, r) in &read {
        assert_eq!(s.position_of("app", r.id).await.unwrap(), Some(*position));
        assert_eq!(appended[*position as usize], *r);
    }
    // Paging: strictly after the cursor, `limit` at a time, until empty.
    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let page = s.read_after("app", cursor, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some((_, last)) = page.last() else { break };
        cursor = Some(last.id);
        paged.extend(page.into_iter().map(|(_, r)| r.id));
    }
    assert_eq!(paged, ids);
    // A cursor that is no message's id still splits the order.
    let between = MessageId {
        seq: by_id[2].id.seq + 1,
        ..by_id[2].id
    };
    let rest = s
        .read_after("app", Some(between), usize::MAX)
        .await
        .unwrap();
    assert!(rest.iter().all(|(_, r)| r.id > between));
    assert_eq!(rest.len(), ids.iter().filter(|&&id| id > between).count());
    assert!(s.read_after("nobody", None, 10).await.unwrap().is_empty());
    assert!(
        s.read_after("app", Some(*ids.last().unwrap()), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn duplicates_by_id_are_stored_once(h: &mut Harness) {
    let s = h.storage();
    s.append("app", vec![record(3, 0), record(3, 1)])
        .await
        .unwrap();
    let mut again = record(3, 1);
    again.value = b"a different value under the same id".to_vec();
    let appended = s
        .append("app", vec![again, record(3, 2), record(3, 3), record(3, 2)])
        .await
        .unwrap();
    assert_eq!(appended.first, 2);
    assert_eq!(appended.appended, 2);
    assert_eq!(
        appended.duplicates,
        [
            Duplicate {
                index: 0,
                position: 1,
                by: DuplicateOf::Id
            },
            // Within one append, the first occurrence is the original.
            Duplicate {
                index: 3,
                position: 2,
                by: DuplicateOf::Id
            },
        ]
    );
    assert_eq!(
        (0..4).map(|i| appended.position(i)).collect::<Vec<_>>(),
        [1, 2, 3, 2]
    );
    assert_eq!(
        all(s, "app").await,
        [record(3, 0), record(3, 1), record(3, 2), record(3, 3)]
    );
    // A whole batch of duplicates stores nothing.
    let appended = s.append("app", vec![record(3, 0)]).await.unwrap();
    assert_eq!((appended.first, appended.appended), (4, 0));
    assert_eq!(s.len("app").await.unwrap(), 4);
}

async fn duplicates_by_idempotency_key_are_stored_once(h: &mut Harness) {
    let s = h.storage();
    s.append("app", vec![keyed(4, 0, "order-1"), keyed(4, 1, "order-2")])
        .await
        .unwrap();
    // A client retry: the API node gave it a new id, the key is the same.
    let appended = s
        .append(
            "app",
            vec![keyed(5, 0, "order-2"), keyed(5, 1, "order-3"), record(5, 2)],
        )
        .await
        .unwrap();
    assert_eq!(appended.first, 2);
    assert_eq!(
        appended.duplicates,
        [Duplicate {
            index: 0,
            position: 1,
            by: DuplicateOf::IdempotencyKey
        }]
    );
    // The same id under another key is still the same message.
    let appended = s.append("app", vec![keyed(4, 0, "other")]).await.unwrap();
    assert_eq!(appended.duplicates[0].by, DuplicateOf::Id);
    assert_eq!(appended.duplicates[0].position, 0);
    let stored = all(s, "app").await;
    assert_eq!(stored.len(), 4);
    assert_eq!(stored[1], keyed(4, 1, "order-2"));
    assert!(!s.has("app", id(5, 0)).await.unwrap());
}

async fn apps_are_isolated(h: &mut Harness) {
    let s = h.storage();
    s.append("one", vec![keyed(6, 0, "k")]).await.unwrap();
    let appended = s
        .append("two", vec![keyed(6, 0, "k"), record(6, 1)])
        .await
        .unwrap();
    assert_eq!((appended.first, appended.appended), (0, 2));
    assert_eq!(s.len("one").await.unwrap(), 1);
    assert_eq!(s.len("two").await.unwrap(), 2);
    assert_eq!(s.apps().await.unwrap(), ["one", "two"]);
    assert_eq!(s.len("three").await.unwrap(), 0);
    assert!(s.read("three", 0, 10).await.unwrap().is_empty());
    assert!(!s.has("three", id(6, 0)).await.unwrap());
    assert!(s.ids_since("three", 0, 10).await.unwrap().is_empty());
    assert_eq!(s.position_of("two", id(6, 1)).await.unwrap(), Some(1));
    assert_eq!(s.position_of("one", id(6, 1)).await.unwrap(), None);
}

async fn limits_refuse_oversized_input_and_store_nothing(h: &mut Harness) {
    let limits = h.limits;
    let s = h.storage();
    let big_value = Record {
        value: vec![7; limits.max_value + 1],
        ..record(7, 0)
    };
    let big_key = Record {
        idempotency_key: Some(vec![b'k'; limits.max_key + 1]),
        ..record(7, 1)
    };
    let empty_key = Record {
        idempotency_key: Some(Vec::new()),
        ..record(7, 2)
    };
    let too_many: Vec<Record> = (0..=limits.max_batch as u32)
        .map(|n| record(7, n))
        .collect();
    for (batch, what) in [
        (vec![record(7, 10), big_value], "value"),
        (vec![big_key, record(7, 11)], "idempotency key"),
        (too_many, "batch"),
    ] {
        match s.append("app", batch).await {
            Err(LogError::TooLarge { what: got, .. }) => assert_eq!(got, what),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(matches!(
        s.append("app", vec![empty_key]).await,
        Err(LogError::InvalidArgument(_))
    ));
    assert_eq!(s.len("app").await.unwrap(), 0);
    assert!(!s.has("app", id(7, 10)).await.unwrap());
    assert!(s.apps().await.unwrap().is_empty());
    // At the limits exactly: stored.
    let at_limits = Record {
        id: id(7, 20),
        idempotency_key: Some(vec![b'k'; limits.max_key]),
        value: vec![7; limits.max_value],
    };
    s.append("app", vec![at_limits.clone()]).await.unwrap();
    assert_eq!(all(s, "app").await, [at_limits]);
}

async fn concurrent_appenders_lose_nothing_and_store_each_once(h: &mut Harness) {
    const TASKS: u32 = 16;
    const EACH: u32 = 200;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let s = h.shared();
            tokio::spawn(async move {
                let mut positions = Vec::new();
                for seq in 0..EACH {
                    let appended = s
                        .append("app", vec![record(100 + task, seq)])
                        .await
                        .unwrap();
                    assert_eq!(appended.appended, 1);
                    positions.push(appended.first);
                    // Every tenth message is delivered twice: stored once.
                    if seq % 10 == 0 {
                        let again = s
                            .append("app", vec![record(100 + task, seq)])
                            .await
                            .unwrap();
                        assert_eq!(again.appended, 0);
                        assert_eq!(again.duplicates[0].position, appended.first);
                    }
                }
                positions
            })
        })
        .collect();
    let mut owner = vec![None; (TASKS * EACH) as usize];
    for (task, handle) in tasks.into_iter().enumerate() {
        let positions = handle.await.unwrap();
        // One publisher's messages keep its order.
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "task {task}");
        for (seq, position) in positions.into_iter().enumerate() {
            let slot = &mut owner[position as usize];
            assert_eq!(*slot, None, "position {position} given twice");
            *slot = Some(record(100 + task as u32, seq as u32));
        }
    }
    let s = h.storage();
    assert_eq!(s.len("app").await.unwrap(), u64::from(TASKS * EACH));
    let stored = all(s, "app").await;
    let expected: Vec<Record> = owner.into_iter().map(Option::unwrap).collect();
    assert_eq!(stored, expected);
}

async fn reopen_keeps_everything(h: &mut Harness) {
    let mut expected = Vec::new();
    for n in 0..40 {
        let batch = vec![keyed(8, 2 * n, &format!("key-{n}")), record(8, 2 * n + 1)];
        h.storage().append("app", batch.clone()).await.unwrap();
        expected.extend(batch);
    }
    h.storage()
        .append("other", vec![record(9, 0)])
        .await
        .unwrap();
    h.reopen();
    let s = h.storage();
    assert_eq!(s.apps().await.unwrap(), ["app", "other"]);
    assert_eq!(all(s, "app").await, expected);
    assert_eq!(all(s, "other").await, [record(9, 0)]);
    let after = s.read_after("app", Some(id(8, 9)), 3).await.unwrap();
    assert_eq!(
        after,
        [
            (10, expected[10].clone()),
            (11, expected[11].clone()),
            (12, expected[12].clone())
        ]
    );
    // The indexes were rebuilt: duplicates by id and by key are still found.
    let appended = s
        .append(
            "app",
            vec![record(8, 3), keyed(10, 0, "key-5"), record(10, 1)],
        )
        .await
        .unwrap();
    assert_eq!(appended.first, 80);
    assert_eq!(appended.appended, 1);
    assert_eq!(appended.position(0), 3);
    assert_eq!(appended.position(1), 10);
    assert_eq!(s.position_of("app", id(10, 1)).await.unwrap(), Some(80));
    h.reopen();
    assert_eq!(h.storage().len("app").await.unwrap(), 81);
}

/// Runs every case, each on a harness made fresh by `$fresh()`; `reopen` only when durable.
macro_rules! run_cases {
    ($backend:expr, $durable:expr, $fresh:expr) => {
        run_cases!(@ $backend, $fresh;
            positions_start_at_zero_and_increase,
            reads_and_id_lists_page,
            reads_after_an_id_follow_id_order,
            duplicates_by_id_are_stored_once,
            duplicates_by_idempotency_key_are_stored_once,
            apps_are_isolated,
            limits_refuse_oversized_input_and_store_nothing,
            concurrent_appenders_lose_nothing_and_store_each_once
        );
        if $durable {
            run_cases!(@ $backend, $fresh; reopen_keeps_everything);
        }
    };
    (@ $backend:expr, $fresh:expr; $($case:ident),*) => {{
        $(
            let mut harness: Harness = $fresh();
            eprintln!("{}: {}", $backend, stringify!($case));
            $case(&mut harness).await;
        )*
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_conforms() {
    let fresh = || Harness {
        storage: Some(Arc::new(MemoryStorage::new())),
        limits: Limits::default(),
        reopen: None,
        _dir: None,
    };
    run_cases!("memory", false, fresh);
}

fn segment_harness(options: SegmentOptions) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let open = {
        let path = dir.path().to_owned();
        let options = options.clone();
        move || -> Arc<dyn LogStorage> {
            let (storage, recovery) = SegmentStorage::open(&path, options.clone()).unwrap();
            assert!(
                recovery.torn_tails.is_empty() && recovery.corrupt.is_empty(),
                "{recovery:?}"
            );
            Arc::new(storage)
        }
    };
    Harness {
        storage: Some(open()),
        limits: options.limits,
        reopen: Some(Box::new(open)),
        _dir: Some(dir),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn segments_with_fsync_always_conform() {
    let fresh = || segment_harness(SegmentOptions::default());
    run_cases!("segment always", true, fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_segments_with_fsync_interval_conform() {
    let fresh = || {
        segment_harness(SegmentOptions {
            fsync: FsyncPolicy::Interval(Duration::from_millis(2)),
            segment_bytes: 8 << 10,
            writer_threads: 2,
            limits: Limits {
                max_value: 4 << 10,
                max_key: 64,
                max_batch: 100,
            },
        })
    };
    run_cases!("segment interval, 8 KiB segments", true, fresh);
}
