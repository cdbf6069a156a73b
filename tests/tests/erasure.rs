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
    env.set_webhook(&receiver.url).await;

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

#[tokio::test]
async fn a_launch_is_kept_for_the_retention_and_is_gone_once_past_it() {
    let env = TestEnv::with_config(&[("LABGATE_RETENTION_DAYS", "30")]).await;
    env.without_ttl().await;
    let launched = env.launch(&payload("u1")).await;
    let launch_id = launched.header("labgate-launch-id").unwrap().to_string();
    let key = labgate::store::keys::launch(&launch_id);
    let stored = labgate::store::get(env.store(), &key, "GetItem")
        .await
        .unwrap()
        .unwrap();
    let expires = labgate::store::attr::get_n(&stored, "expires_at").unwrap();
    let created = labgate::store::attr::get_n(&stored, "created_at").unwrap();
    assert_eq!(expires - created, 30 * 86_400);

    // Past its retention (and still in the table, TTL being late): a progress report on it is
    // answered as for an unknown launch, and writes nothing.
    env.store()
        .client()
        .update_item()
        .table_name(env.store().table())
        .set_key(Some(key.item()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", labgate::store::attr::n(created - 1))
        .send()
        .await
        .unwrap();
    let grading = env.token_with(&[labgate::api_client::Scope::Grading]).await;
    let req = request("POST", API_HOST, "/api/v1/progress")
        .header("authorization", format!("Token {grading}"))
        .body(lambda_http::Body::Text(
            json!({"launch_id": launch_id, "progress": 0.5}).to_string(),
        ))
        .unwrap();
    let res = invoke(labgate::handlers::progress::handle, &env.state, req).await;
    res.assert_error(
        StatusCode::NOT_FOUND,
        json!({"error": format!("Launch {launch_id} not found.")}),
    );
    assert_eq!(env.event_types().await, vec!["launch.created"]);
}

#[tokio::test]
async fn erasing_a_user_gives_back_their_seats_in_the_counts_even_before_the_counter_runs() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let token = &robot.access_token;
    let live = env.environment(2, |_| {}).await;
    let lapsed = env.environment(2, |_| {}).await;
    for (lab, timeout) in [(&live, "600"), (&lapsed, "1")] {
        let ask = query(&[("user", "erased-learner"), ("timeout", timeout)]);
        let res = env.request_session(token, lab, &ask).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    env.count_sessions().await;
    // The second session's activation deadline passes; the reaper has not run.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    labgate::erasure::erase(env.store(), &env.client.id, "erased-learner")
        .await
        .unwrap();
    // The erasure deleted the user's events, their ends too, before the counter saw them.
    let report = env.count_sessions().await;
    assert_eq!(report.counted, 2, "both ends counted: {report:?}");
    for lab in [&live, &lapsed] {
        let view = labgate::workshop::environment::load(env.store(), lab)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.counted, 0, "{lab}");
    }
}
