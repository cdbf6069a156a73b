//! API clients (integration accounts, the tenants) and their API tokens.
//!
//! A token item carries a copy of its client's settings, so that authenticating a launch is one
//! read and the launch itself one transaction (docs/data-model.md, "Denormalised client").

use crate::clock;
use crate::secrets::{self, Digest, Secret};
use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys::{self, GSI1_PK, GSI1_SK};
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::BTreeMap;

/// The labgate role a user gets when none of their LMS roles is mapped.
pub const DEFAULT_ROLE: &str = "learner";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub id: String,
    pub name: String,
    /// Base URL of this client's lab app; `None` uses the app URL of the domain the request
    /// arrived on.
    pub app_url: Option<String>,
    /// Origins (`scheme://host[:port]`) that caller-supplied return URLs may point to.
    pub allowed_origins: Vec<String>,
    /// LMS role → labgate role.
    pub role_mapping: BTreeMap<String, String>,
    /// Launches must carry `resource_id` (the client relies on grading reports).
    pub require_resource_id: bool,
    pub created_at: i64,
}

/// What an API token may do. Tokens issued before scopes existed may launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Launch,
    Grading,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Launch, Scope::Grading, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Launch => "launch",
            Scope::Grading => "grading",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl ApiClient {
    /// Maps LMS roles through the client's mapping: unmapped roles are dropped, duplicates
    /// folded, and a user with no mapped role gets `DEFAULT_ROLE`.
    pub fn map_roles(&self, roles: &[String]) -> Vec<String> {
        let mut mapped: Vec<String> = roles
            .iter()
            .filter_map(|r| self.role_mapping.get(r).cloned())
            .collect();
        mapped.sort();
        mapped.dedup();
        if mapped.is_empty() {
            mapped.push(DEFAULT_ROLE.to_string());
        }
        mapped
    }

    pub(crate) fn to_attr(&self) -> AttributeValue {
        let mut m = Item::from([
            ("id".to_string(), attr::s(&self.id)),
            (NAME.to_string(), attr::s(&self.name)),
            (
                "allowed_origins".to_string(),
                attr::list(&self.allowed_origins),
            ),
            ("role_mapping".to_string(), attr::map(&self.role_mapping)),
            (
                "require_resource_id".to_string(),
                AttributeValue::Bool(self.require_resource_id),
            ),
            (CREATED_AT.to_string(), attr::n(self.created_at)),
        ]);
        if let Some(app_url) = &self.app_url {
            m.insert("app_url".into(), attr::s(app_url));
        }
        AttributeValue::M(m)
    }

    pub(crate) fn from_attr(value: Option<&AttributeValue>) -> Result<Self, StoreError> {
        let Some(AttributeValue::M(m)) = value else {
            return Err(StoreError::Malformed("client settings missing".into()));
        };
        Ok(ApiClient {
            id: attr::get_s(m, "id")?,
            name: attr::get_s(m, NAME)?,
            app_url: attr::opt_s(m, "app_url")?,
            allowed_origins: attr::strings(m, "allowed_origins")?,
            role_mapping: attr::string_map(m, "role_mapping")?,
            require_resource_id: matches!(
                m.get("require_resource_id"),
                Some(AttributeValue::Bool(true))
            ),
            created_at: attr::get_n(m, CREATED_AT)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub app_url: Option<String>,
    pub allowed_origins: Vec<String>,
    pub role_mapping: BTreeMap<String, String>,
    pub require_resource_id: bool,
}

pub async fn create_client(store: &Store, new: NewClient) -> Result<ApiClient, StoreError> {
    let client = ApiClient {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name: new.name,
        app_url: new.app_url,
        allowed_origins: new.allowed_origins,
        role_mapping: new.role_mapping,
        require_resource_id: new.require_resource_id,
        created_at: clock::now(),
    };
    let mut item = keys::client(&client.id).item();
    item.insert(CLIENT.into(), client.to_attr());
    item.insert(GSI1_PK.into(), attr::s(keys::ALL_CLIENTS));
    item.insert(GSI1_SK.into(), attr::s(&client.id));
    crate::store::create(store, item, "PutItem client").await?;
    Ok(client)
}

pub async fn get_client(store: &Store, client_id: &str) -> Result<Option<ApiClient>, StoreError> {
    let item = crate::store::get(store, &keys::client(client_id), "GetItem client").await?;
    item.map(|item| ApiClient::from_attr(item.get(CLIENT)))
        .transpose()
}

pub async fn list_clients(store: &Store) -> Result<Vec<ApiClient>, StoreError> {
    let items = crate::store::query_index(store, keys::ALL_CLIENTS, "").await?;
    items
        .iter()
        .map(|item| ApiClient::from_attr(item.get(CLIENT)))
        .collect()
}

/// A token as listed: never the token itself.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub token_id: String,
    pub client_id: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub(crate) digest: String,
}

/// A token's item: its client's settings copied in (docs/data-model.md, "Denormalised client").
fn token_item(client: &ApiClient, info: &TokenInfo) -> Item {
    let mut item = keys::api_token(&info.digest).item();
    item.extend([
        (CLIENT.to_string(), client.to_attr()),
        (CLIENT_ID.to_string(), attr::s(&client.id)),
        (TOKEN_ID.to_string(), attr::s(&info.token_id)),
        (DIGEST.to_string(), attr::s(&info.digest)),
        (LABEL.to_string(), attr::s(&info.label)),
        (SCOPES.to_string(), attr::list(&info.scopes)),
        (CREATED_AT.to_string(), attr::n(info.created_at)),
        (
            GSI1_PK.to_string(),
            attr::s(keys::client_partition(&client.id)),
        ),
        (
            GSI1_SK.to_string(),
            attr::s(format!(
                "{}{}",
                keys::API_TOKEN_LISTING_PREFIX,
                info.token_id
            )),
        ),
    ]);
    item
}

/// Issues a new API token for a client; the returned secret is shown once and never stored.
pub async fn issue_token(
    store: &Store,
    client_id: &str,
    label: &str,
    scopes: &[Scope],
) -> Result<Option<(TokenInfo, Secret)>, StoreError> {
    let Some(client) = get_client(store, client_id).await? else {
        return Ok(None);
    };
    let secret = secrets::new_api_token();
    let digest = secret.digest();
    let info = TokenInfo {
        token_id: digest.log_prefix().to_string(),
        client_id: client.id.clone(),
        label: label.to_string(),
        scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
        created_at: clock::now(),
        revoked_at: None,
        digest: digest.as_str().to_string(),
    };
    let item = token_item(&client, &info);
    crate::store::create(store, item, "PutItem API token").await?;
    Ok(Some((info, secret)))
}

pub async fn list_tokens(store: &Store, client_id: &str) -> Result<Vec<TokenInfo>, StoreError> {
    crate::store::list_for_tenant(store, client_id, keys::API_TOKEN_LISTING_PREFIX, token_info)
        .await
}

fn token_info(item: &Item) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        token_id: attr::get_s(item, TOKEN_ID)?,
        client_id: attr::get_s(item, CLIENT_ID)?,
        label: attr::opt_s(item, LABEL)?.unwrap_or_default(),
        scopes: token_scopes(item)?,
        created_at: attr::get_n(item, CREATED_AT)?,
        revoked_at: attr::opt_n(item, REVOKED_AT)?,
        digest: attr::get_s(item, DIGEST)?,
    })
}

/// Revokes a token at once: authentication reads the token consistently, so the next request
/// with it is refused. The lookup here is by the tenant index, which is eventual: a token issued
/// in the last second may not be found yet (`false`, as for no such live token; run it again).
pub async fn revoke_token(
    store: &Store,
    client_id: &str,
    token_id: &str,
) -> Result<bool, StoreError> {
    let tokens = list_tokens(store, client_id).await?;
    let Some(token) = tokens
        .into_iter()
        .find(|t| t.token_id == token_id && t.revoked_at.is_none())
    else {
        return Ok(false);
    };
    let key = keys::api_token(&token.digest);
    let values = Item::from([(":now".to_string(), attr::n(clock::now()))]);
    let expression = "SET revoked_at = :now".to_string();
    crate::store::update_existing(
        store,
        &key,
        expression,
        values,
        "UpdateItem revoke API token",
    )
    .await?;
    Ok(true)
}

/// A token's scopes; a token from before scopes may launch.
fn token_scopes(item: &Item) -> Result<Vec<String>, StoreError> {
    if item.contains_key(SCOPES) {
        attr::strings(item, SCOPES)
    } else {
        Ok(vec![Scope::Launch.as_str().to_string()])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Authentication credentials were not provided.")]
    Missing,
    #[error("Invalid token.")]
    Invalid,
    #[error("This token does not have the `{}` scope.", .0.as_str())]
    Forbidden(Scope),
    /// The token could not be checked (the store failed).
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Authenticates `Authorization: Token <token>` for a scope. Unknown, malformed and revoked
/// look the same; a valid token without the scope is `Forbidden`.
pub async fn authenticate(
    store: &Store,
    authorization: Option<&str>,
    needed: Scope,
) -> Result<ApiClient, AuthError> {
    Ok(authenticate_with(store, authorization, needed, &[])
        .await?
        .0)
}

/// The digest of the API token in an `Authorization: Token <token>` header, if it has a
/// token's shape (what `authenticate_with` looks up; also the scope of a launch's idempotency key).
pub fn presented_token(authorization: Option<&str>) -> Option<Digest> {
    crate::http::auth::credentials(authorization?, "token")
        .filter(|t| secrets::is_api_token_shape(t))
        .map(Digest::of)
}

/// Like `authenticate`, and reads `also` in the same round trip (one `BatchGetItem`): the
/// items found, for the caller to check against the client.
pub async fn authenticate_with(
    store: &Store,
    authorization: Option<&str>,
    needed: Scope,
    also: &[keys::Key],
) -> Result<(ApiClient, Vec<Item>), AuthError> {
    let header = authorization
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(AuthError::Missing)?;
    let digest = presented_token(Some(header)).ok_or(AuthError::Invalid)?;
    let token_key = keys::api_token(digest.as_str());
    let mut wanted = vec![token_key.clone()];
    wanted.extend(also.iter().cloned());
    // Strongly consistent, so that a revocation takes effect at once.
    let mut found = crate::store::batch_get(store, &wanted).await?;
    let Some(at) = found
        .iter()
        .position(|i| attr::opt_s(i, keys::PK).ok().flatten().as_deref() == Some(&token_key.pk))
    else {
        tracing::info!(token = digest.log_prefix(), "unknown API token");
        return Err(AuthError::Invalid);
    };
    let item = found.swap_remove(at);
    if item.contains_key(REVOKED_AT) || crate::disable::is_disabled(&item) {
        tracing::info!(token = digest.log_prefix(), "revoked API token");
        return Err(AuthError::Invalid);
    }
    if !token_scopes(&item)?.iter().any(|s| s == needed.as_str()) {
        return Err(AuthError::Forbidden(needed));
    }
    Ok((ApiClient::from_attr(item.get(CLIENT))?, found))
}

/// How a failed authentication answers (`http` knows nothing of API clients: the arrow goes one
/// way, from here to it).
impl From<AuthError> for crate::http::ApiError {
    fn from(e: AuthError) -> Self {
        use crate::http::ApiError;
        match e {
            AuthError::Missing => {
                ApiError::Unauthorized("Authentication credentials were not provided.")
            }
            AuthError::Invalid => ApiError::Unauthorized("Invalid token."),
            forbidden @ AuthError::Forbidden(_) => ApiError::Forbidden(forbidden.to_string()),
            AuthError::Store(e) => ApiError::from(e).said("Could not check the API token."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_roles_fall_back_to_the_default_role() {
        let client = ApiClient {
            id: "c".into(),
            name: "n".into(),
            app_url: None,
            allowed_origins: vec![],
            role_mapping: BTreeMap::from([
                ("admin".to_string(), "instructor".to_string()),
                ("Teacher".to_string(), "instructor".to_string()),
            ]),
            require_resource_id: false,
            created_at: 0,
        };
        assert_eq!(
            client.map_roles(&["admin".into(), "Teacher".into(), "x".into()]),
            vec!["instructor"]
        );
        assert_eq!(client.map_roles(&["guest".into()]), vec![DEFAULT_ROLE]);
        assert_eq!(client.map_roles(&[]), vec![DEFAULT_ROLE]);
    }
}
