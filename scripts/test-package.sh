#!/usr/bin/env bash
# Tests the release artifacts as an administrator meets them, on this machine,
# as root: checksums, the archive's contents, the .deb's contents and
# metadata, `systemd-analyze verify` and an offline security score of the
# unit, `dpkg -i` (user, directories, generated tokens, sysctl), the gateway
# started exactly as the unit starts it (same user, capabilities, umask,
# working directory and ExecStart; sd_notify readiness, /readyz, tokens,
# SNMP on port 162 without root, SIGHUP reload), backup and restore of the
# installed store, reinstall, `dpkg -r` (data stays) and `dpkg -P` (data goes).
#
# There is no running systemd here (PID 1 is not systemd), so the unit is not
# started with systemctl; its settings are applied with setpriv instead.
#
# Usage: scripts/test-package.sh [DIST_DIR]   (default target/dist, from scripts/release.sh)
# Fails loudly on the first problem and cleans up after itself (the package is
# purged, a vcgate user it created is deleted, net.core.rmem_max restored).
set -euo pipefail
cd "$(dirname "$0")/.."

dist=${1:-target/dist}
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
step() { echo "test-package: $*"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i, a system user, port 162)"
for tool in dpkg dpkg-deb setpriv systemd-analyze curl python3 snmptrap readelf sha256sum flock ps; do
  command -v "$tool" >/dev/null || fail "missing tool: $tool (scripts/test.sh installs the test prerequisites)"
done
deb=$(ls "$dist"/vcgate_*_amd64.deb 2>/dev/null | head -n1)
tarball=$(ls "$dist"/vcgate-*-x86_64-linux.tar.gz 2>/dev/null | head -n1)
[ -f "$deb" ] && [ -f "$tarball" ] || fail "no .deb or archive in $dist: run scripts/release.sh first"

# One package test per machine at a time: it owns dpkg's vcgate, the vcgate
# user and ports 8080/162.
mkdir -p /run/lock
exec 9>/run/lock/vcgate-test-package.lock
flock -w 900 9 || fail "another package test holds /run/lock/vcgate-test-package.lock"

package_status() { dpkg-query -W -f '${db:Status-Status}' vcgate 2>/dev/null || echo not-installed; }
if [ "$(package_status)" != not-installed ]; then
  fail "a vcgate package is installed already ($(package_status); dpkg -P vcgate first); not touching it"
fi
user_existed=false
getent passwd vcgate >/dev/null && user_existed=true
rmem_before=$(cat /proc/sys/net/core/rmem_max)
work=$(mktemp -d)
chmod 0755 "$work"
gateway_pid=""

cleanup() {
  local rc=$?
  [ -n "$gateway_pid" ] && kill -KILL "$gateway_pid" 2>/dev/null || true
  [ -n "${listener_pid:-}" ] && kill "$listener_pid" 2>/dev/null || true
  if [ "$(package_status)" != not-installed ]; then
    dpkg -P vcgate >/dev/null 2>&1 || echo "test-package: cleanup: dpkg -P vcgate failed" >&2
  fi
  if [ "$user_existed" = false ] && getent passwd vcgate >/dev/null; then
    userdel vcgate 2>/dev/null || true
    groupdel vcgate 2>/dev/null || true
  fi
  echo "$rmem_before" > /proc/sys/net/core/rmem_max 2>/dev/null || true
  rm -rf "$work"
  if [ "$rc" -eq 0 ]; then echo "test-package: all checks passed"; fi
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------- artifacts
step "checksums"
(cd "$dist" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match"
grep -q "$(basename "$deb")" "$dist/SHA256SUMS" && grep -q "$(basename "$tarball")" "$dist/SHA256SUMS" \
  || fail "SHA256SUMS does not cover both artifacts"

step "archive contents"
top=$(basename "$tarball" .tar.gz)
tar -tzf "$tarball" > "$work/archive.txt"
for f in vcgate vcgate.toml vcgate.example.toml LICENSE README.md CHANGELOG.md systemd/vcgate.service \
  systemd/60-vcgate.sysctl.conf scripts/vcsa-alarm-hook.sh scripts/install-vcsa-hook.sh \
  examples/vcgate.toml examples/functions/set-vmattributes.py completions/vcgate.bash \
  examples/veba/handler.py examples/veba/vcgate-veba-adapter.py docs/coming-from-veba-and-dispatch.md \
  completions/_vcgate completions/vcgate.fish man/vcgate.1.gz man/vcgate-backup.1.gz docs/operations.md \
  contrib/prometheus/vcgate.rules.yml contrib/prometheus/vcgate.rules.test.yml contrib/grafana/vcgate.json; do
  grep -qx "$top/$f" "$work/archive.txt" || fail "archive lacks $top/$f"
done
tar -xzf "$tarball" -C "$work" "$top/vcgate"
"$work/$top/vcgate" --version | grep -q "^vcgate " || fail "the archive's binary does not run"
readelf -SW "$work/$top/vcgate" | grep -qE '\.(debug_info|debug_line|symtab)\b' && fail "the archive's binary is not stripped"

step "package contents and metadata"
dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's|^\./|/|' > "$work/contents.txt"
for f in /usr/bin/vcgate /etc/vcgate/vcgate.toml /usr/lib/systemd/system/vcgate.service \
  /usr/lib/sysctl.d/60-vcgate.conf /usr/share/man/man1/vcgate.1.gz /usr/share/man/man1/vcgate-backup.1.gz \
  /usr/share/bash-completion/completions/vcgate /usr/share/zsh/vendor-completions/_vcgate \
  /usr/share/fish/vendor_completions.d/vcgate.fish /usr/share/vcgate/vcsa-alarm-hook.sh \
  /usr/share/vcgate/install-vcsa-hook.sh /usr/share/vcgate/vcgate.example.toml \
  /usr/share/vcgate/examples/vcgate.toml /usr/share/vcgate/examples/functions/set-vmattributes.py \
  /usr/share/vcgate/examples/veba/vcgate-veba-adapter.py /usr/share/doc/vcgate/coming-from-veba-and-dispatch.md \
  /usr/share/doc/vcgate/copyright /usr/share/doc/vcgate/operations.md \
  /usr/share/vcgate/contrib/prometheus/vcgate.rules.yml /usr/share/vcgate/contrib/prometheus/vcgate.rules.test.yml \
  /usr/share/vcgate/contrib/grafana/vcgate.json; do
  grep -qx "$f" "$work/contents.txt" || fail "package lacks $f"
done
grep -q '^/var/lib/vcgate' "$work/contents.txt" && fail "the package must not ship /var/lib/vcgate (postinst makes it)"
grep -q 'token' "$work/contents.txt" && fail "the package ships a token file"
dpkg-deb -f "$deb" Depends | grep -q adduser || fail "Depends lacks adduser"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/vcgate/vcgate.toml \
  || fail "/etc/vcgate/vcgate.toml is not a conffile"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/vcgate > "$work/vcgate.bin"
readelf -SW "$work/vcgate.bin" | grep -qE '\.(debug_info|debug_line|symtab)\b' && fail "/usr/bin/vcgate is not stripped"

# ------------------------------------------------------------------ install
step "dpkg -i"
dpkg -i "$deb" > "$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i failed"; }
unit=/usr/lib/systemd/system/vcgate.service

step "systemd-analyze verify and security"
systemd-analyze verify "$unit" > "$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify failed"; }
grep -i 'vcgate' "$work/verify.log" && fail "systemd-analyze verify complains about the unit"
systemd-analyze security --offline=true "$unit" > "$work/security.log" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for vcgate.service: \([0-9.]*\).*/\1/p' "$work/security.log")
[ -n "$score" ] || { cat "$work/security.log"; fail "no exposure score from systemd-analyze security"; }
step "  exposure score $score (0 = locked down, 10 = exposed)"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { cat "$work/security.log"; fail "exposure score $score above 2.0"; }

step "user, directories, tokens, sysctl"
uid=$(id -u vcgate) || fail "no vcgate user"
[ "$uid" -lt 1000 ] || fail "vcgate is not a system user (uid $uid)"
[ "$(getent passwd vcgate | cut -d: -f7)" = /usr/sbin/nologin ] || fail "vcgate has a login shell"
[ "$(stat -c '%U:%G %a' /var/lib/vcgate)" = "vcgate:vcgate 750" ] || fail "/var/lib/vcgate: $(stat -c '%U:%G %a' /var/lib/vcgate)"
[ "$(stat -c '%U:%G %a' /etc/vcgate)" = "root:vcgate 750" ] || fail "/etc/vcgate: $(stat -c '%U:%G %a' /etc/vcgate)"
for scope in ingest read admin; do
  f=/etc/vcgate/$scope.token
  [ "$(stat -c '%U:%G %a' "$f")" = "root:vcgate 640" ] || fail "$f: $(stat -c '%U:%G %a' "$f")"
  grep -qxE '[0-9a-f]{64}' "$f" || fail "$f does not hold one 256-bit token"
done
[ "$(sort -u /etc/vcgate/*.token | wc -l)" -eq 3 ] || fail "the three tokens are not distinct"
setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/vcgate/read.token >/dev/null 2>&1 \
  && fail "an unprivileged user can read a token"
[ "$(cat /proc/sys/net/core/rmem_max)" -ge 8388608 ] || fail "net.core.rmem_max not raised: $(cat /proc/sys/net/core/rmem_max)"
setpriv --reuid=vcgate --regid=vcgate --init-groups /usr/bin/vcgate check-config /etc/vcgate/vcgate.toml >/dev/null \
  || fail "the service user cannot load the packaged config"
ingest=$(cat /etc/vcgate/ingest.token)
read_token=$(cat /etc/vcgate/read.token)
admin=$(cat /etc/vcgate/admin.token)

# Ports: the packaged 127.0.0.1:8080 and :162, unless this machine uses them
# already (then the installed config is edited, as an administrator would).
http_port=8080 snmp_port=162
port_free() { python3 - "$1" "$2" <<'PY'
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind)
try:
    s.bind(("127.0.0.1", int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
}
if ! port_free tcp 8080; then
  http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  sed -i "s/^listen = \"127.0.0.1:8080\"/listen = \"127.0.0.1:$http_port\"/" /etc/vcgate/vcgate.toml
  step "  8080 is busy here: the gateway listens on $http_port"
fi
if ! port_free udp 162; then
  for p in $(seq 600 1023); do port_free udp "$p" && { snmp_port=$p; break; }; done
  sed -i "s/^listen = \"127.0.0.1:162\"/listen = \"127.0.0.1:$snmp_port\"/" /etc/vcgate/vcgate.toml
  step "  162 is busy here: SNMP on $snmp_port (still privileged)"
fi
base="http://127.0.0.1:$http_port"

# ------------------------------------------------------- start as the unit
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n1; }
caps() { echo "$1" | tr 'A-Z' 'a-z' | sed 's/cap_//g; s/ /,+/g; s/^/+/'; }
svc_user=$(unit_value User) svc_group=$(unit_value Group)
exec_start=$(unit_value ExecStart) workdir=$(unit_value WorkingDirectory) umask_value=$(unit_value UMask)
ambient=$(caps "$(unit_value AmbientCapabilities)") bounding=$(caps "$(unit_value CapabilityBoundingSet)")
[ "$(unit_value Type)" = notify ] || fail "the unit is not Type=notify"
[ "$(unit_value NoNewPrivileges)" = yes ] || fail "the unit lacks NoNewPrivileges=yes"
[ "$ambient" = "+net_bind_service" ] || fail "unexpected AmbientCapabilities: $ambient"

notify_sock="$work/notify.sock"
notify_log="$work/notify.log"
listener_pid=""
start_gateway() {
  : > "$notify_log"
  rm -f "$notify_sock"
  python3 -u - "$notify_sock" "$svc_user" > "$notify_log" 2>&1 <<'PY' &
import os, pwd, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chown(sys.argv[1], pwd.getpwnam(sys.argv[2]).pw_uid, -1)
print("LISTENING")
s.settimeout(120)
while True:
    print(s.recv(4096).decode())
PY
  listener_pid=$!
  for _ in $(seq 100); do grep -q LISTENING "$notify_log" && break; sleep 0.1; done
  grep -q LISTENING "$notify_log" || fail "notify listener did not start"
  # What systemd does for this unit: user, group, capabilities, no new
  # privileges, umask, working directory, a clean environment, NOTIFY_SOCKET.
  (
    cd "$workdir"
    umask "$umask_value"
    # shellcheck disable=SC2086
    exec setpriv --reuid="$svc_user" --regid="$svc_group" --init-groups \
      --inh-caps=-all,"$ambient" --ambient-caps=-all,"$ambient" --bounding-set=-all,"$bounding" \
      --no-new-privs \
      env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 NOTIFY_SOCKET="$notify_sock" \
      $exec_start
  ) > "$work/gateway.log" 2>&1 &
  gateway_pid=$!
  for _ in $(seq 300); do
    grep -qx READY=1 "$notify_log" && break
    kill -0 "$gateway_pid" 2>/dev/null || { cat "$work/gateway.log"; fail "the gateway exited before READY=1"; }
    sleep 0.1
  done
  grep -qx READY=1 "$notify_log" || { cat "$work/gateway.log"; fail "no READY=1 within 30 s"; }
}
stop_gateway() {
  kill -TERM "$gateway_pid"
  local rc=0
  wait "$gateway_pid" || rc=$?
  gateway_pid=""
  [ "$rc" -eq 0 ] || { cat "$work/gateway.log"; fail "the gateway exited $rc on SIGTERM"; }
  grep -qx STOPPING=1 "$notify_log" || fail "no STOPPING=1 on SIGTERM"
  kill "$listener_pid" 2>/dev/null || true
  wait "$listener_pid" 2>/dev/null || true
  listener_pid=""
}
http_code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

step "start as the unit starts it"
start_gateway
[ "$(http_code "$base/readyz")" = 200 ] || fail "/readyz is not 200 right after READY=1"
main_pid=$gateway_pid   # setpriv and env exec: this is the gateway itself
[ "$(ps -o user=,comm= -p "$main_pid" | tr -s ' ')" = "vcgate vcgate" ] \
  || fail "the gateway is not running as user vcgate: $(ps -o user=,comm= -p "$main_pid")"
grep -q '^CapEff:.*0000000000000400$' "/proc/$main_pid/status" \
  || fail "the gateway's capabilities are not just CAP_NET_BIND_SERVICE: $(grep Cap "/proc/$main_pid/status")"
grep -q '^NoNewPrivs:.*1$' "/proc/$main_pid/status" || fail "NoNewPrivs is not set"
[ "$(http_code "$base/api/v1/status")" = 401 ] || fail "reads without a token are not refused"
[ "$(http_code -H "Authorization: Bearer $read_token" "$base/api/v1/status")" = 200 ] || fail "the generated read token does not work"
# What the contrib rules alert on, read as the unit's user (/proc/net/snmp included).
metrics=$(curl -sf -H "Authorization: Bearer $read_token" "$base/metrics") || fail "/metrics does not answer"
for m in 'vcgate_store_writable 1' 'vcgate_snmp_kernel_rcvbuf_errors_total ' 'vcgate_http_connections_max '; do
  grep -q "^$m" <<<"$metrics" || fail "/metrics lacks '$m'"
done
body='{"delivery_id":"package-test-1","vcenter":"vc1","env":{"VMWARE_ALARM_NAME":"Package test","VMWARE_ALARM_TARGET_NAME":"web01","VMWARE_ALARM_NEWSTATUS":"Red","VMWARE_ALARM_OLDSTATUS":"Green"}}'
alarm_id=$(curl -sf -H "Authorization: Bearer $ingest" -H 'content-type: application/json' -d "$body" "$base/api/v1/alarms" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "the generated ingest token does not work"
snmptrap -v 2c -c public "127.0.0.1:$snmp_port" '' 1.3.6.1.4.1.6876.4.3.0.203 \
  1.3.6.1.4.1.6876.4.3.306.0 s "Package trap" || fail "snmptrap failed"
found=""
for _ in $(seq 100); do
  if curl -sf -H "Authorization: Bearer $read_token" "$base/api/v1/events?source=snmp" | grep -q '"source":"snmp"'; then found=yes; break; fi
  sleep 0.1
done
[ -n "$found" ] || { cat "$work/gateway.log"; fail "a trap to port $snmp_port did not arrive (CAP_NET_BIND_SERVICE as vcgate?)"; }
[ "$(http_code -X POST -H "Authorization: Bearer $ingest" "$base/api/v1/reload")" = 401 ] \
  || fail "the ingest token opened an admin route"
[ "$(http_code -X POST -H "Authorization: Bearer $admin" "$base/api/v1/reload")" = 200 ] \
  || fail "the generated admin token does not reload"
# A SIGHUP reload is asynchronous: wait for its log line.
reloads=$(grep -c 'settings reloaded' "$work/gateway.log" || true)
kill -HUP "$main_pid"
for _ in $(seq 100); do
  [ "$(grep -c 'settings reloaded' "$work/gateway.log" || true)" -gt "$reloads" ] && break
  kill -0 "$main_pid" 2>/dev/null || fail "SIGHUP (ExecReload) stopped the gateway"
  sleep 0.1
done
[ "$(grep -c 'settings reloaded' "$work/gateway.log" || true)" -gt "$reloads" ] \
  || { cat "$work/gateway.log"; fail "SIGHUP (ExecReload) did not reload within 10 s"; }
[ "$(http_code "$base/readyz")" = 200 ] || fail "not ready after SIGHUP"

step "backup while it runs, check-store"
vcgate backup --config /etc/vcgate/vcgate.toml "$work/backup" > "$work/backup.log" 2>&1 \
  || { cat "$work/backup.log"; fail "vcgate backup failed"; }
vcgate check-store "$work/backup" | grep -q ': ok (' || fail "check-store of the backup"
vcgate restore --config /etc/vcgate/vcgate.toml "$work/backup" > "$work/restore-refused.log" 2>&1 \
  && fail "restore ran under a running gateway"
root_owned=$(find /var/lib/vcgate ! -user vcgate)
[ -z "$root_owned" ] || fail "root left files the service cannot write: $root_owned"
stop_gateway

step "restore into the stopped service, start again"
curl_events() { curl -sf -H "Authorization: Bearer $read_token" "$base/api/v1/events?limit=100"; }
vcgate restore --config /etc/vcgate/vcgate.toml "$work/backup" > "$work/restore.log" 2>&1 \
  || { cat "$work/restore.log"; fail "vcgate restore failed"; }
root_owned=$(find /var/lib/vcgate ! -user vcgate)
[ -z "$root_owned" ] || fail "restore left files the service cannot write: $root_owned"
start_gateway
curl_events | grep -q "$alarm_id" || fail "the restored store lacks the alarm stored before the backup"
stop_gateway

step "reinstall keeps tokens and the edited conffile"
sum_before=$(cat /etc/vcgate/*.token | sha256sum)
echo "# edited by the package test" >> /etc/vcgate/vcgate.toml
dpkg -i "$deb" > "$work/dpkg-i2.log" 2>&1 || { cat "$work/dpkg-i2.log"; fail "reinstall failed"; }
[ "$(cat /etc/vcgate/*.token | sha256sum)" = "$sum_before" ] || fail "reinstall changed the tokens"
grep -q "edited by the package test" /etc/vcgate/vcgate.toml || fail "reinstall replaced the edited conffile"

step "dpkg -r keeps data, tokens and config"
dpkg -r vcgate > "$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg -r failed"; }
[ ! -e /usr/bin/vcgate ] || fail "/usr/bin/vcgate is still there after remove"
[ ! -e "$unit" ] || fail "the unit is still there after remove"
for f in /var/lib/vcgate/vcgate.db /etc/vcgate/vcgate.toml /etc/vcgate/ingest.token /etc/vcgate/read.token /etc/vcgate/admin.token; do
  [ -e "$f" ] || fail "remove deleted $f"
done
getent passwd vcgate >/dev/null || fail "remove deleted the vcgate user"

step "dpkg -P deletes data and tokens"
dpkg -P vcgate > "$work/dpkg-p.log" 2>&1 || { cat "$work/dpkg-p.log"; fail "dpkg -P failed"; }
[ ! -e /var/lib/vcgate ] || fail "purge left /var/lib/vcgate"
[ ! -e /etc/vcgate ] || fail "purge left /etc/vcgate: $(ls -A /etc/vcgate)"
dpkg-statoverride --list /etc/vcgate >/dev/null 2>&1 && fail "purge left the statoverride on /etc/vcgate"
[ "$(package_status)" = not-installed ] || fail "dpkg still has vcgate as $(package_status) after purge"
exit 0
