//! `POST /api/v1/progress`: a grading service reports a learner's progress on a launch
//! (`launch::progress`).

use crate::api_client::{self, Scope};
use crate::clock;
use crate::http::{self, ApiError, Context};
use crate::launch::{Launch, progress};
use crate::state::AppState;
use crate::store::keys;
use crate::tenant;
use lambda_http::http::header::AUTHORIZATION;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| report(state, req)).await
}

#[tracing::instrument(skip_all)]
async fn report(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    // The launch is read with the token, in one round trip; a bad token is still refused first.
    let parsed = progress::parse(http::body_bytes(&req));
    let launch_key = parsed.as_ref().ok().map(|(id, _)| keys::launch(id));
    let (client, found) = api_client::authenticate_with(
        &state.store,
        http::header(&req, AUTHORIZATION.as_str()),
        Scope::Grading,
        launch_key.as_slice(),
    )
    .await?;
    let (launch_id, progress) = parsed?;
    let not_found = || ApiError::NotFound(format!("Launch {launch_id} not found."));
    let now = clock::now();
    // A launch past its retention is gone, whether or not TTL has removed it yet.
    let record = tenant::find_owned(&found, &keys::launch(&launch_id), &client.id)
        .filter(|r| crate::store::conditions::is_current(r, now))
        .ok_or_else(not_found)?;
    let launch = Launch::from_item(record).context("Could not read the launch.")?;
    let event = progress::record(&state.store, &client.id, &launch, &progress, now)
        .await
        .context("Could not record the progress.")?
        .ok_or_else(not_found)?;
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
