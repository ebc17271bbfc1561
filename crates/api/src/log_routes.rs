//! The log routes: `POST /v1/logs/{app}` and `GET /v1/logs/{app}?after=ID&limit=N` (see the
//! crate's table), over the node's [`LogService`](crate::LogService).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tiercache_core::ErrorCode;
use tiercache_log::{MessageId, PublishError};

use crate::error::{ApiError, body_refused};
use crate::log_service::LogService;
use crate::render::{Shown, show};
use crate::state::AppState;

/// The most messages one read answers, and the default.
const MAX_READ: usize = 1000;
const DEFAULT_READ: usize = 100;

/// The longest `Idempotency-Key`, in bytes.
const MAX_IDEMPOTENCY_KEY: usize = tiercache_log::DEFAULT_MAX_KEY;

fn logs(state: &AppState) -> Result<&Arc<LogService>, ApiError> {
    state.logs.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unavailable,
            "this API node serves no logs: logs need a bus shared with the log nodes \
             (start it with --bus redis://…) and a store with a binder (--store http://…)",
        )
    })
}

fn app_from_path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(app) = path.map_err(|rejection| {
        ApiError::new(
            ErrorCode::InvalidArgument,
            format!("bad application in the path: {}", rejection.body_text()),
        )
    })?;
    tiercache_log::check_app(&app).map_err(|why| ApiError::new(ErrorCode::InvalidArgument, why))?;
    Ok(app)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(key) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = key.as_bytes();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::new(
            ErrorCode::InvalidArgument,
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} bytes, got {}",
                key.len()
            ),
        ));
    }
    Ok(Some(key.to_vec()))
}

#[derive(Serialize)]
struct Appended {
    app: String,
    id: MessageId,
    acks: usize,
    nodes: Vec<String>,
    duplicate: bool,
}

#[derive(Serialize)]
struct NotConfirmed {
    error: &'static str,
    message: String,
    app: String,
    id: MessageId,
    acks: usize,
    needed: usize,
}

/// `POST /v1/logs/{app}`: the body is the message.
pub(crate) async fn append(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let logs = logs(&state)?;
    let app = app_from_path(path)?;
    let key = idempotency_key(&headers)?;
    let body = body.map_err(|rejection| body_refused(rejection, state.options.max_body_bytes))?;
    match logs.append(&app, body.to_vec(), key).await? {
        Ok(acked) => Ok(Json(Appended {
            app,
            id: acked.id,
            acks: acked.nodes.len(),
            nodes: acked.nodes,
            duplicate: acked.duplicate,
        })
        .into_response()),
        Err(PublishError::Unconfirmed { id, acks, needed }) => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(NotConfirmed {
                error: ErrorCode::Unavailable.as_str(),
                message: format!(
                    "{acks} of the {needed} log nodes needed confirmed the message in time; it \
                     may still be stored: retry with the same Idempotency-Key to store it once"
                ),
                app,
                id,
                acks,
                needed,
            }),
        )
            .into_response()),
        Err(PublishError::InvalidArgument(why)) => {
            let code = if why.contains("more than the limit") {
                ErrorCode::TooLarge
            } else {
                ErrorCode::InvalidArgument
            };
            Err(ApiError::new(code, why))
        }
        Err(PublishError::Bus(error)) => Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("the bus refused the message: {error}"),
        )),
    }
}

/// The query of a read.
#[derive(Debug, Deserialize)]
pub(crate) struct ReadQuery {
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Message<'a> {
    id: MessageId,
    #[serde(flatten)]
    shown: Shown<'a>,
}

#[derive(Serialize)]
struct Replicas {
    assigned: usize,
    answered: usize,
    ready: usize,
}

#[derive(Serialize)]
struct ReadAnswer<'a> {
    app: String,
    messages: Vec<Message<'a>>,
    /// The cursor for the next page (the last id), `null` when this page is empty.
    next: Option<MessageId>,
    replicas: Replicas,
}

/// `GET /v1/logs/{app}?after=ID&limit=N`
pub(crate) async fn read(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let logs = logs(&state)?;
    let app = app_from_path(path)?;
    let Query(query) = query
        .map_err(|rejection| ApiError::new(ErrorCode::InvalidArgument, rejection.body_text()))?;
    let after = match query.after.as_deref().filter(|text| !text.is_empty()) {
        None => None,
        Some(text) => Some(text.parse::<MessageId>().map_err(|error| {
            ApiError::new(ErrorCode::InvalidArgument, format!("after: {error}"))
        })?),
    };
    let limit = match query.limit {
        None => DEFAULT_READ,
        Some(limit) if (1..=MAX_READ).contains(&limit) => limit,
        Some(limit) => {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                format!("limit must be from 1 to {MAX_READ}, got {limit}"),
            ));
        }
    };
    let read = logs.read(&app, after, limit).await?;
    let messages: Vec<Message<'_>> = read
        .messages
        .iter()
        .map(|record| Message {
            id: record.id,
            shown: show(&record.value),
        })
        .collect();
    let next = read.messages.last().map(|record| record.id);
    Ok(Json(ReadAnswer {
        app,
        messages,
        next,
        replicas: Replicas {
            assigned: read.assigned,
            answered: read.answered,
            ready: read.ready,
        },
    })
    .into_response())
}
