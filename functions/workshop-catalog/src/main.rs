//! Lambda function `workshop-catalog`: GET /workshops/catalog/environments/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::workshop_catalog::handle);
