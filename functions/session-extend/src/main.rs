//! Lambda function `session-extend`: GET /workshops/session/{name}/extend/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::session_extend::handle);
