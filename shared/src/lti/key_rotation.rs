//! Rotating the LTI tool's signing keys in the master key ring (`labgate-admin lti keys`), in
//! the order that never leaves a platform holding a signature it cannot verify:
//!
//! 1. `add`: the new key goes last, published (`/.well-known/jwks.json`) but not signing, with
//!    the time it was added (`published_at`).
//! 2. `promote`: once it has been published for `PUBLISHED_BEFORE_SIGNING_SECS`, it moves first
//!    and signs; the key it replaces stays published, marked with when it stopped signing
//!    (`retired_at`).
//! 3. `retire`: once what the old key signed has expired (`SIGNED_TOKENS_LIVE_SECS` after it
//!    stopped signing), it leaves the ring.
//!
//! Each step rewrites the ring's JSON (a bare key becomes `{"id": "default", "key": …}`), and
//! the result is read back as a `KeyRing` before it is returned, so a step never writes a ring
//! the functions would refuse. The functions read the ring at cold start: deploy with a new
//! `SigningKeyGeneration` after each step (docs/lti.md).

use crate::master_key::{DEFAULT_KEY_ID, KeyRing};
use serde_json::{Map, Value, json};

/// How long a key is published before it may sign: twice the JWKS's `max-age` (300 s), so that
/// a platform that cached the keyset before the key was added has fetched it again.
pub const PUBLISHED_BEFORE_SIGNING_SECS: i64 = 600;
/// How long a key that stopped signing stays published: what it signed (deep linking responses,
/// client assertions) lives 300 s; twice that.
pub const SIGNED_TOKENS_LIVE_SECS: i64 = 600;

/// One tool key as the ring lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub kid: String,
    pub signing: bool,
    pub published_at: Option<i64>,
    pub retired_at: Option<i64>,
}

/// The ring's value as JSON (a bare key becomes the JSON form with id `default`).
fn as_json(raw: &str) -> Result<Map<String, Value>, String> {
    let raw = raw.trim();
    if !raw.starts_with('{') {
        let mut map = Map::new();
        map.insert("id".into(), json!(DEFAULT_KEY_ID));
        map.insert("key".into(), json!(raw));
        return Ok(map);
    }
    match serde_json::from_str(raw) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("the key ring is not a JSON object".into()),
    }
}

fn tool_keys(ring: &mut Map<String, Value>) -> &mut Vec<Value> {
    let entry = ring.entry("lti").or_insert_with(|| json!([]));
    if !entry.is_array() {
        *entry = json!([]);
    }
    entry.as_array_mut().expect("an array")
}

/// Where `kid` is in the list.
fn position(keys: &[Value], kid: &str) -> Result<usize, String> {
    keys.iter()
        .position(|k| kid_of(k) == kid)
        .ok_or_else(|| format!("the ring has no LTI key {kid:?}"))
}

fn kid_of(entry: &Value) -> &str {
    entry.get("kid").and_then(Value::as_str).unwrap_or_default()
}

/// The ring written back, checked by reading it as the functions will.
fn written(ring: Map<String, Value>) -> Result<String, String> {
    let text = Value::Object(ring).to_string();
    KeyRing::parse("the rotated key ring", &text).map_err(|e| e.to_string())?;
    Ok(text)
}

/// The ring's tool keys, the signing one first.
pub fn list(raw: &str) -> Result<Vec<Listed>, String> {
    let mut ring = as_json(raw)?;
    Ok(tool_keys(&mut ring)
        .iter()
        .enumerate()
        .map(|(i, entry)| Listed {
            kid: kid_of(entry).to_string(),
            signing: i == 0,
            published_at: entry.get("published_at").and_then(Value::as_i64),
            retired_at: entry.get("retired_at").and_then(Value::as_i64),
        })
        .collect())
}

/// Adds a key, last: published, not signing (the first key of an empty list signs at once,
/// since no platform holds anything signed by another).
pub fn add(raw: &str, kid: &str, der_base64: &str, now: i64) -> Result<String, String> {
    let mut ring = as_json(raw)?;
    let keys = tool_keys(&mut ring);
    if keys.iter().any(|k| kid_of(k) == kid) {
        return Err(format!("the ring already has an LTI key {kid:?}"));
    }
    keys.push(json!({"kid": kid, "der": der_base64.trim(), "published_at": now}));
    written(ring)
}

/// Moves `kid` first, so that it signs; the key it replaces keeps being published.
pub fn promote(raw: &str, kid: &str, now: i64) -> Result<String, String> {
    let mut ring = as_json(raw)?;
    let keys = tool_keys(&mut ring);
    let at = position(keys, kid)?;
    if at == 0 {
        return Err(format!("{kid:?} already signs"));
    }
    let published = keys[at].get("published_at").and_then(Value::as_i64);
    if let Some(published) = published {
        let ready = published + PUBLISHED_BEFORE_SIGNING_SECS;
        if now < ready {
            return Err(format!(
                "{kid:?} was published {} s ago: platforms may not have fetched it yet; promote it in {} s",
                now - published,
                ready - now
            ));
        }
    }
    let mut moved = keys.remove(at);
    if let Some(entry) = moved.as_object_mut() {
        entry.remove("retired_at");
    }
    if let Some(old) = keys.first_mut().and_then(Value::as_object_mut) {
        old.insert("retired_at".into(), json!(now));
    }
    keys.insert(0, moved);
    written(ring)
}

/// Removes `kid`, which no longer signs, once what it signed has expired.
pub fn retire(raw: &str, kid: &str, now: i64) -> Result<String, String> {
    let mut ring = as_json(raw)?;
    let keys = tool_keys(&mut ring);
    let at = position(keys, kid)?;
    if at == 0 {
        return Err(format!(
            "{kid:?} signs: promote another key first (labgate-admin lti keys promote)"
        ));
    }
    if let Some(retired) = keys[at].get("retired_at").and_then(Value::as_i64) {
        let done = retired + SIGNED_TOKENS_LIVE_SECS;
        if now < done {
            return Err(format!(
                "{kid:?} stopped signing {} s ago: what it signed may still be in use; retire it in {} s",
                now - retired,
                done - now
            ));
        }
    }
    keys.remove(at);
    written(ring)
}

/// One step of a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Add { kid: String, der_base64: String },
    Promote { kid: String },
    Retire { kid: String },
}

/// The ring after `step`.
pub fn apply(raw: &str, step: &Step, now: i64) -> Result<String, String> {
    match step {
        Step::Add { kid, der_base64 } => add(raw, kid, der_base64, now),
        Step::Promote { kid } => promote(raw, kid, now),
        Step::Retire { kid } => retire(raw, kid, now),
    }
}

/// Applies `step` to the ring kept in an AWS Secrets Manager secret: read, rotated, checked,
/// written back as the secret's new version. A refused step writes nothing.
pub async fn apply_to_secret(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
    step: &Step,
    now: i64,
) -> Result<(), String> {
    let raw = crate::master_key::secret_value(sdk, secret_id)
        .await
        .map_err(|e| e.to_string())?;
    let rotated = apply(&raw, step, now)?;
    crate::master_key::put_secret_value(sdk, secret_id, &rotated)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "bGFiZ2F0ZS10ZXN0LXNpZ25pbmcta2V5LTMyLWJ5dGVz";

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/lti")
            .join(format!("{name}.der.b64"));
        std::fs::read_to_string(path).unwrap()
    }

    fn kids(raw: &str) -> Vec<String> {
        let ring = KeyRing::parse("test", raw).unwrap();
        ring.tool_keys().iter().map(|k| k.kid.clone()).collect()
    }

    #[test]
    fn a_rotation_publishes_before_it_signs_and_keeps_the_old_key_until_its_tokens_expire() {
        // A bare key gains its first tool key, which signs at once.
        let one = add(MASTER, "k1", &fixture("tool-1"), 1_000).unwrap();
        assert_eq!(kids(&one), ["k1"]);
        assert_eq!(KeyRing::parse("t", &one).unwrap().current().id, "default");

        let two = add(&one, "k2", &fixture("platform-2"), 2_000).unwrap();
        assert_eq!(kids(&two), ["k1", "k2"], "published last, not signing");
        assert!(add(&two, "k2", &fixture("platform-2"), 2_001).is_err());

        let early = promote(&two, "k2", 2_000 + PUBLISHED_BEFORE_SIGNING_SECS - 1).unwrap_err();
        assert!(early.contains("promote it in 1 s"), "{early}");
        let promoted = promote(&two, "k2", 2_000 + PUBLISHED_BEFORE_SIGNING_SECS).unwrap();
        assert_eq!(kids(&promoted), ["k2", "k1"]);
        let listed = list(&promoted).unwrap();
        assert!(listed[0].signing && !listed[1].signing);
        assert_eq!(listed[1].retired_at, Some(2_600));

        assert!(
            retire(&promoted, "k2", 10_000)
                .unwrap_err()
                .contains("signs")
        );
        let early = retire(&promoted, "k1", 2_600 + SIGNED_TOKENS_LIVE_SECS - 5).unwrap_err();
        assert!(early.contains("retire it in 5 s"), "{early}");
        let retired = retire(&promoted, "k1", 2_600 + SIGNED_TOKENS_LIVE_SECS).unwrap();
        assert_eq!(kids(&retired), ["k2"]);
        // The master keys are untouched throughout.
        assert_eq!(
            KeyRing::parse("t", &retired).unwrap().current().id,
            "default"
        );
    }

    #[test]
    fn a_step_that_would_break_the_ring_writes_nothing() {
        assert!(add(MASTER, "bad kid!", &fixture("tool-1"), 0).is_err());
        assert!(add(MASTER, "k1", "not base64", 0).is_err());
        assert!(promote(MASTER, "nope", 0).is_err());
        assert!(retire(MASTER, "nope", 0).is_err());
        assert!(list("{not json").is_err());
    }
}
