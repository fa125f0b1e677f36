#!/usr/bin/env bash
# Run LocalStack on this host without Docker, on 127.0.0.1:4566 only ($LOCALSTACK_PORT to change).
#
#   scripts/localstack.sh start    # install (first time) and start; waits until healthy
#   scripts/localstack.sh stop     # stop what `start` started (idempotent)
#   scripts/localstack.sh status   # exit 0 if a healthy LocalStack answers on the port
#   scripts/localstack.sh env      # print the export lines for clients (eval "$(... env)")
#   scripts/localstack.sh install  # only create the venv and install kinesis-mock
#   scripts/localstack.sh acquire ID / release ID
#       shared use by concurrent test runs (ID = the caller's pid): acquire starts LocalStack
#       or reuses a running one; release stops it when the last holder leaves, but only if an
#       acquire started it (a LocalStack started by hand or by someone else is left running).
#
# Why the settings below: see shared/localstack/NOTES.md. In short, only localstack-core
# 4.9.2 runs on Python 3.11 and needs its pinned dependency set; the host looks like a
# container (/.dockerenv) so OVERRIDE_IN_DOCKER=0 and a FILESYSTEM_ROOT of our own are
# needed; kinesis-mock binds 0.0.0.0 unless a Node preload forces loopback.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_VERSION="4.9.2"
VENV="$ROOT/.venv/localstack"
CONSTRAINTS="$ROOT/scripts/localstack-$LS_VERSION-constraints.txt"
PRELOAD="$ROOT/scripts/loopback-listen.cjs"
STATE_DIR="$ROOT/.localstack"
PID_FILE="$STATE_DIR/localstack.pid"
LOG_FILE="$STATE_DIR/localstack.log"
PORT="${LOCALSTACK_PORT:-4566}" # another port lets a second checkout run its own LocalStack
HOST_PORT="127.0.0.1:$PORT"
HEALTH_URL="http://$HOST_PORT/_localstack/health"
SERVICES="${LOCALSTACK_SERVICES:-s3,kinesis,sqs,secretsmanager,sns}"
START_TIMEOUT="${LOCALSTACK_START_TIMEOUT:-90}"
LEASE_DIR="$STATE_DIR/leases"
STARTED_BY_ACQUIRE="$STATE_DIR/started-by-acquire"

log() { echo "localstack.sh: $*" >&2; }

print_env() {
  cat <<EOF
export AWS_ENDPOINT_URL=http://$HOST_PORT
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
EOF
}

# The runtime's settings (also used by `lpm install`, so packages land where the runtime looks).
runtime_env() {
  export OVERRIDE_IN_DOCKER=0
  export FILESYSTEM_ROOT="$STATE_DIR/fs"
  export GATEWAY_LISTEN="$HOST_PORT"
  export GATEWAY_SERVER=hypercorn
  export LOCALSTACK_HOST="$HOST_PORT"     # URLs it hands out (queue URLs...) point at loopback
  export SQS_ENDPOINT_STRATEGY=path       # no *.localhost.localstack.cloud names (no DNS here)
  export DNS_ADDRESS=0
  export DISABLE_EVENTS=1
  export SKIP_SSL_CERT_DOWNLOAD=1
  export SERVICES
  export EAGER_SERVICE_LOADING=1
  export KINESIS_LATENCY=0
  export NODE_OPTIONS="--require $PRELOAD"
}

# Is something answering on 4566 with every service of $SERVICES ready and kinesis running?
healthy() {
  local body
  body="$(curl -fsS --max-time 2 "$HEALTH_URL" 2>/dev/null)" || return 1
  SERVICES="$SERVICES" python3 -c '
import json, os, sys
s = json.loads(sys.argv[1]).get("services", {})
want = os.environ["SERVICES"].split(",")
ok = s.get("kinesis") == "running" and all(s.get(w) in ("running", "available") for w in want)
sys.exit(0 if ok else 1)' "$body"
}

# Create or reuse the venv; reinstall when the pinned version or constraints change.
ensure_venv() {
  local stamp="$VENV/.albwatch-stamp" want
  want="localstack-core[runtime]==$LS_VERSION $(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  local py="${LOCALSTACK_PYTHON:-}"
  if [[ -z "$py" ]]; then
    if command -v python3.11 >/dev/null; then py=python3.11; else py=python3; fi
  fi
  log "installing localstack-core $LS_VERSION into $VENV (with $py)"
  local t0=$SECONDS
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "localstack-core[runtime]==$LS_VERSION" -c "$CONSTRAINTS"
  echo "$want" >"$stamp"
  log "venv ready in $((SECONDS - t0)) s"
}

# kinesis-mock comes from npm; install it ahead so the first Kinesis call does not wait.
ensure_kinesis_mock() {
  compgen -G "$STATE_DIR/fs/usr/lib/localstack/kinesis-local/*/node_modules" >/dev/null && return 0
  log "installing kinesis-mock"
  (runtime_env; "$VENV/bin/python" -m localstack.cli.lpm install kinesis-mock) >&2
}

# The pid in the pid file, if that process is alive and still a LocalStack runtime.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" |
    grep -q 'localstack.runtime.main' && echo "$pid"
}

# The pid and all its descendants (kinesis-mock, ...), deepest first.
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    descendants "$child"
    echo "$child"
  done
}

cmd_start() {
  if healthy; then
    log "reusing the LocalStack already healthy on $HOST_PORT"
    return 0
  fi
  if running_pid >/dev/null; then
    log "a LocalStack started earlier (pid $(cat "$PID_FILE")) is not healthy: restarting it"
    cmd_stop
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    log "$HOST_PORT is taken by something that is not a healthy LocalStack:"
    ss -ltnp "sport = :$PORT" >&2 2>/dev/null || true
    return 1
  fi
  mkdir -p "$STATE_DIR"
  ensure_venv
  ensure_kinesis_mock

  log "starting LocalStack $LS_VERSION on $HOST_PORT (services: $SERVICES)"
  local t0=$SECONDS
  (
    runtime_env
    cd "$STATE_DIR"
    exec 9>&- # do not inherit the acquire/release lock
    # setsid: own process group, so `stop` can signal the whole tree.
    exec setsid "$VENV/bin/python" -m localstack.runtime.main </dev/null >"$LOG_FILE" 2>&1
  ) &
  local pid=$!
  echo "$pid" >"$PID_FILE"

  while ((SECONDS - t0 < START_TIMEOUT)); do
    if healthy; then
      log "LocalStack healthy after $((SECONDS - t0)) s (pid $pid, log $LOG_FILE)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "LocalStack exited during start-up; last lines of $LOG_FILE:"
      tail -n 40 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      return 1
    fi
    sleep 0.5
  done
  log "LocalStack not healthy after ${START_TIMEOUT} s; last lines of $LOG_FILE:"
  tail -n 40 "$LOG_FILE" >&2 || true
  curl -sS --max-time 2 "$HEALTH_URL" >&2 || true
  cmd_stop
  return 1
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    return 0
  fi
  local tree
  tree="$(descendants "$pid") $pid"
  log "stopping LocalStack (pid $pid)"
  # It leads its own process group (setsid): signal the group, and each known descendant.
  kill -TERM -- "-$pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  kill -TERM $tree 2>/dev/null || true
  for _ in $(seq 1 40); do
    local alive=0 p
    for p in $tree; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.25
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  kill -KILL $tree 2>/dev/null || true
  rm -f "$PID_FILE" "$STARTED_BY_ACQUIRE"
}

# acquire/release run one at a time (flock on fd 9).
lock() {
  mkdir -p "$LEASE_DIR"
  exec 9>"$STATE_DIR/lock"
  flock 9
}

# Drop the leases of holders that are gone (killed test runs).
prune_leases() {
  local f
  for f in "$LEASE_DIR"/*; do
    [[ -e "$f" ]] || continue
    kill -0 "$(basename "$f")" 2>/dev/null || rm -f "$f"
  done
}

cmd_acquire() {
  local id="${1:?acquire needs an id: the caller pid}"
  lock
  prune_leases
  if healthy; then
    log "reusing the LocalStack already healthy on $HOST_PORT"
  else
    cmd_start
    touch "$STARTED_BY_ACQUIRE"
  fi
  touch "$LEASE_DIR/$id"
}

cmd_release() {
  local id="${1:?release needs an id}"
  lock
  rm -f "$LEASE_DIR/$id"
  prune_leases
  if [[ -f "$STARTED_BY_ACQUIRE" ]] && ! compgen -G "$LEASE_DIR/*" >/dev/null; then
    cmd_stop
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) healthy ;;
  env) print_env ;;
  install)
    mkdir -p "$STATE_DIR"
    ensure_venv
    ensure_kinesis_mock
    ;;
  acquire) cmd_acquire "${2:-}" ;;
  release) cmd_release "${2:-}" ;;
  *)
    echo "usage: $0 start|stop|status|env|install|acquire ID|release ID" >&2
    exit 2
    ;;
esac
