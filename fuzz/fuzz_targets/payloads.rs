//! The JSON bodies: the launch payload and the progress report. Any bytes: no panic, and what
//! is accepted keeps the documented limits.
#![no_main]

use labgate::launch::payload::LaunchPayload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = LaunchPayload::parse(data) {
        assert!(!p.user_id.is_empty() && p.user_id.chars().count() <= 255);
        assert!(!labgate::text::has_refused(&p.user_id));
        assert!(uuid_like(&p.content_id));
        assert!(p.teams.len() <= labgate::launch::payload::MAX_TEAMS);
        assert!(serde_json::to_vec(&p.context).unwrap().len() <= 16 * 1024);
    }
    if let Ok((launch_id, report)) = labgate::launch::progress::parse(data) {
        assert!(uuid_like(&launch_id));
        assert!((0.0..=1.0).contains(&report.progress));
        assert!(report.score.is_none_or(|s| s.is_finite() && s >= 0.0));
    }
});

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}
