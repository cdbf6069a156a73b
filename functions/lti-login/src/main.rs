//! Lambda function `lti-login`: GET and POST /lti/login (LTI 1.3 login initiation). The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::lti_login::handle);
