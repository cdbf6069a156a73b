//! Lambda function `session-delete`: GET /workshops/session/{name}/delete/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::session_delete::handle);
