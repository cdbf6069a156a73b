//! Lambda function `lti-deep-link`: POST /lti/deep-link (an instructor's pick, answered with a signed LTI deep linking response). The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::lti_deep_link::handle);
