//! One-time secrets: launch tokens, workshop activation tokens and OAuth refresh tokens. The
//! rule, for all three:
//! - **issue**: a random URL-safe secret; only its SHA-256 digest is stored, with an expiry
//!   (`record`), in a new item keyed by the digest (`issue`) or on the item it opens (an
//!   activation token on its session);
//! - **find**: a presented secret of the wrong shape is never looked up (`digest_of`), and a
//!   stored one past its expiry counts as absent even while TTL has not deleted it
//!   (`is_usable`: TTL deletes late, and DynamoDB Local never);
//! - **consume**: used up by a conditional write inside the transaction that grants what it is
//!   for, whose condition (`USABLE`, or `DIGEST_MATCHES` on the item it opens) fails for a used
//!   or expired secret: of any number of parallel uses exactly one wins.

use crate::clock;
use crate::secrets::{self, Digest, Secret};
use crate::store::attr::{self, Item};
use crate::store::conditions::{self, ABSENT, LIVE, NOW};
use crate::store::fields::*;
use crate::store::keys::{EXPIRES_AT, Key};
use crate::store::tx::item;
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// The condition under which a secret's own item may be used up: it exists and has not expired.
pub const USABLE: &str = LIVE;

/// The condition under which a secret kept on the item it opens may be used up: the stored
/// digest is the presented one (`:digest`). The caller adds the item's own liveness.
pub const DIGEST_MATCHES: &str = "token_digest = :digest";

/// The item of an issued secret: `key` with `attributes`, `created_at` and its expiry.
pub fn record(key: Key, attributes: Item, ttl_secs: i64) -> Item {
    let mut record = key.item();
    record.extend(attributes);
    record.insert(CREATED_AT.into(), attr::n(clock::now()));
    record.insert(EXPIRES_AT.into(), attr::n(clock::expiry_after(ttl_secs)));
    record
}

/// A new secret and the transaction item that stores its digest under `key_of(digest)`.
pub fn issue(
    table: &str,
    key_of: impl FnOnce(&str) -> Key,
    attributes: Item,
    ttl_secs: i64,
) -> Result<(Secret, TransactWriteItem), StoreError> {
    let secret = secrets::new_url_token();
    let stored = record(key_of(secret.digest().as_str()), attributes, ttl_secs);
    Ok((secret, item::put(table, stored, Some(ABSENT))?))
}

/// The digest of a presented secret, if it has the shape of one we issue; else nothing to look up.
pub fn digest_of(presented: &str) -> Option<Digest> {
    secrets::is_url_token_shape(presented).then(|| Digest::of(presented))
}

/// The item a presented secret names, if it has a secret's shape and is still usable at `now`
/// (strongly consistent), with the secret's digest; `None` for malformed, unknown, used or
/// expired alike. `key_of` builds the item's key from the digest.
pub async fn find_usable(
    store: &Store,
    presented: &str,
    key_of: impl FnOnce(&str) -> Key,
    op: &'static str,
) -> Result<Option<(Digest, Item)>, StoreError> {
    let Some(digest) = digest_of(presented) else {
        return Ok(None);
    };
    let Some(record) = crate::store::get(store, &key_of(digest.as_str()), op).await? else {
        return Ok(None);
    };
    Ok(is_usable(&record, clock::now())?.then_some((digest, record)))
}

/// Like `find_usable`, and reads `also` in the same round trip (one `BatchGetItem`; a plain
/// `GetItem` without it): the items found besides.
pub async fn find_usable_with(
    store: &Store,
    presented: &str,
    key_of: impl FnOnce(&str) -> Key,
    also: Option<Key>,
    op: &'static str,
) -> Result<(Option<(Digest, Item)>, Vec<Item>), StoreError> {
    let Some(also) = also else {
        return Ok((find_usable(store, presented, key_of, op).await?, Vec::new()));
    };
    let Some(digest) = digest_of(presented) else {
        let found = crate::store::batch_get(store, std::slice::from_ref(&also)).await?;
        return Ok((None, found));
    };
    let key = key_of(digest.as_str());
    let found = crate::store::batch_get(store, &[key.clone(), also]).await?;
    let record = crate::store::find(&found, &key).cloned();
    let usable = match record {
        Some(record) if is_usable(&record, clock::now())? => Some((digest, record)),
        _ => None,
    };
    Ok((usable, found))
}

/// Whether a stored secret's item is still usable at `now` (the read-side twin of `USABLE`).
pub fn is_usable(record: &Item, now: i64) -> Result<bool, StoreError> {
    Ok(conditions::is_live(attr::get_n(record, EXPIRES_AT)?, now))
}

/// Whether a presented secret is the one whose digest is kept on the item it opens.
pub fn matches_kept(kept: Option<&str>, presented: &str) -> bool {
    secrets::is_url_token_shape(presented) && kept.is_some_and(|d| secrets::matches(presented, d))
}

/// The transaction item that uses a secret's own item up: it fails unless it is still usable.
pub fn consume(table: &str, key: &Key) -> Result<TransactWriteItem, StoreError> {
    let values = Item::from([(NOW.to_string(), conditions::now_value(clock::now()))]);
    item::delete(table, key, Some((USABLE, values)))
}
