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
/// `context`, the LIS role URIs as the roles the tenant's role map maps. (A graded link's line
/// item is the handler's to add: `grades::LineItem::of_launch`.)
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
    // What the platform says about the person and the course is kept where it fits the launch's
    // rules, and dropped (or cut) where it does not: a long title or an odd email never refuses
    // the learner their lab. The identifiers (`sub`, the resource link's id) must fit.
    let roles: Vec<&String> = claims
        .roles
        .iter()
        .filter(|r| r.chars().count() <= MAX_ROLE_CHARS && !crate::text::has_refused(r))
        .take(crate::launch::payload::MAX_LIST_ITEMS)
        .collect();
    let body = json!({
        "user_id": user_id(&registration.issuer, &claims.subject),
        "content_id": content_id,
        "resource_id": claims.resource_link.get("id"),
        "context": {
            "lti": {
                "issuer": registration.issuer,
                "deployment_id": claims.deployment_id,
                "context": claims.context.as_ref().map(|c| kept(c, &["id", "label", "title", "type"])),
                "resource_link": kept(&claims.resource_link, &["id", "title"]),
            }
        },
        "email": claims.email.as_deref().filter(|e| plausible_email(e)),
        "given_name": claims.given_name.as_deref().and_then(name),
        "family_name": claims.family_name.as_deref().and_then(name),
        "roles": roles,
    });
    let bytes = serde_json::to_vec(&body).map_err(|e| LtiError::bad(e.to_string()))?;
    LaunchPayload::parse(&bytes)
        .map_err(|e| LtiError::bad(format!("The launch cannot be recorded: {e}")))
}

/// LIS role URIs longer than a launch's labels are dropped (none of the standard ones is).
const MAX_ROLE_CHARS: usize = 100;
/// A kept string of the course or link is cut to this many characters.
const MAX_KEPT_CHARS: usize = 255;

/// The named fields of a claim object: strings cut to `MAX_KEPT_CHARS`, lists of strings to
/// ten; anything else dropped.
fn kept(claim: &serde_json::Map<String, Value>, fields: &[&str]) -> Value {
    let cut = |s: &str| s.chars().take(MAX_KEPT_CHARS).collect::<String>();
    let kept: serde_json::Map<String, Value> = fields
        .iter()
        .filter_map(|&field| {
            let value = match claim.get(field)? {
                Value::String(s) => Value::String(cut(s)),
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .take(10)
                        .map(|s| Value::String(cut(s)))
                        .collect(),
                ),
                _ => return None,
            };
            Some((field.to_string(), value))
        })
        .collect();
    Value::Object(kept)
}

/// A name as a launch takes it (at most 150 characters, no control characters), or none.
pub(crate) fn name(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty() && value.chars().count() <= 150 && !crate::text::has_refused(value))
        .then(|| value.to_string())
}

pub(crate) fn plausible_email(value: &str) -> bool {
    value.len() <= 254
        && !value.contains(char::is_whitespace)
        && value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
}

/// The nonce's item: kept until a while after its id_token expires.
fn nonce_record(nonce: &str, tenant: &str, token_expires_at: i64) -> crate::store::attr::Item {
    let mut record = keys::lti_nonce(nonce).item();
    record.insert(CLIENT_ID.into(), attr::s(tenant));
    record.insert(
        EXPIRES_AT.into(),
        attr::n(token_expires_at.saturating_add(NONCE_KEPT_SECS)),
    );
    record
}

/// The nonce, written with the launch on the condition that it is new.
pub(crate) fn nonce_item(
    table: &str,
    nonce: &str,
    tenant: &str,
    claims: &LaunchClaims,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    item::put(
        table,
        nonce_record(nonce, tenant, claims.expires_at),
        Some(ABSENT),
    )
}

/// Uses up a nonce on its own (a deep linking request, which records no launch).
pub async fn use_nonce(
    store: &Store,
    nonce: &str,
    tenant: &str,
    token_expires_at: i64,
) -> Result<(), LtiError> {
    let record = nonce_record(nonce, tenant, token_expires_at);
    if crate::store::put_new(store, record, "PutItem LTI nonce").await? {
        Ok(())
    } else {
        Err(LtiError::unauthorized(
            "This request was already used: start it again from the LMS.",
        ))
    }
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
