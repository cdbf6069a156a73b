//! Lambda function `session-request`: GET or POST /workshops/environment/{name}/request/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::session_request::handle);
