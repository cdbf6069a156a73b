//! Lambda function `web-session`: see the handler in the shared crate.

labgate::lambda_main!(labgate::handlers::web_session::handle);
