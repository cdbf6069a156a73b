//! Lambda function `web-session`: see the handler in the shared crate.

labgate::lambda_main!(labgate::web_session::handler::handle);
