//! Lambda function `user-sessions`: GET /workshops/user/{user}/sessions/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::user_sessions::handle);
