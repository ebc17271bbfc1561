//! A log node's HTTP routes ([`router`]; bodies in [`wire`](crate::wire)) and its
//! Prometheus exposition. Besides the table of `wire`: `GET /healthz` → 200
//! `{"ok":true}`, `GET /metrics` → counters and gauges, Prometheus text 0.0.4.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tiercache_core::metrics::{self, Family, labels};

use crate::app_name::check_app;
use crate::copy::{CopyPage, LogCopy};
use crate::error::{LogError, LogResult};
use crate::id::MessageId;
use crate::node::LogNode;
use crate::wire::{AssignmentBody, IdsPage, Page, WireRecord, page_limit};

/// The routes of one log node.
pub fn router(node: Arc<LogNode>) -> axum::Router {
    axum::Router::new()
        .route("/v1/log", get(status))
        .route("/v1/log/assignment", post(assign))
        .route("/v1/log/{app}/messages", get(messages))
        .route("/v1/log/{app}/records", get(records))
        .route("/v1/log/{app}/ids", get(ids))
        .route("/healthz", get(|| async { Json(json!({"ok": true})) }))
        .route("/metrics", get(metrics))
        .with_state(node)
}

impl IntoResponse for LogError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({"error": code.as_str(), "message": self.to_string()});
        if let LogError::StaleAssignment { got, current } = self {
            body["got"] = got.into();
            body["current"] = current.into();
        }
        (status, Json(body)).into_response()
    }
}

/// The query of `/messages`.
#[derive(Debug, Deserialize)]
struct AfterQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// The query of `/records` and `/ids`.
#[derive(Debug, Deserialize)]
struct FromQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

fn checked(app: &str) -> Result<(), LogError> {
    check_app(app).map_err(LogError::InvalidArgument)
}

fn page(app: String, page: CopyPage) -> Json<Page> {
    Json(Page {
        app,
        ready: page.ready,
        len: page.len,
        records: page
            .records
            .iter()
            .map(|(position, record)| WireRecord::new(*position, record))
            .collect(),
    })
}

async fn status(State(node): State<Arc<LogNode>>) -> Response {
    match node.status().await {
        Ok(status) => Json(status).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn assign(State(node): State<Arc<LogNode>>, Json(body): Json<AssignmentBody>) -> Response {
    if let Some(error) = body.apps.keys().find_map(|app| checked(app).err()) {
        return error.into_response();
    }
    if let Err(error) = node.apply(&body).await {
        return error.into_response();
    }
    status(State(node)).await
}

async fn messages(
    State(node): State<Arc<LogNode>>,
    Path(app): Path<String>,
    Query(query): Query<AfterQuery>,
) -> Response {
    let after = match query.after.as_deref().map(str::parse::<MessageId>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(error)) => {
            return LogError::InvalidArgument(format!("after: {error}")).into_response();
        }
    };
    let read = node.read_after(&app, after, page_limit(query.limit));
    answer(&app, read, |answer| {
        page(app.clone(), answer).into_response()
    })
    .await
}

async fn records(
    State(node): State<Arc<LogNode>>,
    Path(app): Path<String>,
    Query(query): Query<FromQuery>,
) -> Response {
    let read = node.read(&app, query.from.unwrap_or(0), page_limit(query.limit));
    answer(&app, read, |answer| {
        page(app.clone(), answer).into_response()
    })
    .await
}

async fn ids(
    State(node): State<Arc<LogNode>>,
    Path(app): Path<String>,
    Query(query): Query<FromQuery>,
) -> Response {
    let read = node.ids_since(&app, query.from.unwrap_or(0), page_limit(query.limit));
    answer(&app, read, |(ids, len): (Vec<MessageId>, u64)| {
        Json(IdsPage {
            app: app.clone(),
            len,
            ids: ids.iter().map(ToString::to_string).collect(),
        })
        .into_response()
    })
    .await
}

/// A read's answer: `read` runs only once `app` is a valid name; its result is rendered,
/// or its error answered with the error's status.
async fn answer<T>(
    app: &str,
    read: impl Future<Output = LogResult<T>>,
    render: impl FnOnce(T) -> Response,
) -> Response {
    if let Err(error) = checked(app) {
        return error.into_response();
    }
    match read.await {
        Ok(answer) => render(answer),
        Err(error) => error.into_response(),
    }
}

async fn metrics(State(node): State<Arc<LogNode>>) -> Response {
    let status = match node.status().await {
        Ok(status) => status,
        Err(error) => return error.into_response(),
    };
    let c = status.counters;
    let mut families: Vec<Family> = [
        (
            "tiercache_log_stored",
            "Records stored from appends.",
            c.stored,
        ),
        (
            "tiercache_log_duplicates",
            "Appends of a message already held.",
            c.duplicates,
        ),
        ("tiercache_log_acks", "Acknowledgements sent.", c.acks),
        (
            "tiercache_log_held_back",
            "Appends not acknowledged while catching up.",
            c.held_back,
        ),
        (
            "tiercache_log_refused",
            "Appends the storage refused.",
            c.refused,
        ),
        (
            "tiercache_log_malformed",
            "Notices that did not decode.",
            c.malformed,
        ),
        (
            "tiercache_log_sessions_lost",
            "Times the bus session was lost.",
            c.sessions_lost,
        ),
        (
            "tiercache_log_pulled",
            "Records copied from other copies.",
            c.pulled,
        ),
    ]
    .into_iter()
    .map(|(name, help, value)| Family::counter(name, help, Vec::new(), value))
    .collect();
    families.push(Family::Gauge {
        name: "tiercache_log_records",
        help: "Records held per application.",
        samples: status
            .apps
            .iter()
            .map(|(app, app_status)| (labels(&[("app", app.as_ref())]), app_status.len as i64))
            .collect(),
    });
    families.push(Family::Gauge {
        name: "tiercache_log_ready",
        help: "Whether an application acknowledges appends.",
        samples: status
            .apps
            .iter()
            .map(|(app, app_status)| {
                (
                    labels(&[("app", app.as_ref())]),
                    i64::from(app_status.ready),
                )
            })
            .collect(),
    });
    (
        [(CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(families),
    )
        .into_response()
}
