//! What Educates calls a session's config: where the session is, and its config password.
//!
//! The password is derived from labgate's signing key and the session's name (HMAC-SHA256), so
//! no password is stored: the same on every call for one session, different for every session,
//! and known only to whoever holds the signing key or asks with the tenant's robot token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The session's config password: 32 URL-safe characters.
pub fn password(signing_key: &[u8], session: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("labgate-session-config:{session}").as_bytes());
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..24])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_is_stable_per_session_and_differs_between_sessions_and_keys() {
        let a = super::password(b"key-one", "lab-s001");
        assert_eq!(a.len(), 32);
        assert_eq!(a, super::password(b"key-one", "lab-s001"));
        assert_ne!(a, super::password(b"key-one", "lab-s002"));
        assert_ne!(a, super::password(b"key-two", "lab-s001"));
    }
}
