//! Capacity slots: the rule for capacity.
//!
//! An environment of capacity N has up to N slot items in its partition. A live session holds
//! one: the slot's `held_until` is the session's activation deadline while it is pending and its
//! expiry once it runs. A slot that is absent or past `held_until` is free, so a session that
//! misses its deadline stops counting against capacity that very second, whether or not anything
//! has cleaned it up, and allocation claims a slot by a condition (`FREE_AT_GENERATION`) inside
//! its transaction: of racing requests for one slot exactly one wins. Every later change to a
//! slot is conditional on its still being held by the session that changes it (`HELD_BY`).
//!
//! Slots have no `expires_at`: TTL would delete a freed slot some time after its holder's
//! deadline, and with it the generation that numbers the slot's next session (names would
//! repeat). There are at most `capacity` of them per environment, so nothing accumulates.

use super::{ENDED, RUNNING};
use crate::store::attr::{self, Item};
use crate::store::conditions::NOW;
use crate::store::fields::*;
use crate::store::keys::{self, GSI1_PK, GSI1_SK};
use crate::store::tx::{item, names};
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// The slot still belongs to this session.
const HELD_BY: &str = "#session = :name";
/// The slot as read: never held, or free (its holder's time is up) at the generation read.
const FREE_AT_GENERATION: &str =
    "attribute_not_exists(pk) OR (held_until <= :now AND generation = :generation)";

/// Session numbers per slot generation: a slot's sessions are numbered `generation * 1000 +
/// index + 1`, so numbers never repeat while capacity stays at most this.
pub const MAX_CAPACITY: i64 = 999;

/// The slot attribute saying until when its holder has it. Not the table's TTL attribute: a
/// slot is never deleted, and a freed slot keeps its `generation`, which numbers its next session.
pub const HELD_UNTIL: &str = "held_until";

/// A slot: who holds it and until when. It also serves the catalog's session list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub index: i64,
    /// How many sessions have held this slot.
    pub generation: i64,
    pub session: String,
    pub user: String,
    /// `pending` or `running`.
    pub state: String,
    pub started: Option<i64>,
    pub held_until: i64,
}

impl Slot {
    pub fn is_live(&self, now: i64) -> bool {
        self.held_until > now
    }

    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        Ok(Slot {
            index: attr::get_n(item, SLOT)?,
            generation: attr::opt_n(item, GENERATION)?.unwrap_or(0),
            session: attr::get_s(item, SESSION)?,
            user: attr::get_s(item, USER)?,
            state: attr::get_s(item, STATE)?,
            started: attr::opt_n(item, STARTED)?,
            held_until: attr::get_n(item, HELD_UNTIL)?,
        })
    }

    /// The slot's item in environment `environment` of tenant `tenant_id`.
    pub fn to_item(&self, environment: &str, tenant_id: &str) -> Item {
        let mut item = keys::slot(environment, self.index).item();
        item.extend([
            (KIND.to_string(), attr::s("slot")),
            (ENVIRONMENT.to_string(), attr::s(environment)),
            (SLOT.to_string(), attr::n(self.index)),
            (GENERATION.to_string(), attr::n(self.generation)),
            (SESSION.to_string(), attr::s(&self.session)),
            (USER.to_string(), attr::s(&self.user)),
            (STATE.to_string(), attr::s(&self.state)),
            (HELD_UNTIL.to_string(), attr::n(self.held_until)),
            (
                GSI1_PK.to_string(),
                attr::s(keys::client_partition(tenant_id)),
            ),
            (
                GSI1_SK.to_string(),
                attr::s(format!(
                    "{}{}{:05}",
                    keys::environment_listing(environment),
                    keys::SLOT_PREFIX,
                    self.index
                )),
            ),
        ]);
        if let Some(started) = self.started {
            item.insert(STARTED.into(), attr::n(started));
        }
        item
    }
}

/// A free slot below capacity, with the generation it has now: the lowest one, or after a lost
/// race a random one (so that racing requests spread out over the free slots).
pub fn pick_free(slots: &[Slot], capacity: i64, now: i64, spread: bool) -> Option<(i64, i64)> {
    use rand::seq::IndexedRandom;
    let free: Vec<(i64, i64)> = (0..capacity.min(MAX_CAPACITY))
        .filter_map(|i| match slots.iter().find(|s| s.index == i) {
            None => Some((i, 0)),
            Some(s) if !s.is_live(now) => Some((i, s.generation)),
            Some(_) => None,
        })
        .collect();
    if spread {
        free.choose(&mut rand::rng()).copied()
    } else {
        free.first().copied()
    }
}

/// Claims a slot that was free at `read_generation`: the put fails if another request claimed
/// it first.
pub fn claim(
    table: &str,
    (environment, tenant_id): (&str, &str),
    held: &Slot,
    read_generation: i64,
    now: i64,
) -> Result<TransactWriteItem, StoreError> {
    item::put_if(
        table,
        held.to_item(environment, tenant_id),
        FREE_AT_GENERATION,
        Item::from([
            (NOW.to_string(), attr::n(now)),
            (":generation".to_string(), attr::n(read_generation)),
        ]),
    )
}

/// A held slot, as the session holding it knows it.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub environment: &'a str,
    pub index: i64,
    pub session: &'a str,
}

/// An update of a slot that applies only while its holder still holds it (`HELD_BY`).
fn update_held(
    table: &str,
    holder: Holder,
    expression: &str,
    mut values: Item,
) -> Result<TransactWriteItem, StoreError> {
    values.insert(":name".into(), attr::s(holder.session));
    // DynamoDB refuses a name the expressions do not use.
    let mut pairs = vec![("#session", SESSION)];
    if expression.contains("#state") {
        pairs.push(("#state", STATE));
    }
    let names = names(&pairs);
    let key = keys::slot(holder.environment, holder.index);
    item::update_if(table, &key, expression, values, Some(names), HELD_BY)
}

/// Moves the holder's time to `until` (a restarted activation deadline, an extension).
pub fn hold_until(
    table: &str,
    holder: Holder,
    until: i64,
) -> Result<TransactWriteItem, StoreError> {
    let values = Item::from([(":until".to_string(), attr::n(until))]);
    update_held(table, holder, "SET held_until = :until", values)
}

/// The holder started at `now` and holds the slot until `until` (activation).
pub fn start(
    table: &str,
    holder: Holder,
    now: i64,
    until: i64,
) -> Result<TransactWriteItem, StoreError> {
    let values = Item::from([
        (":running".to_string(), attr::s(RUNNING)),
        (NOW.to_string(), attr::n(now)),
        (":until".to_string(), attr::n(until)),
    ]);
    let expression = "SET #state = :running, started = :now, held_until = :until";
    update_held(table, holder, expression, values)
}

/// Frees the slot at `until` (its holder ended). Freed, not deleted: the slot keeps its
/// generation, which numbers its next session.
pub fn free(table: &str, holder: Holder, until: i64) -> Result<TransactWriteItem, StoreError> {
    let values = Item::from([
        (":until".to_string(), attr::n(until)),
        (":ended".to_string(), attr::s(ENDED)),
    ]);
    update_held(
        table,
        holder,
        "SET held_until = :until, #state = :ended",
        values,
    )
}

/// Removes the user's id from a slot still named for `holder`'s session (an erasure); the slot
/// keeps its generation.
pub async fn forget_user(store: &Store, holder: Holder<'_>) -> Result<bool, StoreError> {
    let key = keys::slot(holder.environment, holder.index);
    let values = Item::from([
        (":none".to_string(), attr::s("")),
        (":name".to_string(), attr::s(holder.session)),
    ]);
    crate::store::update_if_present_when(
        store,
        &key,
        "SET #user = :none",
        values,
        HELD_BY,
        &[("#user", USER), ("#session", SESSION)],
    )
    .await
}

/// Sessions are numbered by their slot and its generation: unique without a counter that every
/// request would contend for (`MAX_CAPACITY` keeps slots below 1000).
pub fn session_name(environment: &str, slot: i64, generation: i64) -> String {
    format!("{environment}-s{:03}", generation * 1000 + slot + 1)
}

/// The slot a session name was given for (`session_name` backwards); -1, which no slot has,
/// for a name that is not a session's.
pub fn slot_of(session: &str) -> i64 {
    session
        .rsplit_once("-s")
        .and_then(|(_, number)| number.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .map_or(-1, |n| (n - 1) % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_name_gives_back_its_slot() {
        for (slot, generation) in [(0, 0), (7, 0), (998, 0), (0, 1), (41, 12), (998, 99_999)] {
            let name = session_name("lab-env-w01", slot, generation);
            assert!(super::super::session::is_valid_name(&name), "{name}");
            assert_eq!(slot_of(&name), slot, "{name}");
        }
        assert_eq!(session_name("lab", 4, 0), "lab-s005");
        assert_eq!(session_name("lab", 4, 2), "lab-s2005");
        for not_a_session in ["lab", "lab-s", "lab-sx", "lab-s000", "lab-s-1"] {
            assert_eq!(slot_of(not_a_session), -1, "{not_a_session}");
        }
    }
}
