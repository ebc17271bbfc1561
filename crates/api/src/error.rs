//! The API's error answer: JSON `{"error", "message"}` with the status of its code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tiercache_core::ErrorCode;
use tiercache_node::NodeError;

/// An error answer: a code (which sets the status) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The classification.
    pub code: ErrorCode,
    /// What went wrong, in one sentence.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of the code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// A request body axum refused: 413 when it is over `limit` bytes, 400 otherwise.
pub(crate) fn body_refused(
    rejection: axum::extract::rejection::BytesRejection,
    limit: usize,
) -> ApiError {
    let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ErrorCode::TooLarge
    } else {
        ErrorCode::InvalidArgument
    };
    ApiError::new(
        code,
        format!(
            "request body refused (the limit is {limit} bytes): {}",
            rejection.body_text()
        ),
    )
}

impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> ApiError {
        ApiError::new(error.code(), error.to_string())
    }
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.as_str(),
            message: &self.message,
        };
        (self.status(), Json(body)).into_response()
    }
}
