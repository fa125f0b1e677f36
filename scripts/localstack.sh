#!/usr/bin/env bash
# Run LocalStack on this host without Docker, on 127.0.0.1:4566 only ($LOCALSTACK_PORT to change),
# and set up the local rehearsal (README "Local rehearsal with LocalStack").
#
#   scripts/localstack.sh start    # install (first time) and start; waits until healthy
#   scripts/localstack.sh stop     # stop what `start` started (idempotent)
#   scripts/localstack.sh status   # exit 0 if a healthy LocalStack answers on the port
#   scripts/localstack.sh env      # print the export lines for clients (eval "$(... env)")
#   scripts/localstack.sh install  # only create the venv and install kinesis-mock
#   scripts/localstack.sh setup    # after start: the rehearsal's resources + a Slack stand-in
#       creates (idempotent) S3 bucket albwatch-logs, SQS queue albwatch-ingest, the bucket's
#       s3:ObjectCreated:* notification to it (AWSLogs/*.log.gz, as in template.yaml) and the
#       2-shard Kinesis stream albwatch (scripts/rehearsal_setup.py, run with the venv's boto3;
#       $ALBWATCH_REHEARSAL_BUCKET/_QUEUE/_STREAM/_SHARDS change them), then starts
#       scripts/slack_standin.py on 127.0.0.1:4599 ($SLACK_STANDIN_PORT): it answers every POST
#       `ok` and appends the bodies to .localstack/slack.jsonl (emptied when it starts).
#       `stop` stops the stand-in too.
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
STANDIN_PORT="${SLACK_STANDIN_PORT:-4599}"
STANDIN_URL="http://127.0.0.1:$STANDIN_PORT/services/T000/B000/XXXX"
STANDIN_PID_FILE="$STATE_DIR/slack-standin.pid"
STANDIN_LOG="$STATE_DIR/slack-standin.log"
STANDIN_OUT="$STATE_DIR/slack.jsonl"

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

# live_pid FILE PATTERN: the pid in FILE, if that process is alive and its command line
# matches PATTERN (a recycled pid of another program does not count).
live_pid() {
  [[ -f "$1" ]] || return 1
  local pid
  pid="$(cat "$1")"
  [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" |
    grep -q "$2" && echo "$pid"
}

# The pid in the pid file, if that process is alive and still a LocalStack runtime.
running_pid() { live_pid "$PID_FILE" 'localstack.runtime.main'; }

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

# The Slack stand-in's pid, if the pid file names a live slack_standin.py.
standin_pid() { live_pid "$STANDIN_PID_FILE" 'slack_standin.py'; }

start_standin() {
  local pid
  if pid="$(standin_pid)"; then
    if ! curl -fsS --max-time 1 "http://127.0.0.1:$STANDIN_PORT/" 2>/dev/null |
      grep -q 'albwatch Slack stand-in'; then
      log "the Slack stand-in (pid $pid) does not answer on port $STANDIN_PORT: run stop first"
      return 1
    fi
    log "reusing the Slack stand-in already running (pid $pid, messages in $STANDIN_OUT)"
    return 0
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$STANDIN_PORT") 2>/dev/null; then
    log "127.0.0.1:$STANDIN_PORT is taken by something else (SLACK_STANDIN_PORT to change):"
    ss -ltnp "sport = :$STANDIN_PORT" >&2 2>/dev/null || true
    return 1
  fi
  mkdir -p "$STATE_DIR"
  : >"$STANDIN_OUT"
  (
    exec 9>&-
    exec setsid "$VENV/bin/python" -u "$ROOT/scripts/slack_standin.py" \
      --port "$STANDIN_PORT" --out "$STANDIN_OUT" </dev/null >"$STANDIN_LOG" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$STANDIN_PID_FILE"
  for _ in $(seq 1 40); do
    if curl -fsS --max-time 1 "http://127.0.0.1:$STANDIN_PORT/" >/dev/null 2>&1; then
      log "Slack stand-in listening on 127.0.0.1:$STANDIN_PORT (pid $pid, log $STANDIN_LOG)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  log "the Slack stand-in did not start; $STANDIN_LOG:"
  cat "$STANDIN_LOG" >&2 || true
  stop_standin
  return 1
}

stop_standin() {
  local pid
  if pid="$(standin_pid)"; then
    log "stopping the Slack stand-in (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STANDIN_PID_FILE"
}

cmd_setup() {
  if ! healthy; then
    log "no healthy LocalStack on $HOST_PORT: run scripts/localstack.sh start first"
    return 1
  fi
  ensure_venv
  if ! "$VENV/bin/python" -c 'import boto3' 2>/dev/null; then
    log "boto3 is not importable in $VENV (it comes with localstack-core)"
    return 1
  fi
  log "creating the rehearsal resources in the LocalStack on $HOST_PORT"
  # Always this LocalStack, whatever AWS_* the caller has: never a real account.
  (
    unset AWS_PROFILE AWS_SESSION_TOKEN
    eval "$(print_env)"
    "$VENV/bin/python" "$ROOT/scripts/rehearsal_setup.py"
  )
  start_standin
  cat <<EOF
  Slack stand-in       $STANDIN_URL
                       (any path; bodies appended to .localstack/slack.jsonl, log .localstack/slack-standin.log)
EOF
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
  stop)
    cmd_stop
    stop_standin
    ;;
  setup) cmd_setup ;;
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
    echo "usage: $0 start|setup|stop|status|env|install|acquire ID|release ID" >&2
    exit 2
    ;;
esac
