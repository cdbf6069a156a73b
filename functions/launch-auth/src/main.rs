//! Lambda function `launch-auth`: see the handler in the shared crate.

labgate::lambda_main!(labgate::launch_auth::handle);
