//! The reaper: ends pending sessions past their activation deadline and running sessions past
//! their expiry, freeing capacity for good and recording why. It finds work by a query on the
//! deadline index (`gsi2`, only live sessions carry it), never a scan; it is idempotent (each
//! end is conditional on the session still being overdue, so overlapping runs end a session
//! once) and bounded (a run takes at most `limit` sessions and leaves the rest to the next).
//!
//! Capacity does not wait for the reaper: a slot is free the second its holder's time is up.
//! The reaper makes the record say so, emits `session.ended`, and tidies the user's map.

use super::session::{self, WorkshopSession};
use crate::store::Store;
use crate::store::tx::TxError;
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
    let bound = format!("{:012}", now + 1);
    let wanted = crate::store::deadlines_below(store, &bound, limit).await?;
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
