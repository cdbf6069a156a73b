//! Workshop sessions: request (reuse or allocate), activation, extension and termination.
//!
//! Three items move together, always in one transaction:
//! - the session record (`WORKSHOPSESSION#<name>`), with its activation token's digest;
//! - its capacity slot (see `environment`), whose `held_until` is the session's `until`;
//! - the user's map of live sessions (`ws` on the user item), guarded by `ws_version`, which
//!   makes "one live session per user and environment" and the per-user limit hold when requests
//!   race: a request that read an old version fails its condition and reads again.
//!
//! A session is live while its state is not `ended` and `until > now`: `until` is the activation
//! deadline while it is pending and its expiry once it runs (`environment::NEVER` for none).

use super::environment::{self, Environment, EnvironmentView, NEVER, Slot};
use crate::api_client::ApiClient;
use crate::clock;
use crate::events::{Event, EventType};
use crate::secrets::{self, Digest, Secret};
use crate::store::attr::{self, Item};
use crate::store::conditions::{ABSENT, NOW};
use crate::store::keys::{self, EXPIRES_AT, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK};
use crate::store::tx::{self, TxError, item};
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use std::collections::BTreeMap;

pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running";
pub const ENDED: &str = "ended";

/// Retention of an ended session record (and of a never-activated one) before TTL removes it.
pub const RETENTION_SECS: i64 = 36 * 3600;

/// How often a request re-reads after losing a race before it gives up with "unavailable".
const MAX_ATTEMPTS: u32 = 40;

/// The session is live: not ended, and its deadline or expiry not passed.
const LIVE: &str = "#state <> :ended AND #until > :now";
/// The slot still belongs to this session.
const HELD_BY: &str = "#session = :name";
/// The slot as read: never held, or free (its holder's time is up) at the generation read.
const FREE_AT_GENERATION: &str =
    "attribute_not_exists(pk) OR (held_until <= :now AND generation = :generation)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkshopSession {
    pub name: String,
    pub environment: String,
    pub client_id: String,
    pub user: String,
    pub state: String,
    pub token_digest: Option<String>,
    pub until: i64,
    pub started: Option<i64>,
    pub slot: i64,
    pub index_url: String,
    pub analytics_url: Option<String>,
    pub parameters: Vec<(String, String)>,
    pub dashboard_url: String,
    pub workshop: String,
    pub duration_secs: i64,
    pub deadline_secs: i64,
    pub overtime_secs: i64,
    pub end_reason: Option<String>,
}

impl WorkshopSession {
    pub fn is_live(&self, now: i64) -> bool {
        self.state != ENDED && self.until > now
    }

    /// A lifecycle event about this session (also sent to its `analytics_url`).
    pub fn event(&self, kind: EventType, extra: serde_json::Value) -> Event {
        let mut data = serde_json::json!({
            "session": self.name,
            "environment": self.environment,
            "workshop": self.workshop,
            "user": self.user,
            "state": self.state,
            "started": self.started.map(clock::rfc3339),
            "expires": self.expires().map(clock::rfc3339),
        });
        if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        Event::new(kind, &self.client_id, data).to(self.analytics_url.as_deref())
    }

    pub fn expires(&self) -> Option<i64> {
        (self.until != NEVER).then_some(self.until)
    }

    fn to_item(&self, created_at: i64) -> Item {
        let mut record = keys::workshop_session(&self.name).item();
        let parameters = AttributeValue::L(
            self.parameters
                .iter()
                .map(|(n, v)| {
                    AttributeValue::M(Item::from([
                        ("name".to_string(), attr::s(n)),
                        ("value".to_string(), attr::s(v)),
                    ]))
                })
                .collect(),
        );
        record.extend([
            ("name".to_string(), attr::s(&self.name)),
            ("environment".to_string(), attr::s(&self.environment)),
            ("client_id".to_string(), attr::s(&self.client_id)),
            ("user".to_string(), attr::s(&self.user)),
            ("state".to_string(), attr::s(&self.state)),
            ("until".to_string(), attr::n(self.until)),
            ("slot".to_string(), attr::n(self.slot)),
            ("index_url".to_string(), attr::s(&self.index_url)),
            ("parameters".to_string(), parameters),
            ("dashboard_url".to_string(), attr::s(&self.dashboard_url)),
            ("workshop".to_string(), attr::s(&self.workshop)),
            ("duration".to_string(), attr::n(self.duration_secs)),
            ("deadline".to_string(), attr::n(self.deadline_secs)),
            ("overtime".to_string(), attr::n(self.overtime_secs)),
            ("created_at".to_string(), attr::n(created_at)),
            (EXPIRES_AT.to_string(), attr::n(retain_until(self.until))),
            (
                GSI1_PK.to_string(),
                attr::s(keys::client_partition(&self.client_id)),
            ),
            (
                GSI1_SK.to_string(),
                attr::s(format!("SESSION#{}#{}", self.environment, self.name)),
            ),
            (GSI2_PK.to_string(), attr::s(keys::DEADLINES)),
            (
                GSI2_SK.to_string(),
                attr::s(keys::deadline(self.until, &self.name)),
            ),
        ]);
        if let Some(digest) = &self.token_digest {
            record.insert("token_digest".into(), attr::s(digest));
        }
        if let Some(url) = &self.analytics_url {
            record.insert("analytics_url".into(), attr::s(url));
        }
        record
    }

    pub fn from_item(record: &Item) -> Result<Self, StoreError> {
        let parameters = match record.get("parameters") {
            Some(AttributeValue::L(list)) => list
                .iter()
                .filter_map(|v| v.as_m().ok())
                .map(|m| Ok((attr::get_s(m, "name")?, attr::get_s(m, "value")?)))
                .collect::<Result<Vec<_>, StoreError>>()?,
            _ => Vec::new(),
        };
        Ok(WorkshopSession {
            name: attr::get_s(record, "name")?,
            environment: attr::get_s(record, "environment")?,
            client_id: attr::get_s(record, "client_id")?,
            user: attr::get_s(record, "user")?,
            state: attr::get_s(record, "state")?,
            token_digest: attr::opt_s(record, "token_digest")?,
            until: attr::get_n(record, "until")?,
            started: attr::opt_n(record, "started")?,
            slot: attr::get_n(record, "slot")?,
            index_url: attr::get_s(record, "index_url")?,
            analytics_url: attr::opt_s(record, "analytics_url")?,
            parameters,
            dashboard_url: attr::get_s(record, "dashboard_url")?,
            workshop: attr::get_s(record, "workshop")?,
            duration_secs: attr::get_n(record, "duration")?,
            deadline_secs: attr::get_n(record, "deadline")?,
            overtime_secs: attr::get_n(record, "overtime")?,
            end_reason: attr::opt_s(record, "end_reason")?,
        })
    }
}

/// When TTL may remove a session record: a while after it can no longer be live.
fn retain_until(until: i64) -> i64 {
    until.saturating_add(RETENTION_SECS).min(NEVER)
}

/// One entry of a user's map of live sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    pub environment: String,
    pub workshop: String,
    pub state: String,
    pub started: Option<i64>,
    pub until: i64,
}

impl UserSession {
    fn to_attr(&self) -> AttributeValue {
        let mut m = Item::from([
            ("environment".to_string(), attr::s(&self.environment)),
            ("workshop".to_string(), attr::s(&self.workshop)),
            ("state".to_string(), attr::s(&self.state)),
            ("until".to_string(), attr::n(self.until)),
        ]);
        if let Some(started) = self.started {
            m.insert("started".into(), attr::n(started));
        }
        AttributeValue::M(m)
    }

    fn from_attr(value: &AttributeValue) -> Result<Self, StoreError> {
        let m = value
            .as_m()
            .map_err(|_| StoreError::Malformed("ws entry is not a map".into()))?;
        Ok(UserSession {
            environment: attr::get_s(m, "environment")?,
            workshop: attr::get_s(m, "workshop")?,
            state: attr::get_s(m, "state")?,
            started: attr::opt_n(m, "started")?,
            until: attr::get_n(m, "until")?,
        })
    }
}

/// A user's live sessions as read, with the version that guards them.
#[derive(Debug, Clone, Default)]
pub struct UserSessions {
    pub version: Option<i64>,
    pub sessions: BTreeMap<String, UserSession>,
}

impl UserSessions {
    pub fn live(&self, now: i64) -> impl Iterator<Item = (&String, &UserSession)> {
        self.sessions.iter().filter(move |(_, s)| s.until > now)
    }
}

pub async fn read_user_sessions(
    store: &Store,
    client_id: &str,
    user: &str,
) -> Result<UserSessions, StoreError> {
    let out = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::user(client_id, user).item()))
        .consistent_read(true)
        .projection_expression("ws, ws_version")
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("GetItem user sessions", e))?;
    let Some(record) = out.item else {
        return Ok(UserSessions::default());
    };
    let sessions = match record.get("ws") {
        Some(AttributeValue::M(m)) => m
            .iter()
            .map(|(name, v)| Ok((name.clone(), UserSession::from_attr(v)?)))
            .collect::<Result<_, StoreError>>()?,
        _ => BTreeMap::new(),
    };
    Ok(UserSessions {
        version: attr::opt_n(&record, "ws_version")?,
        sessions,
    })
}

pub async fn get(store: &Store, name: &str) -> Result<Option<WorkshopSession>, StoreError> {
    // A name no session can have is not looked up (a 10 KB name is past DynamoDB's key limit).
    if !is_valid_name(name) {
        return Ok(None);
    }
    let item = crate::store::get(
        store,
        &keys::workshop_session(name),
        "GetItem workshop session",
    )
    .await?;
    item.as_ref().map(WorkshopSession::from_item).transpose()
}

/// Session names are `<environment>-s<number>` (at least three digits).
pub fn is_valid_name(name: &str) -> bool {
    name.rsplit_once("-s").is_some_and(|(environment, number)| {
        super::environment::is_valid_name(environment)
            && (3..=9).contains(&number.len())
            && number.bytes().all(|b| b.is_ascii_digit())
    })
}

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
        let user = read_user_sessions(store, &tenant.id, &ask.user).await?;
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

fn names(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The user's map update, guarded by the version read.
fn user_sessions_update(
    table: &str,
    tenant_id: &str,
    ask: &SessionRequest,
    user: &UserSessions,
    sessions: BTreeMap<String, UserSession>,
    now: i64,
) -> Result<TransactWriteItem, StoreError> {
    let key = keys::user(tenant_id, &ask.user);
    let (mut sets, mut values) = crate::user::identity_upsert(tenant_id, &ask.user, now);
    sets.extend(["ws = :ws", "ws_version = :next"]);
    values.extend([
        (
            ":ws".to_string(),
            AttributeValue::M(
                sessions
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_attr()))
                    .collect(),
            ),
        ),
        (":next".to_string(), attr::n(user.version.unwrap_or(0) + 1)),
    ]);
    // Details are stored when the user has none yet (Educates: when the user is created).
    for (set, placeholder, value) in [
        ("email = if_not_exists(email, :email)", ":email", &ask.email),
        (
            "given_name = if_not_exists(given_name, :given)",
            ":given",
            &ask.first_name,
        ),
        (
            "family_name = if_not_exists(family_name, :family)",
            ":family",
            &ask.last_name,
        ),
    ] {
        if let Some(value) = value {
            sets.push(set);
            values.insert(placeholder.to_string(), attr::s(value));
        }
    }
    let condition = match user.version {
        None => "attribute_not_exists(ws_version)".to_string(),
        Some(v) => {
            values.insert(":read".into(), attr::n(v));
            "ws_version = :read".to_string()
        }
    };
    item::update_if(
        table,
        &key,
        format!("SET {}", sets.join(", ")),
        values,
        None,
        &condition,
    )
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
        &format!("{LIVE} AND #state = :state"),
    )?];
    if held.state == PENDING {
        items.push(item::update_if(
            table,
            &keys::slot(&environment.name, slot_of(name)),
            "SET held_until = :until",
            Item::from([
                (":until".to_string(), attr::n(until)),
                (":name".to_string(), attr::s(name)),
            ]),
            Some(names(&[("#session", "session")])),
            HELD_BY,
        )?);
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
    items.push(user_sessions_update(
        table, tenant_id, ask, user, sessions, now,
    )?);
    Ok((name.to_string(), token, items))
}

/// Sessions are numbered by their slot and its generation: unique without a counter that every
/// request would contend for (`MAX_CAPACITY` keeps slots below 1000).
fn session_name(environment: &str, slot: i64, generation: i64) -> String {
    format!("{environment}-s{:03}", generation * 1000 + slot + 1)
}

/// The slot a session name was given for (`session_name` backwards); -1, which no slot has,
/// for a name that is not a session's.
fn slot_of(session: &str) -> i64 {
    session
        .rsplit_once("-s")
        .and_then(|(_, number)| number.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .map_or(-1, |n| (n - 1) % 1000)
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
    let name = session_name(&env.name, slot, generation);
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
        item::put_if(
            table,
            held.to_item(env),
            FREE_AT_GENERATION,
            Item::from([
                (NOW.to_string(), attr::n(now)),
                (":generation".to_string(), attr::n(generation)),
            ]),
        )?,
        item::put(table, session.to_item(now), Some(ABSENT))?,
        user_sessions_update(table, &tenant.id, ask, user, sessions, now)?,
        session
            .event(EventType::SessionAllocated, serde_json::json!({}))
            .outbox(table)?,
    ];
    Ok((name, token, items))
}

/// The transaction items that use an activation token up and start the session clock if the
/// session was pending (a reacquired running session keeps its clock). `None`: the token is
/// not (or no longer) good for this session.
pub fn activation_items(
    table: &str,
    session: &WorkshopSession,
    presented: &str,
    now: i64,
) -> Result<Option<(WorkshopSession, Vec<TransactWriteItem>)>, StoreError> {
    let valid = session.is_live(now)
        && secrets::is_url_token_shape(presented)
        && session
            .token_digest
            .as_deref()
            .is_some_and(|d| secrets::matches(presented, d));
    if !valid {
        return Ok(None);
    }
    let digest = Digest::of(presented);
    let mut activated = session.clone();
    activated.token_digest = None;
    let mut values = Item::from([
        (":digest".to_string(), attr::s(digest.as_str())),
        (":ended".to_string(), attr::s(ENDED)),
        (NOW.to_string(), attr::n(now)),
    ]);
    let names_all = names(&[("#state", "state"), ("#until", "until")]);
    let condition = format!("{LIVE} AND token_digest = :digest");
    if session.state != PENDING {
        let items = vec![item::update_if(
            table,
            &keys::workshop_session(&session.name),
            "REMOVE token_digest",
            values,
            Some(names_all),
            &condition,
        )?];
        return Ok(Some((activated, items)));
    }
    let until = if session.duration_secs > 0 {
        now + session.duration_secs
    } else {
        NEVER
    };
    activated.state = RUNNING.to_string();
    activated.started = Some(now);
    activated.until = until;
    values.extend([
        (":running".to_string(), attr::s(RUNNING)),
        (":until".to_string(), attr::n(until)),
        (":retain".to_string(), attr::n(retain_until(until))),
        (
            ":deadline".to_string(),
            attr::s(keys::deadline(until, &session.name)),
        ),
    ]);
    let items = vec![
        item::update_if(
            table,
            &keys::workshop_session(&session.name),
            "SET #state = :running, started = :now, #until = :until, expires_at = :retain, \
             gsi2sk = :deadline REMOVE token_digest",
            values,
            Some(names_all),
            &condition,
        )?,
        item::update_if(
            table,
            &keys::slot(&session.environment, session.slot),
            "SET #state = :running, started = :now, held_until = :until",
            Item::from([
                (":running".to_string(), attr::s(RUNNING)),
                (NOW.to_string(), attr::n(now)),
                (":until".to_string(), attr::n(until)),
                (":name".to_string(), attr::s(&session.name)),
            ]),
            Some(names(&[("#state", "state"), ("#session", "session")])),
            HELD_BY,
        )?,
        user_entry_update(table, &activated, now)?,
        activated
            .event(EventType::SessionActivated, serde_json::json!({}))
            .outbox(table)?,
    ];
    Ok(Some((activated, items)))
}

/// Rewrites the session's entry in its user's map (and moves the version on).
fn user_entry_update(
    table: &str,
    session: &WorkshopSession,
    now: i64,
) -> Result<TransactWriteItem, StoreError> {
    let entry = UserSession {
        environment: session.environment.clone(),
        workshop: session.workshop.clone(),
        state: session.state.clone(),
        started: session.started,
        until: session.until,
    };
    item::update_if(
        table,
        &keys::user(&session.client_id, &session.user),
        "SET ws.#name = :entry, updated_at = :now ADD ws_version :one",
        Item::from([
            (":entry".to_string(), entry.to_attr()),
            (NOW.to_string(), attr::n(now)),
            (":one".to_string(), attr::n(1)),
        ]),
        Some(names(&[("#name", &session.name)])),
        "attribute_exists(ws)",
    )
}

/// Extension per the Educates rules: a running session may be extended once fewer than
/// `extension` seconds remain, by `extension` seconds, up to `started + deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub remaining: i64,
    pub expiring: bool,
    pub extendable: bool,
    pub extension_permitted: bool,
    pub extension_secs: i64,
    pub limit: Option<i64>,
}

pub fn schedule(session: &WorkshopSession, now: i64) -> Schedule {
    let expires = session.expires();
    let remaining = expires.map_or(0, |e| (e - now).max(0));
    let duration = session.duration_secs;
    let threshold = (duration.min(4 * 3600) / 4).max(300);
    let extension_secs = if session.overtime_secs > 0 {
        session.overtime_secs.max(300)
    } else {
        threshold
    };
    let limit = match (session.started, expires) {
        (Some(started), Some(_)) if session.deadline_secs > duration => {
            Some(started + session.deadline_secs)
        }
        _ => None,
    };
    let extendable = session.state == RUNNING && limit.zip(expires).is_some_and(|(l, e)| e < l);
    Schedule {
        remaining,
        expiring: expires.is_some() && remaining < threshold,
        extendable,
        extension_permitted: extendable && remaining < extension_secs,
        extension_secs,
        limit,
    }
}

/// Extends a running session if the rules permit; `Ok(None)` when they do not.
pub async fn extend(
    store: &Store,
    session: &WorkshopSession,
    now: i64,
) -> Result<Option<WorkshopSession>, TxError> {
    let plan = schedule(session, now);
    let (Some(limit), Some(expires)) = (plan.limit, session.expires()) else {
        return Ok(None);
    };
    if !plan.extension_permitted {
        return Ok(None);
    }
    let mut extended = session.clone();
    extended.until = (expires + plan.extension_secs).min(limit);
    let table = store.table();
    let items = vec![
        item::update_if(
            table,
            &keys::workshop_session(&session.name),
            "SET #until = :until, expires_at = :retain, gsi2sk = :deadline",
            Item::from([
                (
                    ":deadline".to_string(),
                    attr::s(keys::deadline(extended.until, &session.name)),
                ),
                (":until".to_string(), attr::n(extended.until)),
                (":retain".to_string(), attr::n(retain_until(extended.until))),
                (":read".to_string(), attr::n(session.until)),
                (":ended".to_string(), attr::s(ENDED)),
                (NOW.to_string(), attr::n(now)),
            ]),
            Some(names(&[("#state", "state"), ("#until", "until")])),
            &format!("{LIVE} AND #until = :read"),
        )?,
        item::update_if(
            table,
            &keys::slot(&session.environment, session.slot),
            "SET held_until = :until",
            Item::from([
                (":until".to_string(), attr::n(extended.until)),
                (":name".to_string(), attr::s(&session.name)),
            ]),
            Some(names(&[("#session", "session")])),
            HELD_BY,
        )?,
        user_entry_update(table, &extended, now)?,
        extended
            .event(EventType::SessionExtended, serde_json::json!({}))
            .outbox(table)?,
    ];
    match tx::transact(store, "TransactWriteItems extend workshop session", items).await {
        Ok(()) => Ok(Some(extended)),
        Err(TxError::Condition { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why a session ended; recorded on it and carried by `session.ended`.
pub const TERMINATED: &str = "terminated";
pub const DELETED: &str = "deleted";
pub const ACTIVATION_TIMEOUT: &str = "activation-timeout";
pub const EXPIRED: &str = "expired";

/// Not ended, and its deadline or expiry has passed: what the reaper ends.
const OVERDUE: &str = "#state <> :ended AND #until <= :now";

/// The items that end a session: the record (if `condition` holds), its slot (if `free_slot`;
/// the caller knows the slot is still this session's), the user's map entry, and the event.
fn ending_items(
    table: &str,
    session: &WorkshopSession,
    reason: &str,
    now: i64,
    condition: &str,
    free_slot: bool,
) -> Result<(WorkshopSession, Vec<TransactWriteItem>), StoreError> {
    let mut ended = session.clone();
    ended.state = ENDED.to_string();
    ended.until = session.until.min(now);
    ended.end_reason = Some(reason.to_string());
    let mut items = vec![item::update_if(
        table,
        &keys::workshop_session(&session.name),
        "SET #state = :ended, #until = :until, ended_at = :now, end_reason = :reason, \
         expires_at = :retain REMOVE token_digest, gsi2pk, gsi2sk",
        Item::from([
            (":ended".to_string(), attr::s(ENDED)),
            (NOW.to_string(), attr::n(now)),
            (":until".to_string(), attr::n(ended.until)),
            (":reason".to_string(), attr::s(reason)),
            (":retain".to_string(), attr::n(retain_until(now))),
        ]),
        Some(names(&[("#state", "state"), ("#until", "until")])),
        condition,
    )?];
    if free_slot {
        // Freed, not deleted: the slot keeps its generation, which numbers its next session.
        items.push(item::update_if(
            table,
            &keys::slot(&session.environment, session.slot),
            "SET held_until = :until, #state = :ended",
            Item::from([
                (":name".to_string(), attr::s(&session.name)),
                (":until".to_string(), attr::n(ended.until)),
                (":ended".to_string(), attr::s(ENDED)),
            ]),
            Some(names(&[("#session", "session"), ("#state", "state")])),
            HELD_BY,
        )?);
    }
    items.push(item::update_if(
        table,
        &keys::user(&session.client_id, &session.user),
        "REMOVE ws.#name ADD ws_version :one",
        Item::from([(":one".to_string(), attr::n(1))]),
        Some(names(&[("#name", &session.name)])),
        "attribute_exists(pk)",
    )?);
    items.push(
        ended
            .event(
                EventType::SessionEnded,
                serde_json::json!({"reason": reason}),
            )
            .outbox(table)?,
    );
    Ok((ended, items))
}

/// Ends a live session now (terminate, delete): frees its slot at once and drops it from its
/// user's map. `Ok(None)` if it was not live (ended or timed out meanwhile).
pub async fn end(
    store: &Store,
    session: &WorkshopSession,
    reason: &str,
    now: i64,
) -> Result<Option<WorkshopSession>, TxError> {
    // A live session's slot is its own: nobody can claim a slot before its `until`.
    let (ended, items) = ending_items(store.table(), session, reason, now, LIVE, true)?;
    match tx::transact(store, "TransactWriteItems end workshop session", items).await {
        Ok(()) => Ok(Some(ended)),
        Err(TxError::Condition { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Ends a session whose time has run out (the reaper): `activation-timeout` if it was never
/// activated, `expired` otherwise. Its slot may already hold a newer session, which is left
/// alone. `Ok(None)` if it is not overdue (ended meanwhile, or extended).
pub async fn expire(
    store: &Store,
    session: &WorkshopSession,
    now: i64,
) -> Result<Option<WorkshopSession>, TxError> {
    let slot_key = keys::slot(&session.environment, session.slot);
    let slot = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(slot_key.item()))
        .consistent_read(true)
        .projection_expression("#session")
        .expression_attribute_names("#session", "session")
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("GetItem slot", e))?;
    let holds_slot = slot.item.is_some_and(|i| {
        attr::opt_s(&i, "session").ok().flatten().as_deref() == Some(&session.name)
    });
    let reason = if session.state == PENDING {
        ACTIVATION_TIMEOUT
    } else {
        EXPIRED
    };
    let (ended, items) = ending_items(store.table(), session, reason, now, OVERDUE, holds_slot)?;
    match tx::transact(store, "TransactWriteItems expire workshop session", items).await {
        Ok(()) => Ok(Some(ended)),
        Err(TxError::Condition { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A tenant's session records (live and retained), optionally of one environment.
pub async fn list(
    store: &Store,
    client_id: &str,
    environment: Option<&str>,
) -> Result<Vec<WorkshopSession>, StoreError> {
    let prefix = match environment {
        Some(env) => format!("SESSION#{env}#"),
        None => "SESSION#".to_string(),
    };
    let items =
        crate::store::query_index(store, &keys::client_partition(client_id), &prefix).await?;
    items.iter().map(WorkshopSession::from_item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_name_gives_back_its_slot() {
        for (slot, generation) in [(0, 0), (7, 0), (998, 0), (0, 1), (41, 12), (998, 99_999)] {
            let name = session_name("lab-env-w01", slot, generation);
            assert!(is_valid_name(&name), "{name}");
            assert_eq!(slot_of(&name), slot, "{name}");
        }
        assert_eq!(session_name("lab", 4, 0), "lab-s005");
        assert_eq!(session_name("lab", 4, 2), "lab-s2005");
        for not_a_session in ["lab", "lab-s", "lab-sx", "lab-s000", "lab-s-1"] {
            assert_eq!(slot_of(not_a_session), -1, "{not_a_session}");
        }
    }
}
