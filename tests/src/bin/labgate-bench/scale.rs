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

/// A percentile of sorted samples (milliseconds).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Calls, items read and latency of `samples` runs of `call`, as a table row.
struct Cost {
    calls: f64,
    items: f64,
    p50: f64,
    p99: f64,
}

async fn measure<F, Fut>(env: &TestEnv, samples: usize, mut call: F) -> Cost
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (mut calls, mut items, mut times) = (0, 0, Vec::with_capacity(samples));
    for i in 0..samples {
        env.round_trips.reset();
        let began = Instant::now();
        call(i).await;
        times.push(began.elapsed().as_secs_f64() * 1000.0);
        calls += env.round_trips.count();
        items += env.round_trips.items();
    }
    times.sort_by(f64::total_cmp);
    Cost {
        calls: calls as f64 / samples as f64,
        items: items as f64 / samples as f64,
        p50: percentile(&times, 50.0),
        p99: percentile(&times, 99.0),
    }
}

fn row(what: &str, size: &str, cost: &Cost) {
    println!(
        "| {what} | {size} | {:.1} | {:.1} | {:.1} | {:.1} |",
        cost.calls, cost.items, cost.p50, cost.p99
    );
}

/// Costs collected one sample at a time.
#[derive(Default)]
struct Samples {
    calls: usize,
    items: usize,
    times: Vec<f64>,
}

impl Samples {
    /// One sample: what `env` counted since its reset, and the time it took.
    fn add(&mut self, env: &TestEnv, took: f64) {
        self.calls += env.round_trips.count();
        self.items += env.round_trips.items();
        self.times.push(took);
    }

    fn cost(mut self) -> Cost {
        let n = self.times.len().max(1) as f64;
        self.times.sort_by(f64::total_cmp);
        Cost {
            calls: self.calls as f64 / n,
            items: self.items as f64 / n,
            p50: percentile(&self.times, 50.0),
            p99: percentile(&self.times, 99.0),
        }
    }
}

/// Runs `call` with the counters reset: its output and its time in milliseconds.
async fn timed<T>(env: &TestEnv, call: impl std::future::Future<Output = T>) -> (T, f64) {
    env.round_trips.reset();
    let began = Instant::now();
    let out = call.await;
    (out, began.elapsed().as_secs_f64() * 1000.0)
}

/// Holds the first `count` slots of `lab` for an hour, as running sessions would (written
/// straight to the table).
async fn fill(env: &TestEnv, lab: &str, count: i64) {
    env.hold_slots(lab, 0..count).await;
    // And their count, as the session counter would have kept it.
    labgate::workshop::counts::set(env.store(), (lab, &env.client.id), count)
        .await
        .unwrap();
}

/// What a new user's session request, its activation and the environment's status cost at
/// capacities 10 to 10,000 (half full), and the catalog at 1 to 500 environments.
pub async fn request_costs(samples: usize) {
    println!("## Cost at size ({samples} samples per row, in-process)\n");
    println!("| request | size | DynamoDB calls | items read | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for capacity in [10, 100, 1_000, 10_000] {
        let env = TestEnv::new().await;
        let robot = env.robot().await;
        let lab = env.environment(capacity, |_| {}).await;
        fill(&env, &lab, capacity / 2).await;
        let size = format!("capacity {capacity}, half full");
        // Each sample: a new user's request, its activation, then its end (not timed), so that
        // the environment stays half full.
        let (mut request, mut activation) = (Samples::default(), Samples::default());
        for i in 0..samples {
            let user = format!("new-{i}");
            let (res, took) = timed(
                &env,
                env.request_session(&robot.access_token, &lab, &query(&[("user", &user)])),
            )
            .await;
            assert_eq!(res.status, 200, "{}", res.body);
            request.add(&env, took);
            let granted = res.json();
            let (res, took) =
                timed(&env, env.activate(granted["url"].as_str().unwrap(), None)).await;
            assert_eq!(res.status, 302, "{}", res.body);
            activation.add(&env, took);
            let name = granted["name"].as_str().unwrap();
            env.portal(
                labgate::handlers::session_terminate::handle,
                "GET",
                &format!("/workshops/session/{name}/terminate/"),
                &robot.access_token,
            )
            .await;
        }
        row("new user's session request", &size, &request.cost());
        row("activation", &size, &activation.cost());
        let status = measure(&env, samples, |_| {
            let (env, robot, lab) = (&env, &robot, &lab);
            async move {
                let path = format!("/workshops/environment/{lab}/status/");
                let res = env
                    .portal(
                        labgate::handlers::environment_status::handle,
                        "GET",
                        &path,
                        &robot.access_token,
                    )
                    .await;
                assert_eq!(res.status, 200);
            }
        })
        .await;
        row("environment status", &size, &status);
        env.delete_table().await;
    }
    for environments in [1, 50, 500] {
        let env = TestEnv::new().await;
        let robot = env.robot().await;
        for _ in 0..environments {
            let lab = env.environment(4, |_| {}).await;
            fill(&env, &lab, 2).await;
        }
        let catalog = measure(&env, samples, |_| {
            let (env, robot) = (&env, &robot);
            async move {
                let res = env
                    .portal(
                        labgate::handlers::workshop_catalog::handle,
                        "GET",
                        "/workshops/catalog/environments/",
                        &robot.access_token,
                    )
                    .await;
                assert_eq!(res.status, 200);
            }
        })
        .await;
        let per = Cost {
            items: catalog.items / environments as f64,
            ..catalog
        };
        row(
            "catalog (items per environment shown)",
            &format!("{environments} environments of 4, 2 held"),
            &per,
        );
        env.delete_table().await;
    }
    println!();
}

/// `users` distinct users request sessions from an environment of capacity `capacity`, from
/// `clients` concurrent clients.
pub async fn burst(capacity: i64, users: usize, clients: usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    println!("## Burst: {users} users, capacity {capacity}, {clients} clients at once\n");
    let env = Arc::new(TestEnv::new().await);
    let robot = Arc::new(env.robot().await);
    let lab = Arc::new(env.environment(capacity, |_| {}).await);
    let next = Arc::new(AtomicUsize::new(0));
    let (granted, refused, errors) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let listed_before = env.tenant_partition().await;
    env.round_trips.reset();
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (env, robot, lab, next) = (env.clone(), robot.clone(), lab.clone(), next.clone());
            let (granted, refused, errors) = (granted.clone(), refused.clone(), errors.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= users {
                        return;
                    }
                    let user = format!("learner-{i}");
                    // An activation deadline longer than the burst: every session stays live.
                    let ask = query(&[("user", &user), ("timeout", "3600")]);
                    let res = env.request_session(&robot.access_token, &lab, &ask).await;
                    match res.status.as_u16() {
                        200 => granted.fetch_add(1, Ordering::SeqCst),
                        503 if res.body.contains("No session available") => {
                            refused.fetch_add(1, Ordering::SeqCst)
                        }
                        status => {
                            eprintln!("burst: {status} {}", res.body);
                            errors.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let wall = start.elapsed().as_secs_f64();
    let calls = env.round_trips.count();
    let granted = granted.load(Ordering::SeqCst);
    // What the table holds: the sessions allocated, each in its own slot.
    let now = labgate::clock::now();
    let sessions = labgate::workshop::session::list(env.store(), &env.client.id, Some(&lab))
        .await
        .unwrap();
    let live: Vec<_> = sessions.iter().filter(|s| s.is_live(now)).collect();
    let slots: std::collections::BTreeSet<i64> = live.iter().map(|s| s.slot).collect();
    println!(
        "| granted | refused | 5xx or other | DynamoDB calls per grant | sessions allocated | distinct slots | over capacity | wall time |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {granted} | {} | {} | {:.2} | {} | {} | {} | {wall:.1} s |\n",
        refused.load(Ordering::SeqCst),
        errors.load(Ordering::SeqCst),
        calls as f64 / granted.max(1) as f64,
        live.len(),
        slots.len(),
        live.len().saturating_sub(capacity as usize),
    );
    // The session counter's part of the rush: every allocation counted, in how many calls.
    let batch = labgate_tests::streams::poll(env.store(), &mut Default::default())
        .await
        .unwrap();
    env.round_trips.reset();
    let began = Instant::now();
    let mut report = labgate::workshop::counts::Report::default();
    // As Lambda hands it over: batches of 100 (the template's BatchSize).
    for records in batch.records.chunks(100) {
        let mut part = aws_lambda_events::event::dynamodb::Event::default();
        part.records = records.to_vec();
        let done = labgate::workshop::counts::count(env.store(), &part)
            .await
            .unwrap();
        report.counted += done.counted;
    }
    let took = began.elapsed().as_secs_f64();
    let view = labgate::workshop::environment::load(env.store(), &lab)
        .await
        .unwrap()
        .unwrap();
    println!("| session counter: events counted | DynamoDB calls | time | count after |");
    println!("|---|---|---|---|");
    println!(
        "| {} | {} | {took:.1} s | {} (live sessions: {}) |\n",
        report.counted,
        env.round_trips.count(),
        view.counted,
        live.len()
    );
    // What the rush wrote into partitions of the whole tenant: its `gsi1` partition (every
    // attribute projected: any change of a listed item is a write there), and the keys-only
    // listings, each entry written once (keys never change while a session is live).
    let listed_after = env.tenant_partition().await;
    let changed: Vec<_> = listed_after
        .iter()
        .filter(|(key, item)| listed_before.get(*key) != Some(*item))
        .map(|(key, _)| key.1.as_str())
        .collect();
    let (store, tenant) = (env.store(), &env.client.id);
    let live_key = labgate::store::keys::live_sessions(tenant);
    let users_key = labgate::store::keys::user_listing(tenant);
    let live_listed = labgate::store::listed_items(store, "gsi3", &live_key, "")
        .await
        .unwrap()
        .len();
    let users_listed = labgate::store::listed_items(store, "gsi2", &users_key, "")
        .await
        .unwrap()
        .len();
    println!("| tenant-wide partition | entries written by the rush | per granted session |");
    println!("|---|---|---|");
    println!(
        "| `gsi1 CLIENT#<cid>` (projects all) | {} changed of {} ({}) | {:.3} |",
        changed.len(),
        listed_after.len(),
        if changed.is_empty() {
            "none".to_string()
        } else {
            changed.join(", ")
        },
        changed.len() as f64 / granted.max(1) as f64
    );
    println!(
        "| `gsi3 LIVE#<cid>` (keys only) | {live_listed} | {:.3} |",
        live_listed as f64 / granted.max(1) as f64
    );
    println!(
        "| `gsi2 USERS#<cid>` (keys only) | {users_listed} | {:.3} |\n",
        users_listed as f64 / granted.max(1) as f64
    );
    env.delete_table().await;
}
