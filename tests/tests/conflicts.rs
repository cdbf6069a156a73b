//! A transaction that keeps conflicting with others (a hot item on AWS: DynamoDB cancels one of
//! two transactions that touch an item at once) is retried, then answered as contention: a 503
//! to try again, never a 500. DynamoDB Local serialises transactions and never conflicts, so a
//! stub endpoint answers every call as AWS answers a conflict.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use labgate::store::attr;
use labgate::store::tx::{self, TxError, item};
use labgate::store::{RoundTrips, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An endpoint that cancels every transaction for a conflict; the URL and the calls it got.
async fn always_conflicting() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = serde_json::json!({
                        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                        "CancellationReasons": [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
                    });
                    async move {
                        Ok::<_, hyper::Error>(
                            hyper::Response::builder()
                                .status(400)
                                .header("content-type", "application/x-amz-json-1.0")
                                .body(Full::new(Bytes::from(body.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, calls)
}

#[tokio::test]
async fn a_transaction_that_keeps_conflicting_is_unavailable_not_a_failure() {
    let (url, calls) = always_conflicting().await;
    let store = labgate_tests::store_at(&url, "labgate", &RoundTrips::default());
    let key = labgate::store::keys::reaper_cursor();
    let change = item::update(
        store.table(),
        &key,
        "SET probe = :h",
        labgate::store::attr::Item::from([(":h".to_string(), attr::n(1))]),
    );
    let err = tx::transact(&store, "TransactWriteItems test", vec![change.unwrap()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, TxError::Store(StoreError::Unavailable { .. })),
        "{err:?}"
    );
    // Every attempt reached the endpoint (the SDK's own retries do not retry a cancellation).
    assert_eq!(calls.load(Ordering::SeqCst), 12);
}
