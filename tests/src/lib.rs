//! Test harness: each test gets its own table in DynamoDB Local, a seeded API client, token and
//! content item, and drives the real handlers with real `lambda_http` requests.
//!
//! DynamoDB Local is required: `scripts/test` starts it and sets `AWS_ENDPOINT_URL_DYNAMODB`.
//! Without it every test here fails; none is skipped.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

pub mod iam;
pub mod lti_platform;
pub mod receiver;
pub mod runtime_api;
pub mod secrets_manager;
pub mod streams;
pub mod ttl;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use labgate::api_client::{self, ApiClient, NewClient, Scope};
use labgate::config::Config;
use labgate::store::{RoundTrips, Store, attr, keys, schema};
use labgate::{AppState, content};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request, Response};
use std::collections::{BTreeMap, HashMap};

pub const API_HOST: &str = "api.labgate.test";
pub const APP_URL: &str = "https://app.labgate.test";
pub const WHITE_LABEL_HOST: &str = "api.labs.school.test";
pub const WHITE_LABEL_APP_URL: &str = "https://labs.school.test";
/// A second white-label domain, for a second tenant.
pub const OTHER_WHITE_LABEL_HOST: &str = "api.labs.college.test";
pub const CONTENT_ID: &str = "8715dfc6-56ac-4ca2-99cf-17419d36cebb";
/// 32 bytes, base64: the tests' `LABGATE_SIGNING_KEY`.
pub const SIGNING_KEY: &str = "bGFiZ2F0ZS10ZXN0LXNpZ25pbmcta2V5LTMyLWJ5dGVz";

/// The DynamoDB Local endpoint; a clear failure where it is not set.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: these tests need DynamoDB Local. \
             Run scripts/test, which starts it."
        )
    })
}

/// A store on DynamoDB Local. No production timeouts here: tests load the emulator on purpose
/// (parallel races on a 2-core machine), where an attempt may take longer than in AWS.
pub fn store(table: &str, round_trips: &RoundTrips) -> Store {
    Store::new(
        client(
            aws_sdk_dynamodb::Config::builder(),
            &endpoint(),
            round_trips,
        ),
        table,
    )
}

/// A store reaching DynamoDB at `url` without the functions' timeouts: a test inspecting the
/// table after a fault waits for the database, as the functions do not.
pub fn patient_store_at(url: &str, table: &str) -> Store {
    let builder = aws_sdk_dynamodb::Config::builder();
    Store::new(client(builder, url, &RoundTrips::default()), table)
}

/// A store reaching DynamoDB at `url` with the functions' timeouts (fault tests).
pub fn store_at(url: &str, table: &str, round_trips: &RoundTrips) -> Store {
    let builder = labgate::store::with_timeouts(aws_sdk_dynamodb::Config::builder());
    Store::new(client(builder, url, round_trips), table)
}

fn client(
    builder: aws_sdk_dynamodb::config::Builder,
    url: &str,
    round_trips: &RoundTrips,
) -> aws_sdk_dynamodb::Client {
    let config = builder
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "labgate-tests",
        ))
        .endpoint_url(url)
        .http_client(labgate::store::http_client())
        .interceptor(round_trips.clone())
        .interceptor(iam::IamRecorder)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Every item of the store's table (a consistent scan, all pages).
pub async fn scan_all(store: &Store) -> Vec<labgate::store::attr::Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

pub fn config(table: &str, vars: &[(&str, &str)]) -> Config {
    let white_label = format!(
        r#"[{{"api_url":"https://{WHITE_LABEL_HOST}","app_url":"{WHITE_LABEL_APP_URL}","cookie_domain":"school.test"}},
            {{"api_url":"https://{OTHER_WHITE_LABEL_HOST}","app_url":"https://labs.college.test"}}]"#
    );
    let mut env: HashMap<String, String> = HashMap::from([
        ("LABGATE_TABLE_NAME".into(), table.into()),
        ("LABGATE_API_URL".into(), format!("https://{API_HOST}")),
        ("LABGATE_APP_URL".into(), APP_URL.into()),
        ("LABGATE_COOKIE_DOMAIN".into(), "labgate.test".into()),
        ("LABGATE_DOMAINS".into(), white_label),
        ("LABGATE_SIGNING_KEY".into(), SIGNING_KEY.into()),
    ]);
    for (k, v) in vars {
        env.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration is valid")
}

pub struct TestEnv {
    pub state: AppState,
    pub round_trips: RoundTrips,
    pub client: ApiClient,
    /// A live API token of `client`.
    pub token: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::with_config(&[]).await
    }

    /// A fresh table with one client (role `admin` maps to `instructor`), a token and content.
    pub async fn with_config(vars: &[(&str, &str)]) -> Self {
        let table = format!("t-{}", uuid::Uuid::new_v4().simple());
        let round_trips = RoundTrips::default();
        let store = store(&table, &round_trips);
        Self::seeded(store, round_trips, vars).await
    }

    /// Like `new`, on the DynamoDB at `url`, with the functions' timeouts (fault tests).
    pub async fn at(url: &str) -> Self {
        let table = format!("t-{}", uuid::Uuid::new_v4().simple());
        let round_trips = RoundTrips::default();
        let store = store_at(url, &table, &round_trips);
        Self::seeded(store, round_trips, &[]).await
    }

    async fn seeded(store: Store, round_trips: RoundTrips, vars: &[(&str, &str)]) -> Self {
        let table = store.table().to_string();
        schema::create_table(&store)
            .await
            .expect("create the test table in DynamoDB Local");
        let client = seed_client(&store, "Acme LMS").await;
        let (_, token) = api_client::issue_token(&store, &client.id, "test", &[Scope::Launch])
            .await
            .unwrap()
            .unwrap();
        content::create_content(&store, &client.id, Some(CONTENT_ID), "Intro to DBs")
            .await
            .unwrap();
        round_trips.reset();
        TestEnv {
            state: AppState::new(config(&table, vars), store),
            round_trips,
            client,
            token: token.expose().to_string(),
        }
    }

    /// Deletes this env's table: a benchmark phase done, so that DynamoDB Local (which slows as
    /// it holds more) serves the next phase as fresh as the first.
    pub async fn delete_table(&self) {
        let _ = self
            .store()
            .client()
            .delete_table()
            .table_name(self.store().table())
            .send()
            .await;
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Turns TTL off for this env's table, so that the TTL sweeper (`labgate-ttl-sweeper`)
    /// leaves its expired items alone: for tests of what the code does while TTL has not yet
    /// deleted an expired item, which AWS may take days to do.
    pub async fn without_ttl(&self) {
        use aws_sdk_dynamodb::types::TimeToLiveSpecification;
        self.store()
            .client()
            .update_time_to_live()
            .table_name(self.store().table())
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(labgate::store::keys::EXPIRES_AT)
                    .enabled(false)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("TTL turned off");
    }

    /// `POST /api/v1/launch` with this env's token.
    pub async fn launch(&self, body: &serde_json::Value) -> TestResponse {
        self.launch_with(&self.token, API_HOST, body.to_string())
            .await
    }

    pub async fn launch_with(&self, token: &str, host: &str, body: String) -> TestResponse {
        let req = request("POST", host, "/api/v1/launch")
            .header("authorization", format!("Token {token}"))
            .header("content-type", "application/json")
            .body(Body::Text(body))
            .unwrap();
        self.call_launch(req).await
    }

    pub async fn call_launch(&self, req: Request) -> TestResponse {
        invoke(labgate::handlers::launch::handle, &self.state, req).await
    }

    pub async fn call_auth(&self, req: Request) -> TestResponse {
        invoke(labgate::handlers::launch_auth::handle, &self.state, req).await
    }

    pub async fn call_session(&self, req: Request) -> TestResponse {
        invoke(labgate::handlers::web_session::handle, &self.state, req).await
    }

    /// Follows a launch URL as a browser would: `GET` it on the host it names.
    pub async fn follow(&self, launch_url: &str, cookie: Option<&str>) -> TestResponse {
        let url = url::Url::parse(launch_url).unwrap();
        let mut req = request(
            "GET",
            url.host_str().unwrap(),
            &format!("{}?{}", url.path(), url.query().unwrap_or("")),
        );
        if let Some(cookie) = cookie {
            req = req.header("cookie", format!("labgate_session={cookie}"));
        }
        self.call_auth(req.body(Body::Empty).unwrap()).await
    }

    /// Sets the client's webhook (keeping its secret); the secret version in force.
    pub async fn set_webhook(&self, url: &str) -> i64 {
        let keep = labgate::events::delivery::Secret::Keep;
        labgate::events::delivery::set_webhook(
            self.store(),
            &self.client.id,
            url,
            keep,
            &self
                .state
                .config
                .require_signing_keys()
                .unwrap()
                .current()
                .id,
            labgate::clock::now(),
        )
        .await
        .unwrap()
        .number
    }

    /// Binds a white-label API host to this env's client (`labgate-admin client domain`).
    pub async fn bind(&self, host: &str) {
        assert!(
            labgate::tenant::bind_domain(self.store(), host, &self.client.id)
                .await
                .unwrap()
        );
    }

    /// `GET /api/v1/session` with a session cookie.
    pub async fn whoami(&self, cookie: &str) -> TestResponse {
        self.whoami_on(API_HOST, cookie).await
    }

    /// `GET /api/v1/session` on API host `host` with a session cookie.
    pub async fn whoami_on(&self, host: &str, cookie: &str) -> TestResponse {
        let req = request("GET", host, "/api/v1/session")
            .header("cookie", format!("labgate_session={cookie}"))
            .body(Body::Empty)
            .unwrap();
        self.call_session(req).await
    }

    /// Launch, then follow the URL: the session cookie's value.
    pub async fn login(&self, body: &serde_json::Value) -> String {
        let launched = self.launch(body).await;
        assert_eq!(launched.status, StatusCode::OK, "{}", launched.body);
        let followed = self
            .follow(launched.json()["url"].as_str().unwrap(), None)
            .await;
        assert_eq!(followed.status, StatusCode::FOUND, "{}", followed.body);
        followed.session_cookie().expect("a session cookie")
    }
}

pub async fn seed_client(store: &Store, name: &str) -> ApiClient {
    api_client::create_client(
        store,
        NewClient {
            name: name.into(),
            app_url: None,
            allowed_origins: vec!["https://lms.example.com".into()],
            role_mapping: BTreeMap::from([("admin".to_string(), "instructor".to_string())]),
            require_resource_id: false,
        },
    )
    .await
    .unwrap()
}

/// Calls an HTTP handler as the Lambda function that runs it (`iam::function_of`), so that the
/// DynamoDB calls it makes are recorded as that function's.
pub async fn invoke<'a, H, Fut>(handler: H, state: &'a AppState, req: Request) -> TestResponse
where
    H: FnOnce(&'a AppState, Request) -> Fut,
    Fut: std::future::Future<Output = Result<Response<Body>, lambda_http::Error>>,
{
    let function = iam::function_of(&handler);
    let response = iam::as_function(function, handler(state, req)).await;
    TestResponse::from(response.expect("handlers answer, they do not fail the runtime"))
}

/// A request as API Gateway (or `cargo lambda watch`) hands it to a function.
pub fn request(
    method: &str,
    host: &str,
    path_and_query: &str,
) -> lambda_http::http::request::Builder {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://{host}{path_and_query}"))
        .header("host", host)
}

/// A minimal launch payload for a user.
pub fn payload(user_id: &str) -> serde_json::Value {
    serde_json::json!({ "user_id": user_id, "content_id": CONTENT_ID })
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl From<Response<Body>> for TestResponse {
    fn from(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let body = match body {
            Body::Empty => String::new(),
            Body::Text(text) => text,
            Body::Binary(bytes) => String::from_utf8(bytes).expect("UTF-8 body"),
            _ => String::new(),
        };
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn session_cookie(&self) -> Option<String> {
        let set_cookie = self.header("set-cookie")?;
        let value = set_cookie.strip_prefix("labgate_session=")?;
        Some(value.split(';').next()?.to_string()).filter(|v| !v.is_empty())
    }

    /// Asserts a JSON error response: status, content type, no-store, and the exact body.
    pub fn assert_error(&self, status: StatusCode, body: serde_json::Value) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.json(), body);
    }
}

/// A tenant's robot for the workshop API, with a live bearer token.
pub struct Robot {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

pub const INDEX_URL: &str = "https://lms.example.com/workshops/";

impl TestEnv {
    /// Creates the tenant's robot and signs it in through `POST /oauth2/token/`.
    pub async fn robot(&self) -> Robot {
        self.robot_for(&self.client.id).await
    }

    pub async fn robot_for(&self, client_id: &str) -> Robot {
        let username = format!("robot-{}", uuid::Uuid::new_v4().simple());
        let creds = labgate::oauth::create_robot(self.store(), client_id, &username)
            .await
            .unwrap()
            .unwrap();
        let form = form(&[
            ("grant_type", "password"),
            ("username", &creds.username),
            ("password", creds.password.expose()),
            ("client_id", &creds.client_id),
            ("client_secret", creds.client_secret.expose()),
        ]);
        let res = self.call_token(form, None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let body = res.json();
        Robot {
            client_id: creds.client_id,
            client_secret: creds.client_secret.expose().to_string(),
            username: creds.username,
            password: creds.password.expose().to_string(),
            access_token: body["access_token"].as_str().unwrap().to_string(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    pub async fn call_token(&self, form: String, basic: Option<&str>) -> TestResponse {
        let mut req = request("POST", API_HOST, "/oauth2/token/")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(basic) = basic {
            req = req.header("authorization", format!("Basic {basic}"));
        }
        invoke(
            labgate::handlers::oauth_token::handle,
            &self.state,
            req.body(Body::Text(form)).unwrap(),
        )
        .await
    }

    pub async fn call_revoke(&self, form: String) -> TestResponse {
        let req = request("POST", API_HOST, "/oauth2/revoke-token/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::Text(form))
            .unwrap();
        invoke(labgate::handlers::oauth_revoke::handle, &self.state, req).await
    }

    /// An environment of this env's client (duration 1800 s unless `tune` says otherwise).
    pub async fn environment(
        &self,
        capacity: i64,
        tune: impl FnOnce(&mut labgate::workshop::environment::Environment),
    ) -> String {
        self.environment_for(&self.client.id, capacity, tune).await
    }

    pub async fn environment_for(
        &self,
        client_id: &str,
        capacity: i64,
        tune: impl FnOnce(&mut labgate::workshop::environment::Environment),
    ) -> String {
        use labgate::workshop::environment::{self, Environment, Workshop};
        let name = format!("lab-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let mut env = Environment {
            name: name.clone(),
            client_id: client_id.to_string(),
            workshop: Workshop {
                name: "lab-markdown-sample".into(),
                title: "Markdown Sample".into(),
                description: "A sample workshop".into(),
                vendor: "labgate".into(),
                authors: vec!["Ada".into()],
                difficulty: "beginner".into(),
                duration: "30m".into(),
                tags: vec!["sample".into()],
                labels: BTreeMap::from([("level".to_string(), "intro".to_string())]),
                logo: "".into(),
                url: "https://example.com/workshop".into(),
            },
            capacity,
            duration_secs: 1800,
            deadline_secs: 0,
            overtime_secs: 0,
            user_limit: 0,
            dashboard_url: "https://{session}.labs.example.com/".into(),
            created_at: 0,
        };
        tune(&mut env);
        assert!(environment::create(self.store(), &env).await.unwrap());
        name
    }

    /// A workshop API call with the robot's bearer token, through the given handler.
    pub async fn portal<F, Fut>(
        &self,
        handler: F,
        method: &str,
        path: &str,
        token: &str,
    ) -> TestResponse
    where
        F: FnOnce(&'static AppState, Request) -> Fut,
        Fut: std::future::Future<Output = Result<Response<Body>, lambda_http::Error>>,
    {
        self.portal_with_body(handler, method, path, token, Body::Empty)
            .await
    }

    pub async fn portal_with_body<F, Fut>(
        &self,
        handler: F,
        method: &str,
        path: &str,
        token: &str,
        body: Body,
    ) -> TestResponse
    where
        F: FnOnce(&'static AppState, Request) -> Fut,
        Fut: std::future::Future<Output = Result<Response<Body>, lambda_http::Error>>,
    {
        let mut req = request(method, API_HOST, path);
        if !token.is_empty() {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        // The handlers borrow the state for the call only; a leaked clone keeps the types simple.
        let state: &'static AppState = Box::leak(Box::new(self.state.clone()));
        invoke(handler, state, req.body(body).unwrap()).await
    }

    /// Requests a session through `GET /workshops/environment/<env>/request/?<query>`.
    pub async fn request_session(&self, token: &str, env: &str, query: &str) -> TestResponse {
        self.portal(
            labgate::handlers::session_request::handle,
            "GET",
            &format!("/workshops/environment/{env}/request/?{query}"),
            token,
        )
        .await
    }

    /// Follows an activation URL (relative, as the portal returns it) as a browser.
    pub async fn activate(&self, url: &str, cookie: Option<&str>) -> TestResponse {
        let mut req = request("GET", API_HOST, url);
        if let Some(cookie) = cookie {
            req = req.header("cookie", format!("labgate_session={cookie}"));
        }
        invoke(
            labgate::handlers::session_activate::handle,
            &self.state,
            req.body(Body::Empty).unwrap(),
        )
        .await
    }
}

/// A form-encoded body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `index_url=<INDEX_URL>` plus more query parameters.
pub fn query(extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("index_url", INDEX_URL)];
    pairs.extend_from_slice(extra);
    form(&pairs)
}

impl TestEnv {
    /// An API token of this env's client with the given scopes.
    pub async fn token_with(&self, scopes: &[Scope]) -> String {
        let (_, token) = api_client::issue_token(self.store(), &self.client.id, "scoped", scopes)
            .await
            .unwrap()
            .unwrap();
        token.expose().to_string()
    }

    /// The tenant's events so far (the outbox), oldest first.
    pub async fn events(&self) -> Vec<labgate::events::StoredEvent> {
        // Events are listed only under the user they name (no index partition holds a whole
        // tenant's), so the tests read the tenant's from the table itself, in order written.
        let items: Vec<_> = self
            .store()
            .client()
            .scan()
            .table_name(self.store().table())
            .consistent_read(true)
            .filter_expression("sk = :event AND client_id = :tenant")
            .expression_attribute_values(":event", attr::s(keys::event("").sk))
            .expression_attribute_values(":tenant", attr::s(&self.client.id))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap();
        let mut sorted: Vec<_> = items
            .iter()
            .map(|i| (attr::get_n(i, "sequence").unwrap_or(0), i))
            .collect();
        sorted.sort_by_key(|(sequence, _)| *sequence);
        sorted
            .into_iter()
            .map(|(_, i)| labgate::events::StoredEvent::from_item(i).unwrap())
            .collect()
    }

    /// Every item the tenant's `gsi1` partition lists, whole, by key (read from the table,
    /// strongly consistent): what any write to that partition would change.
    pub async fn tenant_partition(&self) -> BTreeMap<(String, String), labgate::store::attr::Item> {
        let partition = keys::client_partition(&self.client.id);
        scan_all(self.store())
            .await
            .into_iter()
            .filter(|i| {
                attr::opt_s(i, keys::GSI1_PK).unwrap().as_deref() == Some(partition.as_str())
            })
            .map(|i| {
                let key = (
                    attr::get_s(&i, keys::PK).unwrap(),
                    attr::get_s(&i, keys::SK).unwrap(),
                );
                (key, i)
            })
            .collect()
    }

    /// The types of the tenant's events so far.
    pub async fn event_types(&self) -> Vec<String> {
        self.events()
            .await
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    /// Every outbox insert the table's stream holds so far, read from DynamoDB Local's Streams
    /// API and handed over as the Lambda service hands a batch to a function (the `GetRecords`
    /// records its filter passes, plus `eventSourceARN`).
    pub async fn stream_batch(&self) -> aws_lambda_events::event::dynamodb::Event {
        streams::poll(self.store(), &mut Default::default())
            .await
            .expect("DynamoDB Local's stream is read")
    }

    /// A robot of this env's client and a live session of `user` in a new environment of
    /// capacity 3: (robot, session name).
    pub async fn session_of(&self, user: &str) -> (Robot, String) {
        let robot = self.robot().await;
        let lab = self.environment(3, |_| {}).await;
        let res = self
            .request_session(&robot.access_token, &lab, &query(&[("user", user)]))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let name = res.json()["name"].as_str().unwrap().to_string();
        (robot, name)
    }

    /// A deliverer as the dispatcher builds it, with short pauses between attempts.
    pub fn deliverer(&self) -> labgate::events::delivery::Deliverer {
        labgate::events::delivery::Deliverer::new(
            self.state.config.require_signing_keys().unwrap().clone(),
            labgate::events::delivery::Policy {
                attempts: 3,
                backoff: std::time::Duration::from_millis(20),
                timeout: std::time::Duration::from_secs(2),
                allow_private_analytics: self.state.config.allow_private_analytics_urls,
            },
        )
        .unwrap()
    }

    /// The event dispatcher's work on one stream batch, as that function.
    pub async fn dispatch(
        &self,
        batch: &aws_lambda_events::event::dynamodb::Event,
    ) -> Result<Vec<labgate::events::delivery::Delivery>, labgate::store::StoreError> {
        self.dispatch_with(&self.deliverer(), batch).await
    }

    /// The event dispatcher's work on one stream batch with `deliverer`: a warm instance's,
    /// which keeps what it holds (a gradebook's access token) from one batch to the next.
    pub async fn dispatch_with(
        &self,
        deliverer: &labgate::events::delivery::Deliverer,
        batch: &aws_lambda_events::event::dynamodb::Event,
    ) -> Result<Vec<labgate::events::delivery::Delivery>, labgate::store::StoreError> {
        let work = labgate::events::dispatch::dispatch(self.store(), deliverer, batch);
        iam::as_function("event-dispatcher", work).await
    }

    /// Holds slots `range` of environment `lab` for an hour, as running sessions would (written
    /// straight to the table, without sessions, events or counts).
    pub async fn hold_slots(&self, lab: &str, range: std::ops::Range<i64>) {
        use labgate::workshop::slot::{self, Slot};
        let now = labgate::clock::now();
        let items = range
            .map(|index| {
                Slot {
                    index,
                    generation: 1,
                    session: slot::session_name(lab, index, 0),
                    user: format!("holder-{index}"),
                    state: "running".into(),
                    started: Some(now),
                    held_until: now + 3600,
                }
                .to_item(lab)
            })
            .collect();
        write_all(self.store(), items).await;
    }

    /// The session counter's work on everything the stream holds so far, as that function
    /// (what the Lambda service would have handed it by now; counted events are not counted
    /// again, so calling this twice is the retried batch).
    pub async fn count_sessions(&self) -> labgate::workshop::counts::Report {
        let batch = self.stream_batch().await;
        let work = labgate::workshop::counts::count(self.store(), &batch);
        iam::as_function("session-counter", work).await.unwrap()
    }

    /// One run of the reaper at `now`, as that function.
    pub async fn reap(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<labgate::workshop::reaper::Report, labgate::store::tx::TxError> {
        let work = labgate::workshop::reaper::reap(self.store(), now, limit);
        iam::as_function("reaper", work).await
    }

    /// The client's webhook secret as `labgate-admin client webhook` shows it, derived from the
    /// key in force.
    pub fn webhook_secret(&self, version: i64) -> String {
        let keys = self.state.config.require_signing_keys().unwrap();
        labgate::events::signing::display_secret(&labgate::events::signing::client_secret(
            keys.current().bytes(),
            &self.client.id,
            version,
        ))
    }
}

/// Writes `count` pending sessions of environment `environment` (tenant `client_id`) whose
/// activation deadline was `until`, each with its user's map naming it, straight to the table
/// (`BatchWriteItem`), as allocation leaves them: overdue work for the reaper's tests and its
/// benchmark, without `count` requests. The names are `<environment>-s<i>` from `first`.
pub async fn seed_overdue(
    store: &Store,
    (client_id, environment): (&str, &str),
    (first, count): (usize, usize),
    until: i64,
) -> Vec<String> {
    use labgate::store::attr::{self, Item};
    use labgate::workshop::session::{PENDING, UserSession, WorkshopSession};
    let mut items = Vec::with_capacity(count * 2);
    let mut names = Vec::with_capacity(count);
    for i in first..first + count {
        let name = format!("{environment}-s{:03}", i + 1);
        let user = format!("seeded-{i}");
        let session = WorkshopSession {
            name: name.clone(),
            environment: environment.to_string(),
            client_id: client_id.to_string(),
            user: user.clone(),
            state: PENDING.to_string(),
            token_digest: None,
            until,
            started: None,
            slot: i as i64,
            index_url: INDEX_URL.to_string(),
            analytics_url: None,
            parameters: Vec::new(),
            dashboard_url: format!("https://{name}.labs.example.com/"),
            workshop: "lab-markdown-sample".to_string(),
            duration_secs: 1800,
            deadline_secs: 0,
            overtime_secs: 0,
            end_reason: None,
        };
        items.push(session.to_item(until - 60));
        let entry = UserSession {
            environment: environment.to_string(),
            workshop: session.workshop.clone(),
            state: PENDING.to_string(),
            started: None,
            until,
        };
        let mut user_item = labgate::store::keys::user(client_id, &user).item();
        user_item.insert(
            "ws".into(),
            aws_sdk_dynamodb::types::AttributeValue::M(Item::from([(
                name.clone(),
                entry.to_attr(),
            )])),
        );
        user_item.insert("ws_version".into(), attr::n(1));
        items.push(user_item);
        names.push(name);
    }
    write_all(store, items).await;
    names
}

/// Puts `items` with `BatchWriteItem` until DynamoDB has taken them all (`store::put_batch`).
pub async fn write_all(store: &Store, items: Vec<labgate::store::attr::Item>) {
    labgate::store::put_batch(store, items)
        .await
        .expect("BatchWriteItem on DynamoDB Local");
}
