#!/usr/bin/env bash
# Soak test (bounded): runs the release gateway under moderate mixed load —
# hook alarms, SNMP traps, CloudEvents that start a command function, and
# monitoring forwards to a local snmptrapd — for DURATION seconds, sampling
# RSS, open file descriptors and threads every INTERVAL seconds. Prints the
# samples and the first→last change; flat lines are the goal.
# Usage: DURATION=1200 RATE=50 scripts/soak.sh   (defaults: 1200 s, 50 events/s per kind)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-1200}
INTERVAL=${INTERVAL:-30}
RATE=${RATE:-50}
command -v snmptrapd >/dev/null || [ -x /usr/sbin/snmptrapd ] || { apt-get update -qq && apt-get install -y -qq snmp snmptrapd >/dev/null; }
cargo build --release --quiet --bin vcgate
bin="${CARGO_TARGET_DIR:-target}/release/vcgate"
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_${1}); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
http=$(free_port STREAM); snmp=$(free_port DGRAM); nms=$(free_port DGRAM)
printf 'authCommunity log public\ndoNotRetainNotificationLogs yes\n' > "$dir/trapd.conf"
/usr/sbin/snmptrapd -f -n -On -Lf "$dir/nms.log" -C -c "$dir/trapd.conf" -p "$dir/trapd.pid" "127.0.0.1:$nms" & pids+=($!)
cat > "$dir/vcgate.toml" <<CONF
[store]
path = "$dir/vcgate.db"
[http]
listen = "127.0.0.1:$http"
rate_limit = 100000
rate_burst = 100000
[snmp]
listen = "127.0.0.1:$snmp"
default_vcenter = "vc1"
[[route]]
type = "soak.*"
to = "automation"
[[monitoring.snmp]]
name = "nms"
target = "127.0.0.1:$nms"
[[function]]
name = "echo"
kind = "command"
command = ["/bin/cat"]
concurrency = 4
[[subscription]]
name = "echo"
event_type = "soak.*"
function = "echo"
CONF
RUST_LOG=warn "$bin" serve --config "$dir/vcgate.toml" 2>"$dir/vcgate.log" & vc=$!; pids+=($vc)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.05; done
python3 - "$http" "$snmp" "$DURATION" "$INTERVAL" "$RATE" "$vc" <<'PY'
import json, os, socket, sys, threading, time, urllib.request
http, snmp, duration, interval, rate, pid = map(int, sys.argv[1:])
base = f"http://127.0.0.1:{http}"
stop = time.time() + duration
fixture = open("tests/fixtures/traps/v2c-alarminfo-vm-red.bin", "rb").read()
def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"content-type": "application/json"})
    urllib.request.urlopen(req).read()
def hook_load():
    i = 0
    while time.time() < stop:
        # A bounded set of alarm identities flipping red/green: dedup and state stay bounded too.
        post("/api/v1/alarms", {"delivery_id": f"soak-{i}", "vcenter": "vc1", "env": {
            "VMWARE_ALARM_NAME": "soak", "VMWARE_ALARM_TARGET_NAME": f"vm-{i % 500}",
            "VMWARE_ALARM_TARGET_ID": f"vm-{i % 500}", "VMWARE_ALARM_NEWSTATUS": "Red" if i % 2 else "Green"}})
        i += 1; time.sleep(1 / rate)
def emit_load():
    i = 0
    while time.time() < stop:
        post("/api/v1/events", {"specversion": "1.0", "id": f"soak-{i}", "source": "soak", "type": "soak.tick", "data": {}})
        i += 1; time.sleep(1 / rate)
def trap_load():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while time.time() < stop:
        s.sendto(fixture, ("127.0.0.1", snmp)); time.sleep(1 / rate)
for f in (hook_load, emit_load, trap_load):
    threading.Thread(target=f, daemon=True).start()
def sample():
    status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status"))
    rss = int(status["VmRSS"].split()[0]) // 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    threads = int(status["Threads"])
    st = json.load(urllib.request.urlopen(base + "/api/v1/status"))
    return rss, fds, threads, st["store"]["events"], st["runs"].get("succeeded", 0)
print(f"{'t(s)':>6} {'RSS MiB':>8} {'fds':>5} {'threads':>8} {'events':>9} {'runs ok':>8}")
samples = []
start = time.time()
while time.time() < stop:
    s = sample(); samples.append(s)
    print(f"{time.time() - start:6.0f} {s[0]:8} {s[1]:5} {s[2]:8} {s[3]:9} {s[4]:8}", flush=True)
    time.sleep(interval)
first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
print(f"change after warm-up: RSS {last[0] - first[0]:+d} MiB, fds {last[1] - first[1]:+d}, threads {last[2] - first[2]:+d}")
PY
