//! Lambda function `launch`: see the handler in the shared crate.

labgate::lambda_main!(labgate::launch::handler::handle);
