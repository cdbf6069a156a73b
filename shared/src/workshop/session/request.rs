//! A session request: the user's live session in the environment again (reuse, with a fresh
//! activation token) or a new one in a free slot (allocation). Capacity, the per-user limit and
//! "one live session per user and environment" are conditions of the one transaction.

use super::user_map::{self, UserSession, UserSessions};
use super::{
    ENDED, LIVE_SESSION, PENDING, SET_DEADLINE, WorkshopSession, deadline_values, retain_until,
};
use crate::api_client::ApiClient;
use crate::clock;
use crate::events::EventType;
use crate::idempotency::{Claim, Seen};
use crate::secrets::{self, Secret};
use crate::store::attr::{self, Item};
use crate::store::conditions::{ABSENT, NOW};
use crate::store::fields::*;
use crate::store::keys;
use crate::store::tx::{self, TxError, item, names};
use crate::store::{Store, StoreError};
use crate::workshop::environment::Environment;
use crate::workshop::slot::{self, Slot};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// How often a request re-reads after losing a race before it gives up with "unavailable".
const MAX_ATTEMPTS: u32 = 40;

/// What a caller asks for (validated by the handler).
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    pub user: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Reacquire only this session; never allocate.
    pub session: Option<String>,
    /// Activation deadline in seconds; 0: none.
    pub timeout_secs: i64,
    pub index_url: String,
    pub analytics_url: Option<String>,
    pub parameters: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum RequestOutcome {
    Granted {
        session: String,
        /// The session's user: the one asked for, or on a replay the first request's.
        user: String,
        token: Secret,
        /// The answer replays an earlier request with the same idempotency key.
        replayed: bool,
        /// A slot was claimed for a new session (not a returning user's live one).
        allocated: bool,
    },
    Unavailable,
    /// The idempotency key was used with another request.
    Reused,
    /// A condition of the caller's own items (`request_with`) did not hold: nothing written.
    AlsoRefused,
}

/// Returns the user's live session in the environment with a fresh activation token, or
/// allocates a new one: capacity and the per-user limit are conditions of the transaction.
///
/// `environment` is the tenant's own, read by the caller (with the robot's token, in one
/// round trip). A returning user's request then reads only the user's sessions before its
/// transaction; the environment's slots are read only when a new session is allocated.
///
/// With an idempotency key (`claim`), its record is read with the user's sessions and written
/// in the transaction: a request sent again gets the first request's session (for the first
/// request's user) with a fresh activation token, and never allocates another.
///
/// `prefetched`: the user's item and the key's record, already read for this tenant and user
/// (with the robot's token): the first attempt reads nothing more about the user.
pub async fn request(
    store: &Store,
    tenant: &ApiClient,
    environment: &Environment,
    ask: &SessionRequest,
    (claim, prefetched): (Option<&Claim>, Option<&[Item]>),
) -> Result<RequestOutcome, TxError> {
    request_with(store, (tenant, environment), ask, (claim, prefetched), &[]).await
}

/// `request`, with `also` written in the same transaction on their own conditions (an LTI
/// launch's nonce): if one of them does not hold, nothing is written (`AlsoRefused`).
pub async fn request_with(
    store: &Store,
    (tenant, environment): (&ApiClient, &Environment),
    ask: &SessionRequest,
    (claim, prefetched): (Option<&Claim>, Option<&[Item]>),
    also: &[aws_sdk_dynamodb::types::TransactWriteItem],
) -> Result<RequestOutcome, TxError> {
    // What was read of the user, kept when only the slot was lost (another request claimed it):
    // the next attempt picks another slot without reading the user again.
    let mut kept_read = None;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            backoff(attempt).await;
        }
        let fetched = prefetched.filter(|_| attempt == 0);
        let read = match kept_read.take() {
            Some(read) => read,
            None => match read_user(store, &tenant.id, ask, (claim, fetched)).await? {
                Some(read) => read,
                None => return Ok(RequestOutcome::Reused),
            },
        };
        let (asked, user, replayed) = &read;
        let plan = plan(store, tenant, environment, (asked, user), attempt > 0).await?;
        let Some((session, token, mut items, allocating)) = plan else {
            return Ok(RequestOutcome::Unavailable);
        };
        if let (Some(claim), false) = (claim, replayed) {
            let kept = Item::from([
                (SESSION.to_string(), attr::s(&session)),
                (USER.to_string(), attr::s(&asked.user)),
            ]);
            items.push(claim.record(store.table(), &tenant.id, kept, clock::now())?);
        }
        let also_at = items.len();
        items.extend(also.iter().cloned());
        match tx::transact(store, "TransactWriteItems workshop session request", items).await {
            Ok(()) => {
                return Ok(RequestOutcome::Granted {
                    session,
                    user: asked.user.clone(),
                    token,
                    replayed: *replayed,
                    allocated: allocating,
                });
            }
            Err(TxError::Condition { index }) if index >= also_at => {
                return Ok(RequestOutcome::AlsoRefused);
            }
            // Another request claimed the slot first: pick another.
            Err(TxError::Condition { index: 0 }) if allocating => kept_read = Some(read),
            // Another request changed the user's map or used the key: read again.
            Err(TxError::Condition { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    tracing::warn!(
        environment = environment.name,
        "session request lost every race"
    );
    Ok(RequestOutcome::Unavailable)
}

/// What a request reads before it plans: the user's sessions, and with an idempotency key, what
/// its record says. The request as it will be planned (a replay asks for the first request's
/// session, for the first request's user), the user's sessions, and whether it replays; `None`
/// if the key was used with another request.
async fn read_user(
    store: &Store,
    tenant_id: &str,
    ask: &SessionRequest,
    (claim, fetched): (Option<&Claim>, Option<&[Item]>),
) -> Result<Option<(SessionRequest, UserSessions, bool)>, StoreError> {
    let user_key = keys::user(tenant_id, &ask.user);
    let Some(claim) = claim else {
        let user = match fetched {
            Some(found) => user_map::from_found(found, &user_key)?,
            None => user_map::read(store, tenant_id, &ask.user).await?,
        };
        return Ok(Some((ask.clone(), user, false)));
    };
    let (user, record) = match fetched {
        Some(found) => (
            user_map::from_found(found, &user_key)?,
            crate::store::find(found, &claim.key).cloned(),
        ),
        None => user_map::read_with(store, tenant_id, &ask.user, &claim.key).await?,
    };
    match claim.seen(record.as_ref(), tenant_id, clock::now()) {
        Seen::New => Ok(Some((ask.clone(), user, false))),
        Seen::Different => Ok(None),
        Seen::Same(record) => {
            let replay = SessionRequest {
                user: attr::get_s(&record, USER)?,
                session: Some(attr::get_s(&record, SESSION)?),
                ..ask.clone()
            };
            // Without a `user`, the first request chose one at random.
            let user = if replay.user == ask.user {
                user
            } else {
                user_map::read(store, tenant_id, &replay.user).await?
            };
            Ok(Some((replay, user, true)))
        }
    }
}

/// Jittered backoff: racing requests must not re-read and collide again in step.
async fn backoff(attempt: u32) {
    let cap_ms = 4u64 << attempt.min(5);
    let pause = rand::Rng::random_range(&mut rand::rng(), 1..=cap_ms);
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}

/// What one attempt would write, from fresh reads: the user's live session in the environment
/// renewed, or a new one in a free slot; `None` if the request cannot be granted.
async fn plan(
    store: &Store,
    tenant: &ApiClient,
    environment: &Environment,
    (ask, user): (&SessionRequest, &UserSessions),
    spread: bool,
) -> Result<Option<Plan>, TxError> {
    let now = clock::now();
    let existing = user
        .live(now)
        .find(|(_, s)| s.environment == environment.name)
        .map(|(name, s)| (name.clone(), s.clone()));
    let table = store.table();
    match (existing, &ask.session) {
        (Some((name, _)), Some(wanted)) if &name != wanted => Ok(None),
        (Some((name, held)), _) => Ok(Some(reuse(
            table,
            environment,
            user,
            ask,
            &name,
            &held,
            now,
        )?)),
        (None, Some(_)) => Ok(None),
        (None, None) => {
            let limit = environment.user_limit;
            if limit > 0 && user.live(now).count() as i64 >= limit {
                return Ok(None);
            }
            let (name, capacity) = (&environment.name, environment.capacity);
            let Some(slot) = slot::candidate(store, name, (capacity, now), spread).await? else {
                return Ok(None);
            };
            Ok(Some(allocate(
                table,
                tenant,
                environment,
                user,
                ask,
                slot,
                now,
            )?))
        }
    }
}

/// The session, its activation token, the transaction's items (the slot's claim first when
/// allocating), and whether it allocates.
type Plan = (String, Secret, Vec<TransactWriteItem>, bool);

fn pending_until(ask: &SessionRequest, env_duration: i64, now: i64) -> i64 {
    let wait = match (ask.timeout_secs, env_duration) {
        (0, 0) => crate::config::MAX_ACTIVATION_TIMEOUT_SECS,
        (0, duration) => duration,
        (timeout, _) => timeout,
    };
    now + 1 + wait.min(crate::config::MAX_ACTIVATION_TIMEOUT_SECS)
}

fn reuse(
    table: &str,
    environment: &Environment,
    user: &UserSessions,
    ask: &SessionRequest,
    name: &str,
    held: &UserSession,
    now: i64,
) -> Result<Plan, StoreError> {
    let token = secrets::new_url_token();
    let until = if held.state == PENDING {
        // A pending session's deadline restarts from now.
        pending_until(ask, environment.duration_secs, now)
    } else {
        held.until
    };
    let mut items = vec![renew(table, name, held, &token, until, now)?];
    if held.state == PENDING {
        let holder = slot::Holder {
            environment: &environment.name,
            index: slot::slot_of(name),
            session: name,
        };
        items.push(slot::hold_until(table, holder, until)?);
    }
    let entry = UserSession {
        until,
        ..held.clone()
    };
    let sessions = user.with(now, name, entry);
    let tenant_id = &environment.client_id;
    items.push(user_map::update(
        table, tenant_id, ask, user, sessions, now,
    )?);
    Ok((name.to_string(), token, items, false))
}

/// A live session's new activation token, and its deadline (`until`), if still in the state read.
fn renew(
    table: &str,
    name: &str,
    held: &UserSession,
    token: &Secret,
    until: i64,
    now: i64,
) -> Result<TransactWriteItem, StoreError> {
    let mut values = Item::from([
        (":digest".to_string(), attr::s(token.digest().as_str())),
        (":until".to_string(), attr::n(until)),
        (":retain".to_string(), attr::n(retain_until(until))),
        (":ended".to_string(), attr::s(ENDED)),
        (NOW.to_string(), attr::n(now)),
        (":state".to_string(), attr::s(&held.state)),
    ]);
    values.extend(deadline_values(until, name));
    item::update_if(
        table,
        &keys::workshop_session(name),
        format!(
            "SET token_digest = :digest, #until = :until, expires_at = :retain, {SET_DEADLINE}"
        ),
        values,
        Some(names(&[("#state", STATE), ("#until", UNTIL)])),
        &format!("{LIVE_SESSION} AND #state = :state"),
    )
}

fn allocate(
    table: &str,
    tenant: &ApiClient,
    env: &Environment,
    user: &UserSessions,
    ask: &SessionRequest,
    (slot, generation): (i64, i64),
    now: i64,
) -> Result<Plan, StoreError> {
    let token = secrets::new_url_token();
    let name = slot::session_name(&env.name, slot, generation);
    let until = pending_until(ask, env.duration_secs, now);
    let session = pending_session(tenant, env, ask, (&name, slot), &token, until);
    let held = Slot {
        index: slot,
        generation: generation + 1,
        session: name.clone(),
        user: ask.user.clone(),
        state: PENDING.to_string(),
        started: None,
        held_until: until,
    };
    let entry = UserSession {
        environment: env.name.clone(),
        workshop: env.workshop.name.clone(),
        state: PENDING.to_string(),
        started: None,
        until,
    };
    let sessions = user.with(now, &name, entry);
    let items = vec![
        // Of racing requests for this slot exactly one wins; the others read again.
        slot::claim(table, &env.name, &held, generation, now)?,
        item::put(table, session.to_item(now), Some(ABSENT))?,
        user_map::update(table, &tenant.id, ask, user, sessions, now)?,
        session
            .event(EventType::SessionAllocated, serde_json::json!({}))
            .outbox(table)?,
    ];
    Ok((name, token, items, true))
}

/// A new session, waiting for activation until `until`, in slot `slot` as `name`.
fn pending_session(
    tenant: &ApiClient,
    env: &Environment,
    ask: &SessionRequest,
    (name, slot): (&str, i64),
    token: &Secret,
    until: i64,
) -> WorkshopSession {
    WorkshopSession {
        name: name.to_string(),
        environment: env.name.clone(),
        client_id: tenant.id.clone(),
        user: ask.user.clone(),
        state: PENDING.to_string(),
        token_digest: Some(token.digest().as_str().to_string()),
        until,
        started: None,
        slot,
        index_url: ask.index_url.clone(),
        analytics_url: ask.analytics_url.clone(),
        parameters: ask.parameters.clone(),
        dashboard_url: env.dashboard_for(name),
        workshop: env.workshop.name.clone(),
        duration_secs: env.duration_secs,
        deadline_secs: env.deadline_secs,
        overtime_secs: env.overtime_secs,
        end_reason: None,
    }
}
