#!/usr/bin/env bash
# Automation latency and throughput benchmark (prints numbers; asserts nothing).
#
#  - receipt → function start: for N events posted one at a time, the time from
#    the event's `received_at` (HTTP request arrived) to the run's `started`
#    (the run was claimed, immediately before the process is spawned), p50/p99.
#  - throughput of a no-op command function: M events posted by 8 concurrent
#    clients, runs completed per second until all M runs have succeeded.
# BENCH_VCGATE: a vcgate binary to measure instead of this tree's release build.
# Anchor: VMware Dispatch's own published run record shows ~420 ms from
# vCenter event to function start; the Event Broker Appliance polls every 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-300}
M=${M:-2000}
cargo build --release --quiet
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
snmp_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/vcgate.toml" <<CONF
[store]
path = "$dir/vcgate.db"
sync = "${SYNC:-full}"
[http]
listen = "127.0.0.1:$port"
rate_limit = 1000000
rate_burst = 1000000
[snmp]
listen = "127.0.0.1:$snmp_port"
[[route]]
type = "bench.*"
to = "automation"
[[function]]
name = "noop"
kind = "command"
command = ["/bin/true"]
concurrency = 8
[[subscription]]
name = "noop"
event_type = "bench.*"
function = "noop"
CONF
RUST_LOG=warn "${BENCH_VCGATE:-${CARGO_TARGET_DIR:-target}/release/vcgate}" serve --config "$dir/vcgate.toml" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; store sync=${SYNC:-full} (fsync per group commit)"
python3 - "$port" "$N" "$M" "${BENCH_SUMMARY:-}" <<'PY'
import json, sys, time, threading, urllib.request
from datetime import datetime
port, n, m, summary = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
base = f"http://127.0.0.1:{port}"
def post(i, kind):
    body = json.dumps({"specversion": "1.0", "id": f"{kind}-{i}", "source": "bench", "type": f"bench.{kind}", "data": {}}).encode()
    req = urllib.request.Request(base + "/api/v1/events", body, {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))["id"]
def get(path):
    return json.load(urllib.request.urlopen(base + path))
def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
def wait_runs(kind, count):
    while True:
        runs, before = [], None
        while True:
            page = get(f"/api/v1/runs?limit=1000" + (f"&before={before}" if before else ""))["runs"]
            runs += [r for r in page]
            if len(page) < 1000: break
            before = page[-1]["seq"]
        done = [r for r in runs if r["status"] == "succeeded" and r["subscription"] == "noop"]
        mine = [r for r in done if r["event_id"] in kind]
        if len(mine) >= count: return mine
        time.sleep(0.05)
# Latency: one event at a time, so queueing does not hide the path's own cost.
ids = set()
for i in range(n):
    ids.add(post(i, "latency"))
    time.sleep(0.01)
runs = wait_runs(ids, n)
lat = []
for r in runs:
    ev = get(f"/api/v1/events/{r['event_id']}")
    lat.append((ts(r["started"]) - ts(ev["received_at"])) * 1000)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"receipt -> function start over {n} events: p50 {p(0.50):.1f} ms, p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms  (Dispatch: ~420 ms; ratio p50 {420 / max(p(0.5), 0.001):.0f}x)")
# Throughput: M events from 8 clients.
ids2, lock = set(), threading.Lock()
start = time.time()
def worker(k):
    for i in range(k, m, 8):
        eid = post(i, "throughput")
        with lock: ids2.add(eid)
threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
posted = time.time() - start
wait_runs(ids2, m)
total = time.time() - start
print(f"no-op command function: {m} runs in {total:.2f} s = {m / total:.0f} runs/s (events posted in {posted:.2f} s)")
if summary:
    with open(summary, "a") as f:
        f.write(f"receipt -> function start, p50 / p99|{p(0.50):.1f} ms / {p(0.99):.1f} ms|target p50 < 5 ms; Dispatch ~420 ms\n")
        f.write(f"no-op command function runs|{m / total:.0f} runs/s|-\n")
PY
