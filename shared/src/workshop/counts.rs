//! Each environment's count of live sessions, for the catalog and status: one item per
//! environment (`keys::environment_count`), kept by the `session-counter` function from the
//! outbox, never by the requests themselves.
//!
//! **The rule: every `session.allocated` adds one, every `session.ended` takes one away, exactly
//! once.** Both events are written in the transaction that makes the change (`events`), so the
//! count follows the sessions without a request ever touching a shared item: a class of 2,000
//! arriving in one minute writes its slots, not one hot counter, and no allocating transaction
//! conflicts with another over a count. The stream delivers each event at least once; the
//! counter writes a mark for the event (`keys::count_mark`) in the same transaction that adds it,
//! on condition that the mark is new, so a retried batch changes nothing. The mark is its own
//! item, not a flag on the event: an erasure deletes the user's events, possibly before they are
//! counted, and the count must not lose them. Marks expire after `MARK_LIFETIME_SECS`, longer
//! than a stream record can be handed over again (24 hours).
//!
//! **What it costs in freshness.** The count lags a request or an end by the stream's delay
//! (measured in `docs/performance.md`), and a session whose time runs out counts until the reaper
//! records its end (`session.ended`, at most a minute later). Capacity itself never lags: it is
//! the slots' conditions in the allocating transaction (`slot`), which read no count.

use crate::clock;
use crate::events::StoredEvent;
use crate::events::dispatch::inserted_event;
use crate::store::attr::{self, Item};
use crate::store::conditions::{ABSENT, NOW};
use crate::store::fields::*;
use crate::store::keys::{self, GSI1_PK, GSI1_SK};
use crate::store::tx::{self, TxError, item, names};
use crate::store::{Store, StoreError};
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::types::TransactWriteItem;
use std::collections::BTreeMap;

/// The `kind` of a count item.
pub const KIND_COUNT: &str = "environment-count";

/// Events counted in one transaction (each with its mark, plus one item per environment: at
/// most 100 items).
const TOGETHER: usize = 40;

/// How long an event's count mark is kept: the stream keeps a record 24 hours, and a batch can
/// be handed over again only while its records are there.
pub const MARK_LIFETIME_SECS: i64 = 2 * 24 * 3600;

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Events counted now.
    pub counted: usize,
    /// Events counted before (a retried batch).
    pub already: usize,
}

/// One event's change to a count: its id, environment, tenant and +1 or -1.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    event_id: String,
    environment: String,
    tenant: String,
    delta: i64,
}

impl Change {
    /// The change an outbox event makes, if it makes one.
    fn of(event: &StoredEvent) -> Option<Change> {
        let delta = match event.event_type.as_str() {
            "session.allocated" => 1,
            "session.ended" => -1,
            _ => return None,
        };
        let body: serde_json::Value = serde_json::from_str(&event.body).ok()?;
        let environment = body["data"]["environment"].as_str()?.to_string();
        Some(Change {
            event_id: event.id.clone(),
            environment,
            tenant: event.client_id.clone(),
            delta,
        })
    }
}

/// Counts the session events of one stream batch, each exactly once. A store failure fails the
/// batch, which Lambda retries: what was counted stays counted, and is not counted again.
pub async fn count(store: &Store, batch: &Event) -> Result<Report, TxError> {
    let mut changes = Vec::new();
    for record in &batch.records {
        match inserted_event(record) {
            Ok(event) => changes.extend(event.as_ref().and_then(Change::of)),
            // Retrying cannot mend it, and failing would hold back every later event: passed
            // over, and said.
            Err(e) => tracing::error!(error = %e, "malformed outbox item passed over"),
        }
    }
    let mut report = Report::default();
    for chunk in changes.chunks(TOGETHER) {
        match apply(store, chunk).await {
            Ok(()) => report.counted += chunk.len(),
            // Some were counted before (a retried batch): each on its own.
            Err(TxError::Condition { .. }) => {
                for change in chunk {
                    match apply(store, std::slice::from_ref(change)).await {
                        Ok(()) => report.counted += 1,
                        Err(TxError::Condition { .. }) => report.already += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// One transaction: every event's mark written if none was there, and each environment's count
/// moved by the sum of its events.
async fn apply(store: &Store, changes: &[Change]) -> Result<(), TxError> {
    let (table, now) = (store.table(), clock::now());
    let mut items = Vec::with_capacity(changes.len() + 1);
    let mut sums: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for change in changes {
        let mut mark = keys::count_mark(&change.event_id).item();
        mark.insert(EXPIRES_AT.to_string(), attr::n(now + MARK_LIFETIME_SECS));
        items.push(item::put(table, mark, Some(ABSENT))?);
        *sums
            .entry((change.environment.as_str(), change.tenant.as_str()))
            .or_default() += change.delta;
    }
    for ((environment, tenant), delta) in sums {
        if delta != 0 {
            items.push(add(table, (environment, tenant), delta, now)?);
        }
    }
    tx::transact(store, "TransactWriteItems count sessions", items).await
}

/// Adds `delta` to an environment's count, creating the count item (listed with the
/// environment in its tenant's index partition) on first use.
fn add(
    table: &str,
    (environment, tenant): (&str, &str),
    delta: i64,
    now: i64,
) -> Result<TransactWriteItem, StoreError> {
    let values = Item::from([
        (":delta".to_string(), attr::n(delta)),
        (":kind".to_string(), attr::s(KIND_COUNT)),
        (":environment".to_string(), attr::s(environment)),
        (":tenant".to_string(), attr::s(tenant)),
        (
            ":gsi1pk".to_string(),
            attr::s(keys::client_partition(tenant)),
        ),
        (":gsi1sk".to_string(), attr::s(listing(environment))),
        (NOW.to_string(), attr::n(now)),
    ]);
    item::update_if(
        table,
        &keys::environment_count(environment),
        "ADD #live :delta SET #kind = :kind, #environment = :environment, \
         #client_id = :tenant, gsi1pk = :gsi1pk, gsi1sk = :gsi1sk, #updated_at = :now",
        values,
        Some(names(&[
            ("#live", LIVE),
            ("#kind", KIND),
            ("#environment", ENVIRONMENT),
            ("#client_id", CLIENT_ID),
            ("#updated_at", UPDATED_AT),
        ])),
        // Its own key: only ever a count.
        "attribute_not_exists(pk) OR #kind = :kind",
    )
}

/// The count's sort key in its tenant's index partition: right after the environment's own.
fn listing(environment: &str) -> String {
    format!("{}COUNT", keys::environment_listing(environment))
}

/// Counts an environment's sessions afresh, by the counter's own rule (allocated and not yet
/// ended, whether or not their time ran out), and sets its count to that (`labgate-admin
/// environment upgrade`: an environment whose sessions began before counts, or a count that lost
/// events to the dead-letter queue). Admin time: it reads the environment's live sessions (live
/// sessions by tenant, eventual: a session of the last second may be missed; on a table from
/// before that index, after `labgate-admin table upgrade` has listed them).
/// Run it once the counter has caught up and the environment is quiet: an event counted after it
/// would count twice. The count set.
pub async fn recount(
    store: &Store,
    (environment, tenant): (&str, &str),
) -> Result<i64, StoreError> {
    let sessions = super::session::list(store, tenant, Some(environment)).await?;
    let live = sessions.iter().filter(|s| s.state != super::ENDED).count() as i64;
    set(store, (environment, tenant), live).await?;
    Ok(live)
}

/// Sets an environment's count outright (`recount`; the benchmark's filled environments).
pub async fn set(
    store: &Store,
    (environment, tenant): (&str, &str),
    live: i64,
) -> Result<(), StoreError> {
    let mut record = keys::environment_count(environment).item();
    record.extend([
        (LIVE.to_string(), attr::n(live)),
        (KIND.to_string(), attr::s(KIND_COUNT)),
        (ENVIRONMENT.to_string(), attr::s(environment)),
        (CLIENT_ID.to_string(), attr::s(tenant)),
        (GSI1_PK.to_string(), attr::s(keys::client_partition(tenant))),
        (GSI1_SK.to_string(), attr::s(listing(environment))),
        (UPDATED_AT.to_string(), attr::n(clock::now())),
    ]);
    crate::store::put(store, record, "PutItem environment count").await
}

/// The count an item holds, if it is a count item: (environment, live).
pub fn from_item(record: &Item) -> Result<Option<(String, i64)>, StoreError> {
    if record
        .get(KIND)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        != Some(KIND_COUNT)
    {
        return Ok(None);
    }
    Ok(Some((
        attr::get_s(record, ENVIRONMENT)?,
        attr::opt_n(record, LIVE)?.unwrap_or(0),
    )))
}
