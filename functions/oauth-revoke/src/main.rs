//! Lambda function `oauth-revoke`: POST /oauth2/revoke-token/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::oauth_revoke::handle);
