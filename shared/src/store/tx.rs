//! `TransactWriteItems` with the two outcomes callers care about: a named condition failed, or
//! the store failed. Conflicts with concurrent transactions are retried here, never surfaced.

use super::{Store, StoreError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use rand::Rng;
use std::time::Duration;

const MAX_ATTEMPTS: u32 = 12;

#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The condition of the item at this position in the transaction did not hold.
    #[error("condition failed on transaction item {index}")]
    Condition { index: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn transact(
    store: &Store,
    op: &'static str,
    items: Vec<TransactWriteItem>,
) -> Result<(), TxError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = store
            .client()
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let retry = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
                let reasons = cancel.cancellation_reasons();
                if let Some(index) = reasons
                    .iter()
                    .position(|r| r.code() == Some("ConditionalCheckFailed"))
                {
                    return Err(TxError::Condition { index });
                }
                reasons
                    .iter()
                    .any(|r| r.code() == Some("TransactionConflict"))
            }
            Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
            _ => false,
        };
        if retry && attempt >= MAX_ATTEMPTS {
            // Contention, not a fault: the caller answers "try again" (503), never a 500.
            return Err(StoreError::Unavailable {
                op,
                detail: format!("still conflicting after {attempt} attempts"),
            }
            .into());
        }
        if !retry {
            return Err(StoreError::from_sdk(op, err).into());
        }
        tracing::debug!(op, attempt, "transaction conflict, retrying");
        // Jittered exponential backoff keeps contending writers from colliding again in step.
        let cap_ms = 5u64 << attempt.min(6);
        let pause = rand::rng().random_range(1..=cap_ms);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Expression attribute names from `(placeholder, name)` pairs.
pub fn names(pairs: &[(&str, &str)]) -> item::Names {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Builders for transaction items: the table, key and condition, nothing else to remember.
pub mod item {
    use crate::store::StoreError;
    use crate::store::attr::Item;
    use crate::store::keys::Key;
    use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

    fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
        r.map_err(|e| StoreError::Malformed(e.to_string()))
    }

    /// Puts a whole item, with an optional condition.
    pub fn put(
        table: &str,
        item: Item,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build();
        Ok(TransactWriteItem::builder().put(built(put)?).build())
    }

    /// Updates an item with an expression and its `:values`.
    pub fn update(
        table: &str,
        key: &Key,
        expression: impl Into<String>,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        updated(table, key, expression.into(), values, None, None)
    }

    fn updated(
        table: &str,
        key: &Key,
        expression: String,
        values: Item,
        names: Option<Names>,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key.item()))
            .update_expression(expression)
            .set_expression_attribute_values(Some(values))
            .set_expression_attribute_names(names)
            .set_condition_expression(condition.map(str::to_string))
            .build();
        Ok(TransactWriteItem::builder().update(built(update)?).build())
    }

    /// Deletes an item; with a condition (and its `:values`) it is a conditional delete.
    pub fn delete(
        table: &str,
        key: &Key,
        condition: Option<(&str, Item)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, values) = condition.unzip();
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(key.item()))
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_values(values)
            .build();
        Ok(TransactWriteItem::builder().delete(built(delete)?).build())
    }

    pub type Names = std::collections::HashMap<String, String>;

    /// A check that `condition` holds for an item, writing nothing.
    pub fn condition_check(
        table: &str,
        key: &Key,
        condition: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key.item()))
            .condition_expression(condition)
            .build();
        Ok(TransactWriteItem::builder()
            .condition_check(built(check)?)
            .build())
    }

    /// An update that applies only if `condition` holds (values and names shared by both).
    pub fn update_if(
        table: &str,
        key: &Key,
        expression: impl Into<String>,
        values: Item,
        names: Option<Names>,
        condition: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        updated(
            table,
            key,
            expression.into(),
            values,
            names,
            Some(condition),
        )
    }

    /// A put that applies only if `condition` holds for the item it replaces.
    pub fn put_if(
        table: &str,
        item: Item,
        condition: &str,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build();
        Ok(TransactWriteItem::builder().put(built(put)?).build())
    }
}
