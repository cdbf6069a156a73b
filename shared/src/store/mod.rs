//! The DynamoDB store: one table, single-table design (docs/data-model.md).

pub mod attr;
pub mod conditions;
pub mod fields;
pub mod keys;
pub mod round_trips;
pub mod schema;
pub mod tx;
pub mod write;

pub use write::{
    create, delete, put, put_batch, put_new, put_when, update_existing, update_if_existing,
    update_if_present, update_if_present_when,
};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;

pub use round_trips::RoundTrips;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or did not answer in time.
    #[error("DynamoDB unavailable during {op}: {detail}")]
    Unavailable { op: &'static str, detail: String },
    /// DynamoDB answered with an error.
    #[error("DynamoDB {op} failed: {detail}")]
    Failed { op: &'static str, detail: String },
    /// An item in the table does not have the shape the code expects.
    #[error("stored item is malformed: {0}")]
    Malformed(String),
}

impl StoreError {
    /// Classifies an SDK error; `op` names the call in words for logs and 5xx bodies.
    pub fn from_sdk<E, R>(op: &'static str, err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let detail = aws_smithy_types::error::display::DisplayErrorContext(&err).to_string();
        match err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                StoreError::Unavailable { op, detail }
            }
            _ => StoreError::Failed { op, detail },
        }
    }
}

/// The AWS SDK's configuration from the environment (region, credentials, endpoints), with
/// labgate's HTTPS client: loaded once per cold start, shared by every AWS client.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}

/// The HTTPS client of the AWS SDK: hyper 1 and rustls with ring (see Cargo.toml), trusting
/// only the compiled-in Amazon roots.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    http_client_trusting(AWS_ROOTS)
}

/// The same client trusting other roots (PEM): tests drive the production client through a
/// local TLS endpoint with a test root.
pub fn http_client_trusting(
    roots_pem: &[u8],
) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(roots_pem))
        .build()
        .expect("a TLS context from compiled-in certificates");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// The roots the SDK's client trusts: those of Amazon Trust Services, which issue the
/// certificate of every AWS endpoint. Compiled in: reading and parsing the system's ~150 roots
/// was about 4 ms of every cold start (docs/performance.md), and no other CA can vouch for
/// DynamoDB.
pub const AWS_ROOTS: &[u8] = include_bytes!("../../certs/amazon-trust-services.pem");

/// Timeouts of every DynamoDB call: an unreachable database fails the request with a 503 well
/// inside the function's 10-second timeout (retries included), instead of hanging it.
pub fn with_timeouts(
    builder: aws_sdk_dynamodb::config::Builder,
) -> aws_sdk_dynamodb::config::Builder {
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    use std::time::Duration;
    builder.timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(500))
            .operation_attempt_timeout(Duration::from_secs(2))
            .operation_timeout(Duration::from_secs(5))
            .build(),
    )
}

/// The table and the client that reaches it, built once per cold start.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
        }
    }

    /// A client from the environment (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn from_env(table: impl Into<String>, round_trips: Option<RoundTrips>) -> Self {
        Store::from_sdk_config(&sdk_config().await, table, round_trips)
    }

    /// A client from an SDK configuration already loaded (`sdk_config`).
    pub fn from_sdk_config(
        shared: &aws_config::SdkConfig,
        table: impl Into<String>,
        round_trips: Option<RoundTrips>,
    ) -> Self {
        let mut builder = with_timeouts(aws_sdk_dynamodb::config::Builder::from(shared));
        if let Some(counter) = round_trips {
            builder = builder.interceptor(counter);
        }
        Store::new(Client::from_conf(builder.build()), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// All items of a GSI1 partition whose sort key starts with `prefix`, every page. Eventually
/// consistent, as every GSI read is (DynamoDB refuses `ConsistentRead` on one): a write of the
/// last second may be missing. Use it for listings and counts shown to people, never for a
/// decision that no conditional write guards.
pub async fn query_index(
    store: &Store,
    partition: &str,
    prefix: &str,
) -> Result<Vec<attr::Item>, StoreError> {
    query(store, Some(keys::GSI1), partition, prefix).await
}

/// All items of a table partition whose sort key starts with `prefix`, every page, strongly
/// consistent.
pub async fn query_partition(
    store: &Store,
    partition: &str,
    prefix: &str,
) -> Result<Vec<attr::Item>, StoreError> {
    query(store, None, partition, prefix).await
}

async fn query(
    store: &Store,
    index: Option<&str>,
    partition: &str,
    prefix: &str,
) -> Result<Vec<attr::Item>, StoreError> {
    let (pk, sk) = match index {
        Some(_) => (keys::GSI1_PK, keys::GSI1_SK),
        None => (keys::PK, keys::SK),
    };
    let mut request = store
        .client()
        .query()
        .table_name(store.table())
        .set_index_name(index.map(str::to_string))
        // Table reads are consistent (DynamoDB Local always is; AWS only when asked); an index
        // cannot be, and DynamoDB refuses the request that asks.
        .set_consistent_read(index.is_none().then_some(true))
        .expression_attribute_names("#pk", pk)
        .expression_attribute_values(":pk", attr::s(partition));
    request = if prefix.is_empty() {
        request.key_condition_expression("#pk = :pk")
    } else {
        request
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#sk", sk)
            .expression_attribute_values(":prefix", attr::s(prefix))
    };
    let pages: Vec<_> = request
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| StoreError::from_sdk("Query", e))?;
    Ok(pages)
}

/// Reads several items by key in one `BatchGetItem` (strongly consistent), retrying any keys
/// DynamoDB leaves unprocessed under load. Missing items are simply absent from the result.
pub async fn batch_get(store: &Store, wanted: &[keys::Key]) -> Result<Vec<attr::Item>, StoreError> {
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    let mut request = KeysAndAttributes::builder()
        .set_keys(Some(wanted.iter().map(keys::Key::item).collect()))
        .consistent_read(true)
        .build()
        .map_err(|e| StoreError::Malformed(e.to_string()))?;
    let mut found = Vec::with_capacity(wanted.len());
    for attempt in 0.. {
        let out = store
            .client()
            .batch_get_item()
            .request_items(store.table(), request)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("BatchGetItem", e))?;
        found.extend(
            out.responses
                .and_then(|mut r| r.remove(store.table()))
                .unwrap_or_default(),
        );
        match out
            .unprocessed_keys
            .and_then(|mut u| u.remove(store.table()))
        {
            Some(rest) if !rest.keys().is_empty() && attempt < 5 => {
                request = rest;
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            Some(rest) if !rest.keys().is_empty() => {
                return Err(StoreError::Unavailable {
                    op: "BatchGetItem",
                    detail: "keys left unprocessed after retries".into(),
                });
            }
            _ => break,
        }
    }
    Ok(found)
}

/// The item with this key among `items`, if present.
pub fn find<'a>(items: &'a [attr::Item], key: &keys::Key) -> Option<&'a attr::Item> {
    let has = |item: &attr::Item, name: &str, value: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some(value)
    };
    items
        .iter()
        .find(|item| has(item, keys::PK, &key.pk) && has(item, keys::SK, &key.sk))
}

/// One item by key, strongly consistent. Every read of ours by key is; the only eventual reads
/// are of the indexes (`query_index`, the reaper's deadline query), each saying why that is safe.
pub async fn get(
    store: &Store,
    key: &keys::Key,
    op: &'static str,
) -> Result<Option<attr::Item>, StoreError> {
    get_projected(store, key, &[], op).await
}

/// Some attributes of one item by key (all of them for none), strongly consistent. Names need
/// no escaping: each is given as `#a<i>`.
pub async fn get_projected(
    store: &Store,
    key: &keys::Key,
    attributes: &[&str],
    op: &'static str,
) -> Result<Option<attr::Item>, StoreError> {
    let placeholders: Vec<String> = (0..attributes.len()).map(|i| format!("#a{i}")).collect();
    let names: std::collections::HashMap<String, String> = placeholders
        .iter()
        .cloned()
        .zip(attributes.iter().map(|a| a.to_string()))
        .collect();
    let out = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(key.item()))
        .consistent_read(true)
        .set_projection_expression((!attributes.is_empty()).then(|| placeholders.join(", ")))
        .set_expression_attribute_names((!names.is_empty()).then_some(names))
        .send()
        .await
        .map_err(|e| StoreError::from_sdk(op, e))?;
    Ok(out.item)
}

/// The `gsi2` sort keys of up to `limit` items of partition `partition` between `from` and `to`
/// (inclusive), in order (keys only, eventual): the free-slot index.
pub async fn index_range(
    store: &Store,
    partition: &str,
    (from, to): (&str, &str),
    limit: i32,
) -> Result<Vec<String>, StoreError> {
    let page = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(keys::GSI2)
        .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
        .expression_attribute_names("#pk", keys::GSI2_PK)
        .expression_attribute_names("#sk", keys::GSI2_SK)
        .expression_attribute_values(":pk", attr::s(partition))
        .expression_attribute_values(":from", attr::s(from))
        .expression_attribute_values(":to", attr::s(to))
        .limit(limit)
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("Query free slots", e))?;
    Ok(page
        .items()
        .iter()
        .filter_map(|i| attr::get_s(i, keys::GSI2_SK).ok())
        .collect())
}

/// The keys of up to `limit` sessions in deadline partition `partition` (`gsi2`, keys only,
/// eventual) whose sort key is below `bound`, in deadline order, following the query's pages;
/// and whether the partition may hold more below `bound` (the limit was reached).
pub async fn deadlines_below(
    store: &Store,
    partition: &str,
    bound: &str,
    limit: usize,
) -> Result<(Vec<keys::Key>, bool), StoreError> {
    let key_of = |i: &attr::Item| {
        Some(keys::Key {
            pk: attr::get_s(i, keys::PK).ok()?,
            sk: attr::get_s(i, keys::SK).ok()?,
        })
    };
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .query()
            .table_name(store.table())
            .index_name(keys::GSI2)
            .key_condition_expression("#pk = :pk AND #sk < :bound")
            .expression_attribute_names("#pk", keys::GSI2_PK)
            .expression_attribute_names("#sk", keys::GSI2_SK)
            .expression_attribute_values(":pk", attr::s(partition))
            .expression_attribute_values(":bound", attr::s(bound))
            .limit(i32::try_from(limit - found.len()).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query deadlines", e))?;
        found.extend(page.items().iter().filter_map(key_of));
        start = page.last_evaluated_key;
        if start.is_none() || found.len() >= limit {
            return Ok((found, start.is_some()));
        }
    }
}

/// The table keys a keys-only index lists in `partition` under sort keys starting with
/// `prefix` (all for an empty one), every page, in the index's order (eventual). `index` is
/// `gsi2` or `gsi3`.
pub async fn index_keys(
    store: &Store,
    index: &str,
    partition: &str,
    prefix: &str,
) -> Result<Vec<keys::Key>, StoreError> {
    let (pk, sk) = match index {
        keys::GSI2 => (keys::GSI2_PK, keys::GSI2_SK),
        keys::GSI3 => (keys::GSI3_PK, keys::GSI3_SK),
        other => {
            return Err(StoreError::Malformed(format!(
                "not a keys-only index: {other}"
            )));
        }
    };
    let mut request = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(index)
        .expression_attribute_names("#pk", pk)
        .expression_attribute_values(":pk", attr::s(partition));
    request = if prefix.is_empty() {
        request.key_condition_expression("#pk = :pk")
    } else {
        request
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#sk", sk)
            .expression_attribute_values(":prefix", attr::s(prefix))
    };
    let listed: Vec<attr::Item> = request
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| StoreError::from_sdk("Query", e))?;
    Ok(listed
        .iter()
        .filter_map(|i| {
            Some(keys::Key {
                pk: attr::get_s(i, keys::PK).ok()?,
                sk: attr::get_s(i, keys::SK).ok()?,
            })
        })
        .collect())
}

/// The items a keys-only index lists (`index_keys`), read by key in `BatchGetItem`s of 100
/// (strongly consistent), in the index's order. An item deleted between the two reads is simply
/// absent.
pub async fn listed_items(
    store: &Store,
    index: &str,
    partition: &str,
    prefix: &str,
) -> Result<Vec<attr::Item>, StoreError> {
    let wanted = index_keys(store, index, partition, prefix).await?;
    let mut found = std::collections::HashMap::with_capacity(wanted.len());
    for chunk in wanted.chunks(100) {
        for item in batch_get(store, chunk).await? {
            let key = (attr::get_s(&item, keys::PK)?, attr::get_s(&item, keys::SK)?);
            found.insert(key, item);
        }
    }
    Ok(wanted
        .into_iter()
        .filter_map(|k| found.remove(&(k.pk, k.sk)))
        .collect())
}

/// A tenant's items of one kind, read from its index partition (`gsi1`, eventual: for
/// listings, never for decisions), each read into a `T`.
pub async fn list_for_tenant<T>(
    store: &Store,
    tenant_id: &str,
    prefix: &str,
    read: impl Fn(&attr::Item) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let items = query_index(store, &keys::client_partition(tenant_id), prefix).await?;
    items.iter().map(read).collect()
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::{CertificateDer, pem::PemObject};

    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_roots() {
        let ders: Vec<CertificateDer> = CertificateDer::pem_slice_iter(super::AWS_ROOTS)
            .collect::<Result<_, _>>()
            .expect("PEM");
        assert_eq!(ders.len(), 5);
        let mut store = rustls::RootCertStore::empty();
        assert_eq!(store.add_parsable_certificates(ders), (5, 0));
    }
}
