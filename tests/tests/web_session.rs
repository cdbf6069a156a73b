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
            "tenant": {"id": env.client.id, "name": env.client.name},
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
    // TTL off for this table: the expired item stays, and the code must refuse it by itself.
    env.without_ttl().await;
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

/// `GET`/`DELETE /api/v1/session` as a page at `origin` sends it (a credentialed `fetch`).
async fn from_origin(env: &TestEnv, method: &str, origin: &str, cookie: &str) -> TestResponse {
    let req = request(method, API_HOST, "/api/v1/session")
        .header("origin", origin)
        .header("cookie", format!("labgate_session={cookie}"))
        .body(Body::Empty)
        .unwrap();
    env.call_session(req).await
}

/// API Gateway answers no CORS without a `CorsConfiguration` (and `scripts/dev` runs `cargo
/// lambda watch --disable-cors`): every CORS header comes from our code, for the tenant's
/// origins only.
#[tokio::test]
async fn a_lab_app_at_an_origin_its_tenant_allows_reads_the_session_and_no_other_does() {
    let env = TestEnv::new().await;
    let cookie = env.login(&payload("u1")).await;
    // The tenant's app (the configured app URL; the client has none of its own) and its allowed origin.
    for allowed in [APP_URL, "https://lms.example.com"] {
        let res = from_origin(&env, "GET", allowed, &cookie).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.header("access-control-allow-origin"), Some(allowed));
        assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(res.header("vary"), Some("Origin"));
    }
    for foreign in [
        "https://evil.example",
        "https://app.labgate.test:8443",
        "null",
    ] {
        let res = from_origin(&env, "GET", foreign, &cookie).await;
        assert_eq!(res.header("access-control-allow-origin"), None, "{foreign}");
        assert_eq!(res.header("access-control-allow-credentials"), None);
        assert_eq!(res.header("vary"), Some("Origin"));
    }

    let preflight = env
        .call_session(
            request("OPTIONS", API_HOST, "/api/v1/session")
                .header("origin", APP_URL)
                .header("access-control-request-method", "DELETE")
                .body(Body::Empty)
                .unwrap(),
        )
        .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(APP_URL)
    );
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET, DELETE")
    );
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );

    // A page elsewhere cannot log the learner out; the tenant's app can.
    let refused = from_origin(&env, "DELETE", "https://evil.example", &cookie).await;
    refused.assert_error(
        StatusCode::FORBIDDEN,
        json!({"error": "Origin https://evil.example may not end this session."}),
    );
    assert_eq!(env.whoami(&cookie).await.status, StatusCode::OK);
    let out = from_origin(&env, "DELETE", APP_URL, &cookie).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(out.header("access-control-allow-origin"), Some(APP_URL));
    assert_eq!(env.whoami(&cookie).await.status, StatusCode::UNAUTHORIZED);
}
