//! Lambda function `session-terminate`: GET /workshops/session/{name}/terminate/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::session_terminate::handle);
