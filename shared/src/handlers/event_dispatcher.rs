//! The `event-dispatcher` function, fed by the table's stream: delivers each event a batch
//! inserted, signed, to its webhook and analytics URL (`events::dispatch`).

use crate::events::delivery::{Deliverer, FAILED, Policy};
use crate::events::dispatch;
use crate::state::AppState;
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::LambdaEvent;

/// The deliverer of this function, made once per cold start: the master key ring and the delivery
/// policy from configuration (a missing key fails the cold start).
pub fn deliverer(state: &AppState) -> Result<Deliverer, lambda_runtime::Error> {
    let policy = Policy {
        allow_private_analytics: state.config.allow_private_analytics_urls,
        ..Policy::default()
    };
    Ok(Deliverer::new(
        state.config.require_signing_keys()?.clone(),
        policy,
    )?)
}

/// One stream batch. A store failure fails the batch, which Lambda retries (deliveries already
/// made are recorded and not repeated).
pub async fn handle(
    state: &AppState,
    deliverer: &Deliverer,
    event: LambdaEvent<Event>,
) -> Result<(), lambda_runtime::Error> {
    let deliveries = dispatch::dispatch(&state.store, deliverer, &event.payload).await?;
    let failed = deliveries.iter().filter(|d| d.status == FAILED).count();
    tracing::info!(
        delivered = deliveries.len() - failed,
        failed,
        "stream batch dispatched"
    );
    Ok(())
}
