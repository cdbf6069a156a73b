//! Cold start, peak memory and size of each function's release binary. A minimal Lambda
//! Runtime API (`/next`, `/response`, `/error`) runs here; each binary is exec'd against it with
//! the configuration it has in production, and its first invocation makes its DynamoDB call.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use labgate_tests::runtime_api::http_event;
use labgate_tests::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What the emulator saw of one process.
#[derive(Default)]
struct Seen {
    to_serve: usize,
    served: usize,
    first_next: Option<Instant>,
    /// When each invocation was handed out.
    handed_out: Vec<Instant>,
    responses: Vec<Instant>,
    errors: usize,
}

struct RuntimeApi {
    address: String,
    seen: Arc<Mutex<Seen>>,
    progress: Arc<Notify>,
}

impl RuntimeApi {
    async fn start(event: Value, invocations: usize) -> RuntimeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Seen {
            to_serve: invocations,
            ..Seen::default()
        }));
        let progress = Arc::new(Notify::new());
        let (state, notify) = (seen.clone(), progress.clone());
        let body = Bytes::from(event.to_string());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, notify, body) = (state.clone(), notify.clone(), body.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<Incoming>| {
                        let (state, notify, body) = (state.clone(), notify.clone(), body.clone());
                        async move {
                            let path = req.uri().path().to_string();
                            let _ = req.into_body().collect().await;
                            let now = Instant::now();
                            if path.ends_with("/invocation/next") {
                                let id = {
                                    let mut s = state.lock().unwrap();
                                    s.first_next.get_or_insert(now);
                                    if s.served < s.to_serve {
                                        s.served += 1;
                                        s.handed_out.push(now);
                                        Some(s.served)
                                    } else {
                                        None
                                    }
                                };
                                let Some(id) = id else {
                                    // No more work: hold the poll until the process is stopped.
                                    std::future::pending::<()>().await;
                                    unreachable!()
                                };
                                let deadline = std::time::SystemTime::now()
                                    .duration_since(std::time::UNIX_EPOCH)
                                    .unwrap()
                                    .as_millis()
                                    + 30_000;
                                return Ok::<_, hyper::Error>(
                                    hyper::Response::builder()
                                        .header(
                                            "lambda-runtime-aws-request-id",
                                            format!("bench-{id}"),
                                        )
                                        .header("lambda-runtime-deadline-ms", deadline.to_string())
                                        .header(
                                            "lambda-runtime-invoked-function-arn",
                                            "arn:aws:lambda:us-east-1:123456789012:function:bench",
                                        )
                                        .header(
                                            "lambda-runtime-trace-id",
                                            "Root=1-00000000-000000000000000000000000",
                                        )
                                        .body(Full::new(body))
                                        .unwrap(),
                                );
                            }
                            {
                                let mut s = state.lock().unwrap();
                                if path.ends_with("/response") {
                                    s.responses.push(now);
                                } else {
                                    s.errors += 1;
                                }
                            }
                            notify.notify_waiters();
                            Ok(hyper::Response::builder()
                                .status(202)
                                .body(Full::new(Bytes::new()))
                                .unwrap())
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeApi {
            address,
            seen,
            progress,
        }
    }

    /// Waits until `n` invocations are answered (or an error is reported); false on timeout.
    async fn answered(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.progress.notified();
            {
                let s = self.seen.lock().unwrap();
                if s.responses.len() + s.errors >= n {
                    return s.errors == 0;
                }
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return false;
            }
        }
    }
}

/// Each function with an event whose handling makes the function's first DynamoDB call.
fn events(env: &TestEnv, robot: &Robot, lab: &str) -> Vec<(&'static str, Value)> {
    let token = format!("Token {}", env.token);
    let bearer = format!("Bearer {}", robot.access_token);
    let shaped = "A".repeat(43);
    let session = format!("/workshops/session/{lab}-s001");
    let oauth = form(&[
        ("grant_type", "password"),
        ("username", &robot.username),
        ("password", &robot.password),
        ("client_id", &robot.client_id),
        ("client_secret", &robot.client_secret),
    ]);
    vec![
        (
            "launch",
            http_event(
                "POST",
                "/api/v1/launch",
                "",
                json!({"host": API_HOST, "authorization": token, "content-type": "application/json"}),
                Some(payload("cold").to_string()),
            ),
        ),
        (
            "launch-auth",
            http_event(
                "GET",
                "/api/v1/launch/auth",
                &format!("token={shaped}"),
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
                json!({"host": API_HOST, "cookie": format!("labgate_session={shaped}")}),
                None,
            ),
        ),
        (
            "progress",
            http_event(
                "POST",
                "/api/v1/progress",
                "",
                json!({"host": API_HOST, "authorization": token}),
                Some(
                    json!({"launch_id": "00000000-0000-4000-8000-000000000000", "progress": 0.5})
                        .to_string(),
                ),
            ),
        ),
        (
            "oauth-token",
            http_event(
                "POST",
                "/oauth2/token/",
                "",
                json!({"host": API_HOST, "content-type": "application/x-www-form-urlencoded"}),
                Some(oauth),
            ),
        ),
        (
            "oauth-revoke",
            http_event(
                "POST",
                "/oauth2/revoke-token/",
                "",
                json!({"host": API_HOST}),
                Some(form(&[
                    ("token", &shaped),
                    ("client_id", &robot.client_id),
                    ("client_secret", &robot.client_secret),
                ])),
            ),
        ),
        (
            "workshop-catalog",
            http_event(
                "GET",
                "/workshops/catalog/environments/",
                "",
                json!({"host": API_HOST, "authorization": bearer}),
                None,
            ),
        ),
        (
            "environment-status",
            http_event(
                "GET",
                &format!("/workshops/environment/{lab}/status/"),
                "",
                json!({"host": API_HOST, "authorization": bearer}),
                None,
            ),
        ),
        (
            "session-request",
            http_event(
                "GET",
                &format!("/workshops/environment/{lab}/request/"),
                &query(&[("user", "cold")]),
                json!({"host": API_HOST, "authorization": bearer}),
                None,
            ),
        ),
        (
            "session-activate",
            http_event(
                "GET",
                &format!("{session}/activate/"),
                &format!("token={shaped}"),
                json!({"host": API_HOST}),
                None,
            ),
        ),
        (
            "session-schedule",
            http_event(
                "GET",
                &format!("{session}/schedule/"),
                "",
                json!({"host": API_HOST, "authorization": bearer}),
                None,
            ),
        ),
        (
            "session-extend",
            http_event(
                "GET",
                &format!("{session}/extend/"),
                "",
                json!({"host": API_HOST, "authorization": bearer}),
                None,
            ),
        ),
        (
            "session-terminate",
            http_event(
                "GET",
                "/workshops/session/none-s001/terminate/",
                "",
                json!({"host": API_HOST, "authorization": bearer}),
                None,
            ),
        ),
        (
            "session-delete",
            http_event(
                "GET",
                &format!("{session}/delete/"),
                "",
                json!({"host": API_HOST, "cookie": format!("labgate_session={shaped}")}),
                None,
            ),
        ),
        (
            "user-sessions",
            http_event(
                "GET",
                "/workshops/user/cold/sessions/",
                "",
                json!({"host": API_HOST, "authorization": bearer}),
                None,
            ),
        ),
        (
            "reaper",
            json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}),
        ),
        ("event-dispatcher", json!({"Records": []})),
    ]
}

struct Measured {
    init: Duration,
    first: Duration,
    /// The second invocation, from its hand-out to its response: the same request made by a
    /// warm process, against DynamoDB Local as it is at that moment.
    warm: Option<Duration>,
    peak_rss_kib: Option<u64>,
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn exec(binary: &Path, table: &str, event: &Value, invocations: usize) -> Option<Measured> {
    let api = RuntimeApi::start(event.clone(), invocations).await;
    let start = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_LEVEL", "ERROR")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
        .env("LABGATE_TABLE_NAME", table)
        .env("LABGATE_API_URL", format!("https://{API_HOST}"))
        .env("LABGATE_APP_URL", APP_URL)
        .env("LABGATE_SIGNING_KEY", SIGNING_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let first_ok = api.answered(1, Duration::from_secs(10)).await;
    let first = api
        .seen
        .lock()
        .unwrap()
        .responses
        .first()
        .map(|t| *t - start);
    let init = api.seen.lock().unwrap().first_next.map(|t| t - start);
    let more_ok = first_ok && api.answered(invocations, Duration::from_secs(60)).await;
    let warm = {
        let s = api.seen.lock().unwrap();
        match (s.handed_out.get(1), s.responses.get(1)) {
            (Some(out), Some(back)) => Some(*back - *out),
            _ => None,
        }
    };
    let peak = child.id().and_then(peak_rss_kib);
    let _ = child.kill().await;
    match (first_ok && more_ok, init, first) {
        (true, Some(init), Some(first)) => Some(Measured {
            init,
            first,
            warm,
            peak_rss_kib: peak,
        }),
        _ => None,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1024.0 / 1024.0)
}

pub async fn run(binaries: &Path, arm64: Option<&Path>) {
    const RUNS: usize = 5;
    const WARM_INVOCATIONS: usize = 200;
    println!("## Cold start, memory and size (release binaries, local Runtime API emulator)\n");
    println!(
        "Median of {RUNS} cold starts: exec to the first `/next` (init) and to the first response"
    );
    println!(
        "(its DynamoDB calls included); the same request's second invocation in that process (warm),"
    );
    println!(
        "and their difference: what the cold start itself adds. Peak RSS after {WARM_INVOCATIONS} invocations.\n"
    );
    println!(
        "| function | init ms | first response ms | warm invocation ms | cold − warm ms | peak RSS MiB | x86_64 MiB | arm64 MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let env = TestEnv::new().await;
    // DynamoDB Local is a JVM: warm it up first (as the latency floors do), or a first
    // response measures its JIT (`--cold-start-only` runs on a fresh one).
    for i in 0..1000 {
        let _ = env.launch(&payload(&format!("warm-{}", i % 50))).await;
    }
    let robot = env.robot().await;
    let lab = env.environment(10, |_| {}).await;
    env.request_session(&robot.access_token, &lab, &query(&[("user", "u1")]))
        .await;
    for (name, event) in events(&env, &robot, &lab) {
        let binary = binaries.join(name);
        if !binary.exists() {
            println!("| {name} | not built | | | | | | |");
            continue;
        }
        let size = std::fs::metadata(&binary)
            .map(|m| mib(m.len()))
            .unwrap_or("-".into());
        let arm = arm64
            .and_then(|d| std::fs::metadata(d.join(name).join("bootstrap")).ok())
            .map_or("-".into(), |m| mib(m.len()));
        let mut inits = Vec::new();
        let mut firsts = Vec::new();
        let mut warms = Vec::new();
        for _ in 0..RUNS {
            if let Some(m) = exec(&binary, env.store().table(), &event, 2).await {
                inits.push(m.init);
                firsts.push(m.first);
                warms.extend(m.warm);
            }
        }
        let peak = exec(&binary, env.store().table(), &event, WARM_INVOCATIONS)
            .await
            .and_then(|m| m.peak_rss_kib)
            .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0));
        if inits.is_empty() {
            println!("| {name} | failed | failed | | | {peak} | {size} | {arm} |");
            continue;
        }
        let (first, warm) = (ms(median(firsts)), ms(median(warms)));
        println!(
            "| {name} | {:.1} | {first:.1} | {warm:.1} | {:.1} | {peak} | {size} | {arm} |",
            ms(median(inits)),
            first - warm,
        );
    }
    println!();
}
