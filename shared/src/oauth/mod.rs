//! OAuth2 for the workshop API: each tenant (API client) gets an OAuth client and a robot
//! account; the robot's password grant yields bearer tokens scoped to that tenant.
//!
//! Client secrets, robot passwords, access and refresh tokens are random and stored only as
//! SHA-256 digests. Passwords are generated (about 238 bits), never chosen, so a fast hash is
//! enough; a chosen password would need a slow one.

pub mod credentials;
pub mod http;

use crate::api_client::{self, ApiClient};
use crate::clock;
use crate::config::Config;
use crate::one_time;
use crate::secrets::{self, Digest, Secret};
use crate::store::attr::{self, Item};
use crate::store::conditions::ABSENT;
use crate::store::fields::*;
use crate::store::keys::{self, GSI1_PK, GSI1_SK};
use crate::store::tx::{self, TxError, item};
use crate::store::{Store, StoreError};

pub const SCOPE: &str = "user:info";

/// Credentials made for a tenant, shown once.
#[derive(Debug)]
pub struct RobotCredentials {
    pub client_id: String,
    pub client_secret: Secret,
    pub username: String,
    pub password: Secret,
}

/// OAuth client ids are 24 ASCII letters and digits (made by `create_robot`): anything else is
/// refused before it reaches a key.
pub const CLIENT_ID_LEN: usize = 24;

pub fn is_client_id_shape(id: &str) -> bool {
    id.len() == CLIENT_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Robot usernames form keys (`ROBOT#<username>`, and an index sort key): at most this many
/// bytes, well inside DynamoDB's 1,024-byte sort key limit.
pub const MAX_USERNAME_BYTES: usize = 150;

pub fn is_valid_username(username: &str) -> bool {
    (1..=MAX_USERNAME_BYTES).contains(&username.len()) && !crate::text::has_refused(username)
}

/// Creates the OAuth client and robot account of a tenant. `None` if the tenant is unknown;
/// an error if the username is taken.
/// The OAuth client of a tenant's robot (a copy of the tenant's settings with it).
fn oauth_client_item(
    tenant: &ApiClient,
    client_id: &str,
    secret: &Secret,
    username: &str,
    now: i64,
) -> Item {
    let mut app = keys::oauth_client(client_id).item();
    app.extend([
        (CLIENT.to_string(), tenant.to_attr()),
        (OAUTH_CLIENT_ID.to_string(), attr::s(client_id)),
        (
            "secret_digest".to_string(),
            attr::s(secret.digest().as_str()),
        ),
        (USERNAME.to_string(), attr::s(username)),
        (CREATED_AT.to_string(), attr::n(now)),
    ]);
    app
}

/// A robot account, listed in its tenant's index partition.
fn robot_item(
    tenant_id: &str,
    client_id: &str,
    username: &str,
    password: &Secret,
    now: i64,
) -> Item {
    let mut robot = keys::robot(username).item();
    robot.extend([
        (USERNAME.to_string(), attr::s(username)),
        (OAUTH_CLIENT_ID.to_string(), attr::s(client_id)),
        (CLIENT_ID.to_string(), attr::s(tenant_id)),
        (
            "password_digest".to_string(),
            attr::s(password.digest().as_str()),
        ),
        (CREATED_AT.to_string(), attr::n(now)),
        (
            GSI1_PK.to_string(),
            attr::s(keys::client_partition(tenant_id)),
        ),
        (
            GSI1_SK.to_string(),
            attr::s(format!("{}{username}", keys::ROBOT_LISTING_PREFIX)),
        ),
    ]);
    robot
}

pub async fn create_robot(
    store: &Store,
    tenant_id: &str,
    username: &str,
) -> Result<Option<RobotCredentials>, TxError> {
    let Some(tenant) = api_client::get_client(store, tenant_id).await? else {
        return Ok(None);
    };
    let client_id = secrets::new_api_token().expose()[..CLIENT_ID_LEN].to_string();
    let client_secret = secrets::new_api_token();
    let password = secrets::new_api_token();
    let now = clock::now();

    let app = oauth_client_item(&tenant, &client_id, &client_secret, username, now);
    let robot = robot_item(&tenant.id, &client_id, username, &password, now);
    let table = store.table();
    tx::transact(
        store,
        "TransactWriteItems create robot",
        vec![
            item::put(table, app, Some(ABSENT))?,
            item::put(table, robot, Some(ABSENT))?,
        ],
    )
    .await?;
    Ok(Some(RobotCredentials {
        client_id,
        client_secret,
        username: username.to_string(),
        password,
    }))
}

/// A robot as listed (never its secrets).
#[derive(Debug, Clone)]
pub struct RobotInfo {
    pub username: String,
    pub oauth_client_id: String,
    pub created_at: i64,
}

pub async fn list_robots(store: &Store, tenant_id: &str) -> Result<Vec<RobotInfo>, StoreError> {
    let read = |i: &Item| {
        Ok(RobotInfo {
            username: attr::get_s(i, USERNAME)?,
            oauth_client_id: attr::get_s(i, OAUTH_CLIENT_ID)?,
            created_at: attr::get_n(i, CREATED_AT)?,
        })
    };
    crate::store::list_for_tenant(store, tenant_id, keys::ROBOT_LISTING_PREFIX, read).await
}

/// An authenticated OAuth client: the tenant it acts for.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub tenant: ApiClient,
}

/// What a live access or refresh token stands for.
#[derive(Debug, Clone)]
pub struct Grant {
    pub oauth_client_id: String,
    pub username: String,
    pub tenant: ApiClient,
    /// The other token of the pair (refresh for an access token, and the other way round).
    pub partner_digest: String,
}

pub(crate) fn grant_from(record: &Item, partner: &str) -> Result<Grant, StoreError> {
    Ok(Grant {
        oauth_client_id: attr::get_s(record, OAUTH_CLIENT_ID)?,
        username: attr::get_s(record, USERNAME)?,
        tenant: ApiClient::from_attr(record.get(CLIENT))?,
        partner_digest: attr::get_s(record, partner)?,
    })
}

/// Checks client credentials against a stored OAuth client item.
/// Whether `presented` is the credential whose digest is in `attribute`, or the one it replaced
/// while that one's overlap lasts (`credentials::rotate`).
fn matches_current_or_previous(
    record: &Item,
    presented: &str,
    attribute: &str,
) -> Result<bool, StoreError> {
    if secrets::matches(presented, &attr::get_s(record, attribute)?) {
        return Ok(true);
    }
    let previous = attr::opt_s(record, &credentials::previous(attribute))?;
    let until = attr::opt_n(record, credentials::PREVIOUS_UNTIL)?.unwrap_or(0);
    Ok(until > clock::now() && previous.is_some_and(|d| secrets::matches(presented, &d)))
}

pub fn verify_client(
    record: Option<&Item>,
    secret: &str,
) -> Result<Option<OAuthClient>, StoreError> {
    let Some(record) = record else {
        return Ok(None);
    };
    if crate::disable::is_disabled(record)
        || !matches_current_or_previous(record, secret, SECRET_DIGEST)?
    {
        return Ok(None);
    }
    Ok(Some(OAuthClient {
        client_id: attr::get_s(record, OAUTH_CLIENT_ID)?,
        tenant: ApiClient::from_attr(record.get(CLIENT))?,
    }))
}

/// Checks a robot's password and that it belongs to the authenticated client.
pub fn verify_robot(
    record: Option<&Item>,
    client: &OAuthClient,
    password: &str,
) -> Result<bool, StoreError> {
    let Some(record) = record else {
        return Ok(false);
    };
    Ok(
        matches_current_or_previous(record, password, PASSWORD_DIGEST)?
            && attr::get_s(record, OAUTH_CLIENT_ID)? == client.client_id,
    )
}

/// A live token item read by digest, with its grant.
pub fn live_grant(record: Option<&Item>, partner: &str) -> Result<Option<Grant>, StoreError> {
    let Some(record) = record else {
        return Ok(None);
    };
    if !one_time::is_usable(record, clock::now())? || crate::disable::is_disabled(record) {
        return Ok(None);
    }
    grant_from(record, partner).map(Some)
}

/// A new access and refresh token pair.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: Secret,
    pub refresh_token: Secret,
    pub expires_in: i64,
}

/// What an access or refresh token carries: its tenant's settings, its robot, the digest of its
/// partner, and its listing under its OAuth client (so that removing the robot ends it).
fn token_attributes(
    client: &OAuthClient,
    (key, username): (&keys::Key, &str),
    (partner, digest): (&str, &Digest),
) -> Item {
    Item::from([
        (CLIENT.to_string(), client.tenant.to_attr()),
        (OAUTH_CLIENT_ID.to_string(), attr::s(&client.client_id)),
        (USERNAME.to_string(), attr::s(username)),
        (partner.to_string(), attr::s(digest.as_str())),
        (
            GSI1_PK.to_string(),
            attr::s(keys::oauth_client_tokens(&client.client_id)),
        ),
        (GSI1_SK.to_string(), attr::s(format!("TOKEN#{}", key.pk))),
    ])
}

/// The transaction items that store a new token pair for a robot.
pub fn issue_pair(
    table: &str,
    config: &Config,
    client: &OAuthClient,
    username: &str,
) -> Result<(TokenPair, Vec<aws_sdk_dynamodb::types::TransactWriteItem>), StoreError> {
    let access = secrets::new_url_token();
    let refresh = secrets::new_url_token();
    let token_item = |key: keys::Key, partner, partner_digest: &Digest, ttl| {
        let attributes = token_attributes(client, (&key, username), (partner, partner_digest));
        item::put(table, one_time::record(key, attributes, ttl), Some(ABSENT))
    };
    let items = vec![
        token_item(
            keys::access_token(access.digest().as_str()),
            "refresh_digest",
            &refresh.digest(),
            config.oauth_access_token_ttl_secs,
        )?,
        token_item(
            keys::refresh_token(refresh.digest().as_str()),
            "access_digest",
            &access.digest(),
            config.oauth_refresh_token_ttl_secs,
        )?,
    ];
    Ok((
        TokenPair {
            access_token: access,
            refresh_token: refresh,
            expires_in: config.oauth_access_token_ttl_secs,
        },
        items,
    ))
}

/// The transaction item that uses a refresh token up (fails unless it is still live).
pub fn consume_refresh(
    table: &str,
    digest: &Digest,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    one_time::consume(table, &keys::refresh_token(digest.as_str()))
}

/// Like `authenticate_bearer`, and reads `also` in the same round trip (one `BatchGetItem`):
/// the items found, for the caller to check against the grant's tenant.
pub async fn authenticate_bearer_with(
    store: &Store,
    authorization: Option<&str>,
    also: &[keys::Key],
) -> Result<(Option<Grant>, Vec<Item>), StoreError> {
    let Some(token) = authorization.and_then(|h| crate::http::auth::credentials(h, "bearer"))
    else {
        return Ok((None, Vec::new()));
    };
    if !secrets::is_url_token_shape(token) {
        return Ok((None, Vec::new()));
    }
    let key = keys::access_token(Digest::of(token).as_str());
    let mut wanted = vec![key.clone()];
    wanted.extend(also.iter().cloned());
    let found = crate::store::batch_get(store, &wanted).await?;
    let grant = live_grant(crate::store::find(&found, &key), "refresh_digest")?;
    Ok((grant, found))
}

/// Authenticates `Authorization: Bearer <token>`: the robot's grant, or `None` for a missing,
/// malformed, unknown, expired or revoked token alike.
pub async fn authenticate_bearer(
    store: &Store,
    authorization: Option<&str>,
) -> Result<Option<Grant>, StoreError> {
    let Some(token) = authorization.and_then(|h| crate::http::auth::credentials(h, "bearer"))
    else {
        return Ok(None);
    };
    let found =
        one_time::find_usable(store, token, keys::access_token, "GetItem access token").await?;
    let found = found.map(|(_, record)| record);
    live_grant(found.as_ref(), "refresh_digest")
}
