//! One conformance suite for every [`Store`]: SQLite, PostgreSQL (a real server started by
//! the test kit) and the gRPC client in front of each. Every case gets a fresh, empty store
//! and a manual clock for registry and lease expiry.
//!
//! If PostgreSQL cannot be started the PostgreSQL tests fail with the reason; nothing is
//! skipped.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tiercache_core::Version;
use tiercache_store::grpc::{ServeOptions, serve};
use tiercache_store::{
    Limits, Lookup, Precondition, SqlOptions, SqlStore, Store, StoreClient, StoreError, WallClock,
};
use tiercache_testkit::Postgres;

const START_MS: i64 = 1_700_000_000_000;

type Clock = Arc<AtomicI64>;

fn options() -> (SqlOptions, Clock) {
    let (clock, handle) = WallClock::manual(START_MS);
    let options = SqlOptions {
        clock,
        ..SqlOptions::default()
    };
    (options, handle)
}

fn advance(clock: &Clock, ms: i64) {
    clock.fetch_add(ms, Ordering::SeqCst);
}

/// Serves `store` on a free loopback port in this runtime and returns a client of it.
async fn over_grpc(store: SqlStore) -> Arc<dyn Store> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(
        Arc::new(store),
        listener,
        ServeOptions::default(),
        std::future::pending(),
    ));
    Arc::new(
        StoreClient::connect(&address.to_string(), Limits::default())
            .await
            .unwrap(),
    )
}

/// Runs every case, each on a store made fresh by `fresh(case_name)`.
macro_rules! run_cases {
    ($backend:expr, $fresh:expr) => {
        run_cases!(@ $backend, $fresh;
            versions_start_at_one_and_increase_per_key,
            deletes_leave_tombstones_and_writes_continue_above_them,
            conditional_writes_compare_and_set_on_the_version,
            batch_put_is_all_or_nothing,
            batch_get_answers_every_key_in_order,
            scans_page_through_a_prefix_in_byte_order,
            registry_entries_expire_unless_renewed,
            leases_fence_state_writes_by_epoch,
            concurrent_writers_lose_no_update_and_leave_no_gap,
            unicode_binary_and_sql_special_keys_are_stored_verbatim,
            limits_reject_oversized_input_and_write_nothing,
            answers_too_large_for_one_message_are_paged_or_refused
        )
    };
    (@ $backend:expr, $fresh:expr; $($case:ident),*) => {{
        $(
            let (store, clock): (Arc<dyn Store>, Clock) = $fresh(stringify!($case)).await;
            eprintln!("{}: {}", $backend, stringify!($case));
            $case(&*store, &clock).await;
        )*
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = async |case: &str| {
        let (options, clock) = options();
        let url = format!("sqlite://{}/{case}.db", dir.path().display());
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url, options).await.unwrap());
        (store, clock)
    };
    run_cases!("sqlite", fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms() {
    let server = Postgres::start().expect("the PostgreSQL conformance run needs a server");
    let fresh = async |case: &str| {
        let url = server.create_database(case).unwrap();
        let (options, clock) = options();
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url, options).await.unwrap());
        (store, clock)
    };
    run_cases!("postgres", fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = async |case: &str| {
        let (options, clock) = options();
        let url = format!("sqlite://{}/{case}.db", dir.path().display());
        (
            over_grpc(SqlStore::open(&url, options).await.unwrap()).await,
            clock,
        )
    };
    run_cases!("grpc+sqlite", fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_postgres_conforms() {
    let server = Postgres::start().expect("the PostgreSQL conformance run needs a server");
    let fresh = async |case: &str| {
        let url = server.create_database(case).unwrap();
        let (options, clock) = options();
        (
            over_grpc(SqlStore::open(&url, options).await.unwrap()).await,
            clock,
        )
    };
    run_cases!("grpc+postgres", fresh);
}

fn live(value: &[u8], version: u64) -> Lookup {
    Lookup::Live {
        value: value.to_vec(),
        version: Version(version),
    }
}

async fn versions_start_at_one_and_increase_per_key(store: &dyn Store, _: &Clock) {
    assert_eq!(store.get(b"a").await.unwrap(), Lookup::Absent);
    assert_eq!(
        store.put(b"a", b"1", Precondition::None).await.unwrap(),
        Version(1)
    );
    assert_eq!(
        store.put(b"a", b"2", Precondition::None).await.unwrap(),
        Version(2)
    );
    assert_eq!(
        store.put(b"b", b"x", Precondition::None).await.unwrap(),
        Version(1)
    );
    assert_eq!(store.get(b"a").await.unwrap(), live(b"2", 2));
    assert_eq!(store.get(b"b").await.unwrap(), live(b"x", 1));
    // An empty value is a value, not a tombstone.
    assert_eq!(
        store.put(b"a", b"", Precondition::None).await.unwrap(),
        Version(3)
    );
    assert_eq!(store.get(b"a").await.unwrap(), live(b"", 3));
}

async fn deletes_leave_tombstones_and_writes_continue_above_them(store: &dyn Store, _: &Clock) {
    store.put(b"k", b"v1", Precondition::None).await.unwrap();
    store.put(b"k", b"v2", Precondition::None).await.unwrap();
    assert_eq!(
        store.delete(b"k", Precondition::None).await.unwrap(),
        Version(3)
    );
    assert_eq!(
        store.get(b"k").await.unwrap(),
        Lookup::Deleted {
            version: Version(3)
        }
    );
    // Deleting what is not live is NotFound and moves no version.
    assert!(matches!(
        store.delete(b"k", Precondition::None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete(b"never", Precondition::None).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.get(b"never").await.unwrap(), Lookup::Absent);
    assert_eq!(
        store.put(b"k", b"v4", Precondition::None).await.unwrap(),
        Version(4)
    );
    assert_eq!(store.get(b"k").await.unwrap(), live(b"v4", 4));
    // Scans skip tombstones.
    store.put(b"k2", b"x", Precondition::None).await.unwrap();
    store.delete(b"k2", Precondition::None).await.unwrap();
    let page = store.scan(b"k", None, 10).await.unwrap();
    let keys: Vec<&[u8]> = page.objects.iter().map(|o| o.key.as_slice()).collect();
    assert_eq!(keys, vec![b"k".as_slice()]);
}

async fn conditional_writes_compare_and_set_on_the_version(store: &dyn Store, _: &Clock) {
    let never = Precondition::Version(Version::ZERO);
    assert_eq!(store.put(b"c", b"1", never).await.unwrap(), Version(1));
    assert_eq!(
        store.put(b"c", b"lost", never).await,
        Err(StoreError::VersionConflict {
            current: Version(1)
        })
    );
    assert_eq!(
        store
            .put(b"c", b"2", Precondition::Version(Version(1)))
            .await
            .unwrap(),
        Version(2)
    );
    assert_eq!(
        store
            .put(b"c", b"lost", Precondition::Version(Version(1)))
            .await,
        Err(StoreError::VersionConflict {
            current: Version(2)
        })
    );
    assert_eq!(
        store.put(b"c", b"lost", Precondition::Absent).await,
        Err(StoreError::VersionConflict {
            current: Version(2)
        })
    );
    assert_eq!(
        store.delete(b"c", Precondition::Version(Version(1))).await,
        Err(StoreError::VersionConflict {
            current: Version(2)
        })
    );
    // Failed conditions changed nothing.
    assert_eq!(store.get(b"c").await.unwrap(), live(b"2", 2));
    assert_eq!(
        store
            .delete(b"c", Precondition::Version(Version(2)))
            .await
            .unwrap(),
        Version(3)
    );
    // A tombstone counts as absent, and its version is the one to compare with.
    assert_eq!(
        store.put(b"c", b"4", Precondition::Absent).await.unwrap(),
        Version(4)
    );
    store.delete(b"c", Precondition::None).await.unwrap();
    assert_eq!(
        store
            .put(b"c", b"6", Precondition::Version(Version(5)))
            .await
            .unwrap(),
        Version(6)
    );
    assert_eq!(
        store
            .put(b"fresh", b"1", Precondition::Absent)
            .await
            .unwrap(),
        Version(1)
    );
    assert!(matches!(
        store.delete(b"fresh", Precondition::Absent).await,
        Err(StoreError::InvalidArgument(_))
    ));
}

async fn batch_put_is_all_or_nothing(store: &dyn Store, _: &Clock) {
    store.put(b"b1", b"old", Precondition::None).await.unwrap();
    let items = vec![
        (b"b1".to_vec(), b"new".to_vec()),
        (b"b2".to_vec(), b"first".to_vec()),
        (b"b3".to_vec(), b"x".to_vec()),
        (b"b2".to_vec(), b"second".to_vec()),
    ];
    let versions = store.batch_put(&items).await.unwrap();
    assert_eq!(
        versions,
        vec![Version(2), Version(1), Version(1), Version(1)]
    );
    assert_eq!(store.get(b"b1").await.unwrap(), live(b"new", 2));
    assert_eq!(store.get(b"b2").await.unwrap(), live(b"second", 1));

    // One bad item fails the whole batch before anything is written.
    let limits = Limits::default();
    for bad in [
        (b"b4".to_vec(), vec![0u8; limits.max_value_bytes + 1]),
        (Vec::new(), b"empty key".to_vec()),
        (vec![b'k'; limits.max_key_bytes + 1], b"long key".to_vec()),
    ] {
        let batch = vec![
            (b"b1".to_vec(), b"must not land".to_vec()),
            (b"b5".to_vec(), b"must not land".to_vec()),
            bad,
        ];
        let error = store.batch_put(&batch).await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::TooLarge { .. } | StoreError::InvalidArgument(_)
            ),
            "{error}"
        );
        assert_eq!(store.get(b"b1").await.unwrap(), live(b"new", 2));
        assert_eq!(store.get(b"b5").await.unwrap(), Lookup::Absent);
    }
    assert_eq!(store.batch_put(&[]).await.unwrap(), Vec::<Version>::new());
}

async fn batch_get_answers_every_key_in_order(store: &dyn Store, _: &Clock) {
    store.put(b"x", b"1", Precondition::None).await.unwrap();
    store.put(b"y", b"1", Precondition::None).await.unwrap();
    store.delete(b"y", Precondition::None).await.unwrap();
    let keys = vec![
        b"nope".to_vec(),
        b"y".to_vec(),
        b"x".to_vec(),
        b"x".to_vec(),
    ];
    assert_eq!(
        store.batch_get(&keys).await.unwrap(),
        vec![
            Lookup::Absent,
            Lookup::Deleted {
                version: Version(2)
            },
            live(b"1", 1),
            live(b"1", 1)
        ]
    );
    assert_eq!(store.batch_get(&[]).await.unwrap(), vec![]);
}

async fn scans_page_through_a_prefix_in_byte_order(store: &dyn Store, _: &Clock) {
    let keys: Vec<Vec<u8>> = vec![
        b"user:5".to_vec(),
        b"user:1".to_vec(),
        b"user:10".to_vec(),
        b"user:\xff".to_vec(),
        b"user:\x00".to_vec(),
        b"usera".to_vec(),
        b"use".to_vec(),
        b"\xff\xff".to_vec(),
    ];
    for key in &keys {
        store.put(key, key, Precondition::None).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    for _ in 0..10 {
        let page = store.scan(b"user:", cursor.as_deref(), 2).await.unwrap();
        assert!(page.objects.len() <= 2);
        seen.extend(page.objects.iter().map(|o| o.key.clone()));
        for object in &page.objects {
            assert_eq!(object.value, object.key);
            assert_eq!(object.version, Version(1));
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let expected: Vec<Vec<u8>> = vec![
        b"user:\x00".to_vec(),
        b"user:1".to_vec(),
        b"user:10".to_vec(),
        b"user:5".to_vec(),
        b"user:\xff".to_vec(),
    ];
    assert_eq!(seen, expected);
    // A prefix of 0xFF bytes has no upper bound; the empty prefix is everything.
    let page = store.scan(b"\xff", None, 100).await.unwrap();
    assert_eq!(page.objects.len(), 1);
    assert_eq!(page.next_cursor, None);
    let all = store.scan(b"", None, 100).await.unwrap();
    assert_eq!(all.objects.len(), keys.len());
    assert!(all.objects.windows(2).all(|w| w[0].key < w[1].key));
    // No limit means the largest page.
    assert_eq!(
        store.scan(b"", None, 0).await.unwrap().objects.len(),
        keys.len()
    );
}

async fn registry_entries_expire_unless_renewed(store: &dyn Store, clock: &Clock) {
    let second = Duration::from_secs(1);
    store
        .register("store", "s1", "127.0.0.1:7001", second)
        .await
        .unwrap();
    store
        .register("store", "s2", "127.0.0.1:7002", 3 * second)
        .await
        .unwrap();
    store
        .register("admin", "a1", "127.0.0.1:7101", 3 * second)
        .await
        .unwrap();
    let ids = |nodes: Vec<tiercache_store::Registration>| -> Vec<String> {
        nodes.into_iter().map(|n| n.id).collect()
    };
    assert_eq!(ids(store.lookup("store").await.unwrap()), ["s1", "s2"]);
    advance(clock, 1_500);
    assert_eq!(ids(store.lookup("store").await.unwrap()), ["s2"]);
    assert!(matches!(
        store.heartbeat("store", "s1", second).await,
        Err(StoreError::NotFound(_))
    ));
    let renewed = store.heartbeat("store", "s2", 10 * second).await.unwrap();
    assert_eq!(renewed.address, "127.0.0.1:7002");
    assert_eq!(renewed.expires_at_ms, START_MS + 1_500 + 10_000);
    advance(clock, 2_000);
    assert_eq!(ids(store.lookup("store").await.unwrap()), ["s2"]);
    assert_eq!(
        ids(store.lookup("admin").await.unwrap()),
        Vec::<String>::new()
    );
    // Registering again brings a node back, with its new address.
    store
        .register("store", "s1", "127.0.0.1:8001", second)
        .await
        .unwrap();
    let nodes = store.lookup("store").await.unwrap();
    assert_eq!(nodes[0].address, "127.0.0.1:8001");
    store.deregister("store", "s1").await.unwrap();
    assert_eq!(ids(store.lookup("store").await.unwrap()), ["s2"]);
    assert!(matches!(
        store.register("", "x", "a", second).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        store.register("store", "x", "a", Duration::ZERO).await,
        Err(StoreError::InvalidArgument(_))
    ));
}

async fn leases_fence_state_writes_by_epoch(store: &dyn Store, clock: &Clock) {
    let ttl = Duration::from_secs(2);
    let a = store.acquire_lease("admin", "a", ttl).await.unwrap();
    assert_eq!(a.epoch, 1);
    assert_eq!(
        store.acquire_lease("admin", "b", ttl).await,
        Err(StoreError::LeaseHeld {
            name: "admin".into(),
            holder: "a".into(),
            epoch: 1
        })
    );
    store
        .write_state("admin", "assignment", b"a's", 1)
        .await
        .unwrap();
    // The holder re-acquiring a live lease keeps its epoch.
    assert_eq!(
        store.acquire_lease("admin", "a", ttl).await.unwrap().epoch,
        1
    );
    assert_eq!(
        store.renew_lease("admin", "a", 1, ttl).await.unwrap().epoch,
        1
    );

    advance(clock, 2_500); // a's lease lapses; nobody has taken it yet
    assert_eq!(
        store.write_state("admin", "assignment", b"late", 1).await,
        Err(StoreError::LeaseExpired {
            name: "admin".into(),
            epoch: 1
        })
    );
    assert_eq!(
        store.renew_lease("admin", "a", 1, ttl).await,
        Err(StoreError::LeaseExpired {
            name: "admin".into(),
            epoch: 1
        })
    );
    let b = store.acquire_lease("admin", "b", ttl).await.unwrap();
    assert_eq!(b.epoch, 2);
    assert_eq!(
        store.write_state("admin", "assignment", b"stale", 1).await,
        Err(StoreError::StaleEpoch {
            presented: 1,
            current: 2
        })
    );
    assert_eq!(
        store.renew_lease("admin", "a", 1, ttl).await,
        Err(StoreError::StaleEpoch {
            presented: 1,
            current: 2
        })
    );
    let entry = store
        .read_state("admin", "assignment")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (entry.value.as_slice(), entry.epoch),
        (b"a's".as_slice(), 1)
    );
    store
        .write_state("admin", "assignment", b"b's", 2)
        .await
        .unwrap();
    store.write_state("admin", "other", b"o", 2).await.unwrap();
    let entries = store.list_state("admin").await.unwrap();
    let summary: Vec<(&str, &[u8], u64)> = entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_slice(), e.epoch))
        .collect();
    assert_eq!(
        summary,
        vec![("assignment", b"b's".as_slice(), 2), ("other", b"o", 2)]
    );
    assert_eq!(store.read_state("admin", "missing").await.unwrap(), None);
    // A future epoch is as wrong as a past one; a lease never taken is at epoch 0.
    assert!(matches!(
        store.write_state("admin", "x", b"", 3).await,
        Err(StoreError::StaleEpoch { .. })
    ));
    for epoch in [0, 1] {
        assert!(matches!(
            store.write_state("nobody", "x", b"", epoch).await,
            Err(StoreError::StaleEpoch { current: 0, .. })
        ));
    }
    // Release lets the next holder in at once, at a new epoch; the releaser is fenced.
    store.release_lease("admin", "b", 2).await.unwrap();
    assert!(matches!(
        store
            .write_state("admin", "assignment", b"after release", 2)
            .await,
        Err(StoreError::LeaseExpired { .. })
    ));
    assert_eq!(
        store.acquire_lease("admin", "a", ttl).await.unwrap().epoch,
        3
    );
    // An expired holder re-acquiring gets a new epoch too: its old writes are in doubt.
    advance(clock, 5_000);
    assert_eq!(
        store.acquire_lease("admin", "a", ttl).await.unwrap().epoch,
        4
    );
}

async fn concurrent_writers_lose_no_update_and_leave_no_gap(store: &dyn Store, _: &Clock) {
    const WRITERS: u64 = 8;
    const WRITES: u64 = 25;
    // The trait object is borrowed; scoped tasks would need 'static, so run the writers as
    // futures joined on this task: they interleave at every await, and the database sees
    // concurrent transactions (PostgreSQL: separate connections).
    let writers = (0..WRITERS).map(|writer| async move {
        let mut versions = Vec::new();
        for write in 0..WRITES {
            let value = format!("{writer}:{write}");
            versions.push(
                store
                    .put(b"hot", value.as_bytes(), Precondition::None)
                    .await
                    .unwrap(),
            );
        }
        versions
    });
    let all: Vec<Version> = futures_join_all(writers)
        .await
        .into_iter()
        .flatten()
        .collect();
    let distinct: BTreeSet<u64> = all.iter().map(|v| v.0).collect();
    assert_eq!(
        distinct.len() as u64,
        WRITERS * WRITES,
        "two writes got one version"
    );
    assert_eq!(
        distinct.iter().copied().collect::<Vec<_>>(),
        (1..=WRITERS * WRITES).collect::<Vec<_>>()
    );
    assert_eq!(
        store.get(b"hot").await.unwrap().version(),
        Version(WRITERS * WRITES)
    );

    // Read-modify-write with compare-and-set: every increment that succeeded is counted.
    store
        .put(b"counter", b"0", Precondition::None)
        .await
        .unwrap();
    let incrementers = (0..4).map(|_| async move {
        let mut done = 0u64;
        for _ in 0..40 {
            let current = store.get(b"counter").await.unwrap();
            let n: u64 = std::str::from_utf8(current.value().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            let next = (n + 1).to_string();
            match store
                .put(
                    b"counter",
                    next.as_bytes(),
                    Precondition::Version(current.version()),
                )
                .await
            {
                Ok(_) => done += 1,
                Err(StoreError::VersionConflict { .. }) => {}
                Err(error) => panic!("{error}"),
            }
        }
        done
    });
    let succeeded: u64 = futures_join_all(incrementers).await.into_iter().sum();
    let final_value = store.get(b"counter").await.unwrap();
    assert_eq!(
        final_value.value().unwrap(),
        succeeded.to_string().as_bytes()
    );
    assert_eq!(final_value.version(), Version(1 + succeeded));
}

/// Polls every future concurrently on the current task (a small `join_all`).
async fn futures_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

async fn unicode_binary_and_sql_special_keys_are_stored_verbatim(store: &dyn Store, _: &Clock) {
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let keys: Vec<Vec<u8>> = vec![
        "ключ-🔑-鍵".as_bytes().to_vec(),
        all_bytes.clone(),
        b"'; DROP TABLE objects; --".to_vec(),
        b"100%_\\\"quoted\" $1 ?".to_vec(),
        b"\x00leading-nul".to_vec(),
    ];
    for (i, key) in keys.iter().enumerate() {
        let mut value = all_bytes.clone();
        value.extend_from_slice(key);
        value.push(i as u8);
        store.put(key, &value, Precondition::None).await.unwrap();
        assert_eq!(
            store.get(key).await.unwrap(),
            live(&value, 1),
            "key {key:?}"
        );
    }
    // `%` and `_` are not wildcards in a scan prefix.
    let page = store.scan(b"100%", None, 10).await.unwrap();
    assert_eq!(page.objects.len(), 1);
    assert!(
        store
            .scan(b"100_", None, 10)
            .await
            .unwrap()
            .objects
            .is_empty()
    );
    let all = store.scan(b"", None, 100).await.unwrap();
    assert_eq!(all.objects.len(), keys.len(), "the objects table survived");
    store
        .register("api", "node-ü", "[::1]:80", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(store.lookup("api").await.unwrap()[0].id, "node-ü");
}

async fn limits_reject_oversized_input_and_write_nothing(store: &dyn Store, _: &Clock) {
    let limits = Limits::default();
    let longest = vec![b'k'; limits.max_key_bytes];
    let largest = vec![7u8; limits.max_value_bytes];
    assert_eq!(
        store
            .put(&longest, &largest, Precondition::None)
            .await
            .unwrap(),
        Version(1)
    );
    assert_eq!(
        store.get(&longest).await.unwrap().value().map(<[u8]>::len),
        Some(largest.len())
    );

    let too_long = vec![b'k'; limits.max_key_bytes + 1];
    let error = store
        .put(&too_long, b"v", Precondition::None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::TooLarge { ref what, .. } if what == "key"),
        "{error}"
    );
    let too_big = vec![7u8; limits.max_value_bytes + 1];
    let error = store
        .put(b"big", &too_big, Precondition::None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::TooLarge { ref what, .. } if what == "value"),
        "{error}"
    );
    assert!(matches!(
        store.put(b"", b"v", Precondition::None).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        store.get(b"").await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert_eq!(store.get(b"big").await.unwrap(), Lookup::Absent);
    assert_eq!(store.scan(b"", None, 10).await.unwrap().objects.len(), 1);
}

async fn answers_too_large_for_one_message_are_paged_or_refused(store: &dyn Store, _: &Clock) {
    // 20 values of 1 MiB: more than one 16 MiB message can carry.
    let limits = Limits::default();
    let value = vec![1u8; limits.max_value_bytes];
    let keys: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("big-{i:02}").into_bytes())
        .collect();
    for key in &keys {
        store.put(key, &value, Precondition::None).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    let mut pages = 0;
    loop {
        let page = store.scan(b"big-", cursor.as_deref(), 100).await.unwrap();
        pages += 1;
        let bytes: usize = page.objects.iter().map(|o| o.value.len()).sum();
        assert!(
            bytes <= limits.max_answer_bytes(),
            "a page of {bytes} bytes"
        );
        seen.extend(page.objects.into_iter().map(|o| o.key));
        cursor = page.next_cursor;
        if cursor.is_none() || pages > 10 {
            break;
        }
    }
    assert_eq!(seen, keys, "the pages together hold every object once");
    assert!(pages >= 2);
    // (Never print these answers: 20 MiB of Debug output.)
    match store.batch_get(&keys).await {
        Err(StoreError::TooLarge { .. }) => {}
        Err(error) => panic!("expected TooLarge, got {error}"),
        Ok(lookups) => panic!("expected TooLarge, got {} lookups", lookups.len()),
    }
    assert_eq!(
        store.batch_get(&keys[..4]).await.map(|l| l.len()).ok(),
        Some(4)
    );
}
