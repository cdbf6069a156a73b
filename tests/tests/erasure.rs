//! Erasing a user (issue 12, item 4): afterwards nothing in the whole table names them, their live
//! workshop sessions ended with reason `erased`, and an erasure record says it happened.

#![recursion_limit = "256"]

use labgate_tests::receiver::Receiver;
use labgate_tests::*;
use lambda_http::http::StatusCode;
use serde_json::json;

const ERASED_USER: &str = "erase-me-7f3a";

/// Every item of the table that mentions `needle`, anywhere.
async fn mentioning(env: &TestEnv, needle: &str) -> Vec<String> {
    scan_all(env.store())
        .await
        .iter()
        .map(|item| format!("{item:?}"))
        .filter(|text| text.contains(needle))
        .collect()
}

#[tokio::test]
async fn an_erased_user_is_nowhere_in_the_table_and_the_erasure_is_recorded() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let other_lab = env.environment(3, |_| {}).await;
    let receiver = Receiver::start(&[]).await;
    let now = labgate::clock::now();
    let keep = labgate::events::delivery::Secret::Keep;
    labgate::events::delivery::set_webhook(env.store(), &env.client.id, &receiver.url, keep, now)
        .await
        .unwrap();

    // The user launches (teams, context), logs in, leaves an unused link, and holds a running
    // and a pending workshop session; events are delivered. Another user does the same.
    for user in [ERASED_USER, "someone-else"] {
        let body = json!({
            "user_id": user, "content_id": CONTENT_ID, "email": format!("{user}@example.com"),
            "teams": ["Class 1"], "licenses": ["p1"], "context": {"course": "DB 101"}
        });
        env.login(&body).await;
        env.launch(&body).await;
        let running = env
            .request_session(&robot.access_token, &lab, &query(&[("user", user)]))
            .await;
        env.activate(running.json()["url"].as_str().unwrap(), None)
            .await;
        env.request_session(&robot.access_token, &other_lab, &query(&[("user", user)]))
            .await;
    }
    env.dispatch(&env.stream_batch().await).await.unwrap();
    assert!(!mentioning(&env, ERASED_USER).await.is_empty());

    let erased = labgate::erasure::erase(env.store(), &env.client.id, ERASED_USER)
        .await
        .unwrap();
    assert_eq!(erased.sessions_ended, 2);
    let left = mentioning(&env, ERASED_USER).await;
    assert!(left.is_empty(), "items still naming the user: {left:#?}");

    // The erasure is recorded, without the user; the other user is untouched.
    let records = mentioning(&env, &erased.erasure_id).await;
    assert_eq!(records.len(), 1);
    assert!(!mentioning(&env, "someone-else").await.is_empty());
    let cookie = env.login(&payload("someone-else")).await;
    assert_eq!(env.whoami(&cookie).await.status, StatusCode::OK);

    // The erased user's slot was freed: a full environment of two takes one new user.
    let next = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "n1")]))
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    let full = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "n2")]))
        .await;
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
}
