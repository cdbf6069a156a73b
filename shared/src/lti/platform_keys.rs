//! The platforms' public keys: each registration's JWKS, fetched over HTTPS from a public
//! address (the rules analytics URLs follow), cached for this warm instance, and fetched again
//! once when an id_token names a key the cache does not hold (a platform rotated its keys).

use super::LtiError;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long fetched keys are trusted before they are fetched again.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// An unknown kid fetches a platform's keys again at most this often.
pub const MIN_REFETCH: Duration = Duration::from_secs(1);
/// A JWKS larger than this is refused (a platform publishes a handful of keys).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct PlatformKeys {
    http: reqwest::Client,
    /// Whether JWKS URLs may be plain http or private addresses (local development and tests:
    /// `LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS`).
    allow_private: bool,
    cache: Mutex<HashMap<String, (JwkSet, Instant)>>,
}

impl PlatformKeys {
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let mut builder = crate::net::http_client_builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none());
        if !allow_private {
            builder = builder.dns_resolver(std::sync::Arc::new(crate::net::PublicOnly));
        }
        Ok(PlatformKeys {
            http: builder.build()?,
            allow_private,
            cache: Mutex::default(),
        })
    }

    /// The key `kid` of the platform whose JWKS is at `jwks_url`.
    pub async fn key(&self, jwks_url: &str, kid: &str) -> Result<DecodingKey, LtiError> {
        let unknown = || {
            LtiError::unauthorized(format!(
                "The platform's keys (at {jwks_url}) have no key {kid:?}."
            ))
        };
        if let Some((set, fetched)) = self.cached(jwks_url) {
            if let Some(key) = decoding_key(&set, kid)? {
                return Ok(key);
            }
            // An unknown kid fetches again, but not more than once a `MIN_REFETCH` per
            // platform: id_tokens naming made-up keys cannot make labgate flood a platform.
            if fetched.elapsed() < MIN_REFETCH {
                return Err(unknown());
            }
        }
        // Not cached, stale, or an unknown kid: fetch once.
        let set = self.fetch(jwks_url).await?;
        let key = decoding_key(&set, kid)?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(jwks_url.to_string(), (set, Instant::now()));
        key.ok_or_else(unknown)
    }

    fn cached(&self, jwks_url: &str) -> Option<(JwkSet, Instant)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(jwks_url)
            .filter(|(_, at)| at.elapsed() < MAX_AGE)
            .cloned()
    }

    async fn fetch(&self, jwks_url: &str) -> Result<JwkSet, LtiError> {
        let unreachable = |why: String| {
            LtiError::Platform(format!(
                "Could not fetch the platform's keys from {jwks_url}: {why}"
            ))
        };
        let url = url::Url::parse(jwks_url).map_err(|e| unreachable(e.to_string()))?;
        // IP literals skip the resolver: they are judged here.
        let allowed =
            self.allow_private || (url.scheme() == "https" && crate::net::is_public_host(&url));
        if !allowed {
            return Err(unreachable("not an https URL at a public address".into()));
        }
        let response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("it answered {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_JWKS_BYTES)
        {
            return Err(unreachable("larger than 64 KiB".into()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(unreachable("larger than 64 KiB".into()));
        }
        serde_json::from_slice(&body).map_err(|e| unreachable(format!("not a JWK Set ({e})")))
    }
}

/// The RSA key `kid` of a set, if it has one; a key of another kind under that id is refused.
fn decoding_key(set: &JwkSet, kid: &str) -> Result<Option<DecodingKey>, LtiError> {
    let Some(jwk) = set.find(kid) else {
        return Ok(None);
    };
    DecodingKey::from_jwk(jwk)
        .map(Some)
        .map_err(|e| LtiError::unauthorized(format!("The platform's key {kid:?} is unusable: {e}")))
}
