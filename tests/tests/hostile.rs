//! The hostile-input corpus. Every HTTP endpoint, through every place input enters it (JSON
//! and form bodies, query parameters, path parameters, the `Authorization` header, the session
//! cookie), is fed malformed, truncated, oversized, mistyped, invalid-UTF-8 and odd-Unicode
//! input, header-injection and open-redirect attempts (plain, encoded and double-encoded) and
//! path traversal, one hostile value at a time with everything else valid. Each must get a 4xx
//! with a message (the empty 403 of a bad bearer token excepted, as Educates answers), never a
//! redirect or a cookie, and the table must be exactly as it was.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

use aws_sdk_dynamodb::types::AttributeValue;
use labgate::api_client::Scope;
use labgate::handlers;
use labgate::state::AppState;
use labgate_tests::*;
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request};
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Launch,
    LaunchAuth,
    WebSession,
    Progress,
    Token,
    Revoke,
    Catalog,
    Status,
    SessionRequest,
    Activate,
    Schedule,
    Extend,
    Terminate,
    Delete,
    UserSessions,
    CatalogWorkshops,
    Config,
    Event,
    Authorize,
    LtiLogin,
    LtiLaunch,
    LtiDeepLink,
    LtiRegister,
}

async fn call(state: &AppState, endpoint: Endpoint, req: Request) -> TestResponse {
    use Endpoint::*;
    match endpoint {
        Launch => invoke(labgate::handlers::launch::handle, state, req).await,
        LaunchAuth => invoke(labgate::handlers::launch_auth::handle, state, req).await,
        WebSession => invoke(labgate::handlers::web_session::handle, state, req).await,
        Progress => invoke(labgate::handlers::progress::handle, state, req).await,
        Token => invoke(labgate::handlers::oauth_token::handle, state, req).await,
        Revoke => invoke(labgate::handlers::oauth_revoke::handle, state, req).await,
        Catalog => invoke(handlers::workshop_catalog::handle, state, req).await,
        Status => invoke(handlers::environment_status::handle, state, req).await,
        SessionRequest => invoke(handlers::session_request::handle, state, req).await,
        Activate => invoke(handlers::session_activate::handle, state, req).await,
        Schedule => invoke(handlers::session_schedule::handle, state, req).await,
        Extend => invoke(handlers::session_extend::handle, state, req).await,
        Terminate => invoke(handlers::session_terminate::handle, state, req).await,
        Delete => invoke(handlers::session_delete::handle, state, req).await,
        UserSessions => invoke(handlers::user_sessions::handle, state, req).await,
        CatalogWorkshops => invoke(handlers::catalog_workshops::handle, state, req).await,
        Config => invoke(handlers::session_config::handle, state, req).await,
        Event => invoke(handlers::session_event::handle, state, req).await,
        Authorize => invoke(handlers::session_authorize::handle, state, req).await,
        LtiLogin => invoke(handlers::lti_login::handle, state, req).await,
        LtiLaunch => invoke(handlers::lti_launch::handle, state, req).await,
        LtiDeepLink => invoke(handlers::lti_deep_link::handle, state, req).await,
        LtiRegister => invoke(handlers::lti_register::handle, state, req).await,
    }
}

/// An attribute value as text, maps in key order (the SDK's maps have no stable order).
fn canon(value: &AttributeValue) -> String {
    match value {
        AttributeValue::M(map) => {
            let sorted: BTreeMap<_, _> = map.iter().map(|(k, v)| (k, canon(v))).collect();
            format!("M{sorted:?}")
        }
        AttributeValue::L(list) => format!("L{:?}", list.iter().map(canon).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

/// Every item of the table, in a stable textual form.
async fn snapshot(env: &TestEnv) -> Vec<String> {
    let mut items: Vec<String> = scan_all(env.store())
        .await
        .iter()
        .map(|item| {
            let sorted: BTreeMap<_, _> = item.iter().map(|(k, v)| (k, canon(v))).collect();
            format!("{sorted:?}")
        })
        .collect();
    items.sort();
    items
}

struct Case {
    what: String,
    endpoint: Endpoint,
    req: Request,
}

/// Where the hostile requests start from: a client, a robot, an environment with a session, a
/// logged-in browser, a launch and an unused launch link.
struct Fixture {
    env: TestEnv,
    bearer: String,
    grading_token: String,
    environment: String,
    session: String,
    cookie: String,
    launch_id: String,
    link: url::Url,
    oauth_client: (String, String),
    /// An unused dynamic registration link's token.
    registration_link: String,
}

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let environment = env.environment(3, |_| {}).await;
    let requested = env
        .request_session(&robot.access_token, &environment, &query(&[("user", "u1")]))
        .await;
    let session = requested.json()["name"].as_str().unwrap().to_string();
    let cookie = env.login(&payload("u1")).await;
    let launched = env.launch(&payload("u2")).await;
    let launch_id = launched.header("labgate-launch-id").unwrap().to_string();
    let link = url::Url::parse(launched.json()["url"].as_str().unwrap()).unwrap();
    let grading_token = env.token_with(&[Scope::Launch, Scope::Grading]).await;
    let registration_link =
        labgate::lti::dynamic_registration::create_link(env.store(), &env.client.id, 24)
            .await
            .unwrap()
            .expose()
            .to_string();
    Fixture {
        registration_link,
        bearer: robot.access_token,
        grading_token,
        environment,
        session,
        cookie,
        launch_id,
        link,
        oauth_client: (robot.client_id, robot.client_secret),
        env,
    }
}

fn bytes(body: &[u8]) -> Body {
    Body::Binary(body.to_vec())
}

/// JSON bodies that must be refused by any endpoint taking a JSON object; `valid` is a valid
/// body of that endpoint, varied field by field in `field_cases`.
fn malformed_json() -> Vec<(String, Body)> {
    let mut cases = vec![
        ("invalid UTF-8".to_string(), bytes(b"\xff\xfe\xfd")),
        (
            "invalid UTF-8 inside a string".into(),
            bytes(b"{\"user_id\": \"a\xffb\", \"launch_id\": \"\xc0\xaf\"}"),
        ),
        ("overlong UTF-8 '/'".into(), bytes(b"{\"a\": \"\xc0\xaf\"}")),
        (
            "truncated".into(),
            Body::Text(r#"{"user_id": "u1", "con"#.into()),
        ),
        ("empty".into(), Body::Empty),
        ("whitespace".into(), Body::Text(" \n\t ".into())),
        ("array".into(), Body::Text("[]".into())),
        ("null".into(), Body::Text("null".into())),
        ("string".into(), Body::Text("\"x\"".into())),
        ("number out of range".into(), Body::Text("1e999".into())),
        ("NaN".into(), Body::Text("{\"progress\": NaN}".into())),
        (
            "byte-order mark before the object".into(),
            Body::Text("\u{feff}{}".into()),
        ),
        (
            "100,000 nested arrays".into(),
            Body::Text("[".repeat(100_000)),
        ),
        (
            "deeply nested object".into(),
            Body::Text(format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000))),
        ),
        (
            "lone surrogate escape".into(),
            Body::Text(r#"{"user_id": "\ud800"}"#.into()),
        ),
        (
            "1 MiB body".into(),
            Body::Text(format!(r#"{{"user_id": "{}"}}"#, "a".repeat(1 << 20))),
        ),
    ];
    cases.push((
        "200,000-element array".into(),
        Body::Text(format!("[{}0]", "0,".repeat(200_000))),
    ));
    cases
}

/// `base` with one field set to `value`, and a label for it.
fn varied(
    base: &serde_json::Value,
    field: &str,
    value: serde_json::Value,
) -> (String, serde_json::Value) {
    let mut body = base.clone();
    body[field] = value;
    (
        format!("{field} = {}", short(&body[field].to_string())),
        body,
    )
}

/// Launch payload fields with hostile values (the rest of the payload valid).
fn launch_field_cases() -> Vec<(String, serde_json::Value)> {
    let base = payload("u9");
    let with = |field: &str, value| varied(&base, field, value);
    vec![
        with("user_id", json!(123)),
        with("user_id", json!(["u1"])),
        with("user_id", json!("a\u{0}b")),
        with("user_id", json!("a\r\nSet-Cookie: x=y")),
        with("user_id", json!("\u{202e}nimda")),
        with("user_id", json!("a\u{200b}b")),
        with("user_id", json!("\u{feff}u1")),
        with("user_id", json!("\u{ffff}")),
        with("user_id", json!("x".repeat(256))),
        // Within 255 characters, past the 512 bytes a key can take (tests/tests/limits.rs).
        with("user_id", json!("\u{1f600}".repeat(129))),
        with("user_id", json!("\u{4e2d}".repeat(255))),
        with("user_id", json!("   ")),
        with("content_id", json!(null)),
        with("content_id", json!("../../etc/passwd")),
        with(
            "content_id",
            json!("8715dfc6-56ac-4ca2-99cf-17419d36cebb\r\nX: y"),
        ),
        with("content_id", json!({"$ne": null})),
        with("resource_id", json!(7)),
        with("resource_id", json!("r".repeat(256))),
        with("context", json!([])),
        with("context", json!("{}")),
        with("context", json!({"big": "x".repeat(17 * 1024)})),
        with("email", json!("not-an-email")),
        with("email", json!("a@b\r\nBcc: victim@example.com")),
        with("email", json!(format!("{}@example.com", "a".repeat(250)))),
        with("given_name", json!("\u{2066}Eve\u{2069}")),
        with("family_name", json!("x".repeat(151))),
        with("roles", json!("admin")),
        with("roles", json!([1, 2])),
        with(
            "roles",
            json!((0..51).map(|i| format!("r{i}")).collect::<Vec<_>>()),
        ),
        with("roles", json!(["\u{0}"])),
        with("licenses", json!({"a": 1})),
        with(
            "licenses",
            json!((0..10_000).map(|i| format!("l{i}")).collect::<Vec<_>>()),
        ),
        with(
            "teams",
            json!((0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()),
        ),
        with("teams", json!(["x".repeat(101)])),
        with("teams", json!([null])),
    ]
}

fn progress_field_cases(launch_id: &str) -> Vec<(String, serde_json::Value)> {
    let base = json!({"launch_id": launch_id, "progress": 0.5});
    let with = |field: &str, value| varied(&base, field, value);
    vec![
        with("launch_id", json!("../../etc/passwd")),
        with("launch_id", json!(1)),
        with("launch_id", json!(uuid::Uuid::new_v4().to_string())),
        with("progress", json!(-0.1)),
        with("progress", json!(1.5)),
        with("progress", json!("0.5")),
        with("progress", json!(null)),
        with("score", json!(-1)),
        (
            "score above max_score".into(),
            json!({"launch_id": launch_id, "progress": 1, "score": 2, "max_score": 1}),
        ),
        with("max_score", json!(0)),
        with("completed", json!("yes")),
        with("details", json!([])),
        with("details", json!({"big": "x".repeat(17 * 1024)})),
    ]
}

/// Destinations that must never be followed or stored: plain, encoded, double-encoded.
fn redirect_attempts(allowed: &str) -> Vec<String> {
    let host = url::Url::parse(allowed)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    vec![
        "//evil.example/".into(),
        "\\\\evil.example".into(),
        "/\\evil.example".into(),
        "\\/evil.example".into(),
        "https:evil.example".into(),
        "https:/evil.example".into(),
        "javascript:alert(1)".into(),
        "JaVaScRiPt:alert(document.domain)".into(),
        "java\tscript:alert(1)".into(),
        "data:text/html,<script>alert(1)</script>".into(),
        "https://evil.example/".into(),
        format!("https://{host}@evil.example/"),
        format!("https://{host}:443@evil.example/"),
        format!("https://{host}.evil.example/"),
        format!("https://evil.example/?{allowed}"),
        format!("https://evil.example#{allowed}"),
        "%2F%2Fevil.example".into(),
        "%252F%252Fevil.example".into(),
        "https%3A%2F%2Fevil.example".into(),
        "https%253A%252F%252Fevil.example".into(),
        format!("{allowed}\r\nLocation: https://evil.example/"),
        format!("{allowed}%0d%0aSet-Cookie:%20labgate_session=x"),
        "".into(),
    ]
}

/// Path parameter values (as they appear in the URI) that name nothing.
fn hostile_segments() -> Vec<String> {
    vec![
        "..".into(),
        "..%2F..%2F..%2Fetc%2Fpasswd".into(),
        "%2E%2E%2F%2E%2E%2F".into(),
        "%252E%252E%252F".into(),
        "..%5C..%5Cwindows".into(),
        "%00".into(),
        "x%00y".into(),
        "%0D%0ASet-Cookie:%20labgate_session=x".into(),
        "%FF%FE".into(),
        "%C0%AF".into(),
        "%E2%80%AEtxt".into(),
        "%F0%9F%92%A9".into(),
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E".into(),
        "*".into(),
        "%20".into(),
        "a".repeat(10_000),
    ]
}

fn short(text: &str) -> String {
    if text.chars().count() > 60 {
        format!(
            "{}… ({} chars)",
            text.chars().take(40).collect::<String>(),
            text.len()
        )
    } else {
        text.to_string()
    }
}

fn get(path: &str) -> lambda_http::http::request::Builder {
    request("GET", API_HOST, path)
}

fn with_bearer(builder: lambda_http::http::request::Builder, token: &str) -> Request {
    builder
        .header("authorization", format!("Bearer {token}"))
        .body(Body::Empty)
        .unwrap()
}

fn corpus(f: &Fixture) -> Vec<Case> {
    use Endpoint::*;
    let mut cases = Vec::new();
    let mut add = |what: String, endpoint: Endpoint, req: Request| {
        cases.push(Case {
            what,
            endpoint,
            req,
        });
    };
    let token = &f.env.token;
    let parameters_post = |body: Body| {
        request(
            "POST",
            API_HOST,
            &format!(
                "/workshops/environment/{}/request/?{}",
                f.environment,
                query(&[("user", "u5")])
            ),
        )
        .header("authorization", format!("Bearer {}", f.bearer))
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
    };
    let json_post = |path: &str, auth: &str, body: Body| {
        request("POST", API_HOST, path)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body)
            .unwrap()
    };

    // JSON bodies: launch, progress, and the session request's parameters.
    for (what, body) in malformed_json() {
        add(
            format!("launch body: {what}"),
            Launch,
            json_post("/api/v1/launch", &format!("Token {token}"), body.clone()),
        );
        add(
            format!("progress body: {what}"),
            Progress,
            json_post(
                "/api/v1/progress",
                &format!("Token {}", f.grading_token),
                body.clone(),
            ),
        );
        // The same bodies with a well-formed idempotency key: refused before the key is kept.
        let mut keyed = json_post("/api/v1/launch", &format!("Token {token}"), body.clone());
        keyed
            .headers_mut()
            .insert("idempotency-key", HeaderValue::from_static("hostile-1"));
        add(format!("launch body with a key: {what}"), Launch, keyed);
        add(
            format!("session event body: {what}"),
            Event,
            request(
                "POST",
                API_HOST,
                &format!("/workshops/session/{}/event/", f.session),
            )
            .header("authorization", format!("Bearer {}", f.bearer))
            .header("content-type", "application/json")
            .body(body.clone())
            .unwrap(),
        );
        if !matches!(body, Body::Empty) && !what.starts_with("whitespace") {
            add(
                format!("session request body: {what}"),
                SessionRequest,
                parameters_post(body),
            );
        }
    }

    // Malformed idempotency keys, with an otherwise valid launch and session request.
    let long_key = "k".repeat(256);
    let bad_keys: Vec<HeaderValue> = vec![
        HeaderValue::from_static(""),
        HeaderValue::from_static("two words"),
        HeaderValue::from_static("tab\there"),
        HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        HeaderValue::from_str(&long_key).unwrap(),
    ];
    for key in bad_keys {
        let label = short(&String::from_utf8_lossy(key.as_bytes()));
        let body = Body::Text(payload("u-key").to_string());
        let mut launch = json_post("/api/v1/launch", &format!("Token {token}"), body);
        launch.headers_mut().insert("idempotency-key", key.clone());
        add(format!("launch idempotency key {label:?}"), Launch, launch);
        let path = format!(
            "/workshops/environment/{}/request/?{}",
            f.environment,
            query(&[("user", "u-key")])
        );
        let mut asked = with_bearer(get(&path), &f.bearer);
        asked.headers_mut().insert("idempotency-key", key);
        add(
            format!("session request idempotency key {label:?}"),
            SessionRequest,
            asked,
        );
    }

    // Events that are not Educates' shape, or too large.
    let big = format!(
        r#"{{"event": {{"name": "x", "data": {{"a": "{}"}}}}}}"#,
        "a".repeat(20_000)
    );
    for (what, content_type, body) in [
        (
            "form content type",
            "application/x-www-form-urlencoded",
            r#"{"event": {"name": "x"}}"#.to_string(),
        ),
        (
            "no content type",
            "",
            r#"{"event": {"name": "x"}}"#.to_string(),
        ),
        (
            "no event",
            "application/json",
            r#"{"name": "x"}"#.to_string(),
        ),
        (
            "event not an object",
            "application/json",
            r#"{"event": [1]}"#.to_string(),
        ),
        (
            "name not a string",
            "application/json",
            r#"{"event": {"name": 7}}"#.to_string(),
        ),
        (
            "name with a newline",
            "application/json",
            r#"{"event": {"name": "a\nb"}}"#.to_string(),
        ),
        (
            "name of 101 characters",
            "application/json",
            format!(r#"{{"event": {{"name": "{}"}}}}"#, "n".repeat(101)),
        ),
        (
            "data not an object",
            "application/json",
            r#"{"event": {"name": "x", "data": "y"}}"#.to_string(),
        ),
        ("20 KB of data", "application/json", big),
    ] {
        let mut req = request(
            "POST",
            API_HOST,
            &format!("/workshops/session/{}/event/", f.session),
        )
        .header("authorization", format!("Bearer {}", f.bearer));
        if !content_type.is_empty() {
            req = req.header("content-type", content_type);
        }
        add(
            format!("session event: {what}"),
            Event,
            req.body(Body::Text(body)).unwrap(),
        );
    }
    for (what, body) in launch_field_cases() {
        add(
            format!("launch: {what}"),
            Launch,
            json_post(
                "/api/v1/launch",
                &format!("Token {token}"),
                Body::Text(body.to_string()),
            ),
        );
    }
    for (what, body) in progress_field_cases(&f.launch_id) {
        add(
            format!("progress: {what}"),
            Progress,
            json_post(
                "/api/v1/progress",
                &format!("Token {}", f.grading_token),
                Body::Text(body.to_string()),
            ),
        );
    }
    for (what, body) in [
        ("parameters not a list", json!({"parameters": "x"})),
        (
            "parameter without value",
            json!({"parameters": [{"name": "a"}]}),
        ),
        (
            "101 parameters",
            json!({"parameters": (0..101).map(|i| json!({"name": format!("p{i}"), "value": "v"})).collect::<Vec<_>>()}),
        ),
        (
            "parameter value 70 KiB",
            json!({"parameters": [{"name": "a", "value": "x".repeat(70 * 1024)}]}),
        ),
    ] {
        add(
            format!("session request body: {what}"),
            SessionRequest,
            parameters_post(Body::Text(body.to_string())),
        );
    }

    // Open redirects: `next` of a valid, unused launch link; `index_url` of a session request.
    let token_param = f
        .link
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned();
    for next in redirect_attempts("http://localhost:3000/project/x") {
        let q = form(&[("token", &token_param), ("next", &next)]);
        add(
            format!("launch link next = {}", short(&next)),
            LaunchAuth,
            get(&format!("/api/v1/launch/auth?{q}"))
                .body(Body::Empty)
                .unwrap(),
        );
    }
    for target in redirect_attempts(INDEX_URL) {
        for name in ["index_url", "redirect_url"] {
            let q = form(&[(name, &target), ("user", "u6")]);
            add(
                format!("session request {name} = {}", short(&target)),
                SessionRequest,
                with_bearer(
                    get(&format!(
                        "/workshops/environment/{}/request/?{q}",
                        f.environment
                    )),
                    &f.bearer,
                ),
            );
        }
    }
    // Raw (unencoded) forms in the query string itself.
    for raw in [
        "//evil.example",
        "%2F%2Fevil.example",
        "%252F%252Fevil.example",
        "javascript:alert(1)",
    ] {
        add(
            format!("launch link raw next={raw}"),
            LaunchAuth,
            get(&format!(
                "/api/v1/launch/auth?token={}&next={raw}",
                form(&[("", &token_param)]).trim_start_matches('=')
            ))
            .body(Body::Empty)
            .unwrap(),
        );
        add(
            format!("session request raw index_url={raw}"),
            SessionRequest,
            with_bearer(
                get(&format!(
                    "/workshops/environment/{}/request/?index_url={raw}&user=u6",
                    f.environment
                )),
                &f.bearer,
            ),
        );
    }

    // Other query parameters of the session request.
    for (name, values) in [
        (
            "user",
            vec![
                "../../x".to_string(),
                "a\r\nb".into(),
                "ü".into(),
                "<script>".into(),
                "a b".into(),
                "\u{0}".into(),
                "u".repeat(151),
            ],
        ),
        (
            "email",
            vec![
                "a@b\r\nBcc: x@example.com".to_string(),
                "\u{202e}a@b".into(),
                "a@".into(),
                "@b".into(),
                "a b@c".into(),
            ],
        ),
        (
            "first_name",
            vec!["\u{202e}Eve".to_string(), "a\u{0}".into(), "n".repeat(151)],
        ),
        ("last_name", vec!["\u{2066}x".to_string(), "x\r\ny".into()]),
        (
            "timeout",
            vec![
                "-1".to_string(),
                "abc".into(),
                "1e3".into(),
                "NaN".into(),
                "0x10".into(),
                "99999999999999999999999".into(),
                "".into(),
            ],
        ),
        (
            "analytics_url",
            vec![
                "javascript:alert(1)".to_string(),
                "ftp://x.example/".into(),
                "not a url".into(),
            ],
        ),
    ] {
        for value in values {
            let q = if name == "user" {
                query(&[(name, &value)])
            } else {
                query(&[("user", "u7"), (name, &value)])
            };
            add(
                format!("session request {name} = {}", short(&format!("{value:?}"))),
                SessionRequest,
                with_bearer(
                    get(&format!(
                        "/workshops/environment/{}/request/?{q}",
                        f.environment
                    )),
                    &f.bearer,
                ),
            );
        }
    }

    // Path parameters.
    for segment in hostile_segments() {
        let label = short(&segment);
        let bearer_paths = [
            (Status, format!("/workshops/environment/{segment}/status/")),
            (
                SessionRequest,
                format!("/workshops/environment/{segment}/request/?{}", query(&[])),
            ),
            (Schedule, format!("/workshops/session/{segment}/schedule/")),
            (Extend, format!("/workshops/session/{segment}/extend/")),
            (
                Terminate,
                format!("/workshops/session/{segment}/terminate/"),
            ),
            (UserSessions, format!("/workshops/user/{segment}/sessions/")),
            (Config, format!("/workshops/session/{segment}/config/")),
            (
                Authorize,
                format!("/workshops/session/{segment}/authorize/"),
            ),
        ];
        for (endpoint, path) in bearer_paths {
            add(
                format!("{endpoint:?} path {label}"),
                endpoint,
                with_bearer(get(&path), &f.bearer),
            );
        }
        add(
            format!("event path {label}"),
            Event,
            request(
                "POST",
                API_HOST,
                &format!("/workshops/session/{segment}/event/"),
            )
            .header("authorization", format!("Bearer {}", f.bearer))
            .header("content-type", "application/json")
            .body(Body::Text(r#"{"event": {"name": "x"}}"#.into()))
            .unwrap(),
        );
        add(
            format!("activate path {label}"),
            Activate,
            get(&format!("/workshops/session/{segment}/activate/?token=x"))
                .body(Body::Empty)
                .unwrap(),
        );
        add(
            format!("delete path {label}"),
            Delete,
            get(&format!("/workshops/session/{segment}/delete/"))
                .header("cookie", format!("labgate_session={}", f.cookie))
                .body(Body::Empty)
                .unwrap(),
        );
    }

    // Query values of the one-time links and the catalog.
    for value in [
        "",
        "../../x",
        "%00",
        "%0D%0ALocation:%20https://evil.example",
        "%FF%FE",
        &"t".repeat(10_000),
    ] {
        add(
            format!("launch link token = {}", short(value)),
            LaunchAuth,
            get(&format!("/api/v1/launch/auth?token={value}"))
                .body(Body::Empty)
                .unwrap(),
        );
        add(
            format!("activation token = {}", short(value)),
            Activate,
            get(&format!(
                "/workshops/session/{}/activate/?token={value}",
                f.session
            ))
            .body(Body::Empty)
            .unwrap(),
        );
    }

    // The Authorization header of every kind of endpoint, and the session cookie.
    let long = "x".repeat(100_000);
    let header_values: Vec<(String, HeaderValue)> = [
        "".to_string(),
        "Token".into(),
        "Token ".into(),
        format!("Token {token}x"),
        format!("Token {}", &token[..39]),
        format!("Token {token} {token}"),
        format!("Bearer {token}"),
        format!("Basic {token}"),
        "Token ../../../../etc/passwd".into(),
        format!("Token {long}"),
        format!("Bearer {}", f.bearer.to_uppercase()),
        format!("Bearer {}x", f.bearer),
        "Bearer".into(),
        format!("Bearer {long}"),
        format!("Token {}", f.bearer),
    ]
    .into_iter()
    .map(|v| (short(&v), HeaderValue::from_str(&v).unwrap()))
    .chain([(
        "obs-text bytes".to_string(),
        HeaderValue::from_bytes(b"Token \xff\xfe\xfd").unwrap(),
    )])
    .collect();
    for (label, value) in &header_values {
        let body = Body::Text(payload("u8").to_string());
        add(
            format!("launch Authorization: {label}"),
            Launch,
            request("POST", API_HOST, "/api/v1/launch")
                .header("authorization", value.clone())
                .header("content-type", "application/json")
                .body(body)
                .unwrap(),
        );
        add(
            format!("progress Authorization: {label}"),
            Progress,
            request("POST", API_HOST, "/api/v1/progress")
                .header("authorization", value.clone())
                .body(Body::Text(
                    json!({"launch_id": f.launch_id, "progress": 1}).to_string(),
                ))
                .unwrap(),
        );
        for (endpoint, path) in [
            (Catalog, "/workshops/catalog/environments/".to_string()),
            (
                CatalogWorkshops,
                "/workshops/catalog/workshops/".to_string(),
            ),
            (Config, format!("/workshops/session/{}/config/", f.session)),
            (
                Authorize,
                format!("/workshops/session/{}/authorize/", f.session),
            ),
            (
                SessionRequest,
                format!(
                    "/workshops/environment/{}/request/?{}",
                    f.environment,
                    query(&[("user", "u8")])
                ),
            ),
            (
                Terminate,
                format!("/workshops/session/{}/terminate/", f.session),
            ),
        ] {
            add(
                format!("{endpoint:?} Authorization: {label}"),
                endpoint,
                get(&path)
                    .header("authorization", value.clone())
                    .body(Body::Empty)
                    .unwrap(),
            );
        }
    }
    let cookies: Vec<HeaderValue> = [
        "labgate_session=".to_string(),
        "labgate_session=../../x".into(),
        format!("labgate_session={}", "c".repeat(10_000)),
        "labgate_session=\"quoted\"".into(),
        format!("labgate_session={}x", f.cookie),
        format!("other={}", f.cookie),
        "labgate_session".into(),
        ";;;=;".into(),
    ]
    .into_iter()
    .map(|v| HeaderValue::from_str(&v).unwrap())
    .chain([HeaderValue::from_bytes(b"labgate_session=\xff\xfe").unwrap()])
    .collect();
    for value in cookies {
        let label = short(&String::from_utf8_lossy(value.as_bytes()));
        add(
            format!("session cookie {label}"),
            WebSession,
            get("/api/v1/session")
                .header("cookie", value.clone())
                .body(Body::Empty)
                .unwrap(),
        );
        add(
            format!("delete cookie {label}"),
            Delete,
            get(&format!("/workshops/session/{}/delete/", f.session))
                .header("cookie", value)
                .body(Body::Empty)
                .unwrap(),
        );
    }

    // OAuth forms.
    let (client_id, client_secret) = &f.oauth_client;
    let client = [
        ("client_id", client_id.as_str()),
        ("client_secret", client_secret.as_str()),
    ];
    let forms: Vec<(String, Body)> = vec![
        (
            "invalid UTF-8".into(),
            bytes(b"grant_type=password&username=\xff"),
        ),
        (
            "truncated escape".into(),
            Body::Text(format!("{}&grant_type=pass%2", form(&client))),
        ),
        ("no grant".into(), Body::Text(form(&client))),
        (
            "unknown grant".into(),
            Body::Text(format!("{}&grant_type=client_credentials", form(&client))),
        ),
        (
            "grant twice".into(),
            Body::Text(format!(
                "{}&grant_type=password&grant_type=refresh_token",
                form(&client)
            )),
        ),
        (
            "password grant, CR/LF username".into(),
            Body::Text(format!(
                "{}&grant_type=password&username=a%0D%0Ab&password=x",
                form(&client)
            )),
        ),
        (
            "refresh grant, 100 KB token".into(),
            Body::Text(format!(
                "{}&grant_type=refresh_token&refresh_token={long}",
                form(&client)
            )),
        ),
        (
            "client secret of another length".into(),
            Body::Text(form(&[
                ("client_id", client_id.as_str()),
                ("client_secret", "x"),
                ("grant_type", "password"),
            ])),
        ),
        (
            "JSON instead of a form".into(),
            Body::Text("{\"grant_type\": \"password\"}".into()),
        ),
        (
            "1 MiB form".into(),
            Body::Text(format!("{}&x={}", form(&client), "a".repeat(1 << 20))),
        ),
        // Past DynamoDB's key size limits, were they looked up as keys.
        (
            "3,000-byte client id".into(),
            Body::Text(form(&[
                ("client_id", "c".repeat(3000).as_str()),
                ("client_secret", client_secret.as_str()),
                ("grant_type", "password"),
                ("username", "robot"),
                ("password", "x"),
            ])),
        ),
        (
            "3,000-byte username".into(),
            Body::Text(format!(
                "{}&grant_type=password&username={}&password=x",
                form(&client),
                "\u{1f600}".repeat(750)
            )),
        ),
    ];
    for (what, body) in forms {
        add(
            format!("token form: {what}"),
            Token,
            request("POST", API_HOST, "/oauth2/token/")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .unwrap(),
        );
    }
    for (what, body) in [
        ("no token", Body::Text(form(&client))),
        ("invalid UTF-8", bytes(b"token=\xff\xfe")),
        (
            "token twice",
            Body::Text(format!("{}&token=a&token=b", form(&client))),
        ),
        ("no client", Body::Text("token=abc".into())),
        (
            "3,000-byte client id",
            Body::Text(form(&[
                ("token", "abc"),
                ("client_id", "c".repeat(3000).as_str()),
                ("client_secret", client_secret.as_str()),
            ])),
        ),
    ] {
        add(
            format!("revoke form: {what}"),
            Revoke,
            request("POST", API_HOST, "/oauth2/revoke-token/")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .unwrap(),
        );
    }

    // LTI: login initiation (by form and by query) and the launch's form post. No platform is
    // registered: whatever comes, a page says what is wrong and nothing is read with junk keys.
    let target = format!("https://{API_HOST}/lti/launch");
    let login = |iss: &str, target: &str| {
        form(&[
            ("iss", iss),
            ("login_hint", "h"),
            ("target_link_uri", target),
        ])
    };
    let long_issuer = format!("https://{}.example", "i".repeat(3000));
    for (what, body) in [
        ("empty", Body::Text(String::new())),
        ("invalid UTF-8", bytes(b"iss=\xff\xfe&login_hint=h")),
        (
            "iss twice",
            Body::Text(format!("{}&iss=x", login("https://lms.example", &target))),
        ),
        (
            "3,000-byte issuer",
            Body::Text(login(&long_issuer, &target)),
        ),
        (
            "unregistered issuer",
            Body::Text(login("https://lms.example", &target)),
        ),
        (
            "off-site target",
            Body::Text(login("https://lms.example", "https://evil.example/")),
        ),
        (
            "JSON body",
            Body::Text(r#"{"iss": "https://lms.example"}"#.into()),
        ),
    ] {
        add(
            format!("LTI login form: {what}"),
            LtiLogin,
            request("POST", API_HOST, "/lti/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .unwrap(),
        );
    }
    for (what, query) in [
        ("no parameters", String::new()),
        ("3,000-byte issuer", login(&long_issuer, &target)),
        (
            "client_id of 3,000 bytes",
            format!(
                "{}&client_id={}",
                login("https://lms.example", &target),
                "c".repeat(3000)
            ),
        ),
    ] {
        add(
            format!("LTI login query: {what}"),
            LtiLogin,
            get(&format!("/lti/login?{query}"))
                .body(Body::Empty)
                .unwrap(),
        );
    }
    let state = "s".repeat(43);
    let unsigned =
        "eyJhbGciOiJub25lIiwia2lkIjoicDEifQ.eyJpc3MiOiJodHRwczovL2xtcy5leGFtcGxlIiwiYXVkIjoieCJ9.";
    let huge = format!("{}.{}.{}", "a".repeat(40_000), "b".repeat(40_000), "c");
    for (what, body, cookie) in [
        ("empty", Body::Text(String::new()), None),
        ("no state", Body::Text(form(&[("id_token", "a.b.c")])), None),
        (
            "no cookie",
            Body::Text(form(&[("id_token", unsigned), ("state", &state)])),
            None,
        ),
        (
            "cookie-breaking state",
            Body::Text(form(&[("id_token", unsigned), ("state", "a;b=c")])),
            Some("labgate_lti_a=b".to_string()),
        ),
        (
            "a cookie naming a 3,000-byte tenant",
            Body::Text(form(&[("id_token", unsigned), ("state", &state)])),
            Some(format!("labgate_lti_{state}={state}.{}", "f".repeat(3000))),
        ),
        (
            "unsigned token (alg none)",
            Body::Text(form(&[("id_token", unsigned), ("state", &state)])),
            Some(format!("labgate_lti_{state}={state}.{}", "f".repeat(32))),
        ),
        (
            "80 KB token",
            Body::Text(form(&[("id_token", &huge), ("state", &state)])),
            Some(format!("labgate_lti_{state}={state}.{}", "f".repeat(32))),
        ),
        ("invalid UTF-8", bytes(b"id_token=\xff&state=\xfe"), None),
        (
            "an error from the platform",
            Body::Text(form(&[
                ("error", "login_required"),
                ("error_description", "<script>x</script>"),
            ])),
            None,
        ),
        (
            "a storage target that is not a frame name",
            Body::Text(form(&[
                ("id_token", unsigned),
                ("state", &state),
                ("lti_storage_target", "x\"><script>"),
            ])),
            None,
        ),
        (
            "a stored state labgate did not sign",
            Body::Text(form(&[
                ("id_token", unsigned),
                ("state", &state),
                ("lti_storage_target", "_parent"),
                (
                    "lti_state",
                    &format!("{state}.{}.1.{state}", "f".repeat(32)),
                ),
            ])),
            None,
        ),
        (
            "a 5 KB stored state",
            Body::Text(form(&[
                ("id_token", unsigned),
                ("state", &state),
                ("lti_storage_target", "_parent"),
                ("lti_state", &"s".repeat(5000)),
            ])),
            None,
        ),
        (
            "storage for an unregistered platform",
            Body::Text(form(&[
                ("id_token", unsigned),
                ("state", &state),
                ("lti_storage_target", "_parent"),
            ])),
            None,
        ),
    ] {
        let mut req = request("POST", API_HOST, "/lti/launch")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        add(
            format!("LTI launch form: {what}"),
            LtiLaunch,
            req.body(body).unwrap(),
        );
    }
    let sealed = format!("{}.{}", "e30", "A".repeat(43));
    for (what, body) in [
        ("empty", Body::Text(String::new())),
        ("no pick", Body::Text(form(&[("content", CONTENT_ID)]))),
        (
            "a pick labgate did not seal",
            Body::Text(form(&[("pick", &sealed), ("content", CONTENT_ID)])),
        ),
        (
            "a 20 KB pick",
            Body::Text(form(&[
                ("pick", &"p.q".repeat(7000)),
                ("content", CONTENT_ID),
            ])),
        ),
        ("invalid UTF-8", bytes(b"pick=\xff&content=\xfe")),
    ] {
        add(
            format!("LTI deep link form: {what}"),
            LtiDeepLink,
            request("POST", API_HOST, "/lti/deep-link")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .unwrap(),
        );
    }
    // Dynamic registration: unknown links, and a real one with configurations labgate must not
    // fetch (private addresses, other schemes, too long). A refused exchange gives the link's
    // lease back, so the table is as before.
    let link = f.registration_link.as_str();
    let config = "https://10.0.0.7/.well-known/openid-configuration";
    let long = format!("https://10.0.0.7/{}", "a".repeat(3000));
    for (what, pairs) in [
        ("no token", vec![("openid_configuration", config)]),
        (
            "an unknown token",
            vec![
                ("token", "x".repeat(43).as_str()),
                ("openid_configuration", config),
            ],
        ),
        (
            "a 10 KB token",
            vec![
                ("token", "t".repeat(10_000).as_str()),
                ("openid_configuration", config),
            ],
        ),
        ("no configuration", vec![("token", link)]),
        (
            "a configuration at a private address",
            vec![("token", link), ("openid_configuration", config)],
        ),
        (
            "a loopback configuration",
            vec![
                ("token", link),
                ("openid_configuration", "http://127.0.0.1:1/x"),
            ],
        ),
        (
            "a file URL",
            vec![
                ("token", link),
                ("openid_configuration", "file:///etc/passwd"),
            ],
        ),
        (
            "a script URL",
            vec![
                ("token", link),
                ("openid_configuration", "javascript:alert(1)"),
            ],
        ),
        (
            "a plain http configuration",
            vec![
                ("token", link),
                ("openid_configuration", "http://10.0.0.7/x"),
            ],
        ),
        (
            "a 3 KB configuration URL",
            vec![("token", link), ("openid_configuration", long.as_str())],
        ),
        (
            "a 10 KB registration token",
            vec![
                ("token", link),
                ("openid_configuration", config),
                ("registration_token", "r".repeat(10_000).as_str()),
            ],
        ),
    ]
    .into_iter()
    .map(|(what, pairs)| {
        (
            what,
            pairs
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect::<Vec<_>>(),
        )
    }) {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        add(
            format!("LTI registration page: {what}"),
            LtiRegister,
            request("GET", API_HOST, &format!("/lti/register?{encoded}"))
                .body(Body::Empty)
                .unwrap(),
        );
        add(
            format!("LTI registration: {what}"),
            LtiRegister,
            request("POST", API_HOST, "/lti/register")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::Text(encoded))
                .unwrap(),
        );
    }
    add(
        "LTI registration: DELETE".into(),
        LtiRegister,
        request("DELETE", API_HOST, "/lti/register")
            .body(Body::Empty)
            .unwrap(),
    );
    add(
        "LTI registration: invalid UTF-8".into(),
        LtiRegister,
        request("POST", API_HOST, "/lti/register")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(bytes(b"token=\xff&openid_configuration=\xfe"))
            .unwrap(),
    );
    cases
}

#[tokio::test]
async fn every_hostile_input_gets_a_4xx_and_changes_nothing() {
    let f = fixture().await;
    let before = snapshot(&f.env).await;
    let cases = corpus(&f);
    let total = cases.len();
    let mut failures = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for case in cases {
        let res = call(&f.env.state, case.endpoint, case.req).await;
        *statuses.entry(res.status.as_u16()).or_default() += 1;
        let bearer_refused = res.status == 403 && res.body.is_empty();
        if !res.status.is_client_error() {
            failures.push(format!(
                "{}: {} {}",
                case.what,
                res.status,
                short(&res.body)
            ));
        } else if res.body.trim().is_empty() && !bearer_refused {
            failures.push(format!("{}: {} with no message", case.what, res.status));
        } else if res.header("location").is_some() || res.header("set-cookie").is_some() {
            failures.push(format!("{}: redirected or set a cookie", case.what));
        } else if res.status.as_u16() == 400 && res.header("content-type").is_none() {
            failures.push(format!("{}: 400 without a content type", case.what));
        }
    }
    let after = snapshot(&f.env).await;
    println!("hostile corpus: {total} requests, statuses {statuses:?}");
    assert!(
        failures.is_empty(),
        "{} of {total} hostile requests were mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let added: Vec<_> = after.iter().filter(|i| !before.contains(i)).collect();
    let removed: Vec<_> = before.iter().filter(|i| !after.contains(i)).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "hostile requests changed the table: added {added:#?}, removed {removed:#?}"
    );

    // And the fixture still works: nothing was used up by the hostile requests.
    let followed = f.env.follow(f.link.as_str(), None).await;
    assert_eq!(
        followed.status, 302,
        "the launch link survived: {}",
        followed.body
    );
}
