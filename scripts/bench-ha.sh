#!/usr/bin/env bash
# High-availability benchmark: durable accepts/s and latency of
# POST /api/v1/alarms with 1, 2 and 3 vcgate nodes on one PostgreSQL on this
# box, next to the SQLite single node; then the failover time (kill -9 of the
# node running a function → the survivor has run it) over BENCH_KILLS kills.
#
# Ingest: each level gets a fresh database; every node takes BENCH_CONC
# closed-loop workers of examples/hookload (unique delivery_id per request),
# for BENCH_SECS seconds, all nodes at once. accepted/s is the sum of 202
# answers per second; p99 is the worst node's. Afterwards the database must
# hold exactly as many events as there were 202 answers (checked).
#
# Failover: node `a` runs a function that hangs (it holds the run), node `b`
# runs the same function name as a quick command. Each round: start `a`
# alone, emit one event to it, wait until its function has started, start
# `b`, kill -9 `a`, and time until the run has succeeded on `b` (after `a`'s
# heartbeat lease of BENCH_NODE_TIMEOUT expired).
#
# Environment:
#   BENCH_NODES         node counts (default "1 2 3")
#   BENCH_CONC          workers per node (default 16)
#   BENCH_SECS          seconds per level (default 10)
#   BENCH_KILLS         failover rounds (default 20)
#   BENCH_NODE_TIMEOUT  [store] node_timeout for the failover rounds (default "3s")
#   BENCH_KEEP          1 = keep the temp directory
# Everything runs on 127.0.0.1; the PostgreSQL cluster is private (initdb as
# the `postgres` user, fsync on: acknowledged means on disk) and removed at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
NODES=${BENCH_NODES:-"1 2 3"}
CONC=${BENCH_CONC:-16}
SECS=${BENCH_SECS:-10}
KILLS=${BENCH_KILLS:-20}
NODE_TIMEOUT=${BENCH_NODE_TIMEOUT:-3s}
PGBIN=/usr/lib/postgresql/15/bin
INGEST_TOKEN=bench-ingest-token-0001
READ_TOKEN=bench-read-token-0001

log() { printf '%s\n' "$*" >&2; }
die() {
    log "bench-ha: $*"
    exit 1
}
[[ $(id -u) == 0 ]] || die "run as root (the PostgreSQL cluster runs as the postgres user)"
[[ -x $PGBIN/initdb ]] || die "PostgreSQL 15 is not installed (apt-get install postgresql)"
for tool in curl jq python3; do command -v "$tool" >/dev/null || die "$tool is required"; done

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

PIDS=()
WORK=""
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    if [[ -n $WORK && -d $WORK/pg ]]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [[ ${BENCH_KEEP:-0} != 1 && -n $WORK ]]; then rm -rf "$WORK"; elif [[ -n $WORK ]]; then log "kept $WORK"; fi
}
trap cleanup EXIT

log "building (release): vcgate + examples/hookload"
(cd "$ROOT" && cargo build --release --quiet --bin vcgate --example hookload)
VCGATE="$TARGET_DIR/release/vcgate"
HOOKLOAD="$TARGET_DIR/release/examples/hookload"
WORK=$(mktemp -d /tmp/vcgate-bench-ha.XXXXXX)
chmod 755 "$WORK"

# The private cluster: fsync on (the default), loopback, trust auth.
mkdir -p "$WORK/pg" && chown postgres:postgres "$WORK/pg"
PGPORT=$(free_port)
runuser -u postgres -- "$PGBIN/initdb" -A trust -U postgres -D "$WORK/pg/data" >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w \
    -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
createdb() { "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres "$1"; }

# start_node NAME DIR STORE_TOML EXTRA_TOML → sets NODE_PID and NODE_PORT
start_node() {
    local name=$1 dir=$2 store=$3 extra=$4 port
    mkdir -p "$dir"
    port=$(free_port)
    cat >"$dir/vcgate.toml" <<EOF
[store]
$store

[http]
listen = "127.0.0.1:$port"
ingest_tokens = ["$INGEST_TOKEN"]
read_tokens = ["$READ_TOKEN"]
rate_limit = 1000000
rate_burst = 1000000

[snmp]
enabled = false

$extra
EOF
    "$VCGATE" serve --config "$dir/vcgate.toml" >>"$dir/vcgate.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    NODE_PID=$pid
    NODE_PORT=$port
    for ((i = 0; i < 300; i++)); do
        curl -sf -m 1 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || die "node $name exited: $(tail -5 "$dir/vcgate.log")"
        sleep 0.1
    done
}
status() { curl -sf -m 10 -H "Authorization: Bearer $READ_TOKEN" "http://127.0.0.1:$1/api/v1/status"; }

echo "== HA ingest: POST /api/v1/alarms, durable accepts, PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on this box =="
echo "host: $(nproc) cores, loadavg before: $(cut -d' ' -f1-3 /proc/loadavg); vcgate $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "load: examples/hookload, $CONC closed-loop workers per node, ${SECS}s per level, all nodes loaded at once"
echo
printf '%-10s %6s %9s %11s %8s %8s %9s\n' store nodes accepted accepted/s p50_ms p99_ms stored
fail=0
run_level() { # run_level LABEL N STORE_TOML(with NODE placeholder)
    local label=$1 n=$2 store=$3 ports=() outs=() total=0 p50=0 p99=0 stored
    for ((k = 0; k < n; k++)); do
        start_node "n$k" "$WORK/$label-$n/n$k" "${store//NODE/n$k}" ""
        ports+=("$NODE_PORT")
    done
    for ((k = 0; k < n; k++)); do
        "$HOOKLOAD" --url "http://127.0.0.1:${ports[$k]}" --token "$INGEST_TOKEN" --concurrency "$CONC" \
            --duration "$SECS" --tag "$label$n-$k-$$" >"$WORK/$label-$n/load$k.out" 2>"$WORK/$label-$n/load$k.err" &
        outs+=($!)
    done
    for pid in "${outs[@]}"; do wait "$pid" || fail=1; done
    local rate=0
    for ((k = 0; k < n; k++)); do
        local out
        out=$(cat "$WORK/$label-$n/load$k.out")
        field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }
        total=$((total + $(field accepted)))
        rate=$(awk -v a="$rate" -v b="$(field rate)" 'BEGIN { printf "%.0f", a + b }')
        p50=$(awk -v a="$p50" -v b="$(field p50_ms)" 'BEGIN { print (b > a ? b : a) }')
        p99=$(awk -v a="$p99" -v b="$(field p99_ms)" 'BEGIN { print (b > a ? b : a) }')
    done
    for ((i = 0; i < 600; i++)); do
        stored=$(status "${ports[0]}" | jq -r '.store.events') || stored=?
        [[ $(status "${ports[0]}" | jq -r '.store.pending_pipeline') == 0 ]] && break
        sleep 0.2
    done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    PIDS=()
    printf '%-10s %6s %9s %11s %8s %8s %9s\n' "$label" "$n" "$total" "$rate" "$p50" "$p99" "$stored"
    if [[ $stored != "$total" ]]; then
        log "MISMATCH ($label, $n nodes): 202 answers=$total, stored=$stored"
        fail=1
    fi
}
run_level sqlite 1 "path = \"$WORK/sqlite.db\""
for n in $NODES; do
    createdb "ingest$n"
    run_level postgres "$n" "backend = \"postgres\"
url = \"postgres://postgres@127.0.0.1:$PGPORT/ingest$n\"
node_id = \"NODE\""
done
echo
echo "accepted/s = 202 answers per second summed over the nodes; p50/p99 = worst node (client side, request → 202);"
echo "stored = events in the store after the pipeline drained (must equal accepted)."
echo "Bound: PostgreSQL's commit (one WAL flush per request, grouped across concurrent commits) and the 2 cores"
echo "shared by PostgreSQL, the nodes and the load generators; SQLite batches many requests per fsync (group commit)."
echo

# Failover rounds.
createdb failover
hang=$(mktemp "$WORK/hang.XXXX.sh")
printf '#!/bin/sh\ncat >/dev/null\ntouch "%s/held"\nexec sleep 3600\n' "$WORK" >"$hang"
quick=$(mktemp "$WORK/quick.XXXX.sh")
printf '#!/bin/sh\ncat >/dev/null\n' >"$quick"
chmod 755 "$hang" "$quick"
fn() { printf '[[route]]\ntype = "vm.*"\nto = "automation"\n\n[[function]]\nname = "f"\nkind = "command"\ncommand = ["%s"]\ntimeout = "1h"\n\n[[subscription]]\nname = "s"\nevent_type = "vm.*"\nfunction = "f"\n' "$1"; }
store="backend = \"postgres\"
url = \"postgres://postgres@127.0.0.1:$PGPORT/failover\"
node_timeout = \"$NODE_TIMEOUT\""
echo "== failover: kill -9 of the node running a function → the survivor has run it ([store] node_timeout = $NODE_TIMEOUT) =="
run_state() { # run_state PORT EVENT_ID
    curl -sf -m 5 -H "Authorization: Bearer $READ_TOKEN" "http://127.0.0.1:$1/api/v1/runs?limit=5" |
        jq -r --arg id "$2" '[.runs[] | select(.event_id == $id)][0].status // ""'
}
times=()
for ((round = 0; round < KILLS; round++)); do
    # `a` alone takes the event and holds its run (the function hangs) ...
    rm -f "$WORK/held"
    start_node a "$WORK/fo/a" "$store
node_id = \"a\"" "$(fn "$hang")"
    apid=$NODE_PID aport=$NODE_PORT
    id=$(curl -sf -m 10 -H "Authorization: Bearer $INGEST_TOKEN" -H 'content-type: application/json' \
        -d "{\"specversion\":\"1.0\",\"id\":\"fo-$round-$$\",\"source\":\"bench\",\"type\":\"vm.created\",\"subject\":\"vm-fo-$round\"}" \
        "http://127.0.0.1:$aport/api/v1/events" | jq -r .id)
    for ((i = 0; i < 600; i++)); do
        [[ -e $WORK/held ]] && break
        sleep 0.05
    done
    [[ -e $WORK/held ]] || die "round $round: node a never started the run"
    # ... then `b` joins, and `a` dies holding the run.
    start_node b "$WORK/fo/b" "$store
node_id = \"b\"" "$(fn "$quick")"
    bpid=$NODE_PID bport=$NODE_PORT
    kids=$(ps -o pid= --ppid "$apid" || true) # a's function (its child) would outlive it
    t0=$(now_ms)
    kill -9 "$apid"
    wait "$apid" 2>/dev/null || true
    for kid in $kids; do kill -9 "$kid" 2>/dev/null || true; done
    state=""
    for ((i = 0; i < 1200; i++)); do
        state=$(run_state "$bport" "$id")
        [[ $state == succeeded ]] && break
        sleep 0.02
    done
    [[ $state == succeeded ]] || die "round $round: the survivor did not finish the run"
    times+=($(($(now_ms) - t0)))
    kill "$bpid" 2>/dev/null || true
    wait "$bpid" 2>/dev/null || true
done
((${#times[@]} > 0)) || die "no failover round could be timed"
printf '%s\n' "${times[@]}" | sort -n | awk -v n="${#times[@]}" '
    { v[NR] = $1; s += $1 }
    END {
        i90 = int(n * 0.9 + 0.5); if (i90 < 1) i90 = 1
        printf "rounds %d  failover ms: min %d  median %d  p90 %d  max %d  mean %.0f\n", n, v[1], v[int((n + 1) / 2)], v[i90], v[n], s / n
    }'
echo "Bound: node_timeout (the heartbeat lease; a node is dead only once it ran out) counted from the dead node's"
echo "last renewal, 0..node_timeout/3 before the kill; then the survivor's wake-up and the function's start."
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
