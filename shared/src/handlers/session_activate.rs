//! `GET /workshops/session/{name}/activate/?token=...`: uses the activation token once, starts
//! the session clock, logs the browser in and sends it to the dashboard.

use crate::cross_site;
use crate::http::{self, cookies};
use crate::metrics::{self, Metric};
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
    metrics::count(Metric::InvalidLinks, 1);
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
    if !matches!(*req.method(), Method::GET | Method::POST) {
        return Err(PortalError::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ));
    }
    let params = cross_site::params(&req);
    let Some(token) = params.get("token").filter(|t| !t.is_empty()) else {
        return Ok(http::link_page(
            "No access token supplied",
            "This workshop link is incomplete.",
        ));
    };
    let domain = http::domain(&state.config, &req);
    let old_cookie = cookies::session_cookie(&req, &domain);
    let name = path_param(&req, "name").unwrap_or_default();
    let (found, signed_in) =
        session::get_with_web_session(&state.store, &name, old_cookie.as_deref(), &domain.host)
            .await?;
    let Some(found) = found else {
        return Ok(not_valid());
    };
    let purpose = format!("activate:{}", found.name);
    let user = (found.client_id.as_str(), found.user.as_str());
    let cookie = old_cookie.as_deref();
    if !cross_site::may_sign_in(&req, &params, signed_in.as_ref(), cookie, user, &purpose) {
        let confirm = cross_site::token(cookie.unwrap_or_default(), &purpose);
        return Ok(confirm_switch(&req, token, &confirm));
    }
    let ttl = state.config.web_session_ttl_secs;
    let session_on = (&found, domain.host.as_str());
    let activated = session::activate(&state.store, session_on, token, old_cookie.as_deref(), ttl);
    let Some((activated, cookie)) = activated.await? else {
        return Ok(not_valid());
    };
    tracing::info!(session = %activated.name, "workshop session activated");
    metrics::count(Metric::LinksRedeemed, 1);
    let to = (activated.dashboard_url.as_str(), cookie.expose());
    let bad = "The workshop dashboard address is not valid.";
    Ok(cookies::login_redirect(to, &domain, ttl, (bad, bad))?)
}

/// Asks before an activation link signs a browser that is signed in as someone else in as the
/// session's user.
fn confirm_switch(req: &Request, token: &str, confirm: &str) -> Response<Body> {
    cross_site::page(
        "Start this workshop as another user?",
        "This browser is signed in to labgate as someone else. Continuing ends that session and starts the workshop with this link.",
        req.uri().path(),
        &[("token", token), ("confirm", confirm)],
        "Continue",
    )
}
