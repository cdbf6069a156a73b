//! `GET /api/v1/session` (who is logged in, for which launch) and `DELETE /api/v1/session`.

use crate::http::{self, ApiError, cookies};
use crate::launch::Launch;
use crate::state::AppState;
use crate::store::{self, keys};
use crate::user::User;
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

/// Two round trips: the session, then the user and the launch together.
async fn whoami(state: &AppState, cookie: &str) -> Result<Response<Body>, ApiError> {
    let session = crate::web_session::find_live(&state.store, cookie)
        .await
        .map_err(ApiError::store(READ_FAILED))?
        .ok_or(ApiError::Unauthorized(NOT_LOGGED_IN))?;

    let user_key = keys::user(&session.client_id, &session.external_id);
    let launch_key = keys::launch(&session.launch_id);
    let items = store::batch_get(&state.store, &[user_key.clone(), launch_key.clone()])
        .await
        .map_err(ApiError::store(READ_FAILED))?;
    let (Some(user), Some(launch)) = (
        store::find(&items, &user_key),
        store::find(&items, &launch_key),
    ) else {
        // The user or launch is gone (removed by an operator): the session is worthless.
        return Err(ApiError::Unauthorized(NOT_LOGGED_IN));
    };
    let user = User::from_item(user).map_err(ApiError::store(READ_FAILED))?;
    let launch = Launch::from_item(launch).map_err(ApiError::store(READ_FAILED))?;
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "user": user,
            "launch": launch,
            "expires_at": crate::clock::rfc3339(session.expires_at),
        }),
    ))
}
