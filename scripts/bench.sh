#!/usr/bin/env bash
# Runs both benchmarks: SNMP trap ingest (vcgate vs snmptrapd) and HTTP
# alarm-hook ingest (durable accepts/s, latency). See docs/performance.md.
# Environment knobs are those of scripts/bench-snmp.sh and scripts/bench-http.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rc=0
"$here/bench-snmp.sh" || rc=1
echo
"$here/bench-http.sh" || rc=1
exit $rc
