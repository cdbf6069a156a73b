//! Lambda function `lti-register`: GET and POST /lti/register (LTI Dynamic Registration from a one-time link). The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::lti_register::handle);
