//! Lambda function `launch-auth`: see the handler in the shared crate.

labgate::lambda_main!(labgate::handlers::launch_auth::handle);
