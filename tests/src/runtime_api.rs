//! A Lambda Runtime API on loopback, to run a function's real binary as Lambda does: it hands
//! out the queued events on `/invocation/next`, records what the function answers, and when the
//! queue is empty closes the connection, which ends the runtime and the process. Its logs
//! (stdout and stderr) are captured whole.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the function posted back (`…/response` or `…/error`).
#[derive(Debug, Clone)]
pub struct Reply {
    pub path: String,
    pub body: String,
}

/// One run of a function's binary.
#[derive(Debug)]
pub struct Run {
    pub replies: Vec<Reply>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn logs(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `events` in order; the address and what the function answers.
async fn serve(events: Vec<Value>) -> (String, Arc<Mutex<Vec<Reply>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let queue: Queue = Arc::new(Mutex::new(events.into_iter().enumerate().collect()));
    let replies = Arc::new(Mutex::new(Vec::new()));
    let seen = replies.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (queue, replies) = (queue.clone(), seen.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<Incoming>| {
                    let (queue, replies) = (queue.clone(), replies.clone());
                    answer(req, queue, replies)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (address, replies)
}

type Queue = Arc<Mutex<VecDeque<(usize, Value)>>>;

async fn answer(
    req: hyper::Request<Incoming>,
    queue: Queue,
    replies: Arc<Mutex<Vec<Reply>>>,
) -> Result<hyper::Response<Full<Bytes>>, BoxError> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await?.to_bytes();
    if path.ends_with("/invocation/next") {
        // No more events: failing the connection ends the runtime's loop, and the process.
        let next = queue.lock().unwrap().pop_front();
        let (id, event) = next.ok_or_else(|| BoxError::from("no more events"))?;
        let deadline = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() + 30_000;
        return Ok(hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", format!("test-{id}"))
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:test",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event.to_string())))?);
    }
    replies.lock().unwrap().push(Reply {
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    Ok(hyper::Response::builder()
        .status(202)
        .body(Full::new(Bytes::new()))?)
}

/// A function's binary beside this test binary (`target/<profile>/deps/<test>` →
/// `target/<profile>/<name>`); `scripts/test` builds them before the tests.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// Runs a function's binary against its own Runtime API with the configuration it has in
/// production (the tests' values; `vars` add or override), until `events` are handled.
pub async fn run_function(
    name: &str,
    table: &str,
    vars: &[(&str, &str)],
    events: Vec<Value>,
) -> Run {
    let (address, replies) = serve(events).await;
    let child = tokio::process::Command::new(binary(name))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_DYNAMODB", crate::endpoint())
        .env("LABGATE_TABLE_NAME", table)
        .env("LABGATE_API_URL", format!("https://{}", crate::API_HOST))
        .env("LABGATE_APP_URL", crate::APP_URL)
        .env("LABGATE_COOKIE_DOMAIN", "labgate.test")
        .env("LABGATE_SIGNING_KEY", crate::SIGNING_KEY)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the function's binary");
    // Both pipes are drained while waiting (TRACE output is far more than a pipe holds).
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the function exits once its events are handled")
        .unwrap();
    let replies = replies.lock().unwrap().clone();
    Run {
        replies,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An API Gateway HTTP API (payload 2.0) event.
pub fn http_event(
    method: &str,
    path: &str,
    query: &str,
    headers: Value,
    body: Option<String>,
) -> Value {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "labgate", "domainName": crate::API_HOST, "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "labgate-tests"},
            "requestId": "labgate", "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "23/Nov/2026:18:00:00 +0000", "timeEpoch": 1_795_000_000_000i64
        },
        "body": body,
        "isBase64Encoded": false
    })
}
