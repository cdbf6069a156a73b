//! The `event-dispatcher` function: fed by the table's stream, it delivers each new outbox item.
//! Records other than event inserts (the stream carries every change) are passed over.

use super::StoredEvent;
use super::delivery::{Deliverer, Delivery};
use crate::store::attr::Item;
use crate::store::{Store, StoreError, keys};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodb::types::AttributeValue;

/// The outbox item a stream record inserts, if it is one.
pub fn inserted_event(record: &EventRecord) -> Result<Option<StoredEvent>, StoreError> {
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    // Only strings and numbers matter here; anything else in the image is passed over.
    let image: Item = record
        .change
        .new_image
        .iter()
        .filter_map(|(k, v)| match v {
            serde_dynamo::AttributeValue::S(s) => Some((k.clone(), AttributeValue::S(s.clone()))),
            serde_dynamo::AttributeValue::N(n) => Some((k.clone(), AttributeValue::N(n.clone()))),
            _ => None,
        })
        .collect();
    let is_event = matches!(image.get(keys::PK), Some(AttributeValue::S(pk)) if pk.starts_with("EVENT#"))
        && matches!(image.get(keys::SK), Some(AttributeValue::S(sk)) if sk == "#EVENT");
    if !is_event {
        return Ok(None);
    }
    StoredEvent::from_item(&image).map(Some)
}

/// Delivers every event a stream batch inserted. A store failure fails the batch, which Lambda
/// retries (deliveries already made are recorded and not repeated).
pub async fn dispatch(
    store: &Store,
    deliverer: &Deliverer,
    batch: &Event,
) -> Result<Vec<Delivery>, StoreError> {
    let mut events = Vec::new();
    for record in &batch.records {
        if let Some(event) = inserted_event(record)? {
            events.push(event);
        }
    }
    let outcomes =
        futures::future::join_all(events.iter().map(|e| deliverer.deliver(store, e))).await;
    let mut deliveries = Vec::new();
    for outcome in outcomes {
        deliveries.extend(outcome?);
    }
    Ok(deliveries)
}
