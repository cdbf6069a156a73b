//! Log set-up for every function, read from Lambda's advanced logging controls: the level from
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO; JSON lines when `AWS_LAMBDA_LOG_FORMAT`
//! is `JSON`. Like `lambda_runtime::tracing::init_default_subscriber`, but without the directive
//! parser and its regex engine (a tenth of every binary): labgate's own code logs at the level
//! asked, every other crate at that level but never more than INFO.
//!
//! Why the cap: at TRACE, `lambda_runtime` logs each raw event (`Authorization` and `Cookie`
//! headers, `token=` query values, OAuth form bodies with passwords and client secrets), and
//! the SDK logs every DynamoDB request and response body. `LogLevel` TRACE in the template is
//! for our code's detail, and no level may write a secret (tests/tests/runtime_logs.rs runs
//! the real binaries at every level).

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The most any crate but ours may log.
const DEPENDENCIES_AT_MOST: LevelFilter = LevelFilter::INFO;

/// labgate's targets at `level`; every other target at `level`, never above INFO.
pub fn filter(level: LevelFilter) -> Targets {
    Targets::new()
        .with_target("labgate", level)
        .with_default(level.min(DEPENDENCIES_AT_MOST))
}

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    if json {
        builder.json().finish().with(filter(level)).init();
    } else {
        builder.finish().with(filter(level)).init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn dependencies_never_log_above_info_at_any_level() {
        for level in [
            LevelFilter::TRACE,
            LevelFilter::DEBUG,
            LevelFilter::INFO,
            LevelFilter::WARN,
            LevelFilter::ERROR,
        ] {
            let f = filter(level);
            for raw in [
                "lambda_runtime::layers::api_response",
                "aws_smithy_runtime::client::orchestrator",
            ] {
                assert!(!f.would_enable(raw, &Level::DEBUG), "{raw} at {level}");
                assert!(!f.would_enable(raw, &Level::TRACE), "{raw} at {level}");
            }
            assert_eq!(
                f.would_enable("labgate::store::tx", &Level::TRACE),
                level >= LevelFilter::TRACE
            );
            assert_eq!(
                f.would_enable("lambda_runtime::layers::trace", &Level::INFO),
                level >= LevelFilter::INFO
            );
        }
    }
}
