//! The listener's limits over real sockets: a client that never finishes its headers is
//! cut off, and connections beyond the limit are closed on accept while the others are
//! served.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tiercache_api::{ApiOptions, ServeLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An API node served with `limits` on a free port.
async fn serve_limited(limits: ServeLimits) -> (SocketAddr, tempfile::TempDir) {
    common::served(ApiOptions {
        limits,
        ..ApiOptions::default()
    })
    .await
}

/// Reads until the peer closes (bounded by `within`); returns what came and when it ended,
/// or `None` if the connection was still open at the bound.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((
                    String::from_utf8_lossy(&got).into_owned(),
                    started.elapsed(),
                ));
            }
            Ok(Ok(read)) => got.extend_from_slice(&buffer[..read]),
        }
    }
}

/// One `GET /healthz` on `stream` (kept alive): whether it answered 200.
async fn healthz(stream: &mut TcpStream) -> bool {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
        Ok(Ok(read)) if read > 0 => buffer[..read].starts_with(b"HTTP/1.1 200"),
        _ => false,
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (address, _dir) = serve_limited(ServeLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    })
    .await;
    // Half a request: a request line and one header, never the blank line.
    let mut slow = TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Meanwhile a normal client is served.
    let mut normal = TcpStream::connect(address).await.unwrap();
    assert!(healthz(&mut normal).await);
    let (answer, after) = until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("the slow client was still connected 5 s later");
    assert!(
        after >= Duration::from_millis(200),
        "closed after {after:?}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_and_slots_come_back() {
    let (address, _dir) = serve_limited(ServeLimits {
        max_connections: 2,
        ..ServeLimits::default()
    })
    .await;
    let mut first = TcpStream::connect(address).await.unwrap();
    let mut second = TcpStream::connect(address).await.unwrap();
    assert!(healthz(&mut first).await);
    assert!(healthz(&mut second).await);
    // The third is accepted and closed at once, answered nothing.
    let mut third = TcpStream::connect(address).await.unwrap();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (answer, _) = until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("a connection beyond the limit stayed open");
    assert!(answer.is_empty(), "{answer}");
    // The two kept connections still work; when one goes, a new one is served.
    assert!(healthz(&mut first).await);
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = TcpStream::connect(address).await.unwrap();
        if healthz(&mut again).await {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn idle_and_silent_connections_are_closed_after_the_same_time() {
    let (address, _dir) = serve_limited(ServeLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    })
    .await;
    // Kept alive after a request, then idle: the wait for the next request's headers is
    // bounded too.
    let mut idle = TcpStream::connect(address).await.unwrap();
    assert!(healthz(&mut idle).await);
    let (_, after) = until_closed(&mut idle, Duration::from_secs(5))
        .await
        .expect("an idle kept-alive connection stayed open");
    assert!(
        after >= Duration::from_millis(200),
        "closed after {after:?}"
    );
    // Connected and never a byte.
    let mut silent = TcpStream::connect(address).await.unwrap();
    let (_, after) = until_closed(&mut silent, Duration::from_secs(5))
        .await
        .expect("a silent connection stayed open");
    assert!(
        after >= Duration::from_millis(200),
        "closed after {after:?}"
    );
}
