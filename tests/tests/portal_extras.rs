//! Educates' remaining portal endpoints: `catalog/workshops/`, and a session's `config/`,
//! `event/` and `authorize/`, against the shapes and errors of the reference
//! (`educates-portal-api.md` §2, rows 2, 9, 10 and 11), tenant-sealed like the rest.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use base64::Engine;
use labgate::events::signing;
use labgate::handlers;
use labgate_tests::receiver::Receiver;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

/// A tenant with a robot and a live session of user `u1`: (env, robot, session name).
async fn with_session() -> (TestEnv, Robot, String) {
    let env = TestEnv::new().await;
    let (robot, name) = env.session_of("u1").await;
    (env, robot, name)
}

async fn post_event(
    env: &TestEnv,
    token: &str,
    name: &str,
    content_type: &str,
    body: &str,
) -> TestResponse {
    let mut req = request(
        "POST",
        API_HOST,
        &format!("/workshops/session/{name}/event/"),
    )
    .header("content-type", content_type);
    if !token.is_empty() {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    invoke(
        handlers::session_event::handle,
        &env.state,
        req.body(Body::Text(body.to_string())).unwrap(),
    )
    .await
}

#[tokio::test]
async fn the_workshop_catalog_lists_each_workshop_with_its_environment() {
    let (env, robot, _) = with_session().await;
    let other = seed_client(env.store(), "Other").await;
    env.environment_for(&other.id, 1, |_| {}).await;
    env.count_sessions().await;

    for path in [
        "/workshops/catalog/workshops/",
        "/workshops/catalog/workshops",
    ] {
        env.round_trips.reset();
        let res = env
            .portal(
                handlers::catalog_workshops::handle,
                "GET",
                path,
                &robot.access_token,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(env.round_trips.count(), 2, "the token, then one query");
        let mut body = res.json();
        assert_eq!(body["portal"]["uid"], env.client.id.as_str());
        assert_eq!(body["portal"]["sessions"]["allocated"], 1);
        let workshops = body["workshops"].as_array_mut().unwrap();
        assert_eq!(workshops.len(), 1, "only this tenant's: {workshops:?}");
        let mut workshop = workshops[0].take();
        let lab = workshop["environment"]["name"].take();
        assert!(lab.as_str().unwrap().starts_with("lab-"));
        assert_eq!(
            workshop,
            json!({
                "name": "lab-markdown-sample", "resource": "lab-markdown-sample",
                "title": "Markdown Sample", "description": "A sample workshop", "vendor": "labgate",
                "authors": ["Ada"], "difficulty": "beginner", "duration": "30m", "tags": ["sample"],
                "labels": {"level": "intro"}, "logo": "", "url": "https://example.com/workshop",
                "environment": {"name": null, "state": "RUNNING", "duration": 1800, "capacity": 3,
                    "reserved": 0, "allocated": 1, "available": 2},
            })
        );
    }

    for token in ["", "not-a-token"] {
        let res = env
            .portal(
                handlers::catalog_workshops::handle,
                "GET",
                "/workshops/catalog/workshops/",
                token,
            )
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert_eq!(
            res.body, "",
            "Educates answers a bad token with an empty 403"
        );
    }
}

#[tokio::test]
async fn config_gives_the_sessions_url_and_a_stable_password_of_its_own() {
    let (env, robot, name) = with_session().await;
    let config = |path: String, token: String| {
        let env = &env;
        async move {
            env.portal(handlers::session_config::handle, "GET", &path, &token)
                .await
        }
    };
    env.round_trips.reset();
    let res = config(
        format!("/workshops/session/{name}/config/"),
        robot.access_token.clone(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        env.round_trips.count(),
        1,
        "token and session in one BatchGetItem"
    );
    let body = res.json();
    assert_eq!(body["url"], format!("https://{name}.labs.example.com/"));
    let key = base64::engine::general_purpose::STANDARD
        .decode(SIGNING_KEY)
        .unwrap();
    let password = labgate::workshop::session::config::password(&key, &name);
    assert_eq!(body, json!({"url": body["url"], "password": password}));
    let again = config(
        format!("/workshops/session/{name}/config"),
        robot.access_token.clone(),
    )
    .await;
    assert_eq!(again.json(), body, "the same password on every call");

    // Educates does not check the allocation state: an ended session still answers.
    let ended = env
        .portal(
            handlers::session_terminate::handle,
            "GET",
            &format!("/workshops/session/{name}/terminate/"),
            &robot.access_token,
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK);
    let res = config(
        format!("/workshops/session/{name}/config/"),
        robot.access_token.clone(),
    )
    .await;
    assert_eq!(res.json(), body);

    let other = seed_client(env.store(), "Other").await;
    let foreign = env.robot_for(&other.id).await;
    for (path, token, status) in [
        (
            format!("/workshops/session/{name}/config/"),
            foreign.access_token.clone(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/workshops/session/lab-nope-s001/config/".to_string(),
            robot.access_token.clone(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/workshops/session/..%2F..%2Fetc/config/".to_string(),
            robot.access_token.clone(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/workshops/session/{name}/config/"),
            String::new(),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let res = config(path.clone(), token).await;
        assert_eq!(res.status, status, "{path}");
        assert!(!res.body.contains("password"), "{path}: {}", res.body);
    }
}

#[tokio::test]
async fn an_event_from_the_session_is_delivered_signed_as_session_event() {
    let (env, robot, name) = with_session().await;
    let receiver = Receiver::start(&[]).await;
    env.set_webhook(&receiver.url).await;

    env.round_trips.reset();
    let body = r#"{"event": {"name": "step-completed", "data": {"step": 3, "score": 0.5}}}"#;
    let res = post_event(
        &env,
        &robot.access_token,
        &name,
        "application/json; charset=utf-8",
        body,
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json(), json!({}));
    assert_eq!(env.round_trips.count(), 2, "one read, one write");

    let events = env.events().await;
    let event = events
        .iter()
        .find(|e| e.event_type == "session.event")
        .expect("recorded");
    let recorded: Value = serde_json::from_str(&event.body).unwrap();
    assert_eq!(recorded["data"]["session"], name.as_str());
    assert_eq!(recorded["data"]["user"], "u1");
    assert_eq!(
        recorded["data"]["event"],
        json!({"name": "step-completed", "data": {"step": 3, "score": 0.5}})
    );

    env.dispatch(&env.stream_batch().await).await.unwrap();
    let got = receiver.received();
    let delivered = got
        .iter()
        .find(|r| r.json()["type"] == "session.event")
        .expect("delivered to the webhook");
    let id = delivered.header("webhook-id").unwrap();
    let timestamp: i64 = delivered
        .header("webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let signature = delivered.header("webhook-signature").unwrap();
    assert!(signing::verify(
        &env.webhook_secret(1),
        id,
        timestamp,
        &delivered.body,
        signature
    ));
}

#[tokio::test]
async fn a_bad_event_is_refused_with_educates_words_and_nothing_is_recorded() {
    let (env, robot, name) = with_session().await;
    let before = env.events().await.len();
    let big = format!(
        r#"{{"event": {{"name": "big", "data": {{"blob": "{}"}}}}}}"#,
        "x".repeat(labgate::workshop::session::MAX_EVENT_BYTES)
    );
    let token = robot.access_token.as_str();
    let good = r#"{"event": {"name": "ok"}}"#;
    for (content_type, body, status, words) in [
        (
            "text/plain",
            good,
            StatusCode::BAD_REQUEST,
            "No event data provided",
        ),
        (
            "application/json",
            "not json",
            StatusCode::BAD_REQUEST,
            "No event data provided",
        ),
        (
            "application/json",
            "{}",
            StatusCode::BAD_REQUEST,
            "No event data provided",
        ),
        (
            "application/json",
            r#"{"event": {"data": {}}}"#,
            StatusCode::BAD_REQUEST,
            "Event name must be 1 to 100 printable characters",
        ),
        (
            "application/json",
            r#"{"event": {"name": "x", "data": "y"}}"#,
            StatusCode::BAD_REQUEST,
            "Event data must be a JSON object",
        ),
        (
            "application/json",
            big.as_str(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Event too large: at most 16384 bytes",
        ),
    ] {
        let res = post_event(&env, token, &name, content_type, body).await;
        assert_eq!(
            res.status,
            status,
            "{content_type} {}",
            &body[..body.len().min(40)]
        );
        assert_eq!(res.body, words);
    }

    let other = seed_client(env.store(), "Other").await;
    let foreign = env.robot_for(&other.id).await;
    let res = post_event(&env, &foreign.access_token, &name, "application/json", good).await;
    assert_eq!(
        res.status,
        StatusCode::NOT_FOUND,
        "another tenant's session is not there"
    );
    let res = post_event(&env, "", &name, "application/json", good).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::FORBIDDEN, ""));
    assert_eq!(env.events().await.len(), before, "nothing recorded");
}

#[tokio::test]
async fn authorize_names_the_owner_and_the_caller_within_the_schedule_budget() {
    let (env, robot, name) = with_session().await;
    let authorize = |token: String, path: String| {
        let env = &env;
        async move {
            env.portal(handlers::session_authorize::handle, "GET", &path, &token)
                .await
        }
    };
    env.round_trips.reset();
    let res = authorize(
        robot.access_token.clone(),
        format!("/workshops/session/{name}/authorize/"),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        env.round_trips.count(),
        1,
        "as schedule: token and session in one round trip"
    );
    assert_eq!(
        res.json(),
        json!({"owner": "u1", "user": robot.username, "staff": false})
    );
    let res = authorize(
        robot.access_token.clone(),
        format!("/workshops/session/{name}/authorize"),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);

    let other = seed_client(env.store(), "Other").await;
    let foreign = env.robot_for(&other.id).await;
    let res = authorize(
        foreign.access_token.clone(),
        format!("/workshops/session/{name}/authorize/"),
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = authorize(
        String::new(),
        format!("/workshops/session/{name}/authorize/"),
    )
    .await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::FORBIDDEN, ""));

    // An ended session lets nobody in.
    env.portal(
        handlers::session_terminate::handle,
        "GET",
        &format!("/workshops/session/{name}/terminate/"),
        &robot.access_token,
    )
    .await;
    let res = authorize(
        robot.access_token.clone(),
        format!("/workshops/session/{name}/authorize/"),
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}
