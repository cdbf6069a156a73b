//! Indexes by purpose (issue 13, item 4): a learner's launches, sessions and events write no
//! partition of the whole tenant; users are found by email, live sessions by tenant and dead
//! letters through sparse keys-only listings; and `labgate-admin table upgrade` files a table
//! written before them.

#![recursion_limit = "256"]

use labgate::events::delivery;
use labgate::handlers;
use labgate::store::attr::{self, Item};
use labgate::store::keys;
use labgate::workshop::session;
use labgate::{events, user};
use labgate_tests::receiver::Receiver;
use labgate_tests::*;
use lambda_http::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_learners_launch_session_and_events_write_nothing_listed_for_the_whole_tenant() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(4, |_| {}).await;
    let receiver = Receiver::start(&[]).await;
    env.set_webhook(&receiver.url).await;
    // From a learner's first launch (a new user, a team joined) on: the rush a class brings.
    let before = env.tenant_partition().await;
    assert!(!before.is_empty(), "the tenant's own items are listed");
    let first = json!({"user_id": "u1", "content_id": CONTENT_ID, "email": "Ada@Example.org",
                       "teams": ["Class A"]});

    for round in 0..2 {
        let launched = env.launch(&first).await;
        assert_eq!(launched.status, StatusCode::OK, "{}", launched.body);
        let url = launched.json()["url"].as_str().unwrap().to_string();
        assert_eq!(env.follow(&url, None).await.status, StatusCode::FOUND);
        let extra = [("user", "u2"), ("email", "grace@example.org")];
        let res = env
            .request_session(&robot.access_token, &lab, &query(&extra))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let granted = res.json();
        let name = granted["name"].as_str().unwrap().to_string();
        let activated = env.activate(granted["url"].as_str().unwrap(), None).await;
        assert_eq!(activated.status, StatusCode::FOUND, "{}", activated.body);
        let live = session::list(env.store(), &env.client.id, Some(&lab))
            .await
            .unwrap();
        assert_eq!(
            live.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            vec![name.as_str()],
            "round {round}: the live session is listed for its tenant"
        );
        let ended = env
            .portal(
                handlers::session_terminate::handle,
                "GET",
                &format!("/workshops/session/{name}/terminate/"),
                &robot.access_token,
            )
            .await;
        assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
        env.dispatch(&env.stream_batch().await).await.unwrap();
    }

    assert_eq!(
        env.tenant_partition().await,
        before,
        "two launches, redemptions, sessions, activations, ends and their deliveries changed \
         nothing the tenant's index partition lists"
    );
    assert!(
        session::list(env.store(), &env.client.id, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        delivery::list(env.store(), &env.client.id)
            .await
            .unwrap()
            .is_empty()
    );
    let teams = user::teams(env.store(), &env.client.id).await.unwrap();
    assert_eq!(teams, vec!["Class A"]);
    let users = user::list_users(env.store(), &env.client.id).await.unwrap();
    let ids: Vec<_> = users.iter().map(|u| u.external_id.as_str()).collect();
    assert_eq!(ids, vec!["u1", "u2"]);
    for (email, id) in [("ada@example.org", "u1"), ("GRACE@example.ORG", "u2")] {
        let found = user::find_by_email(env.store(), &env.client.id, email)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{email}");
        assert_eq!(found[0].external_id, id);
    }
    assert!(
        user::find_by_email(env.store(), &env.client.id, "nobody@example.org")
            .await
            .unwrap()
            .is_empty()
    );
    let theirs = events::list_for_user(env.store(), &env.client.id, "u2")
        .await
        .unwrap();
    assert_eq!(
        theirs
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["session.allocated", "session.activated", "session.ended"].repeat(2),
        "a user's events are listed under them, in order"
    );
}

#[tokio::test]
async fn a_changed_email_moves_the_user_and_another_tenants_address_is_not_found() {
    let env = TestEnv::new().await;
    let launch = |email: &str| json!({"user_id": "u1", "content_id": CONTENT_ID, "email": email});
    env.launch(&launch("old@example.org")).await;
    env.launch(&launch("new@example.org")).await;
    let by = |email: &'static str| user::find_by_email(env.store(), &env.client.id, email);
    assert!(by("old@example.org").await.unwrap().is_empty());
    assert_eq!(by("new@example.org").await.unwrap()[0].external_id, "u1");
    let other = seed_client(env.store(), "Other").await;
    let found = user::find_by_email(env.store(), &other.id, "new@example.org")
        .await
        .unwrap();
    assert!(found.is_empty(), "users by email are per tenant");
}

/// Items as labgate wrote them before the purpose indexes: listed in the tenant's `gsi1`
/// partition, no `gsi3` keys.
fn old_items(tenant: &str, lab: &str) -> Vec<Item> {
    let listed = |key: keys::Key,
                  sort: String,
                  extra: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>| {
        let mut item = key.item();
        item.insert(
            keys::GSI1_PK.into(),
            attr::s(keys::client_partition(tenant)),
        );
        item.insert(keys::GSI1_SK.into(), attr::s(sort));
        item.insert("client_id".into(), attr::s(tenant));
        item.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        item
    };
    let name = format!("{lab}-s001");
    let mut session = session::WorkshopSession {
        name: name.clone(),
        environment: lab.to_string(),
        client_id: tenant.to_string(),
        user: "old-learner".into(),
        state: session::RUNNING.into(),
        token_digest: None,
        until: labgate::clock::now() + 3600,
        started: Some(labgate::clock::now()),
        slot: 0,
        index_url: INDEX_URL.into(),
        analytics_url: None,
        parameters: Vec::new(),
        dashboard_url: "https://labs.example.org/".into(),
        workshop: "w".into(),
        duration_secs: 3600,
        deadline_secs: 0,
        overtime_secs: 0,
        end_reason: None,
    }
    .to_item(labgate::clock::now());
    for name in [keys::GSI3_PK, keys::GSI3_SK] {
        session.remove(name);
    }
    session.insert(
        keys::GSI1_PK.into(),
        attr::s(keys::client_partition(tenant)),
    );
    session.insert(
        keys::GSI1_SK.into(),
        attr::s(format!("SESSION#{lab}#{name}")),
    );
    let body =
        json!({"id": "evt_old", "type": "session.allocated", "data": {"user": "old-learner"}});
    let mut slot = labgate::workshop::slot::Slot {
        index: 0,
        generation: 0,
        session: name.clone(),
        user: "old-learner".into(),
        state: session::RUNNING.into(),
        started: None,
        held_until: labgate::clock::now() + 3600,
    }
    .to_item(lab);
    slot.insert(
        keys::GSI1_PK.into(),
        attr::s(keys::client_partition(tenant)),
    );
    slot.insert(keys::GSI1_SK.into(), attr::s(format!("LIVE#{lab}#00000")));
    let mut member = keys::team_member(tenant, "Class #1", "old-learner").item();
    member.extend([
        ("team_name".to_string(), attr::s("Class #1")),
        ("client_id".to_string(), attr::s(tenant)),
        ("external_id".to_string(), attr::s("old-learner")),
        ("joined_at".to_string(), attr::n(1_700_000_000)),
        (
            keys::GSI1_PK.to_string(),
            attr::s(keys::client_partition(tenant)),
        ),
        (
            keys::GSI1_SK.to_string(),
            attr::s("TEAM#Class #1#old-learner"),
        ),
    ]);
    // A user with an address whose old listing a request dropped before the upgrade ran.
    let mut unlisted = keys::user(tenant, "dropped").item();
    unlisted.extend([
        ("external_id".to_string(), attr::s("dropped")),
        ("client_id".to_string(), attr::s(tenant)),
        (
            "user_id".to_string(),
            attr::s("3b1e0c1e-0000-4000-8000-000000000002"),
        ),
        ("email".to_string(), attr::s("dropped@example.org")),
        (
            keys::GSI2_PK.to_string(),
            attr::s(keys::user_listing(tenant)),
        ),
        (keys::GSI2_SK.to_string(), attr::s("dropped")),
    ]);
    vec![
        member,
        unlisted,
        slot,
        listed(
            keys::user(tenant, "old-learner"),
            "USER#old-learner".into(),
            vec![
                ("external_id", attr::s("old-learner")),
                ("user_id", attr::s("3b1e0c1e-0000-4000-8000-000000000001")),
                ("email", attr::s("Old@Example.org")),
            ],
        ),
        session,
        listed(
            keys::event("evt_old"),
            "EVENT#000001700000000#evt_old".into(),
            vec![
                ("event_id", attr::s("evt_old")),
                ("event_type", attr::s("session.allocated")),
                ("body", attr::s(body.to_string())),
                ("created_at", attr::n(1_700_000_000)),
            ],
        ),
        listed(
            keys::delivery("evt_old", "webhook"),
            "DELIVERY#failed#000001700000000#evt_old#webhook".into(),
            vec![
                ("event_id", attr::s("evt_old")),
                ("target", attr::s("webhook")),
                ("url", attr::s("https://hooks.example.org/")),
                ("status", attr::s(delivery::FAILED)),
                ("attempts", attr::n(3)),
                ("updated_at", attr::n(1_700_000_000)),
            ],
        ),
        listed(
            keys::delivery("evt_old", "analytics"),
            "DELIVERY#delivered#000001700000000#evt_old#analytics".into(),
            vec![
                ("event_id", attr::s("evt_old")),
                ("target", attr::s("analytics")),
                ("url", attr::s("https://analytics.example.org/")),
                ("status", attr::s(delivery::DELIVERED)),
                ("attempts", attr::n(1)),
                ("updated_at", attr::n(1_700_000_000)),
            ],
        ),
    ]
}

#[tokio::test]
async fn table_upgrade_needs_the_index_and_changes_nothing_without_it() {
    let env = TestEnv::new().await;
    // A table as it was before `gsi3`: the definition without it.
    env.delete_table().await;
    let mut old = labgate::store::schema::TABLE;
    old.global_indexes = &old.global_indexes[..2];
    labgate::store::schema::create_table_as(env.store(), &old)
        .await
        .unwrap();
    let items = old_items(&env.client.id, "old-lab");
    labgate::store::put_batch(env.store(), items.clone())
        .await
        .unwrap();
    let err = labgate::migrate::upgrade(env.store()).await.unwrap_err();
    assert!(err.to_string().contains("no index gsi3"), "{err}");
    let mut after = scan_all(env.store()).await;
    let mut before = items;
    let key = |i: &Item| format!("{:?}{:?}", i.get(keys::PK), i.get(keys::SK));
    after.sort_by_key(key);
    before.sort_by_key(key);
    assert_eq!(after, before, "nothing re-filed");
}

#[tokio::test]
async fn table_upgrade_files_what_was_written_before_the_purpose_indexes() {
    let env = TestEnv::new().await;
    let tenant = env.client.id.clone();
    let lab = "old-lab";
    let robot = env.robot().await;
    let new_lab = env.environment(2, |_| {}).await;
    let own = env.tenant_partition().await;
    let items = old_items(&tenant, lab);
    labgate::store::put_batch(env.store(), items).await.unwrap();

    // Between the deploy and the upgrade, a workshop request names another address for a user
    // who has one: the user keeps theirs (as Educates does), and is listed under it after.
    let extra = [("user", "dropped"), ("email", "other@example.org")];
    let res = env
        .request_session(&robot.access_token, &new_lab, &query(&extra))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let refiled = labgate::migrate::upgrade(env.store()).await.unwrap();
    assert_eq!(
        refiled.into_iter().collect::<Vec<_>>(),
        vec![
            ("deliveries", 2),
            ("events", 1),
            ("sessions", 1),
            ("slots", 1),
            ("team memberships", 1),
            ("users", 2)
        ]
    );
    let again = labgate::migrate::upgrade(env.store()).await.unwrap();
    assert!(again.is_empty(), "a second run changes nothing: {again:?}");
    assert_eq!(
        env.tenant_partition().await,
        own,
        "nothing of a learner's is listed for the whole tenant any more"
    );

    let store = env.store();
    let users = user::list_users(store, &tenant).await.unwrap();
    let ids: Vec<_> = users.iter().map(|u| u.external_id.as_str()).collect();
    assert_eq!(ids, vec!["dropped", "old-learner"]);
    let found = user::find_by_email(store, &tenant, "dropped@example.org")
        .await
        .unwrap();
    assert_eq!(found[0].external_id, "dropped");
    let other = user::find_by_email(store, &tenant, "other@example.org")
        .await
        .unwrap();
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(user::teams(store, &tenant).await.unwrap(), vec!["Class #1"]);
    let found = user::find_by_email(store, &tenant, "old@example.org")
        .await
        .unwrap();
    assert_eq!(found[0].external_id, "old-learner");
    let live = session::list(store, &tenant, Some(lab)).await.unwrap();
    assert_eq!(live[0].name, format!("{lab}-s001"));
    let theirs = session::list_for_user(store, &tenant, "old-learner")
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    let events = events::list_for_user(store, &tenant, "old-learner")
        .await
        .unwrap();
    assert_eq!(events[0].id, "evt_old");
    let dead = delivery::list(store, &tenant).await.unwrap();
    assert_eq!(
        dead.iter().map(|d| d.target.as_str()).collect::<Vec<_>>(),
        vec!["webhook"],
        "only the failed delivery is a dead letter"
    );
}
