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
