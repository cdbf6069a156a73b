//! Per-request latency and round trips, against the floor of bare DynamoDB calls.

use labgate::handlers;
use labgate_tests::*;
use lambda_http::Body;
use serde_json::json;
use std::time::{Duration, Instant};

pub struct Stats {
    pub p50: Duration,
    pub p99: Duration,
}

impl Stats {
    fn of(mut times: Vec<Duration>) -> Stats {
        times.sort();
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        Stats {
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

pub struct Floors {
    pub get: Stats,
    pub query: Stats,
    pub transaction: Stats,
}

pub struct Case {
    pub name: &'static str,
    pub stats: Stats,
    pub round_trips: usize,
    pub transactions: usize,
    pub queries: usize,
    pub unexpected: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A bare strongly consistent `GetItem` and a bare 5-item `TransactWriteItems` (the size of a
/// launch without teams), each timed alone.
pub async fn floors(env: &TestEnv, samples: usize) -> Floors {
    let store = env.store();
    let key = labgate::store::keys::client(&env.client.id);
    // DynamoDB Local is a JVM: warm it up first, or the floor is its cold start.
    for i in 0..2000 {
        let _ = env.launch(&payload(&format!("warm-{}", i % 50))).await;
    }
    let mut get = Vec::new();
    for _ in 0..samples {
        let start = Instant::now();
        store
            .client()
            .get_item()
            .table_name(store.table())
            .set_key(Some(key.item()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        get.push(start.elapsed());
    }
    // A bare query of the size the catalog's is: a tenant's environments (one, here, with no
    // sessions yet) from the index.
    env.environment(4, |_| {}).await;
    let mut query = Vec::new();
    for _ in 0..samples {
        let start = Instant::now();
        let found = labgate::store::query_index(
            store,
            &labgate::store::keys::client_partition(&env.client.id),
            "ENV#",
        )
        .await
        .unwrap();
        query.push(start.elapsed());
        assert!(!found.is_empty());
    }
    let mut transaction = Vec::new();
    for i in 0..samples {
        let items = (0..5)
            .map(|n| {
                let mut item = labgate::store::keys::launch(&format!("floor-{i}-{n}")).item();
                item.insert("payload".into(), labgate::store::attr::s("x".repeat(200)));
                labgate::store::tx::item::put(store.table(), item, None).unwrap()
            })
            .collect();
        let start = Instant::now();
        store
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .unwrap();
        transaction.push(start.elapsed());
    }
    Floors {
        get: Stats::of(get),
        query: Stats::of(query),
        transaction: Stats::of(transaction),
    }
}

/// Times one case: `setup` runs untimed before each sample, `run` is timed.
macro_rules! case {
    ($cases:ident, $env:ident, $samples:expr, $name:expr, |$i:ident| { $($setup:tt)* } => $run:expr) => {{
        let mut times = Vec::with_capacity($samples);
        let (mut round_trips, mut transactions, mut queries, mut unexpected) = (0, 0, 0, 0);
        for $i in 0..$samples {
            $($setup)*
            $env.round_trips.reset();
            let start = Instant::now();
            let res: TestResponse = $run;
            times.push(start.elapsed());
            round_trips = round_trips.max($env.round_trips.count());
            transactions = transactions.max($env.round_trips.transactions());
            queries = queries.max($env.round_trips.queries());
            if res.status.is_server_error() || res.status.is_client_error() {
                unexpected += 1;
            }
        }
        $cases.push(Case { name: $name, stats: Stats::of(times), round_trips, transactions, queries, unexpected });
    }};
}

pub async fn cases(env: &TestEnv, samples: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    let robot = env.robot().await;
    let lab = env
        .environment(samples as i64 * 4 + 10, |e| {
            e.duration_secs = 200;
            e.deadline_secs = 400;
        })
        .await;
    let grading = env.token_with(&[labgate::api_client::Scope::Grading]).await;
    let bearer = robot.access_token.clone();

    case!(cases, env, samples, "launch, first launch of a user", |i| {} => {
        env.launch(&json!({"user_id": format!("first-{i}"), "content_id": CONTENT_ID, "teams": ["Class 1"]})).await
    });
    case!(cases, env, samples, "launch, repeat launch", |_i| {} => {
        env.launch(&json!({"user_id": "repeat", "content_id": CONTENT_ID, "teams": ["Class 1"]})).await
    });
    // The same launch from an LMS over LTI 1.3: the id_token verified (the platform's keys
    // cached after the first), recorded with its nonce.
    let platform = lti_platform::Platform::start().await;
    platform.register(env).await;
    case!(cases, env, samples, "launch, first launch of a user, no teams", |i| {} => {
        env.launch(&json!({"user_id": format!("plain-{i}"), "content_id": CONTENT_ID})).await
    });
    case!(cases, env, samples, "LTI launch, first launch of a user", |i| {
        let login = lti_platform::sign_in(env).await;
        let claims = lti_platform::launch_claims(&login.nonce, &format!("lti-{i}"), CONTENT_ID);
        let form = [("id_token", lti_platform::sign("p1", "platform-1", &claims)), ("state", login.state.clone())];
    } => lti_platform::post_launch(env, &form, Some(&login.cookie), true).await);
    case!(cases, env, samples, "LTI login initiation", |_i| {} => {
        lti_platform::login_get(env, &lti_platform::login_params()).await
    });
    // A workshop link from the LMS: a new learner's session, with the nonce in its transaction.
    let workshop = env.environment(samples as i64 + 10, |_| {}).await;
    case!(cases, env, samples, "LTI launch of a workshop, new learner", |i| {
        let login = lti_platform::sign_in(env).await;
        let mut claims = lti_platform::launch_claims(&login.nonce, &format!("ws-{i}"), CONTENT_ID);
        claims[labgate::lti::claims::CUSTOM] = json!({"environment": workshop});
        let form = [("id_token", lti_platform::sign("p1", "platform-1", &claims)), ("state", login.state.clone())];
    } => lti_platform::post_launch(env, &form, Some(&login.cookie), true).await);
    // A progress report on a graded launch, posted by the event dispatcher to the platform's
    // line item (a warm instance: its token kept after the first).
    let graded_user = "graded-lti";
    {
        let login = lti_platform::sign_in(env).await;
        let mut claims = lti_platform::launch_claims(&login.nonce, graded_user, CONTENT_ID);
        claims[labgate::lti::claims::AGS_ENDPOINT] = json!({
            "scope": [labgate::lti::claims::AGS_SCOPE_SCORE],
            "lineitem": platform.lineitem(1),
        });
        let form = [
            ("id_token", lti_platform::sign("p1", "platform-1", &claims)),
            ("state", login.state.clone()),
        ];
        lti_platform::post_launch(env, &form, Some(&login.cookie), true).await;
    }
    let user = labgate::lti::launch::user_id(lti_platform::ISSUER, graded_user);
    let graded_launch = labgate::launch::list_for_user(env.store(), &env.client.id, &user)
        .await
        .unwrap()
        .pop()
        .expect("the graded launch")
        .id;
    let dispatcher = env.deliverer();
    case!(cases, env, samples, "a score to the LMS gradebook (event dispatcher)", |i| {
        let req = request("POST", API_HOST, "/api/v1/progress")
            .header("authorization", format!("Token {grading}"))
            .body(Body::Text(json!({"launch_id": graded_launch, "progress": (i as f64 + 1.0) / (samples as f64 + 1.0)}).to_string()))
            .unwrap();
        labgate::handlers::progress::handle(&env.state, req).await.unwrap();
        let event = labgate::events::list_for_user(env.store(), &env.client.id, &user)
            .await
            .unwrap()
            .into_iter()
            .rfind(|e| e.event_type == "launch.progress")
            .unwrap();
    } => {
        let sent = dispatcher.deliver(env.store(), &event).await.unwrap();
        let delivered = sent.iter().any(|d| d.target == "grade" && d.status == "delivered");
        TestResponse {
            status: if delivered { lambda_http::http::StatusCode::OK } else { lambda_http::http::StatusCode::BAD_GATEWAY },
            headers: Default::default(),
            body: String::new(),
        }
    });
    case!(cases, env, samples, "launch redemption", |i| {
        let url = env.launch(&payload(&format!("redeem-{i}"))).await.json()["url"].as_str().unwrap().to_string();
    } => env.follow(&url, None).await);
    let cookie = env.login(&payload("whoami")).await;
    case!(cases, env, samples, "who is logged in (GET /api/v1/session)", |_i| {} => env.whoami(&cookie).await);
    let launch_id = env
        .launch(&payload("graded"))
        .await
        .header("labgate-launch-id")
        .unwrap()
        .to_string();
    case!(cases, env, samples, "progress report", |_i| {} => {
        let req = request("POST", API_HOST, "/api/v1/progress")
            .header("authorization", format!("Token {grading}"))
            .body(Body::Text(json!({"launch_id": launch_id, "progress": 0.5}).to_string()))
            .unwrap();
        TestResponse::from(labgate::handlers::progress::handle(&env.state, req).await.unwrap())
    });
    case!(cases, env, samples, "OAuth token (password grant)", |_i| {} => {
        env.call_token(form(&[("grant_type", "password"), ("username", &robot.username), ("password", &robot.password),
            ("client_id", &robot.client_id), ("client_secret", &robot.client_secret)]), None).await
    });
    case!(cases, env, samples, "catalog", |_i| {} => {
        env.portal(handlers::workshop_catalog::handle, "GET", "/workshops/catalog/environments/", &bearer).await
    });
    case!(cases, env, samples, "session request, new user", |i| {} => {
        env.request_session(&bearer, &lab, &query(&[("user", &format!("new-{i}"))])).await
    });
    case!(cases, env, samples, "session request, returning user", |_i| {} => {
        env.request_session(&bearer, &lab, &query(&[("user", "new-0")])).await
    });
    case!(cases, env, samples, "activation", |i| {
        let url = env.request_session(&bearer, &lab, &query(&[("user", &format!("act-{i}"))])).await.json()["url"]
            .as_str().unwrap().to_string();
    } => env.activate(&url, None).await);
    case!(cases, env, samples, "schedule", |_i| {} => {
        env.portal(handlers::session_schedule::handle, "GET", &format!("/workshops/session/{lab}-s001/schedule/"), &bearer).await
    });
    // The activation case left sessions s<samples+1>.. running: extend, then end each.
    case!(cases, env, samples, "extend", |i| {
        let name = format!("{lab}-s{:03}", samples + 1 + i);
    } => env.portal(handlers::session_extend::handle, "GET", &format!("/workshops/session/{name}/extend/"), &bearer).await);
    case!(cases, env, samples, "terminate", |i| {
        let name = format!("{lab}-s{:03}", samples + 1 + i);
    } => env.portal(handlers::session_terminate::handle, "GET", &format!("/workshops/session/{name}/terminate/"), &bearer).await);
    cases
}

pub fn print(floors: &Floors, cases: &[Case]) {
    println!("## Latency and round trips (handlers in-process, DynamoDB Local)\n");
    println!(
        "Floor: bare GetItem p50 {:.2} ms, p99 {:.2} ms; bare Query (a tenant's environments) p50 {:.2} ms, p99 {:.2} ms; bare 5-item TransactWriteItems p50 {:.2} ms, p99 {:.2} ms.\n",
        ms(floors.get.p50),
        ms(floors.get.p99),
        ms(floors.query.p50),
        ms(floors.query.p99),
        ms(floors.transaction.p50),
        ms(floors.transaction.p99)
    );
    println!(
        "| case | round trips (query, tx) | p50 ms | p99 ms | floor p50 ms | p50 / floor | 4xx/5xx |"
    );
    println!("|---|---|---|---|---|---|---|");
    for c in cases {
        let reads = c.round_trips - c.transactions - c.queries;
        let floor = floors.get.p50 * reads as u32
            + floors.query.p50 * c.queries as u32
            + floors.transaction.p50 * c.transactions as u32;
        println!(
            "| {} | {} ({}, {}) | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            c.name,
            c.round_trips,
            c.queries,
            c.transactions,
            ms(c.stats.p50),
            ms(c.stats.p99),
            ms(floor),
            c.stats.p50.as_secs_f64() / floor.as_secs_f64().max(1e-9),
            c.unexpected
        );
    }
    println!();
}
