//! Lambda function `event-dispatcher`: fed by the table's stream; delivers lifecycle events,
//! signed, to webhooks and analytics URLs (see `labgate::handlers::event_dispatcher`).

use labgate::handlers::event_dispatcher;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    labgate::logging::init();
    let state = labgate::AppState::from_env().await?;
    let deliverer = event_dispatcher::deliverer(&state)?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        event_dispatcher::handle(&state, &deliverer, event)
    }))
    .await
}
