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
    /// LTI platforms' public keys, as this warm function has fetched them (built on first use).
    pub platform_keys: Arc<std::sync::OnceLock<crate::lti::platform_keys::PlatformKeys>>,
}

impl AppState {
    /// Reads the configuration (failing fast on a bad setting), builds the DynamoDB client, and
    /// reads the master key ring from Secrets Manager when `LABGATE_SIGNING_KEY_SECRET` names
    /// one (only the functions that sign have it set).
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let mut config = Config::from_env()?;
        let sdk = crate::store::sdk_config().await;
        if let Some(secret) = &config.signing_key_secret {
            config.signing_keys = Some(crate::master_key::from_secret(&sdk, secret).await?);
        }
        let store = Store::from_sdk_config(&sdk, config.table_name.clone(), None::<RoundTrips>);
        Ok(AppState::new(config, store))
    }

    pub fn new(config: Config, store: Store) -> Self {
        AppState {
            config,
            store,
            owners: Arc::default(),
            platform_keys: Arc::default(),
        }
    }
}
