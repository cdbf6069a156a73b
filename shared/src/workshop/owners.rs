//! Which tenant an environment belongs to, remembered by a warm function: a session request
//! that knows it before it reads can fetch the user's sessions (and its idempotency record) in
//! the same round trip as the robot's token and the environment.
//!
//! Only a hint, never trusted: what it fetches is used only if the environment read in that
//! same round trip belongs to the robot's tenant and that tenant is the one remembered; otherwise
//! the request reads the user as if nothing had been remembered. An environment's tenant never
//! changes, so a hint is wrong only for a name deleted and made again by another tenant.

use std::collections::HashMap;
use std::sync::Mutex;

/// Environments remembered at most; past it the memory starts again (a warm function serves a
/// few environments, and a miss costs one round trip).
const MOST: usize = 4096;

#[derive(Debug, Default)]
pub struct Owners(Mutex<HashMap<String, String>>);

impl Owners {
    /// The tenant remembered for `environment`.
    pub fn get(&self, environment: &str) -> Option<String> {
        self.0.lock().ok()?.get(environment).cloned()
    }

    /// Remembers that `environment` belongs to `tenant` (as read from the table).
    pub fn remember(&self, environment: &str, tenant: &str) {
        let Ok(mut known) = self.0.lock() else {
            return;
        };
        if known.get(environment).map(String::as_str) == Some(tenant) {
            return;
        }
        if known.len() >= MOST {
            known.clear();
        }
        known.insert(environment.to_string(), tenant.to_string());
    }
}
