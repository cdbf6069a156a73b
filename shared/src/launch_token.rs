//! The one-time launch token: issued with a launch, traded once for a web session.
//!
//! One use, by the rule of every one-time secret (`one_time`): the token item is deleted by a
//! conditional delete (`one_time::USABLE`) inside the transaction that creates the web session,
//! so of any number of parallel redemptions exactly one wins, and an expired token is refused
//! even while its item is still in the table.

use crate::events::{Event, EventType};
use crate::one_time;
use crate::secrets::{Digest, Secret};
use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys::{self, EXPIRES_AT};
use crate::store::tx::{self, TxError};
use crate::store::{Store, StoreError};
use crate::web_session::{self, WebSession};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// What a token is good for, as stored with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchToken {
    pub digest: Digest,
    /// The API host the launch was made on; the token is redeemed there only.
    pub host: Option<String>,
    pub client_id: String,
    pub launch_id: String,
    pub external_id: String,
    /// Where the browser goes after login, decided at launch time.
    pub next: String,
    pub expires_at: i64,
}

/// A new token and the transaction item that stores it (only its digest).
pub fn issue(
    table: &str,
    host: &str,
    client_id: &str,
    launch_id: &str,
    external_id: &str,
    next: &str,
    ttl_secs: i64,
) -> Result<(Secret, TransactWriteItem), StoreError> {
    let listing = format!("LAUNCHTOKEN#{launch_id}");
    let attributes = Item::from([
        // Listed under the user, so that erasing the user finds it.
        (
            GSI1_PK.to_string(),
            attr::s(keys::user_partition(client_id, external_id)),
        ),
        (GSI1_SK.to_string(), attr::s(listing)),
        (HOST.to_string(), attr::s(host)),
        (CLIENT_ID.to_string(), attr::s(client_id)),
        (LAUNCH_ID.to_string(), attr::s(launch_id)),
        (EXTERNAL_ID.to_string(), attr::s(external_id)),
        (NEXT.to_string(), attr::s(next)),
    ]);
    one_time::issue(table, keys::launch_token, attributes, ttl_secs)
}

/// Like `find_live`, and reads the browser's web session (`old_cookie`) in the same round trip:
/// the token, and the live session the browser already has on this host.
pub async fn find_live_with_session(
    store: &Store,
    token: &str,
    host: &str,
    old_cookie: Option<&str>,
) -> Result<(Option<LaunchToken>, Option<WebSession>), StoreError> {
    let also = old_cookie.and_then(web_session::key_of);
    let (found, items) = one_time::find_usable_with(
        store,
        token,
        keys::launch_token,
        also,
        "GetItem launch token",
    )
    .await?;
    let token = found
        .map(|(digest, record)| from_item(digest, &record))
        .transpose()?
        .filter(|t| t.host.as_deref().is_none_or(|h| h == host));
    let signed_in = match old_cookie {
        Some(cookie) => web_session::live_among(&items, cookie, host)?,
        None => None,
    };
    Ok((token, signed_in))
}

fn from_item(digest: Digest, record: &Item) -> Result<LaunchToken, StoreError> {
    Ok(LaunchToken {
        digest,
        host: attr::opt_s(record, HOST)?,
        client_id: attr::get_s(record, CLIENT_ID)?,
        launch_id: attr::get_s(record, LAUNCH_ID)?,
        external_id: attr::get_s(record, EXTERNAL_ID)?,
        next: attr::get_s(record, NEXT)?,
        expires_at: attr::get_n(record, EXPIRES_AT)?,
    })
}

/// The transaction item that uses the token up: it fails unless the token is still live.
pub fn consume(table: &str, token: &LaunchToken) -> Result<TransactWriteItem, StoreError> {
    one_time::consume(table, &keys::launch_token(token.digest.as_str()))
}

/// Uses the token and starts a web session in one transaction, with `launch.redeemed`, ending
/// the browser's old session too (every login gets a fresh id). `None` if another redemption
/// won or the token expired meanwhile.
pub async fn redeem(
    store: &Store,
    (token, host): (&LaunchToken, &str),
    old_cookie: Option<&str>,
    session_ttl_secs: i64,
) -> Result<Option<Secret>, TxError> {
    let table = store.table();
    let (session, session_item) = web_session::start(
        table,
        (host, &token.client_id, &token.external_id),
        &web_session::Origin::Launch(token.launch_id.clone()),
        session_ttl_secs,
    )?;
    let redeemed = Event::new(
        EventType::LaunchRedeemed,
        &token.client_id,
        serde_json::json!({"launch_id": token.launch_id, "user_id": token.external_id}),
    );
    let mut items = vec![
        consume(table, token)?,
        session_item,
        redeemed.outbox(table)?,
        crate::disable::not_disabled(table, &token.client_id)?,
    ];
    items.extend(web_session::end_old(table, old_cookie)?);
    match tx::transact(store, "TransactWriteItems redeem launch token", items).await {
        Ok(()) => Ok(Some(session)),
        // Another redemption won (the token's use), or the tenant is disabled.
        Err(TxError::Condition { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
