//! What IAM would be asked: every DynamoDB call a Lambda function makes while the suite drives
//! it, as the IAM action and resource AWS authorises it against. DynamoDB Local ignores IAM, so
//! `tests/tests/iam_policy.rs` holds each function's policy in `template.yaml` to this record.
//!
//! The function is known by a task-local set around the handler call (`invoke`, `as_function`);
//! calls made outside one (seeding, the admin CLI's domain functions) are not a function's and
//! are not recorded. With `LABGATE_IAM_RECORD=<dir>` (set by `scripts/test`) each process appends
//! what it saw first to `<dir>/<pid>.tsv`: `function \t action \t resource \t consistency`,
//! where consistency is `consistent` or `eventual` for a read (AWS reads eventually unless
//! asked; DynamoDB Local always reads the latest write) and `-` for a write.

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::io::Write;
use std::sync::{LazyLock, Mutex};

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// Runs `call` as the named Lambda function (a directory of `functions/`).
pub async fn as_function<F: Future>(function: &'static str, call: F) -> F::Output {
    FUNCTION.scope(function, call).await
}

/// The function whose binary runs this handler, read from `functions/*/src/main.rs`
/// (`labgate::lambda_main!(<handler path>)`); panics for a handler no function runs.
pub fn function_of<H>(_handler: &H) -> &'static str {
    let path = std::any::type_name::<H>();
    HANDLERS
        .get(path)
        .copied()
        .unwrap_or_else(|| panic!("no function in functions/ runs the handler {path}"))
}

static HANDLERS: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    let functions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut handlers = HashMap::new();
    for entry in std::fs::read_dir(&functions).expect("functions/") {
        let dir = entry.expect("a directory entry").path();
        let name: &'static str = dir
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| &*Box::leak(n.to_string().into_boxed_str()))
            .expect("a function's directory name");
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap_or_default();
        if let Some(rest) = main.split("lambda_main!(").nth(1) {
            let handler = rest.split(')').next().unwrap_or_default().trim();
            handlers.insert(handler.to_string(), name);
        }
    }
    handlers
});

/// The IAM (action, resource) pairs one DynamoDB request needs. Resources are `table` or
/// `index/<name>`. Transactions are authorised item by item with the single-item actions
/// (`TransactWriteItems`: PutItem, UpdateItem, DeleteItem, ConditionCheckItem; `TransactGetItems`:
/// GetItem), as the DynamoDB developer guide ("IAM with DynamoDB transactions") states.
pub fn actions(operation: &str, body: &serde_json::Value) -> Vec<(String, String)> {
    let on_table = |action: &str| (action.to_string(), "table".to_string());
    match operation {
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.keys().next().cloned())
            .map(|kind| match kind.as_str() {
                "Put" => on_table("PutItem"),
                "Update" => on_table("UpdateItem"),
                "Delete" => on_table("DeleteItem"),
                "ConditionCheck" => on_table("ConditionCheckItem"),
                "Get" => on_table("GetItem"),
                other => on_table(other),
            })
            .collect(),
        "Query" | "Scan" => vec![(
            operation.to_string(),
            match body["IndexName"].as_str() {
                Some(index) => format!("index/{index}"),
                None => "table".to_string(),
            },
        )],
        other => vec![on_table(other)],
    }
}

/// Whether a read asks for strong consistency (`-` for a write). `BatchGetItem` asks per table.
pub fn consistency(operation: &str, body: &serde_json::Value) -> &'static str {
    let asked = match operation {
        "GetItem" | "Query" | "Scan" => body["ConsistentRead"].as_bool(),
        "BatchGetItem" => body["RequestItems"]
            .as_object()
            .map(|tables| tables.values().all(|t| t["ConsistentRead"] == true)),
        "TransactGetItems" => Some(true),
        _ => return "-",
    };
    if asked == Some(true) {
        "consistent"
    } else {
        "eventual"
    }
}

/// (function, action, resource, consistency), as written to the record.
type Entry = (String, String, String, &'static str);

static SEEN: LazyLock<Mutex<BTreeSet<Entry>>> = LazyLock::new(|| Mutex::new(BTreeSet::new()));

fn record(function: &str, operation: &str, body: &serde_json::Value) {
    let mut fresh = Vec::new();
    {
        let mut seen = SEEN.lock().unwrap();
        let consistency = consistency(operation, body);
        for (action, resource) in actions(operation, body) {
            let entry = (function.to_string(), action, resource, consistency);
            if seen.insert(entry.clone()) {
                fresh.push(entry);
            }
        }
    }
    let Some(dir) = std::env::var_os("LABGATE_IAM_RECORD") else {
        return;
    };
    if fresh.is_empty() {
        return;
    }
    let path = std::path::Path::new(&dir).join(format!("{}.tsv", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot append to {}: {e}", path.display()));
    // One `write` for all the lines: `writeln!` on a `File` writes each piece on its own, and
    // two test threads appending at once interleaved them ("session-requestweb-session\t\t...").
    let lines: String = fresh
        .iter()
        .map(|(function, action, resource, consistency)| {
            format!("{function}\t{action}\t{resource}\t{consistency}\n")
        })
        .collect();
    file.write_all(lines.as_bytes())
        .expect("the IAM record is writable");
}

/// The SDK interceptor that records, for the function running the call, what IAM would check.
#[derive(Debug, Clone, Default)]
pub struct IamRecorder;

impl Intercept for IamRecorder {
    fn name(&self) -> &'static str {
        "IamRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(function) = FUNCTION.try_with(|f| *f) else {
            return Ok(());
        };
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit_once('.'))
            .map(|(_, op)| op.to_string())
            .unwrap_or_default();
        let body = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(serde_json::Value::Null);
        record(function, &operation, &body);
        Ok(())
    }
}
