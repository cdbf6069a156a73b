//! HTTP plumbing shared by every function: reading requests, building responses.

pub mod auth;
pub mod cookies;
pub mod cors;
pub mod error;

pub use error::{ApiError, Context, ErrorResponse};

use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use std::future::Future;

pub const REFERRER_POLICY: HeaderName = HeaderName::from_static("referrer-policy");

/// Runs a handler body and turns its error into its error response (`ErrorResponse`); never
/// fails the runtime. Every handler runs through here.
pub async fn respond<F, Fut, E>(
    req: Request,
    handler: F,
) -> Result<Response<Body>, lambda_http::Error>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, E>>,
    E: ErrorResponse,
{
    let request_id = request_id(&req);
    let response = match handler(req).await {
        Ok(response) => response,
        Err(err) => err.into_response(&request_id),
    };
    Ok(response)
}

/// The Lambda request id (also in every log line); a fresh id where there is none (tests).
pub fn request_id(req: &Request) -> String {
    req.lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The first value of a query parameter, decoded. Read from the URI so that API Gateway, the
/// local server and the tests all agree.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    query_values(req.uri().query()?, name).into_iter().next()
}

/// Every value of a parameter in a query string (or form body), decoded, in order.
pub fn query_values(query: &str, name: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// A form body as a map; `Err(name)` names the first parameter given twice.
pub fn unique_form(body: &[u8]) -> Result<std::collections::HashMap<String, String>, String> {
    let mut params = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if params.contains_key(k.as_ref()) {
            return Err(k.into_owned());
        }
        params.insert(k.into_owned(), v.into_owned());
    }
    Ok(params)
}

/// A request body that must be a JSON object of type `T`, at most 64 KiB; each problem is a
/// 400 that says what is wrong (and where: `Invalid \`field\`: ...`).
pub fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_JSON_BODY_BYTES {
        return Err(ApiError::bad_request("Request body is larger than 64 KiB."));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}.")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("Request body must be a JSON object."));
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::bad_request(format!("Invalid `{}`: {}.", e.path(), e.inner())))
}

/// The largest JSON body an API request may have.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    // Serializing our own response types cannot fail; fall back to an empty object regardless.
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string());
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    no_store(response.headers_mut());
    response
}

pub fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    no_store(response.headers_mut());
    response
}

pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    no_store(response.headers_mut());
    response
}

/// The answer to `HEAD` on a one-time link: 200 with the page's headers, and the link unused
/// (mail scanners and link previews prefetch with `HEAD`).
pub fn head_of_link() -> Response<Body> {
    let mut response = empty(StatusCode::OK);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The page for a one-time link that cannot be used (unknown, used, expired, altered): 400.
pub fn link_page(title: &str, message: &str) -> Response<Body> {
    html(StatusCode::BAD_REQUEST, page(title, message))
}

/// The domain a request came to (its `Host`, if it is one of ours; else the default API domain).
pub fn domain(config: &crate::config::Config, req: &Request) -> crate::config::Domain {
    config.domain_for_host(header(req, lambda_http::http::header::HOST.as_str()))
}

/// Responses that carry or consume a secret are never cached and never leak their URL onward.
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

/// Escapes text for an HTML page.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page around `body` (HTML, as given) that LTI's pages share: the title (escaped), the
/// viewport, one narrow column.
pub fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body style=\"font-family: sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem\">\
         {body}</body></html>\n",
        title = escape_html(title),
    )
}

/// A short, self-contained HTML page for people who follow a link in a browser.
pub fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body style=\"font-family: sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem\">\
         <h1>{title}</h1><p>{message}</p></body></html>\n",
        title = escape_html(title),
        message = escape_html(message),
    )
}
