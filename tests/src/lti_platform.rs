//! A minimal LTI 1.3 platform for the tests: its RSA keys (tests/fixtures/lti), a JWKS served on
//! a loopback port (counting fetches), and the id_tokens it signs for a launch.

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

pub struct Platform {
    pub jwks_url: String,
    /// The keys it publishes, by kid.
    published: Arc<Mutex<Vec<ToolKey>>>,
    fetches: Arc<AtomicUsize>,
}

impl Platform {
    /// Publishes `platform-1` as kid `p1`.
    pub async fn start() -> Platform {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let published = Arc::new(Mutex::new(vec![key("p1", "platform-1")]));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (keys, count) = (published.clone(), fetches.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (keys, count) = (keys.clone(), count.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |_req: hyper::Request<Incoming>| {
                        count.fetch_add(1, Ordering::SeqCst);
                        let set = labgate::lti::tool_keys::jwks(&keys.lock().unwrap());
                        async move {
                            Ok::<_, hyper::Error>(
                                hyper::Response::builder()
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(set.to_string())))
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
            published,
            fetches,
        }
    }

    /// Its keys are now these (kid, fixture) pairs.
    pub fn publish(&self, keys: &[(&str, &str)]) {
        *self.published.lock().unwrap() = keys.iter().map(|(kid, name)| key(kid, name)).collect();
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
            token_url: TOKEN_URL,
            jwks_url: &self.jwks_url,
        };
        labgate::lti::registration::register(env.store(), &new)
            .await
            .unwrap();
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
