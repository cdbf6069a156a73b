//! What the workshop API's handlers share: robot authentication, Educates' error shapes and
//! the JSON shapes Educates answers with.

use super::environment::{EnvironmentView, educates_time};
use super::session::{self, PENDING, RUNNING, WorkshopSession};
use crate::http::{self, ApiError, ErrorResponse};
use crate::oauth::{self, Grant};
use crate::state::AppState;
use crate::store::attr::Item;
use crate::store::keys::{self, Key};
use crate::tenant;
use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Map, Value, json};

/// Failures in the shapes the real Educates portal answers with.
#[derive(Debug)]
pub enum PortalError {
    /// Missing or bad bearer token: 403 with an empty `text/plain` body.
    Forbidden,
    /// 4xx with a plain-text body.
    Text(StatusCode, String),
    /// 503 `{"error": "No session available"}`.
    NoSession,
    Server(ApiError),
}

impl PortalError {
    pub fn text(status: StatusCode, message: impl Into<String>) -> Self {
        PortalError::Text(status, message.into())
    }

    pub fn not_found() -> Self {
        PortalError::text(StatusCode::NOT_FOUND, "Session does not exist")
    }
}

/// Server failures are ours: 500 or 503 in labgate's JSON shape.
impl From<ApiError> for PortalError {
    fn from(e: ApiError) -> Self {
        PortalError::Server(e)
    }
}

impl From<crate::store::StoreError> for PortalError {
    fn from(e: crate::store::StoreError) -> Self {
        PortalError::Server(ApiError::from(e).said("Could not read the workshop data."))
    }
}

impl From<crate::store::tx::TxError> for PortalError {
    fn from(e: crate::store::tx::TxError) -> Self {
        PortalError::Server(ApiError::from(e).said("Could not update the workshop session."))
    }
}

pub fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = http::empty(status);
    *response.body_mut() = Body::Text(message.to_string());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl ErrorResponse for PortalError {
    fn into_response(self, request_id: &str) -> Response<Body> {
        match self {
            // Empty, as Educates answers; typed so that clients and checkers know what it is.
            PortalError::Forbidden => plain(StatusCode::FORBIDDEN, ""),
            PortalError::Text(status, message) => plain(status, &message),
            PortalError::NoSession => http::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": "No session available"}),
            ),
            PortalError::Server(e) => e.into_response(request_id),
        }
    }
}

/// The robot behind the bearer token: its tenant. Anything else is 403 with an empty body.
pub async fn robot(state: &AppState, req: &Request) -> Result<Grant, PortalError> {
    oauth::authenticate_bearer(&state.store, http::header(req, AUTHORIZATION.as_str()))
        .await?
        .ok_or(PortalError::Forbidden)
}

/// The path parameter `name`: from API Gateway's path parameters, or else the third path
/// segment (`/workshops/<kind>/<name>/...`, the shape of every parameterised route here).
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    if let Some(value) = req.path_parameters_ref().and_then(|p| p.first(name)) {
        return Some(value.to_string());
    }
    let segment = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .nth(2)?;
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The robot behind the bearer token, and the item `wanted` if its tenant owns it, read in
/// one round trip; 403 (empty) for a bad token.
pub async fn robot_with(
    state: &AppState,
    req: &Request,
    wanted: Option<Key>,
) -> Result<(Grant, Option<Item>), PortalError> {
    let wanted: Vec<Key> = wanted.into_iter().collect();
    let (grant, found) = robot_with_all(state, req, &wanted).await?;
    let owned = wanted
        .first()
        .and_then(|key| tenant::find_owned(&found, key, &grant.tenant.id))
        .cloned();
    Ok((grant, owned))
}

/// The robot behind the bearer token, and whichever of `wanted` exist, read in one round trip
/// (the caller checks what belongs to the robot's tenant); 403 (empty) for a bad token.
pub async fn robot_with_all(
    state: &AppState,
    req: &Request,
    wanted: &[Key],
) -> Result<(Grant, Vec<Item>), PortalError> {
    let authorization = http::header(req, AUTHORIZATION.as_str());
    let (grant, found) =
        oauth::authenticate_bearer_with(&state.store, authorization, wanted).await?;
    Ok((grant.ok_or(PortalError::Forbidden)?, found))
}

/// The robot behind the bearer token and the live session of its tenant named in the path,
/// read in one round trip; 403 (empty) for a bad token, then 404 for anything else.
pub async fn robot_and_session(
    state: &AppState,
    req: &Request,
    now: i64,
) -> Result<(Grant, WorkshopSession), PortalError> {
    let (grant, found) = robot_and_record(state, req).await?;
    if !found.is_live(now) {
        return Err(PortalError::not_found());
    }
    Ok((grant, found))
}

/// Like `robot_and_session`, for a session live or ended (its record is kept for a while after
/// it ends): the endpoints that Educates answers whatever the session's state.
pub async fn robot_and_record(
    state: &AppState,
    req: &Request,
) -> Result<(Grant, WorkshopSession), PortalError> {
    let name = path_param(req, "name").filter(|n| session::is_valid_name(n));
    let (grant, found) = robot_with(state, req, name.map(|n| keys::workshop_session(&n))).await?;
    let found = found
        .as_ref()
        .map(WorkshopSession::from_item)
        .transpose()?
        .ok_or_else(PortalError::not_found)?;
    Ok((grant, found))
}

/// Educates' session states: pending is WAITING, running is RUNNING.
pub fn state_name(state: &str) -> &'static str {
    if state == RUNNING {
        "RUNNING"
    } else {
        "WAITING"
    }
}

/// `started`, `expires`, `countdown` and `extendable` of a session, as Educates shows them.
pub fn timing(session: &WorkshopSession, now: i64, into: &mut serde_json::Map<String, Value>) {
    into.insert(
        "started".into(),
        session
            .started
            .map(educates_time)
            .map_or(Value::Null, Value::from),
    );
    if let Some(expires) = session.expires() {
        let plan = session::schedule(session, now);
        into.insert("expires".into(), educates_time(expires).into());
        into.insert("countdown".into(), plan.remaining.into());
        into.insert("extendable".into(), plan.extendable.into());
    }
}

/// `started`, and `expires` and `countdown` unless it never expires, as Educates lists a
/// session (`until`: its deadline or expiry).
pub fn times(started: Option<i64>, until: i64, now: i64, into: &mut Map<String, Value>) {
    let started = started.map(educates_time).map_or(Value::Null, Value::from);
    into.insert("started".into(), started);
    if until != super::environment::NEVER {
        into.insert("expires".into(), educates_time(until).into());
        into.insert("countdown".into(), (until - now).max(0).into());
    }
}

/// The `portal` object of both catalogs: the tenant, its API URL and its allocated sessions.
pub fn portal_json(grant: &Grant, api_url: &str, allocated: i64) -> Value {
    json!({
        "name": grant.tenant.name,
        "labels": {},
        "uid": grant.tenant.id,
        "generation": 1,
        "url": api_url,
        "sessions": {"maximum": 0, "registered": 0, "anonymous": 0, "allocated": allocated},
    })
}

/// A workshop as Educates describes it (`resource` only in the catalogs, not in status).
pub fn workshop_json(w: &super::environment::Workshop, with_resource: bool) -> Value {
    let mut workshop = json!({
        "name": w.name, "title": w.title, "description": w.description, "vendor": w.vendor,
        "authors": w.authors, "difficulty": w.difficulty, "duration": w.duration,
        "tags": w.tags, "labels": w.labels, "logo": w.logo, "url": w.url,
    });
    if with_resource {
        workshop["resource"] = w.name.clone().into();
    }
    workshop
}

/// An environment's name, state, duration and counts: the `environment` of a workshop in
/// `catalog/workshops/`, and the start of an environment in `catalog/environments/`.
pub fn environment_counts(view: &EnvironmentView) -> Value {
    let env = &view.environment;
    json!({
        "name": env.name,
        "state": "RUNNING",
        "duration": env.duration_secs,
        "capacity": env.capacity,
        "reserved": 0,
        "allocated": view.allocated(),
        "available": view.available(),
    })
}

/// An environment in the catalog (`resource` only in the catalog, not in status).
pub fn environment_json(
    view: &EnvironmentView,
    now: i64,
    with_resource: bool,
    with_sessions: bool,
) -> Value {
    let mut out = environment_counts(view);
    out["workshop"] = workshop_json(&view.environment.workshop, with_resource);
    if with_sessions {
        let sessions: Vec<Value> = view
            .live_slots(now)
            .map(|slot| {
                let mut s = serde_json::Map::new();
                s.insert("name".into(), slot.session.clone().into());
                s.insert("state".into(), state_name(&slot.state).into());
                s.insert("namespace".into(), slot.session.clone().into());
                s.insert("user".into(), slot.user.clone().into());
                times(slot.started, slot.held_until, now, &mut s);
                Value::Object(s)
            })
            .collect();
        out["sessions"] = sessions.into();
    }
    out
}

/// Whether a `sessions=` query value asks for sessions.
pub fn truthy(value: Option<String>) -> bool {
    matches!(value.as_deref(), Some("true" | "1"))
}

/// The robot's live session named in the path (read with its token, in one round trip), and
/// the time it was read at.
pub async fn robots_session(
    state: &AppState,
    req: &Request,
) -> Result<(WorkshopSession, i64), PortalError> {
    let now = crate::clock::now();
    let (_, found) = robot_and_session(state, req, now).await?;
    Ok((found, now))
}

/// The body of `schedule/` and `extend/` (`extended` only for the latter).
pub fn schedule_json(session: &WorkshopSession, now: i64, extended: Option<bool>) -> Value {
    let plan = session::schedule(session, now);
    let mut out = Map::new();
    let status = if session.state == PENDING {
        "Allocating"
    } else {
        "Allocated"
    };
    out.insert("status".into(), status.into());
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

/// User identifiers: 1 to 150 letters, digits and `@.+-_`, but not `.` or `..` (which read as
/// path segments wherever the id is put into a path).
pub fn is_valid_user(user: &str) -> bool {
    (1..=150).contains(&user.len())
        && user != "."
        && user != ".."
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@.+-_".contains(&b))
}
