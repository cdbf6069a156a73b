//! What the OAuth endpoints share: errors in the RFC 6749 JSON form (`Failure`), the form body,
//! and client authentication (HTTP Basic or form, never both).

use super::OAuthClient;
use crate::http::{self, ApiError, ErrorResponse};
use crate::store::tx::TxError;
use crate::store::{self, StoreError};
use lambda_http::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use oauth2::StandardErrorResponse;
use oauth2::basic::BasicErrorResponseType as Kind;
use std::collections::HashMap;

/// An OAuth error response; `Err` of the handlers below.
#[derive(Debug)]
pub struct OAuthError {
    kind: Kind,
    description: &'static str,
    basic_auth: bool,
}

pub fn oauth_error(kind: Kind, description: &'static str) -> OAuthError {
    OAuthError {
        kind,
        description,
        basic_auth: false,
    }
}

impl OAuthError {
    fn into_response(self) -> Response<Body> {
        let status = match self.kind {
            Kind::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = StandardErrorResponse::new(self.kind, Some(self.description.to_string()), None);
        let mut response = http::json(status, &body);
        if status == StatusCode::UNAUTHORIZED && self.basic_auth {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"labgate\""),
            );
        }
        response
    }
}

pub enum Failure {
    OAuth(OAuthError),
    Server(ApiError),
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Failure::OAuth(e)
    }
}

/// What a server failure says on the OAuth endpoints.
const FAILED: &str = "Could not process the token request.";

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Server(ApiError::from(e).said(FAILED))
    }
}

impl From<TxError> for Failure {
    fn from(e: TxError) -> Self {
        Failure::Server(ApiError::from(e).said(FAILED))
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Server(e)
    }
}

impl ErrorResponse for Failure {
    fn into_response(self, request_id: &str) -> Response<Body> {
        match self {
            Failure::OAuth(e) => e.into_response(),
            Failure::Server(e) => e.into_response(request_id),
        }
    }
}

/// The form body; a repeated parameter is a malformed request (RFC 6749 section 3.2).
pub fn form(req: &Request) -> Result<HashMap<String, String>, OAuthError> {
    http::unique_form(http::body_bytes(req))
        .map_err(|_| oauth_error(Kind::InvalidRequest, "A parameter is repeated."))
}

/// Client credentials from HTTP Basic or the form body (not both).
pub fn client_credentials(
    req: &Request,
    params: &HashMap<String, String>,
) -> Result<(String, String, bool), OAuthError> {
    let basic =
        http::header(req, AUTHORIZATION.as_str()).and_then(|h| http::auth::credentials(h, "basic"));
    let in_body = params.get("client_id").or(params.get("client_secret"));
    let invalid = |basic_auth| OAuthError {
        kind: Kind::InvalidClient,
        description: "Client authentication failed.",
        basic_auth,
    };
    let credentials = match (basic, in_body) {
        (Some(_), Some(_)) => Err(oauth_error(
            Kind::InvalidRequest,
            "Use one client authentication method, not two.",
        )),
        (Some(encoded), None) => {
            let (id, secret) = http::auth::basic(encoded).ok_or(invalid(true))?;
            Ok((id, secret, true))
        }
        (None, _) => match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => Ok((id.clone(), secret.clone(), false)),
            _ => Err(invalid(false)),
        },
    }?;
    // Every client id we issue has one shape; anything else is unknown, and never a key.
    if !super::is_client_id_shape(&credentials.0) {
        return Err(invalid(credentials.2));
    }
    Ok(credentials)
}

pub fn require<'a>(
    params: &'a HashMap<String, String>,
    name: &str,
    description: &'static str,
) -> Result<&'a str, OAuthError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| oauth_error(Kind::InvalidRequest, description))
}

pub fn authenticated(
    record: Option<&store::attr::Item>,
    secret: &str,
    basic_auth: bool,
) -> Result<OAuthClient, Failure> {
    super::verify_client(record, secret)?.ok_or(Failure::OAuth(OAuthError {
        kind: Kind::InvalidClient,
        description: "Client authentication failed.",
        basic_auth,
    }))
}
