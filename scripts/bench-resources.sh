#!/usr/bin/env bash
# Resource benchmark: cold start, idle memory, memory at peak load, CPU per
# 1 000 events. Prints numbers next to their targets and, where one exists, an
# anchor measured in the same run (net-snmp snmptrapd for the SNMP figures);
# asserts only that every accepted event was stored.
#
#   cold start   exec of `vcgate serve` -> first 200 from GET /readyz (the HTTP
#                listener answers after the store is open, migrated, and the
#                SNMP socket is bound), median and max of RESOURCES_STARTS
#                starts; once with a fresh store, once with a store holding
#                RESOURCES_PRELOAD events. Target < 100 ms.
#   idle RSS     VmRSS 5 s after start, before any event (target < 25 MB), and
#                again after the load below has been served and the process has
#                idled for 10 s. snmptrapd's idle RSS as the anchor.
#   peak RSS     VmHWM while hookload (concurrency 32) and trapgen (5 000/s) run
#                together for RESOURCES_SECS seconds.
#   CPU per 1k   process CPU (user+system, /proc/PID/stat) per 1 000 events,
#                HTTP hook alone (hookload, concurrency 8) and SNMP alone
#                (trapgen at 5 000/s, whole durable pipeline); snmptrapd
#                logging the same traps to a file as the anchor.
#
# Environment: RESOURCES_STARTS (default 15), RESOURCES_PRELOAD (default
# 100000), RESOURCES_SECS (default 10), CARGO_TARGET_DIR, BENCH_SUMMARY (a file:
# one "measure|result|target or anchor" line per figure is appended for
# scripts/bench.sh's summary table).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
STARTS=${RESOURCES_STARTS:-15}
PRELOAD=${RESOURCES_PRELOAD:-100000}
SECS=${RESOURCES_SECS:-10}
TRAP_RATE=5000
TOKEN=bench-ingest-token-0123456789

log() { printf '%s\n' "$*" >&2; }
die() {
    log "bench-resources: $*"
    exit 1
}
summary() { [[ -n ${BENCH_SUMMARY:-} ]] && printf '%s|%s|%s\n' "$1" "$2" "$3" >>"$BENCH_SUMMARY" || true; }

for tool in curl jq python3; do command -v $tool >/dev/null || die "needs $tool (scripts/test.sh installs it)"; done
[[ -x /usr/sbin/snmptrapd ]] || command -v snmptrapd >/dev/null || die "needs snmptrapd (apt-get install snmptrapd)"
SNMPTRAPD=$(command -v snmptrapd || echo /usr/sbin/snmptrapd)

free_port() { # $1 = STREAM|DGRAM
    python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_$1); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"
}
cpu_secs() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }
proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; } # pid VmRSS|VmHWM
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ -n ${WORK:-} ]] && rm -rf "$WORK"
}
trap cleanup EXIT

log "building (release): vcgate + examples/hookload + examples/trapgen"
(cd "$ROOT" && cargo build --release --quiet --bin vcgate --example hookload --example trapgen)
VCGATE=$TARGET_DIR/release/vcgate
HOOKLOAD=$TARGET_DIR/release/examples/hookload
TRAPGEN=$TARGET_DIR/release/examples/trapgen
WORK=$(mktemp -d /tmp/vcgate-bench-resources.XXXXXX)

# write_config DIR HTTP_PORT SNMP_PORT
write_config() {
    cat >"$1/vcgate.toml" <<EOF
[store]
path = "$1/vcgate.db"
[http]
listen = "127.0.0.1:$2"
ingest_tokens = ["$TOKEN"]
rate_limit = 1000000
rate_burst = 1000000
[snmp]
listen = "127.0.0.1:$3"
rate_limit = 1000000
rate_burst = 1000000
EOF
}

# start_vcgate DIR -> VC_PID, HPORT (waits for /readyz)
start_vcgate() {
    HPORT=$(free_port STREAM)
    SPORT=$(free_port DGRAM)
    write_config "$1" "$HPORT" "$SPORT"
    RUST_LOG=warn "$VCGATE" serve --config "$1/vcgate.toml" >>"$1/vcgate.log" 2>&1 &
    VC_PID=$!
    PIDS+=("$VC_PID")
    for ((i = 0; i < 200; i++)); do
        curl -sf -m 1 "http://127.0.0.1:$HPORT/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$VC_PID" 2>/dev/null || die "vcgate exited: $(tail -3 "$1/vcgate.log")"
        sleep 0.05
    done
    die "vcgate not ready after 10 s"
}
stop_vcgate() {
    kill "$VC_PID" 2>/dev/null || true
    wait "$VC_PID" 2>/dev/null || true
}
status() { curl -sf -m 10 "http://127.0.0.1:$HPORT/api/v1/status"; }
wait_drained() { # until the pipeline has decided everything
    for ((i = 0; i < 1200; i++)); do
        [[ $(status | jq .store.pending_pipeline) == 0 ]] && return 0
        sleep 0.25
    done
    die "pipeline did not drain"
}

# Cold start: exec -> first 200 from /readyz, polled every 0.5 ms over one
# kept-open loop (python, so no process start is inside the measurement).
cold_starts() { # DIR fresh|keep -> prints "median max" in ms
    python3 - "$VCGATE" "$1/vcgate.toml" "$STARTS" "$1" "$2" <<'PY'
import glob, http.client, os, re, statistics, subprocess, sys, time
binary, config, starts, directory, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
port = int(re.search(r'listen = "127\.0\.0\.1:(\d+)"', open(config).read()).group(1))
times = []
for _ in range(starts):
    if mode == "fresh":
        for f in glob.glob(os.path.join(directory, "vcgate.db*")) + glob.glob(os.path.join(directory, "snmp-engine.json")):
            os.remove(f)
    log = open(os.path.join(directory, "cold.log"), "ab")
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "serve", "--config", config], stdout=log, stderr=log, env={**os.environ, "RUST_LOG": "warn"})
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        if p.poll() is not None:
            sys.exit(f"vcgate exited with {p.returncode} during cold start")
        if time.perf_counter() - t0 > 10:
            sys.exit("vcgate not ready after 10 s")
        time.sleep(0.0005)
    times.append((time.perf_counter() - t0) * 1000)
    p.terminate(); p.wait()
print(f"{statistics.median(times):.1f} {max(times):.1f}")
PY
}

echo "== Resources: cold start, memory, CPU per 1 000 events =="
echo "host: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), loadavg: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "vcgate: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), binary $(($(stat -c %s "$VCGATE") / 1048576)) MiB (release, line tables kept); store sync = full"
echo

# --- cold start, fresh store (every start creates and migrates a new database)
mkdir -p "$WORK/cold"
write_config "$WORK/cold" "$(free_port STREAM)" "$(free_port DGRAM)"
read -r fresh_med fresh_max <<<"$(cold_starts "$WORK/cold" fresh)"

# --- idle RSS, then preload, then cold start with a populated store
mkdir -p "$WORK/main"
start_vcgate "$WORK/main"
sleep 5
idle_kib=$(proc_kib "$VC_PID" VmRSS)
trapd_port=$(free_port DGRAM)
printf 'authCommunity log public\ndoNotRetainNotificationLogs yes\n' >"$WORK/trapd.conf"
"$SNMPTRAPD" -f -n -On -Lf "$WORK/trapd.log" -C -c "$WORK/trapd.conf" "127.0.0.1:$trapd_port" &
TRAPD_PID=$!
PIDS+=("$TRAPD_PID")
sleep 2
trapd_idle_kib=$(proc_kib "$TRAPD_PID" VmRSS)

log "preloading $PRELOAD events through the hook endpoint"
"$HOOKLOAD" --url "http://127.0.0.1:$HPORT" --token "$TOKEN" --concurrency 32 --duration 280 \
    --max-requests "$PRELOAD" --tag preload >"$WORK/preload.out" 2>&1 || die "preload failed: $(tail -3 "$WORK/preload.out")"
wait_drained
stored=$(status | jq .store.events)
[[ $stored == "$PRELOAD" ]] || die "preload: stored $stored of $PRELOAD"
stop_vcgate
read -r loaded_med loaded_max <<<"$(cold_starts "$WORK/main" keep)"

# --- CPU per 1k events: HTTP alone, then SNMP alone (vs snmptrapd), then both for peak RSS
start_vcgate "$WORK/main"
cpu0=$(cpu_secs "$VC_PID")
http_out=$("$HOOKLOAD" --url "http://127.0.0.1:$HPORT" --token "$TOKEN" --concurrency 8 --duration "$SECS" --tag cpuhttp 2>&1)
http_accepted=$(sed -n 's/.* accepted=\([0-9]*\).*/\1/p' <<<"$http_out")
wait_drained
http_cpu=$(awk -v a="$cpu0" -v b="$(cpu_secs "$VC_PID")" -v n="$http_accepted" 'BEGIN { printf "%.1f", (b - a) / n * 1e6 }')

before=$(status | jq '.sources.snmp.accepted')
cpu0=$(cpu_secs "$VC_PID")
"$TRAPGEN" --target "127.0.0.1:$SPORT" --rate "$TRAP_RATE" --duration "$SECS" --tag cpusnmp >"$WORK/trapgen.out" 2>&1 ||
    die "trapgen failed: $(tail -3 "$WORK/trapgen.out")"
for ((i = 0; i < 40; i++)); do # the last traps are batched for up to a few ms
    sleep 0.25
    [[ $(status | jq .store.pending_pipeline) == 0 ]] && [[ $(status | jq '.sources.snmp.received') == "$(status | jq '.sources.snmp.accepted')" ]] && break
done
wait_drained
snmp_accepted=$(($(status | jq '.sources.snmp.accepted') - before))
snmp_cpu=$(awk -v a="$cpu0" -v b="$(cpu_secs "$VC_PID")" -v n="$snmp_accepted" 'BEGIN { printf "%.1f", (b - a) / n * 1e6 }')

tcpu0=$(cpu_secs "$TRAPD_PID")
"$TRAPGEN" --target "127.0.0.1:$trapd_port" --rate "$TRAP_RATE" --duration "$SECS" --tag cputrapd >"$WORK/trapgen-trapd.out" 2>&1 ||
    die "trapgen failed: $(tail -3 "$WORK/trapgen-trapd.out")"
sleep 2
trapd_logged=$(grep -c 'cputrapd' "$WORK/trapd.log" || true)
trapd_cpu=$(awk -v a="$tcpu0" -v b="$(cpu_secs "$TRAPD_PID")" -v n="$trapd_logged" 'BEGIN { printf "%.1f", (b - a) / (n ? n : 1) * 1e6 }')

# Peak: both ingest paths at once.
"$TRAPGEN" --target "127.0.0.1:$SPORT" --rate "$TRAP_RATE" --duration "$SECS" --tag peak >"$WORK/trapgen-peak.out" 2>&1 &
TG=$!
"$HOOKLOAD" --url "http://127.0.0.1:$HPORT" --token "$TOKEN" --concurrency 32 --duration "$SECS" --tag peak >"$WORK/hookload-peak.out" 2>&1
wait "$TG"
wait_drained
peak_kib=$(proc_kib "$VC_PID" VmHWM)
sleep 10
after_kib=$(proc_kib "$VC_PID" VmRSS)
final_events=$(status | jq .store.events)
final_accepted=$(status | jq '[.sources[].accepted] | add')
stop_vcgate

row() { printf '%-44s %-26s %s\n' "$1" "$2" "$3"; }
row measure result "target / anchor (same run)"
row "cold start, fresh store (median, max)" "$fresh_med ms, $fresh_max ms" "< 100 ms"
row "cold start, $PRELOAD stored events" "$loaded_med ms, $loaded_max ms" "< 100 ms"
row "idle RSS (5 s after start)" "$(mib "$idle_kib") MiB" "< 25 MB; snmptrapd $(mib "$trapd_idle_kib") MiB"
row "peak RSS (hook c=32 + 5k traps/s)" "$(mib "$peak_kib") MiB" "-"
row "RSS idle after the load" "$(mib "$after_kib") MiB" "-"
row "CPU per 1k hook events (c=8)" "$http_cpu ms ($http_accepted events)" "-"
row "CPU per 1k traps (5k/s, durable)" "$snmp_cpu ms ($snmp_accepted traps)" "snmptrapd -Lf: $trapd_cpu ms ($trapd_logged traps)"
echo
echo "CPU = user+system of the process, all threads, over the run including the pipeline drain; 1 000 ms per 1k = one core per 1 000 events/s."
# The preload was accepted by an earlier process (status counters restart with it).
echo "stored events: $final_events = $PRELOAD preloaded + $final_accepted accepted by this process"

summary "cold start (fresh store / $PRELOAD events), median" "$fresh_med ms / $loaded_med ms" "< 100 ms"
summary "idle RSS" "$(mib "$idle_kib") MiB" "< 25 MB; snmptrapd $(mib "$trapd_idle_kib") MiB"
summary "peak RSS (hook c=32 + 5k traps/s)" "$(mib "$peak_kib") MiB" "-"
summary "CPU per 1k hook events" "$http_cpu ms" "-"
summary "CPU per 1k traps (durable)" "$snmp_cpu ms" "snmptrapd $trapd_cpu ms"
((final_events == PRELOAD + final_accepted)) || die "stored $final_events events, accepted $((PRELOAD + final_accepted))"
