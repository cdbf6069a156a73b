//! Lambda function `lti-launch`: POST /lti/launch (an LTI 1.3 launch). The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::lti_launch::handle);
