//! The object routes, stats and health.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tiercache_core::{ErrorCode, Version};
use tiercache_node::{NodeError, StatsBody};
use tiercache_store::Precondition;

use crate::error::{ApiError, body_refused};
use crate::render;
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

fn key_from_path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(key)| key).map_err(|rejection| {
        ApiError::new(
            ErrorCode::InvalidArgument,
            format!("bad key in the path: {}", rejection.body_text()),
        )
    })
}

async fn read(state: &AppState, key: &str) -> Result<Response, ApiError> {
    let started = Instant::now();
    let timeout = state.options.request_timeout;
    // Cancelling a read is harmless: a fill it was running is taken over by any caller
    // waiting on it (see tiercache-node's single flight).
    let answer = tokio::time::timeout(timeout, state.node.get(key.as_bytes()))
        .await
        .map_err(|_| NodeError::Timeout(timeout))??;
    let micros = started.elapsed().as_secs_f64() * 1e6;
    match answer {
        Some(answer) => Ok((
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            render::object(key, &answer, micros),
        )
            .into_response()),
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no object under key {key:?}"),
        )),
    }
}

/// `GET /v1/objects/{key}`
pub(crate) async fn get_object(
    State(state): Shared,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let key = key_from_path(path)?;
    read(&state, &key).await
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct SearchParams {
    id: Option<String>,
}

/// `GET /search?id={key}` — the original lab's route.
pub(crate) async fn search(
    State(state): Shared,
    query: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = query
        .map_err(|rejection| ApiError::new(ErrorCode::InvalidArgument, rejection.body_text()))?;
    let key = params.id.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidArgument,
            "missing query parameter `id` (GET /search?id=KEY)",
        )
    })?;
    read(&state, &key).await
}

/// The precondition the request's `If-Match` / `If-None-Match` headers ask for.
fn precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    if let Some(value) = headers.get(IF_MATCH) {
        let text = value.to_str().unwrap_or_default().trim().trim_matches('"');
        let version = text.parse::<u64>().map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidArgument,
                format!("If-Match must be a version number, got {value:?}"),
            )
        })?;
        return Ok(Precondition::Version(Version(version)));
    }
    if let Some(value) = headers.get(IF_NONE_MATCH) {
        if value.as_bytes().trim_ascii() == b"*" {
            return Ok(Precondition::Absent);
        }
        return Err(ApiError::new(
            ErrorCode::InvalidArgument,
            "If-None-Match only supports `*` (write only when the key holds no object)",
        ));
    }
    Ok(Precondition::None)
}

#[derive(serde::Serialize)]
struct Written<'a> {
    key: &'a str,
    /// 0 while the write is pending (write-behind: the store has not assigned one yet).
    version: u64,
    /// Present (true) for a write-behind write answered before it reached the store.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pending: bool,
}

/// Runs a write to its end on its own task (see the crate docs: a write is never stopped
/// half-way), answering 503 if it takes longer than the request timeout.
async fn write(
    state: &AppState,
    key: String,
    value: Option<Bytes>,
    precondition: Precondition,
) -> Result<Response, ApiError> {
    let node = Arc::clone(&state.node);
    let task_key = key.clone();
    let task = tokio::spawn(async move {
        match value {
            Some(value) => node.put(task_key.as_bytes(), value, precondition).await,
            None => node.delete(task_key.as_bytes(), precondition).await,
        }
    });
    let timeout = state.options.request_timeout;
    let outcome = match tokio::time::timeout(timeout, task).await {
        Err(_) => Err(NodeError::Timeout(timeout).into()),
        Ok(Err(join_error)) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("the write failed: {join_error}"),
        )),
        Ok(Ok(outcome)) => outcome.map_err(ApiError::from),
    };
    let version = outcome.inspect_err(|error| {
        let (code, message) = (error.code, &error.message);
        // A refusal the client caused (a failed precondition) is news; one of ours is a warning.
        if error.status().is_server_error() {
            tracing::warn!(key, ?code, message, "write refused");
        } else {
            tracing::info!(key, ?code, message, "write refused");
        }
    })?;
    Ok(Json(Written {
        key: &key,
        version: version.0,
        pending: version == tiercache_node::PENDING,
    })
    .into_response())
}

/// `PUT /v1/objects/{key}` (body = the value)
pub(crate) async fn put_object(
    State(state): Shared,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = key_from_path(path)?;
    let precondition = precondition(&headers)?;
    let body = body.map_err(|rejection| body_refused(rejection, state.options.max_body_bytes))?;
    write(&state, key, Some(body), precondition).await
}

/// `DELETE /v1/objects/{key}`
pub(crate) async fn delete_object(
    State(state): Shared,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = key_from_path(path)?;
    let precondition = precondition(&headers)?;
    write(&state, key, None, precondition).await
}

/// `GET /v1/stats`
pub(crate) async fn stats(State(state): Shared) -> Json<StatsBody> {
    Json(StatsBody {
        node: state.options.node_name.clone(),
        tier: state.node.tier_description(),
        uptime_seconds: state.started.elapsed().as_secs_f64(),
        stats: state.node.stats(),
    })
}

/// `GET /healthz`
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Any other path.
pub(crate) async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!(
            "no route {}: see /v1/objects/{{key}}, /search?id=, /v1/stats, /metrics, /healthz",
            uri.path()
        ),
    )
}

/// A known path with a method it does not support.
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> Response {
    let mut response = ApiError::new(
        ErrorCode::InvalidArgument,
        format!("method {method} is not supported on this route"),
    )
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}
