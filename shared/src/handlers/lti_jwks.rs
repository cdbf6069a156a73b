//! `GET /.well-known/jwks.json`: the LTI tool's public keys (`lti::tool_keys`), which platforms
//! fetch to verify what labgate signs. Public and cacheable.

use crate::http::{self, ApiError};
use crate::lti::tool_keys;
use crate::state::AppState;
use lambda_http::http::header::CACHE_CONTROL;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| jwks(state, req)).await
}

async fn jwks(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let keys = state
        .config
        .require_signing_keys()
        .map_err(|e| ApiError::Internal {
            what: "The service cannot publish its keys.",
            detail: e.to_string(),
        })?;
    let mut response = http::json(StatusCode::OK, &tool_keys::jwks(keys.tool_keys()));
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
