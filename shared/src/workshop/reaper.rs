//! The reaper: ends pending sessions past their activation deadline and running sessions past
//! their expiry, freeing capacity for good and recording why. It finds work by a query on the
//! deadline index (`gsi2`, only live sessions carry it), never a scan; it is idempotent (each
//! end is conditional on the session still being overdue, so overlapping runs end a session
//! once) and bounded (a run takes at most `limit` sessions and leaves the rest to the next).
//!
//! Capacity does not wait for the reaper: a slot is free the second its holder's time is up.
//! The reaper makes the record say so, emits `session.ended`, and tidies the user's map.

use super::session::{self, WorkshopSession};
use crate::store::attr;
use crate::store::keys::{self, GSI2, GSI2_PK, GSI2_SK};
use crate::store::tx::TxError;
use crate::store::{Store, StoreError};
use serde::Serialize;

/// Sessions one run ends at most.
pub const BATCH: i32 = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Overdue sessions found.
    pub found: usize,
    /// Sessions this run ended.
    pub ended: usize,
    /// Found but ended (or extended) by someone else meanwhile.
    pub skipped: usize,
}

pub async fn reap(store: &Store, now: i64, limit: i32) -> Result<Report, TxError> {
    // Sort keys are `<until:012>#<name>`: everything below `<now + 1>` has `until <= now`.
    // gsi2 is eventual: a stale hit is re-read consistently and ended only if still overdue (a
    // condition of its transaction); a session missed now is found by the next run.
    let due = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(GSI2)
        .key_condition_expression("#pk = :pk AND #sk < :bound")
        .expression_attribute_names("#pk", GSI2_PK)
        .expression_attribute_names("#sk", GSI2_SK)
        .expression_attribute_values(":pk", attr::s(keys::DEADLINES))
        .expression_attribute_values(":bound", attr::s(format!("{:012}", now + 1)))
        .limit(limit)
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("Query deadlines", e))?;
    let wanted: Vec<keys::Key> = due
        .items()
        .iter()
        .filter_map(|i| {
            Some(keys::Key {
                pk: attr::get_s(i, keys::PK).ok()?,
                sk: attr::get_s(i, keys::SK).ok()?,
            })
        })
        .collect();
    let mut report = Report {
        found: wanted.len(),
        ..Report::default()
    };
    if wanted.is_empty() {
        return Ok(report);
    }
    let records = crate::store::batch_get(store, &wanted).await?;
    for record in &records {
        let overdue = WorkshopSession::from_item(record)?;
        match session::expire(store, &overdue, now).await? {
            Some(ended) => {
                tracing::info!(
                    session = %ended.name,
                    reason = ended.end_reason.as_deref().unwrap_or_default(),
                    "session ended by the reaper"
                );
                report.ended += 1;
            }
            None => report.skipped += 1,
        }
    }
    Ok(report)
}
