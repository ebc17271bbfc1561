//! The [`Registry`] cases: expiry on the store's clock, renewal, verbatim names.

use std::time::Duration;

use tiercache_store::{Registration, Registry, StoreError};

use super::{Clock, START_MS, advance};

pub async fn registry_entries_expire_unless_renewed(store: &dyn Registry, clock: &Clock) {
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
    let ids =
        |nodes: Vec<Registration>| -> Vec<String> { nodes.into_iter().map(|n| n.id).collect() };
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

pub async fn unicode_names_are_stored_verbatim(store: &dyn Registry, _: &Clock) {
    store
        .register("api", "node-ü", "[::1]:80", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(store.lookup("api").await.unwrap()[0].id, "node-ü");
}
