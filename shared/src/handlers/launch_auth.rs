//! `GET /api/v1/launch/auth?token=...&next=...`: trades a launch token once for a web session
//! and sends the browser to the lab (`launch_token::redeem`).

use crate::config::Domain;
use crate::cross_site;
use crate::http::{self, ApiError, Context, cookies};
use crate::launch_token::{self, LaunchToken};
use crate::metrics::{self, Metric};
use crate::state::AppState;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| redeem(state, req)).await
}

/// Unknown, expired, used and malformed tokens all get this page.
fn link_not_valid() -> Response<Body> {
    metrics::count(Metric::InvalidLinks, 1);
    http::link_page(
        "This lab link is no longer valid",
        "Lab links work once and only for a short time. Go back to your course and open the lab again.",
    )
}

/// A link whose `next` is not the destination its launch stored.
fn link_altered() -> Response<Body> {
    http::link_page(
        "This lab link has been altered",
        "The link does not match the lab it was made for. Go back to your course and open the lab again.",
    )
}

/// Asks before a link signs a browser that is signed in as someone else in as another user.
fn confirm_switch(req: &Request, token: &LaunchToken, cookie: &str) -> Response<Body> {
    let purpose = format!("login:{}", token.digest.as_str());
    let confirm = cross_site::token(cookie, &purpose);
    let presented = cross_site::params(req).remove("token").unwrap_or_default();
    let fields = [
        ("token", presented.as_str()),
        ("next", token.next.as_str()),
        ("confirm", confirm.as_str()),
    ];
    cross_site::page(
        "Open this lab as another user?",
        "This browser is signed in to labgate as someone else. Continuing ends that session and signs you in with this lab link.",
        "/api/v1/launch/auth",
        &fields,
        "Continue",
    )
}

#[tracing::instrument(skip_all)]
async fn redeem(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    if req.method() == Method::HEAD {
        return Ok(http::head_of_link());
    }
    if !matches!(*req.method(), Method::GET | Method::POST) {
        return Err(ApiError::MethodNotAllowed);
    }
    let params = cross_site::params(&req);
    let Some(presented) = params.get("token") else {
        return Ok(link_not_valid());
    };
    let domain = http::domain(&state.config, &req);
    let old_cookie = cookies::session_cookie(&req, &domain);
    let (token, signed_in) = launch_token::find_live_with_session(
        &state.store,
        presented,
        &domain.host,
        old_cookie.as_deref(),
    )
    .await
    .context("Could not check the lab link.")?;
    let Some(token) = token else {
        return Ok(link_not_valid());
    };
    // The destination was decided at launch time; a different `next` is refused, never followed.
    if params.get("next").is_some_and(|next| next != &token.next) {
        tracing::info!(
            token = token.digest.log_prefix(),
            "next is not the stored one"
        );
        return Ok(link_altered());
    }
    let purpose = format!("login:{}", token.digest.as_str());
    let user = (token.client_id.as_str(), token.external_id.as_str());
    let cookie = old_cookie.as_deref();
    if !cross_site::may_sign_in(&req, &params, signed_in.as_ref(), cookie, user, &purpose) {
        return Ok(confirm_switch(&req, &token, cookie.unwrap_or_default()));
    }
    sign_in(state, &token, old_cookie.as_deref(), &domain).await
}

/// Uses the token, starts the browser's session and sends it to the lab.
async fn sign_in(
    state: &AppState,
    token: &LaunchToken,
    old_cookie: Option<&str>,
    domain: &Domain,
) -> Result<Response<Body>, ApiError> {
    let ttl = state.config.web_session_ttl_secs;
    let Some(session) = launch_token::redeem(&state.store, (token, &domain.host), old_cookie, ttl)
        .await
        .context("Could not start the session.")?
    else {
        return Ok(link_not_valid());
    };
    tracing::info!(
        token = token.digest.log_prefix(),
        launch = %token.launch_id,
        session = session.digest().log_prefix(),
        "launch token redeemed"
    );
    metrics::count(Metric::LinksRedeemed, 1);
    let words = (
        "The stored lab address is not valid.",
        "Could not start the session.",
    );
    cookies::login_redirect((&token.next, session.expose()), domain, ttl, words)
}
