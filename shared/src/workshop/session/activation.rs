//! Activation: the activation token is used once (a conditional update that removes its digest,
//! inside the transaction that starts the session), and a pending session's clock starts.

use super::{
    ENDED, LIVE_SESSION, NEVER, PENDING, RUNNING, WorkshopSession, retain_until, user_map,
};
use crate::events::EventType;
use crate::one_time::{self, DIGEST_MATCHES};
use crate::secrets::Digest;
use crate::store::StoreError;
use crate::store::attr::{self, Item};
use crate::store::conditions::NOW;
use crate::store::keys;
use crate::store::tx::{item, names};
use crate::workshop::slot;
use aws_sdk_dynamodb::types::TransactWriteItem;

/// The transaction items that use an activation token up and start the session clock if the
/// session was pending (a reacquired running session keeps its clock). `None`: the token is
/// not (or no longer) good for this session.
pub fn activation_items(
    table: &str,
    session: &WorkshopSession,
    presented: &str,
    now: i64,
) -> Result<Option<(WorkshopSession, Vec<TransactWriteItem>)>, StoreError> {
    if !(session.is_live(now) && one_time::matches_kept(session.token_digest.as_deref(), presented))
    {
        return Ok(None);
    }
    let digest = Digest::of(presented);
    let mut activated = session.clone();
    activated.token_digest = None;
    let mut values = Item::from([
        (":digest".to_string(), attr::s(digest.as_str())),
        (":ended".to_string(), attr::s(ENDED)),
        (NOW.to_string(), attr::n(now)),
    ]);
    let names_all = names(&[("#state", "state"), ("#until", "until")]);
    let condition = format!("{LIVE_SESSION} AND {DIGEST_MATCHES}");
    if session.state != PENDING {
        let items = vec![item::update_if(
            table,
            &keys::workshop_session(&session.name),
            "REMOVE token_digest",
            values,
            Some(names_all),
            &condition,
        )?];
        return Ok(Some((activated, items)));
    }
    let until = if session.duration_secs > 0 {
        now + session.duration_secs
    } else {
        NEVER
    };
    activated.state = RUNNING.to_string();
    activated.started = Some(now);
    activated.until = until;
    values.extend([
        (":running".to_string(), attr::s(RUNNING)),
        (":until".to_string(), attr::n(until)),
        (":retain".to_string(), attr::n(retain_until(until))),
        (
            ":deadline".to_string(),
            attr::s(keys::deadline(until, &session.name)),
        ),
    ]);
    let items = vec![
        item::update_if(
            table,
            &keys::workshop_session(&session.name),
            "SET #state = :running, started = :now, #until = :until, expires_at = :retain, \
             gsi2sk = :deadline REMOVE token_digest",
            values,
            Some(names_all),
            &condition,
        )?,
        slot::start(
            table,
            &session.environment,
            session.slot,
            &session.name,
            now,
            until,
        )?,
        user_map::update_entry(table, &activated, now)?,
        activated
            .event(EventType::SessionActivated, serde_json::json!({}))
            .outbox(table)?,
    ];
    Ok(Some((activated, items)))
}
