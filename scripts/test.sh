#!/usr/bin/env bash
# The project's test command: installs every prerequisite that is missing
# (Debian packages via apt-get, cargo-deb via cargo install), builds the
# vCenter simulator harness, then runs the whole suite (unit, property and
# integration tests against real peers: net-snmp's snmptrap/snmpinform/
# snmptrapd, the govmomi simulator, Alertmanager and amtool, promtool, the
# CloudEvents Python SDK and VEBA-style Flask functions), then the package
# test: one release build for the .deb and the archive (scripts/release.sh),
# installed and started as the systemd unit would start it
# (scripts/test-package.sh).
#
# Arguments go to `cargo test` (a filter runs no package test);
# VCGATE_PACKAGE_TEST=0 skips the package test, =1 forces it.
#
# The backend matrix: after the whole suite (its gateways on SQLite, the
# embedded default), the integration tests run a second time with
# VCGATE_TEST_STORE=postgres, each test gateway on its own database of one
# private PostgreSQL cluster (tests/it/support/peers/postgres.rs), so the two
# backends cannot drift. Skipped in that pass: tests that pin a backend
# themselves (ha:: is PostgreSQL already; the SQLite-only features
# `max_size` and `vcgate backup`/`restore`). A filter argument runs the
# filter on both backends; arguments with cargo options (`--lib`, …) and
# VCGATE_BACKENDS=sqlite run SQLite only.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have snmptrap || missing+=(snmp)
have snmptrapd || missing+=(snmptrapd)
have go || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/vmware/govmomi/simulator ] || missing+=(golang-github-vmware-govmomi-dev)
have curl || missing+=(curl)
have python3 || missing+=(python3)
# `-o yaml` is read back with PyYAML (tests/it/cli.rs).
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
# pip, for the VEBA tests' CloudEvents SDK (not packaged by Debian).
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
have flock || missing+=(util-linux)
have logger || missing+=(bsdutils)
have openssl || missing+=(openssl)
have amtool && have prometheus-alertmanager || missing+=(prometheus-alertmanager)
have promtool || missing+=(prometheus)   # contrib/ rules: promtool check/test rules
# The package test and the completion/man page tests.
have dpkg-shlibdeps || missing+=(dpkg-dev)
have adduser || missing+=(adduser)
have setpriv || missing+=(util-linux)
have ps || missing+=(procps)
have systemd-analyze || missing+=(systemd)
have readelf || missing+=(binutils)
have groff || missing+=(groff-base)
have zsh || missing+=(zsh)
have fish || missing+=(fish)
# The console test drives a real headless browser (tests/it/console.rs).
have chromium || missing+=(chromium)
# The HA tests run private PostgreSQL clusters (initdb/pg_ctl as `postgres`).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)

if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Fail loudly rather than let the contrib tests fail one by one.
if ! have promtool; then
  echo "test.sh: promtool (Debian package prometheus) is missing; the contrib tests need it" >&2
  exit 1
fi

# The VEBA compatibility tests run VEBA-style Python functions unchanged:
# Flask and the CloudEvents SDK 1.x (VEBA's functions import cloudevents.http,
# which 2.x removed), from PyPI.
if ! python3 -c 'import flask; from cloudevents.http import from_http' >/dev/null 2>&1; then
  echo "test.sh: installing flask and cloudevents<2 (pip)"
  python3 -m pip install -q flask 'cloudevents<2' \
    || python3 -m pip install -q --break-system-packages flask 'cloudevents<2'
fi

package_test=${VCGATE_PACKAGE_TEST:-}
if [ -z "$package_test" ]; then
  if [ $# -eq 0 ]; then package_test=1; else package_test=0; fi
fi
if [ "$package_test" = 1 ] && ! command -v cargo-deb >/dev/null 2>&1; then
  echo "test.sh: installing cargo-deb (cached in ~/.cargo/bin afterwards)"
  cargo install cargo-deb --locked
fi

if [ -x scripts/build-vcsim.sh ]; then
  scripts/build-vcsim.sh
fi

# cargo prints one "test result" line per test binary, the last often a
# binary with no tests; finish with one plain total so the summary is clear.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --all-targets "$@" 2>&1 | tee "$log" || status=$?
matrix=1
[ "${VCGATE_BACKENDS:-sqlite postgres}" = sqlite ] && matrix=0
for arg in "$@"; do [[ "$arg" == -* ]] && matrix=0; done # cargo options: run as asked, once
if [ "$matrix" = 1 ]; then
  echo "test.sh: the integration tests again, every gateway on PostgreSQL"
  VCGATE_TEST_STORE=postgres cargo test --locked --test it "$@" -- \
    --skip ha:: \
    --skip http_ingest::full_store_answers_503_and_acknowledges_only_what_it_stored \
    --skip snmp::inform_is_not_acknowledged_when_the_store_cannot_commit \
    --skip operations::a_backup_taken_under_ingest_load \
    2>&1 | tee -a "$log" || status=$?
fi
passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
if [ "$package_test" = 1 ]; then
  if scripts/release.sh && "${sudo_cmd[@]}" scripts/test-package.sh target/dist; then
    passed=$((passed + 1))
  else
    echo "test.sh: the package test failed"
    failed=$((failed + 1))
    status=1
  fi
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
