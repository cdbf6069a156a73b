//! A minimal LTI 1.3 platform for the tests: its RSA keys (tests/fixtures/lti), a JWKS served on
//! a loopback port (counting fetches), the id_tokens it signs for a launch, a token endpoint
//! (client credentials with a JWT client assertion, checked against the tool's key) and a
//! line item score receiver (AGS).

use crate::{API_HOST, TestEnv, TestResponse, invoke, request};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use labgate::handlers;
use labgate::lti::claims::*;
use labgate::lti::tool_keys::ToolKey;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const ISSUER: &str = "https://lms.example.edu";
pub const CLIENT_ID: &str = "labgate-tool-7";
pub const DEPLOYMENT: &str = "1:deployment-a";
pub const AUTH_URL: &str = "https://lms.example.edu/api/lti/authorize_redirect";
pub const TOKEN_URL: &str = "https://lms.example.edu/login/oauth2/token";
pub const INSTRUCTOR: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";
pub const LEARNER: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";

/// A test key (PKCS#1 DER, base64) from tests/fixtures/lti.
pub fn fixture_key(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lti")
        .join(format!("{name}.der.b64"));
    std::fs::read_to_string(path).unwrap()
}

/// An env whose key ring holds the tool key `t1`, with a platform registered for its client
/// (its JWKS, token endpoint and line items over loopback http:
/// `LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS`).
pub async fn tool_env() -> (TestEnv, Platform) {
    let ring = json!({
        "id": "default",
        "key": crate::SIGNING_KEY,
        "lti": [{"kid": "t1", "der": fixture_key("tool-1")}],
    })
    .to_string();
    let env = TestEnv::with_config(&[
        ("LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS", "true"),
        ("LABGATE_SIGNING_KEY", &ring),
    ])
    .await;
    let platform = Platform::start().await;
    platform.register(&env).await;
    env.round_trips.reset();
    (env, platform)
}

pub struct Platform {
    pub jwks_url: String,
    /// Its OAuth 2 token endpoint (client credentials with a JWT client assertion).
    pub token_url: String,
    /// Where its line items live: `{base}/lineitems/<n>/lineitem?type_id=3`.
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
    fetches: Arc<AtomicUsize>,
}

/// A score the platform received.
#[derive(Debug, Clone)]
pub struct ReceivedScore {
    /// Path and query it was posted to.
    pub target: String,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A token request the platform received, and what it made of it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub form: std::collections::HashMap<String, String>,
    /// The client assertion's claims, if it verified against the tool's published key.
    pub assertion: Option<Value>,
    pub granted: Option<String>,
}

#[derive(Default)]
struct Shared {
    /// The keys it publishes, by kid.
    published: Vec<ToolKey>,
    /// The tool's keys it trusts for client assertions.
    tool_keys: Vec<ToolKey>,
    token_requests: Vec<TokenRequest>,
    /// Access tokens it honours.
    tokens: Vec<String>,
    scores: Vec<ReceivedScore>,
    /// Statuses the score endpoint answers first (then 200).
    score_statuses: std::collections::VecDeque<u16>,
    /// Statuses the token endpoint answers first (then it grants).
    token_statuses: std::collections::VecDeque<u16>,
    /// Dynamic registrations received: the authorization header and the body.
    registrations: Vec<(Option<String>, Value)>,
    /// Statuses the registration endpoint answers first (then it registers).
    registration_statuses: std::collections::VecDeque<u16>,
    /// Whether a registration's answer names its deployment.
    names_no_deployment: bool,
}

impl Platform {
    /// Publishes `platform-1` as kid `p1`, and trusts the tool's key `t1` (`tool-1`).
    pub async fn start() -> Platform {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let jwks_url = format!("{base_url}/jwks");
        let token_url = format!("{base_url}/token");
        let shared = Arc::new(Mutex::new(Shared {
            published: vec![key("p1", "platform-1")],
            tool_keys: vec![key("t1", "tool-1")],
            ..Shared::default()
        }));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (state, count, audience) = (shared.clone(), fetches.clone(), base_url.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, count, audience) = (state.clone(), count.clone(), audience.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<Incoming>| {
                        let (state, count, audience) =
                            (state.clone(), count.clone(), audience.clone());
                        async move {
                            let (status, body) = serve(req, &state, &count, &audience).await;
                            Ok::<_, hyper::Error>(
                                hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Platform {
            jwks_url,
            token_url,
            base_url,
            shared,
            fetches,
        }
    }

    /// A line item of this platform.
    pub fn lineitem(&self, n: u32) -> String {
        format!("{}/lineitems/{n}/lineitem?type_id=3", self.base_url)
    }

    /// The scores it received, in the order they arrived.
    pub fn scores(&self) -> Vec<ReceivedScore> {
        self.shared.lock().unwrap().scores.clone()
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.lock().unwrap().token_requests.clone()
    }

    /// The score endpoint answers these statuses first.
    pub fn answer_scores_with(&self, statuses: &[u16]) {
        self.shared.lock().unwrap().score_statuses = statuses.iter().copied().collect();
    }

    /// The token endpoint answers these statuses first.
    pub fn answer_tokens_with(&self, statuses: &[u16]) {
        self.shared.lock().unwrap().token_statuses = statuses.iter().copied().collect();
    }

    /// Where it serves its OpenID configuration.
    pub fn openid_configuration_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.base_url)
    }

    /// The dynamic registrations it received: the authorization header and the body.
    pub fn registrations(&self) -> Vec<(Option<String>, Value)> {
        self.shared.lock().unwrap().registrations.clone()
    }

    /// The registration endpoint answers these statuses first.
    pub fn answer_registrations_with(&self, statuses: &[u16]) {
        self.shared.lock().unwrap().registration_statuses = statuses.iter().copied().collect();
    }

    /// Its registration answers name no deployment.
    pub fn name_no_deployment(&self) {
        self.shared.lock().unwrap().names_no_deployment = true;
    }

    /// Every access token it gave stops being honoured (as when they expire).
    pub fn revoke_tokens(&self) {
        self.shared.lock().unwrap().tokens.clear();
    }

    /// The tool keys it trusts for client assertions are now these (kid, fixture) pairs.
    pub fn trust_tool_keys(&self, keys: &[(&str, &str)]) {
        self.shared.lock().unwrap().tool_keys =
            keys.iter().map(|(kid, name)| key(kid, name)).collect();
    }

    /// Its keys are now these (kid, fixture) pairs.
    pub fn publish(&self, keys: &[(&str, &str)]) {
        self.shared.lock().unwrap().published =
            keys.iter().map(|(kid, name)| key(kid, name)).collect();
    }

    /// How many times its JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Registers it for the env's client (`labgate-admin lti register`).
    pub async fn register(&self, env: &crate::TestEnv) {
        let deployments = [DEPLOYMENT.to_string()];
        let new = labgate::lti::registration::NewRegistration {
            issuer: ISSUER,
            client_id: CLIENT_ID,
            tenant: &env.client.id,
            deployments: &deployments,
            auth_url: AUTH_URL,
            token_url: &self.token_url,
            jwks_url: &self.jwks_url,
        };
        labgate::lti::registration::register(env.store(), &new)
            .await
            .unwrap();
    }
}

/// One request to the platform: its JWKS, its token endpoint, or a line item's scores.
async fn serve(
    req: hyper::Request<Incoming>,
    state: &Mutex<Shared>,
    fetches: &AtomicUsize,
    base_url: &str,
) -> (u16, String) {
    let token_url = format!("{base_url}/token");
    use http_body_util::BodyExt;
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (content_type, authorization) = (header("content-type"), header("authorization"));
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    if path == "/jwks" {
        fetches.fetch_add(1, Ordering::SeqCst);
        let set = labgate::lti::tool_keys::jwks(&state.lock().unwrap().published);
        return (200, set.to_string());
    }
    if path == "/token" {
        return token(&body, state, &token_url);
    }
    if path == "/.well-known/openid-configuration" {
        return (200, openid_configuration(base_url).to_string());
    }
    if path == "/register" {
        let mut shared = state.lock().unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        shared.registrations.push((authorization.clone(), body));
        if let Some(status) = shared.registration_statuses.pop_front() {
            return (status, json!({"error": "server_error"}).to_string());
        }
        if authorization.as_deref() != Some(&format!("Bearer {REGISTRATION_TOKEN}")) {
            return (401, json!({"error": "invalid_token"}).to_string());
        }
        let n = shared.registrations.len();
        let mut tool = json!({"domain": "labgate.example.com"});
        if !shared.names_no_deployment {
            tool["deployment_id"] = json!(format!("dyn-deployment-{n}"));
        }
        let answer = json!({
            "client_id": format!("dyn-client-{n}"),
            "application_type": "web",
            labgate::lti::dynamic_registration::TOOL_CONFIGURATION: tool,
        });
        return (200, answer.to_string());
    }
    if path.ends_with("/scores") {
        let mut shared = state.lock().unwrap();
        let honoured = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| shared.tokens.iter().any(|held| held == t));
        let status = match shared.score_statuses.pop_front() {
            Some(status) => status,
            None if !honoured => 401,
            None => 200,
        };
        shared.scores.push(ReceivedScore {
            target,
            content_type,
            authorization,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        return (status, String::new());
    }
    (404, String::new())
}

/// The registration token the platform adds to a dynamic registration link, and honours.
pub const REGISTRATION_TOKEN: &str = "platform-registration-token-1";

/// The platform's OpenID configuration (Dynamic Registration 1.0, section 3.4).
pub fn openid_configuration(base_url: &str) -> Value {
    json!({
        "issuer": base_url,
        "authorization_endpoint": format!("{base_url}/authorize"),
        "token_endpoint": format!("{base_url}/token"),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "jwks_uri": format!("{base_url}/jwks"),
        "registration_endpoint": format!("{base_url}/register"),
        "scopes_supported": ["openid", AGS_SCOPE_SCORE],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["iss", "sub", "name", "given_name", "family_name", "email"],
        labgate::lti::dynamic_registration::PLATFORM_CONFIGURATION: {
            "product_family_code": "labgate-test-platform",
            "version": "1.0",
            "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
        },
    })
}

/// The token endpoint: the client credentials grant with a JWT client assertion signed by a tool
/// key it trusts, for labgate's client_id, to this endpoint.
fn token(body: &[u8], state: &Mutex<Shared>, audience: &str) -> (u16, String) {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body).into_owned().collect();
    let mut shared = state.lock().unwrap();
    let assertion = form.get("client_assertion").and_then(|jwt| {
        let kid = jsonwebtoken::decode_header(jwt).ok()?.kid?;
        let tool = shared.tool_keys.iter().find(|k| k.kid == kid)?;
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(tool.jwk()).ok()?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[CLIENT_ID]);
        validation.sub = Some(CLIENT_ID.to_string());
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub", "jti"]);
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
        jsonwebtoken::decode::<Value>(jwt, &key, &validation)
            .ok()
            .map(|d| d.claims)
    });
    let well_formed = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_assertion_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        && form
            .get("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == AGS_SCOPE_SCORE));
    let refused = shared.token_statuses.pop_front();
    let granted = (refused.is_none() && well_formed && assertion.is_some())
        .then(|| format!("at-{}", shared.token_requests.len() + 1));
    shared.token_requests.push(TokenRequest {
        form,
        assertion,
        granted: granted.clone(),
    });
    match granted {
        Some(token) => {
            shared.tokens.push(token.clone());
            let answer = json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": AGS_SCOPE_SCORE});
            (200, answer.to_string())
        }
        None => (
            refused.unwrap_or(401),
            json!({"error": "invalid_client"}).to_string(),
        ),
    }
}

fn key(kid: &str, fixture: &str) -> ToolKey {
    ToolKey::parse(kid, &fixture_key(fixture)).unwrap()
}

/// The claims of a valid resource link launch of `content_id` for `sub`, issued now.
pub fn launch_claims(nonce: &str, sub: &str, content_id: &str) -> Value {
    let now = labgate::clock::now();
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": sub,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "email": "ada@example.edu",
        "given_name": "Ada",
        "family_name": "Lovelace",
        MESSAGE_TYPE: RESOURCE_LINK_REQUEST,
        VERSION: LTI_VERSION,
        DEPLOYMENT_ID: DEPLOYMENT,
        TARGET_LINK_URI: format!("https://{}/lti/launch", crate::API_HOST),
        RESOURCE_LINK: {"id": "link-42", "title": "Lab 1: SQL joins"},
        ROLES: [LEARNER],
        CONTEXT: {"id": "course-7", "label": "DB101", "title": "Databases 101"},
        CUSTOM: {CUSTOM_CONTENT_ID: content_id},
    })
}

/// `claims` signed RS256 with fixture key `fixture` under header kid `kid`.
pub fn sign(kid: &str, fixture: &str, claims: &Value) -> String {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(fixture_key(fixture).trim())
        .unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&der)).unwrap()
}

pub fn login_params() -> Vec<(&'static str, String)> {
    vec![
        ("iss", ISSUER.to_string()),
        ("login_hint", "opaque-user-hint-9".to_string()),
        ("target_link_uri", format!("https://{API_HOST}/lti/launch")),
        ("lti_message_hint", "msg+hint/=é".to_string()),
        ("client_id", CLIENT_ID.to_string()),
    ]
}

pub fn encoded(params: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}

pub async fn login_get(env: &TestEnv, params: &[(&str, String)]) -> TestResponse {
    let req = request("GET", API_HOST, &format!("/lti/login?{}", encoded(params)))
        .body(Body::Empty)
        .unwrap();
    invoke(handlers::lti_login::handle, &env.state, req).await
}

pub async fn login_post(env: &TestEnv, params: &[(&str, String)]) -> TestResponse {
    let req = request("POST", API_HOST, "/lti/login/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text(encoded(params)))
        .unwrap();
    invoke(handlers::lti_login::handle, &env.state, req).await
}

/// A login's state, nonce and the cookie it set (`name=value`).
pub struct Login {
    pub state: String,
    pub nonce: String,
    pub cookie: String,
}

pub fn login_of(res: &TestResponse) -> Login {
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    let location = url::Url::parse(res.header("location").unwrap()).unwrap();
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("{name} in {location}"))
    };
    let set_cookie = res.header("set-cookie").unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    Login {
        state: param("state"),
        nonce: param("nonce"),
        cookie,
    }
}

pub async fn sign_in(env: &TestEnv) -> Login {
    login_of(&login_get(env, &login_params()).await)
}

pub async fn post_launch(
    env: &TestEnv,
    form: &[(&str, String)],
    cookie: Option<&str>,
    top_level: bool,
) -> TestResponse {
    let dest = top_level.then_some("document");
    post_launch_at(env, API_HOST, form, cookie, dest).await
}

/// The launch's form post to `host`, with `Sec-Fetch-Dest: <dest>` if the browser says one.
pub async fn post_launch_at(
    env: &TestEnv,
    host: &str,
    form: &[(&str, String)],
    cookie: Option<&str>,
    dest: Option<&str>,
) -> TestResponse {
    let mut req = request("POST", host, "/lti/launch")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    if let Some(dest) = dest {
        req = req.header("sec-fetch-dest", dest);
    }
    let req = req.body(Body::Text(encoded(form))).unwrap();
    invoke(handlers::lti_launch::handle, &env.state, req).await
}
