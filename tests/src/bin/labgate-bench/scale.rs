//! Cost at size (`--scale`): what the reaper does with a backlog of overdue sessions.

use labgate::workshop::reaper;
use labgate_tests::*;
use std::time::Instant;

/// Seeds `count` overdue sessions, then runs the reaper as its schedule would (a batch of
/// `reaper::BATCH` within `reaper::BUDGET` per run) until none is left; prints the rate.
pub async fn reaper_backlog(count: usize) {
    println!("## The reaper with a backlog\n");
    let env = TestEnv::new().await;
    let lab = env.environment(10, |_| {}).await;
    let now = labgate::clock::now();
    let seeding = Instant::now();
    for first in (0..count).step_by(1000) {
        let n = 1000.min(count - first);
        seed_overdue(env.store(), (&env.client.id, &lab), (first, n), now - 30).await;
    }
    println!(
        "{count} overdue sessions seeded in {:.1} s (BatchWriteItem, not timed below).\n",
        seeding.elapsed().as_secs_f64()
    );
    println!("| run | found | ended | skipped | wall time | DynamoDB calls |");
    println!("|---|---|---|---|---|---|");
    let start = Instant::now();
    let mut total = 0;
    for run in 1.. {
        env.round_trips.reset();
        let began = Instant::now();
        let report = reaper::reap_within(env.store(), now, reaper::BATCH, reaper::BUDGET)
            .await
            .expect("a reaper run");
        println!(
            "| {run} | {} | {} | {} | {:.1} s | {} |",
            report.found,
            report.ended,
            report.skipped,
            began.elapsed().as_secs_f64(),
            env.round_trips.count()
        );
        total += report.ended;
        if report.found == 0 || run >= 10 {
            break;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "\n{total} of {count} ended in {wall:.1} s: {:.0} sessions a minute.\n",
        total as f64 / wall * 60.0
    );
}
