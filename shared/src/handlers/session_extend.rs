//! `GET /workshops/session/{name}/extend/`: extends the robot's session by Educates' rules
//! (`workshop::session::schedule`).

use crate::http;
use crate::state::AppState;
use crate::workshop::portal::{PortalError, robots_session, schedule_json};
use crate::workshop::session;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| extend(state, req)).await
}

async fn extend(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let (found, now) = robots_session(state, &req).await?;
    // A refused extension is still 200, with "extended": false.
    let body = match session::extend(&state.store, &found, now).await? {
        Some(extended) => schedule_json(&extended, now, Some(true)),
        None => schedule_json(&found, now, Some(false)),
    };
    Ok(http::json(StatusCode::OK, &body))
}
