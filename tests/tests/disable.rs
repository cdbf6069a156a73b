//! Disabling a tenant (issue 12, item 3): everything it holds is refused at once, with no
//! round trip added; enabling it makes everything work again.

#![recursion_limit = "256"]

use labgate::disable::set_disabled;
use labgate::handlers::workshop_catalog::handle as catalog;
use labgate_tests::*;
use lambda_http::http::StatusCode;

const CATALOG: &str = "/workshops/catalog/environments/";

#[tokio::test]
async fn a_disabled_tenant_is_refused_everywhere_at_once_and_works_again_once_enabled() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let cookie = env.login(&payload("u1")).await;
    let link = env.launch(&payload("u2")).await.json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let requested = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "w1")]))
        .await;
    let activation = requested.json()["url"].as_str().unwrap().to_string();
    let refresh = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &robot.refresh_token),
        ("client_id", &robot.client_id),
        ("client_secret", &robot.client_secret),
    ]);
    let password = form(&[
        ("grant_type", "password"),
        ("username", &robot.username),
        ("password", &robot.password),
        ("client_id", &robot.client_id),
        ("client_secret", &robot.client_secret),
    ]);

    assert!(
        set_disabled(env.store(), &env.client.id, true)
            .await
            .unwrap()
    );
    env.round_trips.reset();
    assert_eq!(
        env.launch(&payload("u3")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        env.round_trips.count(),
        1,
        "a disabled tenant costs no extra round trip"
    );
    assert_eq!(env.whoami(&cookie).await.status, StatusCode::UNAUTHORIZED);
    let followed = env.follow(&link, None).await;
    assert_eq!(followed.status, StatusCode::BAD_REQUEST);
    assert!(followed.header("set-cookie").is_none());
    let bearer = env
        .portal(catalog, "GET", CATALOG, &robot.access_token)
        .await;
    assert_eq!(bearer.status, StatusCode::FORBIDDEN);
    let activated = env.activate(&activation, None).await;
    assert_eq!(activated.status, StatusCode::BAD_REQUEST);
    let grant = env.call_token(password.clone(), None).await;
    assert_eq!(grant.json()["error"], "invalid_client");
    assert_eq!(
        env.call_token(refresh.clone(), None).await.status,
        StatusCode::UNAUTHORIZED
    );

    assert!(
        set_disabled(env.store(), &env.client.id, false)
            .await
            .unwrap()
    );
    assert_eq!(env.launch(&payload("u3")).await.status, StatusCode::OK);
    assert_eq!(env.whoami(&cookie).await.status, StatusCode::OK);
    // The links were refused, not used: they still work (within their lifetime).
    assert_eq!(env.follow(&link, None).await.status, StatusCode::FOUND);
    assert_eq!(
        env.activate(&activation, None).await.status,
        StatusCode::FOUND
    );
    let bearer = env
        .portal(catalog, "GET", CATALOG, &robot.access_token)
        .await;
    assert_eq!(bearer.status, StatusCode::OK);
    assert_eq!(env.call_token(refresh, None).await.status, StatusCode::OK);
    assert_eq!(env.call_token(password, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn disabling_one_tenant_leaves_another_alone() {
    let env = TestEnv::new().await;
    let other = seed_client(env.store(), "Other").await;
    assert!(set_disabled(env.store(), &other.id, true).await.unwrap());
    assert_eq!(env.launch(&payload("u1")).await.status, StatusCode::OK);
    assert!(
        !set_disabled(env.store(), "no-such-client", true)
            .await
            .unwrap()
    );
}
