//! `template.yaml` is held to the code: the table to the Rust definition, the API routes to the
//! local router in `Cargo.toml` and to the paths of `docs/openapi.yaml`. No DynamoDB needed.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::store::schema::TABLE;
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(name, r)| (name.as_str().unwrap(), r))
        .collect()
}

fn key_schema(value: &Value) -> Vec<(String, String)> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_string(),
                k["KeyType"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(name: &str, kind: &str) -> (String, String) {
    (name.to_string(), kind.to_string())
}

#[test]
fn template_table_matches_the_rust_table_definition() {
    let template = template();
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table (single-table design)");
    let props = &tables[0].1["Properties"];

    assert_eq!(props["BillingMode"].as_str(), Some(TABLE.billing_mode));
    assert_eq!(
        key_schema(&props["KeySchema"]),
        vec![
            pair(TABLE.partition_key, "HASH"),
            pair(TABLE.sort_key, "RANGE")
        ]
    );
    let defined: BTreeSet<(String, String)> = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            pair(
                a["AttributeName"].as_str().unwrap(),
                a["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = TABLE
        .key_attributes()
        .into_iter()
        .map(|n| pair(n, "S"))
        .collect();
    assert_eq!(defined, expected);

    let indexes = props["GlobalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(indexes.len(), TABLE.global_indexes.len());
    for (yaml, def) in indexes.iter().zip(TABLE.global_indexes) {
        assert_eq!(yaml["IndexName"].as_str(), Some(def.name));
        assert_eq!(
            key_schema(&yaml["KeySchema"]),
            vec![pair(def.partition_key, "HASH"), pair(def.sort_key, "RANGE")]
        );
        assert_eq!(
            yaml["Projection"]["ProjectionType"].as_str(),
            Some(def.projection)
        );
    }
    assert_eq!(
        props["StreamSpecification"]["StreamViewType"].as_str(),
        Some(TABLE.stream_view_type)
    );
    let ttl = &props["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"].as_str(), Some(TABLE.ttl_attribute));
    assert_eq!(ttl["Enabled"].as_bool(), Some(true));
}

/// (path, method, function) for every HttpApi event in the template.
fn template_routes() -> BTreeSet<(String, String, String)> {
    let template = template();
    let mut routes = BTreeSet::new();
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names its Binary"));
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        for (_, event) in function["Properties"]["Events"].as_mapping().unwrap() {
            if event["Type"].as_str() == Some("HttpApi") {
                routes.insert((
                    event["Properties"]["Path"].as_str().unwrap().to_string(),
                    event["Properties"]["Method"]
                        .as_str()
                        .unwrap()
                        .to_uppercase(),
                    binary.to_string(),
                ));
            }
        }
    }
    routes
}

/// (path, method, function) for every route of `cargo lambda watch`'s router.
fn local_routes() -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut routes = BTreeSet::new();
    for (path, entries) in router {
        for entry in entries.as_array().expect("routes list their methods") {
            routes.insert((
                path.to_string(),
                entry["method"].as_str().unwrap().to_uppercase(),
                entry["function"].as_str().unwrap().to_string(),
            ));
        }
    }
    routes
}

#[test]
fn template_routes_equal_the_local_router() {
    let template = template_routes();
    assert!(!template.is_empty());
    assert_eq!(template, local_routes());
}

#[test]
fn every_routed_function_is_a_workspace_binary() {
    for (_, _, function) in template_routes() {
        let main = root().join("functions").join(&function).join("src/main.rs");
        assert!(main.exists(), "{} has no crate in functions/", function);
    }
}

/// (path, method) for every operation of `docs/openapi.yaml` (aliases resolved by the parser).
fn openapi_routes() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(root().join("docs/openapi.yaml")).unwrap();
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if !matches!(method, "parameters" | "summary" | "description" | "servers") {
                routes.insert((path.as_str().unwrap().to_string(), method.to_uppercase()));
            }
        }
    }
    routes
}

#[test]
fn openapi_paths_equal_the_template_routes() {
    let documented = openapi_routes();
    let deployed: BTreeSet<(String, String)> = template_routes()
        .into_iter()
        .map(|(path, method, _)| (path, method))
        .collect();
    let missing: Vec<_> = deployed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&deployed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/openapi.yaml lacks {missing:?} and documents {extra:?}, which template.yaml does not route"
    );
}

#[test]
fn every_openapi_operation_documents_server_errors_and_its_security() {
    let text = std::fs::read_to_string(root().join("docs/openapi.yaml")).unwrap();
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, op) in item.as_mapping().unwrap() {
            let at = format!("{} {}", method.as_str().unwrap(), path.as_str().unwrap());
            assert!(op["security"].is_sequence(), "{at} states its security");
            // 503 is DynamoDB unreachable: an operation that reads no table says so.
            let statuses: &[&str] = if op["x-reads-no-table"].as_bool() == Some(true) {
                &["500"]
            } else {
                &["500", "503"]
            };
            if method.as_str() != Some("head") {
                for status in statuses {
                    assert!(
                        !op["responses"][status].is_null(),
                        "{at} documents {status}"
                    );
                }
            }
        }
    }
}

// Operations (issue 14): what `docs/operations.md` relies on stays in the template.

/// `(tag, value)` of a tagged YAML value (`!Ref X` is `("!Ref", "X")`).
fn tagged(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(t) => Some((t.tag.to_string(), &t.value)),
        _ => None,
    }
}

fn is_ref(value: &Value, name: &str) -> bool {
    tagged(value).is_some_and(|(tag, v)| tag == "!Ref" && v.as_str() == Some(name))
}

/// The alarms of the template that notify the alarm topic, with the function (`!Ref`) or other
/// resource their metric names, and their metric.
fn alarms(template: &Value) -> Vec<(&str, &Value)> {
    let alarms = resources_of_type(template, "AWS::CloudWatch::Alarm");
    for (name, alarm) in &alarms {
        let props = &alarm["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            let list = props[actions]
                .as_sequence()
                .unwrap_or_else(|| panic!("{name}: {actions}"));
            assert!(
                list.iter().any(|a| is_ref(a, "AlarmTopic")),
                "{name} tells the alarm topic"
            );
        }
        let description = props["AlarmDescription"]
            .as_str()
            .or_else(|| tagged(&props["AlarmDescription"]).and_then(|(_, v)| v.as_str()))
            .unwrap_or_else(|| panic!("{name}: a description"));
        let anchor = description
            .split("docs/operations.md#")
            .nth(1)
            .unwrap_or_else(|| panic!("{name} says where its runbook is"))
            .trim_end_matches('"');
        assert!(
            runbook_anchors().contains(anchor),
            "{name}: docs/operations.md has no section #{anchor}"
        );
    }
    alarms
}

/// The anchors of `docs/operations.md`'s headings, as GitHub makes them.
fn runbook_anchors() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

fn metric_of(alarm: &Value) -> (String, Option<&Value>) {
    let props = &alarm["Properties"];
    let metric = props["MetricName"]
        .as_str()
        .unwrap_or("(metric math)")
        .to_string();
    let function = props["Dimensions"]
        .as_sequence()
        .and_then(|d| {
            d.iter()
                .find(|d| d["Name"].as_str() == Some("FunctionName"))
        })
        .map(|d| &d["Value"]);
    (metric, function)
}

#[test]
fn every_function_has_a_log_group_with_the_retention_parameter_and_errors_and_throttles_alarms() {
    let template = template();
    let alarms = alarms(&template);
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    assert!(functions.len() >= 22);
    for (name, function) in &functions {
        let group = &function["Properties"]["LoggingConfig"]["LogGroup"];
        let (tag, group) = tagged(group).unwrap_or_else(|| panic!("{name} names its log group"));
        assert_eq!(tag, "!Ref");
        let group = &template["Resources"][group.as_str().unwrap()];
        assert_eq!(group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
        assert!(is_ref(
            &group["Properties"]["RetentionInDays"],
            "LogRetentionDays"
        ));
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarms.iter().any(|(_, a)| {
                    let (m, f) = metric_of(a);
                    m == metric && f.is_some_and(|f| is_ref(f, name))
                }),
                "{name} has a {metric} alarm"
            );
        }
        let stream = function["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .any(|(_, e)| e["Type"].as_str() == Some("DynamoDB"));
        if stream {
            assert!(
                alarms.iter().any(|(_, a)| {
                    let (m, f) = metric_of(a);
                    m == "IteratorAge" && f.is_some_and(|f| is_ref(f, name))
                }),
                "stream consumer {name} has an iterator-age alarm"
            );
        }
    }
    let globals = &template["Globals"]["Function"];
    assert!(
        is_ref(&globals["Tracing"], "Tracing"),
        "tracing is a parameter"
    );
}

#[test]
fn the_stack_alarms_on_api_errors_the_dead_letter_queue_the_reaper_and_dynamodb() {
    let template = template();
    let alarms = alarms(&template);
    let named = |name: &str| {
        alarms
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("alarm {name}"))
            .1
    };
    let reaper = &named("ReaperNotRunningAlarm")["Properties"];
    assert_eq!(reaper["MetricName"].as_str(), Some("Invocations"));
    assert_eq!(
        reaper["TreatMissingData"].as_str(),
        Some("breaching"),
        "no data from the reaper is the alarm"
    );
    assert!(is_ref(&reaper["Dimensions"][0]["Value"], "ReaperFunction"));
    let dlq = &named("DeadLetterQueueAlarm")["Properties"];
    assert_eq!(
        dlq["MetricName"].as_str(),
        Some("ApproximateNumberOfMessagesVisible")
    );
    let api = serde_yaml::to_string(&named("ApiErrorRateAlarm")["Properties"]).unwrap();
    assert!(api.contains("5xx") && api.contains("errors / requests"));
    for (alarm, metric) in [
        ("TableThrottleAlarm", "ThrottledRequests"),
        ("TableSystemErrorAlarm", "SystemErrors"),
    ] {
        let text = serde_yaml::to_string(&named(alarm)["Properties"]).unwrap();
        for operation in [
            "GetItem",
            "BatchGetItem",
            "Query",
            "DeleteItem",
            "TransactWriteItems",
        ] {
            assert!(
                text.contains(metric) && text.contains(operation),
                "{alarm}: {operation}"
            );
        }
        // A term with no data (an operation never throttled) must not blank the sum.
        assert!(text.contains("FILL(m0, 0)"), "{alarm}: each term filled");
    }
    let topic = resources_of_type(&template, "AWS::SNS::Topic");
    assert_eq!(topic.len(), 1);
    let subscription = &template["Resources"]["AlarmEmailSubscription"];
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
    assert_eq!(
        resources_of_type(&template, "AWS::CloudWatch::Dashboard").len(),
        1
    );
}

#[test]
fn the_api_is_throttled_stricter_on_its_public_routes_and_logs_every_request() {
    let template = template();
    let api = &template["Resources"]["Api"]["Properties"];
    let default = &api["DefaultRouteSettings"];
    assert!(is_ref(&default["ThrottlingRateLimit"], "ApiRateLimit"));
    assert!(is_ref(&default["ThrottlingBurstLimit"], "ApiBurstLimit"));
    // Every route that needs neither an API token nor a bearer token has the stricter limits.
    let public = [
        ("GET", "/api/v1/launch/auth"),
        ("POST", "/api/v1/launch/auth"),
        ("GET", "/api/v1/session"),
        ("DELETE", "/api/v1/session"),
        ("POST", "/oauth2/token"),
        ("POST", "/oauth2/token/"),
        ("GET", "/workshops/session/{name}/activate/"),
        ("GET", "/workshops/session/{name}/delete/"),
        ("POST", "/workshops/session/{name}/delete/"),
    ];
    let routes = template_routes();
    let settings = api["RouteSettings"].as_mapping().unwrap();
    for (key, limits) in settings {
        let key = key.as_str().unwrap();
        let (method, path) = key.split_once(' ').unwrap();
        assert!(
            routes.iter().any(|(p, m, _)| m == method && p == path),
            "route settings for a route that exists: {key}"
        );
        assert!(is_ref(
            &limits["ThrottlingRateLimit"],
            "PublicRouteRateLimit"
        ));
        assert!(is_ref(
            &limits["ThrottlingBurstLimit"],
            "PublicRouteBurstLimit"
        ));
    }
    for (method, path) in public {
        assert!(
            settings.contains_key(format!("{method} {path}").as_str()),
            "{method} {path} is limited"
        );
    }
    let log = tagged(&api["AccessLogSettings"]["DestinationArn"]).unwrap();
    assert_eq!(log.0, "!GetAtt");
    let format: serde_json::Value =
        serde_json::from_str(api["AccessLogSettings"]["Format"].as_str().unwrap()).unwrap();
    for field in ["requestId", "route", "status", "latencyMs"] {
        assert!(
            format.get(field).is_some(),
            "the access log is JSON with {field}"
        );
    }
}

#[test]
fn the_reaper_and_the_dispatcher_have_reserved_concurrency_and_the_table_is_protected() {
    let template = template();
    let resources = &template["Resources"];
    // Reserved unless the account's quota is too small to reserve any (`ReserveConcurrency`).
    let reserved = |function: &str| {
        let value = &resources[function]["Properties"]["ReservedConcurrentExecutions"];
        let (tag, args) = tagged(value).unwrap_or_else(|| panic!("{function}: reserved"));
        assert_eq!(tag, "!If");
        assert_eq!(args[0].as_str(), Some("ReservesConcurrency"));
        assert!(tagged(&args[2]).is_some_and(|(t, v)| t == "!Ref" && v == "AWS::NoValue"));
        args[1].clone()
    };
    assert_eq!(reserved("ReaperFunction").as_i64(), Some(1));
    assert!(is_ref(
        &reserved("EventDispatcherFunction"),
        "DispatcherConcurrency"
    ));
    let table = &resources_of_type(&template, "AWS::DynamoDB::Table")[0].1["Properties"];
    assert_eq!(table["DeletionProtectionEnabled"].as_bool(), Some(true));
    let caps = serde_yaml::to_string(&table["OnDemandThroughput"]).unwrap();
    assert!(
        caps.contains("TableMaxReadRequestUnits") && caps.contains("TableMaxWriteRequestUnits")
    );
}

#[test]
fn an_optional_custom_domain_maps_the_api_and_the_api_url_follows_it() {
    let template = template();
    let resources = &template["Resources"];
    for (name, condition) in [
        ("ApiDomain", "HasDomain"),
        ("ApiDomainMapping", "HasDomain"),
        ("ApiDomainRecord", "HasDomainRecord"),
    ] {
        assert_eq!(
            resources[name]["Condition"].as_str(),
            Some(condition),
            "{name} exists only with a domain"
        );
    }
    let mapping = &resources["ApiDomainMapping"]["Properties"];
    assert!(is_ref(&mapping["ApiId"], "Api"));
    assert!(is_ref(&mapping["DomainName"], "ApiDomain"));
    let off = tagged(&resources["Api"]["Properties"]["DisableExecuteApiEndpoint"]).unwrap();
    assert_eq!(off.0, "!If");
    assert_eq!(off.1[0].as_str(), Some("ExecuteApiOff"));
    let url = tagged(&template["Outputs"]["ApiUrl"]["Value"]).unwrap();
    assert_eq!(
        (url.0.as_str(), url.1[0].as_str()),
        ("!If", Some("HasDomain"))
    );
}

/// The functions whose handlers need the master key ring (`require_signing_keys`), by binary.
fn functions_that_sign() -> BTreeSet<String> {
    let dir = root().join("shared/src/handlers");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .contains("require_signing_keys")
        })
        .map(|path| {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            stem.replace('_', "-")
        })
        .collect()
}

#[test]
fn the_master_key_is_a_secret_that_only_the_functions_that_sign_read() {
    let template = template();
    let resources = &template["Resources"];
    assert!(
        template["Parameters"].get("SigningKey").is_none(),
        "no key as a parameter"
    );
    // The secret the stack creates unless one is named; kept when the stack goes.
    let secret = &resources["SigningKeySecret"];
    assert_eq!(secret["Type"].as_str(), Some("AWS::SecretsManager::Secret"));
    assert_eq!(
        secret["Condition"].as_str(),
        Some("CreatesSigningKeySecret")
    );
    assert_eq!(secret["DeletionPolicy"].as_str(), Some("Retain"));
    assert_eq!(secret["UpdateReplacePolicy"].as_str(), Some("Retain"));
    let generate = &secret["Properties"]["GenerateSecretString"];
    let shape: serde_json::Value =
        serde_json::from_str(generate["SecretStringTemplate"].as_str().unwrap()).unwrap();
    assert_eq!(shape, serde_json::json!({"id": "default"}));
    assert_eq!(generate["GenerateStringKey"].as_str(), Some("key"));
    // Letters and digits only (base64 as they are), at least 32 bytes once decoded.
    assert_eq!(generate["ExcludePunctuation"].as_bool(), Some(true));
    let length = generate["PasswordLength"].as_u64().unwrap();
    assert!(length.is_multiple_of(4) && length / 4 * 3 >= 32, "{length}");

    let is_the_secret = |value: &Value| {
        let Some((tag, args)) = tagged(value) else {
            return false;
        };
        tag == "!If"
            && args[0].as_str() == Some("CreatesSigningKeySecret")
            && is_ref(&args[1], "SigningKeySecret")
            && is_ref(&args[2], "SigningKeySecretArn")
    };
    let mut reading = BTreeSet::new();
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let variables = &function["Properties"]["Environment"]["Variables"];
        assert!(
            variables.get("LABGATE_SIGNING_KEY").is_none(),
            "{name}: never the key itself in the environment"
        );
        let Some(secret) = variables.get("LABGATE_SIGNING_KEY_SECRET") else {
            continue;
        };
        assert!(is_the_secret(secret), "{name}: {secret:?}");
        assert!(
            is_ref(
                &variables["LABGATE_SIGNING_KEY_GENERATION"],
                "SigningKeyGeneration"
            ),
            "{name}: a rotation's deploy replaces its instances"
        );
        let grants: Vec<&Value> = function["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|p| p.get("AWSSecretsManagerGetSecretValuePolicy"))
            .collect();
        assert_eq!(grants.len(), 1, "{name}: may read the secret");
        assert!(is_the_secret(&grants[0]["SecretArn"]), "{name}");
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        reading.insert(binary.to_string());
    }
    assert_eq!(reading, functions_that_sign());
    assert!(is_the_secret(
        &template["Outputs"]["SigningKeySecretArn"]["Value"]
    ));
}
