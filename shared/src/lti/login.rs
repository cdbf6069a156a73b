//! OIDC third-party login initiation (IMS Security Framework 5.1.1): the platform sends the
//! browser here; labgate answers with the platform's authorization request, a fresh `state`
//! and `nonce`, and a cookie binding both to this browser (`SameSite=None; Secure;
//! Partitioned`: the launch comes back as a cross-site form post, often into the LMS's frame).
//!
//! The cookie's value is signed with the master key ring (HMAC-SHA256 over the state, the
//! nonce, the registration and the tenant, with an expiry), so that no one can write a usable
//! state cookie into a browser, not even a page on a sibling host that may set cookies for the
//! parent domain (a lab's dashboard): a login CSRF would need one.

use super::LtiError;
use super::registration::Registration;
use crate::config::Domain;
use crate::master_key::KeyRing;
use crate::secrets;
use cookie::{Cookie, SameSite, time::Duration};

/// The state cookie's name is this prefix and the state: several launches can be under way in
/// one browser (tabs), each with its own.
pub const STATE_COOKIE_PREFIX: &str = "labgate_lti_";
/// How long a login may take to come back as a launch.
pub const STATE_MAX_AGE_SECS: i64 = 600;
/// The purpose the state cookie's tag is made for (`KeyRing::tag`).
const STATE_TAG: &str = "labgate-lti-state";
/// The path the state cookie is sent to: the launch only.
pub const LAUNCH_PATH: &str = "/lti/launch";
/// Where platforms start a login (OIDC third-party login initiation).
pub const LOGIN_PATH: &str = "/lti/login";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    pub issuer: String,
    pub login_hint: String,
    pub target_link_uri: String,
    pub lti_message_hint: Option<String>,
    pub deployment_id: Option<String>,
    pub client_id: Option<String>,
    /// The platform's storage frame (`lti_storage_target`), when it offers platform storage.
    pub storage_target: Option<String>,
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
            storage_target: super::platform_storage::target(get("lti_storage_target").as_deref()),
        })
    }
}

/// Where the browser goes next, and the state cookie it takes along.
#[derive(Debug)]
pub struct Redirect {
    pub location: String,
    pub set_cookie: String,
    /// The login's state, and the cookie's value (what platform storage keeps instead).
    pub state: String,
    pub value: String,
}

/// The platform's authorization request for a login (Security Framework 5.1.1.2), once the
/// target is checked to be labgate's own and the deployment known.
pub fn redirect(
    registration: &Registration,
    login: &LoginRequest,
    domain: &Domain,
    (keys, now): (&KeyRing, i64),
) -> Result<Redirect, LtiError> {
    if domain.api_url.is_empty() {
        return Err(LtiError::bad("Missing or invalid Host header."));
    }
    // The target is where the launch will go: one of labgate's own URLs, never elsewhere.
    if !is_ours(&login.target_link_uri, &domain.api_url) {
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
    // The nonce and the tenant, bound to this browser by the state and signed: the launch reads
    // the tenant's items with the registration in one round trip, and checks it is the same one.
    let bound = Bound {
        nonce: nonce.expose().to_string(),
        tenant: registration.tenant.clone(),
        expires_at: now + STATE_MAX_AGE_SECS,
    };
    let mac = keys.tag(STATE_TAG, &bound.message(state.expose(), registration));
    let value = format!(
        "{}.{}.{}.{mac}",
        bound.nonce, bound.tenant, bound.expires_at
    );
    let cookie = Cookie::build((
        format!("{STATE_COOKIE_PREFIX}{}", state.expose()),
        value.clone(),
    ))
    .http_only(true)
    .secure(true)
    .same_site(SameSite::None)
    .partitioned(true)
    .path(LAUNCH_PATH)
    .max_age(Duration::seconds(STATE_MAX_AGE_SECS))
    .build();
    Ok(Redirect {
        location: url.to_string(),
        set_cookie: cookie.to_string(),
        state: state.expose().to_string(),
        value,
    })
}

/// Whether `url` is under labgate's API URL: same scheme, host and port (compared as URLs,
/// so case and a default port do not matter), and a path below it.
fn is_ours(url: &str, api_url: &str) -> bool {
    let (Ok(url), Ok(api)) = (url::Url::parse(url), url::Url::parse(api_url)) else {
        return false;
    };
    url.origin() == api.origin() && url.path().starts_with(api.path().trim_end_matches('/'))
}

/// What a state cookie binds: the login's nonce and the tenant, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub nonce: String,
    pub tenant: String,
    pub expires_at: i64,
}

impl Bound {
    /// What the cookie's tag covers: the state, the nonce, the registration, the tenant, the
    /// expiry.
    fn message(&self, state: &str, registration: &Registration) -> String {
        format!(
            "{state}\n{}\n{}\n{}\n{}\n{}",
            self.nonce, registration.issuer, registration.client_id, self.tenant, self.expires_at
        )
    }
}

/// The cookie a launch's `state` names, read without trusting it: enough to read the tenant's
/// items; `verify` then checks it against the registration the id_token names.
pub struct StateCookie {
    state: String,
    bound: Bound,
    mac: String,
}

impl StateCookie {
    pub fn tenant(&self) -> &str {
        &self.bound.tenant
    }

    /// The nonce and tenant, if a key of the ring signed this cookie for this registration and
    /// it has not expired.
    pub fn verify(&self, keys: &KeyRing, registration: &Registration, now: i64) -> Option<&Bound> {
        if self.bound.expires_at <= now || registration.tenant != self.bound.tenant {
            return None;
        }
        let message = self.bound.message(&self.state, registration);
        keys.verify_tag(STATE_TAG, &message, &self.mac)
            .then_some(&self.bound)
    }
}

/// The state cookie for a launch's `state`, from the browser's cookies; `None` unless it has
/// the shape labgate writes (so that no key is built from junk).
pub fn state_of<'a>(cookies: impl Iterator<Item = &'a str>, state: &str) -> Option<StateCookie> {
    if !secrets::is_url_token_shape(state) {
        return None;
    }
    let name = format!("{STATE_COOKIE_PREFIX}{state}");
    let value = crate::http::cookies::session_cookie_in(cookies, &name)?;
    parse_state(state, &value)
}

/// A state cookie's value for `state`, wherever it came from (the cookie, or platform storage:
/// `lti::platform_storage`); `None` unless it has the shape labgate writes.
pub fn parse_state(state: &str, value: &str) -> Option<StateCookie> {
    if !secrets::is_url_token_shape(state) || value.len() > 512 {
        return None;
    }
    let mut parts = value.split('.');
    let (nonce, tenant, expires_at, mac) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let client_id_shape = tenant.len() == 32 && tenant.bytes().all(|b| b.is_ascii_hexdigit());
    let shaped = parts.next().is_none()
        && secrets::is_url_token_shape(nonce)
        && secrets::is_url_token_shape(mac)
        && client_id_shape;
    let expires_at = expires_at.parse::<i64>().ok().filter(|_| shaped)?;
    Some(StateCookie {
        state: state.to_string(),
        bound: Bound {
            nonce: nonce.to_string(),
            tenant: tenant.to_string(),
            expires_at,
        },
        mac: mac.to_string(),
    })
}

/// The `Set-Cookie` that removes a used state cookie.
pub fn clear_state(state: &str) -> String {
    Cookie::build((format!("{STATE_COOKIE_PREFIX}{state}"), ""))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::None)
        .partitioned(true)
        .path(LAUNCH_PATH)
        .max_age(Duration::ZERO)
        .build()
        .to_string()
}
