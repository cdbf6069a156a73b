//! labgate's master signing key: what every tenant's webhook secret and every workshop session's
//! config password are derived from, so that none of them is stored.
//!
//! The key is a key ring. Its value, in `LABGATE_SIGNING_KEY` (local runs) or in the AWS Secrets
//! Manager secret that `LABGATE_SIGNING_KEY_SECRET` names (deployed stacks; read once at cold
//! start), is either
//! - a bare key, base64 of at least 32 random bytes: a ring of one key, whose id is `default`; or
//! - JSON: `{"id": "<id>", "key": "<base64>", "previous": [{"id": "<id>", "key": "<base64>"}]}`,
//!   the key in force first, then the keys rotated out that tenants' secrets still use; with an
//!   optional `"lti": [{"kid": "<id>", "der": "<base64 PKCS#1 DER>"}]`, the LTI tool's RSA keys
//!   (`lti::tool_keys`).
//!
//! A tenant's webhook secret records the id of the key it was derived from (none: `default`), so
//! adding a key to the ring changes no tenant's secret: only a tenant's own rotation
//! (`labgate-admin client webhook --rotate`) moves it onto the key in force. docs/operations.md
//! has the procedure.

use crate::config::ConfigError;
use crate::lti::tool_keys::ToolKey;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// The id of a bare key, and of the key that secrets recorded without an id were derived from.
pub const DEFAULT_KEY_ID: &str = "default";

/// Keys are at least this long (bytes, decoded).
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    pub id: String,
    key: Vec<u8>,
}

impl MasterKey {
    pub fn bytes(&self) -> &[u8] {
        &self.key
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, <redacted>)", self.id)
    }
}

/// The keys in force and rotated out; never empty, ids unique. With the LTI tool's RSA keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRing {
    /// The key in force first.
    keys: Vec<MasterKey>,
    /// The LTI tool's keys (`lti`), the signing one first; may be empty.
    tool_keys: Vec<ToolKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    key: String,
    #[serde(default)]
    previous: Vec<PreviousEntry>,
    #[serde(default)]
    lti: Vec<LtiEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LtiEntry {
    kid: String,
    der: String,
    /// When the key was added, and when it stopped signing (`lti::key_rotation`).
    #[serde(default, rename = "published_at")]
    _published_at: Option<i64>,
    #[serde(default, rename = "retired_at")]
    _retired_at: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviousEntry {
    id: String,
    key: String,
}

impl KeyRing {
    /// Reads a key ring from its value (a bare key or the JSON form); `name` is where it came
    /// from, for the error. The error never quotes the value.
    pub fn parse(name: &'static str, raw: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { name, reason };
        let raw = raw.trim();
        let mut lti = Vec::new();
        let entries: Vec<(String, String)> = if raw.starts_with('{') {
            let entry: Entry = serde_json::from_str(raw).map_err(|e| {
                invalid(format!(
                    "expected a base64 key or {{\"id\", \"key\", \"previous\": [{{\"id\", \"key\"}}]}} \
                     (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            lti = entry.lti;
            std::iter::once((entry.id, entry.key))
                .chain(entry.previous.into_iter().map(|p| (p.id, p.key)))
                .collect()
        } else {
            vec![(DEFAULT_KEY_ID.to_string(), raw.to_string())]
        };
        let mut keys: Vec<MasterKey> = Vec::with_capacity(entries.len());
        for (id, encoded) in entries {
            if !valid_id(&id) {
                return Err(invalid(format!(
                    "key id {id:?}: 1 to 64 letters, digits, '.', '_' or '-'"
                )));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(invalid(format!("key id {id:?} appears twice")));
            }
            let key = STANDARD
                .decode(encoded.trim())
                .ok()
                .filter(|k| k.len() >= MIN_KEY_BYTES)
                .ok_or_else(|| {
                    invalid(format!(
                        "key {id:?} must be base64 of at least {MIN_KEY_BYTES} random bytes \
                         (openssl rand -base64 32)"
                    ))
                })?;
            keys.push(MasterKey { id, key });
        }
        let mut tool_keys: Vec<ToolKey> = Vec::with_capacity(lti.len());
        for entry in lti {
            if !valid_id(&entry.kid) || tool_keys.iter().any(|k| k.kid == entry.kid) {
                return Err(invalid(format!(
                    "LTI key id {:?}: unique, 1 to 64 letters, digits, '.', '_' or '-'",
                    entry.kid
                )));
            }
            tool_keys.push(ToolKey::parse(&entry.kid, &entry.der).map_err(invalid)?);
        }
        Ok(KeyRing { keys, tool_keys })
    }

    /// The LTI tool's keys, the signing one first (published all at once).
    pub fn tool_keys(&self) -> &[ToolKey] {
        &self.tool_keys
    }

    /// The key new secrets are derived from.
    pub fn current(&self) -> &MasterKey {
        &self.keys[0]
    }

    /// The key with this id (`None`: `default`), if the ring still holds it.
    pub fn get(&self, id: Option<&str>) -> Option<&MasterKey> {
        let id = id.unwrap_or(DEFAULT_KEY_ID);
        self.keys.iter().find(|k| k.id == id)
    }

    /// A tag for `message` in context `purpose`: HMAC-SHA256 with the key in force, base64url
    /// (43 characters). What labgate hands out and must recognise later (LTI state cookies,
    /// deep linking picks) is tagged this way.
    pub fn tag(&self, purpose: &str, message: &str) -> String {
        tag(self.current().bytes(), purpose, message)
    }

    /// Whether `given` is the tag of `message` in context `purpose` under any key of the ring
    /// (so that a rotation does not void what is in flight), compared in constant time.
    pub fn verify_tag(&self, purpose: &str, message: &str, given: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.keys.iter().any(|key| {
            bool::from(
                tag(key.bytes(), purpose, message)
                    .as_bytes()
                    .ct_eq(given.as_bytes()),
            )
        })
    }

    /// Every key, the one in force first.
    pub fn all(&self) -> impl Iterator<Item = &MasterKey> {
        self.keys.iter()
    }

    /// Every key id, the one in force first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }
}

fn tag(key: &[u8], purpose: &str, message: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(purpose.as_bytes());
    mac.update(b"\n");
    mac.update(message.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Where the key ring comes from, by the environment: `LABGATE_SIGNING_KEY` (its value) or
/// `LABGATE_SIGNING_KEY_SECRET` (a secret to read), never both; `None` when neither is set.
pub enum Source {
    Value(KeyRing),
    Secret(String),
}

pub fn source(get: impl Fn(&'static str) -> Option<String>) -> Result<Option<Source>, ConfigError> {
    let get = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
    match (
        get("LABGATE_SIGNING_KEY"),
        get("LABGATE_SIGNING_KEY_SECRET"),
    ) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            name: "LABGATE_SIGNING_KEY_SECRET",
            reason: "set either it or LABGATE_SIGNING_KEY, not both".into(),
        }),
        (Some(raw), None) => Ok(Some(Source::Value(KeyRing::parse(
            "LABGATE_SIGNING_KEY",
            &raw,
        )?))),
        (None, Some(secret)) => Ok(Some(Source::Secret(secret.trim().to_string()))),
        (None, None) => Ok(None),
    }
}

/// Reads the key ring from an AWS Secrets Manager secret (its ARN or name), with the SDK
/// configuration the function already loaded: one `GetSecretValue`, at cold start.
pub async fn from_secret(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<KeyRing, ConfigError> {
    let value = secret_value(sdk, secret_id).await?;
    let ring = KeyRing::parse(SECRET_VARIABLE, &value)?;
    // Which ring this instance signs with (ids only); the generation is the deploy's
    // `SigningKeyGeneration`, raised with each rotation.
    tracing::info!(
        keys = ?ring.ids().collect::<Vec<_>>(),
        generation = std::env::var("LABGATE_SIGNING_KEY_GENERATION").unwrap_or_default(),
        "master key ring read"
    );
    Ok(ring)
}

const SECRET_VARIABLE: &str = "LABGATE_SIGNING_KEY_SECRET";

fn secret_error<E>(
    secret_id: &str,
    doing: &str,
    e: &aws_sdk_secretsmanager::error::SdkError<E>,
) -> ConfigError
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    // The service's own code and message (ResourceNotFoundException, AccessDenied…); no
    // answer at all: the client's whole error chain.
    let detail = match (e.code(), e.message()) {
        (Some(code), message) => format!("{code}: {}", message.unwrap_or_default()),
        _ => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    };
    ConfigError::Invalid {
        name: SECRET_VARIABLE,
        reason: format!("{doing} secret {secret_id}: {detail}"),
    }
}

/// The ring's value as the secret holds it (never logged).
pub async fn secret_value(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<String, ConfigError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| secret_error(secret_id, "reading", &e))?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| ConfigError::Invalid {
            name: SECRET_VARIABLE,
            reason: format!("secret {secret_id} has no string value"),
        })
}

/// Stores a new value of the ring (a new version of the secret; the functions read it at their
/// next cold start). Refused unless it reads as a ring.
pub async fn put_secret_value(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
    value: &str,
) -> Result<(), ConfigError> {
    KeyRing::parse(SECRET_VARIABLE, value)?;
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| secret_error(secret_id, "writing", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "bGFiZ2F0ZS10ZXN0LXNpZ25pbmcta2V5LTMyLWJ5dGVz";
    const B: &str = "c2Vjb25kLWxhYmdhdGUtdGVzdC1rZXktMzItYnl0ZXMh";

    #[test]
    fn a_bare_key_is_a_ring_of_one_default_key() {
        let ring = KeyRing::parse("K", A).unwrap();
        assert_eq!(ring.current().id, DEFAULT_KEY_ID);
        assert_eq!(ring.get(None), Some(ring.current()));
        assert_eq!(ring.ids().collect::<Vec<_>>(), ["default"]);
    }

    #[test]
    fn the_json_form_lists_the_key_in_force_then_the_previous_ones() {
        let raw = format!(
            r#"{{"id":"2026-11","key":"{B}","previous":[{{"id":"default","key":"{A}"}}]}}"#
        );
        let ring = KeyRing::parse("K", &raw).unwrap();
        assert_eq!(ring.current().id, "2026-11");
        assert_eq!(ring.get(None), KeyRing::parse("K", A).unwrap().get(None));
        assert_eq!(ring.ids().collect::<Vec<_>>(), ["2026-11", "default"]);
        // What CloudFormation generates: 64 letters and digits, 48 bytes once decoded.
        let generated = format!(r#"{{"id":"default","key":"{}"}}"#, "aZ09".repeat(16));
        assert_eq!(
            KeyRing::parse("K", &generated)
                .unwrap()
                .current()
                .bytes()
                .len(),
            48
        );
    }

    #[test]
    fn short_keys_bad_ids_duplicates_and_unknown_fields_are_refused_without_quoting_the_key() {
        let short = "c2hvcnQ=";
        for raw in [
            short.to_string(),
            format!(r#"{{"id":"a b","key":"{A}"}}"#),
            format!(r#"{{"id":"x","key":"{A}","previous":[{{"id":"x","key":"{B}"}}]}}"#),
            format!(r#"{{"id":"x","key":"{A}","kye":1}}"#),
            format!(r#"{{"id":"x","key":"{A}""#),
        ] {
            let err = KeyRing::parse("K", &raw).unwrap_err().to_string();
            assert!(!err.contains(A) && !err.contains(B), "{err}");
        }
        assert!(format!("{:?}", KeyRing::parse("K", A).unwrap()).contains("redacted"));
    }
}
