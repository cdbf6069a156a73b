//! `GET /workshops/user/{user}/sessions/`: a user's live sessions in this tenant.

use crate::clock;
use crate::http;
use crate::state::AppState;

use crate::workshop::portal::{self, PortalError, path_param, robot};
use crate::workshop::session;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| list(state, req)).await
}

#[tracing::instrument(skip_all)]
async fn list(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let grant = robot(state, &req).await?;
    // An unknown user simply has no sessions; an id that no user can have is refused, with
    // the words the session request uses.
    let user = path_param(&req, "user")
        .filter(|u| crate::workshop::portal::is_valid_user(u))
        .ok_or_else(|| {
            PortalError::text(StatusCode::BAD_REQUEST, "Invalid user identifier provided")
        })?;
    let held = session::user_map::read(&state.store, &grant.tenant.id, &user).await?;
    let now = clock::now();
    let sessions: Vec<Value> = held
        .live(now)
        .map(|(name, s)| {
            let mut out = Map::new();
            out.insert("name".into(), name.clone().into());
            out.insert("namespace".into(), name.clone().into());
            out.insert("workshop".into(), s.workshop.clone().into());
            out.insert("environment".into(), s.environment.clone().into());
            portal::times(s.started, s.until, now, &mut out);
            Value::Object(out)
        })
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({"user": user, "sessions": sessions}),
    ))
}
