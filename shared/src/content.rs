//! Content: the labs (projects) a client can launch, addressed by UUID.

use crate::clock;
use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::{Store, StoreError, keys};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub id: String,
    pub client_id: String,
    pub title: String,
    pub created_at: i64,
}

/// Content ids are UUIDs; anything else is refused before it reaches the table.
pub fn parse_content_id(raw: &str) -> Option<String> {
    uuid::Uuid::parse_str(raw.trim())
        .ok()
        .map(|u| u.hyphenated().to_string())
}

pub async fn create_content(
    store: &Store,
    client_id: &str,
    id: Option<&str>,
    title: &str,
) -> Result<Content, StoreError> {
    let id = match id {
        Some(raw) => parse_content_id(raw)
            .ok_or_else(|| StoreError::Malformed(format!("{raw:?} is not a UUID")))?,
        None => uuid::Uuid::new_v4().hyphenated().to_string(),
    };
    let content = Content {
        id,
        client_id: client_id.to_string(),
        title: title.to_string(),
        created_at: clock::now(),
    };
    let mut item = keys::content(&content.id).item();
    item.extend([
        (
            keys::GSI1_PK.to_string(),
            attr::s(keys::client_partition(client_id)),
        ),
        (
            keys::GSI1_SK.to_string(),
            attr::s(format!("{}{}", keys::CONTENT_PREFIX, content.id)),
        ),
        (CONTENT_ID.to_string(), attr::s(&content.id)),
        (CLIENT_ID.to_string(), attr::s(client_id)),
        (TITLE.to_string(), attr::s(title)),
        (CREATED_AT.to_string(), attr::n(content.created_at)),
    ]);
    crate::store::create(store, item, "PutItem content").await?;
    Ok(content)
}

pub async fn list_content(store: &Store, client_id: &str) -> Result<Vec<Content>, StoreError> {
    crate::store::list_for_tenant(store, client_id, keys::CONTENT_PREFIX, from_item).await
}

pub fn from_item(item: &Item) -> Result<Content, StoreError> {
    Ok(Content {
        id: attr::get_s(item, CONTENT_ID)?,
        client_id: attr::get_s(item, CLIENT_ID)?,
        title: attr::get_s(item, TITLE)?,
        created_at: attr::get_n(item, CREATED_AT)?,
    })
}
