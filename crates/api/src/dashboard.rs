//! `GET /`: the live dashboard, one static page (`dashboard.html`, embedded in the binary:
//! no CDN, no script from anywhere else) that polls `/v1/stats` every second and shows the
//! node's request rate, who answered the reads, latency percentiles, near-cache fill and
//! evictions, coherence and write-behind. When a poll fails it says so on the page and
//! keeps the last numbers, dimmed, until the node answers again.

use axum::http::header;
use axum::response::IntoResponse;

/// The page.
pub const PAGE: &str = include_str!("dashboard.html");

/// Serves the page. It never caches: a new binary's page shows up on reload.
pub(crate) async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}
