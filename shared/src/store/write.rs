//! Single-item writes outside transactions (the admin CLI, deliveries, flags): each is one
//! request, conditional where it says so, and a condition that does not hold is an answer
//! (`false`, `None`), never a store failure, unless the caller asks for one.

use super::{Store, StoreError, attr, conditions, keys};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::ReturnValue;

/// One conditional update: the expression, its `:values` and `#names`, and the condition.
pub struct Update<'a> {
    pub expression: &'a str,
    pub values: attr::Item,
    pub names: &'a [(&'a str, &'a str)],
    pub condition: &'a str,
}

fn condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    e: &SdkError<E, R>,
) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.code() == Some("ConditionalCheckFailedException"))
}

/// Applies `update` to the item at `key`, returning the item after it; `None` (nothing
/// written) if the condition does not hold.
pub async fn update(
    store: &Store,
    key: &keys::Key,
    update: Update<'_>,
    op: &'static str,
) -> Result<Option<attr::Item>, StoreError> {
    let names = (!update.names.is_empty()).then(|| super::tx::names(update.names));
    let values = (!update.values.is_empty()).then_some(update.values);
    let result = store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(key.item()))
        .update_expression(update.expression)
        .set_expression_attribute_values(values)
        .set_expression_attribute_names(names)
        .condition_expression(update.condition)
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match result {
        Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
        Err(e) if condition_failed(&e) => Ok(None),
        Err(e) => Err(StoreError::from_sdk(op, e)),
    }
}

/// Updates an item that must exist; its attributes after the update (a missing item fails).
pub async fn update_existing(
    store: &Store,
    key: &keys::Key,
    expression: String,
    values: attr::Item,
    op: &'static str,
) -> Result<attr::Item, StoreError> {
    update_if_existing(store, key, expression, values, "attribute_exists(pk)", op).await
}

/// Updates an item that exists and meets `condition` (names need no escaping here); a missing
/// item or a condition that does not hold fails.
pub async fn update_if_existing(
    store: &Store,
    key: &keys::Key,
    expression: String,
    values: attr::Item,
    condition: &str,
    op: &'static str,
) -> Result<attr::Item, StoreError> {
    let condition = format!("{} AND ({condition})", conditions::EXISTS);
    let change = Update {
        expression: &expression,
        values,
        names: &[],
        condition: &condition,
    };
    update(store, key, change, op)
        .await?
        .ok_or_else(|| StoreError::Failed {
            op,
            detail: "the item is missing or changed meanwhile".into(),
        })
}

/// Updates an item if it exists: `false` (nothing written) if it does not.
pub async fn update_if_present(
    store: &Store,
    key: &keys::Key,
    expression: &str,
    values: attr::Item,
    op: &'static str,
) -> Result<bool, StoreError> {
    let change = Update {
        expression,
        values,
        names: &[],
        condition: conditions::EXISTS,
    };
    Ok(update(store, key, change, op).await?.is_some())
}

/// Updates an item if `condition` holds (names as `(placeholder, name)`): `false` if not.
pub async fn update_if_present_when(
    store: &Store,
    key: &keys::Key,
    expression: &str,
    values: attr::Item,
    condition: &str,
    names: &[(&str, &str)],
) -> Result<bool, StoreError> {
    let change = Update {
        expression,
        values,
        names,
        condition,
    };
    Ok(update(store, key, change, "UpdateItem").await?.is_some())
}

/// Deletes an item (nothing if there is none).
pub async fn delete(store: &Store, key: &keys::Key, op: &'static str) -> Result<(), StoreError> {
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .set_key(Some(key.item()))
        .send()
        .await
        .map_err(|e| StoreError::from_sdk(op, e))?;
    Ok(())
}

/// Puts an item, replacing any with its key.
pub async fn put(store: &Store, item: attr::Item, op: &'static str) -> Result<(), StoreError> {
    put_if(store, item, None, None, op).await.map(|_| ())
}

/// Puts an item that must not exist yet: `false` (and nothing written) if its key is taken.
pub async fn put_new(
    store: &Store,
    item: attr::Item,
    op: &'static str,
) -> Result<bool, StoreError> {
    put_if(store, item, Some(conditions::ABSENT), None, op).await
}

/// Puts an item if `condition` (with its `:values`) holds for the one it replaces; whether it did.
pub async fn put_when(
    store: &Store,
    item: attr::Item,
    condition: &str,
    values: attr::Item,
    op: &'static str,
) -> Result<bool, StoreError> {
    put_if(store, item, Some(condition), Some(values), op).await
}

/// Puts a new item whose key is fresh (a random id or digest): a taken key is a failure.
pub async fn create(store: &Store, item: attr::Item, op: &'static str) -> Result<(), StoreError> {
    if put_new(store, item, op).await? {
        Ok(())
    } else {
        Err(StoreError::Failed {
            op,
            detail: "an item with this key exists".into(),
        })
    }
}

async fn put_if(
    store: &Store,
    item: attr::Item,
    condition: Option<&str>,
    values: Option<attr::Item>,
    op: &'static str,
) -> Result<bool, StoreError> {
    let result = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .set_expression_attribute_values(values)
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(StoreError::from_sdk(op, e)),
    }
}

/// Puts `items` with `BatchWriteItem`, 25 at a time, until DynamoDB has taken them all (admin
/// time: unconditional puts of items no request writes concurrently).
pub async fn put_batch(store: &Store, items: Vec<attr::Item>) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    for chunk in items.chunks(25) {
        let mut requests = chunk
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map_err(|e| StoreError::Malformed(e.to_string()))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for attempt in 0.. {
            if requests.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(5))).await;
            }
            let out = store
                .client()
                .batch_write_item()
                .request_items(store.table(), requests)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("BatchWriteItem", e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(store.table()))
                .unwrap_or_default();
        }
    }
    Ok(())
}
