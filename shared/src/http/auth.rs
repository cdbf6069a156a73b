//! The `Authorization` header, parsed without I/O (and fuzzed: `fuzz/fuzz_targets/headers.rs`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The credentials of `Authorization: <scheme> <credentials>`: the scheme compared without
/// case, surrounding spaces ignored. `None` for another scheme or no credentials.
pub fn credentials<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    (given.eq_ignore_ascii_case(scheme) && !rest.is_empty()).then_some(rest)
}

/// HTTP Basic credentials: `(id, secret)`. Both parts are form-decoded after the base64
/// (RFC 6749 section 2.3.1). `None` for bad base64, non-UTF-8 or a missing `:`.
pub fn basic(credentials: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

fn form_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("x={part}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_credentials() {
        assert_eq!(credentials("Token abc", "token"), Some("abc"));
        assert_eq!(credentials("  bearer  abc  ", "Bearer"), Some("abc"));
        assert_eq!(credentials("Token", "token"), None);
        assert_eq!(credentials("Token   ", "token"), None);
        assert_eq!(credentials("Basic abc", "token"), None);
        assert_eq!(credentials("Tokenabc", "token"), None);
        assert_eq!(
            basic("aWQ6c2VjcmV0"),
            Some(("id".to_string(), "secret".to_string()))
        );
        assert_eq!(basic("aWQlM0E6cyUyQg=="), Some(("id:".into(), "s+".into())));
        assert_eq!(basic("!!"), None);
        assert_eq!(basic("aWQ="), None);
    }
}
