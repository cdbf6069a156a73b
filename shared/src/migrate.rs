//! `labgate-admin table upgrade`: brings a table written before the purpose indexes up to date,
//! once, after the deploy that adds `gsi3` (it checks that the index is active first).
//!
//! Before, users, team memberships, workshop sessions, held slots, events and deliveries were all
//! listed in their tenant's `gsi1` partition, which projects every attribute: every learner's
//! launch, session and event wrote that one partition several times. Each is filed where it is
//! queried now (docs/data-model.md): users in the tenant's user listing (`gsi2`) and by email
//! (`gsi3`); memberships in the tenant's membership listing (`gsi2`);
//! sessions under their user (`gsi1`) and, while not ended, among the tenant's live sessions
//! (`gsi3`); events under the user they name; failed deliveries among the dead letters (`gsi3`);
//! slots nowhere but the free-slot index. Each change is conditional on the item still being
//! listed as it was read, so a request that rewrote it meanwhile wins, and running the upgrade
//! again changes nothing.

use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys::{self, GSI1_PK, GSI3, Key};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;

/// What an upgrade re-filed, by kind of item.
pub type Refiled = BTreeMap<&'static str, usize>;

/// Checks that `gsi3` is active, then re-files every item still listed in a tenant's `gsi1`
/// partition. Scans the table: admin time, once.
pub async fn upgrade(store: &Store) -> Result<Refiled, StoreError> {
    index_ready(store).await?;
    let mut refiled = Refiled::new();
    let mut pages = store
        .client()
        .scan()
        .table_name(store.table())
        .consistent_read(true)
        // Listed for the whole tenant; or a user written after the deploy but before this
        // upgrade by a request that dropped the old listing without knowing the stored email.
        .filter_expression(
            "begins_with(#gsi1pk, :tenant) OR (#sk = :user AND (attribute_not_exists(#gsi2pk) \
             OR (attribute_exists(#email) AND attribute_not_exists(#gsi3pk))))",
        )
        .expression_attribute_names("#gsi1pk", GSI1_PK)
        .expression_attribute_names("#gsi2pk", keys::GSI2_PK)
        .expression_attribute_names("#gsi3pk", keys::GSI3_PK)
        .expression_attribute_names("#sk", keys::SK)
        .expression_attribute_names("#email", EMAIL)
        .expression_attribute_values(":tenant", attr::s(keys::client_partition("")))
        .expression_attribute_values(":user", attr::s(keys::user("", "").sk))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| StoreError::from_sdk("Scan", e))?;
        for item in page.items() {
            if let Some(kind) = refile(store, item).await? {
                *refiled.entry(kind).or_default() += 1;
            }
        }
    }
    Ok(refiled)
}

/// Re-files one item listed in its tenant's `gsi1` partition; the kind re-filed, if any.
async fn refile(store: &Store, item: &Item) -> Result<Option<&'static str>, StoreError> {
    let key = Key {
        pk: attr::get_s(item, keys::PK)?,
        sk: attr::get_s(item, keys::SK)?,
    };
    // Each change applies only to the item as read: still listed where it was (or, for a user,
    // still with the email read), and a session still in the state read.
    let mut values = Item::new();
    let mut names = vec![("#gsi1pk", GSI1_PK)];
    let mut condition = match attr::opt_s(item, GSI1_PK)? {
        Some(listed) => {
            values.insert(":listed".into(), attr::s(listed));
            "#gsi1pk = :listed".to_string()
        }
        None => "attribute_not_exists(#gsi1pk)".to_string(),
    };
    let (kind, expression) = if key.sk == keys::user("", "").sk {
        names.push(("#email", EMAIL));
        match attr::opt_s(item, EMAIL)? {
            Some(email) => {
                values.insert(":email_read".into(), attr::s(email));
                condition.push_str(" AND #email = :email_read");
            }
            None => condition.push_str(" AND attribute_not_exists(#email)"),
        }
        let tenant = attr::get_s(item, CLIENT_ID)?;
        let external_id = attr::get_s(item, EXTERNAL_ID)?;
        let mut sets = vec!["gsi2pk = :users", "gsi2sk = :user"];
        values.insert(":users".into(), attr::s(keys::user_listing(&tenant)));
        values.insert(":user".into(), attr::s(&external_id));
        if let Some(email) = attr::opt_s(item, EMAIL)? {
            sets.extend(crate::user::email_listing(
                &tenant,
                &external_id,
                &email,
                false,
                &mut values,
            ));
        }
        let expression = format!("SET {} REMOVE gsi1pk, gsi1sk", sets.join(", "));
        ("users", expression)
    } else if key.sk == keys::SESSION_RECORD {
        let session = crate::workshop::session::WorkshopSession::from_item(item)?;
        let mut sets = vec!["gsi1pk = :user", "gsi1sk = :record"];
        values.insert(
            ":user".into(),
            attr::s(keys::user_partition(&session.client_id, &session.user)),
        );
        values.insert(
            ":record".into(),
            attr::s(format!(
                "{}{}",
                crate::workshop::session::SESSION_LISTING,
                session.name
            )),
        );
        if session.state != crate::workshop::ENDED {
            sets.extend(["gsi3pk = :live", "gsi3sk = :session"]);
            values.insert(
                ":live".into(),
                attr::s(keys::live_sessions(&session.client_id)),
            );
            values.insert(
                ":session".into(),
                attr::s(keys::live_session(&session.environment, &session.name)),
            );
        }
        names.push(("#state", STATE));
        values.insert(":state".into(), attr::s(&session.state));
        condition.push_str(" AND #state = :state");
        ("sessions", format!("SET {}", sets.join(", ")))
    } else if key.sk == keys::event("").sk {
        let tenant = attr::get_s(item, CLIENT_ID)?;
        let body: serde_json::Value =
            serde_json::from_str(&attr::get_s(item, "body")?).unwrap_or_default();
        let user = ["user_id", "user"]
            .iter()
            .find_map(|name| body["data"][name].as_str())
            .filter(|user| !user.is_empty());
        let expression = match user {
            Some(user) => {
                let old = attr::get_s(item, keys::GSI1_SK)?;
                values.insert(":user".into(), attr::s(keys::user_partition(&tenant, user)));
                values.insert(":sorted".into(), attr::s(old));
                "SET gsi1pk = :user, gsi1sk = :sorted".to_string()
            }
            None => "REMOVE gsi1pk, gsi1sk".to_string(),
        };
        ("events", expression)
    } else if key.sk.starts_with("DELIVERY#") {
        let failed = attr::get_s(item, STATUS)? == crate::events::delivery::FAILED;
        let expression = if failed {
            let tenant = attr::get_s(item, CLIENT_ID)?;
            let sort = format!(
                "{:012}#{}#{}",
                attr::get_n(item, UPDATED_AT)?,
                attr::get_s(item, EVENT_ID)?,
                attr::get_s(item, TARGET)?
            );
            values.insert(":dead".into(), attr::s(keys::dead_letters(&tenant)));
            values.insert(":letter".into(), attr::s(sort));
            "SET gsi3pk = :dead, gsi3sk = :letter REMOVE gsi1pk, gsi1sk"
        } else {
            "REMOVE gsi1pk, gsi1sk"
        };
        ("deliveries", expression.to_string())
    } else if key.sk.starts_with(keys::SLOT_PREFIX) {
        ("slots", "REMOVE gsi1pk, gsi1sk".to_string())
    } else if key.pk.starts_with("TEAM#") {
        let tenant = attr::get_s(item, CLIENT_ID)?;
        let team = attr::get_s(item, TEAM_NAME)?;
        let external_id = attr::get_s(item, EXTERNAL_ID)?;
        values.insert(":teams".into(), attr::s(keys::team_listing(&tenant)));
        values.insert(":member".into(), attr::s(format!("{team}#{external_id}")));
        let expression = "SET gsi2pk = :teams, gsi2sk = :member REMOVE gsi1pk, gsi1sk";
        ("team memberships", expression.to_string())
    } else {
        // Clients' own items (tokens, content, robots, environments, counts) stay.
        return Ok(None);
    };
    let changed =
        crate::store::update_if_present_when(store, &key, &expression, values, &condition, &names)
            .await?;
    Ok(changed.then_some(kind))
}

/// The upgrade needs `gsi3` active: CloudFormation adds it with the deploy (a table made by
/// `labgate-admin table create` before it gets it from `aws dynamodb update-table`, as
/// docs/data-model.md shows). DynamoDB fills it as items gain its keys.
pub async fn index_ready(store: &Store) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::IndexStatus;
    match index_status(store).await? {
        Some(IndexStatus::Active) => Ok(()),
        Some(status) => Err(StoreError::Unavailable {
            op: "DescribeTable",
            detail: format!("index gsi3 is {status}: run the upgrade again once it is ACTIVE"),
        }),
        None => Err(StoreError::Unavailable {
            op: "DescribeTable",
            detail: "the table has no index gsi3: deploy the stack (it adds gsi3) or add it \
                     with `aws dynamodb update-table` (docs/data-model.md), then run the upgrade"
                .into(),
        }),
    }
}

async fn index_status(
    store: &Store,
) -> Result<Option<aws_sdk_dynamodb::types::IndexStatus>, StoreError> {
    let out = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("DescribeTable", e))?;
    let indexes = out
        .table
        .map(|t| t.global_secondary_indexes.unwrap_or_default())
        .unwrap_or_default();
    Ok(indexes
        .into_iter()
        .find(|i| i.index_name.as_deref() == Some(GSI3))
        .map(|i| {
            i.index_status
                .unwrap_or(aws_sdk_dynamodb::types::IndexStatus::Active)
        }))
}
