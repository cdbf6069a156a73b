//! `POST /api/v1/launch` against DynamoDB Local.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::api_client;
use labgate::user;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::json;
use std::sync::Arc;

const MISSING: &str = "Must provide `user_id` and `content_id` in payload.";

#[tokio::test]
async fn launch_returns_a_one_time_url_to_the_content_in_two_round_trips() {
    let env = TestEnv::new().await;
    let res = env
        .launch(&json!({
            "user_id": "LMS-Us3r1D",
            "content_id": CONTENT_ID,
            "resource_id": "abc123",
            "context": {"course": "Databases 101", "chapter": "Intro to DBs", "unit": "Unit 2"},
            "email": "john.doe@test.com",
            "given_name": "John",
            "family_name": "Doe",
            "roles": ["admin"],
            "licenses": ["program-1"],
            "teams": ["Summer 2024 - Class 1"],
            "some_future_field": true
        }))
        .await;

    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    assert!(uuid::Uuid::parse_str(res.header("labgate-launch-id").unwrap()).is_ok());
    let body = res.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "only `url`: {body}");
    let url = url::Url::parse(body["url"].as_str().unwrap()).unwrap();
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.host_str(), Some(API_HOST));
    assert_eq!(url.path(), "/api/v1/launch/auth");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(query[0].0, "token");
    assert_eq!(query[0].1.len(), 43);
    assert_eq!(
        query[1],
        ("next".into(), format!("{APP_URL}/project/{CONTENT_ID}"))
    );
    assert!(body["url"].as_str().unwrap().ends_with(
        "&next=https%3A%2F%2Fapp.labgate.test%2Fproject%2F8715dfc6-56ac-4ca2-99cf-17419d36cebb"
    ));
    assert_eq!(env.round_trips.count(), 2, "token lookup + one transaction");

    env.round_trips.reset();
    let again = env.launch(&payload("LMS-Us3r1D")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(env.round_trips.count(), 2, "a repeat launch costs the same");
}

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_tokens_get_401() {
    let env = TestEnv::new().await;
    let body = payload("u1").to_string();

    let no_header = request("POST", API_HOST, "/api/v1/launch")
        .body(Body::Text(body.clone()))
        .unwrap();
    env.call_launch(no_header).await.assert_error(
        StatusCode::UNAUTHORIZED,
        json!({"error": "Authentication credentials were not provided."}),
    );

    let bearer = request("POST", API_HOST, "/api/v1/launch")
        .header("authorization", format!("Bearer {}", env.token))
        .body(Body::Text(body.clone()))
        .unwrap();
    env.call_launch(bearer)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, json!({"error": "Invalid token."}));

    for token in ["short", &"x".repeat(40), &format!("{}!", &env.token[..39])] {
        env.launch_with(token, API_HOST, body.clone())
            .await
            .assert_error(StatusCode::UNAUTHORIZED, json!({"error": "Invalid token."}));
    }

    let tokens = api_client::list_tokens(env.store(), &env.client.id)
        .await
        .unwrap();
    assert!(
        api_client::revoke_token(env.store(), &env.client.id, &tokens[0].token_id)
            .await
            .unwrap()
    );
    env.launch_with(&env.token, API_HOST, body)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, json!({"error": "Invalid token."}));
}

#[tokio::test]
async fn a_second_token_works_alongside_the_first_for_rotation() {
    let env = TestEnv::new().await;
    let (_, second) = api_client::issue_token(
        env.store(),
        &env.client.id,
        "rotation",
        &[api_client::Scope::Launch],
    )
    .await
    .unwrap()
    .unwrap();
    let first = env.launch(&payload("u1")).await;
    let rotated = env
        .launch_with(second.expose(), API_HOST, payload("u1").to_string())
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(rotated.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_required_fields_get_the_reference_message() {
    let env = TestEnv::new().await;
    for body in [
        json!({"content_id": CONTENT_ID}),
        json!({"user_id": "u1"}),
        json!({"user_id": "", "content_id": CONTENT_ID}),
        json!({}),
    ] {
        env.launch(&body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, json!({"error": MISSING}));
    }
    assert_eq!(
        env.round_trips.count(),
        4,
        "one token lookup each, nothing written"
    );
}

#[tokio::test]
async fn bad_input_gets_400_naming_the_problem() {
    let env = TestEnv::new().await;
    let cases: Vec<(String, &str)> = vec![
        ("{\"user_id\": ".into(), "Request body is not valid JSON"),
        ("[]".into(), "Request body must be a JSON object."),
        ("".into(), "Request body must be a JSON object with `user_id` and `content_id`."),
        (
            json!({"user_id": 42, "content_id": CONTENT_ID}).to_string(),
            "Invalid `user_id`: invalid type: integer `42`, expected a string.",
        ),
        (
            json!({"user_id": "u", "content_id": CONTENT_ID, "teams": "A"}).to_string(),
            "Invalid `teams`",
        ),
        (
            json!({"user_id": "u", "content_id": "not-a-uuid"}).to_string(),
            "`content_id` must be a UUID.",
        ),
        (
            json!({"user_id": "u", "content_id": CONTENT_ID, "context": "course 1"}).to_string(),
            "`context` must be a JSON object.",
        ),
        (
            json!({"user_id": "u", "content_id": CONTENT_ID, "context": {"x": "y".repeat(17 * 1024)}})
                .to_string(),
            "`context` is larger than 16 KiB.",
        ),
        (
            json!({"user_id": "u", "content_id": CONTENT_ID, "pad": "z".repeat(65 * 1024)}).to_string(),
            "Request body is larger than 64 KiB.",
        ),
        (
            json!({"user_id": "u", "content_id": CONTENT_ID, "email": "not-an-email"}).to_string(),
            "`email` is not an email address.",
        ),
    ];
    for (body, message) in cases {
        let res = env.launch_with(&env.token, API_HOST, body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{body:.80}: {}",
            res.body
        );
        let error = res.json()["error"].as_str().unwrap().to_string();
        assert!(error.starts_with(message), "{body:.80}: got {error:?}");
    }
    assert!(
        user::list_users(env.store(), &env.client.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unknown_content_is_404_and_writes_nothing() {
    let env = TestEnv::new().await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    env.launch(&json!({"user_id": "u1", "content_id": unknown, "teams": ["T"]}))
        .await
        .assert_error(
            StatusCode::NOT_FOUND,
            json!({"error": format!("Content {unknown} not found.")}),
        );
    assert!(
        user::list_users(env.store(), &env.client.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        user::teams(env.store(), &env.client.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn another_clients_content_is_not_found() {
    let env = TestEnv::new().await;
    let other = seed_client(env.store(), "Other LMS").await;
    let (_, other_token) =
        api_client::issue_token(env.store(), &other.id, "t", &[api_client::Scope::Launch])
            .await
            .unwrap()
            .unwrap();
    let res = env
        .launch_with(other_token.expose(), API_HOST, payload("u1").to_string())
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn user_is_upserted_by_user_id_keeping_what_a_launch_leaves_out() {
    let env = TestEnv::new().await;
    let first = json!({
        "user_id": "u1", "content_id": CONTENT_ID, "email": "a@example.com",
        "given_name": "Ada", "family_name": "Lovelace", "roles": ["admin", "Observer"],
        "licenses": ["program-1"], "teams": ["Class 1"]
    });
    assert_eq!(env.launch(&first).await.status, StatusCode::OK);
    let second = json!({
        "user_id": "u1", "content_id": CONTENT_ID, "given_name": "Augusta",
        "licenses": ["program-2"], "teams": ["Class 2"]
    });
    assert_eq!(env.launch(&second).await.status, StatusCode::OK);

    let users = user::list_users(env.store(), &env.client.id).await.unwrap();
    assert_eq!(users.len(), 1);
    let u = &users[0];
    assert_eq!(u.external_id, "u1");
    assert_eq!(
        u.email.as_deref(),
        Some("a@example.com"),
        "kept when absent"
    );
    assert_eq!(u.given_name.as_deref(), Some("Augusta"), "set when given");
    assert_eq!(u.family_name.as_deref(), Some("Lovelace"));
    assert_eq!(
        u.lms_roles,
        vec!["admin", "Observer"],
        "kept: the second launch sent no roles"
    );
    assert_eq!(
        u.roles,
        vec!["instructor"],
        "admin maps; Observer is unmapped and dropped"
    );
    assert_eq!(u.licenses, vec!["program-1", "program-2"]);
    assert_eq!(u.teams, vec!["Class 1", "Class 2"]);

    let third = json!({"user_id": "u1", "content_id": CONTENT_ID, "roles": ["student"]});
    assert_eq!(env.launch(&third).await.status, StatusCode::OK);
    let u = &user::list_users(env.store(), &env.client.id).await.unwrap()[0];
    assert_eq!(u.roles, vec!["learner"], "no mapped role: the default role");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_user_launched_ten_times_in_parallel_is_one_user_in_each_team_once() {
    let env = Arc::new(TestEnv::new().await);
    let teams = [
        "Summer 2024 - Class 1",
        "Summer 2024 - Class 2",
        "Study group",
    ];
    let body = json!({"user_id": "u1", "content_id": CONTENT_ID, "teams": teams});
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let env = env.clone();
            let body = body.clone();
            tokio::spawn(async move { env.launch(&body).await })
        })
        .collect();
    for task in tasks {
        let res = task.await.unwrap();
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }

    let users = user::list_users(env.store(), &env.client.id).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].teams.len(), 3);
    let mut stored = user::teams(env.store(), &env.client.id).await.unwrap();
    stored.sort();
    assert_eq!(
        stored,
        vec![
            "Study group",
            "Summer 2024 - Class 1",
            "Summer 2024 - Class 2"
        ]
    );
    for team in teams {
        let members = user::team_members(env.store(), &env.client.id, team)
            .await
            .unwrap();
        assert_eq!(members, vec!["u1"], "{team}");
    }
}

#[tokio::test]
async fn white_label_domain_shapes_the_url_and_the_destination() {
    let env = TestEnv::new().await;
    env.bind(WHITE_LABEL_HOST).await;
    let res = env
        .launch_with(&env.token, WHITE_LABEL_HOST, payload("u1").to_string())
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let url = url::Url::parse(res.json()["url"].as_str().unwrap()).unwrap();
    assert_eq!(url.host_str(), Some(WHITE_LABEL_HOST));
    let next = url.query_pairs().find(|(k, _)| k == "next").unwrap().1;
    assert_eq!(next, format!("{WHITE_LABEL_APP_URL}/project/{CONTENT_ID}"));

    let unlisted = env
        .launch_with(&env.token, "evil.example", payload("u1").to_string())
        .await;
    let url = url::Url::parse(unlisted.json()["url"].as_str().unwrap()).unwrap();
    assert_eq!(
        url.host_str(),
        Some(API_HOST),
        "an unlisted Host falls back to the default"
    );
}

#[tokio::test]
async fn server_failure_is_500_with_words_and_a_request_id_and_nothing_internal() {
    let mut env = TestEnv::new().await;
    let missing_table = format!("missing-{}", uuid::Uuid::new_v4().simple());
    env.state.store = store(&missing_table, &env.round_trips);
    let res = env.launch(&payload("u1")).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    let body = res.json();
    assert_eq!(body["error"], "Could not check the API token.");
    assert!(uuid::Uuid::parse_str(body["request_id"].as_str().unwrap()).is_ok());
    assert_eq!(body.as_object().unwrap().len(), 2);
    assert!(!res.body.contains("ResourceNotFound") && !res.body.contains(&missing_table));
}
