//! Small typed helpers between Rust values and DynamoDB attribute values.

use super::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A list of strings (kept in order; may be empty, unlike a string set).
pub fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().cloned().map(AttributeValue::S).collect())
}

/// A string set; callers must not pass an empty slice (DynamoDB refuses empty sets).
pub fn set(values: &[String]) -> AttributeValue {
    AttributeValue::Ss(values.to_vec())
}

pub fn map(values: &std::collections::BTreeMap<String, String>) -> AttributeValue {
    AttributeValue::M(values.iter().map(|(k, v)| (k.clone(), s(v))).collect())
}

pub fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    opt_s(item, name)?.ok_or_else(|| StoreError::Malformed(format!("missing string {name}")))
}

pub fn opt_s(item: &Item, name: &str) -> Result<Option<String>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
        Some(_) => Err(StoreError::Malformed(format!("{name} is not a string"))),
    }
}

pub fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    opt_n(item, name)?.ok_or_else(|| StoreError::Malformed(format!("missing number {name}")))
}

pub fn opt_n(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Malformed(format!("{name} is not an integer"))),
        Some(_) => Err(StoreError::Malformed(format!("{name} is not a number"))),
    }
}

/// Strings from a list or a string set; absent means empty.
pub fn strings(item: &Item, name: &str) -> Result<Vec<String>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
        Some(AttributeValue::Ss(v)) => {
            let mut v = v.clone();
            v.sort();
            Ok(v)
        }
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| match v {
                AttributeValue::S(s) => Ok(s.clone()),
                _ => Err(StoreError::Malformed(format!("{name} holds a non-string"))),
            })
            .collect(),
        Some(_) => Err(StoreError::Malformed(format!("{name} is not a list"))),
    }
}

pub fn string_map(
    item: &Item,
    name: &str,
) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(Default::default()),
        Some(AttributeValue::M(m)) => m
            .iter()
            .map(|(k, v)| match v {
                AttributeValue::S(s) => Ok((k.clone(), s.clone())),
                _ => Err(StoreError::Malformed(format!("{name}.{k} is not a string"))),
            })
            .collect(),
        Some(_) => Err(StoreError::Malformed(format!("{name} is not a map"))),
    }
}
