//! A workshop environment launched from an LMS: a link whose custom parameter `environment`
//! names one of the tenant's environments gives the learner a session of it, with its one-time
//! activation, as `/workshops/environment/<name>/request/` does (the same slot claim, user map,
//! events and activation deadline).

use super::LtiError;
use super::claims::{CUSTOM_CONTENT_ID, CUSTOM_ENVIRONMENT};
use super::id_token::LaunchClaims;
use super::registration::Registration;
use crate::api_client::ApiClient;
use crate::store::Store;
use crate::workshop::environment::Environment;
use crate::workshop::session::{self, RequestOutcome, SessionRequest};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What an LTI link opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A content launch (`content_id`), recorded as `POST /api/v1/launch` records one.
    Content,
    /// A session of this workshop environment (`environment`).
    Workshop(String),
}

/// The link's target, from its custom parameters: one of `content_id` and `environment`.
pub fn target(claims: &LaunchClaims) -> Result<Target, LtiError> {
    let environment = claims
        .custom
        .get(CUSTOM_ENVIRONMENT)
        .and_then(Value::as_str);
    match (claims.custom.contains_key(CUSTOM_CONTENT_ID), environment) {
        (true, Some(_)) => Err(LtiError::bad(
            "This LTI link names both a lab (content_id) and a workshop (environment): give it one of them in the LMS (docs/lti.md).",
        )),
        (false, Some(name)) => Ok(Target::Workshop(name.to_string())),
        _ => Ok(Target::Content),
    }
}

/// The learner's id as a workshop user: `<sub>@<issuer without its scheme>` where that fits
/// the workshop API's user ids (letters, digits, `@.+-_`, at most 150), else `lti-` and the
/// first 40 hex digits of its SHA-256 (the same learner always gets the same id).
pub fn user(issuer: &str, subject: &str) -> String {
    let id = super::launch::user_id(issuer, subject);
    if crate::workshop::portal::is_valid_user(&id) {
        id
    } else {
        let digest = hex::encode(Sha256::digest(id.as_bytes()));
        format!("lti-{}", &digest[..40])
    }
}

/// Where the workshop's "back" goes: the LMS's `return_url` when it is at an origin the tenant
/// allows (as any session request's `index_url` must be), else the platform's issuer (the
/// registration an administrator made).
fn index_url(client: &ApiClient, registration: &Registration, claims: &LaunchClaims) -> String {
    claims
        .return_url
        .as_deref()
        .and_then(|u| crate::redirect::allowed_index_url(&client.allowed_origins, u))
        .unwrap_or_else(|| registration.issuer.clone())
}

/// Requests a session of `environment` for the learner, with the id_token's nonce written in the
/// same transaction (a launch refused for capacity uses nothing up): the absolute activation
/// URL (`<api_url>/workshops/session/<name>/activate/?token=…`), and whether a slot was taken.
pub async fn start(
    store: &Store,
    (client, environment): (&ApiClient, &Environment),
    (registration, claims, nonce): (&Registration, &LaunchClaims, &str),
    (api_url, activation_timeout_secs): (&str, i64),
) -> Result<(String, bool), LtiError> {
    let also = [super::launch::nonce_item(
        store.table(),
        nonce,
        &client.id,
        claims,
    )?];
    let ask = SessionRequest {
        user: user(&registration.issuer, &claims.subject),
        email: claims
            .email
            .clone()
            .filter(|e| super::launch::plausible_email(e) && e.contains('.')),
        first_name: claims.given_name.as_deref().and_then(super::launch::name),
        last_name: claims.family_name.as_deref().and_then(super::launch::name),
        session: None,
        timeout_secs: activation_timeout_secs,
        index_url: index_url(client, registration, claims),
        analytics_url: None,
        parameters: Vec::new(),
    };
    let outcome = session::request_with(store, (client, environment), &ask, (None, None), &also)
        .await
        .map_err(|e| match e {
            crate::store::tx::TxError::Store(e) => LtiError::Store(e),
            other => LtiError::Store(crate::store::StoreError::Failed {
                op: "TransactWriteItems LTI workshop session",
                detail: other.to_string(),
            }),
        })?;
    match outcome {
        RequestOutcome::Granted {
            session,
            token,
            allocated,
            ..
        } => {
            let path = session::activation_path(&session, &token, &ask.index_url);
            let url = format!("{api_url}{path}");
            Ok((url, allocated))
        }
        RequestOutcome::Unavailable => Err(LtiError::Busy(
            "Every seat of this workshop is taken right now: try again from the course in a few minutes."
                .into(),
        )),
        RequestOutcome::AlsoRefused => Err(LtiError::unauthorized(
            "This launch was already used: start it again from the LMS.",
        )),
        RequestOutcome::Reused => Err(LtiError::Store(crate::store::StoreError::Failed {
            op: "LTI workshop session",
            detail: "an idempotency key was reused without one".into(),
        })),
    }
}
