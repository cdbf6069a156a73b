//! Lifecycle events. Each is written as an outbox item (`EVENT#<id>`) in the same transaction as
//! the state change it reports, so no change happens without its event and no event without its
//! change. The table's stream feeds the `event-dispatcher` function, which delivers them signed
//! (`delivery`, `signing`).

pub mod delivery;
pub mod dispatch;
pub mod signing;

use crate::clock;
use crate::store::StoreError;
use crate::store::attr::{self, Item};
use crate::store::conditions::ABSENT;
use crate::store::fields::*;
use crate::store::keys::{self, EXPIRES_AT, GSI1_PK, GSI1_SK};
use crate::store::tx::item;
use aws_sdk_dynamodb::types::TransactWriteItem;
use serde_json::{Value, json};

/// How long an event (and its delivery records) stays in the table.
pub const RETENTION_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    LaunchCreated,
    LaunchRedeemed,
    LaunchProgress,
    SessionAllocated,
    SessionActivated,
    SessionExtended,
    SessionEnded,
    /// A custom event the session's lab sent (`POST /workshops/session/{name}/event/`).
    SessionEvent,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LaunchCreated => "launch.created",
            EventType::LaunchRedeemed => "launch.redeemed",
            EventType::LaunchProgress => "launch.progress",
            EventType::SessionAllocated => "session.allocated",
            EventType::SessionActivated => "session.activated",
            EventType::SessionExtended => "session.extended",
            EventType::SessionEnded => "session.ended",
            EventType::SessionEvent => "session.event",
        }
    }
}

/// One event: what happened, to which tenant, and where besides the tenant's webhook it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique; receivers deduplicate on it (`webhook-id`).
    pub id: String,
    pub kind: EventType,
    pub client_id: String,
    pub occurred_at: i64,
    pub data: Value,
    /// A workshop session's `analytics_url`, which gets that session's events.
    pub analytics_url: Option<String>,
    /// The score for the LMS's gradebook a progress report on an LTI launch stands for (JSON of
    /// `grades::Grade`).
    pub grade: Option<String>,
}

impl Event {
    pub fn new(kind: EventType, client_id: &str, data: Value) -> Self {
        Event {
            id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
            kind,
            client_id: client_id.to_string(),
            occurred_at: clock::now(),
            data,
            analytics_url: None,
            grade: None,
        }
    }

    /// Also posts `grade` to its line item.
    pub fn graded(mut self, grade: &crate::grades::Grade) -> Self {
        self.grade = serde_json::to_string(grade).ok();
        self
    }

    pub fn to(mut self, analytics_url: Option<&str>) -> Self {
        self.analytics_url = analytics_url.map(str::to_string);
        self
    }

    /// The payload, in the Standard Webhooks shape.
    pub fn body(&self) -> String {
        json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "timestamp": clock::rfc3339(self.occurred_at),
            "data": self.data,
        })
        .to_string()
    }

    /// The user the event is about: `user_id` (launches) or `user` (workshop sessions).
    pub fn user(&self) -> Option<&str> {
        ["user_id", "user"]
            .iter()
            .find_map(|name| self.data.get(*name).and_then(Value::as_str))
            .filter(|user| !user.is_empty())
    }

    /// The outbox item, to add to the transaction that makes the change.
    pub fn outbox(&self, table: &str) -> Result<TransactWriteItem, StoreError> {
        item::put(table, self.record(), Some(ABSENT))
    }

    /// The outbox item itself, for an event that is the only change (a lab's custom event).
    pub fn record(&self) -> Item {
        let sequence = clock::now_millis();
        let mut record = keys::event(&self.id).item();
        record.extend([
            (EVENT_ID.to_string(), attr::s(&self.id)),
            (EVENT_TYPE.to_string(), attr::s(self.kind.as_str())),
            (CLIENT_ID.to_string(), attr::s(&self.client_id)),
            ("body".to_string(), attr::s(self.body())),
            (CREATED_AT.to_string(), attr::n(self.occurred_at)),
            (
                EXPIRES_AT.to_string(),
                attr::n(self.occurred_at + RETENTION_SECS),
            ),
            (SEQUENCE.to_string(), attr::n(sequence)),
        ]);
        // Listed under the user it names (the user's own index partition), for erasure: never
        // in a partition of the whole tenant, which every learner's events would write.
        if let Some(user) = self.user() {
            record.extend([
                (
                    GSI1_PK.to_string(),
                    attr::s(keys::user_partition(&self.client_id, user)),
                ),
                (
                    GSI1_SK.to_string(),
                    attr::s(format!("EVENT#{sequence:015}#{}", self.id)),
                ),
            ]);
        }
        if let Some(url) = &self.analytics_url {
            record.insert(ANALYTICS_URL.into(), attr::s(url));
        }
        if let Some(grade) = &self.grade {
            record.insert(AGS_GRADE.into(), attr::s(grade));
        }
        record
    }
}

/// An event as stored in the outbox: enough to deliver it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: String,
    pub event_type: String,
    pub client_id: String,
    pub body: String,
    pub analytics_url: Option<String>,
    pub grade: Option<String>,
    pub created_at: i64,
}

impl StoredEvent {
    pub fn from_item(record: &Item) -> Result<Self, StoreError> {
        Ok(StoredEvent {
            id: attr::get_s(record, EVENT_ID)?,
            event_type: attr::get_s(record, EVENT_TYPE)?,
            client_id: attr::get_s(record, CLIENT_ID)?,
            body: attr::get_s(record, "body")?,
            analytics_url: attr::opt_s(record, ANALYTICS_URL)?,
            grade: attr::opt_s(record, AGS_GRADE)?,
            created_at: attr::get_n(record, CREATED_AT)?,
        })
    }
}

impl StoredEvent {
    /// The score this event carries for an LMS's gradebook, if any.
    pub fn grade(&self) -> Result<Option<crate::grades::Grade>, StoreError> {
        self.grade
            .as_deref()
            .map(|g| {
                serde_json::from_str(g)
                    .map_err(|e| StoreError::Malformed(format!("event {} grade: {e}", self.id)))
            })
            .transpose()
    }
}

/// The events that name one user, oldest first (from the user's index partition; tests).
pub async fn list_for_user(
    store: &crate::store::Store,
    client_id: &str,
    user: &str,
) -> Result<Vec<StoredEvent>, StoreError> {
    let partition = keys::user_partition(client_id, user);
    let items = crate::store::query_index(store, &partition, "EVENT#").await?;
    items
        .iter()
        .filter(|i| crate::tenant::is_owned_by(i, client_id))
        .map(StoredEvent::from_item)
        .collect()
}
