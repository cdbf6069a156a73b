//! The tool's own RSA keys: published at `/.well-known/jwks.json` for platforms to verify what
//! labgate signs (deep linking responses, grade service client assertions). They live in the
//! master key ring's `lti` list (`master_key`): `{"kid": "<id>", "der": "<base64 PKCS#1 DER>"}`,
//! the signing key first; every key listed is published, so that a new key is published before
//! it signs and an old one stays until what it signed has expired (docs/lti.md).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct ToolKey {
    pub kid: String,
    /// The private key, PKCS#1 DER (what `jsonwebtoken` signs RS256 with, through ring).
    der: Vec<u8>,
    /// The public modulus and exponent, big-endian, for the JWK.
    n: Vec<u8>,
    e: Vec<u8>,
}

impl PartialEq for ToolKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.n == other.n
    }
}

impl Eq for ToolKey {}

impl std::fmt::Debug for ToolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ToolKey({}, <redacted>)", self.kid)
    }
}

/// RSA keys shorter than this are refused (NIST's floor for RS256).
pub const MIN_RSA_BITS: usize = 2048;

impl ToolKey {
    /// A key from its id and base64 PKCS#1 DER (`openssl genpkey -algorithm RSA -pkeyopt
    /// rsa_keygen_bits:2048 | openssl rsa -traditional -outform DER | base64 -w0`). The error
    /// never quotes the key.
    pub fn parse(kid: &str, der_base64: &str) -> Result<Self, String> {
        let der = STANDARD
            .decode(der_base64.trim())
            .map_err(|_| format!("LTI key {kid:?}: `der` is not base64"))?;
        let pair = ring::signature::RsaKeyPair::from_der(&der)
            .map_err(|e| format!("LTI key {kid:?}: not an RSA private key in PKCS#1 DER ({e})"))?;
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
        let n = public.n;
        if n.len() * 8 < MIN_RSA_BITS {
            return Err(format!("LTI key {kid:?}: at least {MIN_RSA_BITS} bits"));
        }
        Ok(ToolKey {
            kid: kid.to_string(),
            e: public.e,
            n,
            der,
        })
    }

    pub fn private_der(&self) -> &[u8] {
        &self.der
    }

    /// The public key as a JWK (RFC 7517), for RS256 signatures.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
        })
    }
}

/// The JWK Set of every key listed.
pub fn jwks(keys: &[ToolKey]) -> Value {
    json!({ "keys": keys.iter().map(ToolKey::jwk).collect::<Vec<_>>() })
}
