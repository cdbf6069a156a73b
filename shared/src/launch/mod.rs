//! A launch: the record of one LMS user starting one lab, and the one-time URL that logs them in.

pub mod payload;
pub mod progress;
pub mod replay;

use crate::api_client::ApiClient;
use crate::clock;
use crate::config::{Config, Domain};
use crate::events::{Event, EventType};
use crate::idempotency::Claim;
use crate::launch_token;
use crate::secrets::Secret;
use crate::store::attr::{self, Item};
use crate::store::conditions::ABSENT;
use crate::store::fields::*;
use crate::store::keys::{self, GSI1_PK, GSI1_SK};
use crate::store::tx::{self, TxError, item};
use crate::store::{Store, StoreError};
use crate::user::{self, UserUpsert};
use payload::LaunchPayload;
use serde::Serialize;
use serde_json::json;

#[derive(Debug)]
pub enum LaunchOutcome {
    Created {
        launch_id: String,
        /// The one-time login URL for the browser.
        url: String,
        token: Secret,
    },
    /// The launch would give its user more licenses or teams than a user may hold (the words).
    OverCap(String),
    /// A concurrent request with the same idempotency key did the launch: replay it.
    KeyTaken,
    /// A condition of an item the caller added (`create_with`'s `also`) failed: nothing was
    /// written (an LTI id_token's nonce already used, say).
    AlsoRefused,
}

/// Where the browser lands after login: the client's app (or the domain's) at the content.
pub fn destination(client: &ApiClient, domain: &Domain, content_id: &str) -> String {
    let app_url = client.app_url.as_deref().unwrap_or(&domain.app_url);
    format!("{}/project/{content_id}", app_url.trim_end_matches('/'))
}

pub(crate) fn login_url(domain: &Domain, token: &Secret, next: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token.expose())
        .append_pair("next", next)
        .finish();
    format!("{}/api/v1/launch/auth?{query}", domain.api_url)
}

/// Upserts the user and its memberships, records the launch and issues its token, all in one
/// transaction (no partial state, one round trip), with the request's idempotency key if it has
/// one (`claim`). The caller has checked the content.
pub async fn create(
    store: &Store,
    config: &Config,
    (client, domain): (&ApiClient, &Domain),
    launch: &LaunchPayload,
    claim: Option<&Claim>,
) -> Result<LaunchOutcome, TxError> {
    create_with(store, config, (client, domain), launch, claim, &[]).await
}

/// Like `create`, with `also` written in the same transaction (all or nothing): an LTI launch
/// adds its nonce there, so that a launch is recorded exactly when its id_token is used up.
pub async fn create_with(
    store: &Store,
    config: &Config,
    (client, domain): (&ApiClient, &Domain),
    launch: &LaunchPayload,
    claim: Option<&Claim>,
    also: &[aws_sdk_dynamodb::types::TransactWriteItem],
) -> Result<LaunchOutcome, TxError> {
    let launch_id = uuid::Uuid::new_v4().to_string();
    let next = destination(client, domain, &launch.content_id);
    let mut upsert = upsert_of(client, launch);
    // The caps on licenses and teams are conditions on the user item: first with room for every
    // name as new (no read); if that fails, near a cap, the user's sets are read and the launch
    // is refused or written with the exact sizes read as its condition (a concurrent launch
    // changing them makes it read again).
    for _ in 0..MAX_CAP_READS {
        let (token, mut items) = items(
            store.table(),
            (config, domain),
            client,
            launch,
            &launch_id,
            &next,
            &upsert,
        )?;
        let also_at = items.len();
        items.extend(also.iter().cloned());
        let key_at = items.len();
        if let Some(claim) = claim {
            let kept = replay::Kept {
                launch_id: launch_id.clone(),
                token_digest: token.digest(),
                external_id: launch.user_id.clone(),
                next: next.clone(),
            };
            items.push(claim.record(store.table(), &client.id, kept.attributes(), clock::now())?);
        }
        match tx::transact(store, "TransactWriteItems launch", items).await {
            Ok(()) => {
                return Ok(LaunchOutcome::Created {
                    url: login_url(domain, &token, &next),
                    launch_id,
                    token,
                });
            }
            Err(TxError::Condition { index }) if claim.is_some() && index == key_at => {
                return Ok(LaunchOutcome::KeyTaken);
            }
            Err(TxError::Condition { index }) if (also_at..key_at).contains(&index) => {
                return Ok(LaunchOutcome::AlsoRefused);
            }
            Err(TxError::Condition { index: 0 }) => {
                match user::read_held(store, &client.id, &upsert).await? {
                    Ok(held) => upsert.held = Some(held),
                    Err(refusal) => return Ok(LaunchOutcome::OverCap(refusal)),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable {
        op: "TransactWriteItems launch",
        detail: "the user's licenses or teams kept changing".into(),
    }
    .into())
}

/// The user as a launch describes them (roles mapped by the client's role mapping).
fn upsert_of(client: &ApiClient, launch: &LaunchPayload) -> UserUpsert {
    UserUpsert {
        external_id: launch.user_id.clone(),
        email: launch.email.clone(),
        given_name: launch.given_name.clone(),
        family_name: launch.family_name.clone(),
        roles: launch
            .roles
            .as_ref()
            .map(|roles| (roles.clone(), client.map_roles(roles))),
        licenses: launch.licenses.clone(),
        teams: launch.teams.clone(),
        held: None,
    }
}

/// `launch.created`, with what the LMS sent.
fn created_event(client: &ApiClient, launch: &LaunchPayload, launch_id: &str) -> Event {
    Event::new(
        EventType::LaunchCreated,
        &client.id,
        json!({
            "launch_id": launch_id,
            "user_id": launch.user_id,
            "content_id": launch.content_id,
            "resource_id": launch.resource_id,
            "context": launch.context,
            "roles": launch.roles,
            "licenses": launch.licenses,
            "teams": launch.teams,
        }),
    )
}

/// Reads of the user's sets a launch makes near a cap before it gives up.
const MAX_CAP_READS: usize = 5;

/// The launch's transaction: the user and memberships, the record, the token, the event.
fn items(
    table: &str,
    (config, domain): (&Config, &Domain),
    client: &ApiClient,
    launch: &LaunchPayload,
    launch_id: &str,
    next: &str,
    upsert: &UserUpsert,
) -> Result<(Secret, Vec<aws_sdk_dynamodb::types::TransactWriteItem>), StoreError> {
    let now = clock::now();
    let mut items = user::upsert_items(table, &client.id, upsert, now)?;
    items.push(item::put(
        table,
        record(client, launch, launch_id, (now, config.retention_secs))?,
        Some(ABSENT),
    )?);
    let (token, token_item) = launch_token::issue(
        table,
        &domain.host,
        &client.id,
        launch_id,
        &launch.user_id,
        next,
        config.launch_token_ttl_secs,
    )?;
    items.push(token_item);
    items.push(created_event(client, launch, launch_id).outbox(table)?);

    Ok((token, items))
}

fn record(
    client: &ApiClient,
    launch: &LaunchPayload,
    launch_id: &str,
    (now, retention_secs): (i64, i64),
) -> Result<Item, StoreError> {
    let context =
        serde_json::to_string(&launch.context).map_err(|e| StoreError::Malformed(e.to_string()))?;
    let mut record = keys::launch(launch_id).item();
    record.extend([
        (LAUNCH_ID.to_string(), attr::s(launch_id)),
        (CLIENT_ID.to_string(), attr::s(&client.id)),
        (EXTERNAL_ID.to_string(), attr::s(&launch.user_id)),
        (CONTENT_ID.to_string(), attr::s(&launch.content_id)),
        (CONTEXT.to_string(), attr::s(context)),
        (LICENSES.to_string(), attr::list(&launch.licenses)),
        (TEAMS.to_string(), attr::list(&launch.teams)),
        (CREATED_AT.to_string(), attr::n(now)),
        // Kept for the configured retention; TTL removes it some time after.
        (EXPIRES_AT.to_string(), attr::n(now + retention_secs)),
        (
            GSI1_PK.to_string(),
            attr::s(keys::user_partition(&client.id, &launch.user_id)),
        ),
        (
            GSI1_SK.to_string(),
            attr::s(format!(
                "{}{now:012}#{launch_id}",
                keys::LAUNCH_LISTING_PREFIX
            )),
        ),
    ]);
    if let Some(roles) = &launch.roles {
        record.insert("roles".into(), attr::list(roles));
    }
    if let Some(resource_id) = &launch.resource_id {
        record.insert(RESOURCE_ID.into(), attr::s(resource_id));
    }
    if let Some(line_item) = &launch.line_item {
        record.extend(line_item.to_attr());
    }
    Ok(record)
}

/// A launch as the lab app sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Launch {
    pub id: String,
    /// The LMS's id of the user (`user_id` in the API); the lab app knows it from the session.
    #[serde(skip)]
    pub user_id: String,
    pub content_id: String,
    pub resource_id: Option<String>,
    pub context: serde_json::Value,
    pub roles: Vec<String>,
    pub licenses: Vec<String>,
    pub teams: Vec<String>,
    pub created_at: String,
    /// The latest progress report, if a grading service sent one.
    pub progress: Option<serde_json::Value>,
    /// Where its progress goes as scores, for an LTI launch of a graded link.
    #[serde(skip)]
    pub line_item: Option<crate::grades::LineItem>,
}

impl Launch {
    pub fn from_item(record: &Item) -> Result<Self, StoreError> {
        let context = attr::get_s(record, CONTEXT)?;
        Ok(Launch {
            id: attr::get_s(record, LAUNCH_ID)?,
            user_id: attr::get_s(record, EXTERNAL_ID)?,
            content_id: attr::get_s(record, CONTENT_ID)?,
            resource_id: attr::opt_s(record, RESOURCE_ID)?,
            context: serde_json::from_str(&context)
                .map_err(|e| StoreError::Malformed(format!("launch context: {e}")))?,
            roles: attr::strings(record, "roles")?,
            licenses: attr::strings(record, LICENSES)?,
            teams: attr::strings(record, TEAMS)?,
            created_at: clock::rfc3339(attr::get_n(record, CREATED_AT)?),
            progress: attr::opt_s(record, LATEST_PROGRESS)?
                .and_then(|p| serde_json::from_str(&p).ok()),
            line_item: crate::grades::LineItem::from_item(record)?,
        })
    }
}

/// A user's launches, oldest first.
pub async fn list_for_user(
    store: &crate::store::Store,
    client_id: &str,
    external_id: &str,
) -> Result<Vec<Launch>, StoreError> {
    let items = crate::store::query_index(
        store,
        &keys::user_partition(client_id, external_id),
        keys::LAUNCH_LISTING_PREFIX,
    )
    .await?;
    let now = clock::now();
    items
        .iter()
        .filter(|i| crate::store::conditions::is_current(i, now))
        .map(Launch::from_item)
        .collect()
}
