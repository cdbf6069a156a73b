//! Counts DynamoDB round trips (every HTTP attempt, retries included) for budgets and benchmarks.

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, Default)]
pub struct RoundTrips {
    all: Arc<AtomicUsize>,
    transactions: Arc<AtomicUsize>,
    queries: Arc<AtomicUsize>,
    items: Arc<AtomicUsize>,
}

impl RoundTrips {
    pub fn count(&self) -> usize {
        self.all.load(Ordering::SeqCst)
    }

    /// How many of them were `TransactWriteItems`.
    pub fn transactions(&self) -> usize {
        self.transactions.load(Ordering::SeqCst)
    }

    /// How many of them were `Query`.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    /// Items the responses carried (`Item`, `Items`, `Responses`; keys of an index count too):
    /// what the reads cost beside their number.
    pub fn items(&self) -> usize {
        self.items.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.items.store(0, Ordering::SeqCst);
        self.all.store(0, Ordering::SeqCst);
        self.transactions.store(0, Ordering::SeqCst);
        self.queries.store(0, Ordering::SeqCst);
    }
}

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.all.fetch_add(1, Ordering::SeqCst);
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or_default();
        if target.ends_with(".TransactWriteItems") {
            self.transactions.fetch_add(1, Ordering::SeqCst);
        } else if target.ends_with(".Query") {
            self.queries.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error() {
            self.items.fetch_add(items_in(output), Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Items a read's output carries: `GetItem` (0 or 1), `Query` and `BatchGetItem` (their number).
fn items_in(output: &aws_smithy_runtime_api::client::interceptors::context::Output) -> usize {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, query::QueryOutput,
    };
    if let Some(out) = output.downcast_ref::<QueryOutput>() {
        return out.items().len();
    }
    if let Some(out) = output.downcast_ref::<GetItemOutput>() {
        return usize::from(out.item().is_some());
    }
    if let Some(out) = output.downcast_ref::<BatchGetItemOutput>() {
        return out
            .responses()
            .map_or(0, |tables| tables.values().map(Vec::len).sum());
    }
    0
}
