//! The [`ObjectStore`] cases: versions, tombstones, preconditions, batches, scans,
//! concurrency, verbatim keys and limits.

use std::collections::BTreeSet;

use tiercache_core::Version;
use tiercache_store::{Limits, ObjectRead, ObjectStore, Precondition, StoreError};

use super::Clock;

fn live(value: &[u8], version: u64) -> ObjectRead {
    ObjectRead::Live {
        value: value.to_vec(),
        version: Version(version),
    }
}

pub async fn versions_start_at_one_and_increase_per_key(store: &dyn ObjectStore, _: &Clock) {
    assert_eq!(store.get(b"a").await.unwrap(), ObjectRead::Absent);
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

pub async fn deletes_leave_tombstones_and_writes_continue_above_them(
    store: &dyn ObjectStore,
    _: &Clock,
) {
    store.put(b"k", b"v1", Precondition::None).await.unwrap();
    store.put(b"k", b"v2", Precondition::None).await.unwrap();
    assert_eq!(
        store.delete(b"k", Precondition::None).await.unwrap(),
        Version(3)
    );
    assert_eq!(
        store.get(b"k").await.unwrap(),
        ObjectRead::Deleted {
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
    assert_eq!(store.get(b"never").await.unwrap(), ObjectRead::Absent);
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

pub async fn conditional_writes_compare_and_set_on_the_version(store: &dyn ObjectStore, _: &Clock) {
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

pub async fn batch_put_is_all_or_nothing(store: &dyn ObjectStore, _: &Clock) {
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
        assert_eq!(store.get(b"b5").await.unwrap(), ObjectRead::Absent);
    }
    assert_eq!(store.batch_put(&[]).await.unwrap(), Vec::<Version>::new());
}

pub async fn batch_get_answers_every_key_in_order(store: &dyn ObjectStore, _: &Clock) {
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
            ObjectRead::Absent,
            ObjectRead::Deleted {
                version: Version(2)
            },
            live(b"1", 1),
            live(b"1", 1)
        ]
    );
    assert_eq!(store.batch_get(&[]).await.unwrap(), vec![]);
}

pub async fn scans_page_through_a_prefix_in_byte_order(store: &dyn ObjectStore, _: &Clock) {
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

pub async fn concurrent_writers_lose_no_update_and_leave_no_gap(
    store: &dyn ObjectStore,
    _: &Clock,
) {
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

pub async fn unicode_binary_and_sql_special_keys_are_stored_verbatim(
    store: &dyn ObjectStore,
    _: &Clock,
) {
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
}

pub async fn limits_reject_oversized_input_and_write_nothing(store: &dyn ObjectStore, _: &Clock) {
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
    assert_eq!(store.get(b"big").await.unwrap(), ObjectRead::Absent);
    assert_eq!(store.scan(b"", None, 10).await.unwrap().objects.len(), 1);
}

pub async fn answers_too_large_for_one_message_are_paged_or_refused(
    store: &dyn ObjectStore,
    _: &Clock,
) {
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
