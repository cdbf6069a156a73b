//! Lambda function `session-authorize`: GET /workshops/session/{name}/authorize/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::session_authorize::handle);
