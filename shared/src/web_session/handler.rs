//! `GET /api/v1/session` (who is logged in, for which launch) and `DELETE /api/v1/session`.

use crate::http::{self, ApiError, cookies};
use crate::launch::Launch;
use crate::state::AppState;
use crate::store::{self, keys};
use crate::user::User;
use crate::web_session::Origin;
use crate::workshop::session::WorkshopSession;
use lambda_http::http::header::{HOST, SET_COOKIE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| session(state, req)).await
}

const NOT_LOGGED_IN: &str = "Not logged in.";
const READ_FAILED: &str = "Could not read the session.";

#[tracing::instrument(skip_all)]
async fn session(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let cookie = cookies::session_cookie(&req);
    match *req.method() {
        Method::GET => {
            let cookie = cookie.ok_or(ApiError::Unauthorized(NOT_LOGGED_IN))?;
            whoami(state, &cookie).await
        }
        Method::DELETE => {
            if let Some(cookie) = cookie {
                crate::web_session::delete(&state.store, &cookie)
                    .await
                    .map_err(ApiError::store("Could not end the session."))?;
            }
            let domain = state
                .config
                .domain_for_host(http::header(&req, HOST.as_str()));
            let mut response = http::empty(StatusCode::NO_CONTENT);
            let clear = cookies::clear_session(domain.cookie_domain.as_deref());
            if let Ok(value) = HeaderValue::from_str(&clear) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            Ok(response)
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Two round trips: the session, then the user and what they logged in through, together.
async fn whoami(state: &AppState, cookie: &str) -> Result<Response<Body>, ApiError> {
    let session = crate::web_session::find_live(&state.store, cookie)
        .await
        .map_err(ApiError::store(READ_FAILED))?
        .ok_or(ApiError::Unauthorized(NOT_LOGGED_IN))?;

    let user_key = keys::user(&session.client_id, &session.external_id);
    let origin_key = match &session.origin {
        Origin::Launch(id) => keys::launch(id),
        Origin::WorkshopSession(name) => keys::workshop_session(name),
    };
    let items = store::batch_get(&state.store, &[user_key.clone(), origin_key.clone()])
        .await
        .map_err(ApiError::store(READ_FAILED))?;
    let (Some(user), Some(origin)) = (
        store::find(&items, &user_key),
        store::find(&items, &origin_key),
    ) else {
        // The user or what they logged in through is gone: the session is worthless.
        return Err(ApiError::Unauthorized(NOT_LOGGED_IN));
    };
    let user = User::from_item(user).map_err(ApiError::store(READ_FAILED))?;
    let (launch, workshop_session) = match &session.origin {
        Origin::Launch(_) => (
            Some(Launch::from_item(origin).map_err(ApiError::store(READ_FAILED))?),
            None,
        ),
        Origin::WorkshopSession(_) => {
            let ws = WorkshopSession::from_item(origin).map_err(ApiError::store(READ_FAILED))?;
            (
                None,
                Some(
                    json!({"name": ws.name, "environment": ws.environment, "workshop": ws.workshop}),
                ),
            )
        }
    };
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "user": user,
            "launch": launch,
            "workshop_session": workshop_session,
            "expires_at": crate::clock::rfc3339(session.expires_at),
        }),
    ))
}
