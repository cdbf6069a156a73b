//! Every item's key, in one place (docs/data-model.md explains the design).
//! Client ids and digests never contain `#`, so a free-form tail (a user id, a team name) stays unambiguous.

use super::attr::{self, Item};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";
pub const GSI3: &str = "gsi3";
pub const GSI3_PK: &str = "gsi3pk";
pub const GSI3_SK: &str = "gsi3sk";
pub const EXPIRES_AT: &str = "expires_at";

/// The one GSI2 partition that held every live session's deadline before the index was
/// sharded; the reaper still drains it, so that sessions written before the change end too.
pub const LEGACY_DEADLINES: &str = "DEADLINE";

/// Hash shards of each hour of deadlines (`deadline_partition`).
pub const DEADLINE_SHARDS: u32 = 16;

/// Seconds of deadlines per GSI2 partition (with `DEADLINE_SHARDS` partitions each).
pub const DEADLINE_HOUR: i64 = 3600;

/// A live session's GSI2 partition: the hour of its `until` and a hash shard of its name, so
/// that a rush of starts writes `DEADLINE_SHARDS` partitions instead of one, and the reaper reads
/// only the hours that can be overdue (`deadline_shard`).
pub fn deadline_partition(until: i64, session: &str) -> String {
    let shard = crate::secrets::Digest::of(session).as_str().as_bytes()[0];
    let shard = char::from(shard).to_digit(16).unwrap_or(0) % DEADLINE_SHARDS;
    deadline_shard(until.div_euclid(DEADLINE_HOUR), shard)
}

/// The GSI2 partition of deadlines in hour `hour` (since the epoch), shard `shard`.
pub fn deadline_shard(hour: i64, shard: u32) -> String {
    format!("DEADLINE#{hour}#{shard:02}")
}

/// A live session's GSI2 sort key: its `until`, zero-padded so that text order is time order.
pub fn deadline(until: i64, session: &str) -> String {
    format!("{until:012}#{session}")
}

/// The reaper's cursor: the oldest hour of deadlines that may still hold a live session.
pub fn reaper_cursor() -> Key {
    Key::new("REAPER".to_string(), "#CURSOR")
}

/// The partition of the index that lists every API client.
pub const ALL_CLIENTS: &str = "CLIENTS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: &str) -> Self {
        Key {
            pk,
            sk: sk.to_string(),
        }
    }

    /// The key as attributes, to start an item or address one.
    pub fn item(&self) -> Item {
        Item::from([
            (PK.to_string(), attr::s(&self.pk)),
            (SK.to_string(), attr::s(&self.sk)),
        ])
    }
}

pub fn client(client_id: &str) -> Key {
    Key::new(client_partition(client_id), "#CLIENT")
}

/// The partition holding a client's own items (profile, content, teams); also its GSI1 partition.
pub fn client_partition(client_id: &str) -> String {
    format!("CLIENT#{client_id}")
}

pub fn api_token(digest: &str) -> Key {
    Key::new(format!("APITOKEN#{digest}"), "#APITOKEN")
}

pub const API_TOKEN_LISTING_PREFIX: &str = "APITOKEN#";
pub const CONTENT_PREFIX: &str = "CONTENT#";
pub const LAUNCH_LISTING_PREFIX: &str = "LAUNCH#";

/// Content is keyed by its UUID alone, so that a launch reads it together with the API token
/// in one round trip; its `client_id` says whose it is.
pub fn content(content_id: &str) -> Key {
    Key::new(format!("{CONTENT_PREFIX}{content_id}"), "#CONTENT")
}

/// A team is its membership items; there is no team item that every launch would contend for.
pub fn team_member(client_id: &str, team: &str, external_id: &str) -> Key {
    Key {
        pk: format!("TEAM#{client_id}#{team}"),
        sk: format!("USER#{external_id}"),
    }
}

pub fn user(client_id: &str, external_id: &str) -> Key {
    Key::new(user_partition(client_id, external_id), "#USER")
}

/// A user's partition; also the GSI1 partition that lists the user's launches.
pub fn user_partition(client_id: &str, external_id: &str) -> String {
    format!("USER#{client_id}#{external_id}")
}

pub fn launch(launch_id: &str) -> Key {
    Key::new(format!("LAUNCH#{launch_id}"), "#LAUNCH")
}

/// An idempotency key's record: `scope` says whose key it is (an API token, a tenant), and the
/// key itself is kept only as its digest (a key may be any 255 visible characters).
pub fn idempotency(scope: &str, key_digest: &str) -> Key {
    Key::new(format!("IDEMPOTENCY#{scope}#{key_digest}"), "#IDEMPOTENCY")
}

pub fn launch_token(digest: &str) -> Key {
    Key::new(format!("LAUNCHTOKEN#{digest}"), "#LAUNCHTOKEN")
}

pub fn web_session(digest: &str) -> Key {
    Key::new(format!("WEBSESSION#{digest}"), "#WEBSESSION")
}

pub fn oauth_client(client_id: &str) -> Key {
    Key::new(format!("OAUTHCLIENT#{client_id}"), "#OAUTHCLIENT")
}

pub fn robot(username: &str) -> Key {
    Key::new(format!("ROBOT#{username}"), "#ROBOT")
}

pub fn access_token(digest: &str) -> Key {
    Key::new(format!("ACCESSTOKEN#{digest}"), "#ACCESSTOKEN")
}

pub fn refresh_token(digest: &str) -> Key {
    Key::new(format!("REFRESHTOKEN#{digest}"), "#REFRESHTOKEN")
}

pub const ROBOT_LISTING_PREFIX: &str = "ROBOT#";

/// The GSI1 partition listing an OAuth client's access and refresh tokens.
pub fn oauth_client_tokens(client_id: &str) -> String {
    format!("OAUTHCLIENT#{client_id}")
}

pub fn environment(name: &str) -> Key {
    Key::new(environment_partition(name), "#ENV")
}

/// An environment's partition: its definition and its slots, read together by one query.
pub fn environment_partition(name: &str) -> String {
    format!("ENV#{name}")
}

pub fn slot(environment: &str, index: i64) -> Key {
    Key {
        pk: environment_partition(environment),
        sk: format!("{SLOT_PREFIX}{index:05}"),
    }
}

pub const SLOT_PREFIX: &str = "SLOT#";

/// An environment's count of live sessions, kept from the outbox (`workshop::counts`).
pub fn environment_count(name: &str) -> Key {
    Key::new(environment_partition(name), "#COUNT")
}

/// The mark that the session counter counted an outbox event (`workshop::counts`): its own
/// item, so that counting never depends on the event item, which an erasure may delete first.
pub fn count_mark(event_id: &str) -> Key {
    Key::new(format!("COUNTED#{event_id}"), "#COUNTED")
}

/// The `gsi3` partition (keys only, sparse) of a tenant's live sessions, for the catalog's
/// session lists: a session enters it when allocated and leaves it when it ends; activation and
/// extension change no key, so they write nothing there.
pub fn live_sessions(client_id: &str) -> String {
    format!("LIVE#{client_id}")
}

/// A live session's `gsi3` sort key: its environment and name.
pub fn live_session(environment: &str, name: &str) -> String {
    format!("{}{name}", live_sessions_of(environment))
}

/// The `gsi3` sort key prefix of an environment's live sessions.
pub fn live_sessions_of(environment: &str) -> String {
    format!("{environment}#")
}

/// The `gsi3` partition (keys only, sparse) of a tenant's users with email address `email`
/// (compared in lower case): users by email, for an erasure request that names an address.
pub fn users_by_email(client_id: &str, email: &str) -> String {
    format!("EMAIL#{client_id}#{}", email.to_lowercase())
}

/// The `gsi3` partition (keys only, sparse) of a tenant's dead letters: webhook and analytics
/// deliveries that failed for good.
pub fn dead_letters(client_id: &str) -> String {
    format!("DEAD#{client_id}")
}

/// The `gsi2` partition (keys only) listing a tenant's team memberships (`<team>#<user_id>`):
/// written when a user first joins a team and never again.
pub fn team_listing(client_id: &str) -> String {
    format!("TEAMS#{client_id}")
}

/// The `gsi2` partition (keys only) listing a tenant's users: written when a user is created and
/// never again (no key changes), so that a user's launches write no index.
pub fn user_listing(client_id: &str) -> String {
    format!("USERS#{client_id}")
}

/// GSI1 sort key prefix of an environment's items in its tenant's partition.
pub fn environment_listing(name: &str) -> String {
    format!("ENV#{name}#")
}

/// The sort key of a workshop session's record.
pub const SESSION_RECORD: &str = "#WORKSHOPSESSION";

pub fn workshop_session(name: &str) -> Key {
    Key::new(format!("WORKSHOPSESSION#{name}"), SESSION_RECORD)
}

/// The record that a user's data was erased (without the data).
pub fn erasure(erasure_id: &str) -> Key {
    Key::new(format!("ERASURE#{erasure_id}"), "#ERASURE")
}

/// An LTI 1.3 platform registration: the platform's issuer and the `client_id` it gave labgate.
/// One issuer serves many customers (Canvas cloud), so the issuer is the partition and each
/// registration one item in it; the login, given only the issuer, queries the partition.
pub fn lti_registration(issuer: &str, client_id: &str) -> Key {
    Key {
        pk: lti_issuer_partition(issuer),
        sk: format!("{LTI_CLIENT_ID_PREFIX}{client_id}"),
    }
}

pub fn lti_issuer_partition(issuer: &str) -> String {
    format!("LTIREG#{issuer}")
}

pub const LTI_CLIENT_ID_PREFIX: &str = "CLIENTID#";

/// An LTI id_token's nonce, used once (written with the launch; TTL after the token expires).
pub fn lti_nonce(nonce: &str) -> Key {
    Key::new(format!("LTINONCE#{nonce}"), "#LTINONCE")
}

/// The order of one learner's scores on one AGS line item (`grades`): the latest one
/// delivered, and the lease of the send in flight. `digest` is the SHA-256 of the
/// registration, the line item and the learner.
pub fn ags_order(digest: &str) -> Key {
    Key::new(format!("AGSORDER#{digest}"), "#AGSORDER")
}

/// A one-time LTI dynamic registration link (`labgate-admin lti link`), by its secret's digest.
pub fn lti_registration_link(digest: &str) -> Key {
    Key::new(format!("LTIREGLINK#{digest}"), "#LTIREGLINK")
}

/// A white-label API host's binding to the one tenant it serves.
pub fn domain(host: &str) -> Key {
    Key::new(format!("DOMAIN#{host}"), "#DOMAIN")
}

pub fn event(event_id: &str) -> Key {
    Key::new(event_partition(event_id), "#EVENT")
}

pub fn event_partition(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}

pub fn delivery(event_id: &str, target: &str) -> Key {
    Key {
        pk: event_partition(event_id),
        sk: format!("DELIVERY#{target}"),
    }
}
