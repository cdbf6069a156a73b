//! Delivering events: to the tenant's webhook (all its events) and to a workshop session's
//! `analytics_url` (that session's events). Each delivery is signed, times out, and is retried
//! with backoff; its outcome is recorded as a delivery item, and what still fails stays listed
//! as a dead letter that `labgate-admin delivery resend` sends again.

use super::StoredEvent;
use super::signing;
use crate::clock;
use crate::store::attr::{self, Item};
use crate::store::keys::{self, EXPIRES_AT, GSI1_PK, GSI1_SK};
use crate::store::{Store, StoreError};
use std::time::Duration;

pub const WEBHOOK: &str = "webhook";
pub const ANALYTICS: &str = "analytics";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

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
    signing_key: Vec<u8>,
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
            ("event_id".to_string(), attr::s(&self.event_id)),
            ("client_id".to_string(), attr::s(&self.client_id)),
            ("target".to_string(), attr::s(&self.target)),
            ("url".to_string(), attr::s(&self.url)),
            ("status".to_string(), attr::s(&self.status)),
            ("attempts".to_string(), attr::n(self.attempts)),
            ("updated_at".to_string(), attr::n(self.updated_at)),
            (
                EXPIRES_AT.to_string(),
                attr::n(self.updated_at + super::RETENTION_SECS),
            ),
            (
                GSI1_PK.to_string(),
                attr::s(keys::client_partition(&self.client_id)),
            ),
            (
                GSI1_SK.to_string(),
                attr::s(format!(
                    "DELIVERY#{}#{:012}#{}#{}",
                    self.status, self.updated_at, self.event_id, self.target
                )),
            ),
        ]);
        if let Some(error) = &self.last_error {
            record.insert("last_error".into(), attr::s(error));
        }
        record
    }

    fn from_item(record: &Item) -> Result<Self, StoreError> {
        Ok(Delivery {
            event_id: attr::get_s(record, "event_id")?,
            client_id: attr::get_s(record, "client_id")?,
            target: attr::get_s(record, "target")?,
            url: attr::get_s(record, "url")?,
            status: attr::get_s(record, "status")?,
            attempts: attr::get_n(record, "attempts")?,
            last_error: attr::opt_s(record, "last_error")?,
            updated_at: attr::get_n(record, "updated_at")?,
        })
    }
}

/// A tenant's webhook, as set with `labgate-admin client webhook`.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub version: i64,
}

pub async fn webhook(store: &Store, client_id: &str) -> Result<Option<Webhook>, StoreError> {
    let out = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::client(client_id).item()))
        // Consistent: a webhook changed or removed a second ago is not posted to any more.
        .consistent_read(true)
        .projection_expression("webhook_url, webhook_version")
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("GetItem client webhook", e))?;
    let Some(record) = out.item else {
        return Ok(None);
    };
    Ok(attr::opt_s(&record, "webhook_url")?.map(|url| Webhook {
        url,
        version: attr::opt_n(&record, "webhook_version")
            .ok()
            .flatten()
            .unwrap_or(1),
    }))
}

/// Sets (or with `None` removes) a tenant's webhook URL; `rotate` moves to a new secret.
/// Returns the secret version now in force.
pub async fn set_webhook(
    store: &Store,
    client_id: &str,
    url: Option<&str>,
    rotate: bool,
) -> Result<i64, StoreError> {
    let mut expression = match url {
        Some(_) => "SET webhook_url = :url, webhook_version = if_not_exists(webhook_version, :one)"
            .to_string(),
        None => "REMOVE webhook_url".to_string(),
    };
    let mut values = Item::new();
    if let Some(url) = url {
        values.insert(":url".into(), attr::s(url));
        values.insert(":one".into(), attr::n(1));
    }
    if rotate {
        expression.push_str(" ADD webhook_version :one");
        values.insert(":one".into(), attr::n(1));
    }
    let out = store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(keys::client(client_id).item()))
        .update_expression(expression)
        .set_expression_attribute_values((!values.is_empty()).then_some(values))
        .condition_expression(crate::store::conditions::EXISTS)
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("UpdateItem client webhook", e))?;
    Ok(out
        .attributes
        .and_then(|a| attr::opt_n(&a, "webhook_version").ok().flatten())
        .unwrap_or(1))
}

impl Deliverer {
    pub fn new(signing_key: Vec<u8>, policy: Policy) -> Result<Self, reqwest::Error> {
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
            signing_key,
        })
    }

    /// Delivers an event to each of its targets that has not had it yet, and records how it went.
    pub async fn deliver(
        &self,
        store: &Store,
        event: &StoredEvent,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut targets = Vec::new();
        let webhook = webhook(store, &event.client_id).await?;
        if let Some(hook) = &webhook {
            targets.push((WEBHOOK, hook.url.clone()));
        }
        if let Some(url) = &event.analytics_url {
            targets.push((ANALYTICS, url.clone()));
        }
        let version = webhook.map_or(1, |w| w.version);
        let secret = signing::client_secret(&self.signing_key, &event.client_id, version);

        let mut outcomes = Vec::new();
        for (target, url) in targets {
            let previous = get(store, &event.id, target).await?;
            if previous.as_ref().is_some_and(|d| d.status == DELIVERED) {
                // A retried stream batch or a re-send: never deliver twice what arrived.
                continue;
            }
            let (status, attempts, last_error) = if target == ANALYTICS {
                // IP literals skip the resolver: they are judged here.
                let allowed = self.policy.allow_private_analytics
                    || url::Url::parse(&url).is_ok_and(|u| crate::net::is_public_host(&u));
                if allowed {
                    self.attempt(&self.analytics_http, &url, &secret, event)
                        .await
                } else {
                    (FAILED, 0, Some("not a public address".to_string()))
                }
            } else {
                self.attempt(&self.http, &url, &secret, event).await
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
            store
                .client()
                .put_item()
                .table_name(store.table())
                .set_item(Some(delivery.to_item()))
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("PutItem delivery", e))?;
            if status == FAILED {
                tracing::warn!(event = %event.id, target, "delivery failed; kept as a dead letter");
            }
            outcomes.push(delivery);
        }
        Ok(outcomes)
    }

    async fn attempt(
        &self,
        http: &reqwest::Client,
        url: &str,
        secret: &[u8],
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
                    signing::sign(secret, &event.id, timestamp, &event.body),
                )
                .body(event.body.clone())
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => {
                    return (DELIVERED, i64::from(attempt) + 1, None);
                }
                Ok(response) => last_error = Some(format!("HTTP {}", response.status().as_u16())),
                Err(e) => last_error = Some(describe(&e)),
            }
        }
        (FAILED, i64::from(self.policy.attempts), last_error)
    }
}

/// A short cause of a failed request, without the URL (it may carry credentials).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "request failed".into()
    }
}

async fn get(store: &Store, event_id: &str, target: &str) -> Result<Option<Delivery>, StoreError> {
    let item =
        crate::store::get(store, &keys::delivery(event_id, target), "GetItem delivery").await?;
    item.as_ref().map(Delivery::from_item).transpose()
}

/// A tenant's deliveries, failed ones first.
pub async fn list(store: &Store, client_id: &str) -> Result<Vec<Delivery>, StoreError> {
    let partition = keys::client_partition(client_id);
    let mut all = Vec::new();
    for status in [FAILED, DELIVERED] {
        let items =
            crate::store::query_index(store, &partition, &format!("DELIVERY#{status}#")).await?;
        for item in &items {
            all.push(Delivery::from_item(item)?);
        }
    }
    Ok(all)
}

/// One stored event by id.
pub async fn event(store: &Store, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
    let item = crate::store::get(store, &keys::event(event_id), "GetItem event").await?;
    item.as_ref().map(StoredEvent::from_item).transpose()
}
