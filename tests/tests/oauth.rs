//! `POST /oauth2/token/` and `POST /oauth2/revoke-token/`, and bearer authentication.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use base64::Engine;
use labgate::handlers::workshop_catalog::handle as catalog;
use labgate_tests::*;
use lambda_http::http::StatusCode;
use serde_json::json;

const CATALOG: &str = "/workshops/catalog/environments/";

fn basic(id: &str, secret: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

#[tokio::test]
async fn password_grant_with_basic_auth_returns_the_educates_token_shape() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    env.round_trips.reset();
    let res = env
        .call_token(
            form(&[
                ("grant_type", "password"),
                ("username", &robot.username),
                ("password", &robot.password),
            ]),
            Some(&basic(&robot.client_id, &robot.client_secret)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(env.round_trips.count(), 2, "one read, one transaction");
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("pragma"), Some("no-cache"));
    let mut body = res.json();
    assert_eq!(body["access_token"].take().as_str().unwrap().len(), 43);
    assert_eq!(body["refresh_token"].take().as_str().unwrap().len(), 43);
    assert_eq!(
        body,
        json!({"access_token": null, "expires_in": 36000, "token_type": "Bearer",
               "scope": "user:info", "refresh_token": null})
    );
}

#[tokio::test]
async fn the_access_token_opens_the_workshop_api() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let res = env
        .portal(catalog, "GET", CATALOG, &robot.access_token)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[tokio::test]
async fn a_missing_or_bad_bearer_token_is_403_with_an_empty_body() {
    let env = TestEnv::new().await;
    for token in ["", "nonsense", &"A".repeat(43)] {
        let res = env.portal(catalog, "GET", CATALOG, token).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{token}");
        assert_eq!(res.body, "");
    }
}

#[tokio::test]
async fn client_and_grant_errors_have_the_rfc_6749_shape() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let grant = |password: &str, secret: &str| {
        form(&[
            ("grant_type", "password"),
            ("username", &robot.username),
            ("password", password),
            ("client_id", &robot.client_id),
            ("client_secret", secret),
        ])
    };

    let res = env.call_token(grant(&robot.password, "wrong"), None).await;
    res.assert_error(
        StatusCode::UNAUTHORIZED,
        json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
    );
    let res = env
        .call_token(
            form(&[
                ("grant_type", "password"),
                ("username", &robot.username),
                ("password", &robot.password),
            ]),
            Some(&basic(&robot.client_id, "wrong")),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.header("www-authenticate"),
        Some("Basic realm=\"labgate\"")
    );

    env.call_token(grant("wrong", &robot.client_secret), None)
        .await
        .assert_error(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "Invalid credentials given."}),
        );

    let res = env
        .call_token(
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &robot.client_id),
                ("client_secret", &robot.client_secret),
            ]),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["error"], "unsupported_grant_type");

    let res = env.call_token(form(&[("username", "x")]), None).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["error"], "invalid_request");

    let res = env
        .call_token("grant_type=password&grant_type=password".into(), None)
        .await;
    assert_eq!(res.json()["error"], "invalid_request");
}

#[tokio::test]
async fn another_tenants_robot_cannot_use_this_oauth_client() {
    let env = TestEnv::new().await;
    let ours = env.robot().await;
    let other_client = seed_client(env.store(), "Other").await;
    let theirs = env.robot_for(&other_client.id).await;
    let res = env
        .call_token(
            form(&[
                ("grant_type", "password"),
                ("username", &theirs.username),
                ("password", &theirs.password),
                ("client_id", &ours.client_id),
                ("client_secret", &ours.client_secret),
            ]),
            None,
        )
        .await;
    assert_eq!(res.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_rotates_the_pair_and_the_old_tokens_stop_working() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let refresh = |token: &str| {
        form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", &robot.client_id),
            ("client_secret", &robot.client_secret),
        ])
    };
    let res = env.call_token(refresh(&robot.refresh_token), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let new_access = res.json()["access_token"].as_str().unwrap().to_string();
    assert_ne!(new_access, robot.access_token);

    let again = env.call_token(refresh(&robot.refresh_token), None).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.json()["error"], "invalid_grant");
    assert_eq!(
        env.portal(catalog, "GET", CATALOG, &robot.access_token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.portal(catalog, "GET", CATALOG, &new_access)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revocation_takes_effect_at_once_and_unknown_tokens_are_fine() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let revoke = |token: &str| {
        form(&[
            ("token", token),
            ("client_id", &robot.client_id),
            ("client_secret", &robot.client_secret),
        ])
    };
    let res = env.call_revoke(revoke(&robot.access_token)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "");
    assert_eq!(
        env.portal(catalog, "GET", CATALOG, &robot.access_token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Its refresh token went with it.
    let res = env
        .call_token(
            form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &robot.refresh_token),
                ("client_id", &robot.client_id),
                ("client_secret", &robot.client_secret),
            ]),
            None,
        )
        .await;
    assert_eq!(res.json()["error"], "invalid_grant");

    assert_eq!(
        env.call_revoke(revoke("no-such-token")).await.status,
        StatusCode::OK
    );
    let res = env
        .call_revoke(form(&[
            ("token", "x"),
            ("client_id", &robot.client_id),
            ("client_secret", "wrong"),
        ]))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.json()["error"], "invalid_client");
}

/// The password grant for `robot` with `password` and client secret `secret`: its status and
/// `error`, if any.
async fn sign_in(
    env: &TestEnv,
    robot: &Robot,
    password: &str,
    secret: &str,
) -> (StatusCode, String) {
    let res = env
        .call_token(
            form(&[
                ("grant_type", "password"),
                ("username", &robot.username),
                ("password", password),
                ("client_id", &robot.client_id),
                ("client_secret", secret),
            ]),
            None,
        )
        .await;
    let error = res.json()["error"].as_str().unwrap_or_default().to_string();
    (res.status, error)
}

#[tokio::test]
async fn a_rotated_password_or_secret_overlaps_as_asked_then_only_the_new_one_works() {
    use labgate::oauth::credentials::{self, Credential};
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let (store, tenant) = (env.store(), &env.client.id);

    // Password with an overlap: old and new both work.
    let new_password =
        credentials::rotate(store, tenant, &robot.username, Credential::Password, 600)
            .await
            .unwrap()
            .unwrap();
    let new_password = new_password.expose().to_string();
    assert_eq!(
        sign_in(&env, &robot, &robot.password, &robot.client_secret)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&env, &robot, &new_password, &robot.client_secret)
            .await
            .0,
        StatusCode::OK
    );

    // Again without overlap: the previous one stops at once, the newest works.
    let newest = credentials::rotate(store, tenant, &robot.username, Credential::Password, 0)
        .await
        .unwrap()
        .unwrap();
    let refused = sign_in(&env, &robot, &new_password, &robot.client_secret).await;
    assert_eq!(
        refused,
        (StatusCode::BAD_REQUEST, "invalid_grant".to_string())
    );
    let newest = newest.expose().to_string();
    assert_eq!(
        sign_in(&env, &robot, &newest, &robot.client_secret).await.0,
        StatusCode::OK
    );

    // The client secret, without overlap: the old secret is an invalid client at once.
    let secret = credentials::rotate(store, tenant, &robot.username, Credential::ClientSecret, 0)
        .await
        .unwrap()
        .unwrap();
    let old = sign_in(&env, &robot, &newest, &robot.client_secret).await;
    assert_eq!(
        old,
        (StatusCode::UNAUTHORIZED, "invalid_client".to_string())
    );
    assert_eq!(
        sign_in(&env, &robot, &newest, secret.expose()).await.0,
        StatusCode::OK
    );

    // Another tenant cannot rotate this tenant's robot.
    let other = seed_client(store, "Other").await;
    let foreign = credentials::rotate(store, &other.id, &robot.username, Credential::Password, 0);
    assert!(foreign.await.unwrap().is_none());
}

#[tokio::test]
async fn a_removed_robots_password_refresh_and_access_tokens_stop_working_at_once() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    assert_eq!(
        env.portal(catalog, "GET", CATALOG, &robot.access_token)
            .await
            .status,
        StatusCode::OK
    );
    let other = seed_client(env.store(), "Other").await;
    let foreign = labgate::oauth::credentials::remove(env.store(), &other.id, &robot.username);
    assert!(
        !foreign.await.unwrap(),
        "another tenant's robot is not removed"
    );

    assert!(
        labgate::oauth::credentials::remove(env.store(), &env.client.id, &robot.username)
            .await
            .unwrap()
    );
    let bearer = env
        .portal(catalog, "GET", CATALOG, &robot.access_token)
        .await;
    assert_eq!(bearer.status, StatusCode::FORBIDDEN);
    let password = sign_in(&env, &robot, &robot.password, &robot.client_secret).await;
    assert_eq!(
        password,
        (StatusCode::UNAUTHORIZED, "invalid_client".to_string())
    );
    let refresh = env
        .call_token(
            form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &robot.refresh_token),
                ("client_id", &robot.client_id),
                ("client_secret", &robot.client_secret),
            ]),
            None,
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert!(
        scan_all(env.store())
            .await
            .iter()
            .all(|item| !format!("{item:?}").contains(&robot.client_id)),
        "nothing of the robot is left"
    );
}
