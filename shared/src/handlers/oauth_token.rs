//! `POST /oauth2/token/`: the password and refresh_token grants (RFC 6749), for a tenant's
//! robot; errors in the RFC 6749 JSON form.

use crate::http::{self, ApiError};
use crate::oauth::http::{Failure, authenticated, client_credentials, form, oauth_error, require};
use crate::oauth::{self, OAuthClient, SCOPE};
use crate::secrets::Digest;
use crate::state::AppState;
use crate::store::tx::{self, TxError};
use crate::store::{self, keys};
use aws_sdk_dynamodb::types::TransactWriteItem;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use oauth2::basic::BasicErrorResponseType as Kind;
use serde_json::json;
use std::collections::HashMap;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| issue(state, req)).await
}

/// The client's credentials as presented: id, secret, and whether by HTTP Basic.
type Credentials = (String, String, bool);

/// What a grant yields: the client, the robot's username, and the items that end an old pair.
type Granted = (OAuthClient, String, Vec<TransactWriteItem>);

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
    let credentials = client_credentials(&req, &params)?;
    let (client, username, mut items) = match grant_type {
        "password" => password_grant(state, &params, credentials).await?,
        "refresh_token" => refresh_grant(state, &params, credentials).await?,
        _ => {
            return Err(oauth_error(
                Kind::UnsupportedGrantType,
                "Only the password and refresh_token grants are supported.",
            )
            .into());
        }
    };
    let table = state.store.table();
    let (pair, new_items) = oauth::issue_pair(table, &state.config, &client, &username)?;
    items.extend(new_items);
    // The OAuth client must still exist and be enabled as the tokens are written: a robot
    // removed, or a tenant disabled, while this grant ran gets no token.
    let still = keys::oauth_client(&client.client_id);
    let check = "attribute_exists(pk) AND attribute_not_exists(disabled_at)";
    items.push(tx::item::condition_check(table, &still, check)?);
    let client_check = items.len() - 1;
    match tx::transact(&state.store, "TransactWriteItems issue OAuth tokens", items).await {
        Ok(()) => {}
        Err(TxError::Condition { index }) if index == client_check => {
            return Err(oauth_error(Kind::InvalidClient, "Client authentication failed.").into());
        }
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
    Ok(token_response(&pair))
}

/// The password grant: the client and its robot, read together.
async fn password_grant(
    state: &AppState,
    params: &HashMap<String, String>,
    (id, secret, basic_auth): Credentials,
) -> Result<Granted, Failure> {
    let username = require(params, "username", "The username parameter is required.")?;
    let password = require(params, "password", "The password parameter is required.")?;
    // A name no robot can have is never looked up (nor made a key): invalid credentials.
    let app_key = keys::oauth_client(&id);
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
    Ok((client, username.to_string(), Vec::new()))
}

/// The refresh_token grant. Rotation: the old pair ends in the transaction that makes the new
/// one (the refresh token's use first, so that a lost race is told by its position).
async fn refresh_grant(
    state: &AppState,
    params: &HashMap<String, String>,
    (id, secret, basic_auth): Credentials,
) -> Result<Granted, Failure> {
    let presented = require(
        params,
        "refresh_token",
        "The refresh_token parameter is required.",
    )?;
    let digest = Digest::of(presented);
    let (app_key, refresh_key) = (
        keys::oauth_client(&id),
        keys::refresh_token(digest.as_str()),
    );
    let found = store::batch_get(&state.store, &[app_key.clone(), refresh_key.clone()]).await?;
    let client = authenticated(store::find(&found, &app_key), &secret, basic_auth)?;
    let grant = oauth::live_grant(store::find(&found, &refresh_key), "access_digest")?
        .filter(|g| g.oauth_client_id == client.client_id)
        .ok_or(oauth_error(Kind::InvalidGrant, "Invalid refresh token."))?;
    let table = state.store.table();
    let access_key = keys::access_token(&grant.partner_digest);
    let items = vec![
        oauth::consume_refresh(table, &digest)?,
        tx::item::delete(table, &access_key, None)?,
    ];
    Ok((client, grant.username, items))
}

fn token_response(pair: &oauth::TokenPair) -> Response<Body> {
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
    response
}
