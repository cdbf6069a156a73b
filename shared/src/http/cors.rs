//! CORS for `/api/v1/session`, answered by our code (API Gateway answers none without a
//! `CorsConfiguration`, and `scripts/dev` runs `cargo lambda watch --disable-cors`, so local and
//! AWS behave the same).
//!
//! A lab app's front end at its own origin reads who is logged in with a credentialed
//! `fetch`. The answer carries `Access-Control-Allow-Origin: <origin>` and
//! `-Allow-Credentials: true` only when the origin is one the user's tenant allows: its app URL
//! (the client's own, else the domain's) or one of its `--allowed-origin`s. A preflight carries
//! no cookie, so it cannot know the tenant: it is answered for any origin and grants nothing by
//! itself; the request that follows is where the tenant's origins decide (a `DELETE` from an
//! origin the tenant does not allow is refused, so no page elsewhere can log a learner out).

use crate::config::Domain;
use lambda_http::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, HeaderValue, ORIGIN, VARY,
};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request, Response};

/// The methods a cross-origin page may use on `/api/v1/session`.
const METHODS: &str = "GET, DELETE";

/// The request's `Origin`, as sent (browsers send it on every cross-origin request and on
/// same-origin ones other than GET and HEAD).
pub fn origin(req: &Request) -> Option<&str> {
    req.headers().get(ORIGIN).and_then(|v| v.to_str().ok())
}

/// `scheme://host[:port]` of a URL, as browsers write an `Origin`; `None` if it has none.
fn origin_of(url: &str) -> Option<String> {
    crate::redirect::origin(url).ok()
}

/// A tenant's origins, as its settings give them: its own app URL (else the domain's) and the
/// origins it allows.
#[derive(Debug, Clone, Copy)]
pub struct Tenant<'a> {
    pub app_url: Option<&'a str>,
    pub allowed_origins: &'a [String],
}

/// Whether a page at `origin` may read this tenant's sessions: the tenant's app, its allowed
/// origins, or the API itself (same origin).
pub fn allows(origin: &str, tenant: Tenant<'_>, domain: &Domain) -> bool {
    let Some(origin) = origin_of(origin) else {
        return false;
    };
    let app_url = tenant.app_url.unwrap_or(&domain.app_url);
    [app_url, domain.api_url.as_str()]
        .into_iter()
        .chain(tenant.allowed_origins.iter().map(String::as_str))
        .filter_map(origin_of)
        .any(|allowed| allowed == origin)
}

/// Adds what a browser needs to hand this response to a page at `origin` with credentials.
pub fn allow(response: &mut Response<Body>, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    vary(response.headers_mut());
}

/// Every answer depends on the `Origin`: caches must keep them apart.
pub fn vary(headers: &mut HeaderMap) {
    headers.insert(VARY, HeaderValue::from_static("Origin"));
}

/// The answer to a preflight (`OPTIONS`): the methods, for ten minutes.
pub fn preflight(req: &Request) -> Response<Body> {
    let mut response = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .expect("a static response");
    if let Some(origin) = origin(req) {
        allow(&mut response, origin);
        let headers = response.headers_mut();
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    vary(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> Domain {
        Domain {
            host: "api.labgate.test".into(),
            api_url: "https://api.labgate.test".into(),
            app_url: "https://app.labgate.test".into(),
            cookie_domain: None,
        }
    }

    #[test]
    fn the_tenants_app_its_allowed_origins_and_the_api_itself_are_allowed() {
        let allowed = ["https://lms.acme.test".to_string()];
        let own = Tenant {
            app_url: Some("https://labs.acme.test/app/"),
            allowed_origins: &allowed,
        };
        for ok in [
            "https://labs.acme.test",
            "https://lms.acme.test",
            "https://api.labgate.test",
        ] {
            assert!(allows(ok, own, &domain()), "{ok}");
        }
        for refused in [
            "https://app.labgate.test",
            "https://labs.acme.test:8443",
            "http://labs.acme.test",
            "https://evil.test",
            "null",
            "",
        ] {
            assert!(!allows(refused, own, &domain()), "{refused}");
        }
        let none = Tenant {
            app_url: None,
            allowed_origins: &[],
        };
        assert!(allows("https://app.labgate.test", none, &domain()));
    }
}
