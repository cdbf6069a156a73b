//! Web sessions: what the session cookie stands for. A fresh id at every login.

use crate::clock;
use crate::secrets::{self, Digest, Secret};
use crate::store::attr::{self, Item};
use crate::store::conditions::ABSENT;
use crate::store::fields::*;
use crate::store::keys::{self, EXPIRES_AT};
use crate::store::tx::item;
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::TransactWriteItem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// The API host it was started on: it is good there only (`None`: started before hosts
    /// were recorded, good on any host of its tenant).
    pub host: Option<String>,
    pub client_id: String,
    pub external_id: String,
    pub origin: Origin,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What the browser logged in through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Launch(String),
    WorkshopSession(String),
}

impl Origin {
    /// The key of the item the browser logged in through.
    pub fn key(&self) -> keys::Key {
        match self {
            Origin::Launch(id) => keys::launch(id),
            Origin::WorkshopSession(name) => keys::workshop_session(name),
        }
    }

    fn attribute(&self) -> (&'static str, &str) {
        match self {
            Origin::Launch(id) => ("launch_id", id),
            Origin::WorkshopSession(name) => ("workshop_session", name),
        }
    }
}

/// A new session id and the transaction item that stores the session under its digest.
pub fn start(
    table: &str,
    (host, client_id, external_id): (&str, &str, &str),
    origin: &Origin,
    ttl_secs: i64,
) -> Result<(Secret, TransactWriteItem), StoreError> {
    let secret = secrets::new_url_token();
    let mut record = keys::web_session(secret.digest().as_str()).item();
    let (origin_name, origin_value) = origin.attribute();
    record.extend([
        (HOST.to_string(), attr::s(host)),
        // Listed under the user, so that erasing the user finds it.
        (
            GSI1_PK.to_string(),
            attr::s(keys::user_partition(client_id, external_id)),
        ),
        (
            GSI1_SK.to_string(),
            attr::s(format!("WEBSESSION#{}", secret.digest().as_str())),
        ),
        (CLIENT_ID.to_string(), attr::s(client_id)),
        (EXTERNAL_ID.to_string(), attr::s(external_id)),
        (origin_name.to_string(), attr::s(origin_value)),
        (CREATED_AT.to_string(), attr::n(clock::now())),
        (
            EXPIRES_AT.to_string(),
            attr::n(clock::expiry_after(ttl_secs)),
        ),
    ]);
    Ok((secret, item::put(table, record, Some(ABSENT))?))
}

/// The key of the session a cookie names, if it has a session's shape.
pub fn key_of(cookie: &str) -> Option<keys::Key> {
    secrets::is_url_token_shape(cookie).then(|| keys::web_session(Digest::of(cookie).as_str()))
}

/// The live session a cookie names among items already read, on API host `host`.
pub fn live_among(
    found: &[Item],
    cookie: &str,
    host: &str,
) -> Result<Option<WebSession>, StoreError> {
    let Some(record) = key_of(cookie).and_then(|key| crate::store::find(found, &key)) else {
        return Ok(None);
    };
    if !crate::one_time::is_usable(record, clock::now())? {
        return Ok(None);
    }
    let session = from_item(record)?;
    Ok(Some(session).filter(|s| s.host.as_deref().is_none_or(|h| h == host)))
}

/// The transaction item that ends the session a cookie names (a no-op if there is none).
pub fn end(table: &str, cookie: &str) -> Result<TransactWriteItem, StoreError> {
    item::delete(table, &keys::web_session(Digest::of(cookie).as_str()), None)
}

/// The transaction item that ends the session a browser had before it logs in again, if its
/// cookie has a session's shape.
pub fn end_old(table: &str, cookie: Option<&str>) -> Result<Option<TransactWriteItem>, StoreError> {
    cookie
        .filter(|c| secrets::is_url_token_shape(c))
        .map(|c| end(table, c))
        .transpose()
}

/// The live session a cookie names on API host `host`; `None` for unknown, malformed, expired
/// or started on another host alike (a session is good only on the host that started it).
pub async fn find_live(
    store: &Store,
    cookie: &str,
    host: &str,
) -> Result<Option<WebSession>, StoreError> {
    let found =
        crate::one_time::find_usable(store, cookie, keys::web_session, "GetItem web session")
            .await?;
    let session = found.map(|(_, record)| from_item(&record)).transpose()?;
    Ok(session.filter(|s| s.host.as_deref().is_none_or(|h| h == host)))
}

fn from_item(record: &Item) -> Result<WebSession, StoreError> {
    Ok(WebSession {
        host: attr::opt_s(record, HOST)?,
        client_id: attr::get_s(record, CLIENT_ID)?,
        external_id: attr::get_s(record, EXTERNAL_ID)?,
        origin: match attr::opt_s(record, LAUNCH_ID)? {
            Some(id) => Origin::Launch(id),
            None => Origin::WorkshopSession(attr::get_s(record, WORKSHOP_SESSION)?),
        },
        created_at: attr::get_n(record, CREATED_AT)?,
        expires_at: attr::get_n(record, EXPIRES_AT)?,
    })
}

/// Logs out: deletes the session a cookie names.
pub async fn delete(store: &Store, cookie: &str) -> Result<(), StoreError> {
    if !secrets::is_url_token_shape(cookie) {
        return Ok(());
    }
    let key = keys::web_session(Digest::of(cookie).as_str());
    crate::store::delete(store, &key, "DeleteItem web session").await
}
