//! With DynamoDB unreachable, every kind of endpoint answers a 503 JSON error with a request id
//! within its timeout, and serves again when the database is back.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::store::RoundTrips;
use labgate::workshop::handlers::{catalog, manage};
use labgate_tests::*;
use lambda_http::http::StatusCode;
use std::time::{Duration, Instant};

fn assert_unavailable(what: &str, res: &TestResponse, took: Duration) {
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        res.body
    );
    let body = res.json();
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
    assert!(
        uuid::Uuid::parse_str(body["request_id"].as_str().unwrap()).is_ok(),
        "{what}"
    );
    assert!(
        !res.body.contains("127.0.0.1"),
        "{what}: nothing internal leaks"
    );
    assert!(
        took < Duration::from_secs(8),
        "{what} took {took:?}, past the function's timeout"
    );
}

#[tokio::test]
async fn every_endpoint_answers_503_while_dynamodb_is_down_and_recovers() {
    let mut env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let url = env.launch(&payload("u1")).await.json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie = env.login(&payload("u2")).await;
    let session = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "u3")]))
        .await
        .json();
    let working = env.state.store.clone();

    // Nothing listens on port 9 here: every call is refused.
    env.state.store = store_at(
        "http://127.0.0.1:9",
        working.table(),
        &RoundTrips::default(),
    );
    let checks: Vec<(&str, TestResponse, Duration)> = vec![
        {
            let t = Instant::now();
            ("launch", env.launch(&payload("u4")).await, t.elapsed())
        },
        {
            let t = Instant::now();
            ("redemption", env.follow(&url, None).await, t.elapsed())
        },
        {
            let t = Instant::now();
            ("who is logged in", env.whoami(&cookie).await, t.elapsed())
        },
        {
            let t = Instant::now();
            let res = env
                .call_token(
                    form(&[
                        ("grant_type", "password"),
                        ("username", &robot.username),
                        ("password", &robot.password),
                        ("client_id", &robot.client_id),
                        ("client_secret", &robot.client_secret),
                    ]),
                    None,
                )
                .await;
            ("OAuth token", res, t.elapsed())
        },
        {
            let t = Instant::now();
            (
                "catalog",
                env.portal(
                    catalog::catalog,
                    "GET",
                    "/workshops/catalog/environments/",
                    &robot.access_token,
                )
                .await,
                t.elapsed(),
            )
        },
        {
            let t = Instant::now();
            (
                "session request",
                env.request_session(&robot.access_token, &lab, &query(&[("user", "u5")]))
                    .await,
                t.elapsed(),
            )
        },
        {
            let t = Instant::now();
            (
                "activation",
                env.activate(session["url"].as_str().unwrap(), None).await,
                t.elapsed(),
            )
        },
        {
            let t = Instant::now();
            let res = env
                .portal(
                    manage::schedule,
                    "GET",
                    &format!(
                        "/workshops/session/{}/schedule/",
                        session["name"].as_str().unwrap()
                    ),
                    &robot.access_token,
                )
                .await;
            ("schedule", res, t.elapsed())
        },
    ];
    for (what, res, took) in &checks {
        assert_unavailable(what, res, *took);
    }

    env.state.store = working;
    assert_eq!(
        env.follow(&url, None).await.status,
        StatusCode::FOUND,
        "the link was not used up"
    );
    assert_eq!(env.launch(&payload("u4")).await.status, StatusCode::OK);
    let res = env.activate(session["url"].as_str().unwrap(), None).await;
    assert_eq!(res.status, StatusCode::FOUND);
}
