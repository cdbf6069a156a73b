//! Activation: the activation token is used once, by the rule of every one-time secret
//! (`one_time`): a conditional update that removes its digest from the session, inside the
//! transaction that logs the browser in. A pending session's clock starts then; a reacquired
//! running session keeps its own.

use super::{
    ENDED, LIVE_SESSION, NEVER, PENDING, RUNNING, SET_DEADLINE, WorkshopSession, deadline_values,
    retain_until, user_map,
};
use crate::events::EventType;
use crate::one_time::{self, DIGEST_MATCHES};
use crate::secrets::{Digest, Secret};
use crate::store::attr::{self, Item};
use crate::store::conditions::NOW;
use crate::store::fields::*;
use crate::store::keys;
use crate::store::tx::{self, TxError, item, names};
use crate::store::{Store, StoreError};
use crate::web_session::{self, Origin};
use crate::workshop::slot;
use aws_sdk_dynamodb::types::TransactWriteItem;

/// Uses the presented token on `session`, starts its clock if it was pending and starts a web
/// session for its user, ending the browser's old one (`old_cookie`), all in one transaction.
/// `None` if the token is not (or no longer) good: unknown, used, or past the deadline, or
/// another activation won meanwhile.
pub async fn activate(
    store: &Store,
    (session, host): (&WorkshopSession, &str),
    presented: &str,
    old_cookie: Option<&str>,
    web_session_ttl_secs: i64,
) -> Result<Option<(WorkshopSession, Secret)>, TxError> {
    let now = crate::clock::now();
    let table = store.table();
    let Some((activated, mut items)) = activation_items(table, session, presented, now)? else {
        return Ok(None);
    };
    let origin = Origin::WorkshopSession(activated.name.clone());
    let (cookie, login) = web_session::start(
        table,
        (host, &activated.client_id, &activated.user),
        &origin,
        web_session_ttl_secs,
    )?;
    items.push(login);
    items.push(crate::disable::not_disabled(table, &activated.client_id)?);
    items.extend(web_session::end_old(table, old_cookie)?);
    match tx::transact(store, "TransactWriteItems activate workshop session", items).await {
        Ok(()) => Ok(Some((activated, cookie))),
        Err(TxError::Condition { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The transaction items that use an activation token up and start the session clock if the
/// session was pending. `None`: the token is not good for this session.
fn activation_items(
    table: &str,
    session: &WorkshopSession,
    presented: &str,
    now: i64,
) -> Result<Option<(WorkshopSession, Vec<TransactWriteItem>)>, StoreError> {
    let kept = session.token_digest.as_deref();
    if !(session.is_live(now) && one_time::matches_kept(kept, presented)) {
        return Ok(None);
    }
    let digest = Digest::of(presented);
    let mut activated = session.clone();
    activated.token_digest = None;
    if session.state != PENDING {
        let values = token_values(&digest, now);
        let used = use_token(table, session, "REMOVE token_digest", values)?;
        return Ok(Some((activated, vec![used])));
    }
    let until = if session.duration_secs > 0 {
        now + session.duration_secs
    } else {
        NEVER
    };
    activated.state = RUNNING.to_string();
    activated.started = Some(now);
    activated.until = until;
    let items = vec![
        start_clock(table, session, &digest, now, until)?,
        slot::start(table, session.holder(), now, until)?,
        user_map::update_entry(table, &activated, now)?,
        activated
            .event(EventType::SessionActivated, serde_json::json!({}))
            .outbox(table)?,
    ];
    Ok(Some((activated, items)))
}

fn token_values(digest: &Digest, now: i64) -> Item {
    Item::from([
        (":digest".to_string(), attr::s(digest.as_str())),
        (":ended".to_string(), attr::s(ENDED)),
        (NOW.to_string(), attr::n(now)),
    ])
}

/// An update of the session that applies only while it is live and the token is unused.
fn use_token(
    table: &str,
    session: &WorkshopSession,
    expression: &str,
    values: Item,
) -> Result<TransactWriteItem, StoreError> {
    item::update_if(
        table,
        &keys::workshop_session(&session.name),
        expression,
        values,
        Some(names(&[("#state", STATE), ("#until", UNTIL)])),
        &format!("{LIVE_SESSION} AND {DIGEST_MATCHES}"),
    )
}

/// Uses the token and starts a pending session's clock: running until `until`.
fn start_clock(
    table: &str,
    session: &WorkshopSession,
    digest: &Digest,
    now: i64,
    until: i64,
) -> Result<TransactWriteItem, StoreError> {
    let mut values = token_values(digest, now);
    values.extend([
        (":running".to_string(), attr::s(RUNNING)),
        (":until".to_string(), attr::n(until)),
        (":retain".to_string(), attr::n(retain_until(until))),
    ]);
    values.extend(deadline_values(until, &session.name));
    let expression = format!(
        "SET #state = :running, started = :now, #until = :until, expires_at = :retain, \
         {SET_DEADLINE} REMOVE token_digest"
    );
    use_token(table, session, &expression, values)
}

/// A session's one-time activation link, relative to the API URL, as Educates gives it:
/// `/workshops/session/<name>/activate/?token=…&index_url=…`.
pub fn activation_path(session: &str, token: &Secret, index_url: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token.expose())
        .append_pair("index_url", index_url)
        .finish();
    format!("/workshops/session/{session}/activate/?{query}")
}
