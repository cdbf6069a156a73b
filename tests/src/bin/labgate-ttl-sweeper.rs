//! DynamoDB TTL for DynamoDB Local, which has none: every `--interval-ms` (1 s) deletes every item of
//! every TTL-enabled table whose `expires_at` has passed (`labgate_tests::ttl`), as AWS may at any
//! moment after it, so that no test, smoke run or benchmark passes only because an expired item
//! is still there. Runs until killed; after every pass it writes `items swept: N` to `--stats`.
//!
//!   labgate-ttl-sweeper [--interval-ms 1000] [--stats FILE]   (AWS_ENDPOINT_URL_DYNAMODB etc.)

use clap::Parser;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Deletes expired items from DynamoDB Local, as DynamoDB TTL would")]
struct Args {
    /// Pause between passes over every table; never shorter than the pass took, so that the
    /// sweeper takes at most half of DynamoDB Local's time however many tables there are.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// A file that holds the number of items swept so far.
    #[arg(long)]
    stats: Option<std::path::PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let store = labgate::store::Store::from_env("", None).await;
    let mut swept: u64 = 0;
    loop {
        let started = std::time::Instant::now();
        match labgate_tests::ttl::sweep(store.client()).await {
            Ok(n) => swept += n,
            // DynamoDB Local restarting, a table deleted mid-pass: the next pass tries again.
            Err(e) => eprintln!("labgate-ttl-sweeper: {e}"),
        }
        if let Some(path) = &args.stats {
            let _ = std::fs::write(path, format!("items swept: {swept}\n"));
        }
        let pause = Duration::from_millis(args.interval_ms).max(started.elapsed());
        tokio::time::sleep(pause).await;
    }
}
