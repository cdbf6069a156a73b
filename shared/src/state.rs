//! What every function builds once at cold start and hands to each request by reference.

use crate::config::Config;
use crate::store::{RoundTrips, Store};
use crate::workshop::owners::Owners;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Config,
    pub store: Store,
    /// Environments' tenants, as this warm function has read them (`workshop::owners`).
    pub owners: Arc<Owners>,
}

impl AppState {
    /// Reads the configuration (failing fast on a bad setting) and builds the DynamoDB client.
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let config = Config::from_env()?;
        let store = Store::from_env(config.table_name.clone(), None::<RoundTrips>).await;
        Ok(AppState::new(config, store))
    }

    pub fn new(config: Config, store: Store) -> Self {
        AppState {
            config,
            store,
            owners: Arc::default(),
        }
    }
}
