//! A launch sent again with its idempotency key (`idempotency`): the same launch, never a second
//! one, with a fresh one-time URL. The first URL's token is stored only as its digest, so it
//! cannot be said again; the replay issues a new token and retires the one the record names, in
//! one transaction, so a launch never has two live links.

use super::login_url;
use crate::config::Domain;
use crate::idempotency::{Claim, Seen};
use crate::launch_token;
use crate::secrets::{Digest, Secret};
use crate::store::attr::{self, Item};
use crate::store::conditions::{EXISTS, NOW};
use crate::store::fields::*;
use crate::store::keys;
use crate::store::tx::{self, TxError, item};
use crate::store::{Store, StoreError};

/// What a launch's idempotency record keeps to replay it.
#[derive(Debug, Clone)]
pub struct Kept {
    pub launch_id: String,
    /// The launch's current token (the last one issued for it).
    pub token_digest: Digest,
    pub external_id: String,
    pub next: String,
}

impl Kept {
    pub fn attributes(&self) -> Item {
        Item::from([
            (LAUNCH_ID.to_string(), attr::s(&self.launch_id)),
            (
                TOKEN_DIGEST.to_string(),
                attr::s(self.token_digest.as_str()),
            ),
            (EXTERNAL_ID.to_string(), attr::s(&self.external_id)),
            (NEXT.to_string(), attr::s(&self.next)),
        ])
    }

    fn from_record(record: &Item) -> Result<Self, StoreError> {
        Ok(Kept {
            launch_id: attr::get_s(record, LAUNCH_ID)?,
            token_digest: Digest::from_stored(attr::get_s(record, TOKEN_DIGEST)?),
            external_id: attr::get_s(record, EXTERNAL_ID)?,
            next: attr::get_s(record, NEXT)?,
        })
    }
}

#[derive(Debug)]
pub enum Replayed {
    /// The first request's launch, with a new one-time URL.
    Again {
        launch_id: String,
        url: String,
        token: Secret,
    },
    /// The launch no longer exists (its user was erased) or the key has just expired.
    Gone,
}

/// Replays the launch that `record` (the key's record as read) names, for tenant `client_id`
/// on `domain`, with a token that lives `token_ttl_secs`.
pub async fn replay(
    store: &Store,
    (client_id, domain): (&str, &Domain),
    claim: &Claim,
    mut record: Item,
    token_ttl_secs: i64,
) -> Result<Replayed, TxError> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            // Jittered: replays that lost to each other must not read and collide again in step.
            let cap_ms = 4u64 << attempt.min(5);
            let pause = rand::Rng::random_range(&mut rand::rng(), 1..=cap_ms);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        let kept = Kept::from_record(&record)?;
        let (token, items) = items(
            store.table(),
            (client_id, &domain.host),
            claim,
            &kept,
            token_ttl_secs,
        )?;
        match tx::transact(store, "TransactWriteItems replay launch", items).await {
            Ok(()) => {
                return Ok(Replayed::Again {
                    url: login_url(domain, &token, &kept.next),
                    launch_id: kept.launch_id,
                    token,
                });
            }
            Err(TxError::Condition {
                index: LAUNCH_CHECK,
            }) => return Ok(Replayed::Gone),
            // A concurrent replay issued a newer token: read the record again and replace that.
            Err(TxError::Condition { .. }) => match claim.read(store, client_id).await? {
                Seen::Same(again) => record = again,
                Seen::New | Seen::Different => return Ok(Replayed::Gone),
            },
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable {
        op: "TransactWriteItems replay launch",
        detail: "concurrent replays kept replacing the token".into(),
    }
    .into())
}

/// Replays a request makes before it gives up (each loses only to another replay's success: of
/// n concurrent replays the last may lose n - 1 times; 12 at once lost more than 8 in 5 of 12
/// test runs).
const MAX_ATTEMPTS: u32 = 32;
/// The index of the check that the launch still exists in the replay's transaction.
const LAUNCH_CHECK: usize = 3;

/// The new token, the record naming it (if it still names the old one), the old token retired,
/// and the check that the launch still exists.
fn items(
    table: &str,
    (client_id, host): (&str, &str),
    claim: &Claim,
    kept: &Kept,
    token_ttl_secs: i64,
) -> Result<(Secret, Vec<aws_sdk_dynamodb::types::TransactWriteItem>), StoreError> {
    let (token, issued) = launch_token::issue(
        table,
        host,
        client_id,
        &kept.launch_id,
        &kept.external_id,
        &kept.next,
        token_ttl_secs,
    )?;
    let now = crate::clock::now();
    let renamed = item::update_if(
        table,
        &claim.key,
        "SET token_digest = :new",
        Item::from([
            (":new".to_string(), attr::s(token.digest().as_str())),
            (":old".to_string(), attr::s(kept.token_digest.as_str())),
            (NOW.to_string(), attr::n(now)),
        ]),
        None,
        "token_digest = :old AND expires_at > :now",
    )?;
    let retired = item::delete(table, &keys::launch_token(kept.token_digest.as_str()), None)?;
    let exists = item::condition_check(table, &keys::launch(&kept.launch_id), EXISTS)?;
    Ok((token, vec![renamed, issued, retired, exists]))
}

/// A launch with an idempotency key, as it turned out.
#[derive(Debug)]
pub enum Once {
    /// The key was new: the launch was done now (or refused, as any launch can be).
    Done(super::LaunchOutcome),
    /// The key was used with this request: its launch again.
    Replayed(Replayed),
    /// The key was used with another request.
    Reused,
}

/// Launches once per key: replays the launch the key's record (`record`, read with the API
/// token) names, or launches and records the key in the launch's transaction; a concurrent
/// request that records it first turns this one into a replay.
pub async fn launch_once(
    store: &Store,
    config: &crate::config::Config,
    (client, domain): (&crate::api_client::ApiClient, &Domain),
    launch: &super::payload::LaunchPayload,
    (claim, record): (&Claim, Option<&Item>),
) -> Result<Once, TxError> {
    let ttl = config.launch_token_ttl_secs;
    let seen = match claim.seen(record, &client.id, crate::clock::now()) {
        Seen::New => {
            match super::create(store, config, (client, domain), launch, Some(claim)).await? {
                super::LaunchOutcome::KeyTaken => claim.read(store, &client.id).await?,
                done => return Ok(Once::Done(done)),
            }
        }
        seen => seen,
    };
    match seen {
        Seen::Same(record) => Ok(Once::Replayed(
            replay(store, (&client.id, domain), claim, record, ttl).await?,
        )),
        Seen::Different => Ok(Once::Reused),
        // Recorded by a concurrent request and expired at once: only with a lifetime of 0.
        Seen::New => Ok(Once::Replayed(Replayed::Gone)),
    }
}
