//! Erasing a user (GDPR, FERPA): `labgate-admin user erase` removes the user's personal data
//! everywhere it is stored, and records that an erasure happened, without the data.
//!
//! What is removed: the user item (profile, roles, licenses, teams, the map of live workshop
//! sessions), its team memberships, its launches (with their context), web sessions and launch
//! tokens, its workshop session records (live ones are ended first, with reason `erased`, which
//! frees their slots; a slot still naming the user is scrubbed), and the events that name the
//! user with their deliveries: all listed under the user in the index (`gsi1`, the user's
//! partition), so an erasure reads what the user has, never the tenant's whole history. The index listings are
//! eventual, so the sweep runs twice, a second apart.

use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys::{self, Key};
use crate::store::tx::TxError;
use crate::store::{Store, StoreError};
use crate::workshop::{session, slot};

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    pub erasure_id: String,
    /// Items deleted.
    pub items: usize,
    /// Live workshop sessions ended (reason `erased`).
    pub sessions_ended: usize,
}

/// Erases user `external_id` of tenant `tenant_id`.
pub async fn erase(store: &Store, tenant_id: &str, external_id: &str) -> Result<Erased, TxError> {
    let mut erased = Erased {
        erasure_id: uuid::Uuid::new_v4().to_string(),
        ..Erased::default()
    };
    // Every listing is an index (eventual): each is swept twice, a second apart.
    for pass in 0..2 {
        if pass > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        erased.sessions_ended +=
            end_sessions(store, tenant_id, external_id, &mut erased.items).await?;
        erased.items += delete_listed(store, tenant_id, external_id).await?;
    }
    erased.items += delete_user(store, tenant_id, external_id).await?;
    record(store, tenant_id, &erased).await?;
    Ok(erased)
}

/// Ends the user's live workshop sessions and deletes every session record of theirs.
async fn end_sessions(
    store: &Store,
    tenant_id: &str,
    external_id: &str,
    deleted: &mut usize,
) -> Result<usize, TxError> {
    let now = crate::clock::now();
    let mut ended = 0;
    let theirs = session::list_for_user(store, tenant_id, external_id).await?;
    for s in theirs.iter().filter(|s| s.user == external_id) {
        // A live one ends now; one whose time ran out but that the reaper has not reached yet
        // ends as the reaper would have ended it: either way its `session.ended` is written (the
        // environment's count takes it back) before the record goes.
        let done = if s.is_live(now) {
            session::end(store, s, session::ERASED, now).await?
        } else if s.state != session::ENDED {
            session::expire(store, s, now).await?
        } else {
            None
        };
        ended += usize::from(done.is_some());
        slot::forget_user(store, s.holder()).await?;
        crate::store::delete(
            store,
            &keys::workshop_session(&s.name),
            "DeleteItem session",
        )
        .await?;
        *deleted += 1;
    }
    Ok(ended)
}

/// Deletes what the index lists under the user: launches, web sessions, launch tokens and
/// events (each with its deliveries: the event's whole partition); session records are left to
/// `end_sessions`. The user's
/// partition of the index is theirs alone (a tenant id has no `#`), and each item must be the
/// tenant's besides.
async fn delete_listed(
    store: &Store,
    tenant_id: &str,
    external_id: &str,
) -> Result<usize, StoreError> {
    let partition = keys::user_partition(tenant_id, external_id);
    let listed = crate::store::query_index(store, &partition, "").await?;
    let mut deleted = 0;
    for item in listed
        .iter()
        .filter(|i| crate::tenant::is_owned_by(i, tenant_id))
    {
        let key = key_of(item)?;
        // Session records are `end_sessions`' (a live one must end before it goes; one listed
        // here but not there yet is ended by the next pass).
        if key.sk == keys::SESSION_RECORD {
            continue;
        }
        let event = key.sk == keys::event("").sk;
        let items = if event {
            crate::store::query_partition(store, &key.pk, "").await?
        } else {
            vec![item.clone()]
        };
        for item in &items {
            crate::store::delete(store, &key_of(item)?, "DeleteItem erase").await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Deletes the user item and the team memberships it lists.
async fn delete_user(
    store: &Store,
    tenant_id: &str,
    external_id: &str,
) -> Result<usize, StoreError> {
    let key = keys::user(tenant_id, external_id);
    let Some(user) = crate::store::get(store, &key, "GetItem user").await? else {
        return Ok(0);
    };
    let teams = attr::strings(&user, TEAMS).unwrap_or_default();
    for team in &teams {
        let member = keys::team_member(tenant_id, team, external_id);
        crate::store::delete(store, &member, "DeleteItem erase").await?;
    }
    crate::store::delete(store, &key, "DeleteItem erase").await?;
    Ok(teams.len() + 1)
}

/// The erasure's record: when, for which tenant, how much; never whom.
async fn record(store: &Store, tenant_id: &str, erased: &Erased) -> Result<(), StoreError> {
    let mut item = keys::erasure(&erased.erasure_id).item();
    item.extend([
        (CLIENT_ID.to_string(), attr::s(tenant_id)),
        (CREATED_AT.to_string(), attr::n(crate::clock::now())),
        ("items_erased".to_string(), attr::n(erased.items as i64)),
        (
            "sessions_ended".to_string(),
            attr::n(erased.sessions_ended as i64),
        ),
    ]);
    crate::store::create(store, item, "PutItem erasure").await
}

fn key_of(item: &Item) -> Result<Key, StoreError> {
    Ok(Key {
        pk: attr::get_s(item, PK)?,
        sk: attr::get_s(item, SK)?,
    })
}
