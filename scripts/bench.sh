#!/usr/bin/env bash
# The benchmark suite, one command: builds in release mode, runs every
# benchmark, and ends with one table of figures, each next to its target and,
# where one exists, its anchor measured in the same run on the same machine.
# See docs/performance.md for what each measures and the recorded results.
#
#   bench-snmp.sh       SNMP traps: highest lossless rate, vcgate vs snmptrapd
#   bench-http.sh       HTTP alarm hook: durable accepts/s, p50/p99 by concurrency
#   bench-automation.sh receipt -> function start latency; no-op runs/s
#   bench-resources.sh  cold start, idle/peak RSS, CPU per 1 000 events
#   bench-scale.sh      cost growth with 1x/10x/100x stored events, 1/10/100 subscriptions
#   bench-allocations.sh heap allocations per trap and per hook alarm (a count, benches/allocations.rs)
#
# BENCH_ONLY_SUITES="snmp http" runs a subset. Each script's own knobs apply
# (see their headers). Takes about 15 minutes on 2 cores with the defaults.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
cargo build --release --quiet --bin vcgate --example trapgen --example hookload || exit 1

BENCH_SUMMARY=$(mktemp /tmp/vcgate-bench-summary.XXXXXX)
export BENCH_SUMMARY
trap 'rm -f "$BENCH_SUMMARY"' EXIT
suites=${BENCH_ONLY_SUITES:-"snmp http automation resources scale allocations"}
failed=()
for suite in $suites; do
    echo
    "$here/bench-$suite.sh" || failed+=("$suite")
done

echo
echo "== Summary ($(nproc) cores, $(uname -r), vcgate $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)) =="
awk -F'|' '{ printf "%-72s %-34s %s\n", $1, $2, $3 }' "$BENCH_SUMMARY"
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]} (see their output above)"
    exit 1
fi
