//! The master key ring in AWS Secrets Manager (moto's emulator): a stack moves its key into the
//! secret and rotates it without changing any tenant's webhook secret; the functions read the
//! ring at cold start; a tenant whose key left the ring gets dead letters, never an unsigned
//! delivery.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::events::delivery::{self, DELIVERED, FAILED, Secret};
use labgate::events::signing;
use labgate::master_key::{self, KeyRing};
use labgate_tests::receiver::Receiver;
use labgate_tests::secrets_manager::SecretsManager;
use labgate_tests::*;
use lambda_http::http::StatusCode;
use serde_json::json;

/// The key rotated in: 32 bytes, base64.
const NEW_KEY: &str = "c2Vjb25kLWxhYmdhdGUtdGVzdC1rZXktMzItYnl0ZXMh";

/// Whether each secret (`whsec_…`) verifies the receiver's last delivery.
fn verifying(receiver: &Receiver, secrets: &[&str]) -> Vec<bool> {
    let got = receiver.received();
    let r = got.last().expect("a delivery arrived");
    let id = r.header("webhook-id").unwrap();
    let timestamp: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    let header = r.header("webhook-signature").unwrap();
    secrets
        .iter()
        .map(|s| signing::verify(s, id, timestamp, &r.body, header))
        .collect()
}

async fn launch_and_dispatch(env: &TestEnv, user: &str) -> Vec<delivery::Delivery> {
    assert_eq!(env.launch(&payload(user)).await.status, StatusCode::OK);
    env.dispatch(&env.stream_batch().await).await.unwrap()
}

fn secret_of(key_b64: &str, client: &str, version: i64) -> String {
    let ring = KeyRing::parse("test", key_b64).unwrap();
    signing::display_secret(&signing::client_secret(
        ring.current().bytes(),
        client,
        version,
    ))
}

#[tokio::test]
async fn a_key_moved_into_a_secret_and_rotated_changes_no_tenant_secret_until_the_tenant_rotates() {
    let sm = SecretsManager::start().await;
    let mut env = TestEnv::new().await;
    let receiver = Receiver::start(&[]).await;
    let client = env.client.id.clone();
    assert_eq!(env.set_webhook(&receiver.url).await, 1);
    let before = env.webhook_secret(1);
    assert_eq!(before, secret_of(SIGNING_KEY, &client, 1));

    // The move (docs/operations.md): the key the stack had, stored as the secret's value.
    let arn = sm.create("labgate/signing-key", SIGNING_KEY).await;
    let ring = master_key::from_secret(&sm.sdk_config(), &arn)
        .await
        .unwrap();
    assert_eq!(Some(&ring), env.state.config.signing_keys.as_ref());
    env.state.config.signing_keys = Some(ring);
    let out = launch_and_dispatch(&env, "u1").await;
    assert_eq!(out[0].status, DELIVERED);
    assert_eq!(verifying(&receiver, &[&before]), [true]);

    // The master key rotates: a new key in force, the old one kept. The tenant's secret stays.
    let rotated = json!({
        "id": "2026-11",
        "key": NEW_KEY,
        "previous": [{"id": "default", "key": SIGNING_KEY}],
    });
    sm.put(&arn, &rotated.to_string()).await;
    let ring = master_key::from_secret(&sm.sdk_config(), &arn)
        .await
        .unwrap();
    assert_eq!(ring.current().id, "2026-11");
    env.state.config.signing_keys = Some(ring);
    launch_and_dispatch(&env, "u2").await;
    assert_eq!(verifying(&receiver, &[&before]), [true]);

    // The tenant's own rotation moves it onto the key in force; both secrets sign meanwhile.
    let now = labgate::clock::now();
    let rotate = Secret::Rotate { overlap_secs: 3600 };
    let version =
        delivery::set_webhook(env.store(), &client, &receiver.url, rotate, "2026-11", now)
            .await
            .unwrap();
    assert_eq!(
        (version.number, version.key_id.as_deref()),
        (2, Some("2026-11"))
    );
    let after = secret_of(NEW_KEY, &client, 2);
    launch_and_dispatch(&env, "u3").await;
    assert_eq!(verifying(&receiver, &[&before, &after]), [true, true]);

    // The old key leaves the ring: the tenant's new secret alone signs.
    sm.put(&arn, &json!({"id": "2026-11", "key": NEW_KEY}).to_string())
        .await;
    env.state.config.signing_keys = Some(
        master_key::from_secret(&sm.sdk_config(), &arn)
            .await
            .unwrap(),
    );
    let out = launch_and_dispatch(&env, "u4").await;
    assert_eq!(out[0].status, DELIVERED);
    assert_eq!(verifying(&receiver, &[&before, &after]), [false, true]);
}

#[tokio::test]
async fn a_tenant_whose_master_key_left_the_ring_gets_dead_letters_never_an_unsigned_delivery() {
    let mut env = TestEnv::new().await;
    let receiver = Receiver::start(&[]).await;
    env.set_webhook(&receiver.url).await;
    let only_new = json!({"id": "2026-11", "key": NEW_KEY}).to_string();
    env.state.config.signing_keys = Some(KeyRing::parse("test", &only_new).unwrap());
    let out = launch_and_dispatch(&env, "u1").await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, FAILED);
    assert_eq!(
        out[0].last_error.as_deref(),
        Some("master key \"default\" is not in the key ring")
    );
    assert!(receiver.received().is_empty(), "nothing sent unsigned");
}

#[tokio::test]
async fn the_functions_read_the_ring_from_the_secret_at_cold_start_and_fail_it_without_one() {
    use labgate_tests::runtime_api::{http_event, run_function};
    let sm = SecretsManager::start().await;
    let env = TestEnv::new().await;
    let (robot, name) = env.session_of("u1").await;
    let ring = json!({"id": "2026-11", "key": NEW_KEY, "previous": [{"id": "default", "key": SIGNING_KEY}]});
    let arn = sm.create("labgate/key", &ring.to_string()).await;
    let event = || {
        http_event(
            "GET",
            &format!("/workshops/session/{name}/config/"),
            "",
            json!({"host": API_HOST, "authorization": format!("Bearer {}", robot.access_token)}),
            None,
        )
    };
    let table = env.store().table().to_string();
    let from_secret = |secret: &str| {
        [
            ("LABGATE_SIGNING_KEY", String::new()),
            ("LABGATE_SIGNING_KEY_SECRET", secret.to_string()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.url.clone()),
        ]
    };

    let vars = from_secret(&arn);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = run_function("session-config", &table, &vars, vec![event()]).await;
    assert_eq!(run.replies.len(), 1, "{}", run.stderr);
    let reply: serde_json::Value = serde_json::from_str(&run.replies[0].body).unwrap();
    assert_eq!(reply["statusCode"], 200, "{reply}");
    let body: serde_json::Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    let new_key = KeyRing::parse("test", NEW_KEY).unwrap();
    let password = labgate::workshop::session::config::password(new_key.current().bytes(), &name);
    assert_eq!(body["password"], password, "derived from the key in force");

    // A secret that is not there fails the cold start, saying which setting is wrong.
    let vars = from_secret("labgate/missing");
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = run_function("session-config", &table, &vars, vec![event()]).await;
    assert!(run.replies.is_empty(), "no answer without a key ring");
    assert!(
        run.stderr.contains(
            "reading secret labgate/missing: ResourceNotFoundException: \
             Secrets Manager can't find the specified secret."
        ),
        "{}",
        run.stderr
    );
}
