//! `GET /workshops/session/{name}/activate/?token=...`: uses the activation token once, starts
//! the session clock, logs the browser in and sends it to the dashboard.

use crate::clock;
use crate::http::{self, ApiError, cookies};
use crate::state::AppState;
use crate::store::tx::{self, TxError};
use crate::web_session::{self, Origin};
use crate::workshop::portal::{PortalError, path_param};
use crate::workshop::session;
use lambda_http::http::header::{HOST, LOCATION, SET_COOKIE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| activate(state, req)).await
}

fn not_valid() -> Response<Body> {
    http::html(
        StatusCode::BAD_REQUEST,
        http::page(
            "This workshop link is no longer valid",
            "Workshop links work once and only for a short time. Go back and start the workshop again.",
        ),
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
        return Ok(http::html(
            StatusCode::BAD_REQUEST,
            http::page(
                "No access token supplied",
                "This workshop link is incomplete.",
            ),
        ));
    };
    let Some(name) = path_param(&req, "name") else {
        return Ok(not_valid());
    };
    let Some(found) = session::get(&state.store, &name).await? else {
        return Ok(not_valid());
    };
    let now = clock::now();
    let table = state.store.table();
    let Some((activated, mut items)) = session::activation_items(table, &found, &token, now)?
    else {
        return Ok(not_valid());
    };
    let (cookie, session_item) = web_session::start(
        table,
        &activated.client_id,
        &activated.user,
        &Origin::WorkshopSession(activated.name.clone()),
        state.config.web_session_ttl_secs,
    )?;
    items.push(session_item);
    if let Some(old) =
        cookies::session_cookie(&req).filter(|c| crate::secrets::is_url_token_shape(c))
    {
        items.push(web_session::end(table, &old)?);
    }
    match tx::transact(
        &state.store,
        "TransactWriteItems activate workshop session",
        items,
    )
    .await
    {
        Ok(()) => {}
        // Another activation won, or the deadline passed in between.
        Err(TxError::Condition { .. }) => return Ok(not_valid()),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(session = %activated.name, "workshop session activated");

    let domain = state
        .config
        .domain_for_host(http::header(&req, HOST.as_str()));
    let set_cookie = cookies::set_session(
        cookie.expose(),
        domain.cookie_domain.as_deref(),
        state.config.web_session_ttl_secs,
    );
    let header = |v: &str| {
        HeaderValue::from_str(v).map_err(|_| {
            PortalError::Server(ApiError::Internal {
                what: "The workshop dashboard address is not valid.",
                detail: "not a header value".into(),
            })
        })
    };
    let mut response = http::empty(StatusCode::FOUND);
    response
        .headers_mut()
        .insert(LOCATION, header(&activated.dashboard_url)?);
    response
        .headers_mut()
        .insert(SET_COOKIE, header(&set_cookie)?);
    Ok(response)
}
