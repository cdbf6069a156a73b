//! `POST /oauth2/revoke-token/` (RFC 7009): revoking either token of a pair ends both.

use crate::http::{self, ApiError};
use crate::oauth::OAuthClient;
use crate::oauth::{
    self,
    http::{Failure, authenticated, client_credentials, form, require},
};
use crate::secrets::Digest;
use crate::state::AppState;
use crate::store::attr::Item;
use crate::store::tx;
use crate::store::{self, keys};
use aws_sdk_dynamodb::types::TransactWriteItem;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| revoke_token(state, req)).await
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

    let items = ends(state.store.table(), &found, &client, &digest)?;
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

/// The deletes that end the pair of whichever token `digest` is (if `client` issued it).
fn ends(
    table: &str,
    found: &[Item],
    client: &OAuthClient,
    digest: &Digest,
) -> Result<Vec<TransactWriteItem>, Failure> {
    let pairs = [
        (
            keys::access_token(digest.as_str()),
            "refresh_digest",
            keys::refresh_token as fn(&str) -> keys::Key,
        ),
        (
            keys::refresh_token(digest.as_str()),
            "access_digest",
            keys::access_token,
        ),
    ];
    let mut items = Vec::new();
    for (key, partner, partner_key) in pairs {
        let Some(record) = store::find(found, &key) else {
            continue;
        };
        let grant = oauth::grant_from(record, partner)?;
        if grant.oauth_client_id == client.client_id {
            items.push(tx::item::delete(table, &key, None)?);
            let partner = partner_key(&grant.partner_digest);
            items.push(tx::item::delete(table, &partner, None)?);
        }
    }
    Ok(items)
}
