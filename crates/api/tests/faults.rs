//! The API's timeouts over a store 150 ms away (each way, through the test kit's fault
//! proxy): a request slower than the timeout is answered 503 close to the timeout, and a
//! write answered 503 still completes, so a read after it finds the new value.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tiercache_api::{ApiOptions, router, serve};
use tiercache_node::{Node, NodeOptions};
use tiercache_store::{Limits, SqlOptions, SqlStore, StoreClient};
use tiercache_testkit::fault_proxy::{FaultProxy, Faults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn send(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&got).into_owned();
    (text[9..12].parse().unwrap(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_hold_over_a_distant_store_and_a_timed_out_write_completes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Arc::new(SqlStore::open(&url, SqlOptions::default()).await.unwrap());
    let served = tiercache_store::grpc::serve_on_loopback(store)
        .await
        .unwrap();
    let proxy = FaultProxy::start(served, 21).unwrap();
    let client = StoreClient::connect(&proxy.address().to_string(), Limits::default())
        .await
        .unwrap();
    let node = Node::start(Arc::new(client), None, &NodeOptions::default())
        .await
        .unwrap();
    let timeout = Duration::from_millis(60);
    let options = ApiOptions {
        request_timeout: timeout,
        ..ApiOptions::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        router(node, options),
        std::future::pending(),
    ));

    // Near: answered well within the timeout.
    assert_eq!(
        send(address, "PUT", "/v1/objects/k", "\"one\"").await.0,
        200
    );
    proxy.set(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    // A store read takes 300 ms: 503 at about the timeout, not at the store's pace.
    let started = Instant::now();
    let (status, text) = send(address, "GET", "/v1/objects/cold", "").await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{text}");
    assert!(
        took >= timeout && took < Duration::from_millis(250),
        "answered after {took:?}"
    );

    // A write takes longer than the timeout too: 503, but it runs to its end.
    let (status, text) = send(address, "PUT", "/v1/objects/k", "\"two\"").await;
    assert_eq!(status, 503, "{text}");
    proxy.heal();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, text) = send(address, "GET", "/v1/objects/k", "").await;
        if status == 200 && text.contains("\"two\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the timed-out write never landed: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
