//! Idempotency keys: a request sent again with the same `Idempotency-Key` (an LMS retrying a
//! launch after a timeout) gets the first request's result instead of doing it twice. The rule:
//! - a key is 1 to 255 visible ASCII characters, scoped to its sender (`scope`: the API token
//!   for a launch, the tenant for a session request) and kept only as its digest;
//! - its record is written **inside the transaction that does the work**, by a condition that
//!   the key is new (or its record past its lifetime), so of any number of concurrent requests
//!   with one key exactly one does the work and the others find its record and replay it;
//! - the record holds the digest of the request (its JSON body with keys in order): the same key
//!   with another request is refused (422), never replayed;
//! - a record lives `LIFETIME_SECS`; past that it counts as absent whether or not TTL has
//!   removed it (TTL is not expiry), and nothing depends on it existing afterwards.

use crate::clock;
use crate::secrets::Digest;
use crate::store::attr::{self, Item};
use crate::store::conditions::{self, NOW};
use crate::store::fields::*;
use crate::store::keys::{self, EXPIRES_AT, Key};
use crate::store::tx::item;
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header that marks a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const LIFETIME_SECS: i64 = 24 * 3600;
/// Why a key was refused (400).
pub const INVALID: &str = "Idempotency-Key must be 1 to 255 visible ASCII characters.";
/// Why a reused key was refused (422).
pub const REUSED: &str =
    "This Idempotency-Key was used with a different request in the last 24 hours.";

/// The key is new, or its record has outlived `LIFETIME_SECS` (TTL may not have removed it).
const NEW_OR_EXPIRED: &str = "attribute_not_exists(pk) OR expires_at <= :now";

/// The key a request carries (the header's raw bytes: a value that is not visible ASCII is
/// refused, not ignored): `Ok(None)` without one, `Err` for a malformed one.
pub fn presented(header: Option<&[u8]>) -> Result<Option<&str>, &'static str> {
    let Some(raw) = header else {
        return Ok(None);
    };
    let visible = (1..=255).contains(&raw.len()) && raw.iter().all(u8::is_ascii_graphic);
    match std::str::from_utf8(raw) {
        Ok(key) if visible => Ok(Some(key)),
        _ => Err(INVALID),
    }
}

/// The digest of a JSON request: the same for the same content whatever the order of its keys
/// (serde_json's map is ordered by key, and a unit test holds that).
pub fn request_digest(request: &serde_json::Value) -> String {
    Digest::of(&request.to_string()).as_str().to_string()
}

/// A request's claim on its key: where the key's record is and what request it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub key: Key,
    pub request: String,
}

impl Claim {
    pub fn new(scope: &str, key: &str, request: String) -> Self {
        Claim {
            key: keys::idempotency(scope, Digest::of(key).as_str()),
            request,
        }
    }

    /// The transaction item that records the key with `attributes` (what a replay needs), on
    /// the condition that the key is new: it fails if a concurrent request claimed it first.
    pub fn record(
        &self,
        table: &str,
        client_id: &str,
        attributes: Item,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut record = self.key.item();
        record.extend(attributes);
        record.extend([
            (REQUEST_DIGEST.to_string(), attr::s(&self.request)),
            (CLIENT_ID.to_string(), attr::s(client_id)),
            (CREATED_AT.to_string(), attr::n(now)),
            (EXPIRES_AT.to_string(), attr::n(now + LIFETIME_SECS)),
        ]);
        let values = Item::from([(NOW.to_string(), conditions::now_value(now))]);
        item::put_if(table, record, NEW_OR_EXPIRED, values)
    }

    /// What the key's record, as read, says about this request.
    pub fn seen(&self, record: Option<&Item>, client_id: &str, now: i64) -> Seen {
        let live = record.filter(|r| {
            attr::opt_n(r, EXPIRES_AT)
                .ok()
                .flatten()
                .is_some_and(|at| conditions::is_live(at, now))
                && attr::opt_s(r, CLIENT_ID).ok().flatten().as_deref() == Some(client_id)
        });
        match live {
            None => Seen::New,
            Some(r)
                if attr::opt_s(r, REQUEST_DIGEST).ok().flatten().as_deref()
                    == Some(&self.request) =>
            {
                Seen::Same(r.clone())
            }
            Some(_) => Seen::Different,
        }
    }

    /// Reads the key's record (strongly consistent: after a lost race, the winner's record).
    pub async fn read(&self, store: &Store, client_id: &str) -> Result<Seen, StoreError> {
        let record = crate::store::get(store, &self.key, "GetItem idempotency key").await?;
        Ok(self.seen(record.as_ref(), client_id, clock::now()))
    }
}

/// A key as its record says.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// Never used (or past its lifetime): do the work, and record the key with it.
    New,
    /// Used with this request: replay the first answer from the record.
    Same(Item),
    /// Used with another request: refuse.
    Different,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert_eq!(presented(None), Ok(None));
        assert_eq!(presented(Some(b"retry-1")), Ok(Some("retry-1")));
        let longest = "k".repeat(255);
        assert_eq!(
            presented(Some(longest.as_bytes())),
            Ok(Some(longest.as_str()))
        );
        let too_long = "k".repeat(256);
        for bad in [
            &b""[..],
            b"two words",
            b"tab\there",
            "é".as_bytes(),
            b"\xff",
            too_long.as_bytes(),
        ] {
            assert_eq!(presented(Some(bad)), Err(INVALID), "{bad:?}");
        }
    }

    #[test]
    fn the_request_digest_ignores_key_order_but_not_content() {
        let a = request_digest(&json!({"user_id": "u1", "content_id": "c", "teams": ["x", "y"]}));
        let b = request_digest(
            &serde_json::from_str(r#"{"teams":["x","y"],"content_id":"c","user_id":"u1"}"#)
                .unwrap(),
        );
        assert_eq!(a, b);
        let c = request_digest(&json!({"user_id": "u1", "content_id": "c", "teams": ["y", "x"]}));
        assert_ne!(a, c);
    }

    #[test]
    fn a_record_counts_only_while_live_and_for_its_own_tenant() {
        let claim = Claim::new("TOKEN.t", "k", "digest".into());
        let record = |request: &str, client: &str, expires: i64| {
            let mut r = claim.key.item();
            r.insert(REQUEST_DIGEST.into(), attr::s(request));
            r.insert(CLIENT_ID.into(), attr::s(client));
            r.insert(EXPIRES_AT.into(), attr::n(expires));
            r
        };
        assert_eq!(claim.seen(None, "c1", 100), Seen::New);
        let same = record("digest", "c1", 101);
        assert_eq!(claim.seen(Some(&same), "c1", 100), Seen::Same(same.clone()));
        assert_eq!(
            claim.seen(Some(&record("other", "c1", 101)), "c1", 100),
            Seen::Different
        );
        assert_eq!(
            claim.seen(Some(&record("digest", "c1", 100)), "c1", 100),
            Seen::New
        );
        assert_eq!(
            claim.seen(Some(&record("digest", "c2", 101)), "c1", 100),
            Seen::New
        );
    }
}
