//! The `POST /api/v1/launch` payload: parsed and validated before anything is stored.

use crate::content::parse_content_id;
use crate::http::ApiError;
use serde::Deserialize;
use serde_json::Value;

pub const MAX_BODY_BYTES: usize = crate::http::MAX_JSON_BODY_BYTES;
pub const MAX_CONTEXT_BYTES: usize = 16 * 1024;
pub const MISSING_REQUIRED: &str = "Must provide `user_id` and `content_id` in payload.";
pub const MISSING_RESOURCE_ID: &str = "Must provide `resource_id` in payload.";
/// Teams per launch: each adds one item to the launch transaction (100 items at most).
pub const MAX_TEAMS: usize = 20;
pub const MAX_LIST_ITEMS: usize = 50;
const MAX_ID_CHARS: usize = 255;
/// `user_id` forms DynamoDB keys: sort keys hold at most 1,024 bytes, and a team membership's
/// index key is `TEAM#<team>#<user_id>` (a team name is at most 100 characters, 400 bytes), so
/// a `user_id` is held to 512 bytes besides its 255 characters (docs/data-model.md, "Key sizes").
pub const MAX_USER_ID_BYTES: usize = 512;
const MAX_NAME_CHARS: usize = 150;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_LABEL_CHARS: usize = 100;

#[derive(Deserialize)]
struct Raw {
    user_id: Option<String>,
    content_id: Option<String>,
    resource_id: Option<String>,
    context: Option<Value>,
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    roles: Option<Vec<String>>,
    licenses: Option<Vec<String>>,
    teams: Option<Vec<String>>,
}

/// A valid launch request.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchPayload {
    pub user_id: String,
    /// Normalised to the lowercase hyphenated UUID form.
    pub content_id: String,
    pub resource_id: Option<String>,
    /// Always a JSON object; `{}` when absent.
    pub context: serde_json::Map<String, Value>,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub roles: Option<Vec<String>>,
    pub licenses: Vec<String>,
    pub teams: Vec<String>,
    /// The LMS gradebook's line item the launch's progress goes to as scores: an LTI launch of
    /// a graded link sets it (`grades`); the API's JSON never does.
    pub line_item: Option<crate::grades::LineItem>,
}

/// `context`: a JSON object of at most 16 KiB (absent or null: empty).
fn context(value: Option<Value>) -> Result<serde_json::Map<String, Value>, ApiError> {
    let context = match value {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ApiError::bad_request("`context` must be a JSON object.")),
    };
    if serde_json::to_vec(&context).map_or(0, |v| v.len()) > MAX_CONTEXT_BYTES {
        return Err(ApiError::bad_request("`context` is larger than 16 KiB."));
    }
    Ok(context)
}

/// `email`: loosely an address (something@something, no white space).
fn email(value: Option<String>) -> Result<Option<String>, ApiError> {
    let email = optional("email", value, MAX_EMAIL_CHARS)?;
    if let Some(email) = &email {
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !email.contains(char::is_whitespace)
        });
        if !valid {
            return Err(ApiError::bad_request("`email` is not an email address."));
        }
    }
    Ok(email)
}

impl LaunchPayload {
    // Long: one check per field, in the order the fields are documented.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if body.len() <= MAX_BODY_BYTES && body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "Request body must be a JSON object with `user_id` and `content_id`.",
            ));
        }
        let raw: Raw = crate::http::json_object(body)?;

        let user_id = raw
            .user_id
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let content_id = raw
            .content_id
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if user_id.is_empty() || content_id.is_empty() {
            return Err(ApiError::bad_request(MISSING_REQUIRED));
        }
        text("user_id", &user_id, MAX_ID_CHARS)?;
        if user_id.len() > MAX_USER_ID_BYTES {
            return Err(ApiError::bad_request(format!(
                "`user_id` is longer than {MAX_USER_ID_BYTES} bytes (UTF-8)."
            )));
        }
        let content_id = parse_content_id(&content_id)
            .ok_or_else(|| ApiError::bad_request("`content_id` must be a UUID."))?;

        Ok(LaunchPayload {
            user_id,
            content_id,
            resource_id: optional("resource_id", raw.resource_id, MAX_ID_CHARS)?,
            context: context(raw.context)?,
            email: email(raw.email)?,
            given_name: optional("given_name", raw.given_name, MAX_NAME_CHARS)?,
            family_name: optional("family_name", raw.family_name, MAX_NAME_CHARS)?,
            roles: raw
                .roles
                .map(|r| labels("roles", r, MAX_LIST_ITEMS))
                .transpose()?,
            licenses: labels("licenses", raw.licenses.unwrap_or_default(), MAX_LIST_ITEMS)?,
            teams: labels("teams", raw.teams.unwrap_or_default(), MAX_TEAMS)?,
            line_item: None,
        })
    }
}

/// Free text: bounded, none of the characters `text::is_refused` names (control, bidirectional
/// and invisible characters have no place in a name or an id).
fn text(field: &str, value: &str, max_chars: usize) -> Result<(), ApiError> {
    if value.chars().count() > max_chars {
        return Err(ApiError::bad_request(format!(
            "`{field}` is longer than {max_chars} characters."
        )));
    }
    if crate::text::has_refused(value) {
        return Err(ApiError::bad_request(format!(
            "`{field}` must not contain control, bidirectional or invisible characters."
        )));
    }
    Ok(())
}

/// An optional string: trimmed; empty means not given.
fn optional(
    field: &str,
    value: Option<String>,
    max_chars: usize,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    text(field, &value, max_chars)?;
    Ok(Some(value))
}

/// A list of names (roles, licenses, teams): trimmed, non-empty, bounded, duplicates folded.
fn labels(field: &str, values: Vec<String>, max_items: usize) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(ApiError::bad_request(format!(
                "`{field}` must not contain empty names."
            )));
        }
        text(field, &value, MAX_LABEL_CHARS)?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    if out.len() > max_items {
        return Err(ApiError::bad_request(format!(
            "`{field}` has more than {max_items} entries."
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        LaunchPayload::parse(body.as_bytes())
            .unwrap_err()
            .to_string()
    }

    const ID: &str = "8715dfc6-56ac-4ca2-99cf-17419d36cebb";

    #[test]
    fn the_reference_payload_parses() {
        let body = format!(
            r#"{{"user_id":"LMS-Us3r1D","content_id":"{ID}","resource_id":"abc123",
            "context":{{"course":"Databases 101"}},"email":"john.doe@test.com",
            "given_name":"John","family_name":"Doe","roles":["admin"],
            "licenses":["program-1"],"teams":["Summer 2024 - Class 1"],"unknown":1}}"#
        );
        let p = LaunchPayload::parse(body.as_bytes()).unwrap();
        assert_eq!(p.user_id, "LMS-Us3r1D");
        assert_eq!(p.teams, vec!["Summer 2024 - Class 1"]);
        assert_eq!(p.context["course"], "Databases 101");
    }

    #[test]
    fn missing_or_empty_required_fields_get_the_reference_message() {
        assert_eq!(err(r#"{"user_id":"u"}"#), MISSING_REQUIRED);
        assert_eq!(
            err(&format!(r#"{{"content_id":"{ID}"}}"#)),
            MISSING_REQUIRED
        );
        assert_eq!(
            err(&format!(r#"{{"user_id":"  ","content_id":"{ID}"}}"#)),
            MISSING_REQUIRED
        );
        assert_eq!(
            err(&format!(r#"{{"user_id":null,"content_id":"{ID}"}}"#)),
            MISSING_REQUIRED
        );
    }

    #[test]
    fn problems_are_named() {
        assert!(err("{").starts_with("Request body is not valid JSON"));
        assert_eq!(err("[1]"), "Request body must be a JSON object.");
        assert!(err(r#"{"user_id":5}"#).starts_with("Invalid `user_id`"));
        assert!(err(r#"{"roles":["a",1]}"#).starts_with("Invalid `roles[1]`"));
        assert_eq!(
            err(r#"{"user_id":"u","content_id":"nope"}"#),
            "`content_id` must be a UUID."
        );
        assert_eq!(
            err(&format!(
                r#"{{"user_id":"u","content_id":"{ID}","context":[1]}}"#
            )),
            "`context` must be a JSON object."
        );
        assert_eq!(
            err(&format!(r#"{{"user_id":"a\nb","content_id":"{ID}"}}"#)),
            "`user_id` must not contain control, bidirectional or invisible characters."
        );
    }

    #[test]
    fn size_limits_hold() {
        let big = "x".repeat(MAX_CONTEXT_BYTES);
        let body = format!(r#"{{"user_id":"u","content_id":"{ID}","context":{{"a":"{big}"}}}}"#);
        assert_eq!(err(&body), "`context` is larger than 16 KiB.");
        let body = format!(
            r#"{{"user_id":"u","pad":"{}"}}"#,
            "x".repeat(MAX_BODY_BYTES)
        );
        assert_eq!(err(&body), "Request body is larger than 64 KiB.");
        let teams: Vec<String> = (0..=MAX_TEAMS).map(|i| format!("t{i}")).collect();
        let body = serde_json::json!({"user_id":"u","content_id":ID,"teams":teams}).to_string();
        assert_eq!(err(&body), "`teams` has more than 20 entries.");
    }

    #[test]
    fn duplicate_teams_are_folded() {
        let body = format!(r#"{{"user_id":"u","content_id":"{ID}","teams":["a"," a","b"]}}"#);
        let p = LaunchPayload::parse(body.as_bytes()).unwrap();
        assert_eq!(p.teams, vec!["a", "b"]);
    }
}
