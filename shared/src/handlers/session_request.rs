//! `GET` or `POST /workshops/environment/{name}/request/`: a session for a user, with a
//! one-time activation URL.

use crate::api_client::ApiClient;
use crate::http;
use crate::idempotency::{self, Claim};
use crate::metrics::{self, Metric};
use crate::redirect;
use crate::secrets::Secret;
use crate::state::AppState;
use crate::store::keys;
use crate::workshop::environment;
use crate::workshop::portal::{self, PortalError};
use crate::workshop::session::{self, RequestOutcome, SessionRequest};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

const MAX_PARAMETERS: usize = 100;
const MAX_BODY_BYTES: usize = 64 * 1024;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| request(state, req)).await
}

fn bad(message: &str) -> PortalError {
    PortalError::text(StatusCode::BAD_REQUEST, message)
}

/// `index_url` must be an http(s) URL at an origin the tenant allows.
fn index_url(tenant: &ApiClient, raw: &str) -> Result<String, PortalError> {
    redirect::allowed_index_url(&tenant.allowed_origins, raw)
        .ok_or_else(|| bad("Redirect URL for workshop index is not allowed"))
}

fn name_part(value: Option<String>) -> Result<Option<String>, PortalError> {
    let value = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    match value {
        Some(v) if v.chars().count() > 150 || crate::text::has_refused(&v) => {
            Err(bad("Invalid user name provided"))
        }
        v => Ok(v),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    parameters: Vec<Parameter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameter {
    name: String,
    value: String,
}

/// The optional body: `{"parameters": [{"name": ..., "value": ...}]}` (GET bodies included).
fn parameters(req: &Request) -> Result<Vec<(String, String)>, PortalError> {
    let body = http::body_bytes(req);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(bad("Request payload is too large"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| bad("Invalid JSON request payload"))?;
    let payload: Payload =
        serde_json::from_value(value).map_err(|_| bad("Malformed JSON request payload"))?;
    if payload.parameters.len() > MAX_PARAMETERS
        || payload
            .parameters
            .iter()
            .any(|p| p.name.is_empty() || p.name.len() > 255 || p.value.len() > 4096)
    {
        return Err(bad("Malformed JSON request payload"));
    }
    Ok(payload
        .parameters
        .into_iter()
        .map(|p| (p.name, p.value))
        .collect())
}

fn ask(state: &AppState, req: &Request, tenant: &ApiClient) -> Result<SessionRequest, PortalError> {
    let q = |name: &str| http::query_param(req, name);
    let index = q("index_url")
        .or_else(|| q("redirect_url"))
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad("Need redirect URL for workshop index"))?;
    let user = match q("user") {
        None => uuid::Uuid::new_v4().to_string(),
        Some(u) if portal::is_valid_user(&u) => u,
        Some(_) => return Err(bad("Invalid user identifier provided")),
    };
    // Checked in this order (the first problem is the one reported), as before.
    let email = email(q("email"))?;
    let timeout_secs = timeout(state, q("timeout"))?;
    let allow_private = state.config.allow_private_analytics_urls;
    let analytics_url = q("analytics_url")
        .filter(|v| !v.is_empty())
        .map(|raw| {
            redirect::analytics_url(&raw, allow_private)
                .ok_or_else(|| bad("Invalid analytics URL provided"))
        })
        .transpose()?;
    Ok(SessionRequest {
        user,
        email,
        first_name: name_part(q("first_name").or_else(|| q("firstname")))?,
        last_name: name_part(q("last_name").or_else(|| q("lastname")))?,
        session: q("session").filter(|s| !s.is_empty()),
        timeout_secs,
        index_url: index_url(tenant, &index)?,
        analytics_url,
        parameters: parameters(req)?,
    })
}

/// An email address, loosely: something@domain.tld, no spaces or control characters.
fn email(value: Option<String>) -> Result<Option<String>, PortalError> {
    let Some(email) = value.filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let valid = email.len() <= 254
        && !email
            .chars()
            .any(|c| c.is_whitespace() || crate::text::is_refused(c))
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
    if valid {
        Ok(Some(email))
    } else {
        Err(bad("Invalid email address provided"))
    }
}

/// The activation timeout: seconds up to a day (`config::MAX_ACTIVATION_TIMEOUT_SECS`); the
/// configured one if not given.
fn timeout(state: &AppState, value: Option<String>) -> Result<i64, PortalError> {
    match value {
        None => Ok(state.config.activation_timeout_secs),
        Some(t) => t
            .trim()
            .parse::<u32>()
            .ok()
            .map(i64::from)
            .filter(|t| *t <= crate::config::MAX_ACTIVATION_TIMEOUT_SECS)
            .ok_or_else(|| bad("Invalid timeout value provided")),
    }
}

#[tracing::instrument(skip_all)]
async fn request(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    // The environment is read with the robot's token, in one round trip; and in a warm function
    // that knows the environment's tenant, the user's sessions and idempotency record too.
    let name = portal::path_param(&req, "name").filter(|n| environment::is_valid_name(n));
    let env_key = name.as_deref().map(keys::environment);
    let hint = prefetch_hint(state, &req, name.as_deref());
    let mut wanted: Vec<keys::Key> = env_key.iter().cloned().collect();
    wanted.extend(hint.iter().flat_map(|h| h.keys.iter().cloned()));
    let (grant, fetched) = portal::robot_with_all(state, &req, &wanted).await?;
    let found = env_key
        .as_ref()
        .and_then(|key| crate::tenant::find_owned(&fetched, key, &grant.tenant.id));
    if !matches!(*req.method(), Method::GET | Method::POST) {
        return Err(PortalError::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ));
    }
    let unknown = || PortalError::text(StatusCode::FORBIDDEN, "Environment does not exist");
    let environment = found.map(environment::Environment::from_item).transpose()?;
    if name.is_none() {
        return Err(unknown());
    }
    let ask = ask(state, &req, &grant.tenant)?;
    let environment = environment.ok_or_else(unknown)?;
    state
        .owners
        .remember(&environment.name, &environment.client_id);
    // What was fetched with the token counts only for the tenant (which owns the environment
    // read with it) and the user it was meant for.
    let meant = hint.filter(|h| h.tenant == grant.tenant.id);
    let claim = match meant.as_ref().and_then(|h| h.claim.clone()) {
        Some(claim) => Some(claim),
        None => claim_of(&req, &grant.tenant.id, &environment.name)?,
    };
    let prefetched = meant
        .filter(|h| h.user == ask.user)
        .map(|_| fetched.as_slice());
    let outcome = session::request(
        &state.store,
        &grant.tenant,
        &environment,
        &ask,
        (claim.as_ref(), prefetched),
    );
    match outcome.await? {
        RequestOutcome::Unavailable => {
            metrics::count(Metric::CapacityRefusals, 1);
            Err(PortalError::NoSession)
        }
        RequestOutcome::Reused => Err(PortalError::text(
            StatusCode::UNPROCESSABLE_ENTITY,
            idempotency::REUSED,
        )),
        // This request adds no items of its own.
        RequestOutcome::AlsoRefused => Err(PortalError::from(crate::store::StoreError::Failed {
            op: "TransactWriteItems workshop session request",
            detail: "a condition of an item the request did not add failed".into(),
        })),
        RequestOutcome::Granted {
            session,
            user,
            token,
            replayed,
            allocated,
        } => {
            metrics::count(Metric::SessionsAllocated, u64::from(allocated && !replayed));
            tracing::info!(
                session = %session,
                token = token.digest().log_prefix(),
                replayed,
                "workshop session granted"
            );
            let ask = SessionRequest { user, ..ask };
            let mut response = granted(&environment, &ask, &session, &token);
            if replayed {
                let replayed = HeaderValue::from_static("true");
                response
                    .headers_mut()
                    .insert(idempotency::REPLAYED, replayed);
            }
            Ok(response)
        }
    }
}

/// The request's idempotency key, scoped to the tenant, with the digest of what it asks: the
/// environment, the query parameters (in any order) and the body.
/// What a warm function may fetch with the token: the user's item and the idempotency record,
/// for the tenant it remembers owning the environment (`workshop::owners`).
struct Hint {
    tenant: String,
    user: String,
    /// The request's idempotency claim, for `tenant` (the same the handler would make).
    claim: Option<Claim>,
    keys: Vec<keys::Key>,
}

fn prefetch_hint(state: &AppState, req: &Request, name: Option<&str>) -> Option<Hint> {
    let name = name?;
    let tenant = state.owners.get(name)?;
    let user = http::query_param(req, "user").filter(|u| portal::is_valid_user(u))?;
    let mut keys = vec![keys::user(&tenant, &user)];
    // A malformed key is refused later, by the handler's own `claim_of`.
    let claim = claim_of(req, &tenant, name).ok().flatten();
    keys.extend(claim.as_ref().map(|c| c.key.clone()));
    Some(Hint {
        tenant,
        user,
        claim,
        keys,
    })
}

fn claim_of(
    req: &Request,
    tenant_id: &str,
    environment: &str,
) -> Result<Option<Claim>, PortalError> {
    let Some(key) =
        idempotency::presented(req.headers().get(idempotency::HEADER).map(|v| v.as_bytes()))
            .map_err(bad)?
    else {
        return Ok(None);
    };
    let mut query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    query.sort();
    let body = serde_json::from_slice::<serde_json::Value>(http::body_bytes(req))
        .unwrap_or(serde_json::Value::Null);
    let request = json!({"environment": environment, "query": query, "body": body});
    let scope = format!("CLIENT.{tenant_id}");
    Ok(Some(Claim::new(
        &scope,
        key,
        idempotency::request_digest(&request),
    )))
}

/// The answer to a granted request: the session and its activation URL (relative, as Educates
/// gives it).
fn granted(
    environment: &environment::Environment,
    ask: &SessionRequest,
    session: &str,
    token: &Secret,
) -> Response<Body> {
    http::json(
        StatusCode::OK,
        &json!({
            "name": session,
            "session": session,
            "user": ask.user,
            "url": session::activation_path(session, token, &ask.index_url),
            "namespace": session,
            "workshop": environment.workshop.name,
            "environment": environment.name,
        }),
    )
}
