//! Cross-site requests and forced logins, in browsers.
//!
//! The rule:
//! - A browser endpoint that changes state by a link (the dashboard's exit link, which ends a
//!   workshop session) acts only on a request the browser marks as from labgate itself or typed
//!   in (`Sec-Fetch-Site: same-origin` or `none`). Any other request (from another site, or from
//!   another host of the same site, such as a workshop dashboard where learners run code, or
//!   from a browser that sends no such header) gets a confirmation page, whose button posts back
//!   with a confirmation token derived from the browser's own session cookie: no other site can
//!   read that cookie, so none can forge the post.
//! - A one-time link (launch, activation) opened in a browser signed in as a different user does
//!   not replace that session silently: it shows a confirmation page naming what will happen, and
//!   only the post carrying the confirmation token uses the link. The same user, or a browser
//!   with no live session, goes straight through, as before.

use crate::http;
use crate::secrets;
use crate::web_session::WebSession;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use std::collections::HashMap;

/// Whether the browser says the request came from labgate's own pages or was typed in.
pub fn is_trusted(req: &Request) -> bool {
    matches!(
        http::header(req, "sec-fetch-site"),
        Some("same-origin" | "none")
    )
}

fn confirmation_input(cookie: &str, purpose: &str) -> String {
    format!("labgate-confirm:{purpose}:{cookie}")
}

/// The confirmation token for `purpose` in the browser whose session cookie is `cookie`.
pub fn token(cookie: &str, purpose: &str) -> String {
    secrets::Digest::of(&confirmation_input(cookie, purpose))
        .as_str()
        .to_string()
}

/// Whether a post carries the confirmation token for `purpose` (compared in constant time).
pub fn is_confirmed(params: &HashMap<String, String>, cookie: &str, purpose: &str) -> bool {
    params
        .get("confirm")
        .is_some_and(|given| secrets::matches(&confirmation_input(cookie, purpose), given))
}

/// Whether a one-time link for `(tenant, user)` may sign this browser in now: it has no live
/// session, or one of that same user, or this is the confirmed post for `purpose`.
pub fn may_sign_in(
    req: &Request,
    params: &HashMap<String, String>,
    signed_in: Option<&WebSession>,
    cookie: Option<&str>,
    (tenant, user): (&str, &str),
    purpose: &str,
) -> bool {
    let (Some(other), Some(cookie)) = (signed_in, cookie) else {
        return true;
    };
    let same_user = other.client_id == tenant && other.external_id == user;
    same_user || (req.method() == Method::POST && is_confirmed(params, cookie, purpose))
}

/// A link's parameters: the query of a `GET`, the form body of a `POST` (a repeated one makes
/// it empty, which no link accepts).
pub fn params(req: &Request) -> HashMap<String, String> {
    if req.method() == Method::POST {
        return http::unique_form(http::body_bytes(req)).unwrap_or_default();
    }
    let query = req.uri().query().unwrap_or("");
    let mut params = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        // The first value of a name counts, as `http::query_param` reads it.
        params
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    params
}

/// A page that asks before acting: `message`, and a button that posts `fields` to `action`.
pub fn page(
    title: &str,
    message: &str,
    action: &str,
    fields: &[(&str, &str)],
    button: &str,
) -> Response<Body> {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                http::escape_html(name),
                http::escape_html(value)
            )
        })
        .collect();
    let form = format!(
        "<form method=\"post\" action=\"{}\">{inputs}<button type=\"submit\">{}</button></form>",
        http::escape_html(action),
        http::escape_html(button)
    );
    let body = http::page(title, message).replace("</body>", &format!("{form}</body>"));
    http::html(StatusCode::OK, body)
}
