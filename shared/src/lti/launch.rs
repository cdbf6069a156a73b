//! A verified LTI launch, recorded exactly as `POST /api/v1/launch` records one: the same user
//! upsert, launch record, one-time link and `launch.created` event, plus the id_token's nonce,
//! in one transaction.

use super::LtiError;
use super::claims::CUSTOM_CONTENT_ID;
use super::id_token::LaunchClaims;
use super::registration::Registration;
use crate::api_client::ApiClient;
use crate::config::{Config, Domain};
use crate::launch::payload::LaunchPayload;
use crate::launch::{self, LaunchOutcome};
use crate::store::attr;
use crate::store::conditions::ABSENT;
use crate::store::fields::{CLIENT_ID, EXPIRES_AT};
use crate::store::keys;
use crate::store::tx::{TxError, item};
use crate::store::{Store, StoreError};
use serde_json::{Value, json};

/// How long after the id_token's expiry its nonce is kept (beyond any clock leeway).
pub const NONCE_KEPT_SECS: i64 = 300;

/// The user's id in labgate: the platform's `sub`, scoped by the issuer (`<sub>@<issuer
/// without its scheme>`), since two platforms may give the same `sub` to different people.
pub fn user_id(issuer: &str, subject: &str) -> String {
    let scope = issuer
        .split_once("://")
        .map_or(issuer, |(_, rest)| rest)
        .trim_end_matches('/');
    format!("{subject}@{scope}")
}

/// The launch payload an LTI launch stands for, validated as an API launch is: the content from
/// the link's custom parameter `content_id`, the resource link as `resource_id`, the course as
/// `context`, the LIS role URIs as the roles the tenant's role map maps.
pub fn payload(
    registration: &Registration,
    claims: &LaunchClaims,
) -> Result<LaunchPayload, LtiError> {
    let content_id = claims
        .custom
        .get(CUSTOM_CONTENT_ID)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            LtiError::bad(
                "This LTI link names no lab: give it the custom parameter content_id=<the lab's id> in the LMS (docs/lti.md).",
            )
        })?;
    let body = json!({
        "user_id": user_id(&registration.issuer, &claims.subject),
        "content_id": content_id,
        "resource_id": claims.resource_link.get("id"),
        "context": {
            "lti": {
                "issuer": registration.issuer,
                "deployment_id": claims.deployment_id,
                "context": claims.context,
                "resource_link": claims.resource_link,
            }
        },
        "email": claims.email,
        "given_name": claims.given_name,
        "family_name": claims.family_name,
        "roles": claims.roles,
    });
    let bytes = serde_json::to_vec(&body).map_err(|e| LtiError::bad(e.to_string()))?;
    LaunchPayload::parse(&bytes)
        .map_err(|e| LtiError::bad(format!("The launch cannot be recorded: {e}")))
}

/// The nonce, written with the launch on the condition that it is new.
fn nonce_item(
    table: &str,
    nonce: &str,
    tenant: &str,
    claims: &LaunchClaims,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    let mut record = keys::lti_nonce(nonce).item();
    record.insert(CLIENT_ID.into(), attr::s(tenant));
    record.insert(
        EXPIRES_AT.into(),
        attr::n(claims.expires_at + NONCE_KEPT_SECS),
    );
    item::put(table, record, Some(ABSENT))
}

/// Records the launch; the one-time URL that logs the browser in, and the launch's id.
pub async fn record(
    store: &Store,
    config: &Config,
    (client, domain): (&ApiClient, &Domain),
    payload: &LaunchPayload,
    (nonce, claims): (&str, &LaunchClaims),
) -> Result<(String, String), LtiError> {
    let also = [nonce_item(store.table(), nonce, &client.id, claims)?];
    let outcome = launch::create_with(store, config, (client, domain), payload, None, &also)
        .await
        .map_err(|e| match e {
            TxError::Store(e) => LtiError::Store(e),
            other => LtiError::Store(StoreError::Failed {
                op: "TransactWriteItems LTI launch",
                detail: other.to_string(),
            }),
        })?;
    match outcome {
        LaunchOutcome::Created { launch_id, url, .. } => Ok((launch_id, url)),
        LaunchOutcome::AlsoRefused => Err(LtiError::unauthorized(
            "This launch was already used: start it again from the LMS.",
        )),
        LaunchOutcome::OverCap(refusal) => Err(LtiError::BadRequest(refusal)),
        LaunchOutcome::KeyTaken => Err(LtiError::Store(StoreError::Failed {
            op: "TransactWriteItems LTI launch",
            detail: "an idempotency key was taken by a launch without one".into(),
        })),
    }
}
