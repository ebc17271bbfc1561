//! The admin's HTTP routes ([`router`]) and its Prometheus exposition.
//!
//! | route                         | answer                                                   |
//! |-------------------------------|----------------------------------------------------------|
//! | `GET /v1/admin`               | [`AdminStatus`](crate::AdminStatus), on every instance   |
//! | `POST /v1/admin/apps/{app}`   | [`Assignment`], placing the app on first request (active only; a standby answers 503 `not_active` naming the active) |
//! | `GET /v1/admin/apps/{app}`    | [`Assignment`] as this instance knows it, or 404         |
//! | `POST /v1/admin/peer`         | 204: a [`Heartbeat`] from the active                     |
//! | `GET /healthz`                | 200 `{"ok":true,"role":…}`                               |
//! | `GET /metrics`                | counters and gauges, Prometheus text 0.0.4               |
//!
//! Errors are `{"error": code, "message": text, "detail": AdminError}` with the status of
//! the error's [`ErrorCode`](tiercache_core::ErrorCode).

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

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

async fn metrics(State(admin): State<Arc<Admin>>) -> Response {
    let Ok(status) = admin.status().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let counters = admin.counters();
    let id = &status.id;
    let mut out = String::with_capacity(2048);
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{admin=\"{id}\"{labels}}} {value}");
        }
    };
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    family(
        "tiercache_admin_active",
        "gauge",
        "1 while this instance holds the admin lease.",
        &[("", u64::from(status.role == Role::Active))],
    );
    family(
        "tiercache_admin_epoch",
        "gauge",
        "The lease epoch this instance holds or last heard.",
        &[("", status.epoch)],
    );
    family(
        "tiercache_admin_revision",
        "gauge",
        "The version of this instance's state.",
        &[("", status.revision)],
    );
    family(
        "tiercache_admin_apps",
        "gauge",
        "Applications with log nodes.",
        &[("", status.apps.len() as u64)],
    );
    family(
        "tiercache_admin_live_log_nodes",
        "gauge",
        "Live log nodes as last looked up.",
        &[("", status.nodes.len() as u64)],
    );
    family(
        "tiercache_admin_state_writes_total",
        "counter",
        "State writes by outcome: committed, refused by the epoch fence, failed otherwise.",
        &[
            (",result=\"accepted\"", load(&counters.accepted)),
            (",result=\"fenced\"", load(&counters.fenced)),
            (",result=\"failed\"", load(&counters.failed)),
        ],
    );
    family(
        "tiercache_admin_takeovers_total",
        "counter",
        "Times this instance took the lease.",
        &[("", load(&counters.takeovers))],
    );
    family(
        "tiercache_admin_step_downs_total",
        "counter",
        "Times this instance lost the lease.",
        &[("", load(&counters.step_downs))],
    );
    family(
        "tiercache_admin_heartbeats_total",
        "counter",
        "Heartbeats to and from the other admins.",
        &[
            (",direction=\"sent\"", load(&counters.heartbeats_sent)),
            (",direction=\"failed\"", load(&counters.heartbeats_failed)),
            (",direction=\"heard\"", load(&counters.heartbeats_heard)),
        ],
    );
    family(
        "tiercache_admin_reloads_total",
        "counter",
        "Times a standby reloaded its warm copy.",
        &[("", load(&counters.reloads))],
    );
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
