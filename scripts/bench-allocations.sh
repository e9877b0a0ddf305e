#!/usr/bin/env bash
# Heap allocations per event before the store (decode, normalize, decide,
# encode), counted with dhat in benches/allocations.rs: a count, not a time,
# so it is the same on any machine. Prints the table; with BENCH_SUMMARY set
# (scripts/bench.sh) appends the two totals to the summary.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
out=$(cd "$ROOT" && cargo bench --quiet --bench allocations)
echo "== heap allocations per event (benches/allocations.rs) =="
echo "$out"
if [[ -n ${BENCH_SUMMARY:-} ]]; then
    trap_total=$(sed -n 's/^| \*\*trap, total before the store\*\* | \*\*\([0-9.]*\)\*\* |$/\1/p' <<<"$out")
    hook_total=$(sed -n 's/^| \*\*hook, total before the store\*\* | \*\*\([0-9.]*\)\*\* |$/\1/p' <<<"$out")
    echo "heap allocations per trap / hook alarm before the store|$trap_total / $hook_total|a handful (issue 19)" >>"$BENCH_SUMMARY"
fi
