//! labgate: the shared library of every function (see docs/ for the design).

pub mod api_client;
pub mod clock;
pub mod config;
pub mod content;
pub mod cross_site;
pub mod disable;
pub mod erasure;
pub mod events;
pub mod grades;
pub mod handlers;
pub mod http;
pub mod idempotency;
pub mod launch;
pub mod launch_token;
pub mod logging;
pub mod lti;
pub mod master_key;
pub mod metrics;
pub mod migrate;
pub mod net;
pub mod oauth;
pub mod one_time;
pub mod redirect;
pub mod secrets;
pub mod state;
pub mod store;
pub mod tenant;
pub mod text;
pub mod user;
pub mod web_session;
pub mod workshop;

pub use state::AppState;

/// The body of every function's `main`: tracing, state once, then one handler per request.
#[macro_export]
macro_rules! lambda_main {
    ($handler:path) => {
        #[tokio::main]
        async fn main() -> Result<(), lambda_http::Error> {
            $crate::logging::init();
            let state = $crate::AppState::from_env().await?;
            lambda_http::run(lambda_http::service_fn(|req| $handler(&state, req))).await
        }
    };
}
