//! Lambda function `lti-jwks`: GET /.well-known/jwks.json (the LTI tool's public keys). The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::lti_jwks::handle);
