//! LTI 1.3: labgate as a tool that an LMS (the platform) launches labs from, with no backend of
//! its own (docs/lti.md). A launch goes: the platform's login initiation (`login`), its OIDC
//! authentication answered with a signed id_token (`id_token`, checked against the platform's
//! keys, `platform_keys`), and the launch recorded as `POST /api/v1/launch` records one
//! (`launch`). The platforms a tenant trusts are its `registration`s; the tool's own keys are in
//! the master key ring (`tool_keys`). Progress reports on a graded launch go back to the LMS's
//! gradebook as scores (the `grades` module, beside this one).

pub mod claims;
pub mod deep_linking;
pub mod dynamic_registration;
pub mod id_token;
pub mod key_rotation;
pub mod launch;
pub mod login;
pub mod platform_keys;
pub mod platform_storage;
pub mod registration;
pub mod tool_keys;
pub mod workshop;

use crate::store::StoreError;

/// Why an LTI request is refused. Shown to the person in the LMS as a page; nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum LtiError {
    /// The request is malformed or names something unknown: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The id_token or the state does not check out: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The platform's keys could not be fetched: 502.
    #[error("{0}")]
    Platform(String),
    /// No workshop session is free now (every slot is held): 503, to try again later.
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LtiError {
    pub fn bad(message: impl Into<String>) -> Self {
        LtiError::BadRequest(message.into())
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        LtiError::Unauthorized(message.into())
    }

    /// The function has no master key ring (a deployment fault: its cold start read none).
    pub fn no_key_ring(e: crate::config::ConfigError) -> Self {
        LtiError::Store(StoreError::Failed {
            op: "LTI state cookie",
            detail: e.to_string(),
        })
    }
}

/// A refused LTI request answers a page for the person in the LMS: what went wrong, never a
/// token. Store failures are logged with the request id the page shows.
impl crate::http::ErrorResponse for LtiError {
    fn into_response(self, request_id: &str) -> lambda_http::Response<lambda_http::Body> {
        use lambda_http::http::StatusCode;
        let (status, message) = match self {
            LtiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            LtiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            LtiError::Platform(m) => {
                tracing::warn!(request_id, detail = %m, "LTI platform keys unavailable");
                (StatusCode::BAD_GATEWAY, m)
            }
            LtiError::Busy(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            LtiError::Store(e) => {
                tracing::error!(request_id, detail = %e, "LTI request failed on the store");
                let status = match e {
                    StoreError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let message = format!(
                    "labgate could not open the lab just now; start it again from the LMS (request {request_id})."
                );
                (status, message)
            }
        };
        crate::http::html(
            status,
            crate::http::page("The lab could not be opened", &message),
        )
    }
}
