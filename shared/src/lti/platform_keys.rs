//! The platforms' public keys: each registration's JWKS, fetched over HTTPS from a public
//! address (the rules analytics URLs follow) and cached for this warm instance.
//!
//! An id_token naming a key the cache does not hold (a platform rotated its keys) fetches the
//! JWKS again, but not more than once a `min_refetch` per platform, failed fetches included: made
//! up `kid`s cannot make labgate hammer a platform (Canvas's JWKS serves every school). When a
//! fetch fails, keys fetched before still verify. Keys are read one by one: a key of a kind
//! labgate does not use (an encryption key, another algorithm) is skipped, not fatal.

use super::LtiError;
use jsonwebtoken::DecodingKey;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long fetched keys are trusted before they are fetched again.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// An unknown kid (or a failed fetch) fetches a platform's keys again at most this often.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);
/// A JWKS larger than this is refused (a platform publishes a handful of keys).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct PlatformKeys {
    http: reqwest::Client,
    /// Whether JWKS URLs may be plain http or private addresses (local development and tests:
    /// `LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS`).
    allow_private: bool,
    min_refetch: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

#[derive(Debug, Clone, Default)]
struct Cached {
    /// The keys of the last successful fetch, and when it was.
    keys: Vec<Value>,
    fetched: Option<Instant>,
    /// The last fetch tried, successful or not.
    tried: Option<Instant>,
}

impl PlatformKeys {
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let (timeout, connect) = (Duration::from_secs(3), Duration::from_secs(2));
        Ok(PlatformKeys {
            http: crate::net::third_party_client(timeout, connect, allow_private)?,
            allow_private,
            min_refetch: MIN_REFETCH,
            cache: Mutex::default(),
        })
    }

    /// The same with another pause between fetches (tests).
    pub fn with_min_refetch(mut self, min_refetch: Duration) -> Self {
        self.min_refetch = min_refetch;
        self
    }

    /// The key `kid` of the platform whose JWKS is at `jwks_url`.
    pub async fn key(&self, jwks_url: &str, kid: &str) -> Result<DecodingKey, LtiError> {
        let cached = self.cached(jwks_url);
        let fresh = cached.fetched.is_some_and(|at| at.elapsed() < MAX_AGE);
        if fresh && let Some(key) = find(&cached.keys, kid)? {
            return Ok(key);
        }
        // Stale keys were tried longer ago than any pause, so they are always fetched again.
        let may_fetch = cached
            .tried
            .is_none_or(|at| at.elapsed() >= self.min_refetch);
        if !may_fetch {
            // Fetched (or tried) a moment ago: what it had is all there is.
            return match find(&cached.keys, kid)? {
                Some(key) => Ok(key),
                None if cached.fetched.is_none() => Err(LtiError::Platform(format!(
                    "The platform's keys (at {jwks_url}) could not be fetched a moment ago; try again shortly."
                ))),
                None => Err(unknown(jwks_url, kid)),
            };
        }
        let fetched = self.fetch(jwks_url).await;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let entry = cache.entry(jwks_url.to_string()).or_default();
        entry.tried = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                entry.keys = keys;
                entry.fetched = entry.tried;
                find(&entry.keys, kid)?.ok_or_else(|| unknown(jwks_url, kid))
            }
            // Keys fetched before still verify while the platform cannot answer.
            Err(e) => find(&entry.keys, kid)?.ok_or(e),
        }
    }

    fn cached(&self, jwks_url: &str) -> Cached {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(jwks_url).cloned().unwrap_or_default()
    }

    async fn fetch(&self, jwks_url: &str) -> Result<Vec<Value>, LtiError> {
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
        let set: Value =
            serde_json::from_slice(&body).map_err(|e| unreachable(format!("not JSON ({e})")))?;
        match set.get("keys") {
            Some(Value::Array(keys)) => Ok(keys.clone()),
            _ => Err(unreachable("not a JWK Set (no keys)".into())),
        }
    }
}

fn unknown(jwks_url: &str, kid: &str) -> LtiError {
    LtiError::unauthorized(format!(
        "The platform's keys (at {jwks_url}) have no key {kid:?}."
    ))
}

/// The RS256 signing key `kid` of a JWK Set's keys, if it has one. A key under that id that is
/// not an RSA signing key for RS256 is refused.
fn find(keys: &[Value], kid: &str) -> Result<Option<DecodingKey>, LtiError> {
    let Some(jwk) = keys
        .iter()
        .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
    else {
        return Ok(None);
    };
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let unusable = |why: &str| {
        LtiError::unauthorized(format!("The platform's key {kid:?} is unusable: {why}."))
    };
    if field("kty") != Some("RSA") {
        return Err(unusable("not an RSA key"));
    }
    if field("alg").is_some_and(|alg| alg != "RS256") || field("use").is_some_and(|u| u != "sig") {
        return Err(unusable("not for RS256 signatures"));
    }
    let (Some(n), Some(e)) = (field("n"), field("e")) else {
        return Err(unusable("no modulus or exponent"));
    };
    DecodingKey::from_rsa_components(n, e)
        .map(Some)
        .map_err(|e| unusable(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn keys_come_over_https_from_public_addresses_only() {
        let keys = PlatformKeys::new(false).unwrap();
        for url in [
            "http://lms.example.edu/jwks",
            "https://127.0.0.1/jwks",
            "https://10.1.2.3/jwks",
            "https://[::1]/jwks",
            "https://169.254.169.254/latest/meta-data",
        ] {
            let Err(LtiError::Platform(why)) = keys.key(url, "k").await else {
                panic!("{url} was fetched");
            };
            assert!(
                why.contains("not an https URL at a public address"),
                "{url}: {why}"
            );
        }
    }

    #[test]
    fn keys_of_other_kinds_are_skipped_and_refused_under_the_kid_asked_for() {
        let rsa = crate::lti::tool_keys::ToolKey::parse(
            "sig",
            include_str!("../../../tests/fixtures/lti/platform-1.der.b64"),
        )
        .unwrap()
        .jwk();
        let keys = vec![
            json!({"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP-384", "n": rsa["n"], "e": "AQAB"}),
            json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"}),
            rsa,
        ];
        assert!(find(&keys, "sig").unwrap().is_some());
        assert!(find(&keys, "missing").unwrap().is_none());
        assert!(find(&keys, "enc").is_err());
        assert!(find(&keys, "ec").is_err());
    }
}
