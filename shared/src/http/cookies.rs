//! The web session cookie: `HttpOnly; Secure; SameSite=Lax; Path=/`, domain from configuration.

use super::ApiError;
use crate::config::Domain;
use cookie::{Cookie, SameSite, time::Duration};
use lambda_http::http::header::{COOKIE, LOCATION, SET_COOKIE};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};

pub const SESSION_COOKIE: &str = "labgate_session";

/// The session cookie's value, if the request carries one.
pub fn session_cookie(req: &Request) -> Option<String> {
    session_cookie_in(
        req.headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// The session cookie's value in `Cookie` header values (fuzzed: `fuzz/fuzz_targets/headers.rs`).
pub fn session_cookie_in<'a>(headers: impl Iterator<Item = &'a str>) -> Option<String> {
    headers
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

fn base(value: String, domain: Option<&str>) -> cookie::CookieBuilder<'static> {
    let mut builder = Cookie::build((SESSION_COOKIE, value))
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
pub fn login_redirect(
    location: &str,
    session: &str,
    domain: &Domain,
    max_age_secs: i64,
) -> Result<Response<Body>, ApiError> {
    let set_cookie = set_session(session, domain.cookie_domain.as_deref(), max_age_secs);
    let header = |value: &str, detail: &str| {
        HeaderValue::from_str(value).map_err(|_| ApiError::Internal {
            what: "Could not start the session.",
            detail: format!("{detail} is not a valid header value"),
        })
    };
    let mut response = super::empty(StatusCode::FOUND);
    let headers = response.headers_mut();
    headers.insert(LOCATION, header(location, "the stored destination")?);
    headers.insert(SET_COOKIE, header(&set_cookie, "the cookie")?);
    Ok(response)
}
