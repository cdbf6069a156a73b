//! `GET /workshops/session/{name}/delete/`: the dashboard's exit link. Ends the browser's own
//! session and returns it to the `index_url` stored at request time.

use crate::clock;
use crate::http::{self, cookies};
use crate::redirect;
use crate::state::AppState;
use crate::tenant;
use crate::workshop::portal::{PortalError, path_param};
use crate::workshop::session;
use lambda_http::http::header::LOCATION;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};

/// The notifications Educates passes back to the index page.
const NOTIFICATIONS: [&str; 5] = [
    "session-deleted",
    "startup-timeout",
    "session-invalid",
    "session-unavailable",
    "workshop-invalid",
];

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| delete(state, req)).await
}

fn refused() -> Response<Body> {
    http::html(
        StatusCode::NOT_FOUND,
        http::page(
            "Workshop session not found",
            "There is no such workshop session for you.",
        ),
    )
}

#[tracing::instrument(skip_all)]
async fn delete(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let domain = http::domain(&state.config, &req);
    let Some(cookie) = cookies::session_cookie(&req, &domain) else {
        return Ok(refused());
    };
    let host = &domain.host;
    let Some(viewer) = crate::web_session::find_live(&state.store, &cookie, host).await? else {
        return Ok(refused());
    };
    let Some(found) = path_param(&req, "name") else {
        return Ok(refused());
    };
    let found = session::get(&state.store, &found).await?;
    // The viewer's own session only: their tenant's, and theirs.
    let Some(found) =
        tenant::owned(found, &viewer.client_id).filter(|s| s.user == viewer.external_id)
    else {
        return Ok(refused());
    };
    let now = clock::now();
    if found.is_live(now) {
        session::end(&state.store, &found, session::DELETED, now).await?;
        tracing::info!(session = %found.name, "workshop session deleted by its user");
    }
    let notification = http::query_param(&req, "notification")
        .filter(|n| NOTIFICATIONS.contains(&n.as_str()))
        .unwrap_or_else(|| "session-deleted".to_string());
    // The stored index_url was checked against the tenant's allowed origins at request time.
    let target = redirect::with_notification(&found.index_url, &notification)
        .ok_or_else(PortalError::not_found)?;
    let mut response = http::empty(StatusCode::FOUND);
    let location = HeaderValue::from_str(&target).map_err(|_| PortalError::not_found())?;
    response.headers_mut().insert(LOCATION, location);
    Ok(response)
}
