//! `POST /oauth2/token/`: the password and refresh_token grants (RFC 6749), for a tenant's
//! robot; errors in the RFC 6749 JSON form.

use crate::http::{self, ApiError};
use crate::oauth::http::{Failure, authenticated, client_credentials, form, oauth_error, require};
use crate::oauth::{self, SCOPE};
use crate::secrets::Digest;
use crate::state::AppState;
use crate::store::tx::{self, TxError};
use crate::store::{self, keys};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use oauth2::basic::BasicErrorResponseType as Kind;
use serde_json::json;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| issue(state, req)).await
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
            let robot_key = oauth::is_valid_username(username).then(|| keys::robot(username));
            let wanted: Vec<_> = std::iter::once(app_key.clone())
                .chain(robot_key.clone())
                .collect();
            let found = store::batch_get(&state.store, &wanted).await?;
            let client = authenticated(store::find(&found, &app_key), &secret, basic_auth)?;
            let robot = robot_key.as_ref().and_then(|k| store::find(&found, k));
            if !oauth::verify_robot(robot, &client, password)? {
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
            let grant = oauth::live_grant(store::find(&found, &refresh_key), "access_digest")?
                .filter(|g| g.oauth_client_id == client.client_id)
                .ok_or(oauth_error(Kind::InvalidGrant, "Invalid refresh token."))?;
            // Rotation: the old pair ends in the transaction that makes the new one.
            let items = vec![
                oauth::consume_refresh(table, &digest)?,
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

    let (pair, new_items) = oauth::issue_pair(table, &state.config, &client, &username)?;
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
