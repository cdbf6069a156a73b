//! `POST /oauth2/token/` (password and refresh_token grants) and `POST /oauth2/revoke-token/`
//! (RFC 7009). Errors in the RFC 6749 JSON form.

use super::{OAuthClient, SCOPE};
use crate::http::{self, ApiError};
use crate::secrets::Digest;
use crate::state::AppState;
use crate::store::keys;
use crate::store::tx::{self, TxError};
use crate::store::{self, StoreError};
use lambda_http::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use oauth2::StandardErrorResponse;
use oauth2::basic::BasicErrorResponseType as Kind;
use serde_json::json;
use std::collections::HashMap;

/// An OAuth error response; `Err` of the handlers below.
#[derive(Debug)]
struct OAuthError {
    kind: Kind,
    description: &'static str,
    basic_auth: bool,
}

fn oauth_error(kind: Kind, description: &'static str) -> OAuthError {
    OAuthError {
        kind,
        description,
        basic_auth: false,
    }
}

impl OAuthError {
    fn into_response(self) -> Response<Body> {
        let status = match self.kind {
            Kind::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = StandardErrorResponse::new(self.kind, Some(self.description.to_string()), None);
        let mut response = http::json(status, &body);
        if status == StatusCode::UNAUTHORIZED && self.basic_auth {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"labgate\""),
            );
        }
        response
    }
}

enum Failure {
    OAuth(OAuthError),
    Server(ApiError),
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Failure::OAuth(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Server(ApiError::store("Could not process the token request.")(e))
    }
}

impl From<TxError> for Failure {
    fn from(e: TxError) -> Self {
        Failure::Server(ApiError::tx("Could not process the token request.")(e))
    }
}

async fn run<F, Fut>(req: Request, f: F) -> Result<Response<Body>, lambda_http::Error>
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Result<Response<Body>, Failure>>,
{
    http::respond(req, |req| async move {
        match f(req).await {
            Ok(r) => Ok(r),
            Err(Failure::OAuth(e)) => Ok(e.into_response()),
            Err(Failure::Server(e)) => Err(e),
        }
    })
    .await
}

/// The form body; a repeated parameter is a malformed request (RFC 6749 section 3.2).
fn form(req: &Request) -> Result<HashMap<String, String>, OAuthError> {
    http::unique_form(http::body_bytes(req))
        .map_err(|_| oauth_error(Kind::InvalidRequest, "A parameter is repeated."))
}

/// Client credentials from HTTP Basic or the form body (not both).
fn client_credentials(
    req: &Request,
    params: &HashMap<String, String>,
) -> Result<(String, String, bool), OAuthError> {
    let basic =
        http::header(req, AUTHORIZATION.as_str()).and_then(|h| http::auth::credentials(h, "basic"));
    let in_body = params.get("client_id").or(params.get("client_secret"));
    let invalid = |basic_auth| OAuthError {
        kind: Kind::InvalidClient,
        description: "Client authentication failed.",
        basic_auth,
    };
    let credentials = match (basic, in_body) {
        (Some(_), Some(_)) => Err(oauth_error(
            Kind::InvalidRequest,
            "Use one client authentication method, not two.",
        )),
        (Some(encoded), None) => {
            let (id, secret) = http::auth::basic(encoded).ok_or(invalid(true))?;
            Ok((id, secret, true))
        }
        (None, _) => match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => Ok((id.clone(), secret.clone(), false)),
            _ => Err(invalid(false)),
        },
    }?;
    // Every client id we issue has one shape; anything else is unknown, and never a key.
    if !super::is_client_id_shape(&credentials.0) {
        return Err(invalid(credentials.2));
    }
    Ok(credentials)
}

fn require<'a>(
    params: &'a HashMap<String, String>,
    name: &str,
    description: &'static str,
) -> Result<&'a str, OAuthError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| oauth_error(Kind::InvalidRequest, description))
}

fn authenticated(
    record: Option<&store::attr::Item>,
    secret: &str,
    basic_auth: bool,
) -> Result<OAuthClient, Failure> {
    super::verify_client(record, secret)?.ok_or(Failure::OAuth(OAuthError {
        kind: Kind::InvalidClient,
        description: "Client authentication failed.",
        basic_auth,
    }))
}

pub async fn token(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    run(req, |req| issue(state, req)).await
}

#[tracing::instrument(skip_all)]
async fn issue(state: &AppState, req: Request) -> Result<Response<Body>, Failure> {
    if req.method() != Method::POST {
        return Err(Failure::Server(ApiError::MethodNotAllowed));
    }
    let params = form(&req)?;
    let grant_type = require(
        &params,
        "grant_type",
        "The grant_type parameter is required.",
    )?;
    let (id, secret, basic_auth) = client_credentials(&req, &params)?;
    let table = state.store.table();
    let app_key = keys::oauth_client(&id);

    let (client, username, mut items) = match grant_type {
        "password" => {
            let username = require(&params, "username", "The username parameter is required.")?;
            let password = require(&params, "password", "The password parameter is required.")?;
            // A name no robot can have is never looked up (nor made a key): invalid credentials.
            let robot_key = super::is_valid_username(username).then(|| keys::robot(username));
            let wanted: Vec<_> = std::iter::once(app_key.clone())
                .chain(robot_key.clone())
                .collect();
            let found = store::batch_get(&state.store, &wanted).await?;
            let client = authenticated(store::find(&found, &app_key), &secret, basic_auth)?;
            let robot = robot_key.as_ref().and_then(|k| store::find(&found, k));
            if !super::verify_robot(robot, &client, password)? {
                return Err(oauth_error(Kind::InvalidGrant, "Invalid credentials given.").into());
            }
            (client, username.to_string(), Vec::new())
        }
        "refresh_token" => {
            let presented = require(
                &params,
                "refresh_token",
                "The refresh_token parameter is required.",
            )?;
            let digest = Digest::of(presented);
            let refresh_key = keys::refresh_token(digest.as_str());
            let found =
                store::batch_get(&state.store, &[app_key.clone(), refresh_key.clone()]).await?;
            let client = authenticated(store::find(&found, &app_key), &secret, basic_auth)?;
            let grant = super::live_grant(store::find(&found, &refresh_key), "access_digest")?
                .filter(|g| g.oauth_client_id == client.client_id)
                .ok_or(oauth_error(Kind::InvalidGrant, "Invalid refresh token."))?;
            // Rotation: the old pair ends in the transaction that makes the new one.
            let items = vec![
                super::consume_refresh(table, &digest)?,
                crate::store::tx::item::delete(
                    table,
                    &keys::access_token(&grant.partner_digest),
                    None,
                )?,
            ];
            (client, grant.username, items)
        }
        _ => {
            return Err(oauth_error(
                Kind::UnsupportedGrantType,
                "Only the password and refresh_token grants are supported.",
            )
            .into());
        }
    };

    let (pair, new_items) = super::issue_pair(table, &state.config, &client, &username)?;
    items.extend(new_items);
    match tx::transact(&state.store, "TransactWriteItems issue OAuth tokens", items).await {
        Ok(()) => {}
        Err(TxError::Condition { index: 0 }) if grant_type == "refresh_token" => {
            return Err(oauth_error(Kind::InvalidGrant, "Invalid refresh token.").into());
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(
        oauth_client = %client.client_id,
        token = pair.access_token.digest().log_prefix(),
        grant_type,
        "OAuth tokens issued"
    );
    let mut response = http::json(
        StatusCode::OK,
        &json!({
            "access_token": pair.access_token.expose(),
            "expires_in": pair.expires_in,
            "token_type": "Bearer",
            "scope": SCOPE,
            "refresh_token": pair.refresh_token.expose(),
        }),
    );
    response
        .headers_mut()
        .insert("pragma", HeaderValue::from_static("no-cache"));
    Ok(response)
}

pub async fn revoke(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    run(req, |req| revoke_token(state, req)).await
}

/// RFC 7009: an unknown or foreign token is not an error; the answer is 200 either way.
/// Revoking either token of a pair ends both.
#[tracing::instrument(skip_all)]
async fn revoke_token(state: &AppState, req: Request) -> Result<Response<Body>, Failure> {
    if req.method() != Method::POST {
        return Err(Failure::Server(ApiError::MethodNotAllowed));
    }
    let params = form(&req)?;
    let presented = require(&params, "token", "The token parameter is required.")?;
    let (id, secret, basic_auth) = client_credentials(&req, &params)?;
    let app_key = keys::oauth_client(&id);
    let digest = Digest::of(presented);
    let access_key = keys::access_token(digest.as_str());
    let refresh_key = keys::refresh_token(digest.as_str());
    let found = store::batch_get(
        &state.store,
        &[app_key.clone(), access_key.clone(), refresh_key.clone()],
    )
    .await?;
    let client = authenticated(store::find(&found, &app_key), &secret, basic_auth)?;

    let table = state.store.table();
    let mut items = Vec::new();
    let pairs = [
        (
            &access_key,
            "refresh_digest",
            keys::refresh_token as fn(&str) -> keys::Key,
        ),
        (&refresh_key, "access_digest", keys::access_token),
    ];
    for (key, partner, partner_key) in pairs {
        let Some(record) = store::find(&found, key) else {
            continue;
        };
        let grant = super::grant_from(record, partner)?;
        if grant.oauth_client_id == client.client_id {
            items.push(crate::store::tx::item::delete(table, key, None)?);
            items.push(crate::store::tx::item::delete(
                table,
                &partner_key(&grant.partner_digest),
                None,
            )?);
        }
    }
    if !items.is_empty() {
        tx::transact(
            &state.store,
            "TransactWriteItems revoke OAuth tokens",
            items,
        )
        .await?;
        tracing::info!(token = digest.log_prefix(), "OAuth token revoked");
    }
    Ok(http::empty(StatusCode::OK))
}
