//! Tenant scoping: every item a tenant owns carries its tenant's id in `client_id`, and a
//! handler takes an item for a tenant only through `find_owned` (raw items) or `owned` (records
//! read into a type), never by comparing ids itself. An item of another tenant is answered
//! exactly as a missing one: the same status, the same words, so that ids cannot be probed
//! across tenants.

use crate::store::attr::{self, Item};
use crate::store::keys::Key;

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
