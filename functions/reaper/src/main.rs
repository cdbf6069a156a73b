//! Lambda function `reaper`: run every minute by an EventBridge schedule; ends overdue
//! workshop sessions (see `labgate::handlers::reaper`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    labgate::logging::init();
    let state = labgate::AppState::from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        labgate::handlers::reaper::handle(&state, event)
    }))
    .await
}
