//! DynamoDB TTL for DynamoDB Local, which has none (`labgate-ttl-sweeper` runs it in a loop).
//!
//! AWS deletes an expired item some time after its `expires_at` (typically within days) and only
//! if it is still expired then; `sweep` deletes it at once, with the same condition. Like AWS, it
//! sweeps only tables whose TTL is enabled on that attribute (a test that needs an expired item
//! to stay, to show the code refuses it by itself, turns its table's TTL off: `without_ttl`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use labgate::store::keys::{EXPIRES_AT as TTL, PK, SK};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One pass over every table; the number of items deleted.
pub async fn sweep(client: &Client) -> Result<u64, Error> {
    let tables: Vec<String> = client
        .list_tables()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await?;
    let mut deleted = 0;
    for table in tables {
        let ttl = client
            .describe_time_to_live()
            .table_name(&table)
            .send()
            .await?
            .time_to_live_description;
        let enabled = ttl.is_some_and(|t| {
            t.attribute_name() == Some(TTL)
                && t.time_to_live_status()
                    == Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
        });
        if enabled {
            deleted += sweep_table(client, &table).await?;
        }
    }
    Ok(deleted)
}

pub async fn sweep_table(client: &Client, table: &str) -> Result<u64, Error> {
    let now = AttributeValue::N(labgate::clock::now().to_string());
    let expired: Vec<_> = client
        .scan()
        .table_name(table)
        .filter_expression("#ttl <= :now")
        .projection_expression(format!("{PK}, {SK}"))
        .expression_attribute_names("#ttl", TTL)
        .expression_attribute_values(":now", now.clone())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await?;
    let mut deleted = 0;
    for key in expired {
        let result = client
            .delete_item()
            .table_name(table)
            .set_key(Some(key))
            // As TTL does: an item whose expiry moved on since the scan is left alone.
            .condition_expression("#ttl <= :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", now.clone())
            .send()
            .await;
        match result {
            Ok(_) => deleted += 1,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(deleted)
}
