//! The table definition, once: `scripts/dev` and the tests create the table from it, and a test
//! holds `template.yaml` to it.

use super::keys::{
    EXPIRES_AT, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, GSI3, GSI3_PK, GSI3_SK, PK, SK,
};
use super::{Store, StoreError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// `ALL`: the index answers list queries without a second read.
    pub projection: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDefinition {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub global_indexes: &'static [IndexDefinition],
    pub ttl_attribute: &'static str,
    pub billing_mode: &'static str,
    /// The stream that feeds the event dispatcher (outbox items).
    pub stream_view_type: &'static str,
}

pub const TABLE: TableDefinition = TableDefinition {
    partition_key: PK,
    sort_key: SK,
    global_indexes: &[
        IndexDefinition {
            name: GSI1,
            partition_key: GSI1_PK,
            sort_key: GSI1_SK,
            projection: "ALL",
        },
        // Live workshop sessions by deadline: the reaper queries it, never scans.
        IndexDefinition {
            name: GSI2,
            partition_key: GSI2_PK,
            sort_key: GSI2_SK,
            projection: "KEYS_ONLY",
        },
        // Sparse lookups by purpose, keys only (an update that changes no key writes nothing
        // here): users by email, live sessions by tenant, dead letters.
        IndexDefinition {
            name: GSI3,
            partition_key: GSI3_PK,
            sort_key: GSI3_SK,
            projection: "KEYS_ONLY",
        },
    ],
    ttl_attribute: EXPIRES_AT,
    billing_mode: "PAY_PER_REQUEST",
    stream_view_type: "NEW_IMAGE",
};

impl TableDefinition {
    /// Every key attribute (table and indexes), each a string.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key, self.sort_key];
        for index in self.global_indexes {
            names.extend([index.partition_key, index.sort_key]);
        }
        names
    }
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| StoreError::Malformed(e.to_string()))
}

/// Creates the table and turns on TTL. An existing table is left as it is.
// Long: the table definition, attribute by attribute, as template.yaml states it.
pub async fn create_table(store: &Store) -> Result<bool, StoreError> {
    create_table_as(store, &TABLE).await
}

/// Creates a table as `def` defines it (tests: a table as an earlier release defined it).
pub async fn create_table_as(store: &Store, def: &TableDefinition) -> Result<bool, StoreError> {
    let mut request = store
        .client()
        .create_table()
        .table_name(store.table())
        .billing_mode(BillingMode::from(def.billing_mode))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(def.stream_view_type))
                .build()
                .map_err(|e| StoreError::Malformed(e.to_string()))?,
        )
        .key_schema(key(def.partition_key, KeyType::Hash)?)
        .key_schema(key(def.sort_key, KeyType::Range)?);
    for name in def.key_attributes() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Malformed(e.to_string()))?,
        );
    }
    for index in def.global_indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection))
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::Malformed(e.to_string()))?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(StoreError::from_sdk("CreateTable", e)),
    }
    store
        .client()
        .update_time_to_live()
        .table_name(store.table())
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(def.ttl_attribute)
                .build()
                .map_err(|e| StoreError::Malformed(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("UpdateTimeToLive", e))?;
    Ok(true)
}
