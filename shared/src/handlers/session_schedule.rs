//! `GET /workshops/session/{name}/schedule/`: when the robot's session expires and whether it
//! can be extended.

use crate::http;
use crate::state::AppState;
use crate::workshop::portal::{PortalError, robots_session, schedule_json};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| schedule(state, req)).await
}

async fn schedule(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let (found, now) = robots_session(state, &req).await?;
    Ok(http::json(
        StatusCode::OK,
        &schedule_json(&found, now, None),
    ))
}
