//! A robot's credentials after it is made: its password and its OAuth client's secret rotate
//! (the old one still works for an overlap, then never), and the robot can be removed, which
//! ends its tokens at once.
//!
//! Removal deletes the robot and its OAuth client in one transaction: the password and
//! refresh_token grants read both consistently, so they refuse at once. Access and refresh tokens
//! are listed under their OAuth client (`keys::oauth_client_tokens`) and deleted after it; the
//! listing is an index (eventual), so the sweep runs twice, a second apart, to catch a token
//! issued in the last moment before the removal.

use crate::clock;
use crate::secrets::{self, Secret};
use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys;
use crate::store::tx::{self, TxError, item};
use crate::store::{Store, StoreError};

/// When the credential a rotation replaced stops working.
pub const PREVIOUS_UNTIL: &str = "previous_until";

/// The attribute that keeps the digest a rotation replaced.
pub fn previous(attribute: &str) -> String {
    format!("previous_{attribute}")
}

/// Which of a robot's credentials to rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The robot's password (`password_digest` on the robot).
    Password,
    /// The OAuth client's secret (`secret_digest` on the OAuth client).
    ClientSecret,
}

/// A tenant's robot as stored: its OAuth client's id. `None` if the tenant has no such robot.
async fn robot_of(
    store: &Store,
    tenant_id: &str,
    username: &str,
) -> Result<Option<String>, StoreError> {
    let Some(robot) = crate::store::get(store, &keys::robot(username), "GetItem robot").await?
    else {
        return Ok(None);
    };
    if attr::get_s(&robot, CLIENT_ID)? != tenant_id {
        return Ok(None);
    }
    attr::get_s(&robot, OAUTH_CLIENT_ID).map(Some)
}

/// Gives a robot a new password or client secret and returns it; the old one keeps working for
/// `overlap_secs` (0: it stops at once). `None` if the tenant has no such robot.
pub async fn rotate(
    store: &Store,
    tenant_id: &str,
    username: &str,
    which: Credential,
    overlap_secs: i64,
) -> Result<Option<Secret>, StoreError> {
    let Some(oauth_client_id) = robot_of(store, tenant_id, username).await? else {
        return Ok(None);
    };
    let (key, attribute) = match which {
        Credential::Password => (keys::robot(username), PASSWORD_DIGEST),
        Credential::ClientSecret => (keys::oauth_client(&oauth_client_id), SECRET_DIGEST),
    };
    let secret = secrets::new_api_token();
    let values = Item::from([
        (":new".to_string(), attr::s(secret.digest().as_str())),
        (
            ":until".to_string(),
            attr::n(clock::now() + overlap_secs.max(0)),
        ),
    ]);
    let expression = format!(
        "SET {previous} = {attribute}, {PREVIOUS_UNTIL} = :until, {attribute} = :new",
        previous = previous(attribute)
    );
    crate::store::update_existing(
        store,
        &key,
        expression,
        values,
        "UpdateItem rotate credential",
    )
    .await?;
    Ok(Some(secret))
}

/// Removes a robot and its OAuth client, then ends every token they hold. `false` if the tenant
/// has no such robot.
pub async fn remove(store: &Store, tenant_id: &str, username: &str) -> Result<bool, TxError> {
    let Some(oauth_client_id) = robot_of(store, tenant_id, username).await? else {
        return Ok(false);
    };
    let table = store.table();
    let gone = vec![
        item::delete(table, &keys::robot(username), None)?,
        item::delete(table, &keys::oauth_client(&oauth_client_id), None)?,
    ];
    tx::transact(store, "TransactWriteItems remove robot", gone).await?;
    for pass in 0..2 {
        if pass > 0 {
            // The listing is an index: a token written just before the removal may show late.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        end_tokens(store, &oauth_client_id).await?;
    }
    Ok(true)
}

/// Deletes every access and refresh token listed under an OAuth client.
async fn end_tokens(store: &Store, oauth_client_id: &str) -> Result<(), StoreError> {
    let partition = keys::oauth_client_tokens(oauth_client_id);
    for listed in crate::store::query_index(store, &partition, "TOKEN#").await? {
        let key = keys::Key {
            pk: attr::get_s(&listed, PK)?,
            sk: attr::get_s(&listed, SK)?,
        };
        crate::store::delete(store, &key, "DeleteItem OAuth token").await?;
    }
    Ok(())
}
