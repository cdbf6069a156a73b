//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
//!
//! A tenant's signing secret is derived from labgate's signing key (`LABGATE_SIGNING_KEY`) and
//! the tenant's secret version, so no webhook secret is stored in the table; rotating bumps the
//! version, and during the rotation's overlap deliveries carry a signature with each secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const SECRET_PREFIX: &str = "whsec_";

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// A tenant's webhook secret (32 bytes).
pub fn client_secret(signing_key: &[u8], client_id: &str, version: i64) -> Vec<u8> {
    let mut m = mac(signing_key);
    m.update(format!("labgate-webhook:{client_id}:{version}").as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The secret as the tenant is shown it: `whsec_<base64>`.
pub fn display_secret(secret: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(secret))
}

/// The `webhook-signature` header value.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut m = mac(secret);
    m.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(m.finalize().into_bytes()))
}

/// The `webhook-signature` header value signed with each secret (space-separated, as Standard
/// Webhooks allows): the current secret first, then one being rotated out.
pub fn sign_all(secrets: &[Vec<u8>], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Verifies a `webhook-signature` header (space-separated `v1,<sig>` entries) in constant time,
/// as a receiver would with the `whsec_` secret.
pub fn verify(display_secret: &str, id: &str, timestamp: i64, body: &str, header: &str) -> bool {
    let Some(secret) = display_secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|s| STANDARD.decode(s).ok())
    else {
        return false;
    };
    header.split(' ').any(|entry| {
        let Some(given) = entry
            .strip_prefix("v1,")
            .and_then(|s| STANDARD.decode(s).ok())
        else {
            return false;
        };
        let mut m = mac(&secret);
        m.update(format!("{id}.{timestamp}.{body}").as_bytes());
        m.verify_slice(&given).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_the_displayed_secret_and_nothing_else() {
        let secret = client_secret(b"k", "client", 1);
        let header = sign(&secret, "evt_1", 1700000000, r#"{"a":1}"#);
        let shown = display_secret(&secret);
        assert!(verify(&shown, "evt_1", 1700000000, r#"{"a":1}"#, &header));
        assert!(!verify(&shown, "evt_1", 1700000001, r#"{"a":1}"#, &header));
        assert!(!verify(&shown, "evt_1", 1700000000, r#"{"a":2}"#, &header));
        let rotated = display_secret(&client_secret(b"k", "client", 2));
        assert!(!verify(
            &rotated,
            "evt_1",
            1700000000,
            r#"{"a":1}"#,
            &header
        ));
    }
}
