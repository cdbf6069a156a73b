//! The user's map of live sessions (`ws` on the user item), guarded by `ws_version`: what makes
//! "one live session per user and environment" and the per-user limit hold when requests race.
//! Every change to it moves the version on; a request that read an old version fails its
//! condition and reads again.

use super::WorkshopSession;
use super::request::SessionRequest;
use crate::store::attr::{self, Item};
use crate::store::conditions::NOW;
use crate::store::fields::*;
use crate::store::keys;
use crate::store::tx::{item, names};
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use std::collections::BTreeMap;

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
    pub fn to_attr(&self) -> AttributeValue {
        let mut m = Item::from([
            (ENVIRONMENT.to_string(), attr::s(&self.environment)),
            (WORKSHOP.to_string(), attr::s(&self.workshop)),
            (STATE.to_string(), attr::s(&self.state)),
            (UNTIL.to_string(), attr::n(self.until)),
        ]);
        if let Some(started) = self.started {
            m.insert(STARTED.into(), attr::n(started));
        }
        AttributeValue::M(m)
    }

    fn from_attr(value: &AttributeValue) -> Result<Self, StoreError> {
        let m = value
            .as_m()
            .map_err(|_| StoreError::Malformed("ws entry is not a map".into()))?;
        Ok(UserSession {
            environment: attr::get_s(m, ENVIRONMENT)?,
            workshop: attr::get_s(m, WORKSHOP)?,
            state: attr::get_s(m, STATE)?,
            started: attr::opt_n(m, STARTED)?,
            until: attr::get_n(m, UNTIL)?,
        })
    }
}

/// A user's live sessions as read, with the version that guards them.
#[derive(Debug, Clone, Default)]
pub struct UserSessions {
    pub version: Option<i64>,
    pub sessions: BTreeMap<String, UserSession>,
    /// The user has an email address already (a request's is then not stored: Educates keeps
    /// the first), so its users-by-email listing is left as it is.
    pub has_email: bool,
}

impl UserSessions {
    pub fn live(&self, now: i64) -> impl Iterator<Item = (&String, &UserSession)> {
        self.sessions.iter().filter(move |(_, s)| s.until > now)
    }

    /// The live sessions with `name` set to `entry`: the map a request writes.
    pub fn with(&self, now: i64, name: &str, entry: UserSession) -> BTreeMap<String, UserSession> {
        let mut sessions: BTreeMap<String, UserSession> = self
            .live(now)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        sessions.insert(name.to_string(), entry);
        sessions
    }
}

pub async fn read(store: &Store, client_id: &str, user: &str) -> Result<UserSessions, StoreError> {
    let key = keys::user(client_id, user);
    let found = crate::store::get_projected(
        store,
        &key,
        &[WS, WS_VERSION, EMAIL],
        "GetItem user sessions",
    )
    .await?;
    found
        .as_ref()
        .map_or(Ok(UserSessions::default()), from_record)
}

/// Like `read`, and reads `also` in the same round trip (one `BatchGetItem`): the user's
/// sessions, and the item `also` if it exists.
pub async fn read_with(
    store: &Store,
    client_id: &str,
    user: &str,
    also: &keys::Key,
) -> Result<(UserSessions, Option<Item>), StoreError> {
    let key = keys::user(client_id, user);
    let found = crate::store::batch_get(store, &[key.clone(), also.clone()]).await?;
    let sessions =
        crate::store::find(&found, &key).map_or(Ok(UserSessions::default()), from_record)?;
    Ok((sessions, crate::store::find(&found, also).cloned()))
}

/// The user's sessions from items read together (`key`: the user's item; none if it is absent).
pub fn from_found(found: &[Item], key: &keys::Key) -> Result<UserSessions, StoreError> {
    crate::store::find(found, key).map_or(Ok(UserSessions::default()), from_record)
}

fn from_record(record: &Item) -> Result<UserSessions, StoreError> {
    let sessions = match record.get(WS) {
        Some(AttributeValue::M(m)) => m
            .iter()
            .map(|(name, v)| Ok((name.clone(), UserSession::from_attr(v)?)))
            .collect::<Result<_, StoreError>>()?,
        _ => BTreeMap::new(),
    };
    Ok(UserSessions {
        version: attr::opt_n(record, WS_VERSION)?,
        sessions,
        has_email: record.contains_key(EMAIL),
    })
}

/// The user's map update, guarded by the version read.
pub fn update(
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
    let map = sessions.iter().map(|(k, v)| (k.clone(), v.to_attr()));
    values.extend([
        (":ws".to_string(), AttributeValue::M(map.collect())),
        (":next".to_string(), attr::n(user.version.unwrap_or(0) + 1)),
    ]);
    details((tenant_id, user.has_email), ask, &mut sets, &mut values);
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
        format!("SET {}{}", sets.join(", "), crate::user::DROP_OLD_LISTING),
        values,
        None,
        &condition,
    )
}

/// Rewrites the session's entry in its user's map (and moves the version on).
pub fn update_entry(
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

/// The user's details from a request, stored when the user has none yet (Educates: when the
/// user is created).
fn details(
    (tenant_id, has_email): (&str, bool),
    ask: &SessionRequest,
    sets: &mut Vec<&'static str>,
    values: &mut Item,
) {
    // A user with an address keeps it; one without gets the request's, listed under it.
    if let Some(email) = ask.email.as_ref().filter(|_| !has_email) {
        sets.push("email = if_not_exists(email, :email)");
        values.insert(":email".to_string(), attr::s(email));
        let listing = crate::user::email_listing(tenant_id, &ask.user, email, true, values);
        sets.extend(listing);
    }
    let given = [
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
    ];
    for (set, placeholder, value) in given {
        if let Some(value) = value {
            sets.push(set);
            values.insert(placeholder.to_string(), attr::s(value));
        }
    }
}

/// Drops an ended session from its user's map.
pub fn remove_entry(
    table: &str,
    session: &WorkshopSession,
) -> Result<TransactWriteItem, StoreError> {
    item::update_if(
        table,
        &keys::user(&session.client_id, &session.user),
        "REMOVE ws.#name ADD ws_version :one",
        Item::from([(":one".to_string(), attr::n(1))]),
        Some(names(&[("#name", &session.name)])),
        "attribute_exists(pk)",
    )
}
