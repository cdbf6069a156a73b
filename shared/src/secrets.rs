//! Secrets: random from the OS CSPRNG, shown once, stored and looked up only by SHA-256 digest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::distr::{Alphanumeric, SampleString};
use rand::rngs::OsRng;
use rand::{TryRngCore, rand_core::UnwrapErr};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Length of an API token: the documented 40 characters of `[A-Za-z0-9]` (about 238 bits).
pub const API_TOKEN_LEN: usize = 40;

/// A freshly made secret. `Debug` never prints it; only `expose` does, once, to the caller.
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.digest().log_prefix())
    }
}

/// The SHA-256 of a secret, hex encoded: what the table stores and looks up.
#[derive(Clone, PartialEq, Eq)]
pub struct Digest(String);

impl Digest {
    pub fn of(secret: &str) -> Self {
        Digest(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    /// A digest as the table keeps it (hex), read back.
    pub fn from_stored(hex: String) -> Self {
        Digest(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short prefix that identifies the secret in logs without revealing it.
    pub fn log_prefix(&self) -> &str {
        &self.0[..8]
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({}…)", self.log_prefix())
    }
}

fn os_rng() -> UnwrapErr<OsRng> {
    OsRng.unwrap_err()
}

/// Whether a presented secret has this digest, compared in constant time.
pub fn matches(presented: &str, stored_digest: &str) -> bool {
    use subtle::ConstantTimeEq;
    Digest::of(presented)
        .as_str()
        .as_bytes()
        .ct_eq(stored_digest.as_bytes())
        .into()
}

/// An API token in the documented form.
pub fn new_api_token() -> Secret {
    Secret(Alphanumeric.sample_string(&mut os_rng(), API_TOKEN_LEN))
}

/// A URL-safe token of 256 random bits (43 characters): launch tokens, cookies.
pub fn new_url_token() -> Secret {
    let mut bytes = [0u8; 32];
    os_rng()
        .try_fill_bytes(&mut bytes)
        .unwrap_or_else(|e| match e {});
    Secret(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether a presented API token has the documented shape; anything else is refused unhashed.
pub fn is_api_token_shape(token: &str) -> bool {
    token.len() == API_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether a presented URL token could be one of ours (bounds what we hash and look up).
pub fn is_url_token_shape(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_tokens_have_the_documented_shape_and_differ() {
        let a = new_api_token();
        let b = new_api_token();
        assert!(is_api_token_shape(a.expose()));
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn url_tokens_are_url_safe() {
        let t = new_url_token();
        assert!(is_url_token_shape(t.expose()));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let t = new_api_token();
        assert!(!format!("{t:?}").contains(t.expose()));
        assert_eq!(t.digest().as_str().len(), 64);
    }
}
