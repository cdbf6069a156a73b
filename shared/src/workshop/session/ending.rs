//! How a session ends: now (terminate, delete; it must still be live) or because its time ran
//! out (the reaper; it must still be overdue). Either way the record says why, its slot is
//! freed if it still holds it, its user's map drops it and `session.ended` is emitted, in one
//! transaction.

use super::{ENDED, LIVE_SESSION, PENDING, WorkshopSession, retain_until, user_map};
use crate::events::EventType;
use crate::store::attr::{self, Item};
use crate::store::conditions::NOW;
use crate::store::fields::*;
use crate::store::keys;
use crate::store::tx::{self, TxError, item, names};
use crate::store::{Store, StoreError};
use crate::workshop::slot;
use aws_sdk_dynamodb::types::TransactWriteItem;

/// Why a session ended; recorded on it and carried by `session.ended`.
pub const TERMINATED: &str = "terminated";
pub const DELETED: &str = "deleted";
pub const ACTIVATION_TIMEOUT: &str = "activation-timeout";
pub const EXPIRED: &str = "expired";
/// The user's data was erased (`labgate-admin user erase`).
pub const ERASED: &str = "erased";

/// Not ended, and its deadline or expiry has passed: what the reaper ends.
const OVERDUE: &str = "#state <> :ended AND #until <= :now";

/// The items that end a session: the record (if `condition` holds), its event, and if `now`
/// (the session is ended before its time) its slot and its user's map entry. A session whose
/// time is up needs neither: its slot is free and its map entry no longer counts from that
/// second (`user_map` drops such entries whenever it writes the map).
fn ending_items(
    table: &str,
    session: &WorkshopSession,
    reason: &str,
    now: i64,
    condition: &str,
    early: bool,
) -> Result<(WorkshopSession, Vec<TransactWriteItem>), StoreError> {
    let mut ended = session.clone();
    ended.state = ENDED.to_string();
    ended.until = session.until.min(now);
    ended.end_reason = Some(reason.to_string());
    let mut items = vec![item::update_if(
        table,
        &keys::workshop_session(&session.name),
        "SET #state = :ended, #until = :until, ended_at = :now, end_reason = :reason, \
         expires_at = :retain REMOVE token_digest, gsi2pk, gsi2sk, gsi3pk, gsi3sk",
        Item::from([
            (":ended".to_string(), attr::s(ENDED)),
            (NOW.to_string(), attr::n(now)),
            (":until".to_string(), attr::n(ended.until)),
            (":reason".to_string(), attr::s(reason)),
            (":retain".to_string(), attr::n(retain_until(now))),
        ]),
        Some(names(&[("#state", STATE), ("#until", UNTIL)])),
        condition,
    )?];
    if early {
        items.push(slot::free(table, session.holder(), ended.until)?);
        items.push(user_map::remove_entry(table, session)?);
    }
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
    let (ended, items) = ending_items(store.table(), session, reason, now, LIVE_SESSION, true)?;
    match tx::transact(store, "TransactWriteItems end workshop session", items).await {
        Ok(()) => Ok(Some(ended)),
        Err(TxError::Condition { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why an overdue session ended: `activation-timeout` if it was never activated, `expired`
/// otherwise.
fn overdue_reason(session: &WorkshopSession) -> &'static str {
    if session.state == PENDING {
        ACTIVATION_TIMEOUT
    } else {
        EXPIRED
    }
}

/// Ends a session whose time has run out (the reaper). Its slot is left alone: free since the
/// session's time ran out, it may already hold a newer session. `Ok(None)` if it is not overdue
/// (ended meanwhile, or extended).
pub async fn expire(
    store: &Store,
    session: &WorkshopSession,
    now: i64,
) -> Result<Option<WorkshopSession>, TxError> {
    let reason = overdue_reason(session);
    let (ended, items) = ending_items(store.table(), session, reason, now, OVERDUE, false)?;
    match tx::transact(store, "TransactWriteItems expire workshop session", items).await {
        Ok(()) => Ok(Some(ended)),
        Err(TxError::Condition { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Ends overdue sessions together, in one transaction (two items each: at most
/// `MAX_EXPIRED_TOGETHER`): all of them, or, if any is no longer overdue (another run ended it),
/// each on its own. The sessions that this call ended.
pub async fn expire_all(
    store: &Store,
    sessions: &[WorkshopSession],
    now: i64,
) -> Result<Vec<WorkshopSession>, TxError> {
    let mut ended = Vec::with_capacity(sessions.len());
    let mut items = Vec::with_capacity(sessions.len() * 2);
    for session in sessions {
        let reason = overdue_reason(session);
        let (done, its) = ending_items(store.table(), session, reason, now, OVERDUE, false)?;
        ended.push(done);
        items.extend(its);
    }
    if sessions.len() > 1 {
        match tx::transact(store, "TransactWriteItems expire workshop sessions", items).await {
            Ok(()) => return Ok(ended),
            Err(TxError::Condition { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let mut one_by_one = Vec::new();
    for session in sessions {
        one_by_one.extend(expire(store, session, now).await?);
    }
    Ok(one_by_one)
}

/// Sessions `expire_all` ends in one transaction (DynamoDB takes up to 100 items).
pub const MAX_EXPIRED_TOGETHER: usize = 25;
