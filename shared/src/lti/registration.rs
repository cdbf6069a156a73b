//! A platform registration: an LMS (its issuer and the `client_id` it gave labgate) trusted by
//! one tenant, with its deployments and URLs (`labgate-admin lti register`).

use super::LtiError;
use crate::clock;
use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys::{self, GSI1_PK, GSI1_SK};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The platform's `iss`.
    pub issuer: String,
    /// The `client_id` the platform gave labgate (the id_token's `aud`).
    pub client_id: String,
    /// The labgate tenant (API client) whose users and content the platform's launches use.
    pub tenant: String,
    /// The platform's deployment ids that may launch (none listed: any, `knows_deployment`).
    pub deployments: Vec<String>,
    /// The platform's OIDC authorization endpoint (where the login redirects).
    pub auth_url: String,
    /// The platform's OAuth2 token endpoint (grades: `grades::ags_client`).
    pub token_url: String,
    /// The platform's public keys.
    pub jwks_url: String,
    pub created_at: i64,
}

pub const LISTING_PREFIX: &str = "LTI#";

/// An issuer is at most this long (bytes): with the `client_id` (at most 255 bytes) it forms
/// the registration's listing sort key, which DynamoDB caps at 1,024 bytes.
pub const MAX_ISSUER_BYTES: usize = 700;
pub const MAX_CLIENT_ID_BYTES: usize = 255;

/// Whether an issuer and client_id could name a registration (checked before any key is built).
pub fn plausible(issuer: &str, client_id: Option<&str>) -> bool {
    !issuer.is_empty()
        && issuer.len() <= MAX_ISSUER_BYTES
        && client_id.is_none_or(|c| !c.is_empty() && c.len() <= MAX_CLIENT_ID_BYTES)
}

impl Registration {
    pub(crate) fn to_item(&self) -> Item {
        let mut item = keys::lti_registration(&self.issuer, &self.client_id).item();
        item.extend([
            (
                GSI1_PK.to_string(),
                attr::s(keys::client_partition(&self.tenant)),
            ),
            (
                GSI1_SK.to_string(),
                attr::s(format!(
                    "{LISTING_PREFIX}{}#{}",
                    self.issuer, self.client_id
                )),
            ),
            (LTI_ISSUER.to_string(), attr::s(&self.issuer)),
            (LTI_CLIENT_ID.to_string(), attr::s(&self.client_id)),
            (CLIENT_ID.to_string(), attr::s(&self.tenant)),
            (LTI_DEPLOYMENTS.to_string(), attr::list(&self.deployments)),
            (LTI_AUTH_URL.to_string(), attr::s(&self.auth_url)),
            (LTI_TOKEN_URL.to_string(), attr::s(&self.token_url)),
            (LTI_JWKS_URL.to_string(), attr::s(&self.jwks_url)),
            (CREATED_AT.to_string(), attr::n(self.created_at)),
        ]);
        item
    }

    pub(crate) fn from_item(item: &Item) -> Result<Self, StoreError> {
        Ok(Registration {
            issuer: attr::get_s(item, LTI_ISSUER)?,
            client_id: attr::get_s(item, LTI_CLIENT_ID)?,
            tenant: attr::get_s(item, CLIENT_ID)?,
            deployments: attr::strings(item, LTI_DEPLOYMENTS)?,
            auth_url: attr::get_s(item, LTI_AUTH_URL)?,
            token_url: attr::get_s(item, LTI_TOKEN_URL)?,
            jwks_url: attr::get_s(item, LTI_JWKS_URL)?,
            created_at: attr::get_n(item, CREATED_AT)?,
        })
    }

    /// Whether `deployment_id` is one this registration lets launch: one of its deployments,
    /// or any when it lists none (a dynamic registration whose platform named none; the
    /// client_id was issued to labgate for this registration alone).
    pub fn knows_deployment(&self, deployment_id: &str) -> bool {
        self.deployments.is_empty() || self.deployments.iter().any(|d| d == deployment_id)
    }
}

/// What `labgate-admin lti register` asks for.
pub struct NewRegistration<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub tenant: &'a str,
    pub deployments: &'a [String],
    pub auth_url: &'a str,
    pub token_url: &'a str,
    pub jwks_url: &'a str,
}

/// Records (or updates) a registration. Refused if another tenant holds the same (issuer,
/// client_id): a platform's launches belong to one tenant.
pub async fn register(
    store: &Store,
    new: &NewRegistration<'_>,
) -> Result<Registration, RegisterError> {
    if new.deployments.is_empty() {
        return Err(RegisterError::Invalid("at least one --deployment".into()));
    }
    let registration = prepared(new)?;
    let values = Item::from([(":tenant".to_string(), attr::s(new.tenant))]);
    let written = crate::store::put_when(
        store,
        registration.to_item(),
        NEW_OR_SAME_TENANT,
        values,
        "PutItem LTI registration",
    )
    .await?;
    if !written {
        return Err(RegisterError::OtherTenant);
    }
    Ok(registration)
}

/// The condition a registration is written on (with `:tenant`): new, or the same tenant's.
pub(crate) const NEW_OR_SAME_TENANT: &str = "attribute_not_exists(pk) OR client_id = :tenant";

/// Checks a registration's values: https URLs (http only on this machine) and identifiers that
/// fit a key. An empty list of deployments (dynamic registration, when the platform names none)
/// lets any deployment of this client_id launch.
pub(crate) fn prepared(new: &NewRegistration<'_>) -> Result<Registration, RegisterError> {
    for (name, url) in [
        ("--issuer", new.issuer),
        ("--auth-url", new.auth_url),
        ("--token-url", new.token_url),
        ("--jwks-url", new.jwks_url),
    ] {
        secure_url(url).map_err(|e| RegisterError::Invalid(format!("{name}: {e}")))?;
    }
    if new.client_id.trim().is_empty() || !plausible(new.issuer, Some(new.client_id)) {
        return Err(RegisterError::Invalid(format!(
            "--issuer: at most {MAX_ISSUER_BYTES} bytes; --client-id: 1 to {MAX_CLIENT_ID_BYTES}"
        )));
    }
    Ok(Registration {
        issuer: new.issuer.to_string(),
        client_id: new.client_id.to_string(),
        tenant: new.tenant.to_string(),
        deployments: new.deployments.to_vec(),
        auth_url: new.auth_url.to_string(),
        token_url: new.token_url.to_string(),
        jwks_url: new.jwks_url.to_string(),
        created_at: clock::now(),
    })
}

/// https: the login sends state and nonce to the auth URL, and keys come from the JWKS URL.
/// Plain http only on this machine (local platforms and tests).
pub fn secure_url(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let secure = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
    if !secure || parsed.host_str().is_none() {
        return Err("an https URL (http only for localhost)".into());
    }
    Ok(parsed)
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Invalid(String),
    #[error("this issuer and client_id are registered to another client")]
    OtherTenant,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The registration a login or a launch names. Without a `client_id` (a login may omit it), the
/// issuer's only registration; an issuer with several needs the `client_id`.
pub async fn find(
    store: &Store,
    issuer: &str,
    client_id: Option<&str>,
) -> Result<Registration, LtiError> {
    if !plausible(issuer, client_id) {
        return Err(LtiError::bad(
            "No LTI registration for this issuer and client_id.",
        ));
    }
    let unknown = || {
        LtiError::bad(format!(
            "No LTI registration for issuer {issuer:?} and this client_id."
        ))
    };
    if let Some(client_id) = client_id {
        let key = keys::lti_registration(issuer, client_id);
        let item = crate::store::get(store, &key, "GetItem LTI registration").await?;
        return item
            .as_ref()
            .map(Registration::from_item)
            .transpose()?
            .ok_or_else(unknown);
    }
    let items = crate::store::query_partition(
        store,
        &keys::lti_issuer_partition(issuer),
        keys::LTI_CLIENT_ID_PREFIX,
    )
    .await?;
    match items.as_slice() {
        [one] => Ok(Registration::from_item(one)?),
        [] => Err(unknown()),
        _ => Err(LtiError::bad(
            "This issuer has several LTI registrations: the login must name its client_id.",
        )),
    }
}

/// The registration an id_token names, from items read in a batch.
pub fn found(
    items: &[Item],
    issuer: &str,
    client_id: &str,
) -> Result<Option<Registration>, StoreError> {
    crate::store::find(items, &keys::lti_registration(issuer, client_id))
        .map(Registration::from_item)
        .transpose()
}

/// A tenant's registrations.
pub async fn list(store: &Store, tenant: &str) -> Result<Vec<Registration>, StoreError> {
    crate::store::list_for_tenant(store, tenant, LISTING_PREFIX, Registration::from_item).await
}
