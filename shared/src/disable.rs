//! Disabling a tenant: everything it holds is refused at once, and enabling it undoes that.
//!
//! What a request checks is already in the read or the transaction it makes, so disabling adds
//! no round trip: the flag `disabled_at` is written on the tenant's item and copied onto each
//! item that carries the tenant's settings (its API tokens, its robots' OAuth clients and their
//! access and refresh tokens). Then:
//! - an API token of a disabled tenant is invalid (401), a robot's grants are `invalid_client`,
//!   its bearer tokens 403 (`api_client::authenticate_with`, `oauth::verify_client`,
//!   `oauth::live_grant`);
//! - a web session reads its tenant with the user (`GET /api/v1/session`: 401), and a launch
//!   link or activation link is redeemed only in a transaction that checks the tenant
//!   (`not_disabled`), so neither logs anyone in.
//!
//! The OAuth clients are flagged before their tokens, so no new token can be issued while the
//! tokens are swept; the token listing is an index (eventual), so the sweep runs twice.

use crate::api_client;
use crate::oauth;
use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys::{self, Key};
use crate::store::tx::item;
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// The transaction item that checks the tenant is not disabled.
pub fn not_disabled(table: &str, tenant_id: &str) -> Result<TransactWriteItem, StoreError> {
    item::condition_check(
        table,
        &keys::client(tenant_id),
        "attribute_not_exists(disabled_at)",
    )
}

/// Whether an item (a tenant, or one carrying its settings) says the tenant is disabled.
pub fn is_disabled(item: &Item) -> bool {
    item.contains_key(DISABLED_AT)
}

/// Disables (`true`) or enables a tenant and everything that carries its settings. `false` if
/// there is no such tenant.
pub async fn set_disabled(
    store: &Store,
    tenant_id: &str,
    disabled: bool,
) -> Result<bool, StoreError> {
    if api_client::get_client(store, tenant_id).await?.is_none() {
        return Ok(false);
    }
    flag(store, &keys::client(tenant_id), disabled).await?;
    for token in api_client::list_tokens(store, tenant_id).await? {
        flag(store, &keys::api_token(&token.digest), disabled).await?;
    }
    let robots = oauth::list_robots(store, tenant_id).await?;
    for robot in &robots {
        flag(store, &keys::oauth_client(&robot.oauth_client_id), disabled).await?;
    }
    for pass in 0..2 {
        if pass > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        for robot in &robots {
            let partition = keys::oauth_client_tokens(&robot.oauth_client_id);
            for listed in crate::store::query_index(store, &partition, "TOKEN#").await? {
                let key = Key {
                    pk: attr::get_s(&listed, PK)?,
                    sk: attr::get_s(&listed, SK)?,
                };
                flag(store, &key, disabled).await?;
            }
        }
    }
    Ok(true)
}

/// Sets or removes `disabled_at` on an item that exists (one deleted meanwhile stays deleted).
async fn flag(store: &Store, key: &Key, disabled: bool) -> Result<(), StoreError> {
    let (expression, values) = if disabled {
        let now = attr::n(crate::clock::now());
        (
            "SET disabled_at = :now",
            Item::from([(":now".to_string(), now)]),
        )
    } else {
        ("REMOVE disabled_at", Item::new())
    };
    crate::store::update_if_present(store, key, expression, values, "UpdateItem disable").await?;
    Ok(())
}
