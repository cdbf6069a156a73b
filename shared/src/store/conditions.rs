//! Condition expressions, written once. Expirable items are live only while `expires_at > :now`:
//! DynamoDB TTL deletes late and DynamoDB Local never does, so every read and write checks.

use super::attr;
use aws_sdk_dynamodb::types::AttributeValue;

/// The item exists.
pub const EXISTS: &str = "attribute_exists(pk)";

/// The item does not exist yet.
pub const ABSENT: &str = "attribute_not_exists(pk)";

/// The item exists and has not expired; pair with `now_value()` bound to `:now`.
pub const LIVE: &str = "attribute_exists(pk) AND expires_at > :now";

pub const NOW: &str = ":now";

pub fn now_value(now: i64) -> AttributeValue {
    attr::n(now)
}

/// Whether an item read from the table is still live at `now` (the read-side twin of `LIVE`).
pub fn is_live(expires_at: i64, now: i64) -> bool {
    expires_at > now
}
