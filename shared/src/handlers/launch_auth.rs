//! `GET /api/v1/launch/auth?token=...&next=...`: trades a launch token once for a web session
//! and sends the browser to the lab (`launch_token::redeem`).

use crate::http::{self, ApiError, Context, cookies};
use crate::launch_token;
use crate::state::AppState;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| redeem(state, req)).await
}

/// Unknown, expired, used and malformed tokens all get this page.
fn link_not_valid() -> Response<Body> {
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

#[tracing::instrument(skip_all)]
async fn redeem(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    if req.method() == Method::HEAD {
        return Ok(http::head_of_link());
    }
    if req.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let Some(presented) = http::query_param(&req, "token") else {
        return Ok(link_not_valid());
    };
    let domain = http::domain(&state.config, &req);
    let Some(token) = launch_token::find_live(&state.store, &presented, &domain.host)
        .await
        .context("Could not check the lab link.")?
    else {
        return Ok(link_not_valid());
    };
    // The destination was decided at launch time; a different `next` is refused, never followed.
    if let Some(next) = http::query_param(&req, "next")
        && next != token.next
    {
        tracing::info!(
            token = token.digest.log_prefix(),
            "next is not the stored one"
        );
        return Ok(link_altered());
    }
    let old_cookie = cookies::session_cookie(&req, &domain);
    let ttl = state.config.web_session_ttl_secs;
    let Some(session) = launch_token::redeem(&state.store, &token, old_cookie.as_deref(), ttl)
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
    let words = (
        "The stored lab address is not valid.",
        "Could not start the session.",
    );
    cookies::login_redirect((&token.next, session.expose()), &domain, ttl, words)
}
