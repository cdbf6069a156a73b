//! Lambda function `launch`: see the handler in the shared crate.

labgate::lambda_main!(labgate::handlers::launch::handle);
