//! `POST /api/v1/launch`: upserts the user, records the launch and answers its one-time URL
//! (`launch::create`); with an `Idempotency-Key`, once per key (`launch::replay`).

use crate::api_client::{self, ApiClient, Scope};
use crate::http::{self, ApiError, Context};
use crate::idempotency::{self, Claim};
use crate::launch::payload::{self, LaunchPayload};
use crate::launch::replay::{self, Replayed};
use crate::launch::{self, LaunchOutcome};
use crate::metrics::{self, Metric};
use crate::state::AppState;
use crate::store::attr::Item;
use crate::store::keys::{self, Key};
use crate::tenant;
use lambda_http::http::header::AUTHORIZATION;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// Response header that names the launch (for grading reports and support).
pub const LAUNCH_ID_HEADER: &str = "labgate-launch-id";

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| launch(state, req)).await
}

#[tracing::instrument(skip_all)]
async fn launch(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let domain = http::domain(&state.config, &req);
    let binding = tenant::domain_binding(&state.config, &domain);
    let claim = claim_of(&req)?;
    let key = claim.as_ref().map(|c| c.key.clone());
    let (client, payload, found) = authenticated_payload(state, &req, binding, key).await?;
    if domain.api_url.is_empty() {
        // Only without LABGATE_API_URL and without a usable Host header.
        return Err(ApiError::bad_request("Missing or invalid Host header."));
    }
    let (store, config) = (&state.store, &state.config);
    let outcome = match &claim {
        None => launch::create(store, config, (&client, &domain), &payload, None).await,
        Some(claim) => {
            let record = crate::store::find(&found, &claim.key);
            let once =
                replay::launch_once(store, config, (&client, &domain), &payload, (claim, record));
            return answer_once(&client, once.await.context("Could not record the launch.")?);
        }
    };
    match outcome.context("Could not record the launch.")? {
        LaunchOutcome::Created {
            launch_id,
            url,
            token,
        } => {
            tracing::info!(
                client = %client.id,
                launch = %launch_id,
                token = token.digest().log_prefix(),
                "launch created"
            );
            metrics::count(Metric::LaunchesCreated, 1);
            Ok(created(&launch_id, &url))
        }
        LaunchOutcome::OverCap(refusal) => Err(ApiError::bad_request(refusal)),
        LaunchOutcome::KeyTaken | LaunchOutcome::AlsoRefused => Err(ApiError::Internal {
            what: "Could not record the launch.",
            detail: "a condition failed that only a launch with a key or extra items has".into(),
        }),
    }
}

/// The request's idempotency key, scoped to its API token, with the digest of its body; `None`
/// without a key (or without a token or a JSON body, which fail their own checks).
fn claim_of(req: &Request) -> Result<Option<Claim>, ApiError> {
    let key = idempotency::presented(req.headers().get(idempotency::HEADER).map(|v| v.as_bytes()))
        .map_err(ApiError::bad_request)?;
    let token = api_client::presented_token(http::header(req, AUTHORIZATION.as_str()));
    let body = serde_json::from_slice::<serde_json::Value>(http::body_bytes(req)).ok();
    Ok(key.zip(token).zip(body).map(|((key, token), body)| {
        let scope = format!("TOKEN.{}", token.as_str());
        Claim::new(&scope, key, idempotency::request_digest(&body))
    }))
}

/// The answer to a launch with an idempotency key: the new launch, or the first one again
/// (marked `Idempotent-Replayed`), or a refusal.
fn answer_once(client: &ApiClient, once: replay::Once) -> Result<Response<Body>, ApiError> {
    match once {
        replay::Once::Done(LaunchOutcome::Created { launch_id, url, .. }) => {
            tracing::info!(client = %client.id, launch = %launch_id, "launch created (with a key)");
            metrics::count(Metric::LaunchesCreated, 1);
            Ok(created(&launch_id, &url))
        }
        replay::Once::Done(LaunchOutcome::OverCap(refusal)) => Err(ApiError::bad_request(refusal)),
        replay::Once::Replayed(Replayed::Again { launch_id, url, .. }) => {
            tracing::info!(client = %client.id, launch = %launch_id, "launch replayed");
            let mut response = created(&launch_id, &url);
            response
                .headers_mut()
                .insert(idempotency::REPLAYED, HeaderValue::from_static("true"));
            Ok(response)
        }
        replay::Once::Replayed(Replayed::Gone) => Err(ApiError::Conflict(
            "The launch this Idempotency-Key made no longer exists.".into(),
        )),
        replay::Once::Reused => Err(ApiError::Unprocessable(idempotency::REUSED.into())),
        replay::Once::Done(LaunchOutcome::KeyTaken | LaunchOutcome::AlsoRefused) => {
            Err(ApiError::Internal {
                what: "Could not record the launch.",
                detail: "a replay found its key taken".into(),
            })
        }
    }
}

/// The client behind the token and its valid payload, whose content is the client's.
///
/// The payload is parsed first so that its content is read with the token, in one round trip;
/// a bad token still answers 401 before a bad payload answers 400.
async fn authenticated_payload(
    state: &AppState,
    req: &Request,
    binding: Option<Key>,
    idempotency_key: Option<Key>,
) -> Result<(ApiClient, LaunchPayload, Vec<Item>), ApiError> {
    let payload = LaunchPayload::parse(http::body_bytes(req));
    let content_key = payload.as_ref().ok().map(|p| keys::content(&p.content_id));
    let also: Vec<Key> = content_key
        .into_iter()
        .chain(binding.clone())
        .chain(idempotency_key)
        .collect();
    let (client, found) = api_client::authenticate_with(
        &state.store,
        http::header(req, AUTHORIZATION.as_str()),
        Scope::Launch,
        &also,
    )
    .await?;
    let payload = payload?;
    if client.require_resource_id && payload.resource_id.is_none() {
        return Err(ApiError::bad_request(payload::MISSING_RESOURCE_ID));
    }
    let content_key = keys::content(&payload.content_id);
    let ours = tenant::find_owned(&found, &content_key, &client.id).is_some()
        && tenant::may_use_domain(&found, binding.as_ref(), &client.id);
    if !ours {
        // Unknown content, another client's, and a launch on another tenant's domain look the same.
        let id = &payload.content_id;
        return Err(ApiError::NotFound(format!("Content {id} not found.")));
    }
    Ok((client, payload, found))
}

/// `{"url": ...}`, with the launch's id in `LAUNCH_ID_HEADER`.
fn created(launch_id: &str, url: &str) -> Response<Body> {
    let mut response = http::json(StatusCode::OK, &json!({ "url": url }));
    if let Ok(value) = HeaderValue::from_str(launch_id) {
        response.headers_mut().insert(LAUNCH_ID_HEADER, value);
    }
    response
}
