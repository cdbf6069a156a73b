//! Workshop environments launched from an LMS: a link with the custom parameter `environment`
//! gives the learner a session with its one-time activation, as the workshop API does; deep
//! linking offers the tenant's workshops beside its labs.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::handlers;
use labgate::lti::claims::*;
use labgate_tests::lti_platform::*;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

const RETURN_URL: &str = "https://lms.example.edu/courses/7/modules";

/// A launch of `sub` through a link whose custom parameters are `custom`.
async fn launch(env: &TestEnv, sub: &str, custom: Value, top_level: bool) -> TestResponse {
    let login = sign_in(env).await;
    let mut claims = launch_claims(&login.nonce, sub, CONTENT_ID);
    claims[CUSTOM] = custom;
    claims[LAUNCH_PRESENTATION] = json!({"document_target": "iframe", "return_url": RETURN_URL});
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    post_launch(env, &form, Some(&login.cookie), top_level).await
}

fn session_of(activation: &str) -> String {
    let path = activation
        .strip_prefix(&format!("https://{API_HOST}/workshops/session/"))
        .unwrap_or_else(|| panic!("an activation URL: {activation}"));
    path.split('/').next().unwrap().to_string()
}

#[tokio::test]
async fn a_workshop_link_gives_a_session_with_its_one_time_activation() {
    let (env, _platform) = tool_env().await;
    let lab = env.environment(2, |_| {}).await;

    let res = launch(&env, "learner-1", json!({"environment": lab}), true).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let activation = res.header("location").unwrap().to_string();
    let session = session_of(&activation);
    let query: std::collections::HashMap<String, String> = url::Url::parse(&activation)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    // The LMS's return_url is not at an origin the tenant allows: back to the platform.
    assert_eq!(query["index_url"], ISSUER);
    assert!(query["token"].len() >= 32);

    // The session is the workshop API's: its record, its user and its event.
    let user = "learner-1@lms.example.edu";
    let events = labgate::events::list_for_user(env.store(), &env.client.id, user)
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["session.allocated"]
    );

    // The activation works once, and opens the dashboard.
    let path = activation
        .strip_prefix(&format!("https://{API_HOST}"))
        .unwrap();
    let opened = env.activate(path, None).await;
    assert_eq!(opened.status, StatusCode::FOUND, "{}", opened.body);
    assert_eq!(
        opened.header("location"),
        Some(format!("https://{session}.labs.example.com/").as_str())
    );
    let again = env.activate(path, None).await;
    assert!(again.status.is_client_error(), "{}", again.status);

    // Launched again, the learner is back in the same session (as a returning user is).
    let res = launch(&env, "learner-1", json!({"environment": lab}), true).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(session_of(res.header("location").unwrap()), session);

    // In the LMS's frame, a page whose link opens the activation in a new window.
    let framed = launch(&env, "learner-2", json!({"environment": lab}), false).await;
    assert_eq!(framed.status, StatusCode::OK, "{}", framed.body);
    assert!(framed.body.contains("target=\"_blank\""), "{}", framed.body);
    assert!(
        framed.body.contains("/workshops/session/"),
        "{}",
        framed.body
    );
}

#[tokio::test]
async fn a_full_workshop_a_wrong_link_or_another_tenants_workshop_is_refused() {
    let (env, _platform) = tool_env().await;
    let lab = env.environment(1, |_| {}).await;
    let first = launch(&env, "learner-1", json!({"environment": lab}), true).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);

    // Every seat is taken: a page saying so, 503, and nothing written (not even the nonce).
    let before = scan_all(env.store()).await.len();
    let full = launch(&env, "learner-2", json!({"environment": lab}), true).await;
    assert_eq!(
        full.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        full.body
    );
    assert!(full.body.contains("Every seat"), "{}", full.body);
    assert_eq!(scan_all(env.store()).await.len(), before);

    let other = seed_client(env.store(), "other school").await;
    let theirs = env.environment_for(&other.id, 3, |_| {}).await;
    for (custom, says) in [
        (json!({"environment": theirs}), "not found"),
        (json!({"environment": "no-such-lab"}), "not found"),
        (json!({"environment": "Not A Name!"}), "not found"),
        (
            json!({"environment": lab, "content_id": CONTENT_ID}),
            "both",
        ),
    ] {
        let before = scan_all(env.store()).await.len();
        let res = launch(&env, "learner-3", custom.clone(), true).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{custom}: {}",
            res.body
        );
        assert!(res.body.contains(says), "{custom}: {}", res.body);
        assert_eq!(
            scan_all(env.store()).await.len(),
            before,
            "{custom}: nothing written"
        );
    }
}

#[test]
fn a_learner_gets_a_workshop_user_id_that_fits_the_workshop_api() {
    use labgate::lti::workshop::user;
    assert_eq!(
        user("https://lms.example.edu", "abc-123"),
        "abc-123@lms.example.edu"
    );
    // An issuer with a port or a path does not fit: a stable digest instead.
    let odd = user("https://lms.example.edu:8443/moodle", "42");
    assert!(odd.starts_with("lti-") && odd.len() == 44, "{odd}");
    assert_eq!(odd, user("https://lms.example.edu:8443/moodle", "42"));
    assert_ne!(odd, user("https://lms.example.edu:8443/moodle", "43"));
    assert!(labgate::workshop::portal::is_valid_user(&odd));
}

/// A deep linking request's page, for a login.
async fn picking_page(env: &TestEnv) -> TestResponse {
    let login = sign_in(env).await;
    let mut claims = launch_claims(&login.nonce, "teacher-1", CONTENT_ID);
    claims[MESSAGE_TYPE] = json!(DEEP_LINKING_REQUEST);
    claims.as_object_mut().unwrap().remove(RESOURCE_LINK);
    claims[DEEP_LINKING_SETTINGS] = json!({
        "deep_link_return_url": "https://lms.example.edu/deep_links/return",
        "accept_types": ["ltiResourceLink"],
        "accept_multiple": true,
    });
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    post_launch(env, &form, Some(&login.cookie), false).await
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap() + marker.len();
    page[start..][..page[start..].find('"').unwrap()].replace("&amp;", "&")
}

#[tokio::test]
async fn deep_linking_offers_workshops_and_their_links_open_sessions() {
    let (env, _platform) = tool_env().await;
    let lab = env.environment(2, |_| {}).await;
    let page = picking_page(&env).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Markdown Sample (workshop)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Intro to DBs"), "{}", page.body);

    let pick = hidden(&page.body, "pick");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("pick", &pick)
        .append_pair(&format!("content_env:{lab}"), &format!("env:{lab}"))
        .append_pair(&format!("content_{CONTENT_ID}"), CONTENT_ID)
        .append_pair("points", "10")
        .finish();
    let req = request("POST", API_HOST, "/lti/deep-link")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text(body))
        .unwrap();
    let res = invoke(handlers::lti_deep_link::handle, &env.state, req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let jwt = hidden(&res.body, "JWT");
    let claims: Value = {
        use base64::Engine;
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    let items = claims[CONTENT_ITEMS].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let workshop = items
        .iter()
        .find(|i| i["custom"].get("environment").is_some())
        .expect("the workshop's link");
    assert_eq!(workshop["custom"], json!({"environment": lab}));
    assert_eq!(workshop["title"], "Markdown Sample");
    assert_eq!(workshop["lineItem"]["resourceId"], lab);

    // The link made this way opens a session.
    let res = launch(&env, "learner-7", workshop["custom"].clone(), true).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    session_of(res.header("location").unwrap());

    // Another tenant's workshop cannot be picked.
    let other = seed_client(env.store(), "other school").await;
    let theirs = env.environment_for(&other.id, 3, |_| {}).await;
    let page = picking_page(&env).await;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("pick", &hidden(&page.body, "pick"))
        .append_pair("content", &format!("env:{theirs}"))
        .finish();
    let req = request("POST", API_HOST, "/lti/deep-link")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text(body))
        .unwrap();
    let res = invoke(handlers::lti_deep_link::handle, &env.state, req).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
}
