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
        Some(names(&[("#state", STATE), ("#until", UNTIL)])),
        condition,
    )?];
    if free_slot {
        items.push(slot::free(table, session.holder(), ended.until)?);
    }
    items.push(user_map::remove_entry(table, session)?);
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

/// Ends a session whose time has run out (the reaper): `activation-timeout` if it was never
/// activated, `expired` otherwise. Its slot may already hold a newer session, which is left
/// alone. `Ok(None)` if it is not overdue (ended meanwhile, or extended).
pub async fn expire(
    store: &Store,
    session: &WorkshopSession,
    now: i64,
) -> Result<Option<WorkshopSession>, TxError> {
    let holds_slot = slot::is_held_by(store, session.holder()).await?;
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
