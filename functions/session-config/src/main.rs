//! Lambda function `session-config`: GET /workshops/session/{name}/config/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::session_config::handle);
