#!/usr/bin/env bash
# Kafka-protocol broker for the tests: tansu 0.6.0 (crates.io), one broker on 127.0.0.1.
#
#   kafka.sh install             cargo install tansu 0.6.0 (dynostore + libsql) into
#                                $SPILLWAY_CACHE/tools/tansu-0.6.0 (12-16 min cold on 2 cores)
#   kafka.sh start [--keep-data] start the broker (fresh data unless --keep-data / SPILLWAY_KEEP_DATA=1)
#   kafka.sh restart             stop + start with the same port and storage, keeping the data
#   kafka.sh stop | status | env
#   kafka.sh check               create a 4-partition topic, produce 10000 records, count them;
#                                with sqlite storage also restart the broker and count again
#   kafka.sh admin ARGS...       run kafka_admin.py (create/produce/count/metadata/probe) against it
#
# Settings: SPILLWAY_KAFKA_PORT (default 9092); SPILLWAY_KAFKA_STORAGE=sqlite|memory (default
# sqlite, see below); SPILLWAY_KAFKA_LOG sets tansu's RUST_LOG (default: errors only).
# Files: $SPILLWAY_RUN/kafka/{tansu.pid,tansu.log,state,data/tansu.db}.
#
# What tansu 0.6.0 does, tested with confluent-kafka 2.16.1 (librdkafka), `kafka_admin.py probe`:
#                                              sqlite      memory
#   produce / fetch / metadata / ApiVersions   yes         yes
#   topics auto-created on produce/metadata    no          no     -> create them (CreateTopics)
#   CreateTopics, DeleteTopics                 yes         yes
#   high watermark after a multi-record batch  right       WRONG: base offset of the last batch + 1
#   fetch from an offset inside a batch        right       WRONG: the rest of that batch is skipped
#                                                                 (a consumer resuming at offset 3 of
#                                                                 batch 0..4 never sees 3 and 4)
#   ListOffsets earliest / latest              yes         yes (but latest as above)
#   ListOffsets by timestamp (offsets_for_times) yes, except: a timestamp after the last record
#                                              answers 0 instead of -1 (end)    memory: always 0
#   consumer groups: subscribe (Join/SyncGroup/Heartbeat), OffsetCommit, OffsetFetch, ListGroups
#                                              yes         yes
#   DescribeConfigs (topic)                    answers, but with 0 entries
#   idempotent producer (InitProducerId)       yes         yes
#   transactions (EndTxn)                      NO: no EndTxn API (librdkafka: "EndTxnRequest
#                                              not supported by broker")
#   CreatePartitions                           NO: API not offered (UNSUPPORTED_FEATURE)
#   DeleteRecords                              NO: the broker panics (todo!()). With sqlite storage
#                                              the panic kills the storage task: the process stays
#                                              up but every later request fails until a restart.
#   restart keeps data (topics, records, committed offsets)  sqlite: yes   memory: no
# Because of the two WRONG rows the default storage here is sqlite, not memory.
#
# Other notes: tansu reads a `.env` file from its working directory (and parents) and env vars such
# as STORAGE_ENGINE/LISTENER_URL; this script passes every setting on the command line and runs it
# in the data directory. A sqlite URL is relative to the working directory (sqlite://tansu.db).
set -euo pipefail
SPILLWAY_COMPONENT=kafka
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TANSU_VERSION=0.6.0
TANSU_FEATURES=dynostore,libsql
TANSU_ROOT="$SPILLWAY_TOOLS/tansu-$TANSU_VERSION"
TANSU="$TANSU_ROOT/bin/tansu"
INSTALL_LOG="$SPILLWAY_CACHE/logs/tansu-install.log"
INSTALL_WAIT="${SPILLWAY_KAFKA_INSTALL_WAIT:-3600}"

HOST=127.0.0.1
RUN="$SPILLWAY_RUN/kafka"
PIDFILE="$RUN/tansu.pid"
LOG="$RUN/tansu.log"
STATE="$RUN/state"
DATA="$RUN/data"
START_TIMEOUT="${SPILLWAY_KAFKA_START_TIMEOUT:-60}"
ADMIN="$SPILLWAY_SERVICES_DIR/kafka_admin.py"
SELF="$SPILLWAY_SERVICES_DIR/kafka.sh"

# Port and storage: from the environment for a start; a running (or last) broker's come from $STATE.
PORT="${SPILLWAY_KAFKA_PORT:-9092}"
STORAGE="${SPILLWAY_KAFKA_STORAGE:-sqlite}"
load_state() {
  [[ -f "$STATE" ]] || return 1
  local k v
  while IFS='=' read -r k v; do
    case "$k" in port) PORT="$v" ;; storage) STORAGE="$v" ;; esac
  done < "$STATE"
}

tansu_ok() { [[ -x "$TANSU" ]] && "$TANSU" --version 2>/dev/null | grep -qx "tansu $TANSU_VERSION"; }

# PID of a `cargo install tansu ... --root $TANSU_ROOT` already running (started by anyone).
other_install_pid() {
  local f cmd
  for f in /proc/[0-9]*/cmdline; do
    cmd="$(tr '\0' ' ' < "$f" 2>/dev/null)" || continue
    if [[ "$cmd" == *"cargo install tansu "* && "$cmd" == *"--root $TANSU_ROOT"* ]]; then
      f="${f#/proc/}"; printf '%s\n' "${f%/cmdline}"
      return 0
    fi
  done
  return 1
}

install() {
  local t0 pid waited=0
  t0="$(now_s)"
  mkdir -p "$SPILLWAY_TOOLS" "$SPILLWAY_CACHE/logs"
  # One installer at a time (another kafka.sh install waits here).
  exec 9>"$SPILLWAY_TOOLS/.tansu-$TANSU_VERSION.lock"
  if ! flock -n 9; then
    say "another kafka.sh install is running (lock $SPILLWAY_TOOLS/.tansu-$TANSU_VERSION.lock), waiting for it"
    flock -w "$INSTALL_WAIT" 9 || die "still locked after ${INSTALL_WAIT}s"
  fi
  # Someone else's cargo install into the same root (not under our lock): wait for it.
  while pid="$(other_install_pid)"; do
    (( waited % 60 == 0 )) && say "waiting for the cargo install of tansu already running (pid $pid, log $INSTALL_LOG)"
    (( waited >= INSTALL_WAIT )) && die "the other tansu install (pid $pid) is still running after ${INSTALL_WAIT}s"
    sleep 10; waited=$((waited + 10))
  done
  if tansu_ok; then
    say "tansu $TANSU_VERSION already installed: $TANSU"
    return 0
  fi
  command -v cargo >/dev/null || die "cargo not found (needs the Rust toolchain)"
  say "cargo install tansu $TANSU_VERSION --features $TANSU_FEATURES (log: $INSTALL_LOG; 12-16 min on 2 cores)"
  if ! cargo install tansu --version "$TANSU_VERSION" --locked --features "$TANSU_FEATURES" \
      --root "$TANSU_ROOT" >"$INSTALL_LOG" 2>&1; then
    die_with_log "$INSTALL_LOG" "cargo install tansu failed"
  fi
  tansu_ok || die "installed $TANSU does not report tansu $TANSU_VERSION"
  say "tansu installed in $(elapsed "$t0")s: $TANSU"
}

admin() { "$SPILLWAY_PY" "$ADMIN" --bootstrap "$HOST:$PORT" "$@"; }
answers() { admin metadata >/dev/null 2>&1; }

start() {
  local t0 pid url
  t0="$(now_s)"
  tansu_ok || die "tansu not installed; run $0 install"
  need_venv
  if pid="$(pidfile_pid "$PIDFILE" 2>/dev/null)"; then
    load_state || true
    say "already running (pid $pid, $STORAGE storage) on $HOST:$PORT"
    return 0
  fi
  case "$STORAGE" in
    memory) url="memory://tansu/" ;;
    sqlite) url="sqlite://tansu.db" ;;   # relative to the working directory, $DATA
    *) die "SPILLWAY_KAFKA_STORAGE must be memory or sqlite, not '$STORAGE'" ;;
  esac
  [[ "$PORT" =~ ^[0-9]+$ ]] || die "bad SPILLWAY_KAFKA_PORT=$PORT"
  ensure_port_free kafka "$HOST" "$PORT"
  # If anything below fails, stop what this start started (the logs stay).
  trap 'rc=$?; if (( rc != 0 )); then say "start failed; stopping what it started"; stop_pidfile tansu "$PIDFILE" >/dev/null 2>&1 || true; fi' EXIT
  mkdir -p "$RUN"
  if want_keep_data "$@"; then
    say "keeping the data in $DATA"
  else
    say "fresh data dir $DATA"
    rm -rf "$DATA" "$LOG"
  fi
  mkdir -p "$DATA"
  printf 'port=%s\nstorage=%s\n' "$PORT" "$STORAGE" > "$STATE"
  pid="$(cd "$DATA" && start_bg "$PIDFILE" "$LOG" env \
    -u STORAGE_ENGINE -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u CLUSTER_ID -u SCHEMA_REGISTRY \
    -u DATA_LAKE -u OTEL_EXPORTER_OTLP_ENDPOINT NO_COLOR=1 RUST_LOG="${SPILLWAY_KAFKA_LOG:-error}" \
    "$TANSU" broker --cluster-id spillway \
      --listener-url "tcp://$HOST:$PORT" --advertised-listener-url "tcp://$HOST:$PORT" \
      --storage-engine "$url")"
  say "started tansu (pid $pid, $STORAGE storage, log $LOG), waiting for $HOST:$PORT"
  wait_for_port tansu "$HOST" "$PORT" "$START_TIMEOUT" "$PIDFILE" "$LOG"
  wait_until tansu "$START_TIMEOUT" "$PIDFILE" "$LOG" answers
  trap - EXIT
  say "Kafka (tansu, $STORAGE) up in $(elapsed "$t0")s: $HOST:$PORT"
}

stop() {
  load_state || true
  stop_pidfile tansu "$PIDFILE"
}

restart() {
  load_state || true
  stop_pidfile tansu "$PIDFILE"
  [[ "$STORAGE" == memory ]] && say "memory storage: the restarted broker is empty"
  start --keep-data
}

status() {
  local pid
  load_state || true
  if ! pid="$(pidfile_pid "$PIDFILE")"; then
    say "not running"
    return 1
  fi
  if answers; then
    say "running (pid $pid, $STORAGE storage) on $HOST:$PORT"
  else
    say "process $pid is up but the broker does not answer a Metadata request on $HOST:$PORT (see $LOG)"
    return 1
  fi
}

print_env() {
  pidfile_pid "$PIDFILE" >/dev/null 2>&1 || return 0
  load_state || true
  printf 'export SPILLWAY_TEST_KAFKA_BROKERS=%q\n' "$HOST:$PORT"
  printf 'export SPILLWAY_TEST_KAFKA_STORAGE=%q\n' "$STORAGE"
  printf 'export SPILLWAY_KAFKA_SH=%q\n' "$SELF"
}

check() {
  local topic out n=10000
  status
  topic="spillway-check-$(date +%s)-$$"
  say "check: create $topic with 4 partitions"
  admin create "$topic" 4
  say "check: produce $n records"
  admin produce "$topic" "$n"
  say "check: count them back"
  out="$(admin count "$topic")"; printf '%s\n' "$out" >&2
  grep -qx "total $n distinct $n" <<<"$out" || die "count mismatch"
  if [[ "$STORAGE" == sqlite ]]; then
    say "check: restart the broker (sqlite keeps the data) and count again"
    restart
    out="$(admin count "$topic")"; printf '%s\n' "$out" >&2
    grep -qx "total $n distinct $n" <<<"$out" || die "count mismatch after restart"
  fi
  say "check passed"
}

cmd="${1:-}"; [[ $# -gt 0 ]] && shift
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  stop) stop ;;
  restart) restart ;;
  status) status ;;
  env) print_env ;;
  check) check ;;
  admin) load_state || true; admin "$@" ;;
  *) echo "usage: $0 {install|start [--keep-data]|stop|restart|status|env|check|admin ARGS...}" >&2; exit 2 ;;
esac
