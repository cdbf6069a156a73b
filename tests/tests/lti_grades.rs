//! Grades through LTI Assignment and Grade Services: a launch of a graded link, progress reports
//! on it, and the scores the test platform (`labgate_tests::lti_platform`) receives from the
//! event dispatcher: the token by a signed client assertion, the media type, the fields, the
//! order, retries, dead letters and re-sends.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use labgate::api_client::Scope;
use labgate::events::delivery::{self, DELIVERED, Deliverer, FAILED, GRADE, SUPERSEDED};
use labgate::lti::claims::*;
use labgate_tests::lti_platform::*;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

const SUB: &str = "user-1234";

/// The AGS claim of a graded link on the platform's line item `n`.
fn graded(platform: &Platform, n: u32) -> Value {
    json!({
        "scope": [
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
            "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
            AGS_SCOPE_SCORE,
        ],
        "lineitems": format!("{}/lineitems?type_id=3", platform.base_url),
        "lineitem": platform.lineitem(n),
    })
}

/// Launches `sub` with the AGS claim `ags` (none: not graded); the launch's id.
async fn launch(env: &TestEnv, sub: &str, ags: Option<Value>) -> String {
    let login = sign_in(env).await;
    let mut claims = launch_claims(&login.nonce, sub, CONTENT_ID);
    if let Some(ags) = ags {
        claims[AGS_ENDPOINT] = ags;
    }
    let form = [
        ("id_token", sign("p1", "platform-1", &claims)),
        ("state", login.state.clone()),
    ];
    let res = post_launch(env, &form, Some(&login.cookie), true).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let user = labgate::lti::launch::user_id(ISSUER, sub);
    let events = labgate::events::list_for_user(env.store(), &env.client.id, &user)
        .await
        .unwrap();
    let created = events
        .iter()
        .rev()
        .find(|e| e.event_type == "launch.created")
        .expect("launch.created");
    let body: Value = serde_json::from_str(&created.body).unwrap();
    body["data"]["launch_id"].as_str().unwrap().to_string()
}

async fn report(env: &TestEnv, token: &str, body: Value) -> TestResponse {
    let req = request("POST", API_HOST, "/api/v1/progress")
        .header("authorization", format!("Token {token}"))
        .body(Body::Text(body.to_string()))
        .unwrap();
    invoke(labgate::handlers::progress::handle, &env.state, req).await
}

/// The event dispatcher's work, in one warm instance (`dispatcher`), on what the stream holds
/// now; its deliveries to gradebooks.
async fn dispatch_grades(env: &TestEnv, dispatcher: &Deliverer) -> Vec<delivery::Delivery> {
    let batch = env.stream_batch().await;
    let deliveries = env.dispatch_with(dispatcher, &batch).await.unwrap();
    deliveries
        .into_iter()
        .filter(|d| d.target == GRADE)
        .collect()
}

/// A graded launch of `SUB` on line item 7: the env, the platform, the launch's id, a grading
/// token, and the dispatcher of one warm instance.
async fn graded_launch() -> (TestEnv, Platform, String, String, Deliverer) {
    let (env, platform) = tool_env().await;
    let launch_id = launch(&env, SUB, Some(graded(&platform, 7))).await;
    let grading = env.token_with(&[Scope::Grading]).await;
    let dispatcher = env.deliverer();
    (env, platform, launch_id, grading, dispatcher)
}

async fn dead_letters(env: &TestEnv) -> Vec<delivery::Delivery> {
    delivery::list(env.store(), &env.client.id).await.unwrap()
}

fn timestamp(score: &ReceivedScore) -> time::OffsetDateTime {
    let stamp = score.body["timestamp"].as_str().unwrap();
    time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test]
async fn a_graded_launchs_progress_reaches_the_gradebook_as_scores_with_one_token() {
    let (env, platform, launch_id, grading, dispatcher) = graded_launch().await;

    let first = json!({"launch_id": launch_id, "progress": 0.5, "score": 4, "max_score": 10});
    assert_eq!(report(&env, &grading, first).await.status, StatusCode::OK);
    let sent = dispatch_grades(&env, &dispatcher).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].status, DELIVERED, "{sent:?}");
    assert_eq!(sent[0].url, platform.lineitem(7));

    let scores = platform.scores();
    assert_eq!(scores.len(), 1);
    let score = &scores[0];
    // `/scores` goes after the line item's path, before its query string.
    assert_eq!(score.target, "/lineitems/7/lineitem/scores?type_id=3");
    assert_eq!(score.content_type.as_deref(), Some(SCORE_MEDIA_TYPE));
    assert_eq!(score.authorization.as_deref(), Some("Bearer at-1"));
    assert_eq!(
        score.body["userId"], SUB,
        "the platform's own id of the learner"
    );
    assert_eq!(score.body["scoreGiven"], 4.0);
    assert_eq!(score.body["scoreMaximum"], 10.0);
    assert_eq!(score.body["activityProgress"], "InProgress");
    assert_eq!(score.body["gradingProgress"], "FullyGraded");
    let stamped = timestamp(score);
    let age = time::OffsetDateTime::now_utc() - stamped;
    assert!(
        age.whole_seconds() < 60 && age.whole_seconds() >= 0,
        "{stamped}"
    );

    // The token came from a client assertion signed by the tool key, for labgate's client_id.
    let asked = platform.token_requests();
    assert_eq!(asked.len(), 1);
    let assertion = asked[0].assertion.as_ref().expect("a verified assertion");
    assert_eq!(assertion["iss"], CLIENT_ID);
    assert_eq!(assertion["sub"], CLIENT_ID);
    assert_eq!(assertion["aud"], platform.token_url);
    assert_eq!(asked[0].form["scope"], AGS_SCOPE_SCORE);
    let header = jsonwebtoken::decode_header(&asked[0].form["client_assertion"]).unwrap();
    assert_eq!(header.kid.as_deref(), Some("t1"));

    // The lab completed: the next score is later, and the token is reused.
    let done = json!({"launch_id": launch_id, "progress": 1.0, "score": 9, "max_score": 10, "completed": true});
    assert_eq!(report(&env, &grading, done).await.status, StatusCode::OK);
    let sent = dispatch_grades(&env, &dispatcher).await;
    assert_eq!(sent.len(), 1, "the first score is not sent again: {sent:?}");
    let scores = platform.scores();
    assert_eq!(scores.len(), 2);
    assert_eq!(scores[1].body["scoreGiven"], 9.0);
    assert_eq!(scores[1].body["activityProgress"], "Completed");
    assert_eq!(scores[1].body["gradingProgress"], "FullyGraded");
    assert!(timestamp(&scores[1]) > timestamp(&scores[0]));
    assert_eq!(platform.token_requests().len(), 1, "the token is kept");

    // Without a score, the fraction done is the score, pending until the lab is completed.
    let partial = json!({"launch_id": launch_id, "progress": 0.25});
    assert_eq!(report(&env, &grading, partial).await.status, StatusCode::OK);
    dispatch_grades(&env, &dispatcher).await;
    let last = platform.scores().pop().unwrap();
    assert_eq!(last.body["scoreGiven"], 0.25);
    assert_eq!(last.body["scoreMaximum"], 1.0);
    assert_eq!(last.body["gradingProgress"], "Pending");

    // The tenant's webhook still gets launch.progress as before; nothing is a dead letter.
    assert!(dead_letters(&env).await.is_empty());
}

#[tokio::test]
async fn a_link_without_a_line_item_or_the_score_scope_sends_no_score() {
    let (env, platform) = tool_env().await;
    let plain = launch(&env, "learner-a", None).await;
    let mut read_only = graded(&platform, 8);
    read_only["scope"] = json!(["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"]);
    let no_scope = launch(&env, "learner-b", Some(read_only)).await;
    let mut no_item = graded(&platform, 9);
    no_item.as_object_mut().unwrap().remove("lineitem");
    let no_line = launch(&env, "learner-c", Some(no_item)).await;
    let mut odd = graded(&platform, 10);
    odd["lineitem"] = json!("javascript:alert(1)");
    let odd_line = launch(&env, "learner-d", Some(odd)).await;

    let grading = env.token_with(&[Scope::Grading]).await;
    let dispatcher = env.deliverer();
    for launch_id in [plain, no_scope, no_line, odd_line] {
        let body = json!({"launch_id": launch_id, "progress": 1.0, "completed": true});
        assert_eq!(report(&env, &grading, body).await.status, StatusCode::OK);
    }
    assert!(dispatch_grades(&env, &dispatcher).await.is_empty());
    assert!(platform.scores().is_empty());
    assert!(platform.token_requests().is_empty());
}

#[tokio::test]
async fn scores_for_one_learner_never_arrive_out_of_order() {
    let (env, platform, launch_id, grading, dispatcher) = graded_launch().await;

    // Eight reports at once, then one batch: the dispatcher sends the batch's events at once.
    let reports = (1..=8).map(|i| {
        let body = json!({"launch_id": launch_id, "progress": f64::from(i) / 8.0, "score": i, "max_score": 8});
        report(&env, &grading, body)
    });
    for res in futures::future::join_all(reports).await {
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    let sent = dispatch_grades(&env, &dispatcher).await;
    assert_eq!(sent.len(), 8, "{sent:?}");
    assert!(
        sent.iter()
            .all(|d| d.status == DELIVERED || d.status == SUPERSEDED),
        "{sent:?}"
    );
    let scores = platform.scores();
    assert!(!scores.is_empty());
    let stamps: Vec<_> = scores.iter().map(timestamp).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "each score later than the one before: {stamps:?}"
    );
    // The last to arrive is the latest report, whichever order the reports were recorded in.
    let events = env.events().await;
    let latest: Value = events
        .iter()
        .filter_map(|e| e.grade().unwrap())
        .max_by_key(|g| g.order)
        .map(|g| g.score)
        .unwrap();
    assert_eq!(scores.last().unwrap().body, latest);

    // A re-send of any of them (an operator's `delivery resend`) sends nothing older.
    let deliverer = env.deliverer();
    for event in events.iter().filter(|e| e.grade.is_some()) {
        let again = deliverer.deliver(env.store(), event).await.unwrap();
        assert!(again.iter().all(|d| d.target != GRADE), "{again:?}");
    }
    assert_eq!(platform.scores().len(), scores.len());
}

#[tokio::test]
async fn a_failing_gradebook_keeps_the_score_as_a_dead_letter_until_it_is_sent_again() {
    let (env, platform, launch_id, grading, dispatcher) = graded_launch().await;

    platform.answer_scores_with(&[500, 503, 502]);
    let body = json!({"launch_id": launch_id, "progress": 1.0, "score": 7, "max_score": 10, "completed": true});
    assert_eq!(report(&env, &grading, body).await.status, StatusCode::OK);
    let sent = dispatch_grades(&env, &dispatcher).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status, FAILED);
    assert_eq!(sent[0].attempts, 3);
    assert_eq!(sent[0].last_error.as_deref(), Some("scores: HTTP 502"));
    let dead = dead_letters(&env).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].target, GRADE);

    // `labgate-admin delivery resend`: the same score, now accepted.
    let event = delivery::event(env.store(), &dead[0].event_id)
        .await
        .unwrap()
        .unwrap();
    let again = env.deliverer().deliver(env.store(), &event).await.unwrap();
    let grade = again.iter().find(|d| d.target == GRADE).unwrap();
    assert_eq!(grade.status, DELIVERED);
    assert_eq!(grade.attempts, 4);
    let scores = platform.scores();
    assert_eq!(scores.len(), 4);
    assert_eq!(
        scores[3].body, scores[0].body,
        "the same score, timestamp and all"
    );
    assert!(dead_letters(&env).await.is_empty());
}

#[tokio::test]
async fn a_refused_token_is_renewed_once_and_a_refused_assertion_is_a_dead_letter() {
    let (env, platform, launch_id, grading, dispatcher) = graded_launch().await;
    let body = |p: f64| json!({"launch_id": launch_id, "progress": p});

    assert_eq!(
        report(&env, &grading, body(0.1)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        dispatch_grades(&env, &dispatcher).await[0].status,
        DELIVERED
    );

    // The platform stops honouring the token: one 401, a new token, the score sent.
    platform.revoke_tokens();
    assert_eq!(
        report(&env, &grading, body(0.2)).await.status,
        StatusCode::OK
    );
    let sent = dispatch_grades(&env, &dispatcher).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].status, DELIVERED, "{sent:?}");
    let scores = platform.scores();
    assert_eq!(scores.len(), 3);
    assert_eq!(scores[1].authorization.as_deref(), Some("Bearer at-1"));
    assert_eq!(scores[2].authorization.as_deref(), Some("Bearer at-2"));

    // The platform no longer trusts the tool's key: no token, a dead letter that says why.
    platform.revoke_tokens();
    platform.trust_tool_keys(&[("t2", "platform-2")]);
    assert_eq!(
        report(&env, &grading, body(0.3)).await.status,
        StatusCode::OK
    );
    let sent = dispatch_grades(&env, &dispatcher).await;
    let failed: Vec<_> = sent.iter().filter(|d| d.status == FAILED).collect();
    assert_eq!(failed.len(), 1, "{sent:?}");
    assert_eq!(failed[0].last_error.as_deref(), Some("token: HTTP 401"));
    let refused = platform.token_requests().pop().unwrap();
    assert!(refused.assertion.is_none() && refused.granted.is_none());
}
