//! labgate-bench: what every request costs, beside the floor DynamoDB itself sets, measured in
//! the same run against DynamoDB Local. Prints Markdown tables (docs/performance.md keeps them).
//! Run it with `scripts/bench`, which starts DynamoDB Local and builds the release binaries.

// Handler futures nest deeply (handler → domain → store); the default limit of 128 is
// exceeded when their layout is computed on a cold build.
#![recursion_limit = "256"]

mod cold_start;
mod latency;
mod scale;
mod throughput;

use clap::Parser;
use labgate_tests::TestEnv;

#[derive(Parser)]
#[command(about = "Measures labgate's request costs against DynamoDB Local")]
struct Args {
    /// Timed requests per latency case.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Concurrent clients in the throughput runs.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds per throughput run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Directory of the release binaries for the cold-start, memory and size figures; those
    /// figures are skipped without it.
    #[arg(long)]
    binaries: Option<std::path::PathBuf>,
    /// Directory of `cargo lambda build --release --arm64` output (`<fn>/bootstrap`), for sizes.
    #[arg(long)]
    arm64: Option<std::path::PathBuf>,
    /// Only the cold-start, memory and size table (needs `--binaries`).
    #[arg(long, requires = "binaries")]
    cold_start_only: bool,
    /// Only the figures at size: requests at capacities 10 to 10,000 and catalogs of 1 to 500
    /// environments, a burst of 2,000 users, and the reaper with a backlog.
    #[arg(long)]
    scale: bool,
    /// Samples per row of the cost-at-size table (`--scale`).
    #[arg(long, default_value_t = 30)]
    scale_samples: usize,
    /// Users (and capacity) of the burst (`--scale`).
    #[arg(long, default_value_t = 2_000)]
    burst: i64,
    /// Only the burst (`--scale`).
    #[arg(long)]
    burst_only: bool,
    /// Overdue sessions for the reaper's backlog (`--scale`).
    #[arg(long, default_value_t = 10_000)]
    backlog: usize,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = Args::parse();
    println!("# labgate-bench\n");
    println!("Against DynamoDB Local at {}.\n", labgate_tests::endpoint());
    if args.scale {
        if !args.burst_only {
            scale::request_costs(args.scale_samples).await;
        }
        scale::burst(args.burst, args.burst as usize, args.concurrency).await;
        if !args.burst_only {
            scale::reaper_backlog(args.backlog).await;
        }
        return;
    }
    if !args.cold_start_only {
        latency_and_throughput(&args).await;
    }
    if let Some(dir) = &args.binaries {
        cold_start::run(dir, args.arm64.as_deref()).await;
    }
}

async fn latency_and_throughput(args: &Args) {
    println!(
        "{} samples per case, {} concurrent clients for {} s per run.\n",
        args.samples, args.concurrency, args.seconds
    );
    // Loopback JWKS, token endpoint and score receiver for the LTI cases' test platform, and a
    // tool key to ask it for tokens.
    let ring = serde_json::json!({
        "id": "default",
        "key": labgate_tests::SIGNING_KEY,
        "lti": [{"kid": "t1", "der": labgate_tests::lti_platform::fixture_key("tool-1")}],
    })
    .to_string();
    let env = TestEnv::with_config(&[
        ("LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS", "true"),
        ("LABGATE_SIGNING_KEY", &ring),
    ])
    .await;
    let floors = latency::floors(&env, args.samples).await;
    let cases = latency::cases(&env, args.samples).await;
    latency::print(&floors, &cases);

    throughput::run(args.concurrency, args.seconds).await;
}
