//! Time: epoch seconds for storage and conditions, RFC 3339 for people.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Whole epoch seconds now, rounded down: what conditions compare `expires_at` against.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Epoch milliseconds now: for ordering records made within the same second.
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// An expiry `ttl` seconds from now, rounded up so that a lifetime is never shorter than `ttl`.
pub fn expiry_after(ttl_secs: i64) -> i64 {
    now() + 1 + ttl_secs
}

pub fn rfc3339(epoch_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch_secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}
