//! Nothing secret is ever logged, not even at TRACE: full flows run with every log line captured,
//! and no token, secret, password or cookie value appears in them.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate_tests::*;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn full_flows_log_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = TestEnv::new().await;
    let mut secrets = vec![env.token.clone()];
    let launched = env.launch(&payload("u1")).await;
    let url = launched.json()["url"].as_str().unwrap().to_string();
    secrets.push(
        url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned(),
    );
    let cookie = env.follow(&url, None).await.session_cookie().unwrap();
    secrets.push(cookie.clone());
    env.whoami(&cookie).await;
    env.follow(&url, None).await; // used again: refused, and logged

    let robot = env.robot().await;
    secrets.extend([
        robot.access_token.clone(),
        robot.refresh_token.clone(),
        robot.client_secret.clone(),
        robot.password.clone(),
    ]);
    let lab = env.environment(2, |_| {}).await;
    let session = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "u1")]))
        .await
        .json();
    let activation = session["url"].as_str().unwrap().to_string();
    secrets.push(
        url::Url::parse(&format!("https://x{activation}"))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned(),
    );
    let workshop_cookie = env
        .activate(&activation, None)
        .await
        .session_cookie()
        .unwrap();
    secrets.push(workshop_cookie);
    env.activate(&activation, None).await;
    env.launch_with("x".repeat(40).as_str(), API_HOST, payload("u1").to_string())
        .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("launch created") && logs.contains("workshop session activated"),
        "logs were captured"
    );
    for secret in &secrets {
        assert!(secret.len() >= 32, "a real secret: {secret:?}");
        assert!(
            !logs.contains(secret.as_str()),
            "a secret was logged: {}…",
            &secret[..6]
        );
    }
    println!(
        "{} secrets checked against {} log lines",
        secrets.len(),
        logs.lines().count()
    );
}

/// The same through the runtime: the real binaries, under a Lambda Runtime API, at every level
/// the template allows. At TRACE the runtime would log each raw event (headers, query, body) and
/// the SDK every DynamoDB body; `labgate::logging` caps every crate but ours at INFO.
#[tokio::test]
async fn the_real_binaries_log_no_secret_at_any_level() {
    use labgate_tests::runtime_api::{http_event, run_function};
    use serde_json::json;

    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let table = env.store().table().to_string();
    let token_of = |url: &str| {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned()
    };
    let mut checked = 0;
    for level in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] {
        let link = env.launch(&payload("u1")).await.json()["url"]
            .as_str()
            .unwrap()
            .to_string();
        let launch_token = token_of(&link);
        let cookie = env.login(&payload("u2")).await;
        let mut secrets = vec![
            env.token.clone(),
            launch_token.clone(),
            cookie.clone(),
            robot.password.clone(),
            robot.client_secret.clone(),
            robot.access_token.clone(),
            robot.refresh_token.clone(),
        ];
        let oauth_form = form(&[
            ("grant_type", "password"),
            ("username", &robot.username),
            ("password", &robot.password),
            ("client_id", &robot.client_id),
            ("client_secret", &robot.client_secret),
        ]);
        let cases = [
            (
                "launch",
                http_event(
                    "POST",
                    "/api/v1/launch",
                    "",
                    json!({"host": API_HOST, "authorization": format!("Token {}", env.token), "content-type": "application/json"}),
                    Some(payload("u3").to_string()),
                ),
            ),
            (
                "launch-auth",
                http_event(
                    "GET",
                    "/api/v1/launch/auth",
                    &format!("token={launch_token}"),
                    json!({"host": API_HOST}),
                    None,
                ),
            ),
            (
                "web-session",
                http_event(
                    "GET",
                    "/api/v1/session",
                    "",
                    json!({"host": API_HOST, "cookie": format!("labgate_session={cookie}")}),
                    None,
                ),
            ),
            (
                "oauth-token",
                http_event(
                    "POST",
                    "/oauth2/token/",
                    "",
                    json!({"host": API_HOST, "content-type": "application/x-www-form-urlencoded"}),
                    Some(oauth_form),
                ),
            ),
            (
                "workshop-catalog",
                http_event(
                    "GET",
                    "/workshops/catalog/environments/",
                    "",
                    json!({"host": API_HOST, "authorization": format!("Bearer {}", robot.access_token)}),
                    None,
                ),
            ),
        ];
        for (function, event) in cases {
            let vars = [
                ("AWS_LAMBDA_LOG_LEVEL", level),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ];
            let run = run_function(function, &table, &vars, vec![event]).await;
            let answered: Vec<_> = run.replies.iter().map(|r| r.path.as_str()).collect();
            assert!(
                answered.len() == 1 && answered[0].ends_with("/response"),
                "{function} at {level} answered {answered:?}: {}",
                run.stderr
            );
            // What the function handed out (a new access token, a new cookie) is secret too.
            let reply: serde_json::Value = serde_json::from_str(&run.replies[0].body).unwrap();
            let body: serde_json::Value =
                serde_json::from_str(reply["body"].as_str().unwrap_or("null")).unwrap_or_default();
            for field in ["access_token", "refresh_token"] {
                if let Some(value) = body[field].as_str() {
                    secrets.push(value.to_string());
                }
            }
            for set_cookie in reply["cookies"].as_array().into_iter().flatten() {
                let value = set_cookie.as_str().unwrap().split(';').next().unwrap();
                secrets.push(value.split_once('=').unwrap().1.to_string());
            }
            let logs = run.logs();
            if function == "launch" && matches!(level, "TRACE" | "DEBUG" | "INFO") {
                assert!(
                    logs.contains("launch created"),
                    "our own logs at {level}: {logs}"
                );
            }
            assert!(
                !logs.contains("raw JSON event"),
                "{function} logged the raw event at {level}"
            );
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                assert!(
                    !logs.contains(secret.as_str()),
                    "{function} at {level} logged a secret: {}…",
                    &secret[..6.min(secret.len())]
                );
            }
            checked += logs.lines().count();
        }
    }
    println!("5 functions × 5 levels, {checked} log lines, no secret");
}
