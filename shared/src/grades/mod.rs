//! Grades back to the LMS through LTI Assignment and Grade Services 2.0 (AGS). Below `lti`
//! (it reads registrations and the tool's keys) and above nothing that imports it back:
//! `launch` keeps a launch's line item and attaches scores to progress events, `events`
//! delivers them, the LTI launch handler finds the line item in the id_token.
//!
//! A launch whose id_token carries the AGS endpoint claim, with a line item and the score scope,
//! keeps that line item on its record (`LineItem`). Each progress report on such a launch puts
//! the score it stands for on its `launch.progress` event (`Grade`), in the report's own
//! transaction; the event dispatcher posts it to `{lineitem}/scores` (`ags_client`), retried and
//! kept as a dead letter when it still fails, exactly as a webhook delivery is.
//!
//! Order. A platform keeps the score with the latest `timestamp`, and refuses or ignores an older
//! one. So for one learner and line item, labgate never has two scores in flight at once and
//! never sends an older one after a newer: each send holds a lease on the pair's order record,
//! which keeps the timestamp last delivered, and a score no newer than that is recorded as
//! superseded instead of sent (its newer one carries the learner's grade).

pub mod ags_client;

use crate::lti::claims::AGS_SCOPE_SCORE;
use crate::lti::id_token::LaunchClaims;
use crate::lti::registration::Registration;
use crate::master_key::KeyRing;
use crate::store::attr::{self, Item};
use crate::store::fields::AGS_LINE_ITEM;
use crate::store::keys;
use crate::store::write::Update;
use crate::store::{Store, StoreError};
use ags_client::AgsClient;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The longest line item URL kept (a platform's are well under it).
pub const MAX_LINEITEM_CHARS: usize = 2048;

/// The line item a launch's scores go to, and whose they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// The registration the scores are posted for: its token URL and the tool's client_id.
    pub issuer: String,
    pub client_id: String,
    pub lineitem: String,
    /// The platform's id of the learner (`sub`), AGS's `userId`.
    pub user: String,
}

impl LineItem {
    /// The line item of a launch's AGS endpoint claim, if the platform gave one labgate may post
    /// scores to (the claim lists the score scope). A link without a line item is not graded.
    pub fn of_launch(registration: &Registration, claims: &LaunchClaims) -> Option<LineItem> {
        let endpoint = claims.ags_endpoint.as_ref()?;
        let may_score = endpoint
            .get("scope")
            .and_then(Value::as_array)
            .is_some_and(|scopes| scopes.iter().any(|s| s.as_str() == Some(AGS_SCOPE_SCORE)));
        let lineitem = endpoint.get("lineitem")?.as_str()?;
        let usable = lineitem.chars().count() <= MAX_LINEITEM_CHARS
            && ags_client::scores_url(lineitem).is_some();
        (may_score && usable).then(|| LineItem {
            issuer: registration.issuer.clone(),
            client_id: registration.client_id.clone(),
            lineitem: lineitem.to_string(),
            user: claims.subject.clone(),
        })
    }

    /// As kept on the launch record (`ags_line_item`).
    pub fn to_attr(&self) -> attr::Item {
        Item::from([(
            AGS_LINE_ITEM.to_string(),
            attr::s(serde_json::to_string(self).unwrap_or_default()),
        )])
    }

    pub fn from_item(record: &Item) -> Result<Option<LineItem>, StoreError> {
        attr::opt_s(record, AGS_LINE_ITEM)?
            .map(|s| {
                serde_json::from_str(&s)
                    .map_err(|e| StoreError::Malformed(format!("launch line item: {e}")))
            })
            .transpose()
    }

    /// The order record of this learner's scores on this line item.
    fn order_key(&self) -> keys::Key {
        let mut digest = Sha256::new();
        for part in [&self.issuer, &self.client_id, &self.lineitem, &self.user] {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        keys::ags_order(&hex::encode(digest.finalize()))
    }
}

/// A score on its way to a line item: carried by the `launch.progress` event of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    pub line: LineItem,
    /// The score as posted (`application/vnd.ims.lis.v1.score+json`).
    pub score: Value,
    /// When the report was recorded, in epoch microseconds: the score's `timestamp`, and its
    /// place in the order of this learner's scores.
    pub order: i64,
}

/// What a progress report says, as a score stands for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reported {
    /// How far, from 0 to 1.
    pub progress: f64,
    pub score: Option<f64>,
    pub max_score: Option<f64>,
    pub completed: bool,
}

impl Grade {
    /// The score a progress report stands for (AGS 2.0, section 3.4), recorded at `micros`:
    /// - with `score` and `max_score`, those (partial credit);
    /// - otherwise the fraction done, out of 1;
    /// - `activityProgress` from `completed` and `progress`; `gradingProgress` `FullyGraded`
    ///   once the report completes the lab or gives a score, `Pending` before.
    pub fn new(line: &LineItem, report: Reported, micros: i64) -> Grade {
        let (given, maximum) = match (report.score, report.max_score) {
            (Some(score), Some(max)) => (score, max),
            _ => (report.progress, 1.0),
        };
        let activity = if report.completed {
            "Completed"
        } else if report.progress > 0.0 {
            "InProgress"
        } else {
            "Started"
        };
        let graded = report.completed || (report.score.is_some() && report.max_score.is_some());
        let score = json!({
            "userId": line.user,
            "scoreGiven": given,
            "scoreMaximum": maximum,
            "activityProgress": activity,
            "gradingProgress": if graded { "FullyGraded" } else { "Pending" },
            "timestamp": timestamp(micros),
        });
        Grade {
            line: line.clone(),
            score,
            order: micros,
        }
    }
}

/// RFC 3339 with microseconds, as platforms compare them.
fn timestamp(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Epoch microseconds now.
pub fn now_micros() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

/// How a send is tried: the event dispatcher's delivery policy.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    /// Pause before the second attempt; doubled for each one after.
    pub backoff: Duration,
    /// Each request's timeout (the lease covers them all).
    pub timeout: Duration,
    /// How long the order record outlives its last score: past the retention of every event
    /// that could still be sent again (`labgate-admin delivery resend`), so that no older
    /// score ever follows a newer one. TTL deleting it late only keeps the order longer.
    pub keep_order_secs: i64,
}

/// How a send fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Delivered {
        attempts: u32,
    },
    /// Not sent (or not accepted) after `attempts`; why.
    Failed {
        attempts: u32,
        error: String,
    },
    /// A newer score for the same learner and line item was delivered: this one is not sent.
    Superseded,
}

/// Sends one event's score, in order, with the policy's retries. A store failure is an error
/// (the stream batch is retried); everything else is an outcome.
pub async fn deliver(
    store: &Store,
    (ags, ring): (&AgsClient, &KeyRing),
    retry: Retry,
    event_id: &str,
    grade: &Grade,
) -> Result<Sent, StoreError> {
    let line = &grade.line;
    let failed = |error: &str| Sent::Failed {
        attempts: 0,
        error: error.to_string(),
    };
    let key = keys::lti_registration(&line.issuer, &line.client_id);
    let found = crate::store::get(store, &key, "GetItem LTI registration").await?;
    let Some(registration) = found.as_ref().map(Registration::from_item).transpose()? else {
        return Ok(failed("the LTI registration of this line item was removed"));
    };
    let Some(tool_key) = ring.tool_keys().first() else {
        return Ok(failed(
            "the key ring has no LTI tool key to ask the platform for a token",
        ));
    };
    let lease = lease_length(&retry);
    let order = line.order_key();
    // Another send for this learner and line item finishes first; waited for a while, then the
    // stream batch is failed, so that Lambda hands it over again (never a dead letter for a
    // score that was only kept waiting).
    let waited_until = std::time::Instant::now() + MAX_WAIT;
    loop {
        match claim(
            store,
            &order,
            event_id,
            grade.order,
            (lease, retry.keep_order_secs),
        )
        .await?
        {
            Claim::Held => break,
            Claim::Superseded => return Ok(Sent::Superseded),
            Claim::Busy if std::time::Instant::now() < waited_until => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Claim::Busy => {
                return Err(StoreError::Unavailable {
                    op: "UpdateItem AGS order lease",
                    detail: "another score for this learner and line item is being sent".into(),
                });
            }
        }
    }
    let mut last_error = String::new();
    let mut sent = None;
    for attempt in 0..retry.attempts {
        if attempt > 0 {
            tokio::time::sleep(retry.backoff * 2u32.pow(attempt - 1)).await;
        }
        match ags
            .post_score(&registration, tool_key, &line.lineitem, &grade.score)
            .await
        {
            Ok(()) => {
                sent = Some(Sent::Delivered {
                    attempts: attempt + 1,
                });
                break;
            }
            Err(e) => last_error = e,
        }
    }
    let sent = sent.unwrap_or(Sent::Failed {
        attempts: retry.attempts,
        error: last_error,
    });
    let delivered = matches!(sent, Sent::Delivered { .. }).then_some(grade.order);
    release(store, &order, event_id, delivered).await?;
    Ok(sent)
}

/// How long a send waits for another one's lease before the batch is handed back: with the
/// dispatcher's webhook and analytics deliveries and its own attempts, within its 120 s.
const MAX_WAIT: Duration = Duration::from_secs(20);

/// A lease covers every attempt of one send, with its pauses: each attempt is at most four
/// requests (a token, the post, and after a 401 a new token and the post again).
fn lease_length(retry: &Retry) -> Duration {
    let attempts = retry.attempts.max(1);
    let pauses = retry.backoff * (2u32.pow(attempts.min(16)) - 1);
    retry.timeout * 4 * attempts + pauses + Duration::from_secs(5)
}

enum Claim {
    Held,
    Busy,
    Superseded,
}

/// Takes the order record's lease for this event's score: only if nothing newer was delivered
/// and no other send holds a live lease.
async fn claim(
    store: &Store,
    order: &keys::Key,
    event_id: &str,
    micros: i64,
    (lease, keep_order_secs): (Duration, i64),
) -> Result<Claim, StoreError> {
    let now_ms = crate::clock::now_millis();
    let until = now_ms + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let change = Update {
        expression: "SET holder = :event, lease_until = :until, expires_at = :expires",
        values: Item::from([
            (":event".to_string(), attr::s(event_id)),
            (":until".to_string(), attr::n(until)),
            (":now".to_string(), attr::n(now_ms)),
            (":order".to_string(), attr::n(micros)),
            (
                ":expires".to_string(),
                attr::n(crate::clock::now() + keep_order_secs),
            ),
        ]),
        names: &[],
        condition: "(attribute_not_exists(sent_order) OR sent_order < :order) AND \
                    (attribute_not_exists(holder) OR holder = :event OR lease_until < :now)",
    };
    if crate::store::write::update(store, order, change, "UpdateItem AGS order lease")
        .await?
        .is_some()
    {
        return Ok(Claim::Held);
    }
    let record = crate::store::get(store, order, "GetItem AGS order").await?;
    let sent = record
        .as_ref()
        .map(|r| attr::opt_n(r, "sent_order"))
        .transpose()?
        .flatten();
    Ok(match sent {
        Some(sent) if sent >= micros => Claim::Superseded,
        _ => Claim::Busy,
    })
}

/// Gives the lease back, recording the score's order when it was delivered.
async fn release(
    store: &Store,
    order: &keys::Key,
    event_id: &str,
    delivered: Option<i64>,
) -> Result<(), StoreError> {
    let mut values = Item::from([(":event".to_string(), attr::s(event_id))]);
    let expression = match delivered {
        Some(micros) => {
            values.insert(":order".into(), attr::n(micros));
            "SET sent_order = :order REMOVE holder, lease_until"
        }
        None => "REMOVE holder, lease_until",
    };
    let change = Update {
        expression,
        values,
        names: &[],
        condition: "holder = :event",
    };
    // A lease that ran out and was taken meanwhile is the other send's now: nothing to give.
    crate::store::write::update(store, order, change, "UpdateItem AGS order release").await?;
    Ok(())
}
