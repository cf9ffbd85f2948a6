# shellcheck shell=bash
# Shared helpers for the Spillway integration service scripts.
# Source it from a script under integration/ (it does not change shell options).
#
# Layout:
#   SPILLWAY_CACHE (default ~/.cache/spillway)  cached tools, jars, venv, downloads
#   SPILLWAY_RUN   (default $SPILLWAY_CACHE/run) pids, logs and data of running services
#
# Logging goes to stderr so that stdout stays free for values (paths, export lines).

# shellcheck disable=SC2034 # these are used by the scripts that source this file
{
  SPILLWAY_CACHE="${SPILLWAY_CACHE:-$HOME/.cache/spillway}"
  SPILLWAY_RUN="${SPILLWAY_RUN:-$SPILLWAY_CACHE/run}"
  SPILLWAY_INTEGRATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  SPILLWAY_SERVICES_DIR="$SPILLWAY_INTEGRATION_DIR/services"
  SPILLWAY_VENV="$SPILLWAY_CACHE/venv"
  SPILLWAY_PY="$SPILLWAY_VENV/bin/python"
  SPILLWAY_TOOLS="$SPILLWAY_CACHE/tools"
  SPILLWAY_DOWNLOADS="$SPILLWAY_CACHE/downloads"
}
export SPILLWAY_CACHE SPILLWAY_RUN

# Name shown in front of every log line; scripts set it before logging.
SPILLWAY_COMPONENT="${SPILLWAY_COMPONENT:-spillway}"

say() { printf '[%s] %s\n' "$SPILLWAY_COMPONENT" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$SPILLWAY_COMPONENT" "$*" >&2; exit 1; }

# show_log_tail FILE [LINES]: print the end of a log to stderr (used before dying).
show_log_tail() {
  local file="$1" lines="${2:-40}"
  if [[ -f "$file" ]]; then
    printf '[%s] ---- last %s lines of %s ----\n' "$SPILLWAY_COMPONENT" "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2 || true
    printf '[%s] ---- end of %s ----\n' "$SPILLWAY_COMPONENT" "$file" >&2
  else
    say "(no log at $file)"
  fi
}

# die_with_log FILE MESSAGE...: print the log's tail, then fail.
die_with_log() {
  local file="$1"; shift
  show_log_tail "$file"
  die "$*"
}

# now_s: seconds since the epoch with milliseconds (for timings).
now_s() { date +%s.%N | cut -c1-14; }
# elapsed START: seconds since START (from now_s), one decimal.
elapsed() { awk -v s="$1" -v e="$(now_s)" 'BEGIN { printf "%.1f", e - s }'; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() {
  local host="$1" port="$2"
  # shellcheck disable=SC2016 # \$0/\$1 are expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

# ---------------------------------------------------------------------------
# PID files. A PID file holds "PID STARTTIME" where STARTTIME is field 22 of
# /proc/PID/stat (clock ticks since boot). Both must match for a process to
# count as ours, so a recycled PID is never taken for (or killed as) a service.

# proc_starttime PID: print the start time of PID, fail if it does not exist.
proc_starttime() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  # The command name (field 2) may contain spaces; cut after the last ')'.
  stat="${stat##*) }"
  # Now field 1 is the state (field 3 of the original); starttime is original field 22.
  # shellcheck disable=SC2086
  set -- $stat
  printf '%s\n' "${20}"
}

# proc_live PID: true while any thread of PID runs. A process whose main thread has
# exited shows state Z while its other threads (a JVM running its shutdown hooks,
# still holding its ports) go on; only a zombie with no thread left is gone. (A
# container's PID 1 may never reap it, so "exists" alone is not enough.)
proc_live() {
  local state threads
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" ]] || return 1
  [[ "$state" != "Z" ]] && return 0
  threads="$(awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null)"
  [[ "${threads:-0}" =~ ^[0-9]+$ ]] && (( threads > 1 ))
}

# write_pidfile FILE PID
write_pidfile() {
  local file="$1" pid="$2" st
  st="$(proc_starttime "$pid")" || return 1
  mkdir -p "$(dirname "$file")"
  printf '%s %s\n' "$pid" "$st" > "$file"
}

# pidfile_pid FILE: print the recorded PID if that process is still alive (and is
# the same process); otherwise remove the stale file and fail.
pidfile_pid() {
  local file="$1" pid st cur
  [[ -f "$file" ]] || return 1
  read -r pid st < "$file" || true
  if [[ "$pid" =~ ^[0-9]+$ ]] && cur="$(proc_starttime "$pid")" && [[ "$cur" == "$st" ]] \
     && proc_live "$pid"; then
    printf '%s\n' "$pid"
    return 0
  fi
  say "removing stale pid file $file (pid ${pid:-?} is gone)"
  rm -f "$file"
  return 1
}

# start_bg PIDFILE LOGFILE CMD ARGS...: start CMD in the background (detached from
# stdin, output appended to LOGFILE), record its PID. Prints the PID.
start_bg() {
  local pidfile="$1" logfile="$2"; shift 2
  mkdir -p "$(dirname "$logfile")"
  nohup "$@" >>"$logfile" 2>&1 </dev/null &
  local pid=$!
  # /proc/PID/stat exists as soon as the fork returned.
  write_pidfile "$pidfile" "$pid" || die_with_log "$logfile" "process for $* exited at once"
  printf '%s\n' "$pid"
}

# stop_pidfile NAME PIDFILE [TIMEOUT_S]: stop the recorded process only (TERM, then
# KILL after TIMEOUT_S seconds). Not running is fine.
stop_pidfile() {
  local name="$1" file="$2" timeout="${3:-20}" pid i
  if ! pid="$(pidfile_pid "$file")"; then
    say "$name is not running"
    return 0
  fi
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    pidfile_pid "$file" >/dev/null 2>&1 || break
    sleep 0.1
  done
  if pidfile_pid "$file" >/dev/null 2>&1; then
    say "$name did not stop within ${timeout}s, sending KILL to pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$file"
  say "$name stopped"
}

# wait_for_port NAME HOST PORT TIMEOUT_S PIDFILE LOGFILE: wait until HOST:PORT
# accepts connections; fail with the log's tail if the process dies or time runs out.
wait_for_port() {
  local name="$1" host="$2" port="$3" timeout="$4" pidfile="$5" logfile="$6" start
  start="$(now_s)"
  while ! port_open "$host" "$port"; do
    if ! pidfile_pid "$pidfile" >/dev/null 2>&1; then
      die_with_log "$logfile" "$name exited before listening on $host:$port"
    fi
    if (( $(awk -v e="$(elapsed "$start")" -v t="$timeout" 'BEGIN { print (e >= t) }') )); then
      die_with_log "$logfile" "$name did not listen on $host:$port within ${timeout}s"
    fi
    sleep 0.2
  done
}

# wait_until NAME TIMEOUT_S PIDFILE LOGFILE CMD ARGS...: retry CMD until it succeeds.
wait_until() {
  local name="$1" timeout="$2" pidfile="$3" logfile="$4" start; shift 4
  start="$(now_s)"
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$pidfile" ]] && ! pidfile_pid "$pidfile" >/dev/null 2>&1; then
      die_with_log "$logfile" "$name exited while waiting for: $*"
    fi
    if (( $(awk -v e="$(elapsed "$start")" -v t="$timeout" 'BEGIN { print (e >= t) }') )); then
      die_with_log "$logfile" "$name not ready within ${timeout}s (waiting for: $*)"
    fi
    sleep 0.5
  done
}

# ensure_port_free NAME HOST PORT: refuse to start when a foreign process holds the port.
# A service that was just stopped may hold its port for a moment longer, so a busy
# port is asked again for up to SPILLWAY_PORT_GRACE_S seconds (default 15) first.
ensure_port_free() {
  local grace="${SPILLWAY_PORT_GRACE_S:-15}" i
  for ((i = 0; i < grace * 2; i++)); do
    port_open "$2" "$3" || return 0
    (( i == 0 )) && say "$1: port $2:$3 is still busy; waiting up to ${grace}s for it to close"
    sleep 0.5
  done
  if port_open "$2" "$3"; then
    die "$1: port $2:$3 is already in use by another process (set a different port)"
  fi
}

# need_venv: fail unless the Python venv is installed.
need_venv() {
  [[ -x "$SPILLWAY_PY" ]] || die "no Python venv at $SPILLWAY_VENV; run integration/services/python.sh install"
}

# want_keep_data ARGS...: true when --keep-data is among ARGS or SPILLWAY_KEEP_DATA=1.
want_keep_data() {
  [[ "${SPILLWAY_KEEP_DATA:-0}" == 1 ]] && return 0
  local a
  for a in "$@"; do [[ "$a" == --keep-data ]] && return 0; done
  return 1
}
