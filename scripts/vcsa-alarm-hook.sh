#!/bin/bash
# vcgate alarm hook: vCenter's "Run script" alarm action on the VCSA.
#
# Owns: turning the VMWARE_ALARM_* environment into one JSON payload, POSTing
# it to vcgate (POST /api/v1/alarms), and a local spool so an alarm raised
# while the gateway is down is delivered on a later run (oldest first).
# The payload and curl's answers stay in memory: nothing is written to disk
# unless the POST failed, so a full or unwritable disk loses nothing while
# the gateway is up (the spool is then only skipped, with a warning).
# Must not: hang vpxd (every POST is time-bounded, replay has a time budget,
# the spool lock is never waited for), put the token on a command line, in the
# environment, or in a log, or interpret any alarm value as shell code.
#
# Usage:  vcgate-hook.sh            send the current alarm (how vCenter runs it)
#         vcgate-hook.sh --replay   only replay the spool (e.g. from cron)
#
# Config: /etc/vcgate/hook.conf, or the file named by VCGATE_HOOK_CONF.
# KEY=value lines; only the keys below are read; values are taken literally
# (optionally in '' or "" quotes; no expansion, nothing is executed).
#   VCGATE_URL            gateway base URL, e.g. https://gw.example:8443 (required);
#                         several (a high-availability pair), separated by spaces
#                         or commas: tried in order, the alarm is spooled only if
#                         all fail
#   VCGATE_TOKEN_FILE     file holding the ingest token, root-only (required)
#   VCGATE_VCENTER        vCenter name sent with every alarm (default: hostname -f)
#   VCGATE_SPOOL_DIR      spool directory (default /var/spool/vcgate)
#   VCGATE_TIMEOUT        seconds per POST, total (default 5; connect timeout is half)
#   VCGATE_SEND_BUDGET    seconds one alarm may spend over all URLs (default 10);
#                         a later URL gets what is left of it
#   VCGATE_CA_FILE        CA bundle to verify the gateway's certificate
#   VCGATE_INSECURE       1 or true: skip TLS verification (anything else: verify)
#   VCGATE_SPOOL_MAX      most spooled alarms kept; oldest dropped beyond (default 10000)
#   VCGATE_REPLAY_BUDGET  seconds a run may spend replaying the spool (default 15)
#   VCGATE_LOG            syslog (default; stderr if syslog is unavailable) or stderr
#
# Exit status: 0 delivered or spooled for later; 1 rejected by the gateway
# (4xx other than 408/429: bad token, bad body, too big; not spooled, it would
# never succeed; with --replay: the token was refused); 2 local problem
# (config, token file, python3; or the spool, when the alarm had to be spooled
# or --replay was asked for). A spooled alarm the gateway rejects on
# replay (other than 401/403) is moved to <spool>/rejected/ so it cannot block
# the ones behind it.
# Stdout gets one line per replayed alarm ("replayed key=value...") and one
# for the current alarm ("delivered|spooled|rejected key=value...").
#
# Values that are not valid UTF-8 (vCenter sends UTF-8) are sent with each
# invalid byte replaced by U+FFFD, so the payload is always valid JSON.

set -euo pipefail
umask 077
export LC_ALL=C

# Rewritten by install-vcsa-hook.sh --prefix; keep this exact line.
DEFAULT_CONF=/etc/vcgate/hook.conf

url="" urls=() token_file="" vcenter="" spool_dir=/var/spool/vcgate timeout=5 send_budget=10
ca_file="" insecure="" spool_max=10000 replay_budget=15 log_to=syslog
token="" tmp_files=() spool_ok="" payload=""

cleanup() { if ((${#tmp_files[@]})); then rm -f -- "${tmp_files[@]}"; fi; }
trap cleanup EXIT

# log LEVEL MESSAGE: syslog (tag vcgate-hook) or, failing that, stderr.
log() {
  local level=$1 msg=${2//[$'\n\r\t']/ }
  if [[ $log_to == syslog ]] && command -v logger >/dev/null 2>&1 &&
    logger --socket-errors=on -t vcgate-hook -p "user.$level" -- "$msg" 2>/dev/null; then
    return 0
  fi
  printf 'vcgate-hook: %s: %s\n' "$level" "$msg" >&2
}

die() { log err "$1"; printf 'error %s\n' "$1"; exit 2; }

load_conf() {
  local file=$1 line key val n=0
  [[ -f $file && -r $file ]] || die "cannot read config $file"
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ ! $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      log warning "$file:$n: ignoring malformed line"
      continue
    fi
    key=${BASH_REMATCH[2]} val=${BASH_REMATCH[3]}
    if [[ $val =~ ^\"(.*)\"[[:space:]]*$ || $val =~ ^\'(.*)\'[[:space:]]*$ ]]; then
      val=${BASH_REMATCH[1]}
    else
      val=${val%"${val##*[![:space:]]}"}
    fi
    case $key in
      VCGATE_URL) url=$val ;;
      VCGATE_TOKEN_FILE) token_file=$val ;;
      VCGATE_VCENTER) vcenter=$val ;;
      VCGATE_SPOOL_DIR) spool_dir=$val ;;
      VCGATE_TIMEOUT) timeout=$val ;;
      VCGATE_SEND_BUDGET) send_budget=$val ;;
      VCGATE_CA_FILE) ca_file=$val ;;
      VCGATE_INSECURE) insecure=$val ;;
      VCGATE_SPOOL_MAX) spool_max=$val ;;
      VCGATE_REPLAY_BUDGET) replay_budget=$val ;;
      VCGATE_LOG) log_to=$val ;;
      *) log warning "$file:$n: ignoring unknown key $key" ;;
    esac
  done <"$file"
}

check_conf() {
  [[ $log_to == syslog || $log_to == stderr ]] || { log_to=syslog; die "VCGATE_LOG must be syslog or stderr"; }
  local u
  read -r -a urls <<<"${url//,/ }"
  ((${#urls[@]})) || die "VCGATE_URL must be an http(s) URL"
  for u in "${!urls[@]}"; do
    [[ ${urls[u]} =~ ^https?://[^[:space:],]+$ ]] || die "VCGATE_URL must be http(s) URLs (separated by spaces or commas)"
    urls[u]=${urls[u]%/}
  done
  [[ -n $token_file ]] || die "VCGATE_TOKEN_FILE is not set"
  [[ $timeout =~ ^[1-9][0-9]{0,2}$ ]] || die "VCGATE_TIMEOUT must be whole seconds (1-999)"
  [[ $send_budget =~ ^[1-9][0-9]{0,3}$ ]] || die "VCGATE_SEND_BUDGET must be whole seconds (1-9999)"
  [[ $spool_max =~ ^[1-9][0-9]{0,8}$ ]] || die "VCGATE_SPOOL_MAX must be a positive integer"
  [[ $replay_budget =~ ^[0-9]{1,4}$ ]] || die "VCGATE_REPLAY_BUDGET must be whole seconds"
  [[ -z $ca_file || -r $ca_file ]] || die "cannot read VCGATE_CA_FILE $ca_file"
  case $insecure in
    1 | true) insecure=1 ;;
    "" | 0 | false) insecure="" ;;
    *) log warning "VCGATE_INSECURE=$insecure is not 1/true: verifying TLS"; insecure="" ;;
  esac
  [[ -n $vcenter ]] || vcenter=$(hostname -f 2>/dev/null || hostname)
}

# Reads the token into $token. It stays in this shell: never exported, never
# on an argv, only written to curl's stdin.
read_token() {
  [[ -f $token_file && -r $token_file ]] || die "cannot read token file $token_file"
  local mode
  mode=$(stat -c %a -- "$token_file" 2>/dev/null || echo 600)
  [[ $mode =~ [0-7]00$ ]] || log warning "token file $token_file is readable by others (mode $mode); chmod 600 it"
  IFS= read -r token <"$token_file" || true
  token=${token%$'\r'}
  token=${token#"${token%%[![:space:]]*}"}
  token=${token%"${token##*[![:space:]]}"}
  [[ -n $token ]] || die "token file $token_file is empty"
  # Printable ASCII without '"' and '\' keeps curl's config syntax trivial.
  [[ $token =~ ^[[:graph:]]+$ && $token != *[\"\\]* ]] ||
    die "token in $token_file has characters not allowed in a bearer token"
}

# prepare_spool: sets spool_ok when the spool directory exists (or can be
# made) and takes writes. Not fatal: a POST that succeeds needs no spool.
prepare_spool() {
  if [[ ! -d $spool_dir ]]; then
    mkdir -p -- "$spool_dir" 2>/dev/null || { log warning "cannot create spool dir $spool_dir"; return 0; }
  fi
  if [[ -w $spool_dir ]]; then spool_ok=1; else log warning "spool dir $spool_dir is not writable"; fi
}

# The payload builder. Passed with -c, not as a here-document: bash before
# 5.1 writes here-documents (and here-strings) to a temporary file, which a
# full disk refuses. Python 3.5 compatible (older VCSAs): no f-strings, no
# time.time_ns(). json.dumps escapes every control character, so the payload
# is one line.
PY_BUILD='
import datetime, json, os, sys, time, uuid

vcenter = sys.argv[1]
env = {}
for key, value in os.environb.items():
    if key.startswith(b"VMWARE_ALARM_"):
        env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
now = time.time()
sent_at = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
# A UUIDv7 (RFC 9562): milliseconds first, then 74 random bits. Time first
# makes each stored alarm land at the end of the unique index on delivery_id
# in the gateway store, not on a random page of it (a random UUID costs a
# page write per alarm, and a page read once the index outgrows the cache).
v7 = bytearray(int(now * 1000).to_bytes(6, "big") + os.urandom(10))
v7[6] = 0x70 | (v7[6] & 0x0F)
v7[8] = 0x80 | (v7[8] & 0x3F)
payload = {
    "delivery_id": str(uuid.UUID(bytes=bytes(v7))),
    "vcenter": vcenter,
    "sent_at": sent_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    "env": dict(sorted(env.items())),
}
meta = "%020d %s\n" % (int(now * 1e9), payload["delivery_id"])
sys.stdout.buffer.write(meta.encode("ascii"))
sys.stdout.buffer.write(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
'

# build_payload: prints "<epoch-ns> <delivery_id>" on the first line and the
# JSON for the current alarm on the second (captured in memory, never a file).
build_payload() { python3 -c "$PY_BUILD" "$vcenter"; }

# post FILE: POSTs the payload read from FILE (a spool file, or the payload
# from memory) to each gateway URL in turn until one takes it or refuses it
# for good, within the send budget. Sets http_code, event_id, duplicate,
# reason, sent_to; returns 0 delivered, 1 retry later (every URL failed or
# the budget is spent), 2 rejected for good. The payload is read once into
# memory, so a pipe can be offered to several URLs.
post() {
  local body u start=$SECONDS left rc=1 reasons=()
  body=$(<"$1")
  sent_to=""
  for u in "${urls[@]}"; do
    left=$((send_budget - (SECONDS - start)))
    if ((left < 1)); then
      reasons+=("send budget (${send_budget}s) spent before $u")
      break
    fi
    rc=0
    post_one "$u" "$body" $((left < timeout ? left : timeout)) || rc=$?
    if ((rc != 1)); then
      sent_to=$u
      return "$rc"
    fi
    reasons+=("$u: $reason")
    ((${#urls[@]} == 1)) || log warning "gateway $u unavailable ($reason); trying the next URL"
  done
  # One URL: its own reason, as always; several: each URL's, in order.
  if ((${#urls[@]} > 1)); then
    reason=$(printf '%s; ' "${reasons[@]}")
    reason=${reason%; }
  fi
  return 1
}

# post_one URL BODY SECONDS: one POST. Sets http_code, event_id, duplicate,
# reason; returns 0 delivered, 1 retry later, 2 rejected for good. curl's
# answer and errors are captured in memory, never in a file.
post_one() {
  local target=$1 body=$2 max=$3 rc=0 out answer args
  http_code=000 event_id="" duplicate=false reason=""
  args=(-q --silent --show-error --request POST
    --max-time "$max" --connect-timeout "$(((max + 1) / 2))"
    --header "Content-Type: application/json"
    --output - --write-out '\n%{http_code}' --config -)
  if [[ -n $ca_file ]]; then args+=(--cacert "$ca_file"); fi
  if [[ -n $insecure ]]; then args+=(--insecure); fi
  # The only place the token goes: curl's config on stdin (printf is a builtin).
  out=$(printf 'header = "Authorization: Bearer %s"\n' "$token" |
    curl "${args[@]}" --data-binary @<(printf '%s' "$body") "$target/api/v1/alarms" 2>&1) || rc=$?
  http_code=${out##*$'\n'}
  answer=${out%$'\n'*}
  [[ $out == *$'\n'* ]] || answer=$out
  [[ $http_code =~ ^[0-9]{3}$ ]] || http_code=000
  answer=${answer:0:4096}
  if [[ $answer =~ \"id\"[[:space:]]*:[[:space:]]*\"([^\"]*)\" ]]; then event_id=${BASH_REMATCH[1]}; fi
  if [[ $answer =~ \"duplicate\"[[:space:]]*:[[:space:]]*true ]]; then duplicate=true; fi
  case $http_code in
    2??) return 0 ;;
    000) reason="curl exit $rc: ${answer:0:300}"; return 1 ;;
    408 | 429 | 5??) reason="HTTP $http_code"; return 1 ;;
    *) reason="HTTP $http_code"; return 2 ;;
  esac
}

# spool_payload DEST: writes $payload to DEST atomically (0600).
spool_payload() {
  local dest=$1 tmp
  [[ -n $spool_ok ]] || return 1
  tmp=$(mktemp "$spool_dir/.payload.XXXXXX" 2>/dev/null) || return 1
  tmp_files+=("$tmp")
  printf '%s' "$payload" >"$tmp" 2>/dev/null || return 1
  chmod 0600 -- "$tmp" && mv -f -- "$tmp" "$dest"
}

# Spooled alarms, oldest first (names start with a fixed-width epoch-ns).
spool_files() { compgen -G "$spool_dir/[0-9]*-*.json" | sort || true; }

# replay: sends spooled alarms oldest first until one fails or the time budget
# is spent. Returns 0 if the spool is empty afterwards, 1 if alarms wait for
# the gateway, 2 if the gateway refused the token (the spool is kept).
replay() {
  local f start=$SECONDS
  while IFS= read -r f; do
    [[ -f $f ]] || continue
    if ((SECONDS - start >= replay_budget)); then
      log warning "replay budget (${replay_budget}s) spent; the rest waits for the next run"
      return 1
    fi
    local rc=0
    post "$f" || rc=$?
    case $rc in
      0)
        rm -f -- "$f"
        log info "replayed ${f##*/} (HTTP $http_code, duplicate=$duplicate)"
        printf 'replayed file=%s http=%s event_id=%s duplicate=%s\n' "${f##*/}" "$http_code" "$event_id" "$duplicate"
        ;;
      1)
        log warning "replay stopped, gateway unavailable ($reason); $(spool_files | wc -l) alarm(s) spooled"
        return 1
        ;;
      2)
        if [[ $http_code == 401 || $http_code == 403 ]]; then
          log err "replay stopped: gateway refused the token ($reason); spool kept"
          return 2
        fi
        if ! { mkdir -p -- "$spool_dir/rejected" && mv -f -- "$f" "$spool_dir/rejected/"; }; then rm -f -- "$f"; fi
        log err "spooled ${f##*/} rejected by the gateway ($reason); moved to $spool_dir/rejected"
        ;;
    esac
  done < <(spool_files)
  [[ -z $(spool_files) ]] || return 1
}

# prune: keeps at most spool_max spooled alarms, dropping the oldest.
prune() {
  local files n
  mapfile -t files < <(spool_files)
  n=$((${#files[@]} - spool_max))
  ((n > 0)) || return 0
  rm -f -- "${files[@]:0:n}"
  log warning "spool over VCGATE_SPOOL_MAX=$spool_max: dropped the $n oldest alarm(s)"
}

main() {
  local mode=send
  [[ ${1:-} == --replay ]] && mode=replay
  load_conf "${VCGATE_HOOK_CONF:-$DEFAULT_CONF}"
  check_conf
  read_token
  prepare_spool
  command -v curl >/dev/null 2>&1 || die "curl not found"
  [[ -n $spool_ok || $mode != replay ]] || die "spool dir $spool_dir is not usable"

  # The lock only guards replay and pruning; it is never waited for. Without
  # flock, replay unlocked: a double send is harmless (delivery_id).
  local locked="" backlog="" replayed=0
  if [[ -z $spool_ok ]]; then
    :
  elif ! { exec 9>>"$spool_dir/.lock"; } 2>/dev/null; then
    log warning "cannot open $spool_dir/.lock; not replaying"
  elif ! command -v flock >/dev/null 2>&1; then
    log warning "flock not found; replaying the spool without a lock"
    locked=1
  elif flock -n 9; then
    locked=1
  else
    log info "another run is replaying the spool; not replaying"
  fi
  if [[ -n $locked ]]; then
    replay || replayed=$?
    # Alarms wait for the gateway: queue this one behind them. (A refused
    # token is not a reason to spool: the current alarm is tried and refused.)
    if ((replayed == 1)); then backlog=1; fi
  fi
  if [[ $mode == replay ]]; then
    ((replayed != 2)) || return 1
    return 0
  fi

  command -v python3 >/dev/null 2>&1 || die "python3 not found"
  local meta ns id rc=0 built
  built=$(build_payload) || die "python3 failed to build the payload"
  meta=${built%%$'\n'*}
  payload=${built#*$'\n'}
  ns=${meta%% *} id=${meta#* }

  if [[ -n $backlog ]]; then
    rc=1 reason="older alarms still spooled"
  else
    post <(printf '%s' "$payload") || rc=$?
  fi
  case $rc in
    0)
      log info "delivered alarm ${VMWARE_ALARM_NAME:-?} delivery_id=$id to $sent_to (HTTP $http_code)"
      printf 'delivered delivery_id=%s http=%s event_id=%s duplicate=%s\n' "$id" "$http_code" "$event_id" "$duplicate"
      ;;
    1)
      local dest="$spool_dir/$ns-$id.json"
      spool_payload "$dest" || die "gateway unavailable ($reason) and cannot spool alarm delivery_id=$id to $spool_dir (full or unwritable?): alarm lost"
      log warning "spooled alarm ${VMWARE_ALARM_NAME:-?} delivery_id=$id for later delivery ($reason)"
      printf 'spooled delivery_id=%s file=%s\n' "$id" "$dest"
      if [[ -n $locked ]]; then prune; fi
      ;;
    2)
      log err "gateway rejected alarm ${VMWARE_ALARM_NAME:-?} delivery_id=$id ($reason); not spooled"
      printf 'rejected delivery_id=%s http=%s\n' "$id" "$http_code"
      return 1
      ;;
  esac
}

main "$@"
