//! White-label domains are bound to tenants (issue 12, item 1): a launch on a white-label domain
//! is its tenant's only; a launch link and a web session are good only on the API host they were
//! made on; `GET /api/v1/session` names the tenant. Two tenants, two white-label domains.

#![recursion_limit = "256"]

use labgate::api_client::{self, ApiClient, Scope};
use labgate::content;
use labgate_tests::*;
use lambda_http::http::StatusCode;
use serde_json::json;

/// A second tenant with its own launch token and content: (client, token, content id).
async fn second_tenant(env: &TestEnv) -> (ApiClient, String, String) {
    let client = seed_client(env.store(), "College").await;
    let (_, token) = api_client::issue_token(env.store(), &client.id, "", &[Scope::Launch])
        .await
        .unwrap()
        .unwrap();
    let lab = content::create_content(env.store(), &client.id, None, "Lab")
        .await
        .unwrap();
    (client, token.expose().to_string(), lab.id)
}

fn launch_body(user: &str, content_id: &str) -> String {
    json!({"user_id": user, "content_id": content_id}).to_string()
}

#[tokio::test]
async fn a_white_label_domain_launches_for_its_tenant_only() {
    let env = TestEnv::new().await;
    let (college, college_token, college_lab) = second_tenant(&env).await;
    env.bind(WHITE_LABEL_HOST).await;

    // The school's domain: the school launches, the college does not, even its own content.
    let ours = env
        .launch_with(&env.token, WHITE_LABEL_HOST, launch_body("u1", CONTENT_ID))
        .await;
    assert_eq!(ours.status, StatusCode::OK, "{}", ours.body);
    let theirs = env
        .launch_with(
            &college_token,
            WHITE_LABEL_HOST,
            launch_body("u1", &college_lab),
        )
        .await;
    theirs.assert_error(
        StatusCode::NOT_FOUND,
        json!({"error": format!("Content {college_lab} not found.")}),
    );

    // An unbound white-label domain serves nobody until it is bound; then its tenant only.
    let unbound = env
        .launch_with(
            &college_token,
            OTHER_WHITE_LABEL_HOST,
            launch_body("u1", &college_lab),
        )
        .await;
    assert_eq!(unbound.status, StatusCode::NOT_FOUND);
    assert!(
        labgate::tenant::bind_domain(env.store(), OTHER_WHITE_LABEL_HOST, &college.id)
            .await
            .unwrap()
    );
    let bound = env
        .launch_with(
            &college_token,
            OTHER_WHITE_LABEL_HOST,
            launch_body("u1", &college_lab),
        )
        .await;
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.body);
    let school_there = env
        .launch_with(
            &env.token,
            OTHER_WHITE_LABEL_HOST,
            launch_body("u1", CONTENT_ID),
        )
        .await;
    assert_eq!(school_there.status, StatusCode::NOT_FOUND);

    // A domain belongs to one tenant: binding it again, to anyone, is refused.
    let again = labgate::tenant::bind_domain(env.store(), WHITE_LABEL_HOST, &college.id).await;
    assert!(!again.unwrap());

    // The default domain serves every tenant.
    let default = env
        .launch_with(&college_token, API_HOST, launch_body("u1", &college_lab))
        .await;
    assert_eq!(default.status, StatusCode::OK);
}

#[tokio::test]
async fn a_link_and_a_session_work_only_on_the_host_they_were_made_on() {
    let env = TestEnv::new().await;
    env.bind(WHITE_LABEL_HOST).await;
    let launched = env.launch(&payload("u1")).await;
    let url = launched.json()["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("https://{API_HOST}/")), "{url}");

    // The same link on another tenant's domain is not a link at all (and stays unused).
    let elsewhere = url.replacen(API_HOST, WHITE_LABEL_HOST, 1);
    let refused = env.follow(&elsewhere, None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.header("set-cookie").is_none());
    let followed = env.follow(&url, None).await;
    assert_eq!(followed.status, StatusCode::FOUND);
    let cookie = followed.session_cookie().unwrap();

    // The session reads on its own host, names its tenant, and is nobody on another host.
    let here = env.whoami_on(API_HOST, &cookie).await;
    assert_eq!(here.status, StatusCode::OK);
    assert_eq!(
        here.json()["tenant"],
        json!({"id": env.client.id, "name": env.client.name})
    );
    let there = env.whoami_on(WHITE_LABEL_HOST, &cookie).await;
    there.assert_error(StatusCode::UNAUTHORIZED, json!({"error": "Not logged in."}));
}
