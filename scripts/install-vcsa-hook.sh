#!/bin/bash
# Installs the vcgate alarm hook on a vCenter Server Appliance (VCSA).
#
# Owns: copying vcsa-alarm-hook.sh into place (0700), writing its config
# (0600) and token file (0600), an optional end-to-end test alarm, and telling
# the operator how to attach the hook to alarm definitions.
# Must not: put the token on a command line or print it, or touch anything
# outside --prefix.
#
# Usage (as root on the VCSA; the token is read from stdin unless --token-file):
#   ./install-vcsa-hook.sh --url https://gw.example:8443 --vcenter vc01 \
#       --ca-file ./gateway-ca.pem --test < token.txt
#   ./install-vcsa-hook.sh --test          # test an existing installation

set -euo pipefail
umask 077

usage() {
  cat <<'EOF'
Usage: install-vcsa-hook.sh --url URL [options]      install (token on stdin)
       install-vcsa-hook.sh --test [--prefix DIR]    test an existing installation

  --url URL            gateway base URL, e.g. https://gw.example:8443; repeat it
                       for a high-availability pair (tried in that order)
  --token-file FILE    read the ingest token from FILE (default: stdin)
  --vcenter NAME       name sent with every alarm (default: hostname -f)
  --ca-file FILE       CA bundle for the gateway's certificate (copied)
  --insecure           do not verify the gateway's TLS certificate
  --timeout SECONDS    per-POST time limit (default 5)
  --send-budget SECONDS  time one alarm may spend over all URLs (default 10)
  --script PATH        where the hook goes (default /root/alarmscripts/vcgate-hook.sh)
  --spool-dir DIR      spool directory (default /var/spool/vcgate)
  --prefix DIR         install under DIR instead of / (all paths above move under it)
  --test               send a test alarm (vcgate.test) through the installed hook
  -h, --help           this text
EOF
}

die() { printf 'install-vcsa-hook: %s\n' "$1" >&2; exit 2; }

urls=() token_file="" vcenter="" ca_file="" insecure="" timeout=5 send_budget=10
script=/root/alarmscripts/vcgate-hook.sh spool_dir=/var/spool/vcgate prefix="" run_test=""

while (($#)); do
  case $1 in
    --url) urls+=("${2:?--url needs a value}"); shift 2 ;;
    --token-file) token_file=${2:?--token-file needs a value}; shift 2 ;;
    --vcenter) vcenter=${2:?--vcenter needs a value}; shift 2 ;;
    --ca-file) ca_file=${2:?--ca-file needs a value}; shift 2 ;;
    --insecure) insecure=1; shift ;;
    --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
    --send-budget) send_budget=${2:?--send-budget needs a value}; shift 2 ;;
    --script) script=${2:?--script needs a value}; shift 2 ;;
    --spool-dir) spool_dir=${2:?--spool-dir needs a value}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a value}; prefix=${prefix%/}; shift 2 ;;
    --test) run_test=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

conf_dir=$prefix/etc/vcgate
conf=$conf_dir/hook.conf
token_dest=$conf_dir/token
ca_dest=$conf_dir/gateway-ca.pem
script=$prefix$script
spool_dir=$prefix$spool_dir

# conf_line KEY VALUE: a line both the hook's parser and a shell read alike.
conf_line() {
  [[ $2 != *[\"\\\$\`$'\n\r']* ]] || die "$1 value must not contain quotes, \\, \$, \` or newlines"
  printf '%s="%s"\n' "$1" "$2"
}

install_hook() {
  local src here line replaced=0
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  src=$here/vcsa-alarm-hook.sh
  [[ -r $src ]] || die "cannot find $src"
  local u joined=""
  for u in "${urls[@]}"; do
    [[ $u =~ ^https?://[^[:space:],]+$ ]] || die "--url must be an http(s) URL"
    joined+="${joined:+ }${u%/}"
  done
  [[ $timeout =~ ^[1-9][0-9]{0,2}$ ]] || die "--timeout must be whole seconds"
  [[ $send_budget =~ ^[1-9][0-9]{0,3}$ ]] || die "--send-budget must be whole seconds"
  [[ -z $ca_file || -r $ca_file ]] || die "cannot read --ca-file $ca_file"
  [[ -n $vcenter ]] || vcenter=$(hostname -f 2>/dev/null || hostname)

  local token
  if [[ -n $token_file ]]; then
    [[ -r $token_file ]] || die "cannot read --token-file $token_file"
    IFS= read -r token <"$token_file" || true
  else
    [[ -t 0 ]] && printf 'Ingest token (input hidden): ' >&2
    IFS= read -r -s token || true
    [[ -t 0 ]] && printf '\n' >&2
  fi
  token=${token%$'\r'}
  token=${token#"${token%%[![:space:]]*}"}
  token=${token%"${token##*[![:space:]]}"}
  [[ -n $token ]] || die "no token given (pipe it on stdin or use --token-file)"
  [[ $token =~ ^[[:graph:]]+$ && $token != *[\"\\]* ]] ||
    die "the token has characters not allowed in a bearer token"

  mkdir -p -- "$conf_dir" "$(dirname "$script")" "$spool_dir"
  chmod 0700 -- "$conf_dir" "$spool_dir"

  # Token: written by printf (a builtin) into a fresh 0600 file, then renamed.
  printf '%s\n' "$token" >"$token_dest.new"
  chmod 0600 -- "$token_dest.new"
  mv -f -- "$token_dest.new" "$token_dest"

  if [[ -n $ca_file ]]; then
    install -m 0644 -- "$ca_file" "$ca_dest"
  fi

  {
    printf '# vcgate alarm hook config, written by install-vcsa-hook.sh\n'
    conf_line VCGATE_URL "$joined"
    conf_line VCGATE_TOKEN_FILE "$token_dest"
    conf_line VCGATE_VCENTER "$vcenter"
    conf_line VCGATE_SPOOL_DIR "$spool_dir"
    conf_line VCGATE_TIMEOUT "$timeout"
    conf_line VCGATE_SEND_BUDGET "$send_budget"
    if [[ -n $ca_file ]]; then conf_line VCGATE_CA_FILE "$ca_dest"; fi
    if [[ -n $insecure ]]; then conf_line VCGATE_INSECURE 1; fi
  } >"$conf.new"
  chmod 0600 -- "$conf.new"
  mv -f -- "$conf.new" "$conf"

  # The hook reads /etc/vcgate/hook.conf; under --prefix it must read ours.
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line == DEFAULT_CONF=/etc/vcgate/hook.conf ]]; then
      printf 'DEFAULT_CONF=%q\n' "$conf"
      replaced=$((replaced + 1))
    else
      printf '%s\n' "$line"
    fi
  done <"$src" >"$script.new"
  ((replaced == 1)) || { rm -f -- "$script.new"; die "$src has no DEFAULT_CONF line to set"; }
  chmod 0700 -- "$script.new"
  mv -f -- "$script.new" "$script"

  printf 'Installed %s (0700)\n          %s (0600)\n          %s (0600)\n' "$script" "$conf" "$token_dest"
  if [[ -n $insecure ]]; then
    printf 'WARNING: --insecure: the gateway certificate is not verified.\n'
  fi
}

# test_hook: runs the installed hook the way vCenter does (clean environment,
# VMWARE_ALARM_* variables) and reports whether the gateway stored the alarm.
test_hook() {
  [[ -x $script ]] || die "no hook installed at $script"
  local out rc=0 status file
  out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    VMWARE_ALARM_NAME=vcgate.test \
    VMWARE_ALARM_ID=alarm-vcgate-test \
    VMWARE_ALARM_TARGET_NAME=vcgate-install-test \
    VMWARE_ALARM_TARGET_ID=vm-0 \
    VMWARE_ALARM_OLDSTATUS=Green \
    VMWARE_ALARM_NEWSTATUS=Yellow \
    VMWARE_ALARM_TRIGGERINGSUMMARY="Test alarm sent by install-vcsa-hook.sh --test" \
    VMWARE_ALARM_DECLARINGSUMMARY="(vcgate installation test)" \
    VMWARE_ALARM_EVENTDESCRIPTION="vcgate hook test from $(hostname 2>/dev/null || echo vcsa)" \
    "$script") || rc=$?
  status=$(printf '%s\n' "$out" | tail -n 1)
  printf 'Test alarm: %s\n' "$status"
  if ((rc == 0)) && [[ $status == delivered\ * ]]; then
    printf 'OK: the gateway stored the test alarm (vcgate.test).\n'
    return 0
  fi
  # A test alarm must not be delivered later by surprise: take it back.
  if [[ $status =~ ^spooled\ .*file=(.*)$ ]]; then
    file=${BASH_REMATCH[1]}
    rm -f -- "$file"
    printf 'FAILED: the gateway is unreachable or unavailable; see syslog (tag vcgate-hook).\n' >&2
  else
    printf 'FAILED: the hook exited %d; see syslog (tag vcgate-hook).\n' "$rc" >&2
  fi
  return 1
}

print_steps() {
  local path=${script#"$prefix"} spool=${spool_dir#"$prefix"}
  cat <<EOF

Next, attach the hook to alarm definitions in the vSphere Client. This needs
the privileges Alarms > Create alarm and Alarms > Modify alarm (API: Alarm.Create,
Alarm.Edit), plus Global > Script action for a "Run script" action, on the
object that holds the definition.
  1. In the inventory, select the object that holds the definition (the vCenter
     Server covers everything; or a datacenter, cluster, host or VM) and open
     Configure > More > Alarm Definitions.
  2. Select the alarm definition and click Edit (or Add to create one).
  3. On the Alarm Rule page, for each rule (Warning, Critical) turn on
     "Run script" and enter the script path:
        $path
  4. On the Reset Rule page (back to Normal), turn on "Run script" with the
     same path, so vcgate also sees the alarm clear.
  5. Repeat: leave action repeats off unless vcgate should receive the alarm
     again while it stays active (each repeat is a new, separate delivery).
     Older clients show a transitions table instead: enable the action for
     Green->Yellow, Yellow->Red, Red->Yellow and Yellow->Green, each "Once".
  6. Review and Save. Do this for every alarm definition that should reach vcgate.
Alarms raised while the gateway is down are spooled in $spool and sent,
oldest first, by the next run. To flush the spool even when no alarm fires,
add a cron entry, e.g. /etc/cron.d/vcgate-hook:
  */5 * * * * root $path --replay
EOF
}

if ((${#urls[@]})); then
  install_hook
  rc=0
  if [[ -n $run_test ]]; then test_hook || rc=1; fi
  print_steps
  exit "$rc"
elif [[ -n $run_test ]]; then
  test_hook
else
  usage >&2
  die "--url is required to install"
fi
