//! The `reaper` function, run every minute by an EventBridge schedule: ends overdue workshop
//! sessions (`workshop::reaper`). The scheduled event's content is unused.

use crate::state::AppState;
use crate::workshop::reaper::{self, BATCH, BUDGET, Report};
use lambda_runtime::LambdaEvent;

pub async fn handle(
    state: &AppState,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    let now = crate::clock::now();
    Ok(reaper::reap_within(&state.store, now, BATCH, BUDGET).await?)
}
