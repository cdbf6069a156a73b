//! Lambda function `environment-status`: GET /workshops/environment/{name}/status/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::environment_status::handle);
