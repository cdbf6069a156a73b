//! Tenant scoping: every item a tenant owns carries its tenant's id in `client_id`, and a
//! handler takes an item for a tenant only through `find_owned` (raw items) or `owned` (records
//! read into a type), never by comparing ids itself. An item of another tenant is answered
//! exactly as a missing one: the same status, the same words, so that ids cannot be probed
//! across tenants.
//!
//! White-label domains: each belongs to exactly one tenant (a `DOMAIN#<host>` item, bound with
//! `labgate-admin client domain`). A launch on a white-label domain is the domain's tenant's or
//! refused as if its content did not exist (`may_use_domain`, read with the API token in one
//! round trip); launch tokens and web sessions are good only on the API host they were made on,
//! so neither a redemption nor a session read crosses to another tenant's domain.

use crate::config::{Config, Domain};
use crate::store::attr::{self, Item};
use crate::store::fields::{CREATED_AT, HOST};
use crate::store::keys;
use crate::store::keys::Key;
use crate::store::{Store, StoreError};

/// The attribute that names an item's tenant (the API client's id).
pub use crate::store::fields::CLIENT_ID;

/// Records that belong to a tenant.
pub trait Owned {
    /// The id of the tenant that owns this record.
    fn tenant_id(&self) -> &str;
}

/// The record if `tenant_id` owns it, else `None` (as if it did not exist).
pub fn owned<T: Owned>(record: Option<T>, tenant_id: &str) -> Option<T> {
    record.filter(|r| r.tenant_id() == tenant_id)
}

/// The item with `key` among `found` if `tenant_id` owns it, else `None`.
pub fn find_owned<'a>(found: &'a [Item], key: &Key, tenant_id: &str) -> Option<&'a Item> {
    crate::store::find(found, key).filter(|item| is_owned_by(item, tenant_id))
}

/// Whether a raw item belongs to `tenant_id`.
pub fn is_owned_by(item: &Item, tenant_id: &str) -> bool {
    attr::opt_s(item, CLIENT_ID).ok().flatten().as_deref() == Some(tenant_id)
}

/// The binding item a request on `domain` must find for its tenant; `None` on the default
/// domain, which serves every tenant.
pub fn domain_binding(config: &Config, domain: &Domain) -> Option<Key> {
    config
        .white_label
        .iter()
        .any(|d| d.host == domain.host)
        .then(|| keys::domain(&domain.host))
}

/// Whether `tenant_id` may act on the domain whose binding (`domain_binding`) was read into
/// `found`: the default domain, or a white-label one bound to this tenant.
pub fn may_use_domain(found: &[Item], binding: Option<&Key>, tenant_id: &str) -> bool {
    binding.is_none_or(|key| find_owned(found, key, tenant_id).is_some())
}

/// Binds white-label API host `host` to `tenant_id`: `false` if it is bound already (to this
/// tenant or another; a domain belongs to one tenant, so rebinding needs `unbind_domain` first).
pub async fn bind_domain(store: &Store, host: &str, tenant_id: &str) -> Result<bool, StoreError> {
    let mut item = keys::domain(host).item();
    item.extend([
        (HOST.to_string(), attr::s(host)),
        (CLIENT_ID.to_string(), attr::s(tenant_id)),
        (CREATED_AT.to_string(), attr::n(crate::clock::now())),
    ]);
    crate::store::put_new(store, item, "PutItem domain").await
}

/// The tenant a white-label API host is bound to, if any.
pub async fn domain_tenant(store: &Store, host: &str) -> Result<Option<String>, StoreError> {
    let found = crate::store::get(store, &keys::domain(host), "GetItem domain").await?;
    found.map(|i| attr::get_s(&i, CLIENT_ID)).transpose()
}

/// Unbinds a white-label API host from `tenant_id` (nothing if it is not bound to it).
pub async fn unbind_domain(store: &Store, host: &str, tenant_id: &str) -> Result<bool, StoreError> {
    if domain_tenant(store, host).await?.as_deref() != Some(tenant_id) {
        return Ok(false);
    }
    crate::store::delete(store, &keys::domain(host), "DeleteItem domain").await?;
    Ok(true)
}
