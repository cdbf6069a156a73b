//! `GET /workshops/session/{name}/config/`: where the robot's session is and its config
//! password, as Educates answers (whatever the session's state, as Educates does).

use crate::http::{self, ApiError};
use crate::state::AppState;
use crate::workshop::portal::{PortalError, robot_and_record};
use crate::workshop::session::config;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| session_config(state, req)).await
}

async fn session_config(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let keys = state
        .config
        .require_signing_keys()
        .map_err(|e| ApiError::Internal {
            what: "The service cannot derive session passwords.",
            detail: e.to_string(),
        })?;
    let (_, session) = robot_and_record(state, &req).await?;
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "url": session.dashboard_url,
            "password": config::password(keys.current().bytes(), &session.name),
        }),
    ))
}
