//! `GET /workshops/session/{name}/activate/?token=...`: uses the activation token once, starts
//! the session clock, logs the browser in and sends it to the dashboard.

use crate::http::{self, cookies};
use crate::state::AppState;
use crate::workshop::portal::{PortalError, path_param};
use crate::workshop::session;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| activate(state, req)).await
}

/// Unknown, expired, used and malformed tokens all get this page.
fn not_valid() -> Response<Body> {
    http::link_page(
        "This workshop link is no longer valid",
        "Workshop links work once and only for a short time. Go back and start the workshop again.",
    )
}

#[tracing::instrument(skip_all)]
async fn activate(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    if req.method() == Method::HEAD {
        return Ok(http::head_of_link());
    }
    if req.method() != Method::GET {
        return Err(PortalError::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ));
    }
    let Some(token) = http::query_param(&req, "token").filter(|t| !t.is_empty()) else {
        return Ok(http::link_page(
            "No access token supplied",
            "This workshop link is incomplete.",
        ));
    };
    let found = match path_param(&req, "name") {
        Some(name) => session::get(&state.store, &name).await?,
        None => None,
    };
    let Some(found) = found else {
        return Ok(not_valid());
    };
    let domain = http::domain(&state.config, &req);
    let old_cookie = cookies::session_cookie(&req, &domain);
    let ttl = state.config.web_session_ttl_secs;
    let session_on = (&found, domain.host.as_str());
    let activated = session::activate(&state.store, session_on, &token, old_cookie.as_deref(), ttl);
    let Some((activated, cookie)) = activated.await? else {
        return Ok(not_valid());
    };
    tracing::info!(session = %activated.name, "workshop session activated");
    let to = (activated.dashboard_url.as_str(), cookie.expose());
    let bad = "The workshop dashboard address is not valid.";
    Ok(cookies::login_redirect(to, &domain, ttl, (bad, bad))?)
}
