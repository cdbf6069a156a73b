//! Lambda function `progress`: POST /api/v1/progress. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::progress::handle);
