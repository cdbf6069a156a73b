//! Lambda function `catalog-workshops`: GET /workshops/catalog/workshops/. The handler is in the shared crate.

labgate::lambda_main!(labgate::handlers::catalog_workshops::handle);
