//! A progress report on a launch (`POST /api/v1/progress`): its rules (`parse`) and how it is
//! recorded (`record`): the latest report kept on the launch, and `launch.progress` emitted with
//! the LMS's identifiers (`user_id`, `content_id`, `resource_id`, `context`) in one transaction.
//! On an LTI launch of a graded link, the event also carries the score it stands for, which the
//! event dispatcher posts to the LMS's gradebook (`grades`).

use super::Launch;
use crate::events::{Event, EventType};
use crate::http::ApiError;
use crate::store::Store;
use crate::store::attr::{self, Item};
use crate::store::fields::CLIENT_ID;
use crate::store::keys;
use crate::store::tx::{self, TxError, item};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const MAX_DETAILS_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
struct Raw {
    launch_id: Option<String>,
    progress: Option<f64>,
    score: Option<f64>,
    max_score: Option<f64>,
    completed: Option<bool>,
    details: Option<Value>,
}

/// A validated progress report, as stored on the launch and sent in the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub progress: f64,
    pub score: Option<f64>,
    pub max_score: Option<f64>,
    pub completed: bool,
    pub details: Value,
}

fn bad(message: &str) -> ApiError {
    ApiError::bad_request(message)
}

/// Parses and checks a report; every problem names its field.
pub fn parse(body: &[u8]) -> Result<(String, Progress), ApiError> {
    let raw: Raw = crate::http::json_object(body)?;
    let launch_id = raw
        .launch_id
        .as_deref()
        .and_then(|id| uuid::Uuid::parse_str(id.trim()).ok())
        .ok_or_else(|| bad("`launch_id` must be the UUID of a launch."))?
        .to_string();
    let progress = raw
        .progress
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| bad("`progress` must be a number from 0 to 1."))?;
    if raw.score.is_some_and(|s| !s.is_finite() || s < 0.0) {
        return Err(bad("`score` must be a number of at least 0."));
    }
    if raw.max_score.is_some_and(|m| !m.is_finite() || m <= 0.0) {
        return Err(bad("`max_score` must be a number above 0."));
    }
    if let (Some(score), Some(max)) = (raw.score, raw.max_score)
        && score > max
    {
        return Err(bad("`score` must not exceed `max_score`."));
    }
    let details = match raw.details {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(map)) => Value::Object(map),
        Some(_) => return Err(bad("`details` must be a JSON object.")),
    };
    if details.to_string().len() > MAX_DETAILS_BYTES {
        return Err(bad("`details` is larger than 16 KiB."));
    }
    Ok((
        launch_id,
        Progress {
            progress,
            score: raw.score,
            max_score: raw.max_score,
            completed: raw.completed.unwrap_or(false),
            details,
        },
    ))
}

/// Keeps `progress` on a launch of `client_id` and emits `launch.progress`, in one transaction.
/// `None` if the launch is not (or no longer) that client's.
pub async fn record(
    store: &Store,
    client_id: &str,
    launch: &Launch,
    progress: &Progress,
    now: i64,
) -> Result<Option<Event>, TxError> {
    let mut event = progress_event(client_id, launch, progress);
    if let Some(line) = &launch.line_item {
        // A graded LTI launch: the report is also a score for the LMS's gradebook.
        let reported = crate::grades::Reported {
            progress: progress.progress,
            score: progress.score,
            max_score: progress.max_score,
            completed: progress.completed,
        };
        let grade = crate::grades::Grade::new(line, reported, crate::grades::now_micros());
        event = event.graded(&grade);
    }
    let table = store.table();
    let stored = serde_json::to_string(progress).unwrap_or_default();
    let items = vec![
        item::update_if(
            table,
            &keys::launch(&launch.id),
            "SET latest_progress = :progress, progress_at = :now",
            Item::from([
                (":progress".to_string(), attr::s(stored)),
                (":now".to_string(), attr::n(now)),
                (":cid".to_string(), attr::s(client_id)),
            ]),
            None,
            &format!(
                "{CLIENT_ID} = :cid AND (attribute_not_exists(expires_at) OR expires_at > :now)"
            ),
        )?,
        event.outbox(table)?,
    ];
    match tx::transact(store, "TransactWriteItems progress", items).await {
        Ok(()) => Ok(Some(event)),
        Err(TxError::Condition { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `launch.progress`: the report with the LMS's identifiers of the launch.
fn progress_event(client_id: &str, launch: &Launch, progress: &Progress) -> Event {
    Event::new(
        EventType::LaunchProgress,
        client_id,
        json!({
            "launch_id": launch.id,
            "user_id": launch.user_id,
            "content_id": launch.content_id,
            "resource_id": launch.resource_id,
            "context": launch.context,
            "progress": progress.progress,
            "score": progress.score,
            "max_score": progress.max_score,
            "completed": progress.completed,
            "details": progress.details,
        }),
    )
}
