#!/usr/bin/env bash
# How cost grows (issue #8): throughput, latency and memory with 1x / 10x /
# 100x more stored events, and with 1 / 10 / 100 subscriptions. Prints tables;
# asserts only that the product behaved (every 202 stored, every run final
# and succeeded, filtered reads return what was posted) and exits non-zero
# otherwise.
#
# Table 1, stored events: ONE vcgate process and ONE store grown in steps to
# each level of SCALE_LEVELS (total events in the store). Events route nowhere
# (no [[route]], no monitoring targets: the default route "monitoring" with no
# NMS creates no deliveries), retention is raised so nothing is pruned
# (max_age = 3650d, max_events = 1e9). Five CloudEvents of type "bench.rare"
# (source "api") are posted first, so the store holds a rare type and a rare
# source at its oldest end. At each level, once the pipeline drained:
#   preload   hookload (concurrency SCALE_CONCURRENCY) up to the level; its
#             wall time includes the pipeline drain
#   reads     median of SCALE_READS calls (curl time_total) of
#             GET /api/v1/status, /api/v1/events?limit=100,
#             /api/v1/events?type=alarm.status.changed&limit=100 (the type every
#             hook event has), then (table 1b, SCALE_DETAIL_READS calls) the
#             other filters a user has: type=bench.rare, type=alarm.* (a glob
#             matching every event), source=api (rare), since=<start of the
#             run> (matches everything), since=<now> (matches nothing), and
#             /metrics;
#             plus the two store-wide SQL statements the server runs, timed
#             directly on the database (python sqlite3, read-only):
#             `SELECT count(*) FROM events` (status and /metrics) and the
#             max_events prune cut-off in two forms: `... ORDER BY seq DESC
#             LIMIT 1 OFFSET max_events` (b7ad0a5; every 60 s, on the single
#             writer thread) and `max(seq) - max_events` (index look-up)
#   ingest    hookload at SCALE_CONCURRENCY for SCALE_SECS seconds, at most
#             <level> requests (so the store at most doubles while measured:
#             at the lowest level the measurement is shorter than SCALE_SECS)
#   memory    VmRSS right after the ingest, VmHWM (peak since start)
#   disk      database + WAL file after the drain
# The reads run before the ingest, so they see exactly <level> events; the
# next preload fills up to the next level.
#
# Table 2, subscriptions: a fresh vcgate per row, [[route]] type "alarm.*" to
# automation, every function a `command` running /bin/true (there is no no-op
# builtin: both builtins need a vCenter), concurrency SCALE_FN_CONCURRENCY each.
#   fan-out   N subscriptions all matching alarm.status.changed, each bound to
#             its own function: one event -> N runs. Events posted =
#             min(SCALE_EVENTS, SCALE_FANOUT_RUNS / N), so runs stay bounded.
#   filter    N subscriptions, one matching (alarm.status.changed), N-1 with
#             other event_type patterns, all bound to the same one function:
#             one event -> 1 run; measures evaluating N subscriptions.
#             SCALE_EVENTS events.
# Columns: idle cpu% (vcgate CPU over SCALE_IDLE_SECS before any event: the
# cost of N idle function runners), ingest accepts/s and p99 (hookload),
# runs/s = runs / (last run finished - first event received, from the store),
# peak RSS (VmHWM), vcgate CPU seconds per 1k runs (own threads) and of its
# children (the /bin/true processes it waited for).
#
# Environment:
#   SCALE_LEVELS        stored-event levels (default "10000 100000 1000000")
#   SCALE_SECS          ingest seconds per level (default 10)
#   SCALE_CONCURRENCY   hookload workers (default 32)
#   SCALE_READS         calls per main read (default 20); SCALE_DETAIL_READS (default 5)
#   SCALE_SUBS          subscription counts (default "1 10 100")
#   SCALE_EVENTS        events per table-2 row (default 2000)
#   SCALE_FANOUT_RUNS   most runs per fan-out row (default 10000)
#   SCALE_FN_CONCURRENCY  function concurrency (default 8)
#   SCALE_IDLE_SECS     idle CPU window (default 3)
#   SCALE_TABLES        "1 2 3" (default), any subset
#
# Table 3, the estate: what the per-event hold decision costs with 1k/10k/40k
# VMs in the maintenance view and 0.5k/10k/100k alerts firing
# (`cargo bench --bench estate_scale`; in-process, no gateway).
#   SCALE_BUILD         1 (default) = cargo build first; 0 = use the binaries as they are
#   BENCH_SYNC          "full" (default) or "normal"
#   BENCH_SCHED         "fifo" (default as root: chrt -f 10 for vcgate and hookload), "nice", "none"
#   BENCH_KEEP          1 = keep the temp directory
#   BENCH_SUMMARY       a file: "measure|result|target" lines are appended (scripts/bench.sh)
#   CARGO_TARGET_DIR    where cargo builds (default <repo>/target)
# About 5 minutes on 2 cores with the defaults (most of it the 1M preload).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LEVELS=${SCALE_LEVELS:-"10000 100000 1000000"}
SECS=${SCALE_SECS:-10}
CONC=${SCALE_CONCURRENCY:-32}
READS=${SCALE_READS:-20}
DETAIL_READS=${SCALE_DETAIL_READS:-5}
SUBS=${SCALE_SUBS:-"1 10 100"}
EVENTS=${SCALE_EVENTS:-2000}
FANOUT_RUNS=${SCALE_FANOUT_RUNS:-10000}
FN_CONC=${SCALE_FN_CONCURRENCY:-8}
IDLE_SECS=${SCALE_IDLE_SECS:-3}
TABLES=${SCALE_TABLES:-"1 2 3"}
SYNC=${BENCH_SYNC:-full}
MAX_EVENTS=1000000000
RARE=5
INGEST_TOKEN=bench-ingest-token-0001
READ_TOKEN=bench-read-token-0001

log() { printf '%s\n' "$*" >&2; }
die() {
    log "bench-scale: $*"
    exit 1
}
summary() { [[ -z ${BENCH_SUMMARY:-} ]] || printf '%s|%s|%s\n' "$1" "$2" "$3" >>"$BENCH_SUMMARY"; }
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
command -v python3 >/dev/null || die "needs python3"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 30000))
}
cpu_secs() { # own threads (utime + stime)
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
child_cpu_secs() { # children it waited for (cutime + cstime)
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($16 + $17) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
proc_mib() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; } # pid VmRSS|VmHWM
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

VC_PID=""
# shellcheck disable=SC2329 # invoked by the EXIT trap
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

if [[ ${SCALE_BUILD:-1} == 1 ]]; then
    log "building (release): vcgate + examples/hookload"
    (cd "$ROOT" && cargo build --release --quiet --bin vcgate --example hookload)
fi
VCGATE="$TARGET_DIR/release/vcgate"
HOOKLOAD="$TARGET_DIR/release/examples/hookload"
[[ -x $VCGATE && -x $HOOKLOAD ]] || die "build products missing in $TARGET_DIR/release"
WORK=$(mktemp -d /tmp/vcgate-bench-scale.XXXXXX)
T_START=$(now)
fail=0

# start_vcgate DIR (config in DIR/vcgate.toml, listening on $PORT) -> VC_PID
start_vcgate() {
    "${RUN[@]}" "$VCGATE" serve --config "$1/vcgate.toml" >"$1/vcgate.log" 2>&1 &
    VC_PID=$!
    for ((i = 0; i < 200; i++)); do
        curl -sf -m 1 "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$VC_PID" 2>/dev/null || die "vcgate exited: $(tail -5 "$1/vcgate.log")"
        sleep 0.1
    done
    die "vcgate not ready after 20 s"
}
stop_vcgate() {
    kill "$VC_PID" 2>/dev/null || true
    wait "$VC_PID" 2>/dev/null || true
    VC_PID=""
}
api() { curl -sf -m 60 -H "Authorization: Bearer $READ_TOKEN" "http://127.0.0.1:$PORT$1"; }
# wait_drained -> STORED, HOOK_ACCEPTED (store.events and alarm-hook accepted once pending_pipeline == 0)
wait_drained() {
    local line pending deadline=$((SECONDS + 900))
    while :; do
        line=$(api /api/v1/status | jq -r '"\(.store.events) \(.store.pending_pipeline) \(.sources["alarm-hook"].accepted // 0)"') || line=""
        read -r STORED pending HOOK_ACCEPTED <<<"${line:-? 1 ?}"
        [[ $pending == 0 ]] && return 0
        ((SECONDS < deadline)) || die "pipeline did not drain in 900 s (pending $pending)"
        sleep 0.2
    done
}
# hook N SECONDS TAG -> HL (hookload's output line); failures are recorded, not fatal
hook() {
    HL=$("${RUN[@]}" "$HOOKLOAD" --url "http://127.0.0.1:$PORT" --token "$INGEST_TOKEN" --concurrency "$CONC" \
        --duration "$2" --max-requests "$1" --tag "$3" 2>"$WORK/hookload.err") || {
        log "hookload ($3) reported problems: $(head -3 "$WORK/hookload.err")"
        fail=1
    }
    echo "$HL" >>"$WORK/hookload.out"
}
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$HL"; }
# median_ms PATH CALLS [JQ_CHECK EXPECTED]: median curl time_total in ms; every answer must be 200
# (and, if given, `jq JQ_CHECK` of the body must print EXPECTED)
median_ms() {
    local path=$1 n=$2 i out code t
    : >"$WORK/times"
    for ((i = 0; i < n; i++)); do
        out=$(curl -s -o "$WORK/body" -m 120 -w '%{http_code} %{time_total}' -H "Authorization: Bearer $READ_TOKEN" \
            "http://127.0.0.1:$PORT$path") || out="000 0"
        read -r code t <<<"$out"
        if [[ $code != 200 ]]; then
            log "GET $path answered $code"
            fail=1
        elif [[ -n ${3:-} && $i == 0 ]]; then
            got=$(jq -r "$3" "$WORK/body")
            if [[ $got != "$4" ]]; then
                log "GET $path: $3 = $got, expected $4"
                fail=1
            fi
        fi
        echo "$t" >>"$WORK/times"
    done
    sort -g "$WORK/times" | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.2f", m * 1000 }'
}
# sql_ms DB: median of 3 timings of count(*) and of both forms of the max_events prune probe,
# "count_ms offset_ms maxseq_ms"
sql_ms() {
    python3 - "$1" "$MAX_EVENTS" <<'PY'
import sqlite3, statistics, sys, time
db, max_events = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
def t(sql, *args):
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        c.execute(sql, args).fetchall()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)
print(f'{t("SELECT count(*) FROM events"):.1f}',
      f'{t("SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?", max_events):.1f}',
      f'{t("SELECT max(seq) - ? FROM events", max_events):.1f}')
PY
}

# What one fsync costs on the store's filesystem (as in bench-http.sh).
dd if=/dev/zero of="$WORK/fsync-probe" bs=4k count=200 2>/dev/null
fsync_ms=$(dd if=/dev/zero of="$WORK/fsync-probe" bs=4k count=200 oflag=dsync conv=notrunc 2>&1 |
    awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") print $(i - 1) }' |
    awk '{ printf "%.2f", $1 / 200 * 1000 }')
rm -f "$WORK/fsync-probe"
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || rev="$rev + uncommitted changes in src/"

echo "== Scale: cost with 1x/10x/100x stored events and 1/10/100 subscriptions =="
echo "host: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "store: $(df -T "$WORK" | awk 'NR == 2 { print $2 " on " $1 }'), one 4 KiB O_DSYNC overwrite = ${fsync_ms} ms (mean)"
echo "vcgate: $rev, binary built $(date -u -r "$VCGATE" +%Y-%m-%dT%H:%MZ); [store] sync=\"$SYNC\", max_age=3650d, max_events=$MAX_EVENTS; RUST_LOG unset (info)"
echo "load: examples/hookload, closed loop, concurrency $CONC, unique delivery_id per request; scheduled: $SCHED (${RUN[*]})"
echo

# ---------------------------------------------------------------- table 1
if [[ " $TABLES " == *" 1 "* ]]; then
    dir="$WORK/store"
    mkdir -p "$dir"
    PORT=$(free_port)
    cat >"$dir/vcgate.toml" <<EOF
[store]
path = "$dir/vcgate.db"
sync = "$SYNC"
max_age = "3650d"
max_events = $MAX_EVENTS

[http]
listen = "127.0.0.1:$PORT"
ingest_tokens = ["$INGEST_TOKEN"]
read_tokens = ["$READ_TOKEN"]
rate_limit = 1000000
rate_burst = 1000000

[snmp]
enabled = false
EOF
    start_vcgate "$dir"
    RUN_SINCE=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%SZ)
    for ((k = 0; k < RARE; k++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -H "Authorization: Bearer $INGEST_TOKEN" \
            -H 'content-type: application/cloudevents+json' \
            -d "{\"specversion\":\"1.0\",\"id\":\"rare-$k-$$\",\"source\":\"bench-scale\",\"type\":\"bench.rare\",\"data\":{}}" \
            "http://127.0.0.1:$PORT/api/v1/events")
        [[ $code == 202 ]] || die "POST /api/v1/events answered $code"
    done
    hook_total=0
    t1_rows=()
    t1b_rows=()
    for level in $LEVELS; do
        # Preload to the level (hookload runs at most 300 s per call).
        t0=$(now)
        added=0
        while ((hook_total + RARE < level)); do
            need=$((level - hook_total - RARE))
            log "level $level: preloading $need events"
            hook "$need" 300 "p${level}x$$i$added"
            got=$(field accepted)
            [[ ${got:-0} -gt 0 ]] || die "preload accepted nothing: $HL"
            hook_total=$((hook_total + got))
            added=$((added + got))
        done
        wait_drained
        pre_s=$(since "$t0")
        pre_rate=$(awk -v n="$added" -v s="$pre_s" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
        if [[ $STORED != $((hook_total + RARE)) || $HOOK_ACCEPTED != "$hook_total" ]]; then
            log "MISMATCH after preload to $level: store.events=$STORED, expected $((hook_total + RARE)); alarm-hook accepted=$HOOK_ACCEPTED, hookload 202s=$hook_total"
            fail=1
        fi
        stored_at_reads=$STORED
        log "level $level: stored $STORED; reading"
        st_ms=$(median_ms /api/v1/status "$READS" .store.events "$STORED")
        list_ms=$(median_ms '/api/v1/events?limit=100' "$READS" '.events | length' 100)
        filt_ms=$(median_ms '/api/v1/events?type=alarm.status.changed&limit=100' "$READS" '.events | length' 100)
        rare_ms=$(median_ms '/api/v1/events?type=bench.rare&limit=100' "$DETAIL_READS" '.events | length' "$RARE")
        src_ms=$(median_ms '/api/v1/events?source=api&limit=100' "$DETAIL_READS" '.events | length' "$RARE")
        glob_ms=$(median_ms '/api/v1/events?type=alarm.*&limit=100' "$DETAIL_READS" '.events | length' 100)
        since_ms=$(median_ms "/api/v1/events?since=$RUN_SINCE&limit=100" "$DETAIL_READS" '.events | length' 100)
        none_ms=$(median_ms "/api/v1/events?since=$(date -u +%Y-%m-%dT%H:%M:%SZ)&limit=100" "$DETAIL_READS" '.events | length' 0)
        metrics_ms=$(median_ms /metrics "$DETAIL_READS")
        read -r count_ms prune_ms maxseq_ms <<<"$(sql_ms "$dir/vcgate.db")"

        log "level $level: ingest for ${SECS}s (at most $level requests)"
        hook "$level" "$SECS" "m${level}x$$"
        rss=$(proc_mib "$VC_PID" VmRSS)
        hwm=$(proc_mib "$VC_PID" VmHWM)
        hook_total=$((hook_total + $(field accepted)))
        wait_drained
        if [[ $STORED != $((hook_total + RARE)) || $HOOK_ACCEPTED != "$hook_total" ]]; then
            log "MISMATCH after ingest at $level: store.events=$STORED, expected $((hook_total + RARE)); alarm-hook accepted=$HOOK_ACCEPTED, hookload 202s=$hook_total"
            fail=1
        fi
        db_mib=$(stat -c %s "$dir/vcgate.db" "$dir/vcgate.db-wal" 2>/dev/null | awk '{ s += $1 } END { printf "%.1f", s / 1048576 }')
        t1_rows+=("$(printf '%9s %8s %9s %8s %9s %7s %7s %7s %7s %7s %7s %9s %9s %9s' \
            "$stored_at_reads" "$pre_s" "$pre_rate" "$(field accepted)" "$(field rate)" "$(field p50_ms)" "$(field p99_ms)" \
            "$(field max_ms)" "$rss" "$hwm" "$db_mib" "$st_ms" "$list_ms" "$filt_ms")")
        t1b_rows+=("$(printf '%9s %9s %9s %10s %9s %10s %8s %9s %12s %12s' "$stored_at_reads" "$rare_ms" "$glob_ms" \
            "$src_ms" "$since_ms" "$none_ms" "$metrics_ms" "$count_ms" "$prune_ms" "$maxseq_ms")")
        summary "scale: $stored_at_reads stored events: hook accepts/s, p99; status read" \
            "$(field rate)/s, p99 $(field p99_ms) ms; status $st_ms ms" "-"
    done
    stop_vcgate

    echo "Table 1: one process, one store grown to each level (no subscriptions; events route nowhere)"
    printf '%9s %8s %9s %8s %9s %7s %7s %7s %7s %7s %7s %9s %9s %9s\n' stored preload_s preload/s ingested accepts/s p50_ms \
        p99_ms max_ms RSS_MiB HWM_MiB DB_MiB status_ms list_ms filter_ms
    printf '%s\n' "${t1_rows[@]}"
    echo
    echo "stored = events in the store when the reads ran; ingested = 202s of the ${SECS}s ingest that followed (capped at"
    echo "the level, so the store at most doubles: a short measurement at the lowest level); preload_s = time to fill"
    echo "up to the level from the previous one, drain included; accepts/s, p50/p99/max = hookload over the ingest;"
    echo "RSS right after the ingest, HWM = peak since start; DB = database + WAL after the drain; *_ms = median of $READS"
    echo "calls (curl time_total): status = GET /api/v1/status, list = GET /api/v1/events?limit=100,"
    echo "filter = GET /api/v1/events?type=alarm.status.changed&limit=100 (the type of every hook event)"
    echo
    echo "Table 1b: other read paths at the same levels (median of $DETAIL_READS calls), and store-wide SQL (ms)"
    printf '%9s %9s %9s %10s %9s %10s %8s %9s %12s %12s\n' stored type=rare type=glob source=api since=all since=none \
        metrics sql_count prune_offset prune_maxseq
    printf '%s\n' "${t1b_rows[@]}"
    echo
    echo "type=rare: ?type=bench.rare ($RARE oldest events); type=glob: ?type=alarm.* (matches every hook event);"
    echo "source=api: ?source=api (the same $RARE); since=all: ?since=<start of run> (matches every event);"
    echo "since=none: ?since=<now> (matches nothing); metrics: GET /metrics (all with limit=100 where it applies);"
    echo "sql_count: SELECT count(*) FROM events (run by status and /metrics);"
    echo "prune_offset: SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET max_events, the max_events cut-off as b7ad0a5"
    echo "finds it (every 60 s and at start, on the single writer thread); prune_maxseq: SELECT max(seq) - max_events, the"
    echo "index look-up form (all three timed in python's sqlite3 on the db file, median of 3)"
    echo
fi

# ---------------------------------------------------------------- table 2
# write_subs_config DIR SHAPE N
write_subs_config() {
    local d=$1 shape=$2 n=$3 k
    {
        cat <<EOF
[store]
path = "$d/vcgate.db"
sync = "$SYNC"

[http]
listen = "127.0.0.1:$PORT"
ingest_tokens = ["$INGEST_TOKEN"]
read_tokens = ["$READ_TOKEN"]
rate_limit = 1000000
rate_burst = 1000000

[snmp]
enabled = false

[[route]]
name = "alarms-to-automation"
type = "alarm.*"
to = "automation"
EOF
        nfn=1
        [[ $shape == fan-out ]] && nfn=$n
        for ((k = 0; k < nfn; k++)); do
            printf '\n[[function]]\nname = "noop%d"\nkind = "command"\ncommand = ["/bin/true"]\nconcurrency = %d\n' "$k" "$FN_CONC"
        done
        for ((k = 0; k < n; k++)); do
            if [[ $shape == fan-out ]]; then
                printf '\n[[subscription]]\nname = "fan%d"\nevent_type = "alarm.status.changed"\nfunction = "noop%d"\n' "$k" "$k"
            elif ((k == 0)); then
                printf '\n[[subscription]]\nname = "match"\nevent_type = "alarm.status.changed"\nfunction = "noop0"\n'
            else
                printf '\n[[subscription]]\nname = "other%d"\nevent_type = "alarm.nomatch%d.*"\nfunction = "noop0"\n' "$k" "$k"
            fi
        done
    } >"$d/vcgate.toml"
}

if [[ " $TABLES " == *" 2 "* ]]; then
    t2_rows=()
    for shape in fan-out filter; do
        for n in $SUBS; do
            dir="$WORK/subs-$shape-$n"
            mkdir -p "$dir"
            PORT=$(free_port)
            write_subs_config "$dir" "$shape" "$n"
            if [[ $shape == fan-out ]]; then
                events=$((FANOUT_RUNS / n))
                ((events <= EVENTS)) || events=$EVENTS
                ((events >= 1)) || events=1
                expected=$((events * n))
            else
                events=$EVENTS
                expected=$events
            fi
            start_vcgate "$dir"
            idle0=$(cpu_secs "$VC_PID")
            sleep "$IDLE_SECS"
            idle_pct=$(awk -v a="$idle0" -v b="$(cpu_secs "$VC_PID")" -v s="$IDLE_SECS" 'BEGIN { printf "%.1f", (b - a) / s * 100 }')
            log "subscriptions: $shape N=$n: $events events -> $expected runs"
            cpu0=$(cpu_secs "$VC_PID")
            ccpu0=$(child_cpu_secs "$VC_PID")
            t0=$(now)
            hook "$events" 300 "s${shape}${n}x$$"
            accepted=$(field accepted)
            # Wait until every run is final (succeeded or dead) and nothing is queued, running or waiting to retry.
            deadline=$((SECONDS + 900))
            while :; do
                line=$(api /api/v1/status | jq -r '[.store.events, .store.pending_pipeline,
                    ((.runs.succeeded // 0) + (.runs.dead // 0)), ((.runs.queued // 0) + (.runs.running // 0) + (.runs.failed // 0)),
                    (.runs.dead // 0)] | map(tostring) | join(" ")') || line=""
                read -r stored pending final open dead <<<"${line:-? 1 0 1 0}"
                [[ $pending == 0 && $open == 0 && $final -ge $expected ]] && break
                ((SECONDS < deadline)) || die "$shape N=$n: runs not final after 900 s ($final final, $open open)"
                sleep 0.1
            done
            wall=$(since "$t0")
            cpu1=$(cpu_secs "$VC_PID")
            ccpu1=$(child_cpu_secs "$VC_PID")
            hwm=$(proc_mib "$VC_PID" VmHWM)
            stop_vcgate
            read -r runs_total runs_ok span_s <<<"$(python3 - "$dir/vcgate.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
total, ok, last = c.execute("SELECT count(*), sum(status = 'succeeded'), max(finished_ms) FROM runs").fetchone()
first = c.execute("SELECT min(received_ms) FROM events").fetchone()[0]
print(total, ok or 0, f"{((last or 0) - (first or 0)) / 1000:.3f}")
PY
)"
            if [[ $stored != "$accepted" || $runs_total != "$expected" || $runs_ok != "$expected" || $dead != 0 ]]; then
                log "MISMATCH $shape N=$n: 202s=$accepted stored=$stored; runs=$runs_total succeeded=$runs_ok dead=$dead, expected $expected"
                fail=1
            fi
            runs_s=$(awk -v r="$runs_total" -v s="$span_s" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }')
            per1k=$(awk -v a="$cpu0" -v b="$cpu1" -v r="$runs_total" 'BEGIN { printf "%.2f", (r > 0 ? (b - a) / r * 1000 : 0) }')
            cper1k=$(awk -v a="$ccpu0" -v b="$ccpu1" -v r="$runs_total" 'BEGIN { printf "%.2f", (r > 0 ? (b - a) / r * 1000 : 0) }')
            t2_rows+=("$(printf '%-8s %5s %7s %7s %9s %7s %7s %8s %7s %8s %7s %10s %10s' "$shape" "$n" "$accepted" "$runs_total" \
                "$(field rate)" "$(field p99_ms)" "$runs_s" "$span_s" "$wall" "$idle_pct" "$hwm" "$per1k" "$cper1k")")
            summary "scale: $shape, $n subscriptions: runs/s, vcgate CPU s per 1k runs" "$runs_s runs/s, $per1k s" "-"
        done
    done
    echo "Table 2: subscriptions (fresh vcgate per row; functions = /bin/true, concurrency $FN_CONC each)"
    printf '%-8s %5s %7s %7s %9s %7s %7s %8s %7s %8s %7s %10s %10s\n' shape subs events runs accepts/s p99_ms runs/s span_s wall_s \
        idle_cpu HWM_MiB cpu_s/1k child_s/1k
    printf '%s\n' "${t2_rows[@]}"
    echo
    echo "fan-out: N subscriptions match, each its own function (events = min($EVENTS, $FANOUT_RUNS/N), N runs each);"
    echo "filter: 1 of N subscriptions matches, all bound to one function ($EVENTS events, 1 run each);"
    echo "runs/s = runs / span, span = first event received -> last run finished (from the store); wall_s = hookload start ->"
    echo "all runs final seen (0.1 s polling); idle_cpu = vcgate CPU% over ${IDLE_SECS}s before any event (100% = one core);"
    echo "HWM = peak RSS; cpu_s/1k = vcgate's own CPU seconds per 1 000 runs, child_s/1k = its /bin/true children's"
    echo
fi

if [[ " $TABLES " == *" 3 "* ]]; then
    echo "Table 3: the estate (cargo bench --bench estate_scale)"
    (cd "$ROOT" && cargo bench --quiet --bench estate_scale)
    echo
fi

echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg); took $(since "$T_START") s"
if ((fail)); then
    log "bench-scale: the product misbehaved (see MISMATCH / problems above)"
fi
exit $fail
