//! The reaper: ends pending sessions past their activation deadline and running sessions past
//! their expiry, recording why. It finds work in the deadline index (`gsi2`; only live
//! sessions carry it), never by a scan:
//! - the index is sharded by the hour of each deadline and a hash of the session's name
//!   (`keys::deadline_partition`), so a rush of starts writes `DEADLINE_SHARDS` partitions;
//! - a cursor item (`keys::reaper_cursor`) holds the oldest hour that may still hold a live
//!   deadline: a run pages every shard of each hour from the cursor to now, and moves the cursor
//!   past the hours it found empty, so its cost follows the overdue sessions, not the history;
//! - sessions are ended in transactions of up to `MAX_EXPIRED_TOGETHER`, `CONCURRENCY` in
//!   flight, each session's end conditional on its still being overdue, so overlapping runs end
//!   a session once (a transaction that finds one ended already ends the rest one by one);
//! - a run is bounded (`limit` sessions, and a time budget) and leaves the rest to the next.
//!
//! Capacity does not wait for the reaper: a slot is free the second its holder's time is up, and
//! the user's map stops counting the session that second, so ending an overdue session touches
//! neither. The reaper makes the record say so and emits `session.ended`: two items a session.

use super::session::{self, WorkshopSession};
use crate::store::attr::{self, Item};
use crate::store::keys::{self, DEADLINE_HOUR, DEADLINE_SHARDS};
use crate::store::tx::TxError;
use crate::store::{Store, StoreError};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Sessions one scheduled run ends at most: enough for a minute's worth of a large class
/// (docs/performance.md measures the rate), within the function's timeout.
pub const BATCH: usize = 15_000;

/// How long a scheduled run keeps ending sessions before it leaves the rest to the next run
/// (the function's timeout is 60 s).
pub const BUDGET: Duration = Duration::from_secs(45);

/// Transactions in flight at once.
const CONCURRENCY: usize = 4;

/// Hours the first run looks back, before there is a cursor. Deadlines in the sharded index
/// are written after the deployment that brought it, so they are no older than the first run
/// (a minute later, by the schedule) by much; those of before are in `LEGACY_DEADLINES`, which
/// every run drains.
const FIRST_LOOK_BACK_HOURS: i64 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Overdue sessions found.
    pub found: usize,
    /// Sessions this run ended.
    pub ended: usize,
    /// Found but ended (or extended) by someone else meanwhile.
    pub skipped: usize,
}

/// One run with a limit of `limit` sessions and no time budget (tests).
pub async fn reap(store: &Store, now: i64, limit: usize) -> Result<Report, TxError> {
    reap_within(store, now, limit, Duration::MAX).await
}

/// One run: ends up to `limit` overdue sessions, starting no new batch after `budget`.
pub async fn reap_within(
    store: &Store,
    now: i64,
    limit: usize,
    budget: Duration,
) -> Result<Report, TxError> {
    let started = Instant::now();
    // Sort keys are `<until:012>#<name>`: everything below `<now + 1>` has `until <= now`.
    // gsi2 is eventual: a stale hit is re-read consistently and ended only if still overdue (a
    // condition of its transaction); a session missed now is found by the next run.
    let bound = format!("{:012}", now + 1);
    let cursor = read_cursor(store, now).await?;
    let mut report = Report::default();
    let legacy = keys::LEGACY_DEADLINES.to_string();
    if !page(store, (&legacy, &bound), now, limit, &mut report).await? {
        return Ok(report);
    }
    let mut drained_to = cursor;
    for hour in cursor..=now.div_euclid(DEADLINE_HOUR) {
        let mut cleared = true;
        for shard in 0..DEADLINE_SHARDS {
            if report.found >= limit || started.elapsed() >= budget {
                return finish(store, cursor, drained_to, report).await;
            }
            let partition = keys::deadline_shard(hour, shard);
            cleared &= page(store, (&partition, &bound), now, limit, &mut report).await?;
        }
        // An hour is behind us for good once it ended a grace period ago (the index is eventual:
        // a deadline written just before the hour turned may show a moment later).
        let behind = (hour + 1) * DEADLINE_HOUR + GRACE_SECS <= now;
        if cleared && behind && drained_to == hour {
            drained_to = hour + 1;
        }
    }
    finish(store, cursor, drained_to, report).await
}

/// Seconds after an hour of deadlines ends before the cursor may pass it.
const GRACE_SECS: i64 = 300;

/// Ends the overdue sessions of one deadline partition, up to what is left of `limit`;
/// whether it found them all (nothing overdue is left in it).
async fn page(
    store: &Store,
    (partition, bound): (&str, &str),
    now: i64,
    limit: usize,
    report: &mut Report,
) -> Result<bool, TxError> {
    let room = limit.saturating_sub(report.found);
    if room == 0 {
        return Ok(false);
    }
    let (wanted, more) = crate::store::deadlines_below(store, partition, bound, room).await?;
    report.found += wanted.len();
    end_all(store, &wanted, now, report).await?;
    Ok(!more)
}

async fn finish(
    store: &Store,
    cursor: i64,
    drained_to: i64,
    report: Report,
) -> Result<Report, TxError> {
    if drained_to > cursor {
        move_cursor(store, drained_to).await?;
    }
    Ok(report)
}

/// Reads the records of `wanted` (100 per `BatchGetItem`) and ends those still overdue,
/// `MAX_EXPIRED_TOGETHER` to a transaction, `CONCURRENCY` transactions at a time.
async fn end_all(
    store: &Store,
    wanted: &[keys::Key],
    now: i64,
    report: &mut Report,
) -> Result<(), TxError> {
    for chunk in wanted.chunks(100) {
        let records = crate::store::batch_get(store, chunk).await?;
        let overdue = records
            .iter()
            .map(WorkshopSession::from_item)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let ended: Vec<Vec<WorkshopSession>> =
            futures::stream::iter(overdue.chunks(session::MAX_EXPIRED_TOGETHER))
                .map(|group| session::expire_all(store, group, now))
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await?;
        let ended: Vec<WorkshopSession> = ended.into_iter().flatten().collect();
        for session in &ended {
            tracing::info!(
                session = %session.name,
                reason = session.end_reason.as_deref().unwrap_or_default(),
                "session ended by the reaper"
            );
        }
        report.ended += ended.len();
        report.skipped += overdue.len() - ended.len();
    }
    Ok(())
}

/// The oldest hour of deadlines that may hold a live session: the cursor, or on the first run
/// `FIRST_LOOK_BACK_HOURS` back.
async fn read_cursor(store: &Store, now: i64) -> Result<i64, StoreError> {
    let found = crate::store::get(store, &keys::reaper_cursor(), "GetItem reaper cursor").await?;
    let default = now.div_euclid(DEADLINE_HOUR) - FIRST_LOOK_BACK_HOURS;
    Ok(found
        .as_ref()
        .and_then(|c| attr::opt_n(c, "hour").ok().flatten())
        .unwrap_or(default))
}

/// Moves the cursor on to `hour`; never back (overlapping runs).
async fn move_cursor(store: &Store, hour: i64) -> Result<(), StoreError> {
    let update = crate::store::write::Update {
        expression: "SET #hour = :hour",
        values: Item::from([(":hour".to_string(), attr::n(hour))]),
        names: &[("#hour", "hour")],
        condition: "attribute_not_exists(#hour) OR #hour < :hour",
    };
    let key = keys::reaper_cursor();
    crate::store::write::update(store, &key, update, "UpdateItem reaper cursor").await?;
    Ok(())
}
