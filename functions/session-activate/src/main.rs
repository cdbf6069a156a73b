//! Lambda function `session-activate`: GET /workshops/session/{name}/activate/. The handler is in the shared crate.

labgate::lambda_main!(labgate::workshop::handlers::activate::handle);
