//! `GET /workshops/session/{name}/delete/`: the dashboard's exit link. Ends the browser's own
//! session and returns it to the `index_url` stored at request time.

use crate::clock;
use crate::cross_site;
use crate::http::{self, cookies};
use crate::redirect;
use crate::state::AppState;
use crate::tenant;
use crate::workshop::portal::{PortalError, path_param};
use crate::workshop::session;
use lambda_http::http::header::LOCATION;
use lambda_http::http::{HeaderValue, Method, StatusCode};
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
    if !matches!(*req.method(), Method::GET | Method::POST) {
        return Err(PortalError::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ));
    }
    let domain = http::domain(&state.config, &req);
    let (Some(cookie), Some(name)) = (
        cookies::session_cookie(&req, &domain),
        path_param(&req, "name"),
    ) else {
        return Ok(refused());
    };
    // The browser's session and the workshop session, in one round trip.
    let (found, viewer) =
        session::get_with_web_session(&state.store, &name, Some(&cookie), &domain.host).await?;
    let Some(viewer) = viewer else {
        return Ok(refused());
    };
    // The viewer's own session only: their tenant's, and theirs.
    let Some(found) =
        tenant::owned(found, &viewer.client_id).filter(|s| s.user == viewer.external_id)
    else {
        return Ok(refused());
    };
    let params = cross_site::params(&req);
    let notification = params
        .get("notification")
        .filter(|n| NOTIFICATIONS.contains(&n.as_str()))
        .map_or("session-deleted", String::as_str);
    let now = clock::now();
    if found.is_live(now) {
        // Ended only on a request from this site, or a confirmed post (`cross_site`).
        let purpose = format!("delete:{}", found.name);
        let trusted = req.method() == Method::GET && cross_site::is_trusted(&req);
        let confirmed =
            req.method() == Method::POST && cross_site::is_confirmed(&params, &cookie, &purpose);
        if !trusted && !confirmed {
            let confirm = cross_site::token(&cookie, &purpose);
            return Ok(confirm_end(&req, notification, &confirm));
        }
        session::end(&state.store, &found, session::DELETED, now).await?;
        tracing::info!(session = %found.name, "workshop session deleted by its user");
    }
    back_to_index(&found.index_url, notification)
}

/// 302 to the stored `index_url` with Educates' `notification`. The stored index_url was checked
/// against the tenant's allowed origins at request time (a session launched from an LMS falls
/// back to its registered issuer: `lti::workshop`).
fn back_to_index(index_url: &str, notification: &str) -> Result<Response<Body>, PortalError> {
    let target =
        redirect::with_notification(index_url, notification).ok_or_else(PortalError::not_found)?;
    let mut response = http::empty(StatusCode::FOUND);
    let location = HeaderValue::from_str(&target).map_err(|_| PortalError::not_found())?;
    response.headers_mut().insert(LOCATION, location);
    Ok(response)
}

/// Asks before ending a session on a request that may have come from another site.
fn confirm_end(req: &Request, notification: &str, confirm: &str) -> Response<Body> {
    cross_site::page(
        "End your workshop session?",
        "Your workshop session will end, and its work with it.",
        req.uri().path(),
        &[("notification", notification), ("confirm", confirm)],
        "End the session",
    )
}
