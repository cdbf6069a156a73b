//! Lambda function `session-counter`: fed by the table's stream; keeps each environment's count
//! of live sessions from the outbox (see `labgate::handlers::session_counter`).

use labgate::handlers::session_counter;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    labgate::logging::init();
    let state = labgate::AppState::from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        session_counter::handle(&state, event)
    }))
    .await
}
