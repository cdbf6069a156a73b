//! Issue 4: lifecycle events (outbox, signed delivery with retries), the reaper, grading reports.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::api_client::Scope;
use labgate::events::delivery::{self, DELIVERED, FAILED, Secret::Keep, Secret::Rotate};
use labgate::events::signing;
use labgate::handlers;
use labgate::master_key::DEFAULT_KEY_ID;
use labgate::workshop::{reaper, session};
use labgate_tests::receiver::Receiver;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn progress(env: &TestEnv, token: &str, body: Value) -> TestResponse {
    let req = request("POST", API_HOST, "/api/v1/progress")
        .header("authorization", format!("Token {token}"))
        .body(Body::Text(body.to_string()))
        .unwrap();
    invoke(labgate::handlers::progress::handle, &env.state, req).await
}

#[tokio::test]
async fn every_state_change_writes_its_event_in_the_same_transaction() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env
        .environment(2, |e| {
            e.duration_secs = 200;
            e.deadline_secs = 400;
        })
        .await;

    let launched = env
        .launch(&json!({"user_id": "u1", "content_id": CONTENT_ID, "resource_id": "r1"}))
        .await;
    let launch_id = launched.header("labgate-launch-id").unwrap().to_string();
    env.follow(launched.json()["url"].as_str().unwrap(), None)
        .await;
    let grading = env.token_with(&[Scope::Grading]).await;
    assert_eq!(
        progress(
            &env,
            &grading,
            json!({"launch_id": launch_id, "progress": 0.5})
        )
        .await
        .status,
        StatusCode::OK
    );

    let s = env
        .request_session(
            &robot.access_token,
            &lab,
            &query(&[
                ("user", "u1"),
                ("analytics_url", "https://analytics.example/e"),
            ]),
        )
        .await
        .json();
    let name = s["name"].as_str().unwrap().to_string();
    env.activate(s["url"].as_str().unwrap(), None).await;
    env.portal(
        handlers::session_extend::handle,
        "GET",
        &format!("/workshops/session/{name}/extend/"),
        &robot.access_token,
    )
    .await;
    env.portal(
        handlers::session_terminate::handle,
        "GET",
        &format!("/workshops/session/{name}/terminate/"),
        &robot.access_token,
    )
    .await;

    assert_eq!(
        env.event_types().await,
        vec![
            "launch.created",
            "launch.redeemed",
            "launch.progress",
            "session.allocated",
            "session.activated",
            "session.extended",
            "session.ended"
        ]
    );
    let events = env.events().await;
    let ended: Value = serde_json::from_str(&events[6].body).unwrap();
    assert_eq!(ended["type"], "session.ended");
    assert_eq!(ended["data"]["reason"], "terminated");
    assert_eq!(ended["data"]["session"], name.as_str());
    assert_eq!(
        events[6].analytics_url.as_deref(),
        Some("https://analytics.example/e")
    );
    assert!(
        events[0].analytics_url.is_none(),
        "launch events go to the webhook only"
    );
}

#[tokio::test]
async fn a_failed_transaction_writes_no_event() {
    let env = TestEnv::new().await;
    let unknown = json!({"user_id": "u1", "content_id": "00000000-0000-4000-8000-000000000000"});
    assert_eq!(env.launch(&unknown).await.status, StatusCode::NOT_FOUND);
    let url = env.launch(&payload("u1")).await.json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    env.follow(&url, None).await;
    assert_eq!(env.follow(&url, None).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        env.event_types().await,
        vec!["launch.created", "launch.redeemed"]
    );
}

/// The signatures of the one delivery `receiver` got last, by the secret versions they verify with.
fn verifying_versions(env: &TestEnv, receiver: &Receiver, versions: &[i64]) -> Vec<i64> {
    let got = receiver.received();
    let r = got.last().expect("a delivery");
    let id = r.header("webhook-id").unwrap();
    let timestamp: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    let header = r.header("webhook-signature").unwrap();
    versions
        .iter()
        .copied()
        .filter(|v| signing::verify(&env.webhook_secret(*v), id, timestamp, &r.body, header))
        .collect()
}

#[tokio::test]
async fn a_rotated_webhook_secret_signs_alongside_the_new_one_until_its_overlap_ends() {
    let env = TestEnv::new().await;
    let receiver = Receiver::start(&[]).await;
    let (store, client) = (env.store(), &env.client.id);
    let now = labgate::clock::now();
    let first = delivery::set_webhook(store, client, &receiver.url, Keep, DEFAULT_KEY_ID, now)
        .await
        .unwrap();
    assert_eq!(first.number, 1);

    // Rotating with an overlap: both secrets sign, the new one first.
    let rotate = Rotate { overlap_secs: 3600 };
    let second = delivery::set_webhook(store, client, &receiver.url, rotate, DEFAULT_KEY_ID, now)
        .await
        .unwrap();
    assert_eq!(second.number, 2);
    env.launch(&payload("u1")).await;
    env.dispatch(&env.stream_batch().await).await.unwrap();
    assert_eq!(verifying_versions(&env, &receiver, &[1, 2, 3]), vec![1, 2]);
    let header = receiver
        .received()
        .last()
        .unwrap()
        .header("webhook-signature")
        .unwrap()
        .to_string();
    assert_eq!(header.split(' ').count(), 2, "{header}");

    // Rotating again without overlap: only the newest signs; the first is gone for good.
    let third = delivery::set_webhook(
        store,
        client,
        &receiver.url,
        Rotate { overlap_secs: 0 },
        DEFAULT_KEY_ID,
        now,
    )
    .await
    .unwrap();
    assert_eq!(third.number, 3);
    env.launch(&payload("u2")).await;
    env.dispatch(&env.stream_batch().await).await.unwrap();
    assert_eq!(verifying_versions(&env, &receiver, &[1, 2, 3]), vec![3]);

    // Keeping the secret while changing the URL does not rotate it.
    let kept = delivery::set_webhook(store, client, &receiver.url, Keep, DEFAULT_KEY_ID, now)
        .await
        .unwrap();
    assert_eq!(kept.number, 3);
}

#[tokio::test]
async fn a_delivery_is_signed_and_the_receiver_verifies_it() {
    let env = TestEnv::new().await;
    let receiver = Receiver::start(&[]).await;
    let version = env.set_webhook(&receiver.url).await;
    env.launch(&payload("u1")).await;

    let deliveries = env.dispatch(&env.stream_batch().await).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, DELIVERED);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    let id = r.header("webhook-id").unwrap();
    let timestamp: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!(id.starts_with("evt_"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(signing::verify(
        &env.webhook_secret(version),
        id,
        timestamp,
        &r.body,
        r.header("webhook-signature").unwrap()
    ));
    assert!(!signing::verify(
        &env.webhook_secret(version + 1),
        id,
        timestamp,
        &r.body,
        r.header("webhook-signature").unwrap()
    ));
    let body = r.json();
    assert_eq!(
        (body["id"].as_str(), body["type"].as_str()),
        (Some(id), Some("launch.created"))
    );
    assert_eq!(body["data"]["user_id"], "u1");
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_event_three_times_and_then_no_more() {
    let env = TestEnv::new().await;
    let receiver = Receiver::start(&[500, 503]).await;
    env.set_webhook(&receiver.url).await;
    env.launch(&payload("u1")).await;
    let batch = env.stream_batch().await;

    let deliveries = env.dispatch(&batch).await.unwrap();
    assert_eq!(
        (deliveries[0].status.as_str(), deliveries[0].attempts),
        (DELIVERED, 3)
    );
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    let ids: Vec<_> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "the same event id each time"
    );

    // The stream hands the batch over again (a retry): delivered events are not sent twice.
    let again = env.dispatch(&batch).await.unwrap();
    assert!(again.is_empty());
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn what_still_fails_is_a_dead_letter_and_can_be_sent_again() {
    let env = TestEnv::new().await;
    let healthy = Receiver::start(&[]).await;
    env.set_webhook(&healthy.url).await;
    env.launch(&payload("u1")).await;
    env.dispatch(&env.stream_batch().await).await.unwrap();

    let broken = Receiver::start(&[500, 500, 500]).await;
    env.set_webhook(&broken.url).await;
    env.launch(&payload("u2")).await;
    let batch = env.stream_batch().await;
    let deliveries = env.dispatch(&batch).await.unwrap();
    let failed: Vec<_> = deliveries.iter().filter(|d| d.status == FAILED).collect();
    assert_eq!(
        deliveries.len(),
        1,
        "the first event was delivered before and is not sent again"
    );
    assert_eq!(failed.len(), 1, "three 500s exhaust the attempts");
    assert_eq!(broken.received().len(), 3);
    assert_eq!(failed[0].last_error.as_deref(), Some("HTTP 500"));

    // The dead letters list the failed delivery alone; the delivered one is in its event.
    let listed = delivery::list(env.store(), &env.client.id).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|d| (d.status.as_str(), d.event_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(FAILED, failed[0].event_id.as_str())]
    );
    let first = env.events().await[0].id.clone();
    let of_first = delivery::for_event(env.store(), &first).await.unwrap();
    assert_eq!(
        of_first
            .iter()
            .map(|d| d.status.as_str())
            .collect::<Vec<_>>(),
        vec![DELIVERED]
    );

    let event = delivery::event(env.store(), &failed[0].event_id)
        .await
        .unwrap()
        .unwrap();
    let resent = env.deliverer().deliver(env.store(), &event).await.unwrap();
    assert_eq!(
        (resent[0].status.as_str(), resent[0].attempts),
        (DELIVERED, 4)
    );
    let listed = delivery::list(env.store(), &env.client.id).await.unwrap();
    assert!(
        listed.is_empty(),
        "resent, it is no dead letter: {listed:?}"
    );
    let of_event = delivery::for_event(env.store(), &event.id).await.unwrap();
    assert_eq!(of_event[0].status, DELIVERED);
}

#[tokio::test]
async fn a_sessions_events_also_reach_its_analytics_url() {
    // The receiver listens on 127.0.0.1, which only this setting lets through.
    let env = TestEnv::with_config(&[("LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS", "true")]).await;
    let robot = env.robot().await;
    let analytics = Receiver::start(&[]).await;
    let lab = env.environment(2, |_| {}).await;
    let s = env
        .request_session(
            &robot.access_token,
            &lab,
            &query(&[("user", "u1"), ("analytics_url", &analytics.url)]),
        )
        .await
        .json();
    env.activate(s["url"].as_str().unwrap(), None).await;
    env.launch(&payload("u1")).await;

    env.dispatch(&env.stream_batch().await).await.unwrap();
    let mut types: Vec<String> = analytics
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    assert_eq!(
        types,
        vec!["session.activated", "session.allocated"],
        "no webhook set, no launch events there"
    );
}

#[tokio::test]
async fn analytics_urls_inside_the_network_are_refused_and_never_contacted() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    for url in [
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.5/hook",
        "http://localhost:8080/",
        "http://2130706433/",
    ] {
        let res = env
            .request_session(
                &robot.access_token,
                &lab,
                &query(&[("user", "u1"), ("analytics_url", url)]),
            )
            .await;
        assert_eq!(
            (res.status, res.body.as_str()),
            (StatusCode::BAD_REQUEST, "Invalid analytics URL provided"),
            "{url}"
        );
    }

    // Stored while allowed (or before this check existed), it is still never contacted by a
    // dispatcher that does not allow it: a listening receiver sees nothing.
    let receiver = Receiver::start(&[]).await;
    let permissive = TestEnv {
        state: labgate::AppState::new(
            labgate_tests::config(
                env.store().table(),
                &[("LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS", "true")],
            ),
            env.store().clone(),
        ),
        round_trips: env.round_trips.clone(),
        client: env.client.clone(),
        token: env.token.clone(),
    };
    let s = permissive
        .request_session(
            &robot.access_token,
            &lab,
            &query(&[("user", "u2"), ("analytics_url", &receiver.url)]),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    let outcomes = env.dispatch(&env.stream_batch().await).await.unwrap();
    assert!(receiver.received().is_empty());
    let listed = delivery::list(env.store(), &env.client.id).await.unwrap();
    assert!(
        listed.iter().any(|d| d.status == delivery::FAILED
            && d.last_error.as_deref() == Some("not a public address")),
        "{listed:?} {outcomes:?}"
    );
}

#[tokio::test]
async fn a_progress_report_reaches_the_receiver_with_the_lms_identifiers() {
    let env = TestEnv::new().await;
    let receiver = Receiver::start(&[]).await;
    env.set_webhook(&receiver.url).await;
    let launched = env
        .launch(&json!({"user_id": "LMS-Us3r1D", "content_id": CONTENT_ID, "resource_id": "abc123", "context": {"course": "Databases 101"}}))
        .await;
    let launch_id = launched.header("labgate-launch-id").unwrap().to_string();
    let grading = env.token_with(&[Scope::Grading]).await;
    env.round_trips.reset();
    let res = progress(&env, &grading, json!({"launch_id": launch_id, "progress": 1, "score": 9, "max_score": 10, "completed": true, "details": {"tasks": 3}})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        env.round_trips.count(),
        2,
        "token and launch in one BatchGetItem, one transaction"
    );
    let mut body = res.json();
    assert!(body["updated_at"].take().as_str().unwrap().ends_with('Z'));
    assert_eq!(
        body,
        json!({"launch_id": launch_id, "progress": 1.0, "score": 9.0, "max_score": 10.0, "completed": true, "updated_at": null})
    );

    env.dispatch(&env.stream_batch().await).await.unwrap();
    let report = receiver
        .received()
        .into_iter()
        .map(|r| r.json())
        .find(|b| b["type"] == "launch.progress")
        .unwrap();
    assert_eq!(
        report["data"],
        json!({"launch_id": launch_id, "user_id": "LMS-Us3r1D", "content_id": CONTENT_ID,
               "resource_id": "abc123", "context": {"course": "Databases 101"}, "progress": 1.0,
               "score": 9.0, "max_score": 10.0, "completed": true, "details": {"tasks": 3}})
    );
}

#[tokio::test]
async fn progress_needs_the_grading_scope_valid_values_and_the_clients_own_launch() {
    let env = TestEnv::new().await;
    let launch_id = env
        .launch(&payload("u1"))
        .await
        .header("labgate-launch-id")
        .unwrap()
        .to_string();
    let res = progress(
        &env,
        &env.token,
        json!({"launch_id": launch_id, "progress": 0.5}),
    )
    .await;
    res.assert_error(
        StatusCode::FORBIDDEN,
        json!({"error": "This token does not have the `grading` scope."}),
    );

    let grading = env.token_with(&[Scope::Grading]).await;
    for (body, message) in [
        (
            json!({"progress": 0.5}),
            "`launch_id` must be the UUID of a launch.",
        ),
        (
            json!({"launch_id": launch_id, "progress": 1.5}),
            "`progress` must be a number from 0 to 1.",
        ),
        (
            json!({"launch_id": launch_id, "progress": "half"}),
            "Invalid `progress`: invalid type: string \"half\", expected f64.",
        ),
        (
            json!({"launch_id": launch_id, "progress": 0.5, "score": -1}),
            "`score` must be a number of at least 0.",
        ),
        (
            json!({"launch_id": launch_id, "progress": 0.5, "score": 11, "max_score": 10}),
            "`score` must not exceed `max_score`.",
        ),
        (
            json!({"launch_id": launch_id, "progress": 0.5, "details": [1]}),
            "`details` must be a JSON object.",
        ),
    ] {
        progress(&env, &grading, body.clone())
            .await
            .assert_error(StatusCode::BAD_REQUEST, json!({"error": message}));
    }
    let unknown = "00000000-0000-4000-8000-000000000000";
    progress(
        &env,
        &grading,
        json!({"launch_id": unknown, "progress": 0.5}),
    )
    .await
    .assert_error(
        StatusCode::NOT_FOUND,
        json!({"error": format!("Launch {unknown} not found.")}),
    );

    let other = seed_client(env.store(), "Other").await;
    let (_, foreign) =
        labgate::api_client::issue_token(env.store(), &other.id, "g", &[Scope::Grading])
            .await
            .unwrap()
            .unwrap();
    let res = progress(
        &env,
        foreign.expose(),
        json!({"launch_id": launch_id, "progress": 0.5}),
    )
    .await;
    assert_eq!(
        res.status,
        StatusCode::NOT_FOUND,
        "another client's launch is not revealed"
    );
}

#[tokio::test]
async fn the_latest_progress_shows_on_the_session_of_the_launch() {
    let env = TestEnv::new().await;
    let launched = env.launch(&payload("u1")).await;
    let launch_id = launched.header("labgate-launch-id").unwrap().to_string();
    let cookie = env
        .follow(launched.json()["url"].as_str().unwrap(), None)
        .await
        .session_cookie()
        .unwrap();
    let grading = env.token_with(&[Scope::Grading]).await;
    progress(
        &env,
        &grading,
        json!({"launch_id": launch_id, "progress": 0.25}),
    )
    .await;
    progress(
        &env,
        &grading,
        json!({"launch_id": launch_id, "progress": 0.75, "completed": false}),
    )
    .await;
    let who = env.whoami(&cookie).await.json();
    assert_eq!(who["launch"]["progress"]["progress"], 0.75);
}

#[tokio::test]
async fn a_client_that_requires_resource_id_refuses_launches_without_one() {
    let env = TestEnv::new().await;
    let strict = labgate::api_client::create_client(
        env.store(),
        labgate::api_client::NewClient {
            name: "Strict".into(),
            app_url: None,
            allowed_origins: vec![],
            role_mapping: Default::default(),
            require_resource_id: true,
        },
    )
    .await
    .unwrap();
    let strict_content = "11111111-2222-4333-8444-555555555555";
    labgate::content::create_content(env.store(), &strict.id, Some(strict_content), "x")
        .await
        .unwrap();
    let (_, token) =
        labgate::api_client::issue_token(env.store(), &strict.id, "t", &[Scope::Launch])
            .await
            .unwrap()
            .unwrap();
    env.launch_with(
        token.expose(),
        API_HOST,
        json!({"user_id": "u1", "content_id": strict_content}).to_string(),
    )
    .await
    .assert_error(
        StatusCode::BAD_REQUEST,
        json!({"error": "Must provide `resource_id` in payload."}),
    );
    let with = json!({"user_id": "u1", "content_id": strict_content, "resource_id": "r1"});
    assert_eq!(
        env.launch_with(token.expose(), API_HOST, with.to_string())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_reaper_ends_exactly_the_overdue_sessions_once_with_their_reasons() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let quick = env.environment(3, |e| e.duration_secs = 1).await;
    let steady = env.environment(3, |_| {}).await;
    // Pending past its deadline, running past its expiry, and two that are not due.
    let pending = env
        .request_session(
            &robot.access_token,
            &quick,
            &query(&[("user", "p"), ("timeout", "1")]),
        )
        .await
        .json();
    let running = env
        .request_session(&robot.access_token, &quick, &query(&[("user", "r")]))
        .await
        .json();
    env.activate(running["url"].as_str().unwrap(), None).await;
    let waiting = env
        .request_session(&robot.access_token, &steady, &query(&[("user", "w")]))
        .await
        .json();
    let active = env
        .request_session(&robot.access_token, &steady, &query(&[("user", "a")]))
        .await
        .json();
    env.activate(active["url"].as_str().unwrap(), None).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let now = labgate::clock::now();
    let (first, second) = tokio::join!(env.reap(now, reaper::BATCH), env.reap(now, reaper::BATCH));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.ended + second.ended, 2, "{first:?} {second:?}");
    assert_eq!(
        env.reap(now, reaper::BATCH).await.unwrap(),
        reaper::Report::default()
    );

    let reason = |name: &Value| {
        let env = &env;
        let name = name.as_str().unwrap().to_string();
        async move { session::get(env.store(), &name).await.unwrap().unwrap() }
    };
    let p = reason(&pending["name"]).await;
    let r = reason(&running["name"]).await;
    assert_eq!(
        (p.state.as_str(), p.end_reason.as_deref()),
        ("ended", Some("activation-timeout"))
    );
    assert_eq!(
        (r.state.as_str(), r.end_reason.as_deref()),
        ("ended", Some("expired"))
    );
    for untouched in [&waiting["name"], &active["name"]] {
        assert!(reason(untouched).await.is_live(labgate::clock::now()));
    }
    let ended: Vec<String> = env
        .events()
        .await
        .into_iter()
        .filter(|e| e.event_type == "session.ended")
        .map(|e| {
            serde_json::from_str::<Value>(&e.body).unwrap()["data"]["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ended.len(), 2, "each session ended once: {ended:?}");
    // The freed capacity is there at once.
    let status = env
        .portal(
            labgate::handlers::environment_status::handle,
            "GET",
            &format!("/workshops/environment/{quick}/status/"),
            &robot.access_token,
        )
        .await
        .json();
    assert_eq!(status["available"], 3);
}

#[tokio::test]
async fn the_reaper_leaves_a_slot_that_a_newer_session_holds() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(1, |_| {}).await;
    let old = env
        .request_session(
            &robot.access_token,
            &lab,
            &query(&[("user", "old"), ("timeout", "1")]),
        )
        .await
        .json();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let new = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "new")]))
        .await
        .json();
    let report = env
        .reap(labgate::clock::now(), reaper::BATCH)
        .await
        .unwrap();
    assert_eq!(report.ended, 1);
    let old = session::get(env.store(), old["name"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.end_reason.as_deref(), Some("activation-timeout"));
    let res = env.activate(new["url"].as_str().unwrap(), None).await;
    assert_eq!(
        res.status,
        StatusCode::FOUND,
        "the newer session kept its slot"
    );
}

#[tokio::test]
async fn a_reap_run_is_bounded() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(5, |_| {}).await;
    for i in 0..5 {
        env.request_session(
            &robot.access_token,
            &lab,
            &query(&[("user", &format!("u{i}")), ("timeout", "1")]),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let now = labgate::clock::now();
    assert_eq!(env.reap(now, 2).await.unwrap().ended, 2);
    assert_eq!(env.reap(now, 2).await.unwrap().ended, 2);
    assert_eq!(env.reap(now, 2).await.unwrap().ended, 1);
}

#[tokio::test]
async fn the_deadline_index_spreads_over_hours_and_shards_and_the_reaper_follows_its_cursor() {
    use labgate::store::keys;
    let env = TestEnv::new().await;
    let now = labgate::clock::now();
    let lab = env.environment(10, |_| {}).await;
    // Overdue since the hour before last (a reaper outage), and due one second ago.
    let long_ago = now - 2 * 3600 + 60;
    let old = seed_overdue(env.store(), (&env.client.id, &lab), (0, 40), long_ago).await;
    let recent = seed_overdue(env.store(), (&env.client.id, &lab), (40, 40), now - 1).await;
    let partitions: std::collections::BTreeSet<String> = old
        .iter()
        .map(|name| keys::deadline_partition(long_ago, name))
        .chain(
            recent
                .iter()
                .map(|name| keys::deadline_partition(now - 1, name)),
        )
        .collect();
    assert!(partitions.len() > 16, "hours and shards: {partitions:?}");

    // A first run looks back two hours, ends all 80, and moves the cursor past the old hour.
    let report = env.reap(now, reaper::BATCH).await.unwrap();
    assert_eq!((report.found, report.ended), (80, 80), "{report:?}");
    for name in old.iter().chain(&recent) {
        let ended = session::get(env.store(), name).await.unwrap().unwrap();
        assert_eq!(
            ended.end_reason.as_deref(),
            Some("activation-timeout"),
            "{name}"
        );
    }
    let cursor = labgate::store::get(env.store(), &keys::reaper_cursor(), "test")
        .await
        .unwrap()
        .expect("a cursor");
    let hour: i64 = cursor["hour"].as_n().unwrap().parse().unwrap();
    let now_hour = now.div_euclid(keys::DEADLINE_HOUR);
    assert!(
        (now_hour - 1..=now_hour).contains(&hour),
        "{hour} vs {now_hour}"
    );

    // The next run reads from the cursor only: the cursor, the legacy partition, and the shards
    // of at most the last two hours.
    env.round_trips.reset();
    assert_eq!(
        env.reap(now, reaper::BATCH).await.unwrap(),
        reaper::Report::default()
    );
    let calls = env.round_trips.count();
    assert!(
        calls <= 2 + 2 * keys::DEADLINE_SHARDS as usize,
        "{calls} calls"
    );

    // A run stopped by its limit leaves the rest, and the cursor, for the next.
    seed_overdue(env.store(), (&env.client.id, &lab), (80, 30), now - 5).await;
    assert_eq!(env.reap(now, 20).await.unwrap().ended, 20);
    assert_eq!(env.reap(now, 20).await.unwrap().ended, 10);
}

#[tokio::test]
async fn sessions_from_before_the_sharded_index_are_still_reaped() {
    let env = TestEnv::new().await;
    let now = labgate::clock::now();
    let lab = env.environment(3, |_| {}).await;
    let names = seed_overdue(env.store(), (&env.client.id, &lab), (0, 3), now - 30).await;
    // As the single deadline partition held them.
    for name in &names {
        env.store()
            .client()
            .update_item()
            .table_name(env.store().table())
            .set_key(Some(labgate::store::keys::workshop_session(name).item()))
            .update_expression("SET gsi2pk = :legacy")
            .expression_attribute_values(":legacy", labgate::store::attr::s("DEADLINE"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(env.reap(now, reaper::BATCH).await.unwrap().ended, 3);
}
