#!/usr/bin/env bash
# Offline deployment checks: the SAM template lints, and `sam build` builds the functions.
#
#   scripts/check-deploy.sh          # everything
#   scripts/check-deploy.sh lint     # cfn-lint + sam validate --lint (no credentials needed)
#   scripts/check-deploy.sh build    # `sam build`, as a user runs it, then checks the artifacts
#   scripts/check-deploy.sh install  # only create the venv
#
# Tools live in the venv .venv/deploy (created on first use). `sam build` reads samconfig.toml
# (beta_features for the rust-cargolambda build method) and calls cargo-lambda once per function,
# for the template's one architecture (x86_64); no Docker, no credentials (a dummy region).
# CARGO_PROFILE_RELEASE_* variables reach cargo through sam and cargo-lambda (CI uses them to
# skip LTO); without them the shipped release profile is built.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv/deploy"
# Pinned so that a new linter release cannot turn CI red on its own; bump deliberately.
TOOLS=(cfn-lint==1.58.0 aws-sam-cli==1.170.0 cargo-lambda==1.9.2 ziglang==0.17.1)
# Template function -> cargo binary (BuildProperties.Binary).
FUNCTIONS=(IngestFunction:ingest AlerterFunction:alerter InteractFunction:interact)
BUILD_DIR=.aws-sam/build
GLIBC_MAX="2.34" # glibc of the provided.al2023 runtime

log() { echo "check-deploy.sh: $*" >&2; }

ensure_venv() {
  local stamp="$VENV/.albwatch-stamp" want="${TOOLS[*]}"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  local py=python3
  command -v python3.11 >/dev/null && py=python3.11
  log "installing ${TOOLS[*]} into $VENV"
  local t0=$SECONDS
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${TOOLS[@]}"
  echo "$want" >"$stamp"
  log "venv ready in $((SECONDS - t0)) s"
}

# Offline: no credentials, a region for the SAM translator, no telemetry.
tool_env() {
  export PATH="$VENV/bin:$PATH"
  export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
  export SAM_CLI_TELEMETRY=0
  unset AWS_ENDPOINT_URL
}

do_lint() {
  [[ -f template.yaml ]] || { log "template.yaml is missing"; return 1; }
  echo "--- cfn-lint template.yaml"
  cfn-lint template.yaml
  echo "--- sam validate --lint"
  sam validate --lint --template template.yaml
}

do_build() {
  # Say clearly which binary is missing instead of leaving it to cargo's error.
  local names missing=()
  names="$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(" ".join(t["name"] for p in json.load(sys.stdin)["packages"] for t in p["targets"] if "bin" in t["kind"]))')"
  local fb
  for fb in "${FUNCTIONS[@]}"; do
    [[ " $names " == *" ${fb#*:} "* ]] || missing+=("${fb#*:}")
  done
  if ((${#missing[@]})); then
    log "binary target(s) not found in Cargo.toml/src/bin: ${missing[*]} (have: ${names:-none})"
    return 1
  fi

  # Exactly what a user runs (README "Deploy"); never check a stale build.
  rm -rf "$BUILD_DIR"
  echo "--- sam build"
  local t0=$SECONDS
  sam build
  echo "sam build took $((SECONDS - t0)) s"

  # The artifacts SAM zips: present, x86-64, and loadable on Amazon Linux 2023. (Their panic
  # strategy leaves no trace in a stripped binary: tests/it/template_params.rs checks Cargo.toml.)
  for fb in "${FUNCTIONS[@]}"; do
    local f="$BUILD_DIR/${fb%%:*}/bootstrap"
    [[ -x "$f" ]] || { log "$f was not produced"; return 1; }
    if command -v readelf >/dev/null; then
      readelf -h "$f" | grep -q "Machine:.*X86-64" || { log "$f is not x86_64"; return 1; }
      local glibc
      glibc="$(readelf --dyn-syms -W "$f" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)"
      if [[ -n "$glibc" && "$(printf '%s\n%s\n' "$glibc" "$GLIBC_MAX" | sort -V | tail -n1)" != "$GLIBC_MAX" ]]; then
        log "$f needs glibc $glibc, the runtime has $GLIBC_MAX"
        return 1
      fi
      echo "$f: $(du -h "$f" | cut -f1), x86_64, glibc >= ${glibc:-none}"
    else
      echo "$f: $(du -h "$f" | cut -f1)"
    fi
  done
  [[ -f "$BUILD_DIR/template.yaml" ]] || { log "$BUILD_DIR/template.yaml was not written"; return 1; }
}

mode="${1:-all}"
case "$mode" in
  all | lint | build | install) ;;
  *) echo "usage: $0 [all|lint|build|install]" >&2; exit 2 ;;
esac

ensure_venv
tool_env
case "$mode" in
  install) ;;
  lint) do_lint ;;
  build) do_build ;;
  all)
    do_lint
    do_build
    ;;
esac
