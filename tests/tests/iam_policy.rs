//! Each function's DynamoDB policy in `template.yaml` is exactly what the suite saw it call
//! (`labgate_tests::iam`): DynamoDB Local ignores IAM, AWS answers `AccessDenied` (a 500 to the
//! user) for any call the policy lacks, and a grant no test exercises is privilege for nothing.
//!
//! The record is written while the rest of the suite runs, so this check runs after it:
//! `scripts/test` sets `LABGATE_IAM_RECORD`, runs `cargo test`, then
//! `cargo test -p labgate-tests --test iam_policy -- --ignored`.

use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Grants = BTreeMap<String, BTreeSet<(String, String)>>;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// `table` or `index/<name>` for a policy resource written as `!GetAtt Table.Arn` or
/// `!Sub "${Table.Arn}/index/<name>"`; anything else is refused. A wildcard (`index/*`) is kept as
/// written, so it shows as a grant nothing needs.
fn resource(value: &Value) -> String {
    let Value::Tagged(tagged) = value else {
        panic!("a policy resource is !GetAtt Table.Arn or !Sub: {value:?}")
    };
    match (tagged.tag.to_string().as_str(), tagged.value.as_str()) {
        ("!GetAtt", Some("Table.Arn")) => "table".to_string(),
        ("!Sub", Some(sub)) => {
            let index = sub
                .strip_prefix("${Table.Arn}/index/")
                .unwrap_or_else(|| panic!("an index of the table: {sub}"));
            format!("index/{index}")
        }
        other => panic!("an unexpected policy resource: {other:?}"),
    }
}

/// function (its `Binary`) → the (action, resource) pairs its policies allow on the table.
fn granted() -> Grants {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let template: Value = serde_yaml::from_str(&text).unwrap();
    let mut grants = Grants::new();
    for (_, r) in template["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let allowed = grants.entry(function.to_string()).or_default();
        for policy in r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                assert_eq!(statement["Effect"].as_str(), Some("Allow"));
                let resources: Vec<String> = match &statement["Resource"] {
                    Value::Sequence(list) => list.iter().map(resource).collect(),
                    one => vec![resource(one)],
                };
                for action in statement["Action"].as_sequence().unwrap() {
                    let action = action.as_str().unwrap();
                    let action = action
                        .strip_prefix("dynamodb:")
                        .unwrap_or_else(|| panic!("{function}: a DynamoDB action: {action}"));
                    for resource in &resources {
                        allowed.insert((action.to_string(), resource.clone()));
                    }
                }
            }
        }
    }
    grants
}

/// Every line the suite recorded: function, action, resource, consistency.
fn record_lines() -> BTreeSet<[String; 4]> {
    let dir = std::env::var("LABGATE_IAM_RECORD")
        .expect("LABGATE_IAM_RECORD names the directory the suite recorded into (scripts/test)");
    let dir = Path::new(&dir);
    let mut lines = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let fields: Vec<String> = line.split('\t').map(str::to_string).collect();
            let fields: [String; 4] = fields
                .try_into()
                .unwrap_or_else(|_| panic!("a malformed record line: {line:?}"));
            lines.insert(fields);
        }
    }
    assert!(
        !lines.is_empty(),
        "the suite recorded nothing in {}",
        dir.display()
    );
    lines
}

/// function → the (action, resource) pairs the suite recorded.
fn recorded() -> Grants {
    let mut record = Grants::new();
    for [function, action, resource, _] in record_lines() {
        record
            .entry(function)
            .or_default()
            .insert((action, resource));
    }
    record
}

#[test]
#[ignore = "needs the record of a full suite run: scripts/test runs it after cargo test"]
fn every_function_policy_is_exactly_what_the_suite_saw_it_call() {
    let record = recorded();
    let grants = granted();
    let mut problems = Vec::new();
    for function in record.keys().chain(grants.keys()).collect::<BTreeSet<_>>() {
        let needed = record.get(function).cloned().unwrap_or_default();
        let allowed = grants.get(function).cloned().unwrap_or_default();
        if !grants.contains_key(function) {
            problems.push(format!("{function}: no function in template.yaml"));
        }
        for (action, resource) in needed.difference(&allowed) {
            problems.push(format!(
                "{function}: calls dynamodb:{action} on {resource}, which its policy does not allow (AccessDenied in AWS)"
            ));
        }
        for (action, resource) in allowed.difference(&needed) {
            problems.push(format!(
                "{function}: allowed dynamodb:{action} on {resource}, which no test saw it call"
            ));
        }
    }
    let total: usize = record.values().map(BTreeSet::len).sum();
    println!(
        "IAM record: {} functions, {total} (action, resource) pairs",
        record.len()
    );
    for (function, pairs) in &record {
        let list: Vec<String> = pairs.iter().map(|(a, r)| format!("{a} {r}")).collect();
        println!("  {function}: {}", list.join(", "));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// AWS reads eventually unless a read asks (DynamoDB Local always reads the latest write): every
/// table read of a function asks. Index reads cannot; each says in the code why a stale answer
/// is harmless (`store::query_index`, the reaper's deadline query).
#[test]
#[ignore = "needs the record of a full suite run: scripts/test runs it after cargo test"]
fn every_table_read_of_a_function_is_strongly_consistent() {
    let lines = record_lines();
    let eventual: Vec<String> = lines
        .iter()
        .filter(|[_, _, resource, consistency]| resource == "table" && consistency == "eventual")
        .map(|[function, action, ..]| format!("{function}: {action} on the table"))
        .collect();
    let index_reads: BTreeSet<String> = lines
        .iter()
        .filter(|[_, _, resource, _]| resource.starts_with("index/"))
        .map(|[function, action, resource, _]| format!("{function}: {action} {resource}"))
        .collect();
    println!("eventual index reads (by design): {index_reads:?}");
    assert!(
        eventual.is_empty(),
        "reads that AWS would answer from a possibly stale replica:\n{}",
        eventual.join("\n")
    );
}

#[test]
fn a_transaction_is_authorised_item_by_item() {
    let body = serde_json::json!({"TransactItems": [
        {"Put": {}}, {"Update": {}}, {"ConditionCheck": {}}, {"Delete": {}}
    ]});
    let actions: Vec<String> = labgate_tests::iam::actions("TransactWriteItems", &body)
        .into_iter()
        .map(|(a, r)| format!("{a} {r}"))
        .collect();
    assert_eq!(
        actions,
        [
            "PutItem table",
            "UpdateItem table",
            "ConditionCheckItem table",
            "DeleteItem table"
        ]
    );
    let query = serde_json::json!({"IndexName": "gsi2"});
    assert_eq!(
        labgate_tests::iam::actions("Query", &query),
        [("Query".to_string(), "index/gsi2".to_string())]
    );
}

#[test]
fn every_http_function_is_found_by_its_handler() {
    use labgate_tests::iam::function_of;
    assert_eq!(function_of(&labgate::handlers::launch::handle), "launch");
    assert_eq!(
        function_of(&labgate::handlers::session_extend::handle),
        "session-extend"
    );
}
