//! Delivering events: to the tenant's webhook (all its events) and to a workshop session's
//! `analytics_url` (that session's events). Each delivery is signed, times out, and is retried
//! with backoff; its outcome is recorded as a delivery item, and what still fails stays listed
//! as a dead letter that `labgate-admin delivery resend` sends again.

use super::StoredEvent;
use super::signing;
use crate::clock;
use crate::master_key::{DEFAULT_KEY_ID, KeyRing};
use crate::store::attr::{self, Item};
use crate::store::fields::*;
use crate::store::keys::{self, EXPIRES_AT, GSI3_PK, GSI3_SK};
use crate::store::{Store, StoreError};
use std::time::Duration;

pub const WEBHOOK: &str = "webhook";
pub const ANALYTICS: &str = "analytics";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
/// A score not sent because a newer one for the same learner and line item was
/// (`grades`).
pub const SUPERSEDED: &str = "superseded";
/// The LMS's gradebook: a `launch.progress` event's score, posted to its AGS line item.
pub const GRADE: &str = "grade";

/// How deliveries are attempted.
#[derive(Debug, Clone)]
pub struct Policy {
    pub attempts: u32,
    /// Pause before the second attempt; doubled for each one after.
    pub backoff: Duration,
    pub timeout: Duration,
    /// Whether analytics URLs (chosen by tenants' robots) may reach private, loopback and
    /// link-local addresses; webhooks (set by an administrator) always may.
    pub allow_private_analytics: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            attempts: 3,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(5),
            allow_private_analytics: false,
        }
    }
}

pub struct Deliverer {
    http: reqwest::Client,
    /// For analytics URLs: resolves names to public addresses only, unless the policy allows.
    analytics_http: reqwest::Client,
    policy: Policy,
    keys: KeyRing,
    /// Made at the first score, not at cold start: most tenants post none.
    ags: std::sync::OnceLock<crate::grades::ags_client::AgsClient>,
}

/// The outcome of delivering one event to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub client_id: String,
    pub target: String,
    pub url: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

impl Delivery {
    fn to_item(&self) -> Item {
        let mut record = keys::delivery(&self.event_id, &self.target).item();
        record.extend([
            (EVENT_ID.to_string(), attr::s(&self.event_id)),
            (CLIENT_ID.to_string(), attr::s(&self.client_id)),
            (TARGET.to_string(), attr::s(&self.target)),
            (URL.to_string(), attr::s(&self.url)),
            (STATUS.to_string(), attr::s(&self.status)),
            (ATTEMPTS.to_string(), attr::n(self.attempts)),
            (UPDATED_AT.to_string(), attr::n(self.updated_at)),
            (
                EXPIRES_AT.to_string(),
                attr::n(self.updated_at + super::RETENTION_SECS),
            ),
        ]);
        // Only a delivery that failed for good is listed (the tenant's dead letters, `gsi3`,
        // sparse): a delivered one writes no index.
        if self.status == FAILED {
            record.extend([
                (
                    GSI3_PK.to_string(),
                    attr::s(keys::dead_letters(&self.client_id)),
                ),
                (
                    GSI3_SK.to_string(),
                    attr::s(format!(
                        "{:012}#{}#{}",
                        self.updated_at, self.event_id, self.target
                    )),
                ),
            ]);
        }
        if let Some(error) = &self.last_error {
            record.insert(LAST_ERROR.into(), attr::s(error));
        }
        record
    }

    fn from_item(record: &Item) -> Result<Self, StoreError> {
        Ok(Delivery {
            event_id: attr::get_s(record, EVENT_ID)?,
            client_id: attr::get_s(record, CLIENT_ID)?,
            target: attr::get_s(record, TARGET)?,
            url: attr::get_s(record, URL)?,
            status: attr::get_s(record, STATUS)?,
            attempts: attr::get_n(record, ATTEMPTS)?,
            last_error: attr::opt_s(record, LAST_ERROR)?,
            updated_at: attr::get_n(record, UPDATED_AT)?,
        })
    }
}

/// A tenant's webhook, as set with `labgate-admin client webhook`.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    /// The secret version in force, and the id of the master key it is derived from (`None`:
    /// `default`, as for every secret set before the key ring).
    pub version: SecretVersion,
    /// The version before the last rotation, while it still overlaps: deliveries are signed
    /// with both, so that a receiver can move to the new secret without losing one.
    pub previous: Option<SecretVersion>,
}

/// One version of a tenant's webhook secret: its number and the master key it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersion {
    pub number: i64,
    pub key_id: Option<String>,
}

impl SecretVersion {
    /// The secret itself, if the key ring still holds its master key.
    pub fn secret(&self, keys: &KeyRing, client_id: &str) -> Option<Vec<u8>> {
        keys.get(self.key_id.as_deref())
            .map(|key| signing::client_secret(key.bytes(), client_id, self.number))
    }
}

impl Webhook {
    /// The secret versions deliveries are signed with now: the current one, then the previous
    /// one during its overlap.
    pub fn versions(&self) -> Vec<SecretVersion> {
        std::iter::once(self.version.clone())
            .chain(self.previous.clone())
            .collect()
    }
}

/// A tenant's webhook, read at `now` (its previous secret only while it still overlaps).
pub async fn webhook(
    store: &Store,
    client_id: &str,
    now: i64,
) -> Result<Option<Webhook>, StoreError> {
    // Consistent: a webhook changed or removed a second ago is not posted to any more.
    let key = keys::client(client_id);
    let wanted = [
        WEBHOOK_URL,
        WEBHOOK_VERSION,
        WEBHOOK_KEY,
        WEBHOOK_PREVIOUS_VERSION,
        WEBHOOK_PREVIOUS_KEY,
        WEBHOOK_OVERLAP_UNTIL,
    ];
    let found = crate::store::get_projected(store, &key, &wanted, "GetItem client webhook").await?;
    let Some(record) = found else {
        return Ok(None);
    };
    let overlapping = attr::opt_n(&record, WEBHOOK_OVERLAP_UNTIL)?.is_some_and(|t| t > now);
    let previous = match attr::opt_n(&record, WEBHOOK_PREVIOUS_VERSION)? {
        Some(number) if overlapping => Some(SecretVersion {
            number,
            key_id: attr::opt_s(&record, WEBHOOK_PREVIOUS_KEY)?,
        }),
        _ => None,
    };
    let version = SecretVersion {
        number: attr::opt_n(&record, WEBHOOK_VERSION)?.unwrap_or(1),
        key_id: attr::opt_s(&record, WEBHOOK_KEY)?,
    };
    let url = attr::opt_s(&record, WEBHOOK_URL)?;
    Ok(url.map(|url| Webhook {
        url,
        version,
        previous,
    }))
}

/// How a webhook's secret changes when its URL is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// Keep the secret in force (the first one for a new webhook).
    Keep,
    /// Move to a new secret; the old one still signs every delivery for `overlap_secs`.
    Rotate { overlap_secs: i64 },
}

/// How long a rotated-out secret keeps signing by default: a day.
pub const DEFAULT_OVERLAP_SECS: i64 = 86_400;

/// Sets a tenant's webhook URL, rotating its secret if asked, and returns the version now in
/// force. A new secret (the first, or a rotation) is derived from `key_id`, the master key in
/// force; a kept one stays on its key. The new version is written on the condition that the
/// version read is still the one in force, so two rotations at once cannot both skip the same
/// version.
pub async fn set_webhook(
    store: &Store,
    client_id: &str,
    url: &str,
    secret: Secret,
    key_id: &str,
    now: i64,
) -> Result<SecretVersion, StoreError> {
    let key = keys::client(client_id);
    let read = crate::store::get_projected(
        store,
        &key,
        &[WEBHOOK_VERSION, WEBHOOK_KEY],
        "GetItem client",
    )
    .await?
    .ok_or_else(|| StoreError::Failed {
        op: "GetItem client",
        detail: format!("no client {client_id}"),
    })?;
    let current = attr::opt_n(&read, WEBHOOK_VERSION)?.map(|number| SecretVersion {
        number,
        key_id: attr::opt_s(&read, WEBHOOK_KEY).ok().flatten(),
    });
    let mut values = Item::from([(":url".to_string(), attr::s(url))]);
    let mut sets = vec!["webhook_url = :url", "webhook_version = :version"];
    let version = next_version(
        secret,
        current.clone(),
        key_id,
        now,
        (&mut sets, &mut values),
    );
    let current = current.map(|c| c.number);
    let condition = match current {
        Some(current) => {
            values.insert(":read".into(), attr::n(current));
            "webhook_version = :read"
        }
        None => "attribute_not_exists(webhook_version)",
    };
    let expression = format!("SET {}", sets.join(", "));
    crate::store::update_if_existing(
        store,
        &key,
        expression,
        values,
        condition,
        "UpdateItem client webhook",
    )
    .await?;
    Ok(version)
}

/// The secret version a change leads to; a rotation also keeps the old one for its overlap.
/// A new version is derived from the master key `key_id`.
fn next_version(
    secret: Secret,
    current: Option<SecretVersion>,
    key_id: &str,
    now: i64,
    (sets, values): (&mut Vec<&'static str>, &mut Item),
) -> SecretVersion {
    let number = match (secret, current) {
        (Secret::Keep, Some(current)) => {
            values.insert(":version".into(), attr::n(current.number));
            return current;
        }
        (Secret::Keep | Secret::Rotate { .. }, None) => 1,
        (Secret::Rotate { overlap_secs }, Some(current)) => {
            sets.extend([
                "webhook_previous_version = :previous",
                "webhook_overlap_until = :until",
            ]);
            values.insert(":previous".into(), attr::n(current.number));
            values.insert(":until".into(), attr::n(now + overlap_secs.max(0)));
            sets.push("webhook_previous_key = :previous_key");
            let previous_key = current.key_id.as_deref().unwrap_or(DEFAULT_KEY_ID);
            values.insert(":previous_key".into(), attr::s(previous_key));
            current.number + 1
        }
    };
    sets.push("webhook_key = :key");
    values.insert(":key".into(), attr::s(key_id));
    values.insert(":version".into(), attr::n(number));
    SecretVersion {
        number,
        key_id: Some(key_id.to_string()),
    }
}

/// Stops sending a tenant's events to a webhook.
pub async fn remove_webhook(store: &Store, client_id: &str) -> Result<(), StoreError> {
    let key = keys::client(client_id);
    let expression = "REMOVE webhook_url, webhook_previous_version, webhook_overlap_until";
    crate::store::update_existing(
        store,
        &key,
        expression.into(),
        Item::new(),
        "UpdateItem client webhook",
    )
    .await?;
    Ok(())
}

impl Deliverer {
    pub fn new(keys: KeyRing, policy: Policy) -> Result<Self, reqwest::Error> {
        let builder = || {
            crate::net::http_client_builder()
                .timeout(policy.timeout)
                .connect_timeout(policy.timeout)
                .redirect(reqwest::redirect::Policy::none())
        };
        let http = builder().build()?;
        let analytics_http = if policy.allow_private_analytics {
            http.clone()
        } else {
            builder()
                .dns_resolver(std::sync::Arc::new(crate::net::PublicOnly))
                .build()?
        };
        Ok(Deliverer {
            http,
            analytics_http,
            policy,
            keys,
            ags: std::sync::OnceLock::new(),
        })
    }

    /// Delivers an event to each of its targets that has not had it yet, and records how it went.
    pub async fn deliver(
        &self,
        store: &Store,
        event: &StoredEvent,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut targets = Vec::new();
        let webhook = webhook(store, &event.client_id, clock::now()).await?;
        if let Some(hook) = &webhook {
            targets.push((WEBHOOK, hook.url.clone()));
        }
        if let Some(url) = &event.analytics_url {
            targets.push((ANALYTICS, url.clone()));
        }
        // A score that cannot be read is a dead letter of its own, never a batch failed forever.
        let grade = event.grade().map_err(|e| e.to_string());
        match &grade {
            Ok(Some(grade)) => targets.push((GRADE, grade.line.lineitem.clone())),
            Ok(None) => {}
            Err(_) => targets.push((GRADE, String::new())),
        }
        // A tenant without a webhook was never shown a secret: its analytics deliveries are
        // signed with version 1 of the key in force.
        let versions = webhook.map_or_else(
            || {
                vec![SecretVersion {
                    number: 1,
                    key_id: Some(self.keys.current().id.clone()),
                }]
            },
            |w| w.versions(),
        );
        let secrets: Vec<Vec<u8>> = versions
            .iter()
            .filter_map(|v| v.secret(&self.keys, &event.client_id))
            .collect();
        let mut outcomes = Vec::new();
        for (target, url) in targets {
            let previous = get(store, &event.id, target).await?;
            if previous
                .as_ref()
                .is_some_and(|d| d.status == DELIVERED || d.status == SUPERSEDED)
            {
                // A retried stream batch or a re-send: never deliver twice what arrived.
                continue;
            }
            let (status, attempts, last_error) = if target == GRADE {
                match &grade {
                    Ok(Some(grade)) => self.grade(store, &event.id, grade).await?,
                    _ => (FAILED, 0, Some("the event's score cannot be read".into())),
                }
            } else if secrets.is_empty() {
                // Never an unsigned delivery: the ring lost the key (docs/operations.md).
                let missing = versions[0].key_id.as_deref().unwrap_or(DEFAULT_KEY_ID);
                let error = format!("master key {missing:?} is not in the key ring");
                (FAILED, 0, Some(error))
            } else {
                self.send(target, &url, &secrets, event).await
            };
            let delivery = Delivery {
                event_id: event.id.clone(),
                client_id: event.client_id.clone(),
                target: target.to_string(),
                url,
                status: status.to_string(),
                attempts: previous.map_or(0, |d| d.attempts) + attempts,
                last_error,
                updated_at: clock::now(),
            };
            crate::store::put(store, delivery.to_item(), "PutItem delivery").await?;
            if status == FAILED {
                tracing::warn!(event = %event.id, target, "delivery failed; kept as a dead letter");
                crate::metrics::count(crate::metrics::Metric::DeliveriesFailed, 1);
            }
            outcomes.push(delivery);
        }
        Ok(outcomes)
    }

    /// Posts an event's score to its line item (`grades`): its status, the attempts made and
    /// the last error.
    async fn grade(
        &self,
        store: &Store,
        event_id: &str,
        grade: &crate::grades::Grade,
    ) -> Result<(&'static str, i64, Option<String>), StoreError> {
        use crate::grades::{Retry, Sent};
        let retry = Retry {
            attempts: self.policy.attempts,
            backoff: self.policy.backoff,
            timeout: self.policy.timeout,
            keep_order_secs: 2 * super::RETENTION_SECS,
        };
        let ags = match self.ags.get() {
            Some(ags) => ags,
            None => {
                let built = crate::grades::ags_client::AgsClient::new(
                    self.policy.timeout,
                    self.policy.allow_private_analytics,
                );
                match built {
                    Ok(built) => self.ags.get_or_init(|| built),
                    Err(e) => return Ok((FAILED, 0, Some(format!("no HTTPS client: {e}")))),
                }
            }
        };
        let sent = crate::grades::deliver(store, (ags, &self.keys), retry, event_id, grade);
        Ok(match sent.await? {
            Sent::Delivered { attempts } => (DELIVERED, i64::from(attempts), None),
            Sent::Failed { attempts, error } => (FAILED, i64::from(attempts), Some(error)),
            Sent::Superseded => (SUPERSEDED, 0, None),
        })
    }

    /// Sends the event to one target: its status, the attempts made and the last error.
    async fn send(
        &self,
        target: &str,
        url: &str,
        secrets: &[Vec<u8>],
        event: &StoredEvent,
    ) -> (&'static str, i64, Option<String>) {
        if target != ANALYTICS {
            return self.attempt(&self.http, url, secrets, event).await;
        }
        // IP literals skip the resolver: they are judged here.
        let allowed = self.policy.allow_private_analytics
            || url::Url::parse(url).is_ok_and(|u| crate::net::is_public_host(&u));
        if allowed {
            self.attempt(&self.analytics_http, url, secrets, event)
                .await
        } else {
            (FAILED, 0, Some("not a public address".to_string()))
        }
    }

    async fn attempt(
        &self,
        http: &reqwest::Client,
        url: &str,
        secrets: &[Vec<u8>],
        event: &StoredEvent,
    ) -> (&'static str, i64, Option<String>) {
        let mut last_error = None;
        for attempt in 0..self.policy.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.policy.backoff * 2u32.pow(attempt - 1)).await;
            }
            let timestamp = clock::now();
            let result = http
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", &event.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    signing::sign_all(secrets, &event.id, timestamp, &event.body),
                )
                .body(event.body.clone())
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => {
                    return (DELIVERED, i64::from(attempt) + 1, None);
                }
                Ok(response) => last_error = Some(format!("HTTP {}", response.status().as_u16())),
                Err(e) => last_error = Some(crate::net::describe(&e).to_string()),
            }
        }
        (FAILED, i64::from(self.policy.attempts), last_error)
    }
}

async fn get(store: &Store, event_id: &str, target: &str) -> Result<Option<Delivery>, StoreError> {
    let item =
        crate::store::get(store, &keys::delivery(event_id, target), "GetItem delivery").await?;
    item.as_ref().map(Delivery::from_item).transpose()
}

/// A tenant's dead letters (deliveries that failed for good), oldest first: the tenant's dead
/// letters (`gsi3`, keys only, sparse), then the deliveries by key. Delivered ones are not
/// listed; an event's deliveries are in its partition (`for_event`).
pub async fn list(store: &Store, client_id: &str) -> Result<Vec<Delivery>, StoreError> {
    let partition = keys::dead_letters(client_id);
    let items = crate::store::listed_items(store, keys::GSI3, &partition, "").await?;
    items
        .iter()
        .map(Delivery::from_item)
        .filter(|d| d.as_ref().map_or(true, |d| d.status == FAILED))
        .collect()
}

/// Every delivery of one event (its partition, strongly consistent).
pub async fn for_event(store: &Store, event_id: &str) -> Result<Vec<Delivery>, StoreError> {
    let partition = keys::event_partition(event_id);
    let items = crate::store::query_partition(store, &partition, "DELIVERY#").await?;
    items.iter().map(Delivery::from_item).collect()
}

/// One stored event by id.
pub async fn event(store: &Store, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
    let item = crate::store::get(store, &keys::event(event_id), "GetItem event").await?;
    item.as_ref().map(StoredEvent::from_item).transpose()
}
