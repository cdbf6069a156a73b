//! `GET /workshops/session/{name}/schedule/`, `/extend/` and `/terminate/`.

use super::{PortalError, run, timing};
use crate::clock;
use crate::http;
use crate::state::AppState;
use crate::workshop::environment::educates_time;
use crate::workshop::session::{self, PENDING, WorkshopSession};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

fn status(session: &WorkshopSession) -> &'static str {
    if session.state == PENDING {
        "Allocating"
    } else {
        "Allocated"
    }
}

fn schedule_json(session: &WorkshopSession, now: i64, extended: Option<bool>) -> Value {
    let plan = session::schedule(session, now);
    let mut out = Map::new();
    out.insert("status".into(), status(session).into());
    timing(session, now, &mut out);
    if session.expires().is_none() {
        out.insert("expires".into(), Value::Null);
    }
    if let Some(extended) = extended {
        out.insert("extended".into(), extended.into());
    }
    out.insert("expiring".into(), plan.expiring.into());
    Value::Object(out)
}

/// The robot's live session named in the path (read with its token, in one round trip), and
/// the time it was read at.
async fn robots_session(
    state: &AppState,
    req: &Request,
) -> Result<(WorkshopSession, i64), PortalError> {
    let now = clock::now();
    let (_, found) = super::robot_and_session(state, req, now).await?;
    Ok((found, now))
}

pub async fn schedule(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    run(req, |req| async move {
        let (found, now) = robots_session(state, &req).await?;
        Ok(http::json(
            StatusCode::OK,
            &schedule_json(&found, now, None),
        ))
    })
    .await
}

pub async fn extend(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    run(req, |req| async move {
        let (found, now) = robots_session(state, &req).await?;
        // A refused extension is still 200, with "extended": false.
        let body = match session::extend(&state.store, &found, now).await? {
            Some(extended) => schedule_json(&extended, now, Some(true)),
            None => schedule_json(&found, now, Some(false)),
        };
        Ok(http::json(StatusCode::OK, &body))
    })
    .await
}

pub async fn terminate(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    run(req, |req| async move {
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
    })
    .await
}
