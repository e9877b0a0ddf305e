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
# The anchor, measured in the same run right before each vcgate level with the
# same load: examples/noop-server.rs, an axum server on the same stack whose
# handler parses the JSON body and answers 202 (no auth, no store). The ratio
# vcgate/no-op per level is printed at the end (issue 19: >= 0.5 at c=32).
#
# Environment:
#   BENCH_CONCURRENCY  levels (default "1 8 32 64")
#   BENCH_HTTP_SECS    seconds per level (default 10)
#   BENCH_SYNC         "full" (default) or "normal"
#   BENCH_NOOP         1 (default) = also measure the no-op baseline at each level; 0 = vcgate only
#   BENCH_IDS          delivery_id shape: "time-ordered" (default: UUIDv7, what the VCSA hook
#                      sends), "random" (UUIDv4, what hooks installed before 2026-11-30 send),
#                      "sequence" (RUNTAG-WORKER-N, this script's shape before then)
#   BENCH_VCGATE       a vcgate binary to measure instead of this tree's build (e.g. a build of
#                      an earlier commit, for a before/after in the same conditions)
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
NOOP=${BENCH_NOOP:-1}
IDS=${BENCH_IDS:-time-ordered}
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
NOOP_PID=""
cleanup() {
    local p
    for p in $VC_PID $NOOP_PID; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [[ ${BENCH_KEEP:-0} != 1 && -n ${WORK:-} ]]; then
        rm -rf "$WORK"
    else
        [[ -n ${WORK:-} ]] && log "kept $WORK"
    fi
}
trap cleanup EXIT

log "building (release): vcgate + examples/hookload + examples/noop-server"
(cd "$ROOT" && cargo build --release --quiet --bin vcgate --example hookload --example noop-server)
VCGATE=${BENCH_VCGATE:-$TARGET_DIR/release/vcgate}
HOOKLOAD="$TARGET_DIR/release/examples/hookload"
NOOP_SERVER="$TARGET_DIR/release/examples/noop-server"
[[ -x $VCGATE && -x $HOOKLOAD && -x $NOOP_SERVER ]] || die "build products missing in $TARGET_DIR/release"
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
echo "load: examples/hookload, closed loop, 1 keep-alive connection per worker, unique $IDS delivery_id per request, ${SECS}s per level; scheduled: $SCHED (${RUN[*]})"
echo "      (answers are counted only when the server answered; every request started is awaited)"
echo

# One closed-loop run of hookload against $1 at concurrency $2; prints its summary line.
hookload() { # url conc tag errfile
    "${RUN[@]}" "$HOOKLOAD" --url "$1" --token "$INGEST_TOKEN" --concurrency "$2" \
        --duration "$SECS" --max-requests "$MAX_REQUESTS" --tag "$3" --delivery-ids "$IDS" 2>"$4"
}
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
row() { # server conc out cpu stored
    printf '%-7s %5s %9s %9s %11s %8s %8s %8s %8s %6s%% %6s%% %9s\n' "$1" "$2" "$(field requests "$3")" \
        "$(field accepted "$3")" "$(field rate "$3")" "$(field p50_ms "$3")" "$(field p90_ms "$3")" \
        "$(field p99_ms "$3")" "$(field max_ms "$3")" "$4" "$(field client_cpu_pct "$3")" "$5"
}

# wait_ready URL PID NAME LOG: polls URL/readyz (20 s deadline); dies if the
# server exits or never gets ready.
wait_ready() {
    local i
    for ((i = 0; i < 200; i++)); do
        curl -sf -m 1 "$1/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited: $(tail -5 "$4")"
        sleep 0.1
    done
    die "$3 not ready at $1 after 20 s: $(tail -5 "$4")"
}

# The no-op baseline at concurrency $1 -> sets NOOP_OUT
noop_level() {
    local c=$1 port dir="$WORK/noop-c$1" i cpu0 cpu1
    mkdir -p "$dir"
    port=$(free_port)
    "${RUN[@]}" "$NOOP_SERVER" --listen "127.0.0.1:$port" >"$dir/noop.log" 2>&1 &
    NOOP_PID=$!
    wait_ready "http://127.0.0.1:$port" "$NOOP_PID" noop-server "$dir/noop.log"
    cpu0=$(cpu_secs "$NOOP_PID")
    NOOP_OUT=$(hookload "http://127.0.0.1:$port" "$c" "n${c}x$$" "$dir/hookload.err") || {
        log "hookload against the no-op server at concurrency $c reported problems: $(head -3 "$dir/hookload.err")"
        fail=1
    }
    cpu1=$(cpu_secs "$NOOP_PID")
    kill "$NOOP_PID" 2>/dev/null || true
    wait "$NOOP_PID" 2>/dev/null || true
    NOOP_PID=""
    row no-op "$c" "$NOOP_OUT" \
        "$(awk -v a="$cpu0" -v b="$cpu1" -v s="$(field elapsed_s "$NOOP_OUT")" 'BEGIN { printf "%.0f", (b - a) / (s ? s : 1) * 100 }')" -
}

printf '%-7s %5s %9s %9s %11s %8s %8s %8s %8s %7s %7s %9s\n' server conc requests accepted accepted/s p50_ms p90_ms p99_ms max_ms cpu% client stored
fail=0
declare -A NOOP_RESULT VC_RESULT
for c in $LEVELS; do
    if [[ $NOOP == 1 ]]; then
        noop_level "$c"
        NOOP_RESULT[$c]="$(field rate "$NOOP_OUT") $(field p99_ms "$NOOP_OUT")"
    fi
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
    wait_ready "http://127.0.0.1:$hport" "$VC_PID" vcgate "$dir/vcgate.log"
    cpu0=$(cpu_secs "$VC_PID")
    out=$(hookload "http://127.0.0.1:$hport" "$c" "c${c}x$$" "$dir/hookload.err") || {
        log "hookload at concurrency $c reported problems: $(head -3 "$dir/hookload.err")"
        fail=1
    }
    cpu1=$(cpu_secs "$VC_PID")
    echo "$out" >>"$WORK/hookload.out"
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
    accepted=$(field accepted "$out")
    elapsed=$(field elapsed_s "$out")
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v s="${elapsed:-1}" 'BEGIN { printf "%.0f", (b - a) / s * 100 }')
    row vcgate "$c" "$out" "$cpu" "$stored"
    VC_RESULT[$c]="$(field rate "$out") $(field p99_ms "$out")"
    [[ -z ${BENCH_SUMMARY:-} ]] || printf 'HTTP hook durable accepts, concurrency %s|%s/s, p50 %s ms, p99 %s ms|%s\n' \
        "$c" "$(field rate "$out")" "$(field p50_ms "$out")" "$(field p99_ms "$out")" \
        "${NOOP_RESULT[$c]:+no-op server $(cut -d' ' -f1 <<<"${NOOP_RESULT[$c]}")/s; }target >= 1/2 of no-op, p99 < 10 ms" >>"$BENCH_SUMMARY"
    if [[ $stored != "$accepted" || $hook_accepted != "$accepted" ]]; then
        log "MISMATCH at concurrency $c: 202 answers=$accepted, store.events=$stored, alarm-hook accepted=$hook_accepted"
        fail=1
    fi
done
if [[ $NOOP == 1 ]]; then
    echo
    echo "vcgate (durable) against the no-op axum server, same load, measured one after the other:"
    printf '%5s %11s %8s %11s %8s %7s\n' conc vcgate/s p99_ms no-op/s p99_ms ratio
    for c in $LEVELS; do
        read -r vr vp <<<"${VC_RESULT[$c]:-0 -}"
        read -r nr np <<<"${NOOP_RESULT[$c]:-0 -}"
        printf '%5s %11s %8s %11s %8s %7s\n' "$c" "$vr" "$vp" "$nr" "$np" \
            "$(awk -v v="$vr" -v n="$nr" 'BEGIN { if (n > 0) printf "%.2f", v / n; else print "-" }')"
    done
fi
echo
echo "accepted/s = 202 answers per second of wall time; latency = request sent -> 202 received (client side);"
echo "cpu% = vcgate process CPU over the run (100% = one core); client = hookload's own CPU; stored = store.events after the pipeline drained (must equal accepted)"
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
