//! Workshop sessions: the record, and the rules of its life, one module each: `request` (reuse
//! or allocate), `activation`, `schedule` (Educates' extension rules), `ending`, the lab's own
//! events (`custom_event`), its `config`, and the user's map of live sessions (`user_map`).
//! Capacity is `workshop::slot`'s.
//!
//! Three items move together, always in one transaction:
//! - the session record (`WORKSHOPSESSION#<name>`), with its activation token's digest;
//! - its capacity slot (`workshop::slot`), whose `held_until` is the session's `until`;
//! - the user's map of live sessions (`ws` on the user item), guarded by `ws_version`, which
//!   makes "one live session per user and environment" and the per-user limit hold when requests
//!   race: a request that read an old version fails its condition and reads again.
//!
//! A session is live while its state is not `ended` and `until > now`: `until` is the activation
//! deadline while it is pending and its expiry once it runs (`environment::NEVER` for none).

mod activation;
pub mod config;
mod custom_event;
mod ending;
mod request;
mod schedule;
pub mod user_map;

pub use activation::{activate, activation_path};
pub use custom_event::{CustomEvent, MAX_EVENT_BYTES, record_event};
pub use ending::{
    ACTIVATION_TIMEOUT, DELETED, ERASED, EXPIRED, MAX_EXPIRED_TOGETHER, TERMINATED, end, expire,
    expire_all,
};
pub use request::{RequestOutcome, SessionRequest, request, request_with};
pub use schedule::{Schedule, extend, schedule};
pub use user_map::{UserSession, UserSessions};

use super::environment::NEVER;
use crate::clock;
use crate::events::{Event, EventType};
use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys::{self, EXPIRES_AT, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI3_PK, GSI3_SK};
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;

pub use super::{ENDED, PENDING, RUNNING};

/// Retention of an ended session record (and of a never-activated one) before TTL removes it.
pub const RETENTION_SECS: i64 = 36 * 3600;

/// The condition that the session is live: not ended, and its deadline or expiry not passed
/// (`is_live` is its read-side twin). Not `store::conditions::LIVE`, which is about `expires_at`.
const LIVE_SESSION: &str = "#state <> :ended AND #until > :now";

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

impl crate::tenant::Owned for WorkshopSession {
    fn tenant_id(&self) -> &str {
        &self.client_id
    }
}

impl WorkshopSession {
    /// The slot this session holds (or held).
    pub fn holder(&self) -> crate::workshop::slot::Holder<'_> {
        crate::workshop::slot::Holder {
            environment: &self.environment,
            index: self.slot,
            session: &self.name,
        }
    }

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

    // Long: one line per attribute of the session item.
    pub fn to_item(&self, created_at: i64) -> Item {
        let mut record = keys::workshop_session(&self.name).item();
        let parameters = AttributeValue::L(
            self.parameters
                .iter()
                .map(|(n, v)| {
                    AttributeValue::M(Item::from([
                        (NAME.to_string(), attr::s(n)),
                        (VALUE.to_string(), attr::s(v)),
                    ]))
                })
                .collect(),
        );
        record.extend([
            (NAME.to_string(), attr::s(&self.name)),
            (ENVIRONMENT.to_string(), attr::s(&self.environment)),
            (CLIENT_ID.to_string(), attr::s(&self.client_id)),
            (USER.to_string(), attr::s(&self.user)),
            (STATE.to_string(), attr::s(&self.state)),
            (UNTIL.to_string(), attr::n(self.until)),
            (SLOT.to_string(), attr::n(self.slot)),
            (INDEX_URL.to_string(), attr::s(&self.index_url)),
            (PARAMETERS.to_string(), parameters),
            (DASHBOARD_URL.to_string(), attr::s(&self.dashboard_url)),
            (WORKSHOP.to_string(), attr::s(&self.workshop)),
            (DURATION.to_string(), attr::n(self.duration_secs)),
            (DEADLINE.to_string(), attr::n(self.deadline_secs)),
            (OVERTIME.to_string(), attr::n(self.overtime_secs)),
            (CREATED_AT.to_string(), attr::n(created_at)),
            (EXPIRES_AT.to_string(), attr::n(retain_until(self.until))),
            (
                GSI1_PK.to_string(),
                attr::s(keys::user_partition(&self.client_id, &self.user)),
            ),
            (
                GSI1_SK.to_string(),
                attr::s(format!("{SESSION_LISTING}{}", self.name)),
            ),
            (
                GSI2_PK.to_string(),
                attr::s(keys::deadline_partition(self.until, &self.name)),
            ),
            (
                GSI2_SK.to_string(),
                attr::s(keys::deadline(self.until, &self.name)),
            ),
        ]);
        if self.state != ENDED {
            record.extend([
                (
                    GSI3_PK.to_string(),
                    attr::s(keys::live_sessions(&self.client_id)),
                ),
                (
                    GSI3_SK.to_string(),
                    attr::s(keys::live_session(&self.environment, &self.name)),
                ),
            ]);
        }
        if let Some(digest) = &self.token_digest {
            record.insert(TOKEN_DIGEST.into(), attr::s(digest));
        }
        if let Some(url) = &self.analytics_url {
            record.insert(ANALYTICS_URL.into(), attr::s(url));
        }
        record
    }

    pub fn from_item(record: &Item) -> Result<Self, StoreError> {
        let parameters = match record.get(PARAMETERS) {
            Some(AttributeValue::L(list)) => list
                .iter()
                .filter_map(|v| v.as_m().ok())
                .map(|m| Ok((attr::get_s(m, NAME)?, attr::get_s(m, VALUE)?)))
                .collect::<Result<Vec<_>, StoreError>>()?,
            _ => Vec::new(),
        };
        Ok(WorkshopSession {
            name: attr::get_s(record, NAME)?,
            environment: attr::get_s(record, ENVIRONMENT)?,
            client_id: attr::get_s(record, CLIENT_ID)?,
            user: attr::get_s(record, USER)?,
            state: attr::get_s(record, STATE)?,
            token_digest: attr::opt_s(record, TOKEN_DIGEST)?,
            until: attr::get_n(record, UNTIL)?,
            started: attr::opt_n(record, STARTED)?,
            slot: attr::get_n(record, SLOT)?,
            index_url: attr::get_s(record, INDEX_URL)?,
            analytics_url: attr::opt_s(record, ANALYTICS_URL)?,
            parameters,
            dashboard_url: attr::get_s(record, DASHBOARD_URL)?,
            workshop: attr::get_s(record, WORKSHOP)?,
            duration_secs: attr::get_n(record, DURATION)?,
            deadline_secs: attr::get_n(record, DEADLINE)?,
            overtime_secs: attr::get_n(record, OVERTIME)?,
            end_reason: attr::opt_s(record, END_REASON)?,
        })
    }
}

/// The values `:deadline_pk` and `:deadline` that place a live session with deadline `until`
/// in the deadline index (`SET gsi2pk = :deadline_pk, gsi2sk = :deadline`).
pub(crate) fn deadline_values(until: i64, name: &str) -> [(String, AttributeValue); 2] {
    [
        (
            ":deadline_pk".to_string(),
            attr::s(keys::deadline_partition(until, name)),
        ),
        (
            ":deadline".to_string(),
            attr::s(keys::deadline(until, name)),
        ),
    ]
}

/// The index keys `deadline_values` sets.
pub(crate) const SET_DEADLINE: &str = "gsi2pk = :deadline_pk, gsi2sk = :deadline";

/// When TTL may remove a session record: a while after it can no longer be live.
pub(crate) fn retain_until(until: i64) -> i64 {
    until.saturating_add(RETENTION_SECS).min(NEVER)
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

/// Like `get`, and reads the browser's web session (`cookie`) in the same round trip: the
/// session, and the live web session the browser has on API host `host`.
pub async fn get_with_web_session(
    store: &Store,
    name: &str,
    cookie: Option<&str>,
    host: &str,
) -> Result<
    (
        Option<WorkshopSession>,
        Option<crate::web_session::WebSession>,
    ),
    StoreError,
> {
    let Some(cookie) = cookie else {
        return Ok((get(store, name).await?, None));
    };
    let mut wanted: Vec<keys::Key> = crate::web_session::key_of(cookie).into_iter().collect();
    let key = is_valid_name(name).then(|| keys::workshop_session(name));
    wanted.extend(key.clone());
    if wanted.is_empty() {
        return Ok((None, None));
    }
    let found = crate::store::batch_get(store, &wanted).await?;
    let session = key
        .and_then(|k| crate::store::find(&found, &k))
        .map(WorkshopSession::from_item)
        .transpose()?;
    let signed_in = crate::web_session::live_among(&found, cookie, host)?;
    Ok((session, signed_in))
}

/// Session names are `<environment>-s<number>` (3 to 15 digits).
pub fn is_valid_name(name: &str) -> bool {
    name.rsplit_once("-s").is_some_and(|(environment, number)| {
        super::environment::is_valid_name(environment)
            && (3..=15).contains(&number.len())
            && number.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The `gsi1` sort key prefix of session records in their user's index partition (for erasure).
pub const SESSION_LISTING: &str = "WORKSHOPSESSION#";

/// A tenant's live sessions (not yet ended), optionally of one environment: live sessions by
/// tenant (`gsi3`, keys only, sparse: a session leaves it when it ends), then the records by key.
/// An expired session the reaper has not ended yet is among them, as the counts have it.
pub async fn list(
    store: &Store,
    client_id: &str,
    environment: Option<&str>,
) -> Result<Vec<WorkshopSession>, StoreError> {
    let prefix = environment.map(keys::live_sessions_of).unwrap_or_default();
    let partition = keys::live_sessions(client_id);
    let items = crate::store::listed_items(store, keys::GSI3, &partition, &prefix).await?;
    let sessions = items
        .iter()
        .map(WorkshopSession::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(sessions.into_iter().filter(|s| s.state != ENDED).collect())
}

/// A user's session records (live and retained), from the user's index partition (`gsi1`).
pub async fn list_for_user(
    store: &Store,
    client_id: &str,
    user: &str,
) -> Result<Vec<WorkshopSession>, StoreError> {
    let partition = keys::user_partition(client_id, user);
    let items = crate::store::query_index(store, &partition, SESSION_LISTING).await?;
    items
        .iter()
        .filter(|i| crate::tenant::is_owned_by(i, client_id))
        .map(WorkshopSession::from_item)
        .collect()
}
