//! `GET /workshops/session/{name}/authorize/`: who owns the robot's live session, as Educates'
//! workshop gateway asks before it lets anyone in (`{"owner", "user", "staff"}`: the owner, the
//! caller, and whether the caller is staff; a robot is not).

use crate::http;
use crate::state::AppState;
use crate::workshop::portal::{PortalError, robot_and_session};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| authorize(state, req)).await
}

async fn authorize(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let (grant, found) = robot_and_session(state, &req, crate::clock::now()).await?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"owner": found.user, "user": grant.username, "staff": false}),
    ))
}
