//! The `session-counter` function, fed by the table's stream: counts each `session.allocated`
//! and `session.ended` once into its environment's count (`workshop::counts`).

use crate::state::AppState;
use crate::workshop::counts;
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::LambdaEvent;

/// One stream batch. A store failure fails the batch, which Lambda retries (events already
/// counted are not counted again).
pub async fn handle(
    state: &AppState,
    event: LambdaEvent<Event>,
) -> Result<(), lambda_runtime::Error> {
    let report = counts::count(&state.store, &event.payload).await?;
    tracing::info!(
        counted = report.counted,
        already = report.already,
        "stream batch counted"
    );
    Ok(())
}
