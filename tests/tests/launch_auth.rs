//! `GET /api/v1/launch/auth`: the one-time trade of a launch token for a session cookie.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::store::keys;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use std::sync::Arc;

async fn launch_url(env: &TestEnv) -> String {
    let res = env.launch(&payload("u1")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()["url"].as_str().unwrap().to_string()
}

fn assert_link_not_valid(res: &TestResponse) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    assert!(
        res.body.contains("This lab link is no longer valid"),
        "{}",
        res.body
    );
    assert!(res.header("set-cookie").is_none());
    assert!(res.header("location").is_none());
}

#[tokio::test]
async fn token_trades_once_for_a_cookie_and_a_redirect_in_two_round_trips() {
    let env = TestEnv::new().await;
    let url = launch_url(&env).await;
    env.round_trips.reset();

    let res = env.follow(&url, None).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    assert_eq!(env.round_trips.count(), 2, "token read + one transaction");
    assert_eq!(
        res.header("location"),
        Some(format!("{APP_URL}/project/{CONTENT_ID}").as_str())
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    let cookie = res.header("set-cookie").unwrap();
    let value = res.session_cookie().unwrap();
    assert_eq!(value.len(), 43);
    assert_eq!(
        cookie,
        format!(
            "labgate_session={value}; HttpOnly; SameSite=Lax; Secure; Path=/; Domain=labgate.test; Max-Age=43200"
        )
    );
    assert!(res.body.is_empty());

    assert_link_not_valid(&env.follow(&url, None).await);
}

#[tokio::test]
async fn unknown_malformed_and_missing_tokens_get_the_same_page() {
    let env = TestEnv::new().await;
    for path in [
        "/api/v1/launch/auth?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/api/v1/launch/auth?token=%0d%0aSet-Cookie:%20x=y",
        "/api/v1/launch/auth?token=",
        "/api/v1/launch/auth",
    ] {
        let req = request("GET", API_HOST, path).body(Body::Empty).unwrap();
        assert_link_not_valid(&env.call_auth(req).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_twenty_parallel_redemptions_exactly_one_wins() {
    let env = Arc::new(TestEnv::new().await);
    let url = launch_url(&env).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let env = env.clone();
            let url = url.clone();
            tokio::spawn(async move { env.follow(&url, None).await })
        })
        .collect();
    let mut won = Vec::new();
    for task in tasks {
        let res = task.await.unwrap();
        match res.status {
            StatusCode::FOUND => won.push(res.session_cookie().unwrap()),
            _ => assert_link_not_valid(&res),
        }
    }
    assert_eq!(won.len(), 1, "exactly one redemption wins");
    assert_eq!(env.whoami(&won[0]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_is_refused_while_its_item_is_still_in_the_table() {
    let env = TestEnv::with_config(&[("LABGATE_LAUNCH_TOKEN_TTL_SECONDS", "1")]).await;
    env.without_ttl().await;
    let url = launch_url(&env).await;
    let token = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .to_string();
    // A 1 s lifetime lasts at most 2 s (expiry is rounded up to the next whole second).
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let digest = labgate::secrets::Digest::of(&token);
    let stored = env
        .store()
        .client()
        .get_item()
        .table_name(env.store().table())
        .set_key(Some(keys::launch_token(digest.as_str()).item()))
        .send()
        .await
        .unwrap();
    assert!(stored.item.is_some(), "TTL is off for this table");

    assert_link_not_valid(&env.follow(&url, None).await);
}

#[tokio::test]
async fn head_does_not_consume_the_token() {
    let env = TestEnv::new().await;
    let url = launch_url(&env).await;
    let parsed = url::Url::parse(&url).unwrap();
    let head = request(
        "HEAD",
        API_HOST,
        &format!("{}?{}", parsed.path(), parsed.query().unwrap()),
    )
    .body(Body::Empty)
    .unwrap();
    env.round_trips.reset();
    let res = env.call_auth(head).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert!(res.body.is_empty());
    assert_eq!(env.round_trips.count(), 0);

    assert_eq!(env.follow(&url, None).await.status, StatusCode::FOUND);
}

#[tokio::test]
async fn a_different_next_is_refused_never_followed() {
    let env = TestEnv::new().await;
    let url = launch_url(&env).await;
    let parsed = url::Url::parse(&url).unwrap();
    let token = parsed
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .to_string();
    for next in [
        "https://evil.example/",
        "//evil.example",
        "https://app.labgate.test@evil.example/project/x",
        "javascript:alert(1)",
    ] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", &token)
            .append_pair("next", next)
            .finish();
        let req = request("GET", API_HOST, &format!("/api/v1/launch/auth?{query}"))
            .body(Body::Empty)
            .unwrap();
        let res = env.call_auth(req).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{next}");
        assert!(res.header("location").is_none());
        assert!(res.body.contains("altered"));
    }
    assert_eq!(
        env.follow(&url, None).await.status,
        StatusCode::FOUND,
        "a refused attempt does not use the token up"
    );
}

#[tokio::test]
async fn every_login_gets_a_fresh_session_id_and_ends_the_old_one() {
    let env = TestEnv::new().await;
    let first = env.login(&payload("u1")).await;
    let url = launch_url(&env).await;
    let res = env.follow(&url, Some(&first)).await;
    assert_eq!(res.status, StatusCode::FOUND);
    let second = res.session_cookie().unwrap();
    assert_ne!(first, second);
    assert_eq!(env.whoami(&first).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.whoami(&second).await.status, StatusCode::OK);
}

#[tokio::test]
async fn white_label_login_sets_the_cookie_for_its_domain() {
    let env = TestEnv::new().await;
    env.bind(WHITE_LABEL_HOST).await;
    let res = env
        .launch_with(&env.token, WHITE_LABEL_HOST, payload("u1").to_string())
        .await;
    let url = res.json()["url"].as_str().unwrap().to_string();
    let res = env.follow(&url, None).await;
    assert_eq!(res.status, StatusCode::FOUND);
    assert!(
        res.header("set-cookie")
            .unwrap()
            .contains("; Domain=school.test;")
    );
    assert_eq!(
        res.header("location"),
        Some(format!("{WHITE_LABEL_APP_URL}/project/{CONTENT_ID}").as_str())
    );
}

#[tokio::test]
async fn a_host_only_cookie_is_a_host_prefixed_cookie_and_only_that_name_is_read() {
    let env = TestEnv::with_config(&[("LABGATE_COOKIE_DOMAIN", "")]).await;
    let launched = env.launch(&payload("u1")).await;
    let res = env
        .follow(launched.json()["url"].as_str().unwrap(), None)
        .await;
    assert_eq!(res.status, StatusCode::FOUND);
    let set_cookie = res.header("set-cookie").unwrap().to_string();
    let value = set_cookie
        .strip_prefix("__Host-labgate_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("a __Host- cookie: {set_cookie}"))
        .to_string();
    assert!(!set_cookie.contains("Domain="), "{set_cookie}");
    assert!(set_cookie.contains("; Secure") && set_cookie.contains("; Path=/"));

    let read = |name: &str| {
        lambda_http::http::Request::builder()
            .method("GET")
            .uri(format!("https://{API_HOST}/api/v1/session"))
            .header("host", API_HOST)
            .header("cookie", format!("{name}={value}"))
            .body(lambda_http::Body::Empty)
            .unwrap()
    };
    // A sibling host could set `labgate_session` for the whole site; it is not read.
    let unprefixed = env.call_session(read("labgate_session")).await;
    assert_eq!(unprefixed.status, StatusCode::UNAUTHORIZED);
    let prefixed = env.call_session(read("__Host-labgate_session")).await;
    assert_eq!(prefixed.status, StatusCode::OK, "{}", prefixed.body);
}
