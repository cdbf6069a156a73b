//! `GET /api/v1/session` (who is logged in, for which launch) and `DELETE /api/v1/session`.

use crate::api_client::ApiClient;
use crate::config::Domain;
use crate::http::{self, ApiError, Context, cookies, cors};
use crate::launch::Launch;
use crate::state::AppState;
use crate::store::attr::Item;
use crate::store::fields::*;
use crate::store::{self, keys};
use crate::user::User;
use crate::web_session::Origin;
use crate::workshop::session::WorkshopSession;
use lambda_http::http::header::SET_COOKIE;
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
    let domain = http::domain(&state.config, &req);
    let cookie = cookies::session_cookie(&req, &domain);
    let origin = cors::origin(&req);
    match *req.method() {
        Method::OPTIONS => Ok(cors::preflight(&req)),
        Method::GET => {
            let cookie = cookie.ok_or(ApiError::Unauthorized(NOT_LOGGED_IN))?;
            let (client, body) = whoami(state, &cookie, &domain.host)
                .await
                .context(READ_FAILED)?;
            let mut response = http::json(StatusCode::OK, &body);
            match origin {
                Some(origin) if cors::allows(origin, tenant(&client), &domain) => {
                    cors::allow(&mut response, origin)
                }
                // Another origin gets no CORS headers: the browser keeps the answer from it.
                _ => cors::vary(response.headers_mut()),
            }
            Ok(response)
        }
        Method::DELETE => log_out(state, cookie.as_deref(), origin, &domain).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// `DELETE`: ends the session (if any) and clears the cookie; CORS headers only for an origin
/// the tenant allows.
async fn log_out(
    state: &AppState,
    cookie: Option<&str>,
    origin: Option<&str>,
    domain: &Domain,
) -> Result<Response<Body>, ApiError> {
    let mut allowed = false;
    if let Some(cookie) = cookie {
        if let Some(origin) = origin {
            allowed = origin_may_end(state, cookie, origin, domain)
                .await
                .context(READ_FAILED)?;
        }
        crate::web_session::delete(&state.store, cookie)
            .await
            .context("Could not end the session.")?;
    }
    let mut response = http::empty(StatusCode::NO_CONTENT);
    let clear = cookies::clear_session(domain.cookie_domain.as_deref());
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    match origin {
        Some(origin) if allowed => cors::allow(&mut response, origin),
        _ => cors::vary(response.headers_mut()),
    }
    Ok(response)
}

/// The origins whose pages may read a tenant's sessions.
fn tenant(client: &ApiClient) -> cors::Tenant<'_> {
    cors::Tenant {
        app_url: client.app_url.as_deref(),
        allowed_origins: &client.allowed_origins,
    }
}

/// Whether a page at `origin` may end this session: its tenant allows the origin (`true`, and
/// the answer carries CORS headers), or there is no live session (`false`: nothing to end, no
/// CORS headers). A page at an origin the tenant does not allow may not log its learner out
/// (the browser sends the cookie with a same-site request from any of the site's origins).
async fn origin_may_end(
    state: &AppState,
    cookie: &str,
    origin: &str,
    domain: &Domain,
) -> Result<bool, ApiError> {
    let Some(session) = crate::web_session::find_live(&state.store, cookie, &domain.host).await?
    else {
        return Ok(false);
    };
    let client = crate::api_client::get_client(&state.store, &session.client_id).await?;
    match client {
        Some(client) if cors::allows(origin, tenant(&client), domain) => Ok(true),
        _ => Err(ApiError::Forbidden(format!(
            "Origin {origin} may not end this session."
        ))),
    }
}

/// Two round trips: the session, then the user, what they logged in through and their tenant
/// (whose origins decide CORS), together.
async fn whoami(
    state: &AppState,
    cookie: &str,
    host: &str,
) -> Result<(ApiClient, serde_json::Value), ApiError> {
    let session = crate::web_session::find_live(&state.store, cookie, host)
        .await?
        .ok_or(ApiError::Unauthorized(NOT_LOGGED_IN))?;

    let user_key = keys::user(&session.client_id, &session.external_id);
    let origin_key = session.origin.key();
    let client_key = keys::client(&session.client_id);
    let wanted = [user_key.clone(), origin_key.clone(), client_key.clone()];
    let items = store::batch_get(&state.store, &wanted).await?;
    let (Some(user), Some(origin), Some(client)) = (
        store::find(&items, &user_key),
        store::find(&items, &origin_key),
        store::find(&items, &client_key),
    ) else {
        // The user, what they logged in through or their tenant is gone: the session is worthless.
        return Err(ApiError::Unauthorized(NOT_LOGGED_IN));
    };
    // A disabled tenant, or a launch past its retention: the session is worthless.
    let now = crate::clock::now();
    if crate::disable::is_disabled(client) || !crate::store::conditions::is_current(origin, now) {
        return Err(ApiError::Unauthorized(NOT_LOGGED_IN));
    }
    let client = ApiClient::from_attr(client.get(CLIENT))?;
    let body = json!({
        "tenant": {"id": client.id, "name": client.name},
        "user": User::from_item(user)?,
        "launch": match session.origin {
            Origin::Launch(_) => Some(Launch::from_item(origin)?),
            Origin::WorkshopSession(_) => None,
        },
        "workshop_session": workshop_session(&session.origin, origin)?,
        "expires_at": crate::clock::rfc3339(session.expires_at),
    });
    Ok((client, body))
}

/// The workshop session the browser logged in through, if it did through one.
fn workshop_session(origin: &Origin, item: &Item) -> Result<Option<serde_json::Value>, ApiError> {
    let Origin::WorkshopSession(_) = origin else {
        return Ok(None);
    };
    let ws = WorkshopSession::from_item(item)?;
    Ok(Some(
        json!({"name": ws.name, "environment": ws.environment, "workshop": ws.workshop}),
    ))
}
