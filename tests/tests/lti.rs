//! LTI 1.3 against a minimal platform (`labgate_tests::lti_platform`): login initiation by GET
//! and by POST, a launch through to the lab, every check of the security framework (each
//! refused with a page and nothing written), the platform rotating its keys, and the tool's
//! JWKS.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::handlers;
use labgate::lti::claims::*;
use labgate_tests::lti_platform::*;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

async fn setup() -> (TestEnv, Platform) {
    tool_env().await
}

/// The launch a platform would post for `login`, with claims `edit` changed.
async fn launch_with(env: &TestEnv, login: &Login, edit: impl FnOnce(&mut Value)) -> TestResponse {
    let mut claims = launch_claims(&login.nonce, "user-1234", CONTENT_ID);
    edit(&mut claims);
    let token = sign("p1", "platform-1", &claims);
    let form = [("id_token", token), ("state", login.state.clone())];
    post_launch(env, &form, Some(&login.cookie), true).await
}

#[tokio::test]
async fn login_by_get_or_post_redirects_to_the_platform_with_state_nonce_and_the_hint_unchanged() {
    let (env, _platform) = setup().await;
    for res in [
        login_get(&env, &login_params()).await,
        login_post(&env, &login_params()).await,
    ] {
        assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
        assert_eq!(res.header("cache-control"), Some("no-store"));
        let location = url::Url::parse(res.header("location").unwrap()).unwrap();
        assert_eq!(
            format!(
                "{}{}",
                location.origin().ascii_serialization(),
                location.path()
            ),
            AUTH_URL
        );
        let query: std::collections::HashMap<String, String> =
            location.query_pairs().into_owned().collect();
        for (name, value) in [
            ("scope", "openid"),
            ("response_type", "id_token"),
            ("response_mode", "form_post"),
            ("prompt", "none"),
            ("client_id", CLIENT_ID),
            ("login_hint", "opaque-user-hint-9"),
            ("lti_message_hint", "msg+hint/=é"),
        ] {
            assert_eq!(query[name], value, "{name}");
        }
        assert_eq!(
            query["redirect_uri"],
            format!("https://{API_HOST}/lti/launch")
        );
        assert_eq!(query["state"].len(), 43);
        assert_eq!(query["nonce"].len(), 43);
        assert_ne!(query["state"], query["nonce"]);
        let set_cookie = res.header("set-cookie").unwrap();
        let name = format!("labgate_lti_{}=", query["state"]);
        assert!(set_cookie.starts_with(&name), "{set_cookie}");
        for attribute in [
            "HttpOnly",
            "Secure",
            "SameSite=None",
            "Path=/lti/launch",
            "Max-Age=600",
        ] {
            assert!(
                set_cookie.contains(attribute),
                "{attribute} in {set_cookie}"
            );
        }
    }
    // The issuer's only registration serves a login without client_id.
    let without: Vec<_> = login_params()
        .into_iter()
        .filter(|(k, _)| *k != "client_id")
        .collect();
    let before = scan_all(env.store()).await.len();
    env.round_trips.reset();
    assert_eq!(login_get(&env, &without).await.status, StatusCode::FOUND);
    assert_eq!(
        env.round_trips.count(),
        1,
        "one Query of the issuer's registrations"
    );
    assert_eq!(
        scan_all(env.store()).await.len(),
        before,
        "a login writes nothing"
    );
}

#[tokio::test]
async fn a_login_for_an_unknown_platform_target_or_deployment_is_refused_with_a_page() {
    let (env, _platform) = setup().await;
    let with = |name: &'static str, value: &str| {
        let mut params = login_params();
        params.retain(|(k, _)| *k != name);
        params.push((name, value.to_string()));
        params
    };
    for (params, words) in [
        (
            with("iss", "https://other-lms.example"),
            "No LTI registration",
        ),
        (with("client_id", "someone-else"), "No LTI registration"),
        (
            with("target_link_uri", "https://evil.example/lti/launch"),
            "not a labgate URL",
        ),
        (with("lti_deployment_id", "9:unknown"), "is not registered"),
        (
            login_params()
                .into_iter()
                .filter(|(k, _)| *k != "login_hint")
                .collect(),
            "no login_hint",
        ),
    ] {
        let res = login_get(&env, &params).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{params:?}");
        assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(res.body.contains(words), "{words}: {}", res.body);
        assert!(res.header("set-cookie").is_none());
    }
}

#[tokio::test]
async fn a_launch_records_the_user_and_its_launch_and_opens_the_lab_in_two_round_trips() {
    let (env, platform) = setup().await;
    let login = sign_in(&env).await;
    env.round_trips.reset();
    let res = launch_with(&env, &login, |_| {}).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        env.round_trips.count(),
        2,
        "one batch read, one transaction"
    );
    assert_eq!(platform.fetches(), 1);
    let cleared = res.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with(&format!("labgate_lti_{}=;", login.state))
            && cleared.contains("Max-Age=0")
    );

    // The one-time link logs the browser in and lands on the lab, as an API launch's does.
    let link = res.header("location").unwrap().to_string();
    assert!(link.starts_with(&format!("https://{API_HOST}/api/v1/launch/auth?token=")));
    let landed = env.follow(&link, None).await;
    assert_eq!(landed.status, StatusCode::FOUND);
    assert_eq!(
        landed.header("location"),
        Some(format!("{APP_URL}/project/{CONTENT_ID}").as_str())
    );
    let session = env.whoami(&landed.session_cookie().unwrap()).await.json();
    assert_eq!(session["user"]["external_id"], "user-1234@lms.example.edu");
    assert_eq!(session["user"]["email"], "ada@example.edu");
    assert_eq!(session["user"]["roles"], json!(["learner"]));
    assert_eq!(session["launch"]["resource_id"], "link-42");
    assert_eq!(
        session["launch"]["context"]["lti"]["context"]["title"],
        "Databases 101"
    );
    assert_eq!(
        session["launch"]["context"]["lti"]["deployment_id"],
        DEPLOYMENT
    );
    assert_eq!(
        env.event_types().await,
        ["launch.created", "launch.redeemed"]
    );

    // In the LMS's frame: a page whose link opens the lab in a new window.
    let login = sign_in(&env).await;
    let claims = launch_claims(&login.nonce, "user-1234", CONTENT_ID);
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    let framed = post_launch(&env, &form, Some(&login.cookie), false).await;
    assert_eq!(framed.status, StatusCode::OK, "{}", framed.body);
    assert!(framed.body.contains("target=\"_blank\""), "{}", framed.body);
    assert!(framed.body.contains("/api/v1/launch/auth?token="));
    assert_eq!(platform.fetches(), 1, "the platform's keys are cached");
}

#[tokio::test]
async fn every_failed_check_answers_a_page_and_writes_nothing() {
    let (env, _platform) = setup().await;
    let other = seed_client(env.store(), "Other LMS").await;
    let others_content = "0b8e1c3e-7d1f-4f55-9f0a-2b8a4e7c9d10";
    labgate::content::create_content(env.store(), &other.id, Some(others_content), "Theirs")
        .await
        .unwrap();
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let set = |name: &'static str, value: Value| -> Edit { Box::new(move |c| c[name] = value) };
    let drop = |name: &'static str| -> Edit {
        Box::new(move |c| {
            c.as_object_mut().unwrap().remove(name);
        })
    };
    let now = labgate::clock::now();
    let cases: Vec<(&str, Edit, StatusCode, &str)> = vec![
        (
            "wrong issuer",
            set("iss", json!("https://other-lms.example")),
            StatusCode::UNAUTHORIZED,
            "No LTI registration",
        ),
        (
            "wrong audience",
            set("aud", json!("someone-else")),
            StatusCode::UNAUTHORIZED,
            "No LTI registration",
        ),
        (
            "several audiences, no azp",
            set("aud", json!([CLIENT_ID, "x"])),
            StatusCode::UNAUTHORIZED,
            "no authorized party",
        ),
        (
            "azp not an audience",
            Box::new(|c: &mut Value| {
                c["aud"] = json!([CLIENT_ID, "x"]);
                c["azp"] = json!("y");
            }),
            StatusCode::UNAUTHORIZED,
            "not among its audiences",
        ),
        (
            "azp another client",
            set("azp", json!("y")),
            StatusCode::UNAUTHORIZED,
            "not among its audiences",
        ),
        (
            "expired",
            Box::new(move |c: &mut Value| {
                c["exp"] = json!(now - 120);
                c["iat"] = json!(now - 420);
            }),
            StatusCode::UNAUTHORIZED,
            "expired",
        ),
        (
            "issued in the future",
            set("iat", json!(now + 600)),
            StatusCode::UNAUTHORIZED,
            "in the future",
        ),
        (
            "no exp",
            drop("exp"),
            StatusCode::UNAUTHORIZED,
            "required claim",
        ),
        (
            "another nonce",
            set("nonce", json!("not-the-login-nonce")),
            StatusCode::UNAUTHORIZED,
            "nonce",
        ),
        (
            "unknown deployment",
            set(DEPLOYMENT_ID, json!("9:unknown")),
            StatusCode::UNAUTHORIZED,
            "is not registered",
        ),
        (
            "no deployment",
            drop(DEPLOYMENT_ID),
            StatusCode::BAD_REQUEST,
            "no deployment_id",
        ),
        (
            "another message type",
            set(MESSAGE_TYPE, json!("LtiSubmissionReviewRequest")),
            StatusCode::BAD_REQUEST,
            "message_type",
        ),
        (
            "deep linking without settings",
            set(MESSAGE_TYPE, json!(DEEP_LINKING_REQUEST)),
            StatusCode::BAD_REQUEST,
            "no settings",
        ),
        (
            "LTI 1.1 version",
            set(VERSION, json!("1.1")),
            StatusCode::BAD_REQUEST,
            "1.3.0",
        ),
        (
            "no target_link_uri",
            drop(TARGET_LINK_URI),
            StatusCode::BAD_REQUEST,
            "target_link_uri",
        ),
        (
            "resource link without id",
            set(RESOURCE_LINK, json!({"title": "x"})),
            StatusCode::BAD_REQUEST,
            "resource_link",
        ),
        ("no roles", drop(ROLES), StatusCode::BAD_REQUEST, "roles"),
        (
            "anonymous",
            drop("sub"),
            StatusCode::UNAUTHORIZED,
            "required claim",
        ),
        (
            "no content_id",
            set(CUSTOM, json!({})),
            StatusCode::BAD_REQUEST,
            "content_id",
        ),
        (
            "another tenant's content",
            set(CUSTOM, json!({CUSTOM_CONTENT_ID: others_content})),
            StatusCode::BAD_REQUEST,
            "not found",
        ),
        (
            "unknown content",
            set(CUSTOM, json!({CUSTOM_CONTENT_ID: "not-a-uuid"})),
            StatusCode::BAD_REQUEST,
            "content_id",
        ),
    ];
    let before = scan_all(env.store()).await.len();
    for (name, edit, status, words) in cases {
        let login = sign_in(&env).await;
        let res = launch_with(&env, &login, edit).await;
        assert_eq!(res.status, status, "{name}: {}", res.body);
        assert_eq!(
            res.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{name}"
        );
        assert!(
            res.body.contains(words),
            "{name}: wanted {words:?} in {}",
            res.body
        );
        assert_eq!(
            scan_all(env.store()).await.len(),
            before,
            "{name}: nothing written"
        );
    }

    // Signatures: another key under the platform's kid, an unknown kid, no kid, HS256.
    let login = sign_in(&env).await;
    let claims = launch_claims(&login.nonce, "user-1234", CONTENT_ID);
    let forged = sign("p1", "platform-2", &claims);
    let unknown_kid = sign("p9", "platform-1", &claims);
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("p1".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"the platform's public key, as an HMAC secret"),
    )
    .unwrap();
    let no_kid = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(&{
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(fixture_key("platform-1").trim())
                .unwrap()
        }),
    )
    .unwrap();
    for (name, token, words) in [
        ("forged", forged, "signature does not match"),
        ("unknown kid", unknown_kid, "have no key"),
        ("HS256", hs256, "RS256"),
        ("no kid", no_kid, "names no key"),
        ("not a JWT", "a.b.c".to_string(), "not a JWT"),
    ] {
        let form = [("id_token", token), ("state", login.state.clone())];
        let res = post_launch(&env, &form, Some(&login.cookie), true).await;
        assert!(res.status.is_client_error(), "{name}: {}", res.status);
        assert!(
            res.body.contains(words),
            "{name}: wanted {words:?} in {}",
            res.body
        );
    }

    // The state: no cookie (refused in a frame), another login's cookie, a cookie naming
    // another tenant.
    let token = sign("p1", "platform-1", &claims);
    let second = sign_in(&env).await;
    // The cookie's parts: nonce, tenant, expiry, signature.
    let parts: Vec<String> = login
        .cookie
        .split_once('=')
        .unwrap()
        .1
        .split('.')
        .map(str::to_string)
        .collect();
    assert_eq!(parts.len(), 4, "{}", login.cookie);
    let cookie_with = |tenant: &str, expiry: &str, mac: &str| {
        format!(
            "labgate_lti_{}={}.{tenant}.{expiry}.{mac}",
            login.state, parts[0]
        )
    };
    let other_tenant = cookie_with(&other.id, &parts[2], &parts[3]);
    let forged = cookie_with(&parts[1], &parts[2], &"A".repeat(43));
    let later = (parts[2].parse::<i64>().unwrap() + 3600).to_string();
    let extended = cookie_with(&parts[1], &later, &parts[3]);
    for (name, cookie) in [
        ("no cookie", None),
        ("another login's cookie", Some(second.cookie.as_str())),
        (
            "another tenant, the same signature",
            Some(other_tenant.as_str()),
        ),
        ("a signature labgate did not make", Some(forged.as_str())),
        ("an expiry moved", Some(extended.as_str())),
    ] {
        let form = [("id_token", token.clone()), ("state", login.state.clone())];
        let res = post_launch(&env, &form, cookie, true).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{name}: {}", res.body);
        assert!(res.body.contains("sign-in cookie"), "{name}: {}", res.body);
    }
    assert_eq!(scan_all(env.store()).await.len(), before, "nothing written");

    // A used id_token (its nonce) is refused the second time, and that writes nothing either.
    let form = [("id_token", token), ("state", login.state.clone())];
    let first = post_launch(&env, &form, Some(&login.cookie), true).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let after = scan_all(env.store()).await.len();
    let again = post_launch(&env, &form, Some(&login.cookie), true).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.body.contains("already used"), "{}", again.body);
    assert_eq!(scan_all(env.store()).await.len(), after);
}

#[tokio::test]
async fn one_id_token_posted_many_times_at_once_launches_once() {
    let (env, _platform) = setup().await;
    let login = sign_in(&env).await;
    let claims = launch_claims(&login.nonce, "user-1234", CONTENT_ID);
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    let answers = futures::future::join_all(
        (0..8).map(|_| post_launch(&env, &form, Some(&login.cookie), true)),
    )
    .await;
    let launched = answers
        .iter()
        .filter(|r| r.status == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(
        launched,
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        answers
            .iter()
            .all(|r| r.status == StatusCode::SEE_OTHER || r.status == StatusCode::UNAUTHORIZED)
    );
    assert_eq!(env.event_types().await, ["launch.created"]);
}

#[tokio::test]
async fn a_platform_that_rotates_its_key_is_fetched_again_once() {
    let (env, platform) = setup().await;
    // A shorter pause between fetches than production's 30 s, for the test's sake.
    let pause = std::time::Duration::from_millis(300);
    let keys = labgate::lti::platform_keys::PlatformKeys::new(true).unwrap();
    env.state
        .platform_keys
        .set(keys.with_min_refetch(pause))
        .unwrap();
    let login = sign_in(&env).await;
    assert_eq!(
        launch_with(&env, &login, |_| {}).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(platform.fetches(), 1);

    // The platform publishes a new key and signs with it: one fetch more, then cached again.
    platform.publish(&[("p1", "platform-1"), ("p2", "platform-2")]);
    tokio::time::sleep(pause + std::time::Duration::from_millis(100)).await;
    for _ in 0..2 {
        let login = sign_in(&env).await;
        let claims = launch_claims(&login.nonce, "user-1234", CONTENT_ID);
        let form = [
            ("id_token", sign("p2", "platform-2", &claims)),
            ("state", login.state.clone()),
        ];
        let res = post_launch(&env, &form, Some(&login.cookie), true).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    }
    assert_eq!(platform.fetches(), 2);

    // A kid it never published: fetched at most once a pause, however many ask.
    let login = sign_in(&env).await;
    let claims = launch_claims(&login.nonce, "user-1234", CONTENT_ID);
    tokio::time::sleep(pause + std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let form = [
            ("id_token", sign("p9", "platform-2", &claims)),
            ("state", login.state.clone()),
        ];
        let res = post_launch(&env, &form, Some(&login.cookie), true).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    }
    // One fetch for the first, then one per pause that passed (a loaded machine is slow).
    let windows = started.elapsed().as_secs_f64() / pause.as_secs_f64();
    let fetched = platform.fetches() - 2;
    assert!(
        fetched >= 1 && fetched as f64 <= 1.0 + windows.floor(),
        "{fetched} fetches for 20 unknown kids in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_tool_publishes_its_keys_as_a_cacheable_jwks() {
    let (env, _platform) = setup().await;
    let req = request("GET", API_HOST, "/.well-known/jwks.json")
        .body(Body::Empty)
        .unwrap();
    let res = invoke(handlers::lti_jwks::handle, &env.state, req).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("cache-control"), Some("public, max-age=300"));
    let tool = labgate::lti::tool_keys::ToolKey::parse("t1", &fixture_key("tool-1")).unwrap();
    assert_eq!(res.json(), json!({"keys": [tool.jwk()]}));
    let jwk = &res.json()["keys"][0];
    assert_eq!(
        (jwk["kty"].as_str(), jwk["alg"].as_str(), jwk["e"].as_str()),
        (Some("RSA"), Some("RS256"), Some("AQAB"))
    );
    assert_eq!(
        jwk["n"].as_str().unwrap().len(),
        342,
        "2048 bits, base64url"
    );
    assert_eq!(env.round_trips.count(), 0);
}

#[tokio::test]
async fn a_registration_belongs_to_one_tenant() {
    let (env, platform) = setup().await;
    let other = seed_client(env.store(), "Other LMS").await;
    let deployments = [DEPLOYMENT.to_string()];
    let new = labgate::lti::registration::NewRegistration {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        tenant: &other.id,
        deployments: &deployments,
        auth_url: AUTH_URL,
        token_url: TOKEN_URL,
        jwks_url: &platform.jwks_url,
    };
    let err = labgate::lti::registration::register(env.store(), &new)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "this issuer and client_id are registered to another client"
    );
    // Its own tenant updates it.
    let mine = labgate::lti::registration::NewRegistration {
        tenant: &env.client.id,
        ..new
    };
    assert!(
        labgate::lti::registration::register(env.store(), &mine)
            .await
            .is_ok()
    );
    let listed = labgate::lti::registration::list(env.store(), &env.client.id)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_white_label_host_serves_the_lms_of_its_own_tenant_only() {
    let (env, _platform) = setup().await;
    let other = seed_client(env.store(), "Other LMS").await;
    assert!(
        labgate::tenant::bind_domain(env.store(), WHITE_LABEL_HOST, &other.id)
            .await
            .unwrap()
    );
    let mut params = login_params();
    params.retain(|(k, _)| *k != "target_link_uri");
    params.push((
        "target_link_uri",
        format!("https://{WHITE_LABEL_HOST}/lti/launch"),
    ));
    let req = request(
        "GET",
        WHITE_LABEL_HOST,
        &format!("/lti/login?{}", encoded(&params)),
    )
    .body(Body::Empty)
    .unwrap();
    let res = invoke(handlers::lti_login::handle, &env.state, req).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(
        res.body.contains("not registered on this domain"),
        "{}",
        res.body
    );

    // A login on the default host, posted back to the other tenant's host: refused too.
    let login = sign_in(&env).await;
    let claims = launch_claims(&login.nonce, "user-1234", CONTENT_ID);
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    let before = scan_all(env.store()).await.len();
    let cookie = Some(login.cookie.as_str());
    let res = post_launch_at(&env, WHITE_LABEL_HOST, &form, cookie, Some("document")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(scan_all(env.store()).await.len(), before);
}

#[tokio::test]
async fn what_the_platform_sends_is_taken_as_it_fits_and_the_browser_decides_the_window() {
    let (env, _platform) = setup().await;
    // aud as a list with azp naming labgate; a long link title, an odd email, a long name, a
    // role URI too long for a label: the launch goes ahead, keeping what fits.
    let login = sign_in(&env).await;
    let res = launch_with(&env, &login, |c| {
        c["aud"] = json!([CLIENT_ID, "another-audience"]);
        c["azp"] = json!(CLIENT_ID);
        c[RESOURCE_LINK] =
            json!({"id": "link-42", "title": "t".repeat(5000), "description": "d".repeat(20_000)});
        c["email"] = json!("not an email");
        c["given_name"] = json!("g".repeat(500));
        c[ROLES] = json!([
            LEARNER,
            format!(
                "http://purl.imsglobal.org/vocab/lis/v2/membership#{}",
                "x".repeat(200)
            )
        ]);
    })
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let landed = env.follow(res.header("location").unwrap(), None).await;
    let session = env.whoami(&landed.session_cookie().unwrap()).await.json();
    assert_eq!(session["user"]["email"], Value::Null);
    assert_eq!(session["user"]["given_name"], Value::Null);
    let link = &session["launch"]["context"]["lti"]["resource_link"];
    assert_eq!(link["title"].as_str().unwrap().len(), 255);
    assert!(link.get("description").is_none());

    // No iat, or an expiry more than a day away: refused.
    for (edit, words) in [
        (
            Box::new(|c: &mut Value| {
                c.as_object_mut().unwrap().remove("iat");
            }) as Box<dyn FnOnce(&mut Value)>,
            "no issue time",
        ),
        (
            Box::new(|c: &mut Value| c["exp"] = json!(labgate::clock::now() + 3 * 86_400)),
            "more than a day",
        ),
    ] {
        let login = sign_in(&env).await;
        let res = launch_with(&env, &login, edit).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
        assert!(res.body.contains(words), "{words}: {}", res.body);
    }

    // The LMS asks for a window, but the browser says it is in a frame: the page, not a 303.
    let login = sign_in(&env).await;
    let mut claims = launch_claims(&login.nonce, "user-1234", CONTENT_ID);
    claims[LAUNCH_PRESENTATION] = json!({"document_target": "window"});
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    let cookie = Some(login.cookie.as_str());
    let res = post_launch_at(&env, API_HOST, &form, cookie, Some("iframe")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("target=\"_blank\""));

    // A platform's error is named by its code; its description is not put on labgate's page.
    let form = [
        ("error", "login_required".to_string()),
        (
            "error_description",
            "Visit evil.example to fix your account".to_string(),
        ),
    ];
    let res = post_launch(&env, &form, None, true).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(
        res.body.contains("login_required") && !res.body.contains("evil.example"),
        "{}",
        res.body
    );
}

#[tokio::test]
async fn a_registration_needs_https_but_for_this_machine() {
    let (env, _platform) = setup().await;
    let deployments = [DEPLOYMENT.to_string()];
    let new = labgate::lti::registration::NewRegistration {
        issuer: "https://lms2.example.edu",
        client_id: "c",
        tenant: &env.client.id,
        deployments: &deployments,
        auth_url: "http://lms2.example.edu/auth",
        token_url: TOKEN_URL,
        jwks_url: "https://lms2.example.edu/jwks",
    };
    let err = labgate::lti::registration::register(env.store(), &new)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("--auth-url: an https URL"),
        "{err}"
    );
    let long = format!("https://{}.example", "i".repeat(800));
    let err = labgate::lti::registration::register(
        env.store(),
        &labgate::lti::registration::NewRegistration {
            issuer: &long,
            auth_url: "https://lms2.example.edu/auth",
            ..new
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("at most 700 bytes"), "{err}");
}

/// The value of the hidden field `name` in a page.
fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

async fn post_pick(env: &TestEnv, pairs: &[(String, String)]) -> TestResponse {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    let req = request("POST", API_HOST, "/lti/deep-link")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text(body))
        .unwrap();
    invoke(handlers::lti_deep_link::handle, &env.state, req).await
}

/// The claims of the deep linking response on a picking page's `res`, verified with the tool's
/// published key as the platform would.
fn response_claims(res: &TestResponse) -> Value {
    let jwt = field(&res.body, "JWT");
    let tool = labgate::lti::tool_keys::ToolKey::parse("t1", &fixture_key("tool-1")).unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(tool.jwk()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[ISSUER]);
    validation.set_issuer(&[CLIENT_ID]);
    jsonwebtoken::decode::<Value>(&jwt, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn an_instructor_gives_points_and_the_link_comes_with_a_line_item() {
    let (env, _platform) = setup().await;
    let login = sign_in(&env).await;
    let mut claims = launch_claims(&login.nonce, "teacher-1", CONTENT_ID);
    deep_linking_request(&mut claims, false);
    let token = sign("p1", "platform-1", &claims);
    let form = [("id_token", token), ("state", login.state.clone())];
    let page = post_launch(&env, &form, Some(&login.cookie), false).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("name=\"points\""), "{}", page.body);
    let pick = field(&page.body, "pick");
    let with_points = |points: &str| {
        [
            ("pick".to_string(), pick.clone()),
            ("content".to_string(), CONTENT_ID.to_string()),
            ("points".to_string(), points.to_string()),
        ]
    };

    for wrong in ["0", "-3", "2.5", "ten", "10001"] {
        let res = post_pick(&env, &with_points(wrong)).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{wrong}: {}", res.body);
        assert!(
            res.body.contains("Points must be a whole number"),
            "{}",
            res.body
        );
    }
    let res = post_pick(&env, &with_points(" 25 ")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let response = response_claims(&res);
    let items = response[CONTENT_ITEMS].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["lineItem"],
        json!({"scoreMaximum": 25, "label": "Intro to DBs", "resourceId": CONTENT_ID})
    );
    assert_eq!(items[0]["custom"]["content_id"], CONTENT_ID);

    // Left empty: an ungraded link.
    let res = post_pick(&env, &with_points("")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(
        response_claims(&res)[CONTENT_ITEMS][0]
            .get("lineItem")
            .is_none()
    );
}

/// A deep linking request's claims, for a login.
fn deep_linking_request(c: &mut Value, multiple: bool) {
    c[MESSAGE_TYPE] = json!(DEEP_LINKING_REQUEST);
    c.as_object_mut().unwrap().remove(RESOURCE_LINK);
    c[ROLES] = json!([INSTRUCTOR]);
    c[DEEP_LINKING_SETTINGS] = json!({
        "deep_link_return_url": "https://lms.example.edu/deep_links/return?course=7",
        "accept_types": ["link", "ltiResourceLink"],
        "accept_presentation_document_targets": ["iframe", "window"],
        "accept_multiple": multiple,
        "data": "opaque-platform-data-7",
    });
}

#[tokio::test]
async fn an_instructor_picks_labs_and_the_lms_gets_a_response_signed_by_the_tool_key() {
    let (env, _platform) = setup().await;
    let second = "5b1e4f0a-8c2d-4e6f-9a1b-3c5d7e9f1a2b";
    labgate::content::create_content(env.store(), &env.client.id, Some(second), "Lab 2: Indexes")
        .await
        .unwrap();
    let login = sign_in(&env).await;
    let mut claims = launch_claims(&login.nonce, "teacher-1", CONTENT_ID);
    deep_linking_request(&mut claims, true);
    let token = sign("p1", "platform-1", &claims);
    let form = [("id_token", token), ("state", login.state.clone())];
    let page = post_launch(&env, &form, Some(&login.cookie), false).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Intro to DBs") && page.body.contains("Lab 2: Indexes"));
    assert!(
        page.body.contains("type=\"checkbox\""),
        "several may be picked"
    );
    let pick = field(&page.body, "pick");

    // The request is used once.
    let again = post_launch(&env, &form, Some(&login.cookie), false).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.body);

    let picked = [
        ("pick".to_string(), pick.clone()),
        (format!("content_{CONTENT_ID}"), CONTENT_ID.to_string()),
        (format!("content_{second}"), second.to_string()),
    ];
    let res = post_pick(&env, &picked).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(
        res.body
            .contains("action=\"https://lms.example.edu/deep_links/return?course=7\""),
        "{}",
        res.body
    );
    let jwt = field(&res.body, "JWT");

    // The platform verifies it with the tool's published key.
    let tool = labgate::lti::tool_keys::ToolKey::parse("t1", &fixture_key("tool-1")).unwrap();
    let jwk = tool.jwk();
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&jwt).unwrap().kid.as_deref(),
        Some("t1")
    );
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[ISSUER]);
    validation.set_issuer(&[CLIENT_ID]);
    let response = jsonwebtoken::decode::<Value>(&jwt, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(response[MESSAGE_TYPE], "LtiDeepLinkingResponse");
    assert_eq!(response[VERSION], "1.3.0");
    assert_eq!(response[DEPLOYMENT_ID], DEPLOYMENT);
    assert_eq!(response[DEEP_LINKING_DATA], "opaque-platform-data-7");
    assert!(response["nonce"].as_str().is_some_and(|n| !n.is_empty()));
    let items = response[CONTENT_ITEMS].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["custom"]["content_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&CONTENT_ID) && ids.contains(&second));
    for item in items {
        assert_eq!(item["type"], "ltiResourceLink");
        assert_eq!(item["url"], format!("https://{API_HOST}/lti/launch"));
        assert!(
            item.get("lineItem").is_none(),
            "no points given: not graded"
        );
    }

    // A link made this way launches its lab: its custom parameter is what launches read.
    let login = sign_in(&env).await;
    let mut claims = launch_claims(&login.nonce, "learner-9", second);
    claims[CUSTOM] = items[0]["custom"].clone();
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    assert_eq!(
        post_launch(&env, &form, Some(&login.cookie), true)
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    // An altered pick, another tenant's lab, nothing picked: refused, nothing signed.
    let other = seed_client(env.store(), "Other LMS").await;
    let theirs = "0b8e1c3e-7d1f-4f55-9f0a-2b8a4e7c9d10";
    labgate::content::create_content(env.store(), &other.id, Some(theirs), "Theirs")
        .await
        .unwrap();
    let (payload, mac) = pick.split_once('.').unwrap();
    let altered = format!("{payload}x.{mac}");
    for (name, pairs, words) in [
        (
            "altered",
            vec![
                ("pick".to_string(), altered),
                ("content".to_string(), CONTENT_ID.to_string()),
            ],
            "expired or was altered",
        ),
        (
            "another tenant's lab",
            vec![
                ("pick".to_string(), pick.clone()),
                ("content".to_string(), theirs.to_string()),
            ],
            "not found",
        ),
        (
            "nothing picked",
            vec![("pick".to_string(), pick.clone())],
            "Pick a lab",
        ),
    ] {
        let res = post_pick(&env, &pairs).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{name}: {}", res.body);
        assert!(res.body.contains(words), "{name}: {}", res.body);
        assert!(!res.body.contains("JWT"), "{name}");
    }
}

#[tokio::test]
async fn a_single_pick_request_takes_one_lab_and_needs_a_tool_key() {
    let (env, _platform) = setup().await;
    let login = sign_in(&env).await;
    let mut claims = launch_claims(&login.nonce, "teacher-1", CONTENT_ID);
    deep_linking_request(&mut claims, false);
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    let page = post_launch(&env, &form, Some(&login.cookie), false).await;
    assert!(page.body.contains("type=\"radio\""), "{}", page.body);
    let pick = field(&page.body, "pick");
    let two = [
        ("pick".to_string(), pick.clone()),
        ("content".to_string(), CONTENT_ID.to_string()),
        (
            "content_x".to_string(),
            "5b1e4f0a-8c2d-4e6f-9a1b-3c5d7e9f1a2b".to_string(),
        ),
    ];
    assert_eq!(post_pick(&env, &two).await.status, StatusCode::BAD_REQUEST);

    // Without a tool key in the ring, nothing can be signed: a server error page, said plainly.
    let mut bare = TestEnv::with_config(&[("LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS", "true")]).await;
    bare.state.config.signing_keys = env
        .state
        .config
        .signing_keys
        .clone()
        .map(|_| labgate::master_key::KeyRing::parse("test", SIGNING_KEY).unwrap());
    // The pick was sealed with the same master key (the tests' SIGNING_KEY), so it opens.
    let one = [
        ("pick".to_string(), pick),
        ("content".to_string(), CONTENT_ID.to_string()),
    ];
    let res = post_pick(&bare, &one).await;
    assert_eq!(
        res.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        res.body
    );
}

/// The value a storage page keeps in the platform (its `value: "…"` literal).
fn stored_value(page: &str) -> String {
    let start = page.find("value: \"").unwrap() + "value: \"".len();
    page[start..][..page[start..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_platform_with_storage_keeps_the_state_for_a_browser_that_refuses_the_cookie() {
    let (env, _platform) = setup().await;
    let mut params = login_params();
    params.push(("lti_storage_target", "post_message_forwarding".to_string()));
    let res = login_get(&env, &params).await;
    // A page, not a redirect: it stores the state in the platform, then goes on.
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(
        res.header("set-cookie").is_some(),
        "the cookie is still set"
    );
    assert!(res.body.contains("lti.put_data"), "{}", res.body);
    assert!(
        res.body.contains("\"post_message_forwarding\""),
        "{}",
        res.body
    );
    assert!(
        res.body.contains("\"https://lms.example.edu\""),
        "to the platform's origin only: {}",
        res.body
    );
    let cookie = res.header("set-cookie").unwrap().split(';').next().unwrap();
    let (name, value) = cookie.split_once('=').unwrap();
    let state = name.strip_prefix("labgate_lti_").unwrap().to_string();
    assert_eq!(
        stored_value(&res.body),
        value,
        "the cookie's value is what is stored"
    );
    let marker = "window.location.replace(next)";
    assert!(res.body.contains(marker));
    let nonce = {
        let start = res.body.find("nonce=").unwrap() + "nonce=".len();
        res.body[start..]
            .split(['&', '"'])
            .next()
            .unwrap()
            .to_string()
    };

    let mut claims = launch_claims(&nonce, "user-1234", CONTENT_ID);
    claims[LAUNCH_PRESENTATION] = json!({"document_target": "iframe"});
    let token = sign("p1", "platform-1", &claims);
    let base = [
        ("id_token", token.clone()),
        ("state", state.clone()),
        ("lti_storage_target", "post_message_forwarding".to_string()),
    ];

    // The launch came without the cookie: a page that asks the platform for the state.
    let asked = post_launch(&env, &base, None, false).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert!(asked.body.contains("lti.get_data"), "{}", asked.body);
    assert!(asked.body.contains(&format!("labgate_state_{state}")));
    assert!(asked.body.contains("name=\"lti_state\""));
    assert!(
        asked
            .body
            .contains(&format!("action=\"https://{API_HOST}/lti/launch\"")),
        "{}",
        asked.body
    );

    // The page posts the launch again from labgate's own origin; a post from anywhere else is
    // someone else's form (login CSRF with their own state), refused like a forged value.
    let relaunch = |given: &str, origin: Option<&str>| {
        let mut form = base.to_vec();
        form.push(("lti_state", given.to_string()));
        let mut req = request("POST", API_HOST, "/lti/launch")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-dest", "iframe");
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.body(Body::Text(encoded(&form))).unwrap()
    };
    let ours = format!("https://{API_HOST}");
    let before = scan_all(env.store()).await.len();
    // The same value with its expiry moved a second: the tag no longer matches.
    let forged = {
        let parts: Vec<&str> = value.split('.').collect();
        let later = parts[2].parse::<i64>().unwrap() + 1;
        format!("{}.{}.{later}.{}", parts[0], parts[1], parts[3])
    };
    for (what, given, origin) in [
        ("forged", forged.as_str(), Some(ours.as_str())),
        ("empty", "", Some(ours.as_str())),
        ("junk", "a.b.c.d", Some(ours.as_str())),
        (
            "posted from another site",
            value,
            Some("https://evil.example"),
        ),
        ("posted with no origin", value, None),
    ] {
        let res = invoke(
            handlers::lti_launch::handle,
            &env.state,
            relaunch(given, origin),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{what}: {}", res.body);
    }
    assert_eq!(scan_all(env.store()).await.len(), before);

    // The state the platform kept, from labgate's page: the launch goes on, in the frame, to
    // the new-window page.
    let res = invoke(
        handlers::lti_launch::handle,
        &env.state,
        relaunch(value, Some(&ours)),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(
        res.body.contains("Open the lab in a new window"),
        "{}",
        res.body
    );

    // A platform without storage: no cookie is refused at once, as before.
    let plain = post_launch(&env, &base[..2], None, false).await;
    assert_eq!(plain.status, StatusCode::UNAUTHORIZED, "{}", plain.body);
}
