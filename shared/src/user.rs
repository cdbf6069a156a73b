//! Users of a client, upserted by the platform's `user_id` (stored as `external_id`), and teams.

use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::tx::item;
use crate::store::{Store, StoreError, keys};
use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::Serialize;

/// The most licenses, and the most teams, one user holds. Launches only add them (at most 50
/// and 20 names of at most 400 bytes each), so without a cap a user launched often enough with
/// new names would pass DynamoDB's 400 KB item limit and every later launch of that user would
/// fail. 200 of each is at most 160 KB of names; a launch that would pass a cap is refused with
/// a 400 that says so (docs/api.md).
pub const MAX_LICENSES: usize = 200;
pub const MAX_TEAMS: usize = 200;

/// How many licenses and teams the user was read to hold, exactly (sets only grow, so the same
/// size is the same set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub licenses: usize,
    pub teams: usize,
}

/// What a launch says about its user; `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct UserUpsert {
    pub external_id: String,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// The LMS roles as sent and what they map to; `None` when the launch sent no `roles`.
    pub roles: Option<(Vec<String>, Vec<String>)>,
    /// Added to the user's licenses (a launch never removes one).
    pub licenses: Vec<String>,
    /// Teams the user joins (a launch never makes a user leave one).
    pub teams: Vec<String>,
    /// `None`: the caps are checked with room for every name as if new (no read needed); after
    /// that condition failed, what a read found, and the write checks it is unchanged.
    pub held: Option<Held>,
}

/// The condition that keeps a set within `max` once `adding` names are added to it.
fn within_cap(
    name: &str,
    adding: usize,
    max: usize,
    held: Option<usize>,
    values: &mut Item,
) -> String {
    let placeholder = format!(":{name}_size");
    match held {
        None => {
            values.insert(
                placeholder.clone(),
                attr::n(max.saturating_sub(adding) as i64),
            );
            format!("(attribute_not_exists({name}) OR size({name}) <= {placeholder})")
        }
        Some(0) => format!("attribute_not_exists({name})"),
        Some(n) => {
            values.insert(placeholder.clone(), attr::n(n as i64));
            format!("size({name}) = {placeholder}")
        }
    }
}

/// Reads the user's sets (a launch near a cap): what they hold, or why the launch may not add
/// its names.
pub async fn read_held(
    store: &Store,
    client_id: &str,
    user: &UserUpsert,
) -> Result<Result<Held, String>, StoreError> {
    let key = keys::user(client_id, &user.external_id);
    let held = crate::store::get(store, &key, "GetItem user").await?;
    over_cap(&held.unwrap_or_default(), user)
}

/// Why a launch may not add its names to what the user holds (`held`: the user's sets as read).
pub fn over_cap(held: &Item, user: &UserUpsert) -> Result<Result<Held, String>, StoreError> {
    let mut counts = [0usize; 2];
    for (i, (name, adding, max)) in [
        ("licenses", &user.licenses, MAX_LICENSES),
        ("teams", &user.teams, MAX_TEAMS),
    ]
    .into_iter()
    .enumerate()
    {
        let has: std::collections::BTreeSet<String> =
            attr::strings(held, name)?.into_iter().collect();
        counts[i] = has.len();
        let after = has.len() + adding.iter().filter(|n| !has.contains(*n)).count();
        if after > max {
            return Ok(Err(format!(
                "User {} would hold {after} {name}, more than {max}.",
                user.external_id
            )));
        }
    }
    Ok(Ok(Held {
        licenses: counts[0],
        teams: counts[1],
    }))
}

/// The `SET` clauses and values that create a user or touch an existing one: the identity
/// (`:ext`, `:cid`), a labgate id and creation time kept once set, and the listing keys
/// (`gsi2`, keys only: the same on every write, so only a user's creation writes the index).
/// Callers add their own clauses and end the expression with `DROP_OLD_LISTING`; `:now` is bound.
pub fn identity_upsert(client_id: &str, external_id: &str, now: i64) -> (Vec<&'static str>, Item) {
    let sets = vec![
        "external_id = :ext",
        "client_id = :cid",
        "user_id = if_not_exists(user_id, :uid)",
        "created_at = if_not_exists(created_at, :now)",
        "updated_at = :now",
        "gsi2pk = :gpk",
        "gsi2sk = :gsk",
    ];
    let values = Item::from([
        (":ext".into(), attr::s(external_id)),
        (":cid".into(), attr::s(client_id)),
        (":uid".into(), attr::s(uuid::Uuid::new_v4().to_string())),
        (":now".into(), attr::n(now)),
        (":gpk".into(), attr::s(keys::user_listing(client_id))),
        (":gsk".into(), attr::s(external_id)),
    ]);
    (sets, values)
}

/// Ends a user's update expression: a user listed in the tenant's `gsi1` partition before the
/// purpose indexes (projecting every attribute, so every launch wrote it) leaves it.
pub const DROP_OLD_LISTING: &str = " REMOVE gsi1pk, gsi1sk";

/// The `SET` clauses that file a user with email address `:email` under it in `gsi3` (users by
/// email), binding `:email_pk` and `:email_sk`; `keep` sets them only where none are yet (as the
/// workshop API keeps the first email it was given).
pub fn email_listing(
    client_id: &str,
    external_id: &str,
    email: &str,
    keep: bool,
    values: &mut Item,
) -> [&'static str; 2] {
    values.insert(
        ":email_pk".into(),
        attr::s(keys::users_by_email(client_id, email)),
    );
    values.insert(":email_sk".into(), attr::s(external_id));
    if keep {
        [
            "gsi3pk = if_not_exists(gsi3pk, :email_pk)",
            "gsi3sk = if_not_exists(gsi3sk, :email_sk)",
        ]
    } else {
        ["gsi3pk = :email_pk", "gsi3sk = :email_sk"]
    }
}

/// The transaction items that upsert the user and its team memberships. Every one is an
/// idempotent update of an item of this user alone, so parallel launches of the same user
/// converge on one user per team, and launches of different users never contend.
pub fn upsert_items(
    table: &str,
    client_id: &str,
    user: &UserUpsert,
    now: i64,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let (mut sets, mut values) = identity_upsert(client_id, &user.external_id, now);
    let optional = [
        ("email = :email", ":email", &user.email),
        ("given_name = :given", ":given", &user.given_name),
        ("family_name = :family", ":family", &user.family_name),
    ];
    for (set, placeholder, value) in optional {
        if let Some(value) = value {
            sets.push(set);
            values.insert(placeholder.into(), attr::s(value));
        }
    }
    if let Some(email) = &user.email {
        let listing = email_listing(client_id, &user.external_id, email, false, &mut values);
        sets.extend(listing);
    }
    if let Some((lms_roles, app_roles)) = &user.roles {
        sets.extend(["lms_roles = :lms_roles", "app_roles = :app_roles"]);
        values.insert(":lms_roles".into(), attr::list(lms_roles));
        values.insert(":app_roles".into(), attr::list(app_roles));
    }
    // Launches only add licenses and teams, each within its cap (a condition of the write).
    let (adds, caps) = additions(user, &mut values);
    let mut expression = format!("SET {}", sets.join(", "));
    if !adds.is_empty() {
        expression.push_str(&format!(" ADD {}", adds.join(", ")));
    }
    expression.push_str(DROP_OLD_LISTING);
    // The user item is the first of the transaction: `TxError::Condition { index: 0 }` is a cap.
    let key = keys::user(client_id, &user.external_id);
    let mut items = vec![if caps.is_empty() {
        item::update(table, &key, expression, values)?
    } else {
        item::update_if(table, &key, expression, values, None, &caps.join(" AND "))?
    }];
    for team in &user.teams {
        items.push(membership(table, client_id, &user.external_id, team, now)?);
    }
    Ok(items)
}

/// A team membership, written idempotently (its first join time kept).
fn membership(
    table: &str,
    client_id: &str,
    external_id: &str,
    team: &str,
    now: i64,
) -> Result<TransactWriteItem, StoreError> {
    let values = Item::from([
        (":team".into(), attr::s(team)),
        (":cid".into(), attr::s(client_id)),
        (":ext".into(), attr::s(external_id)),
        (":now".into(), attr::n(now)),
        (":gpk".into(), attr::s(keys::team_listing(client_id))),
        (":gsk".into(), attr::s(format!("{team}#{external_id}"))),
    ]);
    // Listed keys-only (`gsi2`): the same keys on every launch, so only the first join writes
    // the listing; a membership listed in the tenant's `gsi1` partition before leaves it.
    item::update(
        table,
        &keys::team_member(client_id, team, external_id),
        "SET team_name = :team, client_id = :cid, external_id = :ext, \
         joined_at = if_not_exists(joined_at, :now), gsi2pk = :gpk, gsi2sk = :gsk \
         REMOVE gsi1pk, gsi1sk",
        values,
    )
}

/// `ADD` clauses for the licenses and teams a launch brings, and the caps they must stay within.
fn additions(user: &UserUpsert, values: &mut Item) -> (Vec<String>, Vec<String>) {
    let (mut adds, mut caps) = (Vec::new(), Vec::new());
    let sets = [
        (
            "licenses",
            &user.licenses,
            MAX_LICENSES,
            user.held.map(|h| h.licenses),
        ),
        ("teams", &user.teams, MAX_TEAMS, user.held.map(|h| h.teams)),
    ];
    for (name, names, max, held) in sets {
        if names.is_empty() {
            continue;
        }
        adds.push(format!("{name} :{name}"));
        values.insert(format!(":{name}"), attr::set(names));
        caps.push(within_cap(name, names.len(), max, held, values));
    }
    (adds, caps)
}

/// A user as the lab app sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    /// labgate's own id for the user.
    pub id: String,
    pub external_id: String,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// The roles the LMS sent with the latest launch that carried roles.
    pub lms_roles: Vec<String>,
    /// Those roles mapped through the client's role mapping.
    pub roles: Vec<String>,
    pub licenses: Vec<String>,
    pub teams: Vec<String>,
}

impl User {
    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        let mut roles = attr::strings(item, APP_ROLES)?;
        if roles.is_empty() {
            roles.push(crate::api_client::DEFAULT_ROLE.to_string());
        }
        Ok(User {
            id: attr::get_s(item, "user_id")?,
            external_id: attr::get_s(item, EXTERNAL_ID)?,
            email: attr::opt_s(item, EMAIL)?,
            given_name: attr::opt_s(item, GIVEN_NAME)?,
            family_name: attr::opt_s(item, FAMILY_NAME)?,
            lms_roles: attr::strings(item, LMS_ROLES)?,
            roles,
            licenses: attr::strings(item, LICENSES)?,
            teams: attr::strings(item, TEAMS)?,
        })
    }
}

/// Every user of a client, by id (admin CLI and tests): the tenant's user listing (`gsi2`, keys
/// only), then the users by key.
pub async fn list_users(store: &Store, client_id: &str) -> Result<Vec<User>, StoreError> {
    let partition = keys::user_listing(client_id);
    let items = crate::store::listed_items(store, keys::GSI2, &partition, "").await?;
    items.iter().map(User::from_item).collect()
}

/// One user of a client by external id (strongly consistent).
pub async fn get(
    store: &Store,
    client_id: &str,
    external_id: &str,
) -> Result<Option<User>, StoreError> {
    let key = keys::user(client_id, external_id);
    let item = crate::store::get(store, &key, "GetItem user").await?;
    item.as_ref().map(User::from_item).transpose()
}

/// A client's users with email address `email`, in any case (admin CLI: an erasure request that
/// names an address): users by email (`gsi3`, keys only, sparse), then the users by key, kept
/// only if their email is still that address (the index is eventual).
pub async fn find_by_email(
    store: &Store,
    client_id: &str,
    email: &str,
) -> Result<Vec<User>, StoreError> {
    let partition = keys::users_by_email(client_id, email);
    let items = crate::store::listed_items(store, keys::GSI3, &partition, "").await?;
    let users = items
        .iter()
        .map(User::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(users
        .into_iter()
        .filter(|u| u.email.as_deref().map(str::to_lowercase) == Some(email.to_lowercase()))
        .collect())
}

/// The external ids of a team's members.
pub async fn team_members(
    store: &Store,
    client_id: &str,
    team: &str,
) -> Result<Vec<String>, StoreError> {
    let partition = keys::team_member(client_id, team, "").pk;
    let items = crate::store::query_partition(store, &partition, "").await?;
    items
        .iter()
        .map(|item| attr::get_s(item, EXTERNAL_ID))
        .collect()
}

/// A client's teams, by name: every team that has a member (from the keys-only listing of
/// memberships, `gsi2`: each membership's table key names its team; admin and tests only).
pub async fn teams(store: &Store, client_id: &str) -> Result<Vec<String>, StoreError> {
    let listed =
        crate::store::index_keys(store, keys::GSI2, &keys::team_listing(client_id), "").await?;
    let prefix = keys::team_member(client_id, "", "").pk;
    let mut names: Vec<String> = listed
        .iter()
        .filter_map(|key| key.pk.strip_prefix(&prefix).map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}
