//! `POST /api/v1/progress`: a grading service reports a learner's progress on a launch; labgate
//! keeps the latest report on the launch and emits `launch.progress` with the LMS's identifiers
//! (`user_id`, `content_id`, `resource_id`, `context`) for delivery to the LMS.

use super::Launch;
use crate::api_client::{self, Scope};
use crate::clock;
use crate::events::{Event, EventType};
use crate::http::{self, ApiError};
use crate::state::AppState;
use crate::store::attr::{self, Item};
use crate::store::keys;
use crate::store::tx::{self, TxError, item};
use lambda_http::http::header::AUTHORIZATION;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const MAX_BODY_BYTES: usize = 64 * 1024;
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
    if body.len() > MAX_BODY_BYTES {
        return Err(bad("Request body is larger than 64 KiB."));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}.")))?;
    if !value.is_object() {
        return Err(bad("Request body must be a JSON object."));
    }
    let raw: Raw = serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::bad_request(format!("Invalid `{}`: {}.", e.path(), e.inner())))?;
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

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| report(state, req)).await
}

#[tracing::instrument(skip_all)]
async fn report(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    // The launch is read with the token, in one round trip; a bad token is still refused first.
    let parsed = parse(http::body_bytes(&req));
    let launch_key = parsed.as_ref().ok().map(|(id, _)| keys::launch(id));
    let (client, found) = api_client::authenticate_with(
        &state.store,
        http::header(&req, AUTHORIZATION.as_str()),
        Scope::Grading,
        launch_key.as_slice(),
    )
    .await
    .map_err(ApiError::store("Could not check the API token."))?;
    let client = client?;
    let (launch_id, progress) = parsed?;
    let not_found = || ApiError::NotFound(format!("Launch {launch_id} not found."));

    let key = keys::launch(&launch_id);
    let record = crate::store::find(&found, &key)
        .filter(|r| attr::opt_s(r, "client_id").ok().flatten().as_deref() == Some(&client.id))
        .ok_or_else(not_found)?;
    let launch =
        Launch::from_item(record).map_err(ApiError::store("Could not read the launch."))?;
    let user_id = attr::get_s(record, "external_id")
        .map_err(ApiError::store("Could not read the launch."))?;

    let now = clock::now();
    let stored = serde_json::to_string(&progress).unwrap_or_default();
    let event = Event::new(
        EventType::LaunchProgress,
        &client.id,
        json!({
            "launch_id": launch.id,
            "user_id": user_id,
            "content_id": launch.content_id,
            "resource_id": launch.resource_id,
            "context": launch.context,
            "progress": progress.progress,
            "score": progress.score,
            "max_score": progress.max_score,
            "completed": progress.completed,
            "details": progress.details,
        }),
    );
    let table = state.store.table();
    let items = vec![
        item::update_if(
            table,
            &key,
            "SET latest_progress = :progress, progress_at = :now",
            Item::from([
                (":progress".to_string(), attr::s(stored)),
                (":now".to_string(), attr::n(now)),
                (":cid".to_string(), attr::s(&client.id)),
            ]),
            None,
            "client_id = :cid",
        )
        .map_err(ApiError::store("Could not record the progress."))?,
        event
            .outbox(table)
            .map_err(ApiError::store("Could not record the progress."))?,
    ];
    match tx::transact(&state.store, "TransactWriteItems progress", items).await {
        Ok(()) => {}
        Err(TxError::Condition { .. }) => return Err(not_found()),
        Err(e) => return Err(ApiError::tx("Could not record the progress.")(e)),
    }
    tracing::info!(launch = %launch.id, event = %event.id, "progress recorded");
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "launch_id": launch.id,
            "progress": progress.progress,
            "score": progress.score,
            "max_score": progress.max_score,
            "completed": progress.completed,
            "updated_at": clock::rfc3339(now),
        }),
    ))
}
