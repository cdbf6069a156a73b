//! Cross-site requests and forced logins (issue 12, item 2): the exit link ends a session only
//! on a same-site request or a confirmed post; a one-time link opened in a browser signed in as
//! someone else asks first, and only the confirmed post uses it.

#![recursion_limit = "256"]

use labgate::handlers;
use labgate_tests::*;
use lambda_http::Body;
use lambda_http::http::StatusCode;

/// The hidden fields of a confirmation page, as a form body.
fn confirmation_form(page: &str) -> String {
    let mut pairs = Vec::new();
    for input in page.split("<input type=\"hidden\" ").skip(1) {
        let attr = |name: &str| {
            let start = input.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            let value = &input[start..];
            let value = &value[..value.find('"').unwrap()];
            value.replace("&amp;", "&").replace("&quot;", "\"")
        };
        pairs.push((attr("name"), attr("value")));
    }
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form(&refs)
}

fn post(path: &str, cookie: &str, body: String) -> lambda_http::Request {
    request("POST", API_HOST, path)
        .header("cookie", format!("labgate_session={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(Body::Text(body))
        .unwrap()
}

#[tokio::test]
async fn the_exit_link_ends_a_session_only_from_this_site_or_after_a_confirmed_post() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(1, |_| {}).await;
    let s = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "u1")]))
        .await
        .json();
    let name = s["name"].as_str().unwrap().to_string();
    let cookie = env
        .activate(s["url"].as_str().unwrap(), None)
        .await
        .session_cookie()
        .unwrap();
    let path = format!("/workshops/session/{name}/delete/");
    let schedule = format!("/workshops/session/{name}/schedule/");
    let live = || async {
        env.portal(
            handlers::session_schedule::handle,
            "GET",
            &schedule,
            &robot.access_token,
        )
        .await
        .status
            == StatusCode::OK
    };

    // A page on another site sends the browser there (top-level, so the Lax cookie goes too),
    // and a browser that says nothing: both get a page that asks; the session lives on.
    // Another host of the same site (a dashboard where learners run code) asks too.
    for site in [Some("cross-site"), Some("same-site"), None] {
        let mut req =
            request("GET", API_HOST, &path).header("cookie", format!("labgate_session={cookie}"));
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        let res = invoke(
            handlers::session_delete::handle,
            &env.state,
            req.body(Body::Empty).unwrap(),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{site:?}");
        assert!(
            res.body.contains("End your workshop session?"),
            "{}",
            res.body
        );
        assert!(live().await, "{site:?}: the session still runs");
    }

    // A post without the page's token (what another site could send) asks again.
    let forged = post(
        &path,
        &cookie,
        form(&[("confirm", "0".repeat(64).as_str())]),
    );
    let res = invoke(handlers::session_delete::handle, &env.state, forged).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(live().await);

    // The page's own post ends it.
    let page = invoke(
        handlers::session_delete::handle,
        &env.state,
        request("GET", API_HOST, &path)
            .header("cookie", format!("labgate_session={cookie}"))
            .body(Body::Empty)
            .unwrap(),
    )
    .await;
    let confirmed = post(&path, &cookie, confirmation_form(&page.body));
    let res = invoke(handlers::session_delete::handle, &env.state, confirmed).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    assert!(!live().await);
}

#[tokio::test]
async fn a_launch_link_for_another_user_asks_before_replacing_the_browsers_session() {
    let env = TestEnv::new().await;
    let alice = env.login(&payload("alice")).await;
    let link = env.launch(&payload("mallory")).await.json()["url"]
        .as_str()
        .unwrap()
        .to_string();

    // Alice's browser opens Mallory's link: a page asks; the link is not used, Alice stays.
    env.round_trips.reset();
    let asked = env.follow(&link, Some(&alice)).await;
    assert_eq!(
        env.round_trips.count(),
        1,
        "token and session read together"
    );
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("Open this lab as another user?"));
    assert!(asked.header("set-cookie").is_none());
    let who = env.whoami(&alice).await.json();
    assert_eq!(who["user"]["external_id"], "alice");

    // A forged post (no token from the page) asks again; the page's own post switches users.
    let forged = form(&[(
        "token",
        link.split("token=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap(),
    )]);
    let res = env
        .call_auth(post("/api/v1/launch/auth", &alice, forged))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = env
        .call_auth(post(
            "/api/v1/launch/auth",
            &alice,
            confirmation_form(&asked.body),
        ))
        .await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    let mallory = res.session_cookie().unwrap();
    assert_eq!(env.whoami(&alice).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        env.whoami(&mallory).await.json()["user"]["external_id"],
        "mallory"
    );

    // The same user relaunching, or a browser with no session, goes straight through.
    let again = env.launch(&payload("mallory")).await.json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    env.round_trips.reset();
    assert_eq!(
        env.follow(&again, Some(&mallory)).await.status,
        StatusCode::FOUND
    );
    assert_eq!(
        env.round_trips.count(),
        2,
        "token and session read together, then one transaction"
    );
    let fresh = env.launch(&payload("bob")).await.json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.follow(&fresh, None).await.status, StatusCode::FOUND);
}

#[tokio::test]
async fn an_activation_link_for_another_user_asks_before_replacing_the_browsers_session() {
    let env = TestEnv::new().await;
    let robot = env.robot().await;
    let lab = env.environment(2, |_| {}).await;
    let alice = env.login(&payload("alice")).await;
    let s = env
        .request_session(&robot.access_token, &lab, &query(&[("user", "mallory")]))
        .await
        .json();
    let url = s["url"].as_str().unwrap().to_string();

    let asked = env.activate(&url, Some(&alice)).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("Start this workshop as another user?"));
    assert_eq!(
        env.whoami(&alice).await.json()["user"]["external_id"],
        "alice"
    );

    let path = url.split('?').next().unwrap().to_string();
    let res = invoke(
        handlers::session_activate::handle,
        &env.state,
        post(&path, &alice, confirmation_form(&asked.body)),
    )
    .await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    assert_eq!(env.whoami(&alice).await.status, StatusCode::UNAUTHORIZED);
}
