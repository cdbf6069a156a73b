//! `GET /workshops/session/{name}/terminate/`: ends the robot's session now.

use crate::http;
use crate::state::AppState;
use crate::workshop::environment::educates_time;
use crate::workshop::portal::{PortalError, robots_session};
use crate::workshop::session;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| terminate(state, req)).await
}

async fn terminate(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let (found, now) = robots_session(state, &req).await?;
    let ended = session::end(&state.store, &found, session::TERMINATED, now)
        .await?
        .ok_or_else(PortalError::not_found)?;
    tracing::info!(session = %ended.name, "workshop session terminated");
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({
            "started": ended.started.map(educates_time),
            "expires": educates_time(now),
        }),
    ))
}
