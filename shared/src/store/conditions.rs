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

/// Whether an item that may carry `expires_at` (a launch: its retention) is still current at
/// `now`: it has none, or it has not passed.
pub fn is_current(item: &attr::Item, now: i64) -> bool {
    attr::opt_n(item, super::keys::EXPIRES_AT)
        .ok()
        .flatten()
        .is_none_or(|at| is_live(at, now))
}

/// Whether an item read from the table is still live at `now` (the read-side twin of `LIVE`).
pub fn is_live(expires_at: i64, now: i64) -> bool {
    expires_at > now
}
