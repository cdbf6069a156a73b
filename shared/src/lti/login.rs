//! OIDC third-party login initiation (IMS Security Framework 5.1.1): the platform sends the
//! browser here; labgate answers with the platform's authorization request, a fresh `state`
//! and `nonce`, and a cookie binding both to this browser (`SameSite=None; Secure`: the launch
//! comes back as a cross-site form post).

use super::LtiError;
use super::registration::Registration;
use crate::config::Domain;
use crate::secrets;
use cookie::{Cookie, SameSite, time::Duration};

/// The state cookie's name is this prefix and the state: several launches can be under way in
/// one browser (tabs), each with its own.
pub const STATE_COOKIE_PREFIX: &str = "labgate_lti_";
/// How long a login may take to come back as a launch.
pub const STATE_MAX_AGE_SECS: i64 = 600;
/// The path the state cookie is sent to: the launch only.
pub const LAUNCH_PATH: &str = "/lti/launch";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    pub issuer: String,
    pub login_hint: String,
    pub target_link_uri: String,
    pub lti_message_hint: Option<String>,
    pub deployment_id: Option<String>,
    pub client_id: Option<String>,
}

impl LoginRequest {
    /// From the query (GET) or form (POST) parameters, by name.
    pub fn parse(param: impl Fn(&str) -> Option<String>) -> Result<Self, LtiError> {
        let get = |name: &str| param(name).filter(|v| !v.is_empty());
        let required = |name: &str| {
            get(name).ok_or_else(|| LtiError::bad(format!("The login request has no {name}.")))
        };
        Ok(LoginRequest {
            issuer: required("iss")?,
            login_hint: required("login_hint")?,
            target_link_uri: required("target_link_uri")?,
            lti_message_hint: get("lti_message_hint"),
            deployment_id: get("lti_deployment_id"),
            client_id: get("client_id"),
        })
    }
}

/// Where the browser goes next, and the state cookie it takes along.
#[derive(Debug)]
pub struct Redirect {
    pub location: String,
    pub set_cookie: String,
}

/// The platform's authorization request for a login (Security Framework 5.1.1.2), once the
/// target is checked to be labgate's own and the deployment known.
pub fn redirect(
    registration: &Registration,
    login: &LoginRequest,
    domain: &Domain,
) -> Result<Redirect, LtiError> {
    if domain.api_url.is_empty() {
        return Err(LtiError::bad("Missing or invalid Host header."));
    }
    // The target is where the launch will go: one of labgate's own URLs, never elsewhere.
    if !login
        .target_link_uri
        .starts_with(&format!("{}/", domain.api_url))
    {
        return Err(LtiError::bad("The target_link_uri is not a labgate URL."));
    }
    if let Some(deployment) = &login.deployment_id
        && !registration.knows_deployment(deployment)
    {
        return Err(LtiError::bad(format!(
            "Deployment {deployment:?} is not registered with labgate."
        )));
    }
    let state = secrets::new_url_token();
    let nonce = secrets::new_url_token();
    let mut url = url::Url::parse(&registration.auth_url)
        .map_err(|_| LtiError::bad("The registration's auth URL is not a URL."))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("scope", "openid")
            .append_pair("response_type", "id_token")
            .append_pair("response_mode", "form_post")
            .append_pair("prompt", "none")
            .append_pair("client_id", &registration.client_id)
            .append_pair("redirect_uri", &format!("{}{LAUNCH_PATH}", domain.api_url))
            .append_pair("login_hint", &login.login_hint)
            .append_pair("state", state.expose())
            .append_pair("nonce", nonce.expose());
        if let Some(hint) = &login.lti_message_hint {
            query.append_pair("lti_message_hint", hint);
        }
    }
    // The nonce and the tenant, bound to this browser by the state: the launch reads the tenant's
    // items with the registration in one round trip, and checks the registration names it.
    let value = format!("{}.{}", nonce.expose(), registration.tenant);
    let cookie = Cookie::build((format!("{STATE_COOKIE_PREFIX}{}", state.expose()), value))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::None)
        .path(LAUNCH_PATH)
        .max_age(Duration::seconds(STATE_MAX_AGE_SECS))
        .build();
    Ok(Redirect {
        location: url.to_string(),
        set_cookie: cookie.to_string(),
    })
}

/// The nonce and tenant a launch's `state` stands for, from the browser's cookies.
pub fn state_of<'a>(
    cookies: impl Iterator<Item = &'a str>,
    state: &str,
) -> Option<(String, String)> {
    if !secrets::is_url_token_shape(state) {
        return None;
    }
    let name = format!("{STATE_COOKIE_PREFIX}{state}");
    let value = crate::http::cookies::session_cookie_in(cookies, &name)?;
    let (nonce, tenant) = value.split_once('.')?;
    // Both ours: a URL token and a client id (32 hex digits), so no key is built from junk.
    let client_id_shape = tenant.len() == 32 && tenant.bytes().all(|b| b.is_ascii_hexdigit());
    (secrets::is_url_token_shape(nonce) && client_id_shape)
        .then(|| (nonce.to_string(), tenant.to_string()))
}

/// The `Set-Cookie` that removes a used state cookie.
pub fn clear_state(state: &str) -> String {
    Cookie::build((format!("{STATE_COOKIE_PREFIX}{state}"), ""))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::None)
        .path(LAUNCH_PATH)
        .max_age(Duration::ZERO)
        .build()
        .to_string()
}
