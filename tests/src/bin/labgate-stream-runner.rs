//! The table's stream for DynamoDB Local, as the Lambda service would run it: every
//! `--interval-ms` (500 ms) reads the new records of every shard of `LABGATE_TABLE_NAME`'s stream
//! and hands the outbox inserts (what the template's filters pass) to the session counter, so
//! that the catalog's counts move under `scripts/dev` as they do on AWS. Webhooks are not
//! delivered locally. Waits for the table; runs until killed.
//!
//!   labgate-stream-runner [--interval-ms 500]   (AWS_ENDPOINT_URL_DYNAMODB, LABGATE_TABLE_NAME)

use aws_lambda_events::event::dynamodb::Event;
use clap::Parser;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Runs the session counter on DynamoDB Local's stream, as Lambda would")]
struct Args {
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let table = std::env::var("LABGATE_TABLE_NAME").unwrap_or_else(|_| "labgate".into());
    let store = labgate::store::Store::from_env(table, None).await;
    // Shard id → the iterator to read from next; records read but not counted yet.
    let mut shards: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut pending = Vec::new();
    loop {
        match labgate_tests::streams::poll(&store, &mut shards).await {
            Ok(batch) => pending.extend(batch.records),
            // The table not created yet, DynamoDB Local restarting: the next pass tries again.
            Err(e) => eprintln!("labgate-stream-runner: {e}"),
        }
        if !pending.is_empty() {
            let mut batch = Event::default();
            batch.records = std::mem::take(&mut pending);
            match labgate::workshop::counts::count(&store, &batch).await {
                // Other outbox events (launches, custom events) change no count: nothing to say.
                Ok(report) if report.counted + report.already == 0 => {}
                Ok(report) => eprintln!(
                    "labgate-stream-runner: {} session events counted ({} before)",
                    report.counted, report.already
                ),
                // Lambda retries the batch: so does the next pass (events counted stay counted
                // and are not counted again).
                Err(e) => {
                    eprintln!("labgate-stream-runner: counting failed, retrying: {e}");
                    pending = batch.records;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
}
