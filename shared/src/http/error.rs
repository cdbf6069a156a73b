//! The one mapping from errors to HTTP responses and the one place that builds JSON error bodies.

use crate::store::StoreError;
use crate::store::tx::TxError;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

/// Words for a store failure where the handler has none of its own.
const STORE_FAILED: &str = "Could not read or write the data.";

/// Words for an unexpected failed condition where the handler has none of its own.
const UPDATE_FAILED: &str = "Could not complete the update.";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Method not allowed.")]
    MethodNotAllowed,
    /// The request is well formed but cannot be done (an idempotency key reused with another body).
    #[error("{0}")]
    Unprocessable(String),
    /// The request conflicts with what it refers to (a launch retried after it was erased).
    #[error("{0}")]
    Conflict(String),
    /// A server-side failure; `what` is said to the caller, `detail` only logged.
    #[error("{what}")]
    Internal { what: &'static str, detail: String },
    /// The database is unreachable; the caller may retry.
    #[error("{what}")]
    Unavailable { what: &'static str, detail: String },
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    /// The same failure said to the caller in `what`'s words (server errors only: a client
    /// error already says what is wrong).
    pub fn said(self, what: &'static str) -> Self {
        match self {
            ApiError::Internal { detail, .. } => ApiError::Internal { what, detail },
            ApiError::Unavailable { detail, .. } => ApiError::Unavailable { what, detail },
            other => other,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Errors that answer a request. `http::respond` runs every handler and turns its error into
/// the response with this: `ApiError` for our JSON shape, and the other dialects' error shapes
/// (Educates' `PortalError`, OAuth's `oauth::http::Failure`) for theirs.
pub trait ErrorResponse {
    fn into_response(self, request_id: &str) -> Response<Body>;
}

impl ErrorResponse for ApiError {
    /// `{"error": "..."}`; server errors add the request id, which is also in the log line.
    fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        let body = match &self {
            ApiError::Internal { what, detail } | ApiError::Unavailable { what, detail } => {
                tracing::error!(request_id, status = status.as_u16(), %detail, "{what}");
                json!({ "error": what, "request_id": request_id })
            }
            other => {
                tracing::info!(request_id, status = status.as_u16(), "{other}");
                json!({ "error": other.to_string() })
            }
        };
        super::json(status, &body)
    }
}

/// A store failure: 503 if the database is unreachable (the caller may retry), else 500.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable { .. } => ApiError::Unavailable {
                what: STORE_FAILED,
                detail: err.to_string(),
            },
            other => ApiError::Internal {
                what: STORE_FAILED,
                detail: other.to_string(),
            },
        }
    }
}

/// A transaction whose failed condition the caller did not expect is a server error.
impl From<TxError> for ApiError {
    fn from(err: TxError) -> Self {
        match err {
            TxError::Store(e) => e.into(),
            cond @ TxError::Condition { .. } => ApiError::Internal {
                what: UPDATE_FAILED,
                detail: cond.to_string(),
            },
        }
    }
}

/// `result.context("Could not …")`: a server failure said in words that matter to the caller.
pub trait Context<T> {
    fn context(self, what: &'static str) -> Result<T, ApiError>;
}

impl<T, E: Into<ApiError>> Context<T> for Result<T, E> {
    fn context(self, what: &'static str) -> Result<T, ApiError> {
        self.map_err(|e| e.into().said(what))
    }
}
