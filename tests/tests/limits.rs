//! DynamoDB's limits, reached: the longest value each key-forming field allows, in bytes, is
//! stored and read back (2xx); one past it is a clear 400 (the hostile corpus sends those); and a
//! user item stays bounded however many licenses and teams its launches bring. DynamoDB Local
//! has the same key and item limits as AWS, but only a test that reaches them finds them.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::user::{MAX_LICENSES, MAX_TEAMS};
use labgate_tests::*;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

/// A four-byte character: the most bytes a character takes in UTF-8.
const WIDE: &str = "\u{1f600}";

/// A name of `chars` characters, nearly all four-byte (`4 * chars - 12` bytes), made distinct
/// by an ASCII tag.
fn wide(chars: usize, tag: usize) -> String {
    format!("{tag:04}{}", WIDE.repeat(chars - 4))
}

#[tokio::test]
async fn the_longest_allowed_values_in_bytes_are_stored_and_read_back() {
    let env = TestEnv::new().await;
    // 128 four-byte characters: 512 bytes, the most a user_id may take.
    let user_id = WIDE.repeat(128);
    assert_eq!(user_id.len(), labgate::launch::payload::MAX_USER_ID_BYTES);
    let teams: Vec<String> = (0..20).map(|i| wide(100, i)).collect();
    let licenses: Vec<String> = (0..50).map(|i| wide(100, i)).collect();
    assert!(
        teams
            .iter()
            .all(|t| t.chars().count() == 100 && t.len() == 388)
    );
    let body = json!({
        "user_id": user_id,
        "content_id": CONTENT_ID,
        "resource_id": WIDE.repeat(255),
        "email": format!("{}@example.com", "e".repeat(240)),
        "given_name": WIDE.repeat(150),
        "family_name": WIDE.repeat(150),
        // Roles and context form no key; kept small so that the body stays within 64 KiB.
        "roles": ["admin"],
        "licenses": licenses,
        "teams": teams,
        "context": {"course": WIDE.repeat(255)},
    });
    let cookie = env.login(&body).await;
    let me = env.whoami(&cookie).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let me = me.json();
    assert_eq!(me["user"]["external_id"], user_id);
    assert_eq!(me["user"]["teams"].as_array().unwrap().len(), 20);
    assert_eq!(me["user"]["licenses"].as_array().unwrap().len(), 50);
    let members = labgate::user::team_members(env.store(), &env.client.id, &teams[0])
        .await
        .unwrap();
    assert_eq!(members.len(), 1, "the membership item was written");
}

#[tokio::test]
async fn a_user_id_past_512_bytes_is_a_clear_400() {
    let env = TestEnv::new().await;
    // 255 four-byte characters (1,020 bytes) passed the old limit of 255 characters and made
    // keys past 1,024 bytes: a 500 from DynamoDB.
    for user_id in [WIDE.repeat(129), WIDE.repeat(255), "\u{4e2d}".repeat(255)] {
        env.launch(&payload(&user_id)).await.assert_error(
            StatusCode::BAD_REQUEST,
            json!({"error": "`user_id` is longer than 512 bytes (UTF-8)."}),
        );
    }
}

#[tokio::test]
async fn the_longest_workshop_user_and_robot_username_work() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let user = "u".repeat(150);
    let res = env
        .request_session(&robot.access_token, &lab, &query(&[("user", &user)]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let listed = env
        .portal(
            labgate::handlers::user_sessions::handle,
            "GET",
            &format!("/workshops/user/{user}/sessions/"),
            &robot.access_token,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);

    let username = WIDE.repeat(37) + "xx";
    assert_eq!(username.len(), labgate::oauth::MAX_USERNAME_BYTES);
    let long = labgate::oauth::create_robot(env.store(), &env.client.id, &username)
        .await
        .unwrap()
        .unwrap();
    let signed_in = env
        .call_token(
            form(&[
                ("grant_type", "password"),
                ("username", &long.username),
                ("password", long.password.expose()),
                ("client_id", &long.client_id),
                ("client_secret", long.client_secret.expose()),
            ]),
            None,
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
}

async fn launch_with(
    env: &TestEnv,
    user: &str,
    licenses: &[String],
    teams: &[String],
) -> TestResponse {
    let body =
        json!({"user_id": user, "content_id": CONTENT_ID, "licenses": licenses, "teams": teams});
    env.launch(&body).await
}

/// Launches only add licenses and teams; without a cap a user item passes 400 KB (at about the
/// 14th launch of new worst-case names) and every later launch of that user fails with a 500.
#[tokio::test]
async fn a_user_holds_at_most_the_capped_licenses_and_teams_and_its_item_stays_small() {
    let env = TestEnv::new().await;
    let names =
        |from: usize, n: usize| -> Vec<String> { (from..from + n).map(|i| wide(100, i)).collect() };
    for batch in 0..MAX_LICENSES / 50 {
        let res = launch_with(&env, "u1", &names(batch * 50, 50), &[]).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    for batch in 0..MAX_TEAMS / 20 {
        let res = launch_with(&env, "u1", &[], &names(batch * 20, 20)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    // At both caps: names already held are fine (the exact path reads the user), new ones not.
    let res = launch_with(&env, "u1", &names(0, 50), &names(0, 20)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    launch_with(&env, "u1", &names(5000, 1), &[]).await.assert_error(
        StatusCode::BAD_REQUEST,
        json!({"error": format!("User u1 would hold {} licenses, more than {MAX_LICENSES}.", MAX_LICENSES + 1)}),
    );
    launch_with(&env, "u1", &[], &names(5000, 1)).await.assert_error(
        StatusCode::BAD_REQUEST,
        json!({"error": format!("User u1 would hold {} teams, more than {MAX_TEAMS}.", MAX_TEAMS + 1)}),
    );

    let key = labgate::store::keys::user(&env.client.id, "u1");
    let item = labgate::store::get(env.store(), &key, "GetItem")
        .await
        .unwrap()
        .unwrap();
    let bytes: usize = item
        .iter()
        .map(|(name, value)| name.len() + format!("{value:?}").len())
        .sum();
    println!(
        "user item at both caps of 388-byte names: about {} KB",
        bytes / 1024
    );
    assert!(bytes < 300 * 1024, "about {bytes} bytes");
    let cookie = env.login(&payload("u1")).await;
    let me: Value = env.whoami(&cookie).await.json();
    assert_eq!(
        me["user"]["licenses"].as_array().unwrap().len(),
        MAX_LICENSES
    );
    assert_eq!(me["user"]["teams"].as_array().unwrap().len(), MAX_TEAMS);
}

/// Parallel launches near a cap: the cap is a condition of each transaction, so it holds.
#[tokio::test]
async fn parallel_launches_near_the_cap_never_pass_it() {
    let env = std::sync::Arc::new(TestEnv::new().await);
    let held: Vec<String> = (0..MAX_LICENSES - 10)
        .map(|i| format!("license-{i}"))
        .collect();
    for chunk in held.chunks(50) {
        assert_eq!(
            launch_with(&env, "u1", chunk, &[]).await.status,
            StatusCode::OK
        );
    }
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let env = env.clone();
            tokio::spawn(async move {
                let new: Vec<String> = (0..5).map(|j| format!("new-{i}-{j}")).collect();
                launch_with(&env, "u1", &new, &[]).await.status
            })
        })
        .collect();
    let mut granted = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            StatusCode::OK => granted += 1,
            StatusCode::BAD_REQUEST => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(granted, 2, "10 licenses of room, 5 per launch");
    let key = labgate::store::keys::user(&env.client.id, "u1");
    let item = labgate::store::get(env.store(), &key, "GetItem")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        labgate::store::attr::strings(&item, "licenses")
            .unwrap()
            .len(),
        MAX_LICENSES
    );
}
