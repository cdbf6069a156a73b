//! The one mapping from errors to HTTP responses and the one place that builds JSON error bodies.

use crate::store::StoreError;
use crate::store::tx::TxError;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

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

    /// Wraps a store failure with words for the caller: `.map_err(ApiError::store("..."))`.
    pub fn store(what: &'static str) -> impl FnOnce(StoreError) -> ApiError {
        move |err| match err {
            StoreError::Unavailable { .. } => ApiError::Unavailable {
                what,
                detail: err.to_string(),
            },
            other => ApiError::Internal {
                what,
                detail: other.to_string(),
            },
        }
    }

    /// Like `store`, for a transaction whose failed condition the caller did not expect.
    pub fn tx(what: &'static str) -> impl FnOnce(TxError) -> ApiError {
        move |err| match err {
            TxError::Store(e) => ApiError::store(what)(e),
            cond @ TxError::Condition { .. } => ApiError::Internal {
                what,
                detail: cond.to_string(),
            },
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// `{"error": "..."}`; server errors add the request id, which is also in the log line.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
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
