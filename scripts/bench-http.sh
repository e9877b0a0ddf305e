#!/usr/bin/env bash
# HTTP alarm-hook ingest benchmark: durable accepts per second and latency of
# POST /api/v1/alarms at several concurrency levels.
#
# For each concurrency a fresh vcgate (fresh store, [store] sync = "full": one
# fsync per group commit, HTTP rate limit raised out of the way) takes
# BENCH_HTTP_SECS seconds of closed-loop load from examples/hookload.rs (one
# keep-alive connection per worker, a unique delivery_id and target per
# request). A 202 is sent only after the commit is durable, so "accepted/s"
# is durable accepts per second. Afterwards the store must hold exactly as
# many events as there were 202 answers (checked; a mismatch fails the run).
#
# Environment:
#   BENCH_CONCURRENCY  levels (default "1 8 32 64")
#   BENCH_HTTP_SECS    seconds per level (default 10)
#   BENCH_SYNC         "full" (default) or "normal"
#   CARGO_TARGET_DIR   where cargo builds (default <repo>/target)
#   BENCH_SCHED        "fifo" (default as root: chrt -f 10 for vcgate and hookload, so other
#                      work on a shared host disturbs less), "nice" (nice -n -10), "none"
#   BENCH_KEEP         1 = keep the temp directory
# Everything is on 127.0.0.1; every level is bounded in time and request count.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LEVELS=${BENCH_CONCURRENCY:-"1 8 32 64"}
SECS=${BENCH_HTTP_SECS:-10}
SYNC=${BENCH_SYNC:-full}
MAX_REQUESTS=2000000
INGEST_TOKEN=bench-ingest-token-0001
READ_TOKEN=bench-read-token-0001

log() { printf '%s\n' "$*" >&2; }
die() {
    log "bench-http: $*"
    exit 1
}
if [[ $(id -u) == 0 ]]; then SCHED=${BENCH_SCHED:-fifo}; else SCHED=${BENCH_SCHED:-none}; fi
case $SCHED in
fifo) RUN=(chrt -f 10) ;;
nice) RUN=(nice -n -10) ;;
none) RUN=(env) ;;
*) die "BENCH_SCHED must be fifo, nice or none" ;;
esac

for tool in curl jq; do
    if ! command -v "$tool" >/dev/null; then
        log "installing $tool"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
    fi
done

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 30000))
}

cpu_secs() {
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}

VC_PID=""
cleanup() {
    if [[ -n $VC_PID ]]; then
        kill "$VC_PID" 2>/dev/null || true
        wait "$VC_PID" 2>/dev/null || true
    fi
    if [[ ${BENCH_KEEP:-0} != 1 && -n ${WORK:-} ]]; then
        rm -rf "$WORK"
    else
        [[ -n ${WORK:-} ]] && log "kept $WORK"
    fi
}
trap cleanup EXIT

log "building (release): vcgate + examples/hookload"
(cd "$ROOT" && cargo build --release --quiet --bin vcgate --example hookload)
VCGATE="$TARGET_DIR/release/vcgate"
HOOKLOAD="$TARGET_DIR/release/examples/hookload"
[[ -x $VCGATE && -x $HOOKLOAD ]] || die "build products missing in $TARGET_DIR/release"
WORK=$(mktemp -d /tmp/vcgate-bench-http.XXXXXX)

# What one fsync costs on the store's filesystem: 4 KiB O_DSYNC overwrites of
# a preallocated file (like SQLite rewriting its WAL), mean of 200.
dd if=/dev/zero of="$WORK/fsync-probe" bs=4k count=200 2>/dev/null
fsync_ms=$(dd if=/dev/zero of="$WORK/fsync-probe" bs=4k count=200 oflag=dsync conv=notrunc 2>&1 |
    awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") print $(i - 1) }' |
    awk '{ printf "%.2f", $1 / 200 * 1000 }')
rm -f "$WORK/fsync-probe"

echo "== HTTP alarm-hook ingest: POST /api/v1/alarms, durable accepts =="
echo "host: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "store: $(df -T "$WORK" | awk 'NR == 2 { print $2 " on " $1 }'), one 4 KiB O_DSYNC overwrite = ${fsync_ms} ms (mean)"
echo "vcgate: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')  [store] sync=\"$SYNC\" (full = fsync per group commit), max_batch=1024 (default); WAL; fresh store per level"
echo "load: examples/hookload, closed loop, 1 keep-alive connection per worker, unique delivery_id per request, ${SECS}s per level; scheduled: $SCHED (${RUN[*]})"
echo "      (answers are counted only when the server answered; every request started is awaited)"
echo

printf '%5s %9s %9s %11s %8s %8s %8s %8s %7s %7s %9s\n' conc requests accepted accepted/s p50_ms p90_ms p99_ms max_ms cpu% client stored
fail=0
for c in $LEVELS; do
    dir="$WORK/c$c"
    mkdir -p "$dir"
    hport=$(free_port)
    cat >"$dir/vcgate.toml" <<EOF
[store]
path = "$dir/vcgate.db"
sync = "$SYNC"

[http]
listen = "127.0.0.1:$hport"
ingest_tokens = ["$INGEST_TOKEN"]
read_tokens = ["$READ_TOKEN"]
rate_limit = 1000000
rate_burst = 1000000

[snmp]
enabled = false
EOF
    "${RUN[@]}" "$VCGATE" serve --config "$dir/vcgate.toml" >"$dir/vcgate.log" 2>&1 &
    VC_PID=$!
    for ((i = 0; i < 200; i++)); do
        curl -sf -m 1 "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break
        kill -0 "$VC_PID" 2>/dev/null || die "vcgate exited: $(tail -5 "$dir/vcgate.log")"
        sleep 0.1
    done
    cpu0=$(cpu_secs "$VC_PID")
    out=$("${RUN[@]}" "$HOOKLOAD" --url "http://127.0.0.1:$hport" --token "$INGEST_TOKEN" --concurrency "$c" \
        --duration "$SECS" --max-requests "$MAX_REQUESTS" --tag "c${c}x$$" 2>"$dir/hookload.err") || {
        log "hookload at concurrency $c reported problems: $(head -3 "$dir/hookload.err")"
        fail=1
    }
    cpu1=$(cpu_secs "$VC_PID")
    echo "$out" >>"$WORK/hookload.out"
    field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }
    # Wait for the pipeline to decide everything, then compare the store with the 202s.
    stored=?
    for ((i = 0; i < 600; i++)); do
        line=$(curl -sf -m 10 -H "Authorization: Bearer $READ_TOKEN" "http://127.0.0.1:$hport/api/v1/status" |
            jq -r '"\(.store.events) \(.store.pending_pipeline) \(.sources["alarm-hook"].accepted // 0)"') || line=""
        read -r stored pending hook_accepted <<<"${line:-? 1 ?}"
        [[ $pending == 0 ]] && break
        sleep 0.2
    done
    kill "$VC_PID" 2>/dev/null || true
    wait "$VC_PID" 2>/dev/null || true
    VC_PID=""
    accepted=$(field accepted)
    elapsed=$(field elapsed_s)
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v s="${elapsed:-1}" 'BEGIN { printf "%.0f", (b - a) / s * 100 }')
    printf '%5s %9s %9s %11s %8s %8s %8s %8s %6s%% %6s%% %9s\n' "$c" "$(field requests)" "$accepted" "$(field rate)" \
        "$(field p50_ms)" "$(field p90_ms)" "$(field p99_ms)" "$(field max_ms)" "$cpu" "$(field client_cpu_pct)" "$stored"
    [[ -z ${BENCH_SUMMARY:-} ]] || printf 'HTTP hook durable accepts, concurrency %s|%s/s, p50 %s ms, p99 %s ms|target >= 10000/s, p99 < 20 ms\n' \
        "$c" "$(field rate)" "$(field p50_ms)" "$(field p99_ms)" >>"$BENCH_SUMMARY"
    if [[ $stored != "$accepted" || $hook_accepted != "$accepted" ]]; then
        log "MISMATCH at concurrency $c: 202 answers=$accepted, store.events=$stored, alarm-hook accepted=$hook_accepted"
        fail=1
    fi
done
echo
echo "accepted/s = 202 answers per second of wall time; latency = request sent -> 202 received (client side);"
echo "cpu% = vcgate process CPU over the run (100% = one core); client = hookload's own CPU; stored = store.events after the pipeline drained (must equal accepted)"
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
