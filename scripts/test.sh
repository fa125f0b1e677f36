#!/usr/bin/env bash
# The project's test command: unit, integration and doc tests against a local LocalStack, then
# the template checks.
#
#   scripts/test.sh [extra args for cargo nextest run / cargo test]
#
# LocalStack is started by scripts/localstack.sh and stopped again on exit (a LocalStack that
# was already running is reused; one started by hand is left running). Tests that need it look for
# ALBWATCH_LOCALSTACK=1 and the AWS_* variables. A local DynamoDB API (moto_server, by
# scripts/dynamodb.sh) is started and stopped the same way; its tests look for
# ALBWATCH_DYNAMODB=1 and AWS_ENDPOINT_URL_DYNAMODB. If either cannot start, the run fails under
# CI=true; elsewhere their tests are left to skip themselves and a warning says so.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

failed_steps=()
n_passed=0 n_failed=0 n_skipped=0
SUMMARY_FILE="$ROOT/target/albwatch-test-summary.txt"
rm -f "$SUMMARY_FILE"

section() { printf '\n=== %s\n' "$*"; }

# ---------------------------------------------------------------- LocalStack
# acquire/release (not start/stop) so that concurrent runs in one work tree share one LocalStack.
holding_localstack=0
started_dynamodb=0
cleanup() {
  if ((holding_localstack)); then
    holding_localstack=0
    scripts/localstack.sh release $$ || true
  fi
  if ((started_dynamodb)); then
    started_dynamodb=0
    scripts/dynamodb.sh stop || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "LocalStack"
holding_localstack=1
if scripts/localstack.sh acquire $$; then
  localstack_up=1
else
  localstack_up=0
  if [[ "${CI:-}" == "true" ]]; then
    echo "FAILED: LocalStack did not start (CI=true: this is a failure, not a skip)" >&2
    exit 1
  fi
  echo "WARNING: LocalStack did not start; tests that need it will skip themselves" >&2
fi
if ((localstack_up)); then
  eval "$(scripts/localstack.sh env)"
  export ALBWATCH_LOCALSTACK=1
fi

# ---------------------------------------------------------------- DynamoDB (moto_server)
# The state-store tests need a DynamoDB API; LocalStack's cannot run here (scripts/dynamodb.sh).
section "DynamoDB (moto_server)"
if curl -s -o /dev/null -m 2 "http://127.0.0.1:${DYNAMODB_PORT:-4568}/moto-api/"; then
  echo "reusing the DynamoDB API already answering"
  dynamodb_up=1
elif scripts/dynamodb.sh start; then
  started_dynamodb=1
  dynamodb_up=1
else
  dynamodb_up=0
  if [[ "${CI:-}" == "true" ]]; then
    echo "FAILED: moto_server did not start (CI=true: this is a failure, not a skip)" >&2
    exit 1
  fi
  echo "WARNING: moto_server did not start; the DynamoDB tests will skip themselves" >&2
fi
if ((dynamodb_up)); then
  eval "$(scripts/dynamodb.sh env)"
  export ALBWATCH_DYNAMODB=1
fi

# ---------------------------------------------------------------- helpers
# run_counted NAME CMD...: run a test command, echo its output, add up its counts.
run_counted() {
  local name="$1" out rc
  shift
  section "$name: $*"
  out="$(mktemp)"
  "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  count_results "$out"
  rm -f "$out"
  if ((rc != 0)); then
    failed_steps+=("$name (exit $rc)")
  fi
}

# Sum the runners' own summary lines:
#   nextest:    "Summary [ 1.2s] 12 tests run: 11 passed, 1 failed, 2 skipped"
#   cargo test: "test result: FAILED. 11 passed; 1 failed; 2 ignored; 0 measured; ..."
count_results() {
  local counts
  counts="$(python3 - "$1" <<'EOF'
import re, sys
p = f = s = 0
for line in open(sys.argv[1], errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    if re.search(r"^\s*Summary \[.*\] \d+ tests? run:", line):
        get = lambda w: sum(int(n) for n in re.findall(r"(\d+) " + w, line))
        p += get("passed"); f += get("failed") + get("timed out"); s += get("skipped")
    elif line.startswith("test result:"):
        get = lambda w: sum(int(n) for n in re.findall(r"(\d+) " + w, line))
        p += get("passed"); f += get("failed"); s += get("ignored")
print(p, f, s)
EOF
)"
  read -r p f s <<<"$counts"
  n_passed=$((n_passed + p)) n_failed=$((n_failed + f)) n_skipped=$((n_skipped + s))
}

# ---------------------------------------------------------------- tests
if cargo nextest --version >/dev/null 2>&1; then
  # Unit, integration and binary tests; benches are compiled by clippy --all-targets, not run.
  run_counted "tests (nextest)" cargo nextest run --lib --bins --tests --no-fail-fast "$@"
else
  run_counted "tests (cargo test)" cargo test --lib --bins --tests --no-fail-fast "$@"
fi
# Neither of the above runs doctests.
run_counted "doctests" cargo test --doc --no-fail-fast

# ---------------------------------------------------------------- template checks
if [[ -f template.yaml && -x scripts/check-deploy.sh ]]; then
  section "template checks: scripts/check-deploy.sh lint"
  scripts/check-deploy.sh lint || failed_steps+=("template checks")
fi

# ---------------------------------------------------------------- summary
cleanup # release LocalStack now, so that the counts below are the last lines printed
section "summary"
if ((${#failed_steps[@]})); then
  printf 'FAILED: %s\n' "${failed_steps[@]}"
else
  echo "all steps passed"
fi
mkdir -p "$(dirname "$SUMMARY_FILE")"
echo "tests: $n_passed passed, $n_failed failed, $n_skipped skipped" | tee "$SUMMARY_FILE"
((${#failed_steps[@]} == 0))
