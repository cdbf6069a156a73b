//! Capacity slots: the rule for capacity.
//!
//! An environment of capacity N has N slot items in its partition, written when it is created.
//! A live session holds one: the slot's `held_until` is the session's activation deadline while
//! it is pending and its expiry once it runs. A slot past `held_until` is free, so a session that
//! misses its deadline stops counting against capacity that very second, whether or not anything
//! has cleaned it up, and allocation claims a slot by a condition (`FREE_AT_GENERATION`) inside
//! its transaction: of racing requests for one slot exactly one wins. Every later change to a
//! slot is conditional on its still being held by the session that changes it (`HELD_BY`).
//!
//! **Finding a free slot costs the same at any capacity.** Every slot is in the free-slot index
//! (`gsi2`, keys only, partition `SLOTS#<environment>`) under the key `index_key`: the time it is
//! free from (0 once freed by an end, or never used; its holder's `held_until` while held, so it
//! is found free the second that passes, with nothing written), then a random `spread` drawn at
//! every write, then its index and generation. A request reads a few keys at or below now from a
//! random point of the spread (`candidates`): racing requests land on different slots, and an
//! empty answer means the environment is full. The index is eventual: a stale key only makes a
//! claim fail its condition and the request read again.
//!
//! Slots have no `expires_at`: TTL would delete a freed slot some time after its holder's
//! deadline, and with it the generation that numbers the slot's next session (names would
//! repeat). There are `capacity` of them per environment, so nothing accumulates.

use super::{ENDED, RUNNING};
use crate::store::attr::{self, Item};
use crate::store::conditions::NOW;
use crate::store::fields::*;
use crate::store::keys::{self, GSI2_PK, GSI2_SK};
use crate::store::tx::{item, names};
use crate::store::{Store, StoreError};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// The slot still belongs to this session.
const HELD_BY: &str = "#session = :name";
/// The slot as read: never held, or free (its holder's time is up) at the generation read.
const FREE_AT_GENERATION: &str =
    "attribute_not_exists(pk) OR (held_until <= :now AND generation = :generation)";

/// Session numbers per slot generation: a slot's sessions are numbered `generation * NAME_STRIDE
/// + index + 1`, so numbers never repeat while capacity stays below it.
const NAME_STRIDE: i64 = 1_000_000;

/// The largest capacity: numbers never repeat below `NAME_STRIDE`. (Before the free-slot index
/// the stride was 1,000 and capacities at most 999; a slot's next session after the change is
/// numbered from its generation with the new stride, which no earlier name can equal unless a
/// slot had held a thousand sessions.)
pub const MAX_CAPACITY: i64 = NAME_STRIDE - 1;

/// Free-slot keys `candidates` reads at a time.
const CANDIDATES: i32 = 8;

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

    /// The slot a live session holds, as the session's record has it (the catalog's session
    /// lists read records, which carry what the slot would).
    pub fn held_by(session: &super::session::WorkshopSession) -> Self {
        Slot {
            index: session.slot,
            generation: generation_of(&session.name),
            session: session.name.clone(),
            user: session.user.clone(),
            state: session.state.clone(),
            started: session.started,
            held_until: session.until,
        }
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

    /// The slot's item in environment `environment`: listed only in the free-slot index (the
    /// sessions it holds are listed by tenant, `session`).
    pub fn to_item(&self, environment: &str) -> Item {
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
            (GSI2_PK.to_string(), attr::s(index_partition(environment))),
            (
                GSI2_SK.to_string(),
                attr::s(index_key(self.held_until, self.index, self.generation)),
            ),
        ]);
        if let Some(started) = self.started {
            item.insert(STARTED.into(), attr::n(started));
        }
        item
    }
}

/// The free-slot index partition of an environment.
pub fn index_partition(environment: &str) -> String {
    format!("SLOTS#{environment}")
}

/// A slot's key in the free-slot index: free from `free_at`, a fresh random spread, its index
/// and its generation (what a claim must find unchanged).
pub fn index_key(free_at: i64, index: i64, generation: i64) -> String {
    let spread = rand::Rng::random_range(&mut rand::rng(), 0..1_000_000);
    format!("{:012}#{spread:06}#{index}#{generation}", free_at.max(0))
}

/// `(free_at, index, generation)` of an index key.
fn parse_index_key(key: &str) -> Option<(i64, i64, i64)> {
    let mut parts = key.split('#');
    let free_at = parts.next()?.parse().ok()?;
    let _spread = parts.next()?;
    let index = parts.next()?.parse().ok()?;
    let generation = parts.next()?.parse().ok()?;
    Some((free_at, index, generation))
}

/// A free slot of an environment of capacity `capacity`, with the generation it has now, read
/// from the free-slot index: up to `CANDIDATES` keys free at `now` from a random point of the
/// spread on, then (if none) below it, and one of them chosen at random. An environment of at
/// most `SMALL` slots is read whole, and its lowest free slot taken (names start at `-s001`, as
/// Educates'), or after a lost race (`spread`) a random one. One query either way, but for the
/// few requests whose random point lies above every free key. `None`: every slot is held.
pub async fn candidate(
    store: &Store,
    environment: &str,
    (capacity, now): (i64, i64),
    spread: bool,
) -> Result<Option<(i64, i64)>, StoreError> {
    use rand::seq::IndexedRandom;
    let partition = index_partition(environment);
    let (bottom, top) = (format!("{:012}#", 0), format!("{now:012}#~"));
    let ranges = if capacity <= SMALL {
        vec![(bottom, top, SMALL as i32)]
    } else {
        let spread = rand::Rng::random_range(&mut rand::rng(), 0..1_000_000);
        let start = format!("{:012}#{spread:06}", 0);
        vec![
            (start.clone(), top, CANDIDATES),
            (bottom, start, CANDIDATES),
        ]
    };
    for (from, to, limit) in ranges {
        let keys = crate::store::index_range(store, &partition, (&from, &to), limit).await?;
        let free: Vec<(i64, i64)> = keys
            .iter()
            .filter_map(|k| parse_index_key(k))
            .filter(|(free_at, index, _)| *free_at <= now && *index < capacity)
            .map(|(_, index, generation)| (index, generation))
            .collect();
        let lowest = capacity <= SMALL && !spread;
        let chosen = if lowest {
            free.iter().min().copied()
        } else {
            free.choose(&mut rand::rng()).copied()
        };
        if chosen.is_some() {
            return Ok(chosen);
        }
    }
    Ok(None)
}

/// Environments this small are read whole from the free-slot index (at most this many keys).
const SMALL: i64 = 64;

/// Writes the slots of a new environment, every one free (admin time: capacity / 25 calls), and
/// gives the slots of an environment written before the free-slot index their index keys.
pub async fn ensure_all(
    store: &Store,
    environment: &str,
    capacity: i64,
) -> Result<usize, StoreError> {
    let existing = crate::store::query_partition(
        store,
        &keys::environment_partition(environment),
        keys::SLOT_PREFIX,
    )
    .await?;
    let mut items = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for item in &existing {
        let slot = Slot::from_item(item)?;
        seen.insert(slot.index);
        // A slot still listed in the tenant's `gsi1` partition leaves it by `table upgrade`, a
        // conditional update: a put here could undo a claim or an end of the same moment.
        if !item.contains_key(GSI2_PK) {
            items.push(slot.to_item(environment));
        }
    }
    for index in (0..capacity).filter(|i| !seen.contains(i)) {
        let free = Slot {
            index,
            generation: 0,
            session: String::new(),
            user: String::new(),
            state: ENDED.to_string(),
            started: None,
            held_until: 0,
        };
        items.push(free.to_item(environment));
    }
    let written = items.len();
    crate::store::put_batch(store, items).await?;
    Ok(written)
}

/// Claims a slot that was free at `read_generation`: the put fails if another request claimed
/// it first.
pub fn claim(
    table: &str,
    environment: &str,
    held: &Slot,
    read_generation: i64,
    now: i64,
) -> Result<TransactWriteItem, StoreError> {
    item::put_if(
        table,
        held.to_item(environment),
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

/// An update of a slot that applies only while its holder still holds it (`HELD_BY`), and that
/// files the slot in the free-slot index as free from `free_at` (`:free_key`).
fn update_held(
    table: &str,
    (holder, free_at): (Holder, i64),
    expression: &str,
    mut values: Item,
) -> Result<TransactWriteItem, StoreError> {
    let expression = format!("{expression}, gsi2sk = :free_key");
    let generation = generation_of(holder.session) + 1;
    let free_key = index_key(free_at, holder.index, generation);
    values.insert(":free_key".into(), attr::s(free_key));
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

/// The generation a session's slot had when the session was named (`session_name` backwards).
fn generation_of(session: &str) -> i64 {
    number_of(session).map_or(0, |n| (n - 1) / NAME_STRIDE)
}

/// Moves the holder's time to `until` (a restarted activation deadline, an extension).
pub fn hold_until(
    table: &str,
    holder: Holder,
    until: i64,
) -> Result<TransactWriteItem, StoreError> {
    let values = Item::from([(":until".to_string(), attr::n(until))]);
    update_held(table, (holder, until), "SET held_until = :until", values)
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
    update_held(table, (holder, until), expression, values)
}

/// Frees the slot at `until` (its holder ended). Freed, not deleted: the slot keeps its
/// generation, which numbers its next session.
pub fn free(table: &str, holder: Holder, until: i64) -> Result<TransactWriteItem, StoreError> {
    let values = Item::from([
        (":until".to_string(), attr::n(until)),
        (":ended".to_string(), attr::s(ENDED)),
    ]);
    // Free from 0: among the never-used slots, at a random place of the spread (and out of the
    // tenant's `gsi1` partition, where slots were listed before the purpose indexes).
    update_held(
        table,
        (holder, 0),
        "REMOVE gsi1pk, gsi1sk SET held_until = :until, #state = :ended",
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
/// request would contend for (`MAX_CAPACITY` keeps slots below `NAME_STRIDE`).
pub fn session_name(environment: &str, slot: i64, generation: i64) -> String {
    format!("{environment}-s{:03}", generation * NAME_STRIDE + slot + 1)
}

fn number_of(session: &str) -> Option<i64> {
    session
        .rsplit_once("-s")
        .and_then(|(_, number)| number.parse::<i64>().ok())
        .filter(|n| *n > 0)
}

/// The slot a session name was given for (`session_name` backwards); -1, which no slot has,
/// for a name that is not a session's.
pub fn slot_of(session: &str) -> i64 {
    number_of(session).map_or(-1, |n| (n - 1) % NAME_STRIDE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_name_gives_back_its_slot() {
        for (slot, generation) in [
            (0, 0),
            (7, 0),
            (998, 0),
            (0, 1),
            (41, 12),
            (999_998, 99_999),
        ] {
            let name = session_name("lab-env-w01", slot, generation);
            assert!(super::super::session::is_valid_name(&name), "{name}");
            assert_eq!(slot_of(&name), slot, "{name}");
        }
        assert_eq!(session_name("lab", 4, 0), "lab-s005");
        assert_eq!(session_name("lab", 4, 2), "lab-s2000005");
        assert_eq!(session_name("lab", 54_321, 0), "lab-s54322");
        assert_eq!(generation_of("lab-s2000005"), 2);
        for not_a_session in ["lab", "lab-s", "lab-sx", "lab-s000", "lab-s-1"] {
            assert_eq!(slot_of(not_a_session), -1, "{not_a_session}");
        }
    }
}
