//! A lab's own events (`POST /workshops/session/{name}/event/`): Educates' `{"event": {"name",
//! "data"}}`, checked and bounded here, and recorded as `session.event` in the outbox, so that it
//! is delivered signed and retried like every lifecycle event, and never lost once answered.

use super::WorkshopSession;
use crate::events::EventType;
use crate::store::{Store, StoreError};
use serde_json::{Value, json};

/// The largest request body an event may have.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;
/// The longest event name.
const MAX_NAME_CHARS: usize = 100;

/// A lab's event, as checked: a name and a JSON object of data.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomEvent {
    pub name: String,
    pub data: Value,
}

impl CustomEvent {
    /// Parses Educates' body. `Err` carries the words of the 400 (Educates' own where it has
    /// them: `No event data provided` for a missing event or a body that is not JSON).
    pub fn parse(body: &[u8]) -> Result<CustomEvent, &'static str> {
        const NO_DATA: &str = "No event data provided";
        let parsed: Value = serde_json::from_slice(body).map_err(|_| NO_DATA)?;
        let event = parsed
            .get("event")
            .and_then(Value::as_object)
            .ok_or(NO_DATA)?;
        let name = event
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| is_valid_name(n))
            .ok_or("Event name must be 1 to 100 printable characters")?;
        let data = match event.get("data") {
            None | Some(Value::Null) => json!({}),
            Some(data @ Value::Object(_)) => data.clone(),
            Some(_) => return Err("Event data must be a JSON object"),
        };
        Ok(CustomEvent {
            name: name.to_string(),
            data,
        })
    }
}

fn is_valid_name(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=MAX_NAME_CHARS).contains(&chars) && !name.chars().any(char::is_control)
}

/// Records the event for delivery (one write: the outbox item is the whole change).
pub async fn record_event(
    store: &Store,
    session: &WorkshopSession,
    event: &CustomEvent,
) -> Result<String, StoreError> {
    let event = session.event(
        EventType::SessionEvent,
        json!({"event": {"name": event.name, "data": event.data}}),
    );
    crate::store::create(store, event.record(), "PutItem session event").await?;
    Ok(event.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn educates_bodies_parse_and_bad_ones_say_why() {
        let ok = CustomEvent::parse(br#"{"event": {"name": "step", "data": {"n": 2}}}"#).unwrap();
        assert_eq!(ok.name, "step");
        assert_eq!(ok.data, json!({"n": 2}));
        let no_data = CustomEvent::parse(br#"{"event": {"name": "done"}}"#).unwrap();
        assert_eq!(no_data.data, json!({}));
        for (body, words) in [
            (&b"not json"[..], "No event data provided"),
            (b"{}", "No event data provided"),
            (br#"{"event": "x"}"#, "No event data provided"),
            (
                br#"{"event": {"data": {}}}"#,
                "Event name must be 1 to 100 printable characters",
            ),
            (
                br#"{"event": {"name": ""}}"#,
                "Event name must be 1 to 100 printable characters",
            ),
            (
                br#"{"event": {"name": "a\nb"}}"#,
                "Event name must be 1 to 100 printable characters",
            ),
            (
                br#"{"event": {"name": "a", "data": [1]}}"#,
                "Event data must be a JSON object",
            ),
        ] {
            assert_eq!(CustomEvent::parse(body), Err(words), "{body:?}");
        }
    }
}
