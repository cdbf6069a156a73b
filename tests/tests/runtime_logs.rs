//! Nothing secret is logged through the Lambda runtime either: the real binaries, under a Lambda
//! Runtime API, at every level the template allows. (A file of its own: `secrets_in_logs.rs`
//! captures the in-process logs with a scoped subscriber, which handlers run on other test
//! threads of the same process would disturb.)

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate_tests::*;

/// At TRACE the runtime would log each raw event (headers, query, body) and
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
            // Business metrics are EMF lines on stdout at every level (docs/operations.md).
            let metrics: Vec<serde_json::Value> = run
                .stdout
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|doc| doc.get("_aws").is_some())
                .collect();
            let expected = match function {
                "launch" => vec!["LaunchesCreated"],
                "launch-auth" => vec!["LinksRedeemed"],
                _ => vec![],
            };
            let named: Vec<_> = metrics
                .iter()
                .map(|m| {
                    m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                        .as_str()
                        .unwrap()
                })
                .collect();
            assert_eq!(named, expected, "{function} at {level}: its metrics");
            for (doc, name) in metrics.iter().zip(&named) {
                assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "labgate");
                assert_eq!(doc[*name], 1);
            }
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
