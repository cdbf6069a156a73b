//! `docs/data-model.md` is held to the code: every item of its "Items" table has exactly the
//! `pk` and `sk` that `shared/src/store/keys.rs` builds, and every item that `keys.rs` builds
//! has a row. No DynamoDB needed.

use labgate::store::keys::{self, Key};
use std::collections::BTreeMap;
use std::path::Path;

/// Each item the code keys, by its row name in the document, built with the document's
/// placeholders as arguments.
fn built() -> BTreeMap<&'static str, Key> {
    BTreeMap::from([
        ("API client", keys::client("<cid>")),
        ("API token", keys::api_token("<digest>")),
        ("Content", keys::content("<uuid>")),
        (
            "Team member",
            keys::team_member("<cid>", "<name>", "<user_id>"),
        ),
        ("User", keys::user("<cid>", "<user_id>")),
        ("Launch", keys::launch("<launch id>")),
        ("Launch token", keys::launch_token("<digest>")),
        (
            "Idempotency key",
            keys::idempotency("<scope>", "<key digest>"),
        ),
        ("Web session", keys::web_session("<digest>")),
        ("OAuth client", keys::oauth_client("<oauth client id>")),
        ("Robot", keys::robot("<username>")),
        ("Access token", keys::access_token("<digest>")),
        ("Refresh token", keys::refresh_token("<digest>")),
        ("Environment", keys::environment("<name>")),
        ("Environment count", keys::environment_count("<name>")),
        ("Count mark", keys::count_mark("<event id>")),
        // Slot indexes are numbers, written with five digits: the document says `<index>`.
        ("Capacity slot", slot_with_placeholder()),
        ("Workshop session", keys::workshop_session("<name>")),
        ("Event (outbox)", keys::event("<event id>")),
        (
            "Delivery",
            keys::delivery("<event id>", "<webhook, analytics or grade>"),
        ),
        ("Domain binding", keys::domain("<api host>")),
        ("Erasure record", keys::erasure("<erasure id>")),
        ("Reaper cursor", keys::reaper_cursor()),
        (
            "LTI registration",
            keys::lti_registration("<issuer>", "<lti client_id>"),
        ),
        ("LTI nonce", keys::lti_nonce("<nonce>")),
        ("AGS score order", keys::ags_order("<digest>")),
        (
            "LTI registration link",
            keys::lti_registration_link("<digest>"),
        ),
    ])
}

/// The item-key functions of `keys.rs` that `built` covers; a new one must be added there
/// (and so to the document).
const COVERED: &[&str] = &[
    "client",
    "api_token",
    "content",
    "team_member",
    "user",
    "launch",
    "launch_token",
    "idempotency",
    "web_session",
    "oauth_client",
    "robot",
    "access_token",
    "refresh_token",
    "environment",
    "environment_count",
    "count_mark",
    "slot",
    "workshop_session",
    "event",
    "delivery",
    "domain",
    "erasure",
    "reaper_cursor",
    "lti_registration",
    "lti_nonce",
    "ags_order",
    "lti_registration_link",
];

#[test]
fn every_key_function_is_covered() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let keys = std::fs::read_to_string(root.join("shared/src/store/keys.rs")).unwrap();
    let mut functions: Vec<&str> = keys
        .lines()
        .filter(|l| l.starts_with("pub fn ") && l.trim_end().ends_with("-> Key {"))
        .filter_map(|l| l.strip_prefix("pub fn ")?.split('(').next())
        .collect();
    functions.sort_unstable();
    let mut covered = COVERED.to_vec();
    covered.sort_unstable();
    assert_eq!(
        functions, covered,
        "keys.rs builds a key the data-model test does not cover"
    );
}

fn slot_with_placeholder() -> Key {
    let slot = keys::slot("<name>", 0);
    Key {
        sk: slot.sk.replace("00000", "<index>"),
        ..slot
    }
}

/// The rows of the "Items" table: name → (`pk`, `sk`), backticks removed.
fn documented() -> BTreeMap<String, (String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let text = std::fs::read_to_string(root.join("docs/data-model.md")).unwrap();
    let section = text
        .split("\n## Items\n")
        .nth(1)
        .expect("an Items section")
        .split("\n## ")
        .next()
        .unwrap();
    section
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| Item |"))
        .map(|line| {
            let cells: Vec<String> = line
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect();
            (cells[1].clone(), (cells[2].clone(), cells[3].clone()))
        })
        .collect()
}

#[test]
fn every_documented_item_has_the_key_the_code_builds() {
    let documented = documented();
    let built = built();
    for (name, key) in &built {
        let (pk, sk) = documented
            .get(*name)
            .unwrap_or_else(|| panic!("docs/data-model.md has no row for {name}"));
        assert_eq!(
            (pk.as_str(), sk.as_str()),
            (key.pk.as_str(), key.sk.as_str()),
            "{name}"
        );
    }
    let undocumented: Vec<_> = documented
        .keys()
        .filter(|name| !built.contains_key(name.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "rows for items that nothing keys: {undocumented:?}"
    );
}

#[test]
fn the_table_is_read_whole() {
    // A guard on the parser above: a table it cannot read would let the test pass vacuously.
    assert_eq!(documented().len(), built().len());
}
