#!/usr/bin/env bash
# A local DynamoDB API (and ELBv2 and Lambda, for `albwatch doctor`) for the tests and for trying the
# alerter's state store by hand:
# moto_server (PyPI moto[server], pure Python; scripts/moto_serial.py runs it one request at a
# time) on 127.0.0.1:4568 only ($DYNAMODB_PORT to change).
# LocalStack 4.9.2's DynamoDB needs DynamoDB Local (Java, downloaded at first use), which these
# machines cannot fetch (shared/localstack/NOTES.md); moto serves UpdateItem ADD, condition
# expressions and TransactWriteItems as AWS does.
#
#   scripts/dynamodb.sh start   # install (first time, ~25 s) and start; waits until it answers
#   scripts/dynamodb.sh stop    # stop what `start` started (idempotent)
#   scripts/dynamodb.sh install # only create the venv
#   scripts/dynamodb.sh env     # print the export lines for clients (eval "$(... env)"):
#                               # AWS_ENDPOINT_URL_DYNAMODB, which the AWS SDKs prefer to
#                               # AWS_ENDPOINT_URL for DynamoDB only; likewise ELBv2 and Lambda,
#                               # which LocalStack 4.9.2's community services here lack
#                               # (`albwatch doctor` and its tests)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTO_VERSION="5.2.5"
VENV="$ROOT/.venv/moto"
CONSTRAINTS="$ROOT/scripts/moto-$MOTO_VERSION-constraints.txt"
STATE_DIR="$ROOT/.localstack"
PID_FILE="$STATE_DIR/moto.pid"
LOG_FILE="$STATE_DIR/moto.log"
PORT="${DYNAMODB_PORT:-4568}"
URL="http://127.0.0.1:$PORT"

log() { echo "dynamodb.sh: $*" >&2; }

answers() {
  curl -s -o /dev/null -m 2 "$URL/moto-api/" 2>/dev/null
}

install() {
  if [[ -x "$VENV/bin/moto_server" ]]; then
    return 0
  fi
  log "installing moto[server]==$MOTO_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" -c "$CONSTRAINTS"
}

start() {
  if answers; then
    log "already answering on $URL"
    return 0
  fi
  install
  mkdir -p "$STATE_DIR"
  # setsid: its own process group, so `stop` ends it whatever it spawned.
  # One request at a time, as DynamoDB isolates conditional writes (see moto_serial.py).
  setsid "$VENV/bin/python" "$ROOT/scripts/moto_serial.py" 127.0.0.1 "$PORT" >"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  for _ in $(seq 1 100); do
    if answers; then
      log "moto_server ready on $URL (pid $(cat "$PID_FILE"))"
      return 0
    fi
    sleep 0.1
  done
  log "moto_server did not answer on $URL; see $LOG_FILE"
  stop
  return 1
}

stop() {
  if [[ -f "$PID_FILE" ]]; then
    local pid
    pid="$(cat "$PID_FILE")"
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env)
    # moto accepts any credentials; the region is where the tests create their tables.
    cat <<ENV
export AWS_ENDPOINT_URL_DYNAMODB=$URL
export AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=$URL
export AWS_ENDPOINT_URL_LAMBDA=$URL
export AWS_ACCESS_KEY_ID=\${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=\${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=\${AWS_REGION:-us-east-1}
ENV
    ;;
  *)
    echo "usage: $0 start|stop|env|install" >&2
    exit 2
    ;;
esac
