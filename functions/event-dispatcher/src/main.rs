//! Lambda function `event-dispatcher`: fed by the table's stream; delivers lifecycle events,
//! signed, to webhooks and analytics URLs (see `labgate::events`).

use labgate::events::delivery::{Deliverer, Policy};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    labgate::logging::init();
    let state = labgate::AppState::from_env().await?;
    let deliverer = Deliverer::new(
        state.config.require_signing_key()?.to_vec(),
        Policy {
            allow_private_analytics: state.config.allow_private_analytics_urls,
            ..Policy::default()
        },
    )?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        labgate::events::dispatch::handle(&state, &deliverer, event)
    }))
    .await
}
