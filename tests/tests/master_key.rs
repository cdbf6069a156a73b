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

/// `labgate-admin` as an operator runs it against the stack's secret (moto's emulator).
async fn admin(sm: &SecretsManager, arn: &str, args: &[&str]) -> std::process::Output {
    let binary = labgate_tests::runtime_api::binary("labgate-admin");
    tokio::process::Command::new(binary)
        .args(args)
        .env("LABGATE_SIGNING_KEY", "")
        .env("LABGATE_SIGNING_KEY_SECRET", arn)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &sm.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .await
        .expect("run labgate-admin")
}

/// The kids the real `lti-jwks` function publishes, reading the ring from the secret at cold
/// start.
async fn published(sm: &SecretsManager, env: &TestEnv, arn: &str) -> Vec<String> {
    use labgate_tests::runtime_api::{http_event, run_function};
    let event = http_event(
        "GET",
        "/.well-known/jwks.json",
        "",
        json!({"host": API_HOST}),
        None,
    );
    let vars = [
        ("LABGATE_SIGNING_KEY", ""),
        ("LABGATE_SIGNING_KEY_SECRET", arn),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.url.as_str()),
    ];
    let run = run_function("lti-jwks", env.store().table(), &vars, vec![event]).await;
    assert_eq!(run.replies.len(), 1, "{}", run.stderr);
    let reply: serde_json::Value = serde_json::from_str(&run.replies[0].body).unwrap();
    assert_eq!(reply["statusCode"], 200, "{reply}");
    let body: serde_json::Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_tool_keys_rotate_through_the_secret_published_before_signing_and_kept_until_their_tokens_expire()
 {
    use labgate::lti::key_rotation::{self, Step};
    let sm = SecretsManager::start().await;
    let env = TestEnv::new().await;
    let fixture = |name: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/lti")
            .join(format!("{name}.der.b64"))
    };
    let arn = sm.create("labgate/tool-keys", SIGNING_KEY).await;

    // The operator's command: the first key signs at once; a second is published, not signing.
    for (kid, file) in [("2026-11", "tool-1"), ("2027-05", "platform-2")] {
        let der_file = fixture(file);
        let out = admin(
            &sm,
            &arn,
            &[
                "lti",
                "keys",
                "add",
                "--kid",
                kid,
                "--der-file",
                der_file.to_str().unwrap(),
            ],
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = admin(&sm, &arn, &["lti", "keys"]).await;
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listing.contains("2026-11\tsigning"), "{listing}");
    assert!(listing.contains("2027-05\tpublished"), "{listing}");
    assert_eq!(published(&sm, &env, &arn).await, ["2026-11", "2027-05"]);

    // Promoting it at once is refused, and writes nothing.
    let before = master_key::secret_value(&sm.sdk_config(), &arn)
        .await
        .unwrap();
    let out = admin(&sm, &arn, &["lti", "keys", "promote", "--kid", "2027-05"]).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("platforms may not have fetched it yet"),
        "{said}"
    );
    assert_eq!(
        master_key::secret_value(&sm.sdk_config(), &arn)
            .await
            .unwrap(),
        before
    );

    // Ten minutes later (the step, as the command applies it, at a later clock).
    let later = labgate::clock::now() + key_rotation::PUBLISHED_BEFORE_SIGNING_SECS;
    let promote = Step::Promote {
        kid: "2027-05".into(),
    };
    key_rotation::apply_to_secret(&sm.sdk_config(), &arn, &promote, later)
        .await
        .unwrap();
    let ring = master_key::from_secret(&sm.sdk_config(), &arn)
        .await
        .unwrap();
    assert_eq!(ring.tool_keys()[0].kid, "2027-05", "the new key signs");
    assert_eq!(
        published(&sm, &env, &arn).await,
        ["2027-05", "2026-11"],
        "the old key stays published"
    );
    assert_eq!(ring.current().id, "default", "the master key is untouched");

    // The old key leaves only once what it signed has expired.
    let retire = Step::Retire {
        kid: "2026-11".into(),
    };
    let early = key_rotation::apply_to_secret(&sm.sdk_config(), &arn, &retire, later + 60).await;
    assert!(early.unwrap_err().contains("retire it in"));
    let done = later + key_rotation::SIGNED_TOKENS_LIVE_SECS;
    key_rotation::apply_to_secret(&sm.sdk_config(), &arn, &retire, done)
        .await
        .unwrap();
    assert_eq!(published(&sm, &env, &arn).await, ["2027-05"]);
}
