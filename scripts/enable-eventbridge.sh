#!/usr/bin/env bash
# Turn on "Send notifications to Amazon EventBridge" on an existing bucket WITHOUT losing its
# other notifications (README "Existing bucket").
#
#   scripts/enable-eventbridge.sh [--yes] BUCKET
#
# S3 has one notification configuration per bucket, and put-bucket-notification-configuration
# replaces all of it: writing {"EventBridgeConfiguration": {}} alone would delete every SNS, SQS
# and Lambda notification the bucket has. This script reads the current configuration, adds
# EventBridgeConfiguration to it (every other entry kept as it is), shows the change as a diff,
# asks before writing (reads the answer from standard input; --yes: does not ask; no answer
# means no), reads the configuration again right before writing (if someone changed it meanwhile,
# it stops), writes, and reads it back to check.
#
# Needs the AWS CLI (v1 or v2) and diff; no jq, no Python. Uses the CLI's usual settings
# (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL...). Permissions: s3:GetBucketNotification and
# s3:PutBucketNotification on the bucket.
#
# Exit status: 0 enabled (or it already was), 1 failed or declined, 2 usage.
set -euo pipefail

usage() {
  sed -n '5p' "${BASH_SOURCE[0]}" | sed 's/^#   /usage: /' >&2
  exit 2
}

yes=0
bucket=""
for arg in "$@"; do
  case "$arg" in
  -y | --yes) yes=1 ;;
  -h | --help)
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  -*) usage ;;
  *)
    [[ -z "$bucket" ]] || usage
    bucket="$arg"
    ;;
  esac
done
[[ -n "$bucket" ]] || usage
command -v aws >/dev/null || {
  echo "enable-eventbridge.sh: the AWS CLI (aws) is not on PATH" >&2
  exit 1
}

export AWS_PAGER=""
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The configuration as the CLI prints it (a bucket without any prints nothing: "{}").
read_config() { # read_config FILE [JMESPATH]
  aws s3api get-bucket-notification-configuration --bucket "$bucket" --output json \
    ${2:+--query "$2"} >"$1"
  [[ -s "$1" ]] || echo "{}" >"$1"
}

read_config "$work/before.json"
if [[ "$(aws s3api get-bucket-notification-configuration --bucket "$bucket" --output json \
  --query 'EventBridgeConfiguration != null')" == "true" ]]; then
  echo "s3://$bucket already sends its events to Amazon EventBridge; nothing to do."
  exit 0
fi
# JMESPath merge(): every entry of the configuration, plus EventBridgeConfiguration.
read_config "$work/after.json" 'merge(@, `{"EventBridgeConfiguration": {}}`)'

echo "Notification configuration of s3://$bucket, before (-) and after (+):"
diff -u --label before --label after "$work/before.json" "$work/after.json" || true

if ((!yes)); then
  printf 'Write this configuration? [y/N] ' >&2
  answer=""
  read -r answer || echo >&2
  if [[ ! "$answer" =~ ^[yY]([eE][sS])?$ ]]; then
    echo "Nothing written (answer y, or pass --yes)." >&2
    exit 1
  fi
fi

read_config "$work/now.json"
if ! cmp -s "$work/before.json" "$work/now.json"; then
  echo "The configuration of s3://$bucket changed meanwhile; nothing written. Run again:" >&2
  diff -u --label shown --label now "$work/before.json" "$work/now.json" >&2 || true
  exit 1
fi

if ! aws s3api put-bucket-notification-configuration --bucket "$bucket" \
  --notification-configuration "file://$work/after.json"; then
  echo "Nothing changed. If S3 refused an existing destination (a deleted queue, topic or" >&2
  echo "function), fix or remove that entry first." >&2
  exit 1
fi

read_config "$work/written.json"
if ! cmp -s "$work/after.json" "$work/written.json"; then
  echo "s3://$bucket now holds a configuration other than the one written:" >&2
  diff -u --label written --label now "$work/after.json" "$work/written.json" >&2 || true
  exit 1
fi
echo "s3://$bucket now sends its events to Amazon EventBridge; its other notifications are unchanged."
