//! Business metrics in CloudWatch Embedded Metric Format (EMF): each is one JSON line on stdout,
//! which Lambda hands to CloudWatch Logs with the function's other output, and which CloudWatch
//! turns into a point of metric `<name>` in namespace `labgate` (no dimensions: the dashboard
//! and any alarm read the service-wide sum). Nothing is called on the request path: no
//! DynamoDB, no CloudWatch API, no network; a line written is all it costs.
//!
//! Lambda leaves a line that is already JSON as it is under the JSON log format, and EMF lines
//! are read from any log event (AWS: "Using the embedded metric format with Lambda").

use serde_json::json;

/// The namespace of every labgate metric.
pub const NAMESPACE: &str = "labgate";

/// What labgate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A launch recorded (`POST /api/v1/launch`, not a replay).
    LaunchesCreated,
    /// A one-time link used: a launch link traded for a session, a workshop session activated.
    LinksRedeemed,
    /// A link refused: unknown, used, expired or malformed (the "no longer valid" pages).
    InvalidLinks,
    /// A workshop session allocated (a new one; not a returning user's, not a replay).
    SessionsAllocated,
    /// A session request refused because every slot was held (503 "No session available").
    CapacityRefusals,
    /// A webhook or analytics delivery that failed for good (a dead letter).
    DeliveriesFailed,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::LaunchesCreated,
        Metric::LinksRedeemed,
        Metric::InvalidLinks,
        Metric::SessionsAllocated,
        Metric::CapacityRefusals,
        Metric::DeliveriesFailed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::LaunchesCreated => "LaunchesCreated",
            Metric::LinksRedeemed => "LinksRedeemed",
            Metric::InvalidLinks => "InvalidLinks",
            Metric::SessionsAllocated => "SessionsAllocated",
            Metric::CapacityRefusals => "CapacityRefusals",
            Metric::DeliveriesFailed => "DeliveriesFailed",
        }
    }
}

/// The EMF line for `count` of `metric` at `timestamp_ms` (milliseconds since the epoch).
pub fn line(metric: Metric, count: u64, timestamp_ms: i64) -> String {
    let name = metric.name();
    let mut document = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
    });
    document[name] = json!(count);
    document.to_string()
}

/// Counts `count` of `metric` (nothing for 0): one line on stdout, written whole.
pub fn count(metric: Metric, count: u64) {
    if count == 0 {
        return;
    }
    // `println!` writes the whole line under stdout's lock, so it never interleaves with a log
    // line (and the test harness captures it, as it does a test's own output).
    println!("{}", line(metric, count, crate::clock::now_millis()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_an_emf_document_naming_its_one_metric() {
        for metric in Metric::ALL {
            let doc: serde_json::Value =
                serde_json::from_str(&line(metric, 3, 1_700_000_000_123)).unwrap();
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123_i64);
            assert_eq!(directive["Namespace"], "labgate");
            assert_eq!(directive["Dimensions"], json!([[]]));
            assert_eq!(directive["Metrics"][0]["Name"], metric.name());
            assert_eq!(directive["Metrics"][0]["Unit"], "Count");
            assert_eq!(doc[metric.name()], 3, "the value, under the metric's name");
            assert_eq!(
                doc.as_object().unwrap().len(),
                2,
                "nothing else: no identifiers"
            );
        }
    }
}
