#!/usr/bin/env bash
# Whole-process comparison: `albwatch parse --summary FILE.gz` against the decompression limit
# of this machine, `igzip -dc FILE.gz >/dev/null` (and `libdeflate-gunzip -c`, which albwatch's
# decoder uses). Runs each command RUNS times, interleaved, after one warm-up, and prints the
# median wall time of each, the ratios to igzip, MB/s and lines/s of uncompressed text, and
# albwatch's peak RSS.
#
#   bench/vs_igzip.sh FILE.gz [RUNS]      # RUNS defaults to 7
#
# Needs igzip (Debian: isal) and libdeflate-gunzip (Debian: libdeflate-tools); builds the
# release binary first. Quote the ratios: they hold when the machine's speed drifts.
set -euo pipefail

file="${1:?usage: bench/vs_igzip.sh FILE.gz [RUNS]}"
runs="${2:-7}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for tool in igzip libdeflate-gunzip; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install isal libdeflate-tools)" >&2; exit 2; }
done
cargo build --release --quiet --bin albwatch --manifest-path "$root/Cargo.toml"
albwatch="$root/target/release/albwatch"

# wall seconds of one run of "$@" (stdout discarded)
wall() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  calc "$t1 - $t0"
}
calc() { awk "BEGIN { print $1 }"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -a t_igzip t_libdeflate t_albwatch
wall igzip -dc "$file" >/dev/null # warm-up: page cache
wall "$albwatch" parse --summary "$file" >/dev/null
for ((i = 0; i < runs; i++)); do
  t_igzip+=("$(wall igzip -dc "$file")")
  t_libdeflate+=("$(wall libdeflate-gunzip -c "$file")")
  t_albwatch+=("$(wall "$albwatch" parse --summary "$file")")
done
igzip_s=$(printf '%s\n' "${t_igzip[@]}" | median)
libdeflate_s=$(printf '%s\n' "${t_libdeflate[@]}" | median)
albwatch_s=$(printf '%s\n' "${t_albwatch[@]}" | median)

summary="$("$albwatch" parse --summary "$file")"
bytes=$(sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' <<<"$summary")
lines=$(sed -n 's/.*"lines":\([0-9]*\).*/\1/p' <<<"$summary")
rss_kb=$( { /usr/bin/time -f '%M' "$albwatch" parse --summary "$file" >/dev/null; } 2>&1 | tail -n1)

printf 'file                 %s (%s bytes gz, %s bytes text, %s lines), %s runs each\n' \
  "$file" "$(stat -c %s "$file")" "$bytes" "$lines" "$runs"
printf 'igzip -dc            %.3f s (median wall)\n' "$igzip_s"
printf 'libdeflate-gunzip    %.3f s  = %.2fx igzip\n' "$libdeflate_s" "$(calc "$libdeflate_s / $igzip_s")"
printf 'albwatch parse       %.3f s  = %.2fx igzip, %.0f MB/s, %.2f M lines/s, peak RSS %d MB\n' \
  "$albwatch_s" "$(calc "$albwatch_s / $igzip_s")" \
  "$(calc "$bytes / $albwatch_s / 1000000")" "$(calc "$lines / $albwatch_s / 1000000")" \
  "$((rss_kb / 1024))"
