//! The HTTP API of an API node, on axum.
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/objects/{key}` | `200 {"key","value","version","source","micros"}` or `404` |
//! | `GET /search?id={key}` | the original lab's route: the same answer |
//! | `PUT /v1/objects/{key}` | body = the value; `200 {"key","version"}`. `If-Match: V` writes only over version V (`409` otherwise), `If-None-Match: *` only when the key holds no object |
//! | `DELETE /v1/objects/{key}` | `200 {"key","version"}` (the tombstone's version), `404` when there is no object; `If-Match` as for `PUT` |
//! | `POST /v1/logs/{app}` | body = the message; `200 {"app","id","acks","nodes","duplicate"}` once `acks` log nodes confirmed it durable; `503 {"error","message","id","acks","needed"}` when fewer did in time (it may still land: retry with the same `Idempotency-Key` header to store it once) |
//! | `GET /v1/logs/{app}?after=ID&limit=N` | `200 {"app","messages":[{"id","value"}],"next","replicas":{"assigned","answered","ready"}}`: every copy asked at once, merged by id; answers while one copy does |
//! | `GET /v1/stats` | the node's counters: hit ratio per tier, latency percentiles, evictions, writes |
//! | `GET /metrics` | the same in the Prometheus text format |
//! | `GET /healthz` | `200 {"status":"ok"}` while the node serves |
//! | `GET /` | the live dashboard: a page (embedded, no network) polling `/v1/stats` every second |
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
//! * a client has [`ServeLimits::header_read_timeout`] (30 s) to send a request's headers
//!   (counted from the connection's start, or the previous answer when kept alive),
//!   and at most [`ServeLimits::max_connections`] (10 000) connections are served at once;
//!   more are closed on accept ([`serve_with`]).
//! * with [`Access::tokens`] set, every route but `/healthz` and the dashboard page needs
//!   `Authorization: Bearer TOKEN` with the route's scope (`read`, `write`, `admin`):
//!   `401` without a known token, `403` without the scope; with [`Access::rate_limit`] set, a
//!   client address over its token bucket gets `429` and `Retry-After` (table in `access`).

/// Tokens, scopes and the per-client rate limit.
mod access;
/// The live dashboard page.
mod dashboard;
/// The JSON error answer and its status.
mod error;
/// The route handlers: objects, `/search`, stats, health, fallbacks.
mod handlers;
/// Serving on a listener with limits (header time, connections).
mod listener;
/// The log routes.
mod log_routes;
/// Appends, activation and merged reads of application logs.
mod log_service;
/// `/metrics` in the Prometheus text format.
mod metrics;
/// Rendering a stored value as JSON.
mod render;
/// The router and serving it.
mod server;
/// The API's options and the state every handler shares.
mod state;

pub use access::{Access, RateLimit};
pub use dashboard::PAGE as DASHBOARD_PAGE;
pub use error::ApiError;
pub use listener::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, ServeLimits, serve_with};
pub use log_service::{LogService, MergedRead};
pub use server::{router, router_with_logs, serve};
pub use state::ApiOptions;
