//! Lambda function `session-event`: POST /workshops/session/{name}/event/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::session_event::handle);
