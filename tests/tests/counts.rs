//! Each environment's count of live sessions (`workshop::counts`): kept from the outbox by the
//! session counter, exactly once however often the stream hands it a batch, and read by the
//! catalog and status in two items an environment whatever its sessions.

// Handler futures nest deeply (handler → domain → store).
#![recursion_limit = "256"]

use labgate::handlers;
use labgate_tests::*;
use lambda_http::http::StatusCode;
use serde_json::Value;
use std::sync::Arc;

async fn status(env: &TestEnv, token: &str, lab: &str) -> Value {
    let res = env
        .portal(
            handlers::environment_status::handle,
            "GET",
            &format!("/workshops/environment/{lab}/status/"),
            token,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

fn counts(status: &Value) -> (i64, i64) {
    (
        status["allocated"].as_i64().unwrap(),
        status["available"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn counts_follow_parallel_requests_ends_and_expiry_and_a_retried_batch_changes_nothing() {
    let env = Arc::new(TestEnv::new().await);
    let robot = env.robot().await;
    let token = robot.access_token.clone();
    let lab = env
        .environment(20, |e| {
            e.duration_secs = 3600;
        })
        .await;

    // 30 users at once against 20 seats.
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (env, token, lab) = (env.clone(), token.clone(), lab.clone());
            tokio::spawn(async move {
                let res = env
                    .request_session(&token, &lab, &query(&[("user", &format!("u{i}"))]))
                    .await;
                (res.status, res.json())
            })
        })
        .collect();
    let mut names = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => names.push(body["name"].as_str().unwrap().to_string()),
            other => assert_eq!(other, StatusCode::SERVICE_UNAVAILABLE, "{body}"),
        }
    }
    assert_eq!(names.len(), 20);
    // Not counted yet: the counter has not run.
    assert_eq!(counts(&status(&env, &token, &lab).await), (0, 20));
    let first = env.count_sessions().await;
    assert_eq!((first.counted, first.already), (20, 0));
    assert_eq!(counts(&status(&env, &token, &lab).await), (20, 0));

    // The stream hands the same events again (a retried batch): nothing changes.
    let again = env.count_sessions().await;
    assert_eq!((again.counted, again.already), (0, 20));
    assert_eq!(counts(&status(&env, &token, &lab).await), (20, 0));

    // Seven ended by terminate, in parallel.
    let tasks: Vec<_> = names[..7]
        .iter()
        .map(|name| {
            let (env, token, name) = (env.clone(), token.clone(), name.clone());
            tokio::spawn(async move {
                env.portal(
                    handlers::session_terminate::handle,
                    "GET",
                    &format!("/workshops/session/{name}/terminate/"),
                    &token,
                )
                .await
                .status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    let ended = env.count_sessions().await;
    assert_eq!((ended.counted, ended.already), (7, 20));
    assert_eq!(counts(&status(&env, &token, &lab).await), (13, 7));

    // The other 13 expire (their activation deadline passes): counted once the reaper ends them.
    let later = labgate::clock::now() + 7200;
    let report = env.reap(later, 100).await.unwrap();
    assert_eq!(report.ended, 13, "{report:?}");
    env.count_sessions().await;
    assert_eq!(counts(&status(&env, &token, &lab).await), (0, 20));
    let view = labgate::workshop::environment::load(env.store(), &lab)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.counted, 0, "the count item itself, not only the clamp");
}

#[tokio::test]
async fn status_and_catalog_read_two_items_an_environment_whatever_its_sessions() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let token = &robot.access_token;
    let small = env.environment(2, |_| {}).await;
    let large = env.environment(200, |_| {}).await;
    for i in 0..60 {
        let res = env
            .request_session(token, &large, &query(&[("user", &format!("u{i}"))]))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    let res = env
        .request_session(token, &small, &query(&[("user", "u0")]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    env.count_sessions().await;

    let mut read = Vec::new();
    for lab in [&small, &large] {
        env.round_trips.reset();
        let body = status(&env, token, lab).await;
        read.push((env.round_trips.count(), env.round_trips.items()));
        assert_eq!(body["sessions"], Value::Null, "sessions only when asked");
    }
    // The token, then the definition and the count.
    assert_eq!(read, vec![(2, 3), (2, 3)]);
    assert_eq!(counts(&status(&env, token, &large).await), (60, 140));

    env.round_trips.reset();
    let res = env
        .portal(
            handlers::catalog_workshops::handle,
            "GET",
            "/workshops/catalog/workshops/",
            token,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!((env.round_trips.count(), env.round_trips.items()), (2, 5));
    assert_eq!(res.json()["portal"]["sessions"]["allocated"], 61);

    // Asked for, the sessions are listed: one query more, one item a live session.
    let res = env
        .portal(
            handlers::environment_status::handle,
            "GET",
            &format!("/workshops/environment/{large}/status/?sessions=true"),
            token,
        )
        .await;
    assert_eq!(res.json()["sessions"].as_array().unwrap().len(), 60);
}
