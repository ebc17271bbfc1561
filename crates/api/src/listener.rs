//! Serving a router on a listener with limits: a client gets [`ServeLimits::header_read_timeout`]
//! to send a request's headers, also when idle between requests (a slow, silent or idle
//! client cannot hold a connection open), and
//! at most [`ServeLimits::max_connections`] connections are served at once (more are closed
//! as soon as they are accepted, so file descriptors cannot run out). With an identity it
//! serves TLS, each handshake within the header timeout and off the accept loop (clients are
//! not asked for a certificate: they prove who they are with tokens). On shutdown the
//! listener closes and the requests in flight finish.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The default [`ServeLimits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [`ServeLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The limits of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeLimits {
    /// How long a client may take to send a request's headers (default 30 s), counted from
    /// the connection's start or the end of the previous answer: it bounds a slow client's
    /// headers, a silent connection and an idle kept-alive one alike. The connection is
    /// closed past it.
    pub header_read_timeout: Duration,
    /// Connections served at once (default 10 000); a connection beyond it is closed on
    /// accept.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> ServeLimits {
        ServeLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` within `limits` (with `TCP_NODELAY` on every connection),
/// over TLS with `tls`'s certificate when given, until `shutdown` completes, then waits for
/// the requests in flight. Fails at once when `tls` has no certificate.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    tls: Option<&tiercache_tls::Identity>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = match tls {
        Some(identity) => Some(tiercache_tls::TlsAcceptor::from(
            identity
                .server_config(tiercache_tls::ClientAuth::None)
                .map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refused = AtomicU64::new(0);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little rather than spin, and keep serving.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            let count = refused.fetch_add(1, Ordering::Relaxed) + 1;
            if count.is_power_of_two() {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    refused = count,
                    "connection limit reached: closing new connections"
                );
            }
            drop(stream);
            continue;
        };
        // Without NODELAY, small answers on a kept-alive connection can wait for the peer's
        // delayed ACK (40 ms on Linux).
        let _ = stream.set_nodelay(true);
        // The peer's address, for the per-client rate limit (axum's `ConnectInfo`).
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let (http, watcher, tls) = (http.clone(), graceful.watcher(), tls.clone());
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            // A connection's error (a client gone, a header timeout, a failed handshake)
            // ends only it.
            match tls {
                None => serve_connection(&http, watcher, stream, service).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        serve_connection(&http, watcher, stream, service).await;
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection's requests until it closes, ends with an error, or the graceful
/// shutdown has finished its request in flight.
async fn serve_connection<I, S>(
    http: &http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    io: I,
    service: S,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Incoming>, Response = axum::response::Response>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let connection = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    let _ = watcher.watch(connection).await;
}
