//! A session request: the user's live session in the environment again (reuse, with a fresh
//! activation token) or a new one in a free slot (allocation). Capacity, the per-user limit and
//! "one live session per user and environment" are conditions of the one transaction.

use super::user_map::{self, UserSession, UserSessions};
use super::{ENDED, LIVE_SESSION, PENDING, WorkshopSession, retain_until};
use crate::api_client::ApiClient;
use crate::clock;
use crate::events::EventType;
use crate::secrets::{self, Secret};
use crate::store::attr::{self, Item};
use crate::store::conditions::{ABSENT, NOW};
use crate::store::keys;
use crate::store::tx::{self, TxError, item, names};
use crate::store::{Store, StoreError};
use crate::workshop::environment::{self, Environment, EnvironmentView};
use crate::workshop::slot::{self, Slot};
use aws_sdk_dynamodb::types::TransactWriteItem;
use std::collections::BTreeMap;

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
    Granted { session: String, token: Secret },
    Unavailable,
}

/// Returns the user's live session in the environment with a fresh activation token, or
/// allocates a new one: capacity and the per-user limit are conditions of the transaction.
///
/// `environment` is the tenant's own, read by the caller (with the robot's token, in one
/// round trip). A returning user's request then reads only the user's sessions before its
/// transaction; the environment's slots are read only when a new session is allocated.
pub async fn request(
    store: &Store,
    tenant: &ApiClient,
    environment: &Environment,
    ask: &SessionRequest,
) -> Result<RequestOutcome, TxError> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            // Jittered backoff: racing requests must not re-read and collide again in step.
            let cap_ms = 4u64 << attempt.min(5);
            let pause = rand::Rng::random_range(&mut rand::rng(), 1..=cap_ms);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        let user = user_map::read(store, &tenant.id, &ask.user).await?;
        let now = clock::now();
        let existing = user
            .live(now)
            .find(|(_, s)| s.environment == environment.name)
            .map(|(name, s)| (name.clone(), s.clone()));
        let plan = match (existing, &ask.session) {
            (Some((name, _)), Some(wanted)) if &name != wanted => {
                return Ok(RequestOutcome::Unavailable);
            }
            (Some((name, held)), _) => {
                reuse(store.table(), environment, &user, ask, &name, &held, now)?
            }
            (None, Some(_)) => return Ok(RequestOutcome::Unavailable),
            (None, None) => {
                let limit = environment.user_limit;
                if limit > 0 && user.live(now).count() as i64 >= limit {
                    return Ok(RequestOutcome::Unavailable);
                }
                let view = environment::with_slots(store, environment.clone()).await?;
                let Some(slot) = view.free_slot(now, attempt > 0) else {
                    return Ok(RequestOutcome::Unavailable);
                };
                allocate(store.table(), tenant, &view, &user, ask, slot, now)?
            }
        };
        let (session, token, items) = plan;
        match tx::transact(store, "TransactWriteItems workshop session request", items).await {
            Ok(()) => return Ok(RequestOutcome::Granted { session, token }),
            // Another request got there first (slot, counter or the user's map): read again.
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

type Plan = (String, Secret, Vec<TransactWriteItem>);

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
    let tenant_id = &environment.client_id;
    let until = if held.state == PENDING {
        // A pending session's deadline restarts from now.
        pending_until(ask, environment.duration_secs, now)
    } else {
        held.until
    };
    let mut session_values = Item::from([
        (":digest".to_string(), attr::s(token.digest().as_str())),
        (":until".to_string(), attr::n(until)),
        (":retain".to_string(), attr::n(retain_until(until))),
        (":ended".to_string(), attr::s(ENDED)),
        (NOW.to_string(), attr::n(now)),
    ]);
    session_values.insert(":state".into(), attr::s(&held.state));
    session_values.insert(":deadline".into(), attr::s(keys::deadline(until, name)));
    let mut items = vec![item::update_if(
        table,
        &keys::workshop_session(name),
        "SET token_digest = :digest, #until = :until, expires_at = :retain, gsi2sk = :deadline",
        session_values,
        Some(names(&[("#state", "state"), ("#until", "until")])),
        &format!("{LIVE_SESSION} AND #state = :state"),
    )?];
    if held.state == PENDING {
        let holder = slot::Holder {
            environment: &environment.name,
            index: slot::slot_of(name),
            session: name,
        };
        items.push(slot::hold_until(table, holder, until)?);
    }
    let mut sessions: BTreeMap<String, UserSession> = user
        .live(now)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    sessions.insert(
        name.to_string(),
        UserSession {
            until,
            ..held.clone()
        },
    );
    items.push(user_map::update(
        table, tenant_id, ask, user, sessions, now,
    )?);
    Ok((name.to_string(), token, items))
}

fn allocate(
    table: &str,
    tenant: &ApiClient,
    view: &EnvironmentView,
    user: &UserSessions,
    ask: &SessionRequest,
    (slot, generation): (i64, i64),
    now: i64,
) -> Result<Plan, StoreError> {
    let env = &view.environment;
    let token = secrets::new_url_token();
    let name = slot::session_name(&env.name, slot, generation);
    let until = pending_until(ask, env.duration_secs, now);
    let session = WorkshopSession {
        name: name.clone(),
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
        dashboard_url: env.dashboard_for(&name),
        workshop: env.workshop.name.clone(),
        duration_secs: env.duration_secs,
        deadline_secs: env.deadline_secs,
        overtime_secs: env.overtime_secs,
        end_reason: None,
    };
    let held = Slot {
        index: slot,
        generation: generation + 1,
        session: name.clone(),
        user: ask.user.clone(),
        state: PENDING.to_string(),
        started: None,
        held_until: until,
    };
    let mut sessions: BTreeMap<String, UserSession> = user
        .live(now)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    sessions.insert(
        name.clone(),
        UserSession {
            environment: env.name.clone(),
            workshop: env.workshop.name.clone(),
            state: PENDING.to_string(),
            started: None,
            until,
        },
    );
    let items = vec![
        // Of racing requests for this slot exactly one wins; the others read again.
        slot::claim(table, env, &held, generation, now)?,
        item::put(table, session.to_item(now), Some(ABSENT))?,
        user_map::update(table, &tenant.id, ask, user, sessions, now)?,
        session
            .event(EventType::SessionAllocated, serde_json::json!({}))
            .outbox(table)?,
    ];
    Ok((name, token, items))
}
