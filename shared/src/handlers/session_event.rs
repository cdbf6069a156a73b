//! `POST /workshops/session/{name}/event/`: a custom event from the robot's session, recorded
//! as `session.event` and delivered like every event (`workshop::session::custom_event`).

use crate::http::{self, ApiError};
use crate::state::AppState;
use crate::workshop::portal::{PortalError, robot_and_record};
use crate::workshop::session::{self, CustomEvent, MAX_EVENT_BYTES};
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| session_event(state, req)).await
}

async fn session_event(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let (_, found) = robot_and_record(state, &req).await?;
    if req.method() != Method::POST {
        return Err(PortalError::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ));
    }
    let body = http::body_bytes(&req);
    if body.len() > MAX_EVENT_BYTES {
        return Err(PortalError::text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Event too large: at most {MAX_EVENT_BYTES} bytes"),
        ));
    }
    let bad = |words: &str| PortalError::text(StatusCode::BAD_REQUEST, words);
    // Educates reads the body only when it is declared JSON.
    if !is_json(http::header(&req, CONTENT_TYPE.as_str())) {
        return Err(bad("No event data provided"));
    }
    let event = CustomEvent::parse(body).map_err(bad)?;
    let id = session::record_event(&state.store, &found, &event)
        .await
        .map_err(|e| ApiError::from(e).said("Could not record the event."))?;
    tracing::info!(session = %found.name, event = %id, "session event recorded");
    Ok(http::json(StatusCode::OK, &json!({})))
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}
