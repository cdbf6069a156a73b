//! `GET /api/v1/session` and `DELETE /api/v1/session`.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_lab_app_learns_who_is_logged_in_and_for_which_launch() {
    let env = TestEnv::new().await;
    let cookie = env
        .login(&json!({
            "user_id": "LMS-Us3r1D", "content_id": CONTENT_ID, "resource_id": "abc123",
            "context": {"course": "Databases 101", "unit": "Unit 2"},
            "email": "john.doe@test.com", "given_name": "John", "family_name": "Doe",
            "roles": ["admin"], "licenses": ["program-1"], "teams": ["Summer 2024 - Class 1"]
        }))
        .await;
    env.round_trips.reset();
    let res = env.whoami(&cookie).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(
        env.round_trips.count() <= 2,
        "{} round trips",
        env.round_trips.count()
    );
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let mut body = res.json();
    let user_id = body["user"]["id"].take();
    assert!(uuid::Uuid::parse_str(user_id.as_str().unwrap()).is_ok());
    let launch_id = body["launch"]["id"].take();
    assert!(uuid::Uuid::parse_str(launch_id.as_str().unwrap()).is_ok());
    assert!(
        body["launch"]["created_at"]
            .take()
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(body["expires_at"].take().as_str().unwrap().ends_with('Z'));
    assert_eq!(
        body,
        json!({
            "user": {
                "id": null, "external_id": "LMS-Us3r1D", "email": "john.doe@test.com",
                "given_name": "John", "family_name": "Doe",
                "lms_roles": ["admin"], "roles": ["instructor"],
                "licenses": ["program-1"], "teams": ["Summer 2024 - Class 1"]
            },
            "launch": {
                "id": null, "content_id": CONTENT_ID, "resource_id": "abc123",
                "context": {"course": "Databases 101", "unit": "Unit 2"},
                "roles": ["admin"], "licenses": ["program-1"],
                "teams": ["Summer 2024 - Class 1"], "created_at": null, "progress": null
            },
            "workshop_session": null,
            "expires_at": null
        })
    );
}

#[tokio::test]
async fn without_a_valid_cookie_the_answer_is_401() {
    let env = TestEnv::new().await;
    let no_cookie = request("GET", API_HOST, "/api/v1/session")
        .body(Body::Empty)
        .unwrap();
    let not_logged_in = json!({"error": "Not logged in."});
    env.call_session(no_cookie)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, not_logged_in.clone());
    for cookie in ["nonsense", &"A".repeat(43), ""] {
        env.whoami(cookie)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, not_logged_in.clone());
    }
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let env = TestEnv::with_config(&[("LABGATE_WEB_SESSION_TTL_SECONDS", "1")]).await;
    let cookie = env.login(&payload("u1")).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(env.whoami(&cookie).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn delete_logs_out_and_clears_the_cookie() {
    let env = TestEnv::new().await;
    let cookie = env.login(&payload("u1")).await;
    let req = request("DELETE", API_HOST, "/api/v1/session")
        .header("cookie", format!("other=1; labgate_session={cookie}"))
        .body(Body::Empty)
        .unwrap();
    let res = env.call_session(req).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        res.header("set-cookie"),
        Some(
            "labgate_session=; HttpOnly; SameSite=Lax; Secure; Path=/; Domain=labgate.test; \
             Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        )
    );
    assert_eq!(env.whoami(&cookie).await.status, StatusCode::UNAUTHORIZED);

    let again = request("DELETE", API_HOST, "/api/v1/session")
        .body(Body::Empty)
        .unwrap();
    assert_eq!(env.call_session(again).await.status, StatusCode::NO_CONTENT);
}
