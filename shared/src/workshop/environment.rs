//! Workshop environments (the catalog): their definition, and how they are read with their
//! capacity slots (the rule for capacity is in `slot`).

use super::counts;
use super::slot::{self, Slot};
use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys::{self, GSI1_PK, GSI1_SK};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `held_until` of a slot whose session never expires, and `until` of such a session (year 9999).
pub const NEVER: i64 = 253_402_300_799;

/// Workshop details, shown in the catalog as Educates shows them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Workshop {
    pub name: String,
    pub title: String,
    pub description: String,
    pub vendor: String,
    pub authors: Vec<String>,
    pub difficulty: String,
    /// As the workshop states it, for example `"30m"`.
    pub duration: String,
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub logo: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub client_id: String,
    pub workshop: Workshop,
    pub capacity: i64,
    /// Session lifetime in seconds from activation; 0: no expiry.
    pub duration_secs: i64,
    /// Longest a session may run with extensions, from activation; 0 or ≤ duration: no extension.
    pub deadline_secs: i64,
    /// Seconds an extension adds; 0: the Educates default (a quarter of the duration, ≥ 300 s).
    pub overtime_secs: i64,
    /// Live sessions one user may hold across the tenant's environments; 0: no limit.
    pub user_limit: i64,
    /// Where activation sends the browser; `{session}` is replaced by the session name.
    pub dashboard_url: String,
    pub created_at: i64,
}

impl Environment {
    pub fn dashboard_for(&self, session: &str) -> String {
        self.dashboard_url.replace("{session}", session)
    }

    fn to_item(&self) -> Result<Item, StoreError> {
        let workshop = serde_json::to_string(&self.workshop)
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let mut item = keys::environment(&self.name).item();
        item.extend([
            (KIND.to_string(), attr::s("environment")),
            (NAME.to_string(), attr::s(&self.name)),
            (CLIENT_ID.to_string(), attr::s(&self.client_id)),
            (WORKSHOP.to_string(), attr::s(workshop)),
            (CAPACITY.to_string(), attr::n(self.capacity)),
            (DURATION.to_string(), attr::n(self.duration_secs)),
            (DEADLINE.to_string(), attr::n(self.deadline_secs)),
            (OVERTIME.to_string(), attr::n(self.overtime_secs)),
            (USER_LIMIT.to_string(), attr::n(self.user_limit)),
            (DASHBOARD_URL.to_string(), attr::s(&self.dashboard_url)),
            (CREATED_AT.to_string(), attr::n(self.created_at)),
            (
                GSI1_PK.to_string(),
                attr::s(keys::client_partition(&self.client_id)),
            ),
            (
                GSI1_SK.to_string(),
                attr::s(keys::environment_listing(&self.name)),
            ),
        ]);
        Ok(item)
    }

    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        let workshop = attr::get_s(item, WORKSHOP)?;
        Ok(Environment {
            name: attr::get_s(item, NAME)?,
            client_id: attr::get_s(item, CLIENT_ID)?,
            workshop: serde_json::from_str(&workshop)
                .map_err(|e| StoreError::Malformed(format!("workshop: {e}")))?,
            capacity: attr::get_n(item, CAPACITY)?,
            duration_secs: attr::get_n(item, DURATION)?,
            deadline_secs: attr::get_n(item, DEADLINE)?,
            overtime_secs: attr::get_n(item, OVERTIME)?,
            user_limit: attr::get_n(item, USER_LIMIT)?,
            dashboard_url: attr::get_s(item, DASHBOARD_URL)?,
            created_at: attr::get_n(item, CREATED_AT)?,
        })
    }
}

impl crate::tenant::Owned for EnvironmentView {
    fn tenant_id(&self) -> &str {
        &self.environment.client_id
    }
}

/// An environment with its count of live sessions, and the slots read with it (none for the
/// catalog's counts; the held ones when its sessions are listed; all of them from `load`).
#[derive(Debug, Clone)]
pub struct EnvironmentView {
    pub environment: Environment,
    /// Live sessions as `counts` keeps them (0 before the first).
    pub counted: i64,
    pub slots: Vec<Slot>,
}

impl EnvironmentView {
    pub fn live_slots(&self, now: i64) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(move |s| s.is_live(now))
    }

    /// Sessions allocated, as counted (`counts`: it lags by seconds, an expiry by the reaper).
    pub fn allocated(&self) -> i64 {
        self.counted.clamp(0, self.environment.capacity)
    }

    pub fn available(&self) -> i64 {
        self.environment.capacity - self.allocated()
    }

    /// Slots held at `now`, from the slots read: exact, for checks that read them all (`load`).
    pub fn held(&self, now: i64) -> i64 {
        self.live_slots(now).count() as i64
    }

    /// Builds views from items of one or more environments (definitions, counts and slots).
    pub fn group(items: &[Item]) -> Result<Vec<EnvironmentView>, StoreError> {
        let mut views: Vec<EnvironmentView> = Vec::new();
        for item in items.iter().filter(|i| kind(i) == Some("environment")) {
            views.push(EnvironmentView {
                environment: Environment::from_item(item)?,
                counted: 0,
                slots: Vec::new(),
            });
        }
        let find = |views: &mut Vec<EnvironmentView>, env: &str| {
            views.iter_mut().position(|v| v.environment.name == env)
        };
        for item in items {
            if let Some((env, live)) = counts::from_item(item)? {
                if let Some(i) = find(&mut views, &env) {
                    views[i].counted = live;
                }
            } else if attr::opt_s(item, keys::SK)?.as_deref() == Some(keys::SESSION_RECORD) {
                let session = super::session::WorkshopSession::from_item(item)?;
                if let Some(i) = find(&mut views, &session.environment) {
                    views[i].slots.push(Slot::held_by(&session));
                }
            } else if kind(item) == Some("slot") {
                let env = attr::get_s(item, ENVIRONMENT)?;
                if let Some(i) = find(&mut views, &env) {
                    views[i].slots.push(Slot::from_item(item)?);
                }
            }
        }
        Ok(views)
    }
}

fn kind(item: &Item) -> Option<&str> {
    item.get(KIND)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// An environment with its count and every slot, strongly consistent: one query of its
/// partition (table). Admin time and checks: it reads `capacity` slots.
pub async fn load(store: &Store, name: &str) -> Result<Option<EnvironmentView>, StoreError> {
    let items =
        crate::store::query_partition(store, &keys::environment_partition(name), "").await?;
    Ok(EnvironmentView::group(&items)?.into_iter().next())
}

/// A tenant's environment as status shows it: its definition and count (two items, one query of
/// the tenant's index partition, eventual like every index read), and with `sessions` its held
/// sessions (live sessions by tenant, `gsi3`, then the records by key, as the slots they hold). Free slots are never listed,
/// so this costs the same at any capacity.
pub async fn load_listed(
    store: &Store,
    client_id: &str,
    name: &str,
    sessions: bool,
) -> Result<Option<EnvironmentView>, StoreError> {
    let partition = keys::client_partition(client_id);
    let mut items =
        crate::store::query_index(store, &partition, &keys::environment_listing(name)).await?;
    if sessions {
        let live = keys::live_sessions(client_id);
        let prefix = keys::live_sessions_of(name);
        items.extend(crate::store::listed_items(store, keys::GSI3, &live, &prefix).await?);
    }
    Ok(EnvironmentView::group(&items)?.into_iter().next())
}

/// Every environment of a tenant with its count (one query of the tenant's index partition: two
/// items an environment, whatever its sessions), and with `sessions` the slots that hold them
/// (live sessions by tenant, `gsi3`, then the records by key, as the slots they hold). Eventually consistent (an index), like the counts themselves: allocation never
/// uses them, it claims a slot by condition.
pub async fn list(
    store: &Store,
    client_id: &str,
    sessions: bool,
) -> Result<Vec<EnvironmentView>, StoreError> {
    let partition = keys::client_partition(client_id);
    let mut items = crate::store::query_index(store, &partition, "ENV#").await?;
    if sessions {
        let live = keys::live_sessions(client_id);
        items.extend(crate::store::listed_items(store, keys::GSI3, &live, "").await?);
    }
    EnvironmentView::group(&items)
}

/// Creates an environment with its slots (`slot::ensure_all`). Names are global (they name
/// sessions, which the browser reaches without a tenant); `false` if the name is taken.
pub async fn create(store: &Store, environment: &Environment) -> Result<bool, StoreError> {
    let item = environment.to_item()?;
    if !crate::store::put_new(store, item, "PutItem environment").await? {
        return Ok(false);
    }
    slot::ensure_all(store, &environment.name, environment.capacity).await?;
    Ok(true)
}

/// Gives an environment created before the free-slot index its slots and their index keys, and
/// its count from its sessions (`counts::recount`; `labgate-admin environment upgrade`, after
/// `table upgrade` has listed the sessions); the slots written.
pub async fn upgrade(store: &Store, name: &str) -> Result<Option<usize>, StoreError> {
    // The recount reads live sessions by tenant (`gsi3`): the index must be there.
    crate::migrate::index_ready(store).await?;
    let Some(view) = load(store, name).await? else {
        return Ok(None);
    };
    let env = &view.environment;
    let written = slot::ensure_all(store, &env.name, env.capacity).await?;
    counts::recount(store, (&env.name, &env.client_id)).await?;
    Ok(Some(written))
}

/// Environment names: what Educates allows in a path segment, bounded.
pub fn is_valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The ISO-8601 form Educates uses: milliseconds and `Z`.
pub fn educates_time(epoch_secs: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp(epoch_secs)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}
