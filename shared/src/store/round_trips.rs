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

    pub fn reset(&self) {
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
}
