//! Redirects, and the URLs taken from outside that a browser or a delivery is later sent to.
//!
//! The rule (no open redirects): labgate sends a browser only to
//! - the destination decided at launch time from the tenant's app URL (stored with the launch
//!   token; a `next` that differs from it is refused, never followed);
//! - an `index_url` at an origin the tenant allows (`allowed_index_url`, checked when the
//!   session is requested, then stored; `with_notification` only adds Educates' notice to it);
//! - a workshop dashboard URL from the environment's configuration.
//!
//! Every URL that comes from a caller or an operator passes one of the checks here before it
//! is stored: http(s) only, no user info, no raw or percent-encoded control characters.

use url::Url;

/// Raw or percent-encoded control characters (CR, LF, NUL, TAB, …) in a URL that is stored and
/// later put into a `Location` header or fetched: refused outright rather than normalised away.
pub fn has_control_chars(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    crate::text::has_refused(raw)
        || ["%0d", "%0a", "%00", "%09"]
            .iter()
            .any(|encoded| lower.contains(encoded))
}

/// An http(s) URL with a host and no user info, parsed; `None` for anything else.
fn http_url(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none();
    (plain && !has_control_chars(raw)).then_some(url)
}

/// An `index_url` the tenant may be sent back to: an http(s) URL at one of `allowed_origins`.
pub fn allowed_index_url(allowed_origins: &[String], raw: &str) -> Option<String> {
    let url = http_url(raw)?;
    let origin = url.origin().ascii_serialization();
    allowed_origins
        .iter()
        .any(|o| o == &origin)
        .then(|| url.to_string())
}

/// An analytics URL events may be delivered to: http(s), and a public host unless private
/// hosts are allowed (no deliveries into the VPC or the metadata service).
pub fn analytics_url(raw: &str, allow_private: bool) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    let allowed = matches!(url.scheme(), "http" | "https")
        && !has_control_chars(raw)
        && (allow_private || crate::net::is_public_host(&url));
    allowed.then(|| url.to_string())
}

/// `scheme://host[:port]` of an http(s) URL, as browsers write an `Origin`.
pub fn origin(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    match url.origin() {
        o @ url::Origin::Tuple(..) if matches!(url.scheme(), "http" | "https") => {
            Ok(o.ascii_serialization())
        }
        _ => Err(format!("{raw:?} is not an http(s) origin")),
    }
}

/// An absolute http(s) URL with no query, fragment or user info, without its trailing slash:
/// the base of the URLs labgate builds (its API and app URLs).
pub fn base_url(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw.trim()).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http or https URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("must not have a query, fragment or user info".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// A stored `index_url` with Educates' `notification=` set (any earlier one replaced).
pub fn with_notification(index_url: &str, notification: &str) -> Option<String> {
    let mut target = Url::parse(index_url).ok()?;
    let kept: Vec<(String, String)> = target
        .query_pairs()
        .filter(|(k, _)| k != "notification")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    target
        .query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("notification", notification);
    Some(target.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_urls_must_be_at_an_allowed_origin() {
        let allowed = vec!["https://lms.example".to_string()];
        let ok = allowed_index_url(&allowed, "https://lms.example/course?x=1");
        assert_eq!(ok.as_deref(), Some("https://lms.example/course?x=1"));
        for refused in [
            "https://evil.example/",
            "https://lms.example.evil.example/",
            "https://user@lms.example/",
            "javascript:alert(1)",
            "https://lms.example/%0d%0aSet-Cookie:x",
            "//lms.example/",
        ] {
            assert_eq!(allowed_index_url(&allowed, refused), None, "{refused}");
        }
    }

    #[test]
    fn a_notification_replaces_the_old_one_and_keeps_the_rest() {
        let url = with_notification(
            "https://lms.example/i?a=1&notification=x",
            "session-deleted",
        );
        assert_eq!(
            url.as_deref(),
            Some("https://lms.example/i?a=1&notification=session-deleted")
        );
    }
}
