//! The outbox cases: every committed write leaves a pending notice, handed out once old
//! enough to one claimer at a time, until a confirmation covers it. Times are the store's
//! own clock (the database's), so these cases use real, short waits.

use std::collections::BTreeSet;
use std::time::Duration;

use tiercache_core::Version;
use tiercache_store::{ObjectStore, PendingNotice, Precondition};

use super::Clock;

const LONG: Duration = Duration::from_secs(3600);

fn set(notices: Vec<PendingNotice>) -> BTreeSet<(Vec<u8>, u64)> {
    notices.into_iter().map(|n| (n.key, n.version.0)).collect()
}

fn of(pairs: &[(&[u8], u64)]) -> BTreeSet<(Vec<u8>, u64)> {
    pairs.iter().map(|(k, v)| (k.to_vec(), *v)).collect()
}

/// Claims everything claimable now for `claim_for`.
async fn claim_all(store: &dyn ObjectStore, claim_for: Duration) -> BTreeSet<(Vec<u8>, u64)> {
    set(store
        .claim_unpublished(Duration::ZERO, claim_for, 1000)
        .await
        .unwrap())
}

pub async fn the_outbox_holds_every_committed_write_until_confirmed(
    store: &dyn ObjectStore,
    _: &Clock,
) {
    assert!(
        claim_all(store, LONG).await.is_empty(),
        "a fresh store has no pending notice"
    );
    store.put(b"a", b"1", Precondition::None).await.unwrap();
    store.put(b"a", b"2", Precondition::None).await.unwrap();
    store.put(b"b", b"1", Precondition::None).await.unwrap();
    store.delete(b"b", Precondition::None).await.unwrap();
    store
        .batch_put(&[
            (b"c".to_vec(), b"1".to_vec()),
            (b"d".to_vec(), b"1".to_vec()),
        ])
        .await
        .unwrap();
    // Writes that fail leave nothing.
    assert!(
        store
            .put(b"a", b"x", Precondition::Version(Version(1)))
            .await
            .is_err()
    );
    assert!(store.delete(b"zz", Precondition::None).await.is_err());

    // Young writes are not handed out before their time.
    let young = store.claim_unpublished(LONG, LONG, 1000).await.unwrap();
    assert!(young.is_empty(), "{young:?}");

    // Claimed for a while: handed out once.
    let all = of(&[
        (b"a", 1),
        (b"a", 2),
        (b"b", 1),
        (b"b", 2),
        (b"c", 1),
        (b"d", 1),
    ]);
    assert_eq!(claim_all(store, Duration::from_millis(300)).await, all);
    assert!(
        claim_all(store, LONG).await.is_empty(),
        "claimed entries are not handed out twice"
    );

    // A confirmation at a version covers the older ones of its key; missing ones are fine.
    store
        .confirm_published(&[
            PendingNotice {
                key: b"a".to_vec(),
                version: Version(2),
            },
            PendingNotice {
                key: b"b".to_vec(),
                version: Version(1),
            },
            PendingNotice {
                key: b"never".to_vec(),
                version: Version(9),
            },
        ])
        .await
        .unwrap();
    store.confirm_published(&[]).await.unwrap();

    // Once the claim lapsed, what was not confirmed is handed out again.
    let mut again = BTreeSet::new();
    for _ in 0..100 {
        again = claim_all(store, LONG).await;
        if !again.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(again, of(&[(b"b", 2), (b"c", 1), (b"d", 1)]));
}

pub async fn claims_take_the_oldest_first_within_the_limit(store: &dyn ObjectStore, _: &Clock) {
    for key in [b"k1", b"k2", b"k3"] {
        store.put(key, b"v", Precondition::None).await.unwrap();
        // Distinct write times (the store's clock counts milliseconds).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = store
        .claim_unpublished(Duration::ZERO, LONG, 2)
        .await
        .unwrap();
    assert_eq!(set(first), of(&[(b"k1", 1), (b"k2", 1)]));
    let rest = store
        .claim_unpublished(Duration::ZERO, LONG, 2)
        .await
        .unwrap();
    assert_eq!(set(rest), of(&[(b"k3", 1)]));
}
