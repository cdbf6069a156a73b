//! `GET /api/v1/launch/auth?token=...&next=...`: trades a launch token once for a web session.

use crate::events::{Event, EventType};
use crate::http::{self, ApiError, cookies};
use crate::launch_token::{self, LaunchToken};
use crate::state::AppState;
use crate::store::tx::{self, TxError};
use crate::web_session;
use lambda_http::http::header::{HOST, LOCATION, SET_COOKIE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// Position of the token's conditional delete in the redemption transaction.
const CONSUME: usize = 0;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| redeem(state, req)).await
}

/// Unknown, expired, used and malformed tokens all get this page.
fn link_not_valid() -> Response<Body> {
    http::html(
        StatusCode::BAD_REQUEST,
        http::page(
            "This lab link is no longer valid",
            "Lab links work once and only for a short time. Go back to your course and open the lab again.",
        ),
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
    let Some(token) = launch_token::find_live(&state.store, &presented)
        .await
        .map_err(ApiError::store("Could not check the lab link."))?
    else {
        return Ok(link_not_valid());
    };
    // The destination was decided at launch time; a different `next` is refused, never followed.
    if let Some(next) = http::query_param(&req, "next")
        && next != token.next
    {
        tracing::info!(
            token = token.digest.log_prefix(),
            "next differs from the stored destination"
        );
        return Ok(http::html(
            StatusCode::BAD_REQUEST,
            http::page(
                "This lab link has been altered",
                "The link does not match the lab it was made for. Go back to your course and open the lab again.",
            ),
        ));
    }

    let old_cookie = cookies::session_cookie(&req);
    let Some(session) = login(state, &token, old_cookie.as_deref()).await? else {
        return Ok(link_not_valid());
    };

    let domain = state
        .config
        .domain_for_host(http::header(&req, HOST.as_str()));
    let set_cookie = cookies::set_session(
        session.expose(),
        domain.cookie_domain.as_deref(),
        state.config.web_session_ttl_secs,
    );
    let mut response = http::empty(StatusCode::FOUND);
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_str(&token.next).map_err(|_| ApiError::Internal {
            what: "The stored lab address is not valid.",
            detail: "stored next is not a valid header value".into(),
        })?,
    );
    headers.insert(
        SET_COOKIE,
        HeaderValue::from_str(&set_cookie).map_err(|_| ApiError::Internal {
            what: "Could not start the session.",
            detail: "cookie is not a valid header value".into(),
        })?,
    );
    tracing::info!(
        token = token.digest.log_prefix(),
        launch = %token.launch_id,
        session = session.digest().log_prefix(),
        "launch token redeemed"
    );
    Ok(response)
}

/// Consumes the token and starts a web session in one transaction (ending the browser's old
/// session too, so every login gets a fresh id). `None` if another redemption won.
async fn login(
    state: &AppState,
    token: &LaunchToken,
    old_cookie: Option<&str>,
) -> Result<Option<crate::secrets::Secret>, ApiError> {
    let table = state.store.table();
    let (session, session_item) = web_session::start(
        table,
        &token.client_id,
        &token.external_id,
        &web_session::Origin::Launch(token.launch_id.clone()),
        state.config.web_session_ttl_secs,
    )
    .map_err(ApiError::store("Could not start the session."))?;
    let mut items = vec![
        launch_token::consume(table, token)
            .map_err(ApiError::store("Could not use the lab link."))?,
        session_item,
    ];
    items.push(
        Event::new(
            EventType::LaunchRedeemed,
            &token.client_id,
            json!({"launch_id": token.launch_id, "user_id": token.external_id}),
        )
        .outbox(table)
        .map_err(ApiError::store("Could not start the session."))?,
    );
    if let Some(old) = old_cookie.filter(|c| crate::secrets::is_url_token_shape(c)) {
        items.push(
            web_session::end(table, old)
                .map_err(ApiError::store("Could not start the session."))?,
        );
    }
    match tx::transact(
        &state.store,
        "TransactWriteItems redeem launch token",
        items,
    )
    .await
    {
        Ok(()) => Ok(Some(session)),
        Err(TxError::Condition { index: CONSUME }) => Ok(None),
        Err(e) => Err(ApiError::tx("Could not start the session.")(e)),
    }
}
