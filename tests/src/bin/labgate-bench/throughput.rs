//! Throughput under concurrency: launches, then redemptions (each link tried twice), then
//! session requests against a small capacity, with integrity checks on the outcome.

use labgate::handlers;
use labgate::workshop::environment;
use labgate_tests::*;
use lambda_http::http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Default)]
struct Counts {
    ok: AtomicUsize,
    refused: AtomicUsize,
    errors: AtomicUsize,
}

fn line(name: &str, counts: &Counts, elapsed: Duration, round_trips: usize, integrity: &str) {
    let ok = counts.ok.load(Ordering::SeqCst);
    let refused = counts.refused.load(Ordering::SeqCst);
    println!(
        "| {name} | {ok} | {:.0} | {refused} | {} | {:.1} | {integrity} |",
        ok as f64 / elapsed.as_secs_f64(),
        counts.errors.load(Ordering::SeqCst),
        round_trips as f64 / (ok + refused).max(1) as f64,
    );
}

pub async fn run(concurrency: usize, seconds: u64) {
    println!("## Throughput ({concurrency} concurrent clients, {seconds} s each, in-process)\n");
    println!(
        "| run | succeeded | per second | refused as designed | errors | DynamoDB calls per request | integrity |"
    );
    println!("|---|---|---|---|---|---|---|");
    let env = Arc::new(TestEnv::new().await);
    let span = Duration::from_secs(seconds);

    // Launches: every one must succeed; the links feed the redemption run.
    let counts = Arc::new(Counts::default());
    let links = Arc::new(Mutex::new(Vec::new()));
    env.round_trips.reset();
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let (env, counts, links) = (env.clone(), counts.clone(), links.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while start.elapsed() < span {
                    let res = env.launch(&payload(&format!("t{t}-{n}"))).await;
                    n += 1;
                    if res.status == StatusCode::OK {
                        counts.ok.fetch_add(1, Ordering::SeqCst);
                        links
                            .lock()
                            .await
                            .push(res.json()["url"].as_str().unwrap().to_string());
                    } else {
                        counts.errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    futures::future::join_all(tasks).await;
    line(
        "launch",
        &counts,
        start.elapsed(),
        env.round_trips.count(),
        "-",
    );

    // Redemptions: each link is followed twice at once; exactly one may win.
    let links = Arc::new(Mutex::new(std::mem::take(&mut *links.lock().await)));
    let counts = Arc::new(Counts::default());
    let (lost, doubled) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    env.round_trips.reset();
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (env, counts, links) = (env.clone(), counts.clone(), links.clone());
            let (lost, doubled) = (lost.clone(), doubled.clone());
            tokio::spawn(async move {
                while start.elapsed() < span {
                    let Some(url) = links.lock().await.pop() else {
                        break;
                    };
                    let (a, b) = tokio::join!(env.follow(&url, None), env.follow(&url, None));
                    let won = [&a, &b]
                        .iter()
                        .filter(|r| r.status == StatusCode::FOUND)
                        .count();
                    let failed = [&a, &b]
                        .iter()
                        .filter(|r| r.status.is_server_error())
                        .count();
                    counts.ok.fetch_add(won, Ordering::SeqCst);
                    counts.refused.fetch_add(2 - won - failed, Ordering::SeqCst);
                    counts.errors.fetch_add(failed, Ordering::SeqCst);
                    match won {
                        0 => lost.fetch_add(1, Ordering::SeqCst),
                        2 => doubled.fetch_add(1, Ordering::SeqCst),
                        _ => 0,
                    };
                }
            })
        })
        .collect();
    futures::future::join_all(tasks).await;
    line(
        "redemption (each link twice at once)",
        &counts,
        start.elapsed(),
        env.round_trips.count(),
        &format!(
            "{} lost, {} doubled",
            lost.load(Ordering::SeqCst),
            doubled.load(Ordering::SeqCst)
        ),
    );

    // Session requests against capacity 16, each granted session ended again at once; a
    // monitor reads the environment all along and keeps the most it ever saw allocated.
    let robot = env.robot().await;
    let capacity = 16;
    let lab = env.environment(capacity, |_| {}).await;
    let counts = Arc::new(Counts::default());
    let most = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (env, lab, most, done) = (env.clone(), lab.clone(), most.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let view = environment::load(env.store(), &lab).await.unwrap().unwrap();
                most.fetch_max(view.held(labgate::clock::now()), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    env.round_trips.reset();
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let (env, counts, lab, token) = (
                env.clone(),
                counts.clone(),
                lab.clone(),
                robot.access_token.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while start.elapsed() < span {
                    let res = env
                        .request_session(&token, &lab, &query(&[("user", &format!("t{t}-{n}"))]))
                        .await;
                    n += 1;
                    match res.status {
                        StatusCode::OK => {
                            counts.ok.fetch_add(1, Ordering::SeqCst);
                            let name = res.json()["name"].as_str().unwrap().to_string();
                            env.portal(
                                handlers::session_terminate::handle,
                                "GET",
                                &format!("/workshops/session/{name}/terminate/"),
                                &token,
                            )
                            .await;
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            counts.refused.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {
                            counts.errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    futures::future::join_all(tasks).await;
    let elapsed = start.elapsed();
    done.store(true, Ordering::SeqCst);
    monitor.await.unwrap();
    line(
        &format!("session request + terminate, capacity {capacity}"),
        &counts,
        elapsed,
        env.round_trips.count(),
        &format!(
            "most allocated seen: {} of {capacity}",
            most.load(Ordering::SeqCst)
        ),
    );
    println!();
}
