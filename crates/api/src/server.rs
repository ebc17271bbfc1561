//! The router over a node's state, and serving it on a bound listener until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::routing::get;
use tiercache_node::Node;
use tokio::net::TcpListener;

use crate::access::{self, Gate};
use crate::listener::{ServeLimits, serve_with};
use crate::log_service::LogService;
use crate::state::{ApiOptions, AppState};
use crate::{dashboard, handlers, log_routes, metrics};

/// The API's routes over `node`, without logs (their routes answer 503).
pub fn router(node: Arc<Node>, options: ApiOptions) -> Router {
    router_with_logs(node, options, None)
}

/// The API's routes over `node`, with the application logs of `logs`.
pub fn router_with_logs(
    node: Arc<Node>,
    options: ApiOptions,
    logs: Option<Arc<LogService>>,
) -> Router {
    let body_limit = options.max_body_bytes;
    let access = options.access.clone();
    let state = Arc::new(AppState {
        node,
        options,
        logs,
        started: Instant::now(),
    });
    let router = Router::new()
        .route(
            "/v1/objects/{key}",
            get(handlers::get_object)
                .put(handlers::put_object)
                .delete(handlers::delete_object),
        )
        .route(
            "/v1/logs/{app}",
            get(log_routes::read).post(log_routes::append),
        )
        .route("/search", get(handlers::search))
        .route("/v1/stats", get(handlers::stats))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(handlers::healthz))
        .route("/", get(dashboard::page))
        .fallback(handlers::no_route)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit));
    // Without tokens or a rate limit the gate has nothing to do: leave it out of the path.
    let router = if access.tokens.is_some() || access.rate_limit.is_some() {
        let gate = Arc::new(Gate::new(access));
        router.layer(axum::middleware::from_fn_with_state(gate, access::guard))
    } else {
        router
    };
    router
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// One `debug` line per request: method, path, status, time taken. Costs one check of the
/// filter when `debug` is off.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// Serves `router` on `listener` with the default [`ServeLimits`] until `shutdown`
/// completes, then waits for the requests in flight (see [`serve_with`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ServeLimits::default(), None, shutdown).await
}
