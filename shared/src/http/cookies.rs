//! The web session cookie: `HttpOnly; Secure; SameSite=Lax; Path=/`, domain from configuration.
//!
//! Without a cookie domain the cookie is host-only and named `__Host-labgate_session`: browsers
//! take a `__Host-` cookie only from the host itself (secure, `Path=/`, no `Domain`), so no other
//! host under the same site (a workshop dashboard where learners run code, say) can set or
//! overwrite it, and only that name is read. With a cookie domain (`CookieDomain`, or a
//! white-label entry's) it is `labgate_session`, shared by the hosts under that domain; keep
//! such a domain clear of hosts that run others' code (`labgate-admin environment create`
//! refuses a dashboard under a configured cookie domain).

use super::ApiError;
use crate::config::Domain;
use cookie::{Cookie, SameSite, time::Duration};
use lambda_http::http::header::{COOKIE, LOCATION, SET_COOKIE};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};

/// The session cookie's name with a cookie domain.
pub const SESSION_COOKIE: &str = "labgate_session";

/// The session cookie's name without one (host-only).
pub const HOST_SESSION_COOKIE: &str = "__Host-labgate_session";

/// The session cookie's name for a cookie domain (or none).
pub fn cookie_name(domain: Option<&str>) -> &'static str {
    match domain {
        Some(_) => SESSION_COOKIE,
        None => HOST_SESSION_COOKIE,
    }
}

/// The session cookie's value, if the request carries one under the name `domain` uses.
pub fn session_cookie(req: &Request, domain: &Domain) -> Option<String> {
    let name = cookie_name(domain.cookie_domain.as_deref());
    let headers = req.headers().get_all(COOKIE);
    session_cookie_in(headers.iter().filter_map(|v| v.to_str().ok()), name)
}

/// The value of cookie `name` in `Cookie` header values (fuzzed: `fuzz/fuzz_targets/headers.rs`).
pub fn session_cookie_in<'a>(headers: impl Iterator<Item = &'a str>, name: &str) -> Option<String> {
    headers
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

fn base(value: String, domain: Option<&str>) -> cookie::CookieBuilder<'static> {
    let mut builder = Cookie::build((cookie_name(domain), value))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .path("/");
    if let Some(domain) = domain {
        builder = builder.domain(domain.to_string());
    }
    builder
}

/// `Set-Cookie` value that logs the browser in for `max_age_secs`.
pub fn set_session(value: &str, domain: Option<&str>, max_age_secs: i64) -> String {
    base(value.to_string(), domain)
        .max_age(Duration::seconds(max_age_secs))
        .build()
        .to_string()
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_session(domain: Option<&str>) -> String {
    base(String::new(), domain)
        .max_age(Duration::ZERO)
        .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
        .build()
        .to_string()
}

/// The answer that logs a browser in: 302 to `location`, setting the session cookie `session`
/// for the domain the request came to, for `max_age_secs`.
/// `bad_location` and `bad_cookie` are what the caller is told if either cannot be a header
/// (stored values are checked when stored, so neither happens in practice).
pub fn login_redirect(
    (location, session): (&str, &str),
    domain: &Domain,
    max_age_secs: i64,
    (bad_location, bad_cookie): (&'static str, &'static str),
) -> Result<Response<Body>, ApiError> {
    let set_cookie = set_session(session, domain.cookie_domain.as_deref(), max_age_secs);
    let header = |value: &str, what: &'static str| {
        HeaderValue::from_str(value).map_err(|_| ApiError::Internal {
            what,
            detail: "not a valid header value".into(),
        })
    };
    let mut response = super::empty(StatusCode::FOUND);
    let headers = response.headers_mut();
    headers.insert(LOCATION, header(location, bad_location)?);
    headers.insert(SET_COOKIE, header(&set_cookie, bad_cookie)?);
    Ok(response)
}
