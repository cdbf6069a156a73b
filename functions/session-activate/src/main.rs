//! Lambda function `session-activate`: GET /workshops/session/{name}/activate/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::session_activate::handle);
