#!/usr/bin/env bash
# Runs every fuzz target (cargo-fuzz / libFuzzer) for a bounded time and
# prints the executions each ran. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
# The machine's Rust is stable; cargo-fuzz needs unstable compiler flags, so
# RUSTC_BOOTSTRAP=1 enables them for this build only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in snmp_decode alarm_hook cloudevent soap_response xml_depth; do
  mkdir -p "fuzz/corpus/$target"
  log=$(mktemp)
  # A fresh copy of the seed corpus: new inputs found stay out of git.
  work=$(mktemp -d); cp -r "fuzz/corpus/$target/." "$work/"
  if cargo fuzz run "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see fuzz/artifacts/$target)"
  fi
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  [ -n "$execs" ] || execs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
  printf '%-14s %-6s %12s executions in %ss\n' "$target" "$result" "${execs:-?}" "$seconds"
  rm -rf "$work" "$log"
  [ "$result" = ok ] || exit 1
done
