//! The Educates-compatible workshop API: catalog, request, activation, management.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::handlers;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn token_of(url: &str) -> String {
    let url = url::Url::parse(&format!("https://x{url}")).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned()
}

async fn granted(env: &TestEnv, token: &str, lab: &str, extra: &[(&str, &str)]) -> Value {
    let res = env.request_session(token, lab, &query(extra)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

#[tokio::test]
async fn catalog_lists_the_tenants_environments_in_the_educates_shape() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(3, |_| {}).await;
    let other = seed_client(env.store(), "Other").await;
    env.environment_for(&other.id, 1, |_| {}).await;
    granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    env.count_sessions().await;

    let res = env
        .portal(
            handlers::workshop_catalog::handle,
            "GET",
            "/workshops/catalog/environments/?sessions=true",
            &robot.access_token,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let mut body = res.json();
    assert_eq!(body["portal"]["uid"], env.client.id.as_str());
    assert_eq!(body["portal"]["sessions"]["allocated"], 1);
    let envs = body["environments"].as_array_mut().unwrap();
    assert_eq!(envs.len(), 1, "only this tenant's environments");
    let mut e = envs[0].take();
    let session = e["sessions"][0].take();
    assert_eq!(session["user"], "u1");
    assert_eq!(session["state"], "WAITING");
    assert!(session["expires"].as_str().unwrap().ends_with(".000Z"));
    assert_eq!(
        e,
        json!({
            "name": lab, "state": "RUNNING",
            "workshop": {"name": "lab-markdown-sample", "resource": "lab-markdown-sample",
                "title": "Markdown Sample", "description": "A sample workshop", "vendor": "labgate",
                "authors": ["Ada"], "difficulty": "beginner", "duration": "30m", "tags": ["sample"],
                "labels": {"level": "intro"}, "logo": "", "url": "https://example.com/workshop"},
            "duration": 1800, "capacity": 3, "reserved": 0, "allocated": 1, "available": 2,
            "sessions": [null]
        })
    );

    for (query, count) in [
        ("", 1),
        ("?name=lab-markdown-sample", 1),
        ("?name=other", 0),
        ("?state=stopped", 0),
    ] {
        let res = env
            .portal(
                handlers::workshop_catalog::handle,
                "GET",
                &format!("/workshops/catalog/environments{query}"),
                &robot.access_token,
            )
            .await;
        let body = res.json();
        assert_eq!(
            body["environments"].as_array().unwrap().len(),
            count,
            "{query}"
        );
        if count == 1 {
            assert!(body["environments"][0].get("sessions").is_none());
        }
    }
}

#[tokio::test]
async fn status_of_an_environment_and_403_for_unknown_or_foreign_ones() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let other = seed_client(env.store(), "Other").await;
    let foreign = env.environment_for(&other.id, 1, |_| {}).await;

    let res = env
        .portal(
            handlers::environment_status::handle,
            "GET",
            &format!("/workshops/environment/{lab}/status/"),
            &robot.access_token,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!(body["capacity"], 2);
    assert_eq!(body["available"], 2);
    assert!(
        body["workshop"].get("resource").is_none(),
        "status has no resource"
    );

    for name in [foreign.as_str(), "no-such-env", "..%2F..%2Fetc"] {
        let res = env
            .portal(
                handlers::environment_status::handle,
                "GET",
                &format!("/workshops/environment/{name}/status"),
                &robot.access_token,
            )
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(res.body, "Environment does not exist");
    }
}

#[tokio::test]
async fn request_returns_a_relative_activation_url_within_four_round_trips() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    env.round_trips.reset();
    let res = env
        .request_session(
            &robot.access_token,
            &lab,
            &query(&[
                ("user", "u1@example.com"),
                ("email", "u1@example.com"),
                ("first_name", "Ada"),
            ]),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        env.round_trips.count(),
        4,
        "token + environment, user, slots, one transaction"
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let mut body = res.json();
    let url = body["url"].take();
    let url = url.as_str().unwrap();
    let name = format!("{lab}-s001");
    assert!(
        url.starts_with(&format!("/workshops/session/{name}/activate/?token=")),
        "{url}"
    );
    assert!(
        url.ends_with("&index_url=https%3A%2F%2Flms.example.com%2Fworkshops%2F"),
        "{url}"
    );
    assert_eq!(token_of(url).len(), 43);
    assert_eq!(
        body,
        json!({"name": name, "session": name, "user": "u1@example.com", "url": null,
               "namespace": name, "workshop": "lab-markdown-sample", "environment": lab})
    );

    let anonymous = granted(&env, &robot.access_token, &lab, &[]).await;
    assert!(uuid::Uuid::parse_str(anonymous["user"].as_str().unwrap()).is_ok());
    assert_eq!(anonymous["name"], format!("{lab}-s002"));
}

#[tokio::test]
async fn bad_request_parameters_are_400_not_500() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let cases = [
        (String::new(), "Need redirect URL for workshop index"),
        (
            form(&[("index_url", "https://evil.example/")]),
            "Redirect URL for workshop index is not allowed",
        ),
        (
            form(&[("index_url", "https://lms.example.com@evil.example/")]),
            "Redirect URL for workshop index is not allowed",
        ),
        (
            form(&[("index_url", "javascript:alert(1)")]),
            "Redirect URL for workshop index is not allowed",
        ),
        (
            query(&[("timeout", "soon")]),
            "Invalid timeout value provided",
        ),
        (
            query(&[("timeout", "-1")]),
            "Invalid timeout value provided",
        ),
        // Past the one-day cap on activation links.
        (
            query(&[("timeout", "86401")]),
            "Invalid timeout value provided",
        ),
        (
            query(&[("timeout", "4294967295")]),
            "Invalid timeout value provided",
        ),
        (
            query(&[("user", "a/b")]),
            "Invalid user identifier provided",
        ),
        (
            query(&[("user", &"x".repeat(151))]),
            "Invalid user identifier provided",
        ),
        (
            query(&[("email", "not-an-email")]),
            "Invalid email address provided",
        ),
    ];
    for (q, message) in cases {
        let res = env.request_session(&robot.access_token, &lab, &q).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{q}: {}", res.body);
        assert_eq!(res.body, message, "{q}");
    }
    // redirect_url is the legacy alias of index_url.
    let res = env
        .request_session(
            &robot.access_token,
            &lab,
            &form(&[("redirect_url", INDEX_URL)]),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);

    for (body, message) in [
        ("{", "Invalid JSON request payload"),
        (
            r#"{"parameters": [{"name": 1}]}"#,
            "Malformed JSON request payload",
        ),
    ] {
        let res = env
            .portal_with_body(
                handlers::session_request::handle,
                "GET",
                &format!("/workshops/environment/{lab}/request/?{}", query(&[])),
                &robot.access_token,
                Body::Text(body.into()),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert_eq!(res.body, message);
    }
}

#[tokio::test]
async fn a_get_with_a_json_body_stores_the_parameters() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let body = r#"{"parameters": [{"name": "WORKSHOP_LEVEL", "value": "expert"}]}"#;
    let res = env
        .portal_with_body(
            handlers::session_request::handle,
            "GET",
            &format!(
                "/workshops/environment/{lab}/request?{}",
                query(&[("user", "u1")])
            ),
            &robot.access_token,
            Body::Text(body.into()),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let name = res.json()["name"].as_str().unwrap().to_string();
    let stored = labgate::workshop::session::get(env.store(), &name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.parameters,
        vec![("WORKSHOP_LEVEL".to_string(), "expert".to_string())]
    );
}

#[tokio::test]
async fn a_warm_function_reads_the_user_with_the_token_and_never_trusts_what_it_remembers() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(5, |_| {}).await;
    // Cold: the function does not know the environment's tenant yet.
    env.round_trips.reset();
    granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    assert_eq!(
        env.round_trips.count(),
        4,
        "token + environment, user, slots, transaction"
    );
    // Warm: the user is read with the token.
    env.round_trips.reset();
    granted(&env, &robot.access_token, &lab, &[("user", "u2")]).await;
    assert_eq!(
        env.round_trips.count(),
        3,
        "token + environment + user, slots, transaction"
    );

    // Remembered wrong (a name another tenant used before): the other tenant's user of the same
    // id is fetched with the token, and set aside.
    let other = seed_client(env.store(), "Other").await;
    let mut planted = labgate::store::keys::user(&other.id, "u3").item();
    planted.insert("client_id".into(), labgate::store::attr::s(&other.id));
    labgate::store::put(env.store(), planted, "PutItem planted user")
        .await
        .unwrap();
    env.state.owners.remember(&lab, &other.id);
    env.round_trips.reset();
    let third = granted(&env, &robot.access_token, &lab, &[("user", "u3")]).await;
    assert_eq!(
        env.round_trips.count(),
        4,
        "what was fetched is set aside, the user read"
    );
    assert_eq!(third["user"], "u3");
    assert_eq!(
        env.state.owners.get(&lab).as_deref(),
        Some(env.client.id.as_str()),
        "remembered right again"
    );
    let stored = labgate::workshop::session::get(env.store(), third["name"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_id, env.client.id);
}

#[tokio::test]
async fn a_returning_user_gets_the_same_session_with_a_fresh_token() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let first = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    env.round_trips.reset();
    let second = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    assert_eq!(
        env.round_trips.count(),
        2,
        "token + environment + user (the function knows the tenant now), one transaction"
    );
    assert_eq!(first["name"], second["name"]);
    assert_ne!(first["url"], second["url"]);

    let stale = env.activate(first["url"].as_str().unwrap(), None).await;
    assert_eq!(
        stale.status,
        StatusCode::BAD_REQUEST,
        "the old token stops working"
    );
    let fresh = env.activate(second["url"].as_str().unwrap(), None).await;
    assert_eq!(fresh.status, StatusCode::FOUND);
}

#[tokio::test]
async fn reacquiring_by_session_name_never_allocates() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let first = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    let name = first["name"].as_str().unwrap();

    let again = granted(
        &env,
        &robot.access_token,
        &lab,
        &[("user", "u1"), ("session", name)],
    )
    .await;
    assert_eq!(again["name"], name);
    for (user, session) in [("u1", "other-s001"), ("u2", name)] {
        let res = env
            .request_session(
                &robot.access_token,
                &lab,
                &query(&[("user", user), ("session", session)]),
            )
            .await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.json(), json!({"error": "No session available"}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_parallel_requests_against_capacity_five_allocate_exactly_five() {
    let env = Arc::new(TestEnv::new().await);
    let robot = env.robot().await;
    let lab = env.environment(5, |_| {}).await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let env = env.clone();
            let (token, lab) = (robot.access_token.clone(), lab.clone());
            tokio::spawn(async move {
                env.request_session(
                    &token,
                    &lab,
                    &query(&[("user", &format!("user{i}")), ("timeout", "600")]),
                )
                .await
            })
        })
        .collect();
    let mut names = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let res = task.await.unwrap();
        match res.status {
            StatusCode::OK => names.push(res.json()["name"].as_str().unwrap().to_string()),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(res.json(), json!({"error": "No session available"}));
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", res.body),
        }
    }
    names.sort();
    names.dedup();
    // A 600-second deadline: however slow the machine, no slot is freed during the race.
    assert_eq!((names.len(), refused), (5, 25));
    env.count_sessions().await;
    let status = env
        .portal(
            handlers::environment_status::handle,
            "GET",
            &format!("/workshops/environment/{lab}/status/"),
            &robot.access_token,
        )
        .await
        .json();
    assert_eq!(
        (status["allocated"].as_i64(), status["available"].as_i64()),
        (Some(5), Some(0))
    );

    // The same five, asked for again with a 1-second deadline (a pending session's deadline
    // restarts from now), are gone once it passes, unactivated: new requests succeed.
    let mut holders = Vec::new();
    for i in 0..30 {
        let user = format!("user{i}");
        let held = labgate::workshop::session::user_map::read(env.store(), &env.client.id, &user)
            .await
            .unwrap();
        if held.live(labgate::clock::now()).count() > 0 {
            holders.push(user);
        }
    }
    assert_eq!(holders.len(), 5);
    for user in &holders {
        let again = granted(
            &env,
            &robot.access_token,
            &lab,
            &[("user", user), ("timeout", "1")],
        )
        .await;
        assert!(
            names.contains(&again["name"].as_str().unwrap().to_string()),
            "the same session"
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for i in 0..5 {
        granted(
            &env,
            &robot.access_token,
            &lab,
            &[("user", &format!("late{i}"))],
        )
        .await;
    }
    let res = env
        .request_session(
            &robot.access_token,
            &lab,
            &query(&[("user", "one-too-many")]),
        )
        .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_per_user_limit_holds_across_environments() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let a = env.environment(5, |e| e.user_limit = 1).await;
    let b = env.environment(5, |e| e.user_limit = 1).await;
    granted(&env, &robot.access_token, &a, &[("user", "u1")]).await;
    let res = env
        .request_session(&robot.access_token, &b, &query(&[("user", "u1")]))
        .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    granted(&env, &robot.access_token, &b, &[("user", "u2")]).await;
}

#[tokio::test]
async fn activation_works_once_logs_in_and_redirects_to_the_dashboard_in_two_round_trips() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let session = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    let url = session["url"].as_str().unwrap();
    let name = session["name"].as_str().unwrap();

    let head = env
        .portal(labgate::handlers::session_activate::handle, "HEAD", url, "")
        .await;
    assert_eq!(head.status, StatusCode::OK, "HEAD does not consume");

    env.round_trips.reset();
    let res = env.activate(url, None).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    assert_eq!(env.round_trips.count(), 2);
    assert_eq!(
        res.header("location"),
        Some(format!("https://{name}.labs.example.com/").as_str())
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let cookie = res.session_cookie().unwrap();
    let who = env.whoami(&cookie).await.json();
    assert_eq!(who["user"]["external_id"], "u1");
    assert_eq!(who["workshop_session"]["name"], name);

    let again = env.activate(url, None).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("no longer valid"));

    env.round_trips.reset();
    let schedule = env
        .portal(
            handlers::session_schedule::handle,
            "GET",
            &format!("/workshops/session/{name}/schedule/"),
            &robot.access_token,
        )
        .await
        .json();
    assert_eq!(
        env.round_trips.count(),
        1,
        "token and session in one BatchGetItem"
    );
    assert_eq!(schedule["status"], "Allocated");
    assert!(schedule["started"].as_str().unwrap().ends_with(".000Z"));
    assert!((1795..=1800).contains(&schedule["countdown"].as_i64().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_twenty_parallel_activations_exactly_one_wins() {
    let env = Arc::new(TestEnv::new().await);
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let session = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    let url = session["url"].as_str().unwrap().to_string();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (env, url) = (env.clone(), url.clone());
            tokio::spawn(async move { env.activate(&url, None).await.status })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::FOUND => won += 1,
            status => assert_eq!(status, StatusCode::BAD_REQUEST),
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn a_late_activation_is_refused_and_the_slot_is_free_at_once() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(1, |_| {}).await;
    let session = granted(
        &env,
        &robot.access_token,
        &lab,
        &[("user", "u1"), ("timeout", "1")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = env.activate(session["url"].as_str().unwrap(), None).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // The count still has it until the reaper records the end; capacity does not wait for that.
    env.count_sessions().await;
    let token = &robot.access_token;
    assert_eq!(counts(&env, token, &lab).await, (Some(1), Some(0)));
    let next = granted(&env, token, &lab, &[("user", "u2")]).await;
    assert_ne!(next["name"], session["name"]);
    let report = env.reap(labgate::clock::now(), 100).await.unwrap();
    assert_eq!(report.ended, 1, "{report:?}");
    env.count_sessions().await;
    assert_eq!(counts(&env, token, &lab).await, (Some(1), Some(0)));
}

/// `allocated` and `available` as the environment's status shows them.
async fn counts(env: &TestEnv, token: &str, lab: &str) -> (Option<i64>, Option<i64>) {
    let status = env
        .portal(
            handlers::environment_status::handle,
            "GET",
            &format!("/workshops/environment/{lab}/status/"),
            token,
        )
        .await
        .json();
    (status["allocated"].as_i64(), status["available"].as_i64())
}

#[tokio::test]
async fn extension_follows_the_rules_and_a_refusal_is_200() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    // 200 s sessions, up to 400 s: under the 300 s threshold from the start, so extendable.
    let short = env
        .environment(2, |e| {
            e.duration_secs = 200;
            e.deadline_secs = 400;
        })
        .await;
    let fixed = env.environment(2, |_| {}).await;
    let mut names = Vec::new();
    for lab in [&short, &fixed] {
        let s = granted(&env, &robot.access_token, lab, &[("user", "u1")]).await;
        assert_eq!(
            env.activate(s["url"].as_str().unwrap(), None).await.status,
            StatusCode::FOUND
        );
        names.push(s["name"].as_str().unwrap().to_string());
    }
    let extend = |name: String| {
        let env = &env;
        let token = robot.access_token.clone();
        async move {
            env.portal(
                handlers::session_extend::handle,
                "GET",
                &format!("/workshops/session/{name}/extend/"),
                &token,
            )
            .await
        }
    };
    env.round_trips.reset();
    let res = extend(names[0].clone()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(env.round_trips.count(), 2, "one read, one transaction");
    let body = res.json();
    assert_eq!(body["extended"], true);
    assert!(
        (395..=400).contains(&body["countdown"].as_i64().unwrap()),
        "{body}"
    );
    let capped = extend(names[0].clone()).await.json();
    assert_eq!(capped["extended"], false, "at the deadline already");

    let refused = extend(names[1].clone()).await;
    assert_eq!(refused.status, StatusCode::OK);
    assert_eq!(refused.json()["extended"], false);
    assert_eq!(refused.json()["extendable"], false);
}

#[tokio::test]
async fn terminate_ends_the_session_and_frees_its_slot() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(1, |_| {}).await;
    let s = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    let name = s["name"].as_str().unwrap();
    env.round_trips.reset();
    let res = env
        .portal(
            handlers::session_terminate::handle,
            "GET",
            &format!("/workshops/session/{name}/terminate/"),
            &robot.access_token,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(env.round_trips.count(), 2, "one read, one transaction");
    let body = res.json();
    assert_eq!(body["started"], Value::Null);
    assert!(body["expires"].as_str().unwrap().ends_with(".000Z"));

    let gone = env
        .portal(
            handlers::session_schedule::handle,
            "GET",
            &format!("/workshops/session/{name}/schedule"),
            &robot.access_token,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        env.activate(s["url"].as_str().unwrap(), None).await.status,
        StatusCode::BAD_REQUEST
    );
    let listed = env
        .portal(
            handlers::user_sessions::handle,
            "GET",
            "/workshops/user/u1/sessions/",
            &robot.access_token,
        )
        .await
        .json();
    assert_eq!(listed, json!({"user": "u1", "sessions": []}));
    granted(&env, &robot.access_token, &lab, &[("user", "u2")]).await;
}

#[tokio::test]
async fn user_sessions_lists_live_sessions() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let s = granted(
        &env,
        &robot.access_token,
        &lab,
        &[("user", "ada@example.com")],
    )
    .await;
    let res = env
        .portal(
            handlers::user_sessions::handle,
            "GET",
            "/workshops/user/ada%40example.com/sessions/",
            &robot.access_token,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let mut body = res.json();
    assert!(
        body["sessions"][0]["expires"]
            .take()
            .as_str()
            .unwrap()
            .ends_with(".000Z")
    );
    assert!(body["sessions"][0]["countdown"].take().as_i64().unwrap() <= 61);
    assert_eq!(
        body,
        json!({"user": "ada@example.com", "sessions": [{
            "name": s["name"], "namespace": s["name"], "workshop": "lab-markdown-sample",
            "environment": lab, "started": null, "expires": null, "countdown": null}]})
    );
    let unknown = env
        .portal(
            handlers::user_sessions::handle,
            "GET",
            "/workshops/user/nobody/sessions/",
            &robot.access_token,
        )
        .await
        .json();
    assert_eq!(unknown, json!({"user": "nobody", "sessions": []}));
}

#[tokio::test]
async fn delete_ends_the_browsers_own_session_and_returns_to_the_index() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(1, |_| {}).await;
    let s = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    let name = s["name"].as_str().unwrap();
    let cookie = env
        .activate(s["url"].as_str().unwrap(), None)
        .await
        .session_cookie()
        .unwrap();

    let path = format!("/workshops/session/{name}/delete/");
    let stranger = env
        .portal(handlers::session_delete::handle, "GET", &path, "")
        .await;
    assert_eq!(
        stranger.status,
        StatusCode::NOT_FOUND,
        "no cookie, no delete"
    );

    // The exit link followed from labgate's own page (the browser says same-origin).
    let req = request("GET", API_HOST, &path)
        .header("cookie", format!("labgate_session={cookie}"))
        .header("sec-fetch-site", "same-origin")
        .body(Body::Empty)
        .unwrap();
    let res = invoke(handlers::session_delete::handle, &env.state, req).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    assert_eq!(
        res.header("location"),
        Some("https://lms.example.com/workshops/?notification=session-deleted")
    );
    let gone = env
        .portal(
            handlers::session_schedule::handle,
            "GET",
            &format!("/workshops/session/{name}/schedule/"),
            &robot.access_token,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_touch_a_session() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let s = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    let name = s["name"].as_str().unwrap();
    let other = seed_client(env.store(), "Other").await;
    let intruder = env.robot_for(&other.id).await;

    let path = |action: &str| format!("/workshops/session/{name}/{action}/");
    assert_eq!(
        env.portal(
            handlers::session_schedule::handle,
            "GET",
            &path("schedule"),
            &intruder.access_token
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.portal(
            handlers::session_extend::handle,
            "GET",
            &path("extend"),
            &intruder.access_token
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.portal(
            handlers::session_terminate::handle,
            "GET",
            &path("terminate"),
            &intruder.access_token
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let res = env
        .request_session(&intruder.access_token, &lab, &query(&[("user", "u1")]))
        .await;
    assert_eq!(
        (res.status, res.body.as_str()),
        (StatusCode::FORBIDDEN, "Environment does not exist")
    );
    let listed = env
        .portal(
            handlers::user_sessions::handle,
            "GET",
            "/workshops/user/u1/sessions/",
            &intruder.access_token,
        )
        .await
        .json();
    assert_eq!(listed["sessions"], json!([]));
    // Still alive for its own tenant.
    let mine = env
        .portal(
            handlers::session_schedule::handle,
            "GET",
            &path("schedule"),
            &robot.access_token,
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK);
}

#[tokio::test]
async fn a_reused_slot_names_its_next_session_anew() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(1, |_| {}).await;
    let first = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    assert_eq!(first["name"], format!("{lab}-s001"));
    env.portal(
        handlers::session_terminate::handle,
        "GET",
        &format!("/workshops/session/{lab}-s001/terminate/"),
        &robot.access_token,
    )
    .await;
    let second = granted(&env, &robot.access_token, &lab, &[("user", "u2")]).await;
    assert_eq!(
        second["name"],
        format!("{lab}-s1000001"),
        "the slot's second generation"
    );
    let old = labgate::workshop::session::get(env.store(), &format!("{lab}-s001"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        old.end_reason.as_deref(),
        Some("terminated"),
        "the ended record is kept"
    );
}

/// AWS TTL may delete any item the moment its `expires_at` has passed; DynamoDB Local never does.
/// A slot must outlive its holders' deadlines (it numbers the next session), so four users in
/// turn through a slot whose holders all miss their activation deadline each get a session of
/// their own name, with every expired item deleted between turns.
#[tokio::test]
async fn a_slot_outlives_ttl_and_never_repeats_a_session_name() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(1, |_| {}).await;
    let mut names = std::collections::BTreeSet::new();
    for user in ["u1", "u2", "u3", "u4"] {
        let session = granted(
            &env,
            &robot.access_token,
            &lab,
            &[("user", user), ("timeout", "1")],
        )
        .await;
        assert!(
            names.insert(session["name"].as_str().unwrap().to_string()),
            "{user} got a name already given: {session}"
        );
        // The activation window (1 s, rounded up to the next whole second) lapses.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        labgate_tests::ttl::sweep_table(env.store().client(), env.store().table())
            .await
            .unwrap();
    }
    assert_eq!(names.len(), 4);
}

/// No activation link outlives a day: not with the longest `timeout`, and not with `timeout=0`
/// in an environment without a duration (where Educates' link would never expire).
#[tokio::test]
async fn no_activation_link_outlives_a_day() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let day = labgate::config::MAX_ACTIVATION_TIMEOUT_SECS;
    let endless = env.environment(2, |e| e.duration_secs = 0).await;
    let long = env.environment(2, |e| e.duration_secs = 3 * day).await;
    for (lab, timeout) in [(&endless, "0"), (&long, "0"), (&endless, "86400")] {
        let now = labgate::clock::now();
        let granted = granted(
            &env,
            &robot.access_token,
            lab,
            &[
                ("user", &format!("u-{timeout}-{}", lab.len())),
                ("timeout", timeout),
            ],
        )
        .await;
        // The deadline is set between the two clock reads (a slow machine stretches the gap).
        let after = labgate::clock::now();
        let session =
            labgate::workshop::session::get(env.store(), granted["name"].as_str().unwrap())
                .await
                .unwrap()
                .unwrap();
        assert!(
            session.until > now && session.until <= after + 1 + day,
            "{lab} timeout={timeout}: the link lasts {} s",
            session.until - now
        );
    }
}

/// A browser already logged in (an LMS launch earlier) that follows an activation link gets a
/// fresh session, and its old one ends in the same transaction (a `DeleteItem` that IAM must
/// allow: the recorder sees it only on this path).
#[tokio::test]
async fn activation_in_a_logged_in_browser_replaces_its_session() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let old = env.login(&payload("u1")).await;
    let session = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    let res = env
        .activate(session["url"].as_str().unwrap(), Some(&old))
        .await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    let new = res.session_cookie().unwrap();
    assert_ne!(new, old);
    assert_eq!(env.whoami(&old).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.whoami(&new).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_large_environment_finds_its_last_free_slots_in_the_index_and_then_refuses() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(1_100, |_| {}).await;
    // Every slot held but two, one of them past the old cap of 999.
    env.hold_slots(&lab, 0..700).await;
    env.hold_slots(&lab, 701..1_050).await;
    env.hold_slots(&lab, 1_051..1_100).await;
    let mut names = Vec::new();
    for user in ["a", "b"] {
        env.round_trips.reset();
        let got = granted(&env, &robot.access_token, &lab, &[("user", user)]).await;
        assert!(env.round_trips.count() <= 5, "{}", env.round_trips.count());
        names.push(got["name"].as_str().unwrap().to_string());
    }
    names.sort();
    assert_eq!(names, vec![format!("{lab}-s1051"), format!("{lab}-s701")]);
    let full = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "c")]))
        .await;
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(full.json(), json!({"error": "No session available"}));
}

#[tokio::test]
async fn an_environment_from_before_the_free_slot_index_works_after_upgrade() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(3, |_| {}).await;
    // As the old code left it: one slot used (without index keys), the others never written.
    let used = granted(&env, &robot.access_token, &lab, &[("user", "u1")]).await;
    let held = labgate::workshop::slot::slot_of(used["name"].as_str().unwrap());
    for index in 0..3 {
        let key = labgate::store::keys::slot(&lab, index);
        if index == held {
            env.store()
                .client()
                .update_item()
                .table_name(env.store().table())
                .set_key(Some(key.item()))
                // Listed where the catalog read held slots before counts.
                .update_expression("REMOVE gsi2pk, gsi2sk SET gsi1sk = :old")
                .expression_attribute_values(
                    ":old",
                    labgate::store::attr::s(format!("ENV#{lab}#SLOT#{held:05}")),
                )
                .send()
                .await
                .unwrap();
        } else {
            labgate::store::delete(env.store(), &key, "test")
                .await
                .unwrap();
        }
    }
    let before = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "u2")]))
        .await;
    assert_eq!(
        before.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "no slot in the index"
    );

    let written = labgate::workshop::environment::upgrade(env.store(), &lab)
        .await
        .unwrap();
    assert_eq!(written, Some(3), "one re-filed, two written");
    // Counted from its sessions (the counter never saw this one), and listed apart again.
    let view = labgate::workshop::environment::load(env.store(), &lab)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.counted, 1);
    let listed = env
        .portal(
            handlers::environment_status::handle,
            "GET",
            &format!("/workshops/environment/{lab}/status/?sessions=true"),
            &robot.access_token,
        )
        .await
        .json();
    assert_eq!(listed["allocated"], 1);
    assert_eq!(listed["sessions"][0]["name"], used["name"]);
    for user in ["u2", "u3"] {
        granted(&env, &robot.access_token, &lab, &[("user", user)]).await;
    }
    let full = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "u4")]))
        .await;
    assert_eq!(
        full.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "u1 still holds its slot"
    );
}
