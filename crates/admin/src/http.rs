//! The admin's HTTP routes ([`router`]) and its Prometheus exposition.
//!
//! | route                         | answer                                                   |
//! |-------------------------------|----------------------------------------------------------|
//! | `GET /v1/admin`               | [`AdminStatus`](crate::AdminStatus), on every instance   |
//! | `POST /v1/admin/apps/{app}`   | [`Assignment`], placing the app on first request (active only; a standby answers 503 `not_active` naming the active) |
//! | `GET /v1/admin/apps/{app}`    | [`Assignment`] as this instance knows it, or 404         |
//! | `POST /v1/admin/peer`         | 204: a [`Heartbeat`] from the active                     |
//! | `GET /healthz`                | 200 `{"ok":true,"role":…}`                               |
//! | `GET /v1/admin/nodes`         | [`Fleet`](crate::Fleet): every API node in the binder with its `/v1/stats` (or why not) |
//! | `GET /`                       | the fleet dashboard: a page (embedded, no network) polling `/v1/admin/nodes` every second |
//! | `GET /metrics`                | counters and gauges, Prometheus text 0.0.4 (`prometheus-client`) |
//!
//! Errors are `{"error": code, "message": text, "detail": AdminError}` with the status of
//! the error's [`ErrorCode`](tiercache_core::ErrorCode).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tiercache_core::metrics::{self, Family, Labels, labels};

use crate::admin::Admin;
use crate::error::AdminError;
use crate::peers::Heartbeat;
use crate::service::{AdminService, Assignment, Role};

/// The routes of one admin instance.
pub fn router(admin: Arc<Admin>) -> axum::Router {
    axum::Router::new()
        .route("/v1/admin", get(status))
        .route("/v1/admin/apps/{app}", post(activate).get(assignment))
        .route("/v1/admin/peer", post(peer))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/admin/nodes", get(fleet))
        .route("/", get(dashboard))
        .with_state(admin)
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": code.as_str(), "message": self.to_string(), "detail": self});
        (status, Json(body)).into_response()
    }
}

async fn status(State(admin): State<Arc<Admin>>) -> Response {
    match admin.status().await {
        Ok(status) => Json(status).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn activate(State(admin): State<Arc<Admin>>, Path(app): Path<String>) -> Response {
    match admin.activate_log(&app).await {
        Ok(assignment) => Json(assignment).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn assignment(State(admin): State<Arc<Admin>>, Path(app): Path<String>) -> Response {
    match admin.assignment(&app).await {
        Ok(Some(assignment)) => Json::<Assignment>(assignment).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not_found", "message": format!("application {app:?} has no log nodes yet")})),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

async fn peer(State(admin): State<Arc<Admin>>, Json(beat): Json<Heartbeat>) -> StatusCode {
    admin.hear(beat);
    StatusCode::NO_CONTENT
}

async fn healthz(State(admin): State<Arc<Admin>>) -> Response {
    match admin.status().await {
        Ok(status) => Json(json!({"ok": true, "role": status.role})).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The fleet dashboard page.
const DASHBOARD: &str = include_str!("dashboard.html");

async fn dashboard() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        DASHBOARD,
    )
        .into_response()
}

async fn fleet(State(admin): State<Arc<Admin>>) -> Response {
    match admin.fleet().await {
        Ok(fleet) => Json(fleet).into_response(),
        Err(message) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "unavailable", "message": message})),
        )
            .into_response(),
    }
}

async fn metrics(State(admin): State<Arc<Admin>>) -> Response {
    let Ok(status) = admin.status().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let counters = admin.counters();
    let id = status.id.as_str();
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let one = || labels(&[("admin", id)]);
    let by = |label: &str, values: &[(&str, u64)]| -> Vec<(Labels, u64)> {
        values
            .iter()
            .map(|(value, count)| (labels(&[("admin", id), (label, value)]), *count))
            .collect()
    };
    let families = vec![
        Family::gauge(
            "tiercache_admin_active",
            "1 while this instance holds the admin lease.",
            one(),
            i64::from(status.role == Role::Active),
        ),
        Family::gauge(
            "tiercache_admin_epoch",
            "The lease epoch this instance holds or last heard.",
            one(),
            status.epoch as i64,
        ),
        Family::gauge(
            "tiercache_admin_revision",
            "The version of this instance's state.",
            one(),
            status.revision as i64,
        ),
        Family::gauge(
            "tiercache_admin_apps",
            "Applications with log nodes.",
            one(),
            status.apps.len() as i64,
        ),
        Family::gauge(
            "tiercache_admin_live_log_nodes",
            "Live log nodes as last looked up.",
            one(),
            status.nodes.len() as i64,
        ),
        Family::Counter {
            name: "tiercache_admin_state_writes",
            help: "State writes by outcome: committed, refused by the epoch fence, failed otherwise.",
            samples: by(
                "result",
                &[
                    ("accepted", load(&counters.accepted)),
                    ("fenced", load(&counters.fenced)),
                    ("failed", load(&counters.failed)),
                ],
            ),
        },
        Family::counter(
            "tiercache_admin_takeovers",
            "Times this instance took the lease.",
            one(),
            load(&counters.takeovers),
        ),
        Family::counter(
            "tiercache_admin_step_downs",
            "Times this instance lost the lease.",
            one(),
            load(&counters.step_downs),
        ),
        Family::Counter {
            name: "tiercache_admin_heartbeats",
            help: "Heartbeats to and from the other admins.",
            samples: by(
                "direction",
                &[
                    ("sent", load(&counters.heartbeats_sent)),
                    ("failed", load(&counters.heartbeats_failed)),
                    ("heard", load(&counters.heartbeats_heard)),
                ],
            ),
        },
        Family::counter(
            "tiercache_admin_reloads",
            "Times a standby reloaded its warm copy.",
            one(),
            load(&counters.reloads),
        ),
    ];
    (
        [(CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(families),
    )
        .into_response()
}
