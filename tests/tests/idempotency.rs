//! `Idempotency-Key`: a launch sent again with its key is the first launch again (a fresh
//! one-time URL, never a second launch or a second `launch.created`), a key reused with another
//! body is a 422, concurrent retries make one launch, and a key is forgotten after 24 hours.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::api_client::Scope;
use labgate::secrets::Digest;
use labgate::store::keys;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::json;
use std::sync::Arc;

async fn launch_keyed(env: &TestEnv, token: &str, key: &str, body: &str) -> TestResponse {
    let req = request("POST", API_HOST, "/api/v1/launch")
        .header("authorization", format!("Token {token}"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::Text(body.to_string()))
        .unwrap();
    env.call_launch(req).await
}

fn url_of(res: &TestResponse) -> String {
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()["url"].as_str().unwrap().to_string()
}

fn launch_id(res: &TestResponse) -> String {
    res.header("labgate-launch-id")
        .unwrap_or_else(|| panic!("{} {}", res.status, res.body))
        .to_string()
}

async fn launches_of(env: &TestEnv, user: &str) -> usize {
    labgate::launch::list_for_user(env.store(), &env.client.id, user)
        .await
        .unwrap()
        .len()
}

async fn created_events(env: &TestEnv) -> usize {
    env.event_types()
        .await
        .iter()
        .filter(|t| *t == "launch.created")
        .count()
}

#[tokio::test]
async fn a_retry_with_the_key_is_the_same_launch_with_a_fresh_url() {
    let env = TestEnv::new().await;
    let body = payload("u1").to_string();
    env.round_trips.reset();
    let first = launch_keyed(&env, &env.token, "order-1", &body).await;
    let first_url = url_of(&first);
    assert_eq!(
        env.round_trips.count(),
        2,
        "the key is read with the token, written with the launch"
    );
    assert_eq!(first.header("idempotent-replayed"), None);

    // The same body with its keys in another order is the same request.
    let reordered = format!(r#"{{"content_id": "{CONTENT_ID}", "user_id": "u1"}}"#);
    let again = launch_keyed(&env, &env.token, "order-1", &reordered).await;
    let again_url = url_of(&again);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(launch_id(&again), launch_id(&first));
    assert_ne!(again_url, first_url, "a fresh one-time URL");
    assert_eq!(launches_of(&env, "u1").await, 1);
    assert_eq!(created_events(&env).await, 1);

    // The replaced URL is retired: the launch has one live link, the newest.
    assert_eq!(
        env.follow(&first_url, None).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(env.follow(&again_url, None).await.status, StatusCode::FOUND);

    // After the link was used, a retry still gets a working link to the same launch.
    let third = launch_keyed(&env, &env.token, "order-1", &body).await;
    assert_eq!(launch_id(&third), launch_id(&first));
    assert_eq!(
        env.follow(&url_of(&third), None).await.status,
        StatusCode::FOUND
    );
    assert_eq!(launches_of(&env, "u1").await, 1);
    assert_eq!(created_events(&env).await, 1);

    // Another key is another launch; no key is always a new launch.
    let other = launch_keyed(&env, &env.token, "order-2", &body).await;
    assert_ne!(launch_id(&other), launch_id(&first));
    env.launch(&payload("u1")).await;
    assert_eq!(launches_of(&env, "u1").await, 3);
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_422_and_changes_nothing() {
    let env = TestEnv::new().await;
    let first = launch_keyed(&env, &env.token, "k", &payload("u1").to_string()).await;
    url_of(&first);
    let res = launch_keyed(&env, &env.token, "k", &payload("u2").to_string()).await;
    res.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": "This Idempotency-Key was used with a different request in the last 24 hours."}),
    );
    assert_eq!(launches_of(&env, "u2").await, 0);
    assert_eq!(created_events(&env).await, 1);

    for bad in ["", "has space", &"k".repeat(256)] {
        let res = launch_keyed(&env, &env.token, bad, &payload("u3").to_string()).await;
        res.assert_error(
            StatusCode::BAD_REQUEST,
            json!({"error": "Idempotency-Key must be 1 to 255 visible ASCII characters."}),
        );
    }
    assert_eq!(launches_of(&env, "u3").await, 0);
}

#[tokio::test]
async fn parallel_retries_with_one_key_make_one_launch_and_one_live_link() {
    let env = Arc::new(TestEnv::new().await);
    let body = payload("u1").to_string();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (env, body) = (env.clone(), body.clone());
            tokio::spawn(async move { launch_keyed(&env, &env.token, "burst", &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let ids: std::collections::BTreeSet<String> = answers.iter().map(launch_id).collect();
    assert_eq!(ids.len(), 1, "one launch: {ids:?}");
    let replayed = answers
        .iter()
        .filter(|a| a.header("idempotent-replayed") == Some("true"))
        .count();
    assert_eq!(replayed, 11, "one did the launch, the others replayed it");
    assert_eq!(launches_of(&env, "u1").await, 1);
    assert_eq!(created_events(&env).await, 1);

    let mut worked = 0;
    for answer in &answers {
        if env.follow(&url_of(answer), None).await.status == StatusCode::FOUND {
            worked += 1;
        }
    }
    assert_eq!(worked, 1, "exactly one of the URLs is live");
}

#[tokio::test]
async fn a_key_is_forgotten_after_24_hours_even_before_ttl_removes_it() {
    let env = TestEnv::new().await;
    env.without_ttl().await;
    let body = payload("u1").to_string();
    let first = launch_keyed(&env, &env.token, "daily", &body).await;
    url_of(&first);

    // 24 hours later: the record is still in the table (TTL deletes late), past its lifetime.
    let scope = format!("TOKEN.{}", Digest::of(&env.token).as_str());
    let key = keys::idempotency(&scope, Digest::of("daily").as_str());
    let record = labgate::store::get(env.store(), &key, "test")
        .await
        .unwrap()
        .unwrap();
    let expires: i64 = record["expires_at"].as_n().unwrap().parse().unwrap();
    let now = labgate::clock::now();
    assert!(
        (now + 24 * 3600 - 5..=now + 24 * 3600).contains(&expires),
        "{expires}"
    );
    env.store()
        .client()
        .update_item()
        .table_name(env.store().table())
        .set_key(Some(key.item()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", labgate::store::attr::n(now - 1))
        .send()
        .await
        .unwrap();

    // The same key with the same or another body is a new launch now.
    let later = launch_keyed(&env, &env.token, "daily", &payload("u2").to_string()).await;
    url_of(&later);
    assert_eq!(later.header("idempotent-replayed"), None);
    assert_ne!(launch_id(&later), launch_id(&first));
    assert_eq!(created_events(&env).await, 2);
}

#[tokio::test]
async fn keys_belong_to_the_token_that_sent_them() {
    let env = TestEnv::new().await;
    let body = payload("u1").to_string();
    let first = launch_keyed(&env, &env.token, "shared-key", &body).await;

    // Another tenant using the same key string gets its own launch.
    let other = seed_client(env.store(), "Other").await;
    let (_, other_token) =
        labgate::api_client::issue_token(env.store(), &other.id, "t", &[Scope::Launch])
            .await
            .unwrap()
            .unwrap();
    let theirs = labgate::content::create_content(env.store(), &other.id, None, "Theirs")
        .await
        .unwrap();
    let their_body = json!({"user_id": "u1", "content_id": theirs.id}).to_string();
    let res = launch_keyed(&env, other_token.expose(), "shared-key", &their_body).await;
    url_of(&res);
    assert_eq!(
        res.header("idempotent-replayed"),
        None,
        "nothing of our key"
    );
    assert_ne!(launch_id(&res), launch_id(&first));

    // A second token of the same tenant has keys of its own (documented: keys are per token).
    let second = env.token_with(&[Scope::Launch]).await;
    let res = launch_keyed(&env, &second, "shared-key", &body).await;
    url_of(&res);
    assert_ne!(launch_id(&res), launch_id(&first));
    assert_eq!(res.header("idempotent-replayed"), None);
}

/// `GET /workshops/environment/<env>/request/?<query>` with an idempotency key.
async fn request_keyed(
    env: &TestEnv,
    robot: &Robot,
    lab: &str,
    query: &str,
    key: &str,
) -> TestResponse {
    let req = request(
        "GET",
        API_HOST,
        &format!("/workshops/environment/{lab}/request/?{query}"),
    )
    .header("authorization", format!("Bearer {}", robot.access_token))
    .header("idempotency-key", key)
    .body(Body::Empty)
    .unwrap();
    invoke(labgate::handlers::session_request::handle, &env.state, req).await
}

#[tokio::test]
async fn a_session_request_sent_again_gets_the_first_session_and_never_a_second() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(5, |_| {}).await;
    // Without `user` Educates makes one up: a retry must not make up another.
    let ask = query(&[("timeout", "120")]);
    env.round_trips.reset();
    let first = request_keyed(&env, &robot, &lab, &ask, "req-1").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(
        env.round_trips.count() <= 4,
        "a new user's budget: {}",
        env.round_trips.count()
    );
    let first = first.json();

    let reordered = form(&[("timeout", "120"), ("index_url", INDEX_URL)]);
    let again = request_keyed(&env, &robot, &lab, &reordered, "req-1").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let again = again.json();
    assert_eq!(again["name"], first["name"]);
    assert_eq!(again["user"], first["user"], "the first request's user");
    assert_ne!(again["url"], first["url"], "a fresh activation token");
    env.count_sessions().await;
    let status = env
        .portal(
            labgate::handlers::environment_status::handle,
            "GET",
            &format!("/workshops/environment/{lab}/status/"),
            &robot.access_token,
        )
        .await
        .json();
    assert_eq!(status["allocated"], 1);

    // Only the newest activation link works.
    let old = env.activate(first["url"].as_str().unwrap(), None).await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    let new = env.activate(again["url"].as_str().unwrap(), None).await;
    assert_eq!(new.status, StatusCode::FOUND, "{}", new.body);

    // Another request with the key is refused; once the session ended, a retry gets none.
    let other = request_keyed(&env, &robot, &lab, &query(&[("user", "u9")]), "req-1").await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        other.body,
        "This Idempotency-Key was used with a different request in the last 24 hours."
    );
    let name = first["name"].as_str().unwrap();
    env.portal(
        labgate::handlers::session_terminate::handle,
        "GET",
        &format!("/workshops/session/{name}/terminate/"),
        &robot.access_token,
    )
    .await;
    let after = request_keyed(&env, &robot, &lab, &ask, "req-1").await;
    assert_eq!(
        after.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        after.body
    );
    assert_eq!(after.json(), json!({"error": "No session available"}));

    let bad = request_keyed(&env, &robot, &lab, &ask, "no spaces allowed").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.body,
        "Idempotency-Key must be 1 to 255 visible ASCII characters."
    );
}

#[tokio::test]
async fn parallel_session_requests_with_one_key_allocate_one_session() {
    let env = Arc::new(TestEnv::new().await);
    let robot = Arc::new(env.robot().await);
    let lab = env.environment(5, |_| {}).await;
    let ask = query(&[]);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (env, robot, lab, ask) = (env.clone(), robot.clone(), lab.clone(), ask.clone());
            tokio::spawn(async move { request_keyed(&env, &robot, &lab, &ask, "class").await })
        })
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for task in tasks {
        let res = task.await.unwrap();
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        names.insert(res.json()["name"].as_str().unwrap().to_string());
    }
    assert_eq!(names.len(), 1, "{names:?}");
    let allocated = env
        .event_types()
        .await
        .iter()
        .filter(|t| *t == "session.allocated")
        .count();
    assert_eq!(allocated, 1);
}
