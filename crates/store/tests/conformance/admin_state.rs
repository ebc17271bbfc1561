//! The [`AdminState`] cases: lease epochs, expiry, release, and state writes fenced by the
//! epoch.

use std::time::Duration;

use tiercache_store::{AdminState, StoreError};

use super::{Clock, advance};

pub async fn leases_fence_state_writes_by_epoch(store: &dyn AdminState, clock: &Clock) {
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
