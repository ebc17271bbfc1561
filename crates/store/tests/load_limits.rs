//! The gRPC server's load limits over a real connection: a call held past the call timeout
//! is answered with an error (and the server keeps serving), and calls beyond the
//! concurrency limit wait for a turn instead of reaching the database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tiercache_store::faults::GatedService;
use tiercache_store::grpc::{LoadLimits, ServeOptions, serve};
use tiercache_store::{
    Limits, ObjectStore, Precondition, SqlOptions, SqlStore, StoreClient, StoreError,
};

/// A gated SQLite store served with `load` on a free loopback port, and a client of it.
async fn served(load: LoadLimits) -> (Arc<GatedService>, StoreClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqlStore::open(&url, SqlOptions::default()).await.unwrap();
    let gated = Arc::new(GatedService::new(Arc::new(store)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let options = ServeOptions {
        load,
        ..ServeOptions::default()
    };
    tokio::spawn(serve(
        gated.clone(),
        listener,
        options,
        std::future::pending(),
    ));
    let client = StoreClient::connect(&address.to_string(), Limits::default())
        .await
        .unwrap();
    client.put(b"k", b"v", Precondition::None).await.unwrap();
    (gated, client, dir)
}

/// Polls `check` every 10 ms until it holds or `within` passed.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

#[tokio::test]
async fn a_call_past_the_timeout_is_answered_with_an_error_and_the_server_goes_on() {
    let (gated, client, _dir) = served(LoadLimits {
        call_timeout: Duration::from_millis(300),
        ..LoadLimits::default()
    })
    .await;
    gated.objects.hold_reads();
    let started = Instant::now();
    let error = client.get(b"k").await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("Timeout expired"), "{error}");
    // The server's timeout answered, not the client's (30 s).
    assert!(took < Duration::from_secs(10), "{took:?}");
    gated.objects.release_reads();
    let read = client.get(b"k").await.unwrap();
    assert_eq!(read.value(), Some(&b"v"[..]));
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_wait_for_a_turn() {
    let (gated, client, _dir) = served(LoadLimits {
        max_concurrent_calls: 2,
        ..LoadLimits::default()
    })
    .await;
    gated.objects.hold_reads();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get(b"k").await })
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(10), || gated.objects.waiting_reads()
            == 2)
        .await,
        "two calls reach the store"
    );
    // The third waits outside: it has not reached the store.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gated.objects.waiting_reads(), 2);
    gated.objects.release_reads();
    for call in calls {
        let read = call.await.unwrap().unwrap();
        assert_eq!(read.value(), Some(&b"v"[..]));
    }
}
