//! Educates' rules for how long a session runs: when it is expiring, whether and by how much it
//! may be extended, and the extension itself.

use super::{
    ENDED, LIVE_SESSION, RUNNING, SET_DEADLINE, WorkshopSession, deadline_values, retain_until,
    user_map,
};
use crate::events::EventType;
use crate::store::attr::{self, Item};
use crate::store::conditions::NOW;
use crate::store::fields::*;
use crate::store::keys;
use crate::store::tx::{self, TxError, item, names};
use crate::store::{Store, StoreError};
use crate::workshop::slot;
use aws_sdk_dynamodb::types::TransactWriteItem;

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
        move_expiry(table, session, extended.until, now)?,
        slot::hold_until(table, session.holder(), extended.until)?,
        user_map::update_entry(table, &extended, now)?,
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

/// Moves a live session's expiry to `until`, if it is still the one read.
fn move_expiry(
    table: &str,
    session: &WorkshopSession,
    until: i64,
    now: i64,
) -> Result<TransactWriteItem, StoreError> {
    let mut values = Item::from([
        (":until".to_string(), attr::n(until)),
        (":retain".to_string(), attr::n(retain_until(until))),
        (":read".to_string(), attr::n(session.until)),
        (":ended".to_string(), attr::s(ENDED)),
        (NOW.to_string(), attr::n(now)),
    ]);
    values.extend(deadline_values(until, &session.name));
    item::update_if(
        table,
        &keys::workshop_session(&session.name),
        format!("SET #until = :until, expires_at = :retain, {SET_DEADLINE}"),
        values,
        Some(names(&[("#state", STATE), ("#until", UNTIL)])),
        &format!("{LIVE_SESSION} AND #until = :read"),
    )
}
