//! Lambda function `oauth-token`: POST /oauth2/token/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::oauth_token::handle);
