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
            if method.as_str() != Some("head") {
                for status in ["500", "503"] {
                    assert!(
                        !op["responses"][status].is_null(),
                        "{at} documents {status}"
                    );
                }
            }
        }
    }
}
