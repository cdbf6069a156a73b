//! LTI Dynamic Registration 1.0: an LMS administrator pastes one URL into the LMS, and the LMS
//! and labgate exchange the rest themselves.
//!
//! 1. `labgate-admin lti link --client <id>` makes a one-time registration link for a tenant:
//!    `<ApiUrl>/lti/register?token=<secret>` (only the secret's digest is stored; it expires).
//! 2. The LMS opens it with `openid_configuration` (and usually `registration_token`) added.
//!    labgate answers a page that names the tenant and the platform, with one button: a `GET`
//!    registers nothing, so link previews and scanners cannot use the link up.
//! 3. The button posts the same values. labgate takes the link's lease (one registration at a
//!    time per link), reads the platform's OpenID configuration, checks it (its issuer is a
//!    prefix of the configuration's URL, every endpoint https), and posts labgate's client
//!    registration to the platform's `registration_endpoint`.
//! 4. The platform answers the `client_id` it gave labgate (and usually the deployment). One
//!    transaction uses up the link and writes the registration: a link registers once, and a
//!    registration never exists without its link used. If the platform fails, the lease is
//!    given back and the link can be used again.
//! 5. The page tells the LMS it is done (`postMessage` of `org.imsglobal.lti.close`).

use super::claims::AGS_SCOPE_SCORE;
use super::registration::{self, NewRegistration, Registration};
use super::{LtiError, login};
use crate::http::escape_html;
use crate::secrets::{self, Digest, Secret};
use crate::store::attr::{self, Item};
use crate::store::fields::{CLIENT_ID, CREATED_AT, EXPIRES_AT};
use crate::store::keys;
use crate::store::tx::{self, TxError, item};
use crate::store::write::Update;
use crate::store::{Store, StoreError};
use serde_json::{Value, json};
use std::time::Duration;

/// Where the LMS opens the link.
pub const REGISTER_PATH: &str = "/lti/register";
/// How long a registration link stays usable by default.
pub const DEFAULT_LINK_HOURS: i64 = 24;
/// How long one registration may hold the link (the platform's two calls, with their timeouts).
const LEASE: Duration = Duration::from_secs(60);
/// A platform's configuration or answer larger than this is refused.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// The platform configuration claim of the OpenID configuration.
pub const PLATFORM_CONFIGURATION: &str =
    "https://purl.imsglobal.org/spec/lti-platform-configuration";
/// The tool configuration claim of the registration.
pub const TOOL_CONFIGURATION: &str = "https://purl.imsglobal.org/spec/lti-tool-configuration";

/// Makes a one-time registration link for `tenant`, usable for `hours`; the secret in it.
pub async fn create_link(store: &Store, tenant: &str, hours: i64) -> Result<Secret, StoreError> {
    let secret = secrets::new_url_token();
    let now = crate::clock::now();
    let mut record = keys::lti_registration_link(secret.digest().as_str()).item();
    record.extend([
        (CLIENT_ID.to_string(), attr::s(tenant)),
        (CREATED_AT.to_string(), attr::n(now)),
        (EXPIRES_AT.to_string(), attr::n(now + hours.max(1) * 3600)),
    ]);
    crate::store::create(store, record, "PutItem LTI registration link").await?;
    Ok(secret)
}

/// The link `<api_url>/lti/register?token=<secret>`.
pub fn link_url(api_url: &str, secret: &Secret) -> String {
    format!(
        "{}{REGISTER_PATH}?token={}",
        api_url.trim_end_matches('/'),
        secret.expose()
    )
}

/// What the LMS adds to the link, and the link's own token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub token: String,
    pub openid_configuration: String,
    pub registration_token: Option<String>,
}

impl Request {
    pub fn from_params(
        params: &std::collections::HashMap<String, String>,
    ) -> Result<Self, LtiError> {
        let token = params
            .get("token")
            .filter(|t| secrets::is_url_token_shape(t))
            .ok_or_else(|| LtiError::bad(USED))?
            .clone();
        let openid_configuration = params
            .get("openid_configuration")
            .filter(|u| u.len() <= 2048)
            .ok_or_else(|| {
                LtiError::bad(
                    "The LMS did not send its configuration (openid_configuration): paste this link into the LMS's dynamic registration, not a browser.",
                )
            })?
            .clone();
        let registration_token = params
            .get("registration_token")
            .filter(|t| !t.is_empty())
            .cloned();
        if registration_token
            .as_ref()
            .is_some_and(|t| t.len() > 8 * 1024)
        {
            return Err(LtiError::bad(
                "The LMS's registration token is longer than 8 KiB.",
            ));
        }
        Ok(Request {
            token,
            openid_configuration,
            registration_token,
        })
    }

    /// The configuration's URL, if labgate may read it: https (http only on this machine, for
    /// tests and local platforms), and not a private address unless `allow_private`.
    pub fn configuration_url(&self, allow_private: bool) -> Result<url::Url, LtiError> {
        let url = registration::secure_url(&self.openid_configuration)
            .map_err(|e| LtiError::bad(format!("The LMS's configuration URL is not {e}.")))?;
        public(&url, allow_private)?;
        Ok(url)
    }

    fn digest(&self) -> Digest {
        Digest::of(&self.token)
    }
}

const USED: &str = "This registration link was already used, has expired, or is not labgate's: ask for a new one (labgate-admin lti link).";

/// The tenant a link is for, if it is unused and unexpired (consistent read).
pub async fn tenant_of(store: &Store, request: &Request) -> Result<String, LtiError> {
    let key = keys::lti_registration_link(request.digest().as_str());
    let found = crate::store::get(store, &key, "GetItem LTI registration link").await?;
    let now = crate::clock::now();
    found
        .filter(|r| crate::store::conditions::is_current(r, now))
        .map(|r| attr::get_s(&r, CLIENT_ID))
        .transpose()?
        .ok_or_else(|| LtiError::bad(USED))
}

/// The page the link opens: what it will do, and the button that does it.
pub fn confirm_page(request: &Request, tenant_name: &str) -> String {
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape_html(value)
        )
    };
    let fields = [
        hidden("token", &request.token),
        hidden("openid_configuration", &request.openid_configuration),
        request
            .registration_token
            .as_deref()
            .map(|t| hidden("registration_token", t))
            .unwrap_or_default(),
    ]
    .concat();
    page(
        "Register labgate",
        &format!(
            "<p>This registers labgate with the LMS at <code>{lms}</code>, for the labgate account \
             <strong>{tenant}</strong>: its courses can then launch that account's labs.</p>\
             <form method=\"post\" action=\"{REGISTER_PATH}\">{fields}<button type=\"submit\">Register</button></form>",
            lms = escape_html(&request.openid_configuration),
            tenant = escape_html(tenant_name),
        ),
    )
}

/// The page that ends the registration: it tells the LMS to close its frame or window.
pub fn done_page(registration: &Registration) -> String {
    page(
        "labgate is registered",
        &format!(
            "<p>labgate is registered with <code>{issuer}</code> (client_id <code>{client_id}</code>). \
             You can close this window.</p>\
             <script>(window.opener || window.parent).postMessage({{subject: \"org.imsglobal.lti.close\"}}, \"*\");</script>",
            issuer = escape_html(&registration.issuer),
            client_id = escape_html(&registration.client_id),
        ),
    )
}

fn page(title: &str, body: &str) -> String {
    crate::http::html_page(title, &format!("<h1>{}</h1>{body}", escape_html(title)))
}

/// The platform as its OpenID configuration describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformConfiguration {
    pub issuer: String,
    pub auth_url: String,
    pub token_url: String,
    pub jwks_url: String,
    pub registration_url: String,
}

/// Checks the platform's OpenID configuration (Dynamic Registration 1.0, section 3.5): its
/// issuer is a prefix of the URL it was read from; the endpoints labgate uses are https; it
/// signs id_tokens with RS256 where it says what it signs with.
pub fn check_configuration(
    read_from: &str,
    config: &Value,
) -> Result<PlatformConfiguration, LtiError> {
    let field = |name: &str| {
        config
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| LtiError::bad(format!("The LMS's configuration has no {name}.")))
    };
    let issuer = field("issuer")?;
    if !issuer_covers(&issuer, read_from) {
        return Err(LtiError::bad(
            "The LMS's configuration names an issuer that is not where it was read from.",
        ));
    }
    let checked = PlatformConfiguration {
        issuer,
        auth_url: field("authorization_endpoint")?,
        token_url: field("token_endpoint")?,
        jwks_url: field("jwks_uri")?,
        registration_url: field("registration_endpoint")?,
    };
    for url in [
        &checked.issuer,
        &checked.auth_url,
        &checked.token_url,
        &checked.jwks_url,
        &checked.registration_url,
    ] {
        registration::secure_url(url)
            .map_err(|e| LtiError::bad(format!("The LMS's configuration: {url:?} is not {e}.")))?;
    }
    let algorithms = config.get("id_token_signing_alg_values_supported");
    if algorithms
        .and_then(Value::as_array)
        .is_some_and(|algs| !algs.iter().any(|a| a.as_str() == Some("RS256")))
    {
        return Err(LtiError::bad("The LMS does not sign id_tokens with RS256."));
    }
    Ok(checked)
}

/// Whether the configuration read from `read_from` may speak for `issuer`: the same scheme,
/// host and port, and the issuer's path a prefix of its path on a segment boundary (so that
/// `https://lms.example.edu` does not cover `https://lms.example.edu.evil.net/…`).
fn issuer_covers(issuer: &str, read_from: &str) -> bool {
    let (Ok(issuer), Ok(read_from)) = (url::Url::parse(issuer), url::Url::parse(read_from)) else {
        return false;
    };
    let base = issuer.path().trim_end_matches('/');
    let path = read_from.path();
    issuer.origin() == read_from.origin()
        && issuer.query().is_none()
        && (base.is_empty() || path == base || path.starts_with(&format!("{base}/")))
}

/// labgate's client registration (Dynamic Registration 1.0, section 3.3), for `api_url`.
pub fn client_registration(api_url: &str, tenant_name: &str) -> Value {
    let api_url = api_url.trim_end_matches('/');
    let launch = format!("{api_url}{}", login::LAUNCH_PATH);
    let host = url::Url::parse(api_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    json!({
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": format!("{api_url}{}", login::LOGIN_PATH),
        "redirect_uris": [launch],
        "client_name": format!("labgate ({tenant_name})"),
        "jwks_uri": format!("{api_url}/.well-known/jwks.json"),
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": AGS_SCOPE_SCORE,
        TOOL_CONFIGURATION: {
            "domain": host,
            "target_link_uri": launch,
            "description": "Hands-on labs",
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": [
                {"type": "LtiResourceLinkRequest", "target_link_uri": launch},
                {"type": "LtiDeepLinkingRequest", "target_link_uri": launch, "label": "labgate lab"},
            ],
        },
    })
}

/// The HTTP client for the platform's configuration and registration endpoint: public
/// addresses only unless `allow_private` (tests, local), no redirects.
pub fn http_client(allow_private: bool) -> Result<reqwest::Client, reqwest::Error> {
    let timeout = Duration::from_secs(10);
    crate::net::third_party_client(timeout, timeout, allow_private)
}

/// Registers labgate with the platform for the link's tenant: the whole exchange (section 3).
pub async fn complete(
    store: &Store,
    http: &reqwest::Client,
    allow_private: bool,
    request: &Request,
    (api_url, tenant_name): (&str, &str),
) -> Result<Registration, LtiError> {
    let link = keys::lti_registration_link(request.digest().as_str());
    let holder = uuid::Uuid::new_v4().to_string();
    let tenant = lease(store, &link, &holder).await?;
    let exchanged = exchange(
        http,
        allow_private,
        request,
        &tenant,
        (api_url, tenant_name),
    )
    .await;
    let registration = match exchanged {
        Ok(registration) => registration,
        Err(e) => {
            release(store, &link, &holder).await?;
            return Err(e);
        }
    };
    let values = Item::from([
        (":holder".to_string(), attr::s(&holder)),
        (":now".to_string(), attr::n(crate::clock::now())),
    ]);
    // A dynamic registration only ever creates: it never replaces a registration, the
    // tenant's own included (a platform gives each registration a client_id of its own).
    let items = vec![
        item::delete(
            store.table(),
            &link,
            Some(("holder = :holder AND expires_at > :now", values)),
        )?,
        item::put(
            store.table(),
            registration.to_item(),
            Some(crate::store::conditions::ABSENT),
        )?,
    ];
    match tx::transact(store, "TransactWriteItems LTI dynamic registration", items).await {
        Ok(()) => Ok(registration),
        Err(TxError::Condition { index: 0 }) => Err(LtiError::bad(USED)),
        Err(TxError::Condition { .. }) => {
            release(store, &link, &holder).await?;
            Err(LtiError::bad(
                "labgate already has a registration for this LMS and client_id: remove it first, or register again from the LMS for a new client_id.",
            ))
        }
        Err(TxError::Store(e)) => Err(e.into()),
    }
}

/// Takes the link for one registration: unused, unexpired, and not held by another; its tenant.
async fn lease(store: &Store, link: &keys::Key, holder: &str) -> Result<String, LtiError> {
    let now = crate::clock::now();
    let now_ms = crate::clock::now_millis();
    let change = Update {
        expression: "SET holder = :holder, lease_until = :until",
        values: Item::from([
            (":holder".to_string(), attr::s(holder)),
            (
                ":until".to_string(),
                attr::n(now_ms + LEASE.as_millis() as i64),
            ),
            (":now".to_string(), attr::n(now)),
            (":now_ms".to_string(), attr::n(now_ms)),
        ]),
        names: &[],
        condition: "attribute_exists(pk) AND expires_at > :now AND \
                    (attribute_not_exists(holder) OR lease_until < :now_ms)",
    };
    let taken =
        crate::store::write::update(store, link, change, "UpdateItem LTI registration link")
            .await?
            .ok_or_else(|| LtiError::bad(USED))?;
    Ok(attr::get_s(&taken, CLIENT_ID)?)
}

async fn release(store: &Store, link: &keys::Key, holder: &str) -> Result<(), StoreError> {
    let change = Update {
        expression: "REMOVE holder, lease_until",
        values: Item::from([(":holder".to_string(), attr::s(holder))]),
        names: &[],
        condition: "holder = :holder",
    };
    crate::store::write::update(store, link, change, "UpdateItem LTI registration link").await?;
    Ok(())
}

/// The platform's two calls: its configuration, then labgate's registration.
async fn exchange(
    http: &reqwest::Client,
    allow_private: bool,
    request: &Request,
    tenant: &str,
    (api_url, tenant_name): (&str, &str),
) -> Result<Registration, LtiError> {
    let config_url = registration::secure_url(&request.openid_configuration)
        .map_err(|e| LtiError::bad(format!("The LMS's configuration URL is not {e}.")))?;
    let config = fetch(allow_private, http.get(config_url.clone()), &config_url).await?;
    let platform = check_configuration(config_url.as_str(), &config)?;
    let registration_url = url::Url::parse(&platform.registration_url)
        .map_err(|_| LtiError::bad("The LMS's registration endpoint is not a URL."))?;
    let mut post = http
        .post(registration_url.clone())
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(client_registration(api_url, tenant_name).to_string());
    if let Some(token) = &request.registration_token {
        post = post.bearer_auth(token);
    }
    let answer = fetch(allow_private, post, &registration_url).await?;
    let client_id = answer
        .get("client_id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            LtiError::Platform("The LMS's registration answer has no client_id.".into())
        })?;
    let deployments: Vec<String> = answer
        .get(TOOL_CONFIGURATION)
        .and_then(|c| c.get("deployment_id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .into_iter()
        .collect();
    let new = NewRegistration {
        issuer: &platform.issuer,
        client_id,
        tenant,
        deployments: &deployments,
        auth_url: &platform.auth_url,
        token_url: &platform.token_url,
        jwks_url: &platform.jwks_url,
    };
    registration::prepared(&new)
        .map_err(|e| LtiError::Platform(format!("The LMS's registration: {e}")))
}

/// IP literals skip the resolver (which refuses private addresses): they are judged here.
fn public(url: &url::Url, allow_private: bool) -> Result<(), LtiError> {
    if allow_private || crate::net::is_public_host(url) {
        Ok(())
    } else {
        Err(LtiError::bad("The LMS's URLs must be public addresses."))
    }
}

/// One call to the platform, answered with a JSON object.
async fn fetch(
    allow_private: bool,
    request: reqwest::RequestBuilder,
    url: &url::Url,
) -> Result<Value, LtiError> {
    public(url, allow_private)?;
    let failed =
        |what: String| LtiError::Platform(format!("The LMS could not be reached: {what}."));
    let response = request
        .send()
        .await
        .map_err(|e| failed(crate::net::describe(&e).into()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(format!("HTTP {}", status.as_u16())));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| failed(crate::net::describe(&e).into()))?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(failed("its answer is too large".into()));
    }
    serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| failed("its answer is not a JSON object".into()))
}
