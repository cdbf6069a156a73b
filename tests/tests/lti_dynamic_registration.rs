//! LTI Dynamic Registration 1.0 against the test platform (`labgate_tests::lti_platform`): a
//! one-time link opened by the LMS, the confirmation page, the exchange (the platform's OpenID
//! configuration read, labgate's registration posted), the link used once even by parallel
//! posts, a failing platform leaving it usable, every refusal writing nothing, and launches
//! through the registration made.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::handlers;
use labgate::lti::claims::*;
use labgate::lti::dynamic_registration::{self, TOOL_CONFIGURATION};
use labgate::lti::registration;
use labgate_tests::lti_platform::*;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

/// A new one-time link for the env's client: its token.
async fn link(env: &TestEnv) -> String {
    let secret = dynamic_registration::create_link(env.store(), &env.client.id, 24)
        .await
        .unwrap();
    let url = dynamic_registration::link_url(&format!("https://{API_HOST}"), &secret);
    assert!(url.starts_with(&format!("https://{API_HOST}/lti/register?token=")));
    secret.expose().to_string()
}

/// A form or query: (name, value) pairs.
type Params = Vec<(&'static str, String)>;

/// What the LMS adds to the link.
fn params(platform: &Platform, token: &str) -> Params {
    vec![
        ("token", token.to_string()),
        ("openid_configuration", platform.openid_configuration_url()),
        ("registration_token", REGISTRATION_TOKEN.to_string()),
    ]
}

async fn open(env: &TestEnv, params: &[(&str, String)]) -> TestResponse {
    let path = format!("/lti/register?{}", encoded(params));
    let req = request("GET", API_HOST, &path).body(Body::Empty).unwrap();
    invoke(handlers::lti_register::handle, &env.state, req).await
}

async fn confirm(env: &TestEnv, params: &[(&str, String)]) -> TestResponse {
    let req = request("POST", API_HOST, "/lti/register/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text(encoded(params)))
        .unwrap();
    invoke(handlers::lti_register::handle, &env.state, req).await
}

async fn registrations(env: &TestEnv) -> Vec<registration::Registration> {
    registration::list(env.store(), &env.client.id)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_pasted_link_registers_labgate_with_the_lms_and_its_launches_work() {
    let (env, platform) = tool_env().await;
    let token = link(&env).await;
    let before = registrations(&env).await;

    // The LMS opens the link: a page that says what it will do, and registers nothing yet.
    let page = open(&env, &params(&platform, &token)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(
        page.body.contains("action=\"/lti/register\""),
        "{}",
        page.body
    );
    assert!(page.body.contains(&env.client.name), "{}", page.body);
    assert!(platform.registrations().is_empty());
    assert_eq!(registrations(&env).await, before);

    // Its button posts the same values: the exchange, then the LMS is told to close.
    let done = confirm(&env, &params(&platform, &token)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("org.imsglobal.lti.close"),
        "{}",
        done.body
    );

    let sent = platform.registrations();
    assert_eq!(sent.len(), 1);
    let (authorization, body) = &sent[0];
    assert_eq!(
        authorization.as_deref(),
        Some(format!("Bearer {REGISTRATION_TOKEN}").as_str())
    );
    let api = format!("https://{API_HOST}");
    assert_eq!(body["initiate_login_uri"], format!("{api}/lti/login"));
    assert_eq!(body["redirect_uris"], json!([format!("{api}/lti/launch")]));
    assert_eq!(body["jwks_uri"], format!("{api}/.well-known/jwks.json"));
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(body["response_types"], json!(["id_token"]));
    assert!(
        body["grant_types"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
    assert!(body["scope"].as_str().unwrap().contains(AGS_SCOPE_SCORE));
    let tool = &body[TOOL_CONFIGURATION];
    assert_eq!(tool["domain"], API_HOST);
    assert_eq!(tool["target_link_uri"], format!("{api}/lti/launch"));
    let messages: Vec<&str> = tool["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"LtiDeepLinkingRequest"), "{messages:?}");

    let after = registrations(&env).await;
    assert_eq!(after.len(), before.len() + 1);
    let made = after
        .iter()
        .find(|r| r.issuer == platform.base_url)
        .expect("the new registration");
    assert_eq!(made.client_id, "dyn-client-1");
    assert_eq!(made.tenant, env.client.id);
    assert_eq!(made.deployments, vec!["dyn-deployment-1".to_string()]);
    assert_eq!(made.auth_url, format!("{}/authorize", platform.base_url));
    assert_eq!(made.token_url, platform.token_url);
    assert_eq!(made.jwks_url, platform.jwks_url);

    // The link is used up, for the page and the exchange alike.
    for again in [
        open(&env, &params(&platform, &token)).await,
        confirm(&env, &params(&platform, &token)).await,
    ] {
        assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
        assert!(again.body.contains("already used"), "{}", again.body);
    }
    assert_eq!(platform.registrations().len(), 1);

    // A launch through the new registration reaches the lab.
    let login_params = [
        ("iss", platform.base_url.clone()),
        ("login_hint", "hint-1".to_string()),
        ("target_link_uri", format!("{api}/lti/launch")),
        ("client_id", "dyn-client-1".to_string()),
    ];
    let login = login_of(&login_get(&env, &login_params).await);
    let mut claims = launch_claims(&login.nonce, "learner-5", CONTENT_ID);
    claims["iss"] = json!(platform.base_url);
    claims["aud"] = json!("dyn-client-1");
    claims[DEPLOYMENT_ID] = json!("dyn-deployment-1");
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    let res = post_launch(&env, &form, Some(&login.cookie), true).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
}

#[tokio::test]
async fn a_link_registers_once_even_when_posted_many_times_at_once() {
    let (env, platform) = tool_env().await;
    let token = link(&env).await;
    let before = registrations(&env).await.len();
    let posts = (0..6).map(|_| {
        let params = params(&platform, &token);
        let env = &env;
        async move { confirm(env, &params).await }
    });
    let answers = futures::future::join_all(posts).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
    assert_eq!(
        platform.registrations().len(),
        1,
        "the platform is asked once"
    );
    assert_eq!(registrations(&env).await.len(), before + 1);
}

#[tokio::test]
async fn a_failing_platform_leaves_the_link_usable_and_writes_nothing() {
    let (env, platform) = tool_env().await;
    let token = link(&env).await;
    let before = registrations(&env).await;

    platform.answer_registrations_with(&[503]);
    let failed = confirm(&env, &params(&platform, &token)).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    assert!(failed.body.contains("HTTP 503"), "{}", failed.body);
    assert_eq!(registrations(&env).await, before);

    // The platform refuses a registration token it did not issue.
    let mut wrong = params(&platform, &token);
    wrong[2].1 = "not-the-platforms-token".into();
    let refused = confirm(&env, &wrong).await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.body);
    assert_eq!(registrations(&env).await, before);

    // Tried again, the same link works.
    let done = confirm(&env, &params(&platform, &token)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(registrations(&env).await.len(), before.len() + 1);
}

#[tokio::test]
async fn a_platform_that_names_no_deployment_lets_any_of_its_deployments_launch() {
    let (env, platform) = tool_env().await;
    platform.name_no_deployment();
    let token = link(&env).await;
    let done = confirm(&env, &params(&platform, &token)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let made = registrations(&env)
        .await
        .into_iter()
        .find(|r| r.issuer == platform.base_url)
        .unwrap();
    assert!(made.deployments.is_empty());
    assert!(made.knows_deployment("any-deployment-9"));
}

#[tokio::test]
async fn bad_links_and_bad_configurations_are_refused_with_a_page_and_nothing_written() {
    let (env, platform) = tool_env().await;
    let token = link(&env).await;
    let before = registrations(&env).await;
    let with = |edit: &dyn Fn(&mut Params)| {
        let mut p = params(&platform, &token);
        edit(&mut p);
        p
    };
    let port = platform.base_url.rsplit(':').next().unwrap().to_string();
    let cases: Vec<(&str, Params, StatusCode, &str)> = vec![
        (
            "unknown link",
            with(&|p| p[0].1 = "a".repeat(43)),
            StatusCode::BAD_REQUEST,
            "already used",
        ),
        (
            "no token",
            with(&|p| {
                p.remove(0);
            }),
            StatusCode::BAD_REQUEST,
            "already used",
        ),
        (
            "no configuration",
            with(&|p| {
                p.remove(1);
            }),
            StatusCode::BAD_REQUEST,
            "openid_configuration",
        ),
        (
            "an issuer not where the configuration was read",
            with(&|p| p[1].1 = format!("http://localhost:{port}/.well-known/openid-configuration")),
            StatusCode::BAD_REQUEST,
            "issuer",
        ),
        (
            "a configuration over plain http elsewhere",
            with(&|p| p[1].1 = "http://lms.example.edu/.well-known/openid-configuration".into()),
            StatusCode::BAD_REQUEST,
            "https",
        ),
        (
            "not a configuration",
            with(&|p| p[1].1 = format!("{}/jwks", platform.base_url)),
            StatusCode::BAD_REQUEST,
            "no issuer",
        ),
    ];
    for (name, params, status, says) in cases {
        let res = confirm(&env, &params).await;
        assert_eq!(res.status, status, "{name}: {}", res.body);
        assert!(res.body.contains(says), "{name}: {}", res.body);
        assert_eq!(
            res.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{name}"
        );
    }
    assert!(platform.registrations().is_empty());
    assert_eq!(registrations(&env).await, before);

    // An expired link.
    let expired = link(&env).await;
    let key = labgate::store::keys::lti_registration_link(
        labgate::secrets::Digest::of(&expired).as_str(),
    );
    let mut record = labgate::store::get(env.store(), &key, "get")
        .await
        .unwrap()
        .unwrap();
    record.insert(
        "expires_at".into(),
        labgate::store::attr::n(labgate::clock::now() - 1),
    );
    labgate::store::put(env.store(), record, "put")
        .await
        .unwrap();
    for res in [
        open(&env, &params(&platform, &expired)).await,
        confirm(&env, &params(&platform, &expired)).await,
    ] {
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    }

    // A disabled account's link.
    assert!(
        labgate::disable::set_disabled(env.store(), &env.client.id, true)
            .await
            .unwrap()
    );
    let res = confirm(&env, &params(&platform, &token)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert!(platform.registrations().is_empty());
}

#[tokio::test]
async fn a_deployed_stack_reaches_platforms_at_public_addresses_only() {
    let env = TestEnv::new().await;
    let platform = Platform::start().await;
    let token = link(&env).await;
    let res = confirm(&env, &params(&platform, &token)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(res.body.contains("public addresses"), "{}", res.body);
    assert!(platform.registrations().is_empty());
    let page = open(&env, &params(&platform, &token)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    // The link was not used up, nor held.
    let key =
        labgate::store::keys::lti_registration_link(labgate::secrets::Digest::of(&token).as_str());
    let record = labgate::store::get(env.store(), &key, "get")
        .await
        .unwrap()
        .expect("the link is still there");
    assert!(!record.contains_key("holder"));
}

#[test]
fn the_configuration_check_follows_the_specification() {
    let base = "https://lms.example.edu";
    let good = openid_configuration(base);
    let from = format!("{base}/.well-known/openid-configuration");
    assert!(dynamic_registration::check_configuration(&from, &good).is_ok());
    let mut hs256 = good.clone();
    hs256["id_token_signing_alg_values_supported"] = json!(["HS256"]);
    assert!(dynamic_registration::check_configuration(&from, &hs256).is_err());
    let mut plain: Value = good.clone();
    plain["token_endpoint"] = json!("http://lms.example.edu/token");
    assert!(dynamic_registration::check_configuration(&from, &plain).is_err());
    for elsewhere in [
        "https://evil.example.com/.well-known/openid-configuration",
        "https://lms.example.edu.evil.net/.well-known/openid-configuration",
        "https://lms.example.edu:8443/.well-known/openid-configuration",
        "http://lms.example.edu/.well-known/openid-configuration",
    ] {
        assert!(
            dynamic_registration::check_configuration(elsewhere, &good).is_err(),
            "{elsewhere}"
        );
    }
    // An issuer with a path covers only what is below it.
    let mut moodle = openid_configuration("https://lms.example.edu/moodle");
    moodle["issuer"] = json!("https://lms.example.edu/moodle");
    let below = "https://lms.example.edu/moodle/mod/lti/openid-configuration.php";
    assert!(dynamic_registration::check_configuration(below, &moodle).is_ok());
    let beside = "https://lms.example.edu/moodle2/mod/lti/openid-configuration.php";
    assert!(dynamic_registration::check_configuration(beside, &moodle).is_err());
}
