//! The HTTP API of an API node, on axum.
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/objects/{key}` | `200 {"key","value","version","source","micros"}` or `404` |
//! | `GET /search?id={key}` | the original lab's route: the same answer |
//! | `PUT /v1/objects/{key}` | body = the value; `200 {"key","version"}`. `If-Match: V` writes only over version V (`409` otherwise), `If-None-Match: *` only when the key holds no object |
//! | `DELETE /v1/objects/{key}` | `200 {"key","version"}` (the tombstone's version), `404` when there is no object; `If-Match` as for `PUT` |
//! | `GET /v1/stats` | the node's counters: hit ratio per tier, latency percentiles, evictions, writes |
//! | `GET /metrics` | the same in the Prometheus text format |
//! | `GET /healthz` | `200 {"status":"ok"}` while the node serves |
//!
//! `value` is the stored bytes as JSON when they are JSON, as a string when they are other
//! UTF-8 text, and otherwise `null` with the bytes in `value_base64`. `source` is the tier
//! that answered (`near`, `shared`, `store`), `micros` the time the node took.
//!
//! What the API guarantees:
//! * every error is JSON `{"error": code, "message": text}` with the status of its code:
//!   400 bad key or request, 404, 409 version conflict, 413 too large, 503 store or shared
//!   tier unavailable (and timeouts), 500 a bug. No handler panics on any input.
//! * request bodies are limited globally ([`ApiOptions::max_body_bytes`]); a larger body is
//!   refused with 413 before it is read in full.
//! * a request that takes longer than [`ApiOptions::request_timeout`] is answered with 503.
//!   A **write** keeps running to its end even then (and even when the client hangs up):
//!   stopping it between the store write and the shared tier's invalidation would leave a
//!   stale copy behind. A client that saw the timeout can read the key to learn the outcome.
//! * [`serve`] stops accepting on shutdown and lets requests in flight finish.

mod error;
mod handlers;
mod metrics;
mod render;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::serve::ListenerExt;
use tiercache_node::Node;
use tokio::net::TcpListener;

pub use error::ApiError;

/// How the API behaves.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// The largest request body accepted (default 1 MiB + 64 KiB: the store's default value
    /// limit, with room for the node to answer a too-large value with its own message).
    pub max_body_bytes: usize,
    /// How long a request may take before the API answers 503 (default 10 s).
    pub request_timeout: Duration,
    /// The node's name in `/v1/stats` and `/metrics` (default `api`).
    pub node_name: String,
}

impl Default for ApiOptions {
    fn default() -> ApiOptions {
        ApiOptions {
            max_body_bytes: (1 << 20) + (64 << 10),
            request_timeout: Duration::from_secs(10),
            node_name: "api".to_owned(),
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) node: Arc<Node>,
    pub(crate) options: ApiOptions,
    pub(crate) started: Instant,
}

/// The API's routes over `node`.
pub fn router(node: Arc<Node>, options: ApiOptions) -> Router {
    let body_limit = options.max_body_bytes;
    let state = Arc::new(AppState {
        node,
        options,
        started: Instant::now(),
    });
    Router::new()
        .route(
            "/v1/objects/{key}",
            get(handlers::get_object)
                .put(handlers::put_object)
                .delete(handlers::delete_object),
        )
        .route("/search", get(handlers::search))
        .route("/v1/stats", get(handlers::stats))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(handlers::healthz))
        .fallback(handlers::no_route)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves `router` on `listener` (with `TCP_NODELAY` on every connection) until `shutdown`
/// completes, then waits for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Without NODELAY, small answers on a kept-alive connection can wait for the peer's
    // delayed ACK (40 ms on Linux).
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
