//! Lambda function `session-schedule`: GET /workshops/session/{name}/schedule/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::session_schedule::handle);
