#!/usr/bin/env bash
# S3-compatible endpoint for the tests: moto_server (from the Python venv) on 127.0.0.1.
#   s3.sh install   the venv (python.sh install)
#   s3.sh start     start moto_server (state is in memory: every start is empty)
#   s3.sh stop | restart | status | env
#   s3.sh check     boto3 end-to-end check (bucket, 3-part multipart upload, list, abort)
# Port: SPILLWAY_S3_PORT (default 5000). Credentials: any; the tests use test/test, us-east-1.
set -euo pipefail
SPILLWAY_COMPONENT=s3
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

HOST=127.0.0.1
PORT="${SPILLWAY_S3_PORT:-5000}"
RUN="$SPILLWAY_RUN/s3"
PIDFILE="$RUN/moto.pid"
LOG="$RUN/moto.log"
ENDPOINT="http://$HOST:$PORT"
START_TIMEOUT="${SPILLWAY_S3_START_TIMEOUT:-60}"

# answers: an S3 ListBuckets call gets an HTTP answer from moto.
answers() {
  "$SPILLWAY_PY" - "$ENDPOINT" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

start() {
  local t0 pid
  t0="$(now_s)"
  need_venv
  [[ -x "$SPILLWAY_VENV/bin/moto_server" ]] || die "moto_server not in the venv; run $0 install"
  if pid="$(pidfile_pid "$PIDFILE")"; then
    say "already running (pid $pid) at $ENDPOINT"
    return 0
  fi
  ensure_port_free s3 "$HOST" "$PORT"
  # If anything below fails, stop what this start started (the logs stay).
  trap 'rc=$?; if (( rc != 0 )); then say "start failed; stopping what it started"; stop_pidfile moto_server "$PIDFILE" >/dev/null 2>&1 || true; fi' EXIT
  rm -rf "$RUN"
  mkdir -p "$RUN"
  pid="$(start_bg "$PIDFILE" "$LOG" "$SPILLWAY_VENV/bin/moto_server" -H "$HOST" -p "$PORT")"
  say "started moto_server (pid $pid, log $LOG), waiting for $ENDPOINT"
  wait_for_port moto_server "$HOST" "$PORT" "$START_TIMEOUT" "$PIDFILE" "$LOG"
  wait_until moto_server "$START_TIMEOUT" "$PIDFILE" "$LOG" answers
  trap - EXIT
  say "S3 (moto) up in $(elapsed "$t0")s: $ENDPOINT"
}

status() {
  local pid
  if pid="$(pidfile_pid "$PIDFILE")"; then
    say "running (pid $pid) at $ENDPOINT"
  else
    say "not running"
    return 1
  fi
}

print_env() {
  pidfile_pid "$PIDFILE" >/dev/null 2>&1 || return 0
  printf 'export SPILLWAY_TEST_S3_ENDPOINT=%q\n' "$ENDPOINT"
  printf 'export SPILLWAY_TEST_S3_ACCESS_KEY_ID=test\n'
  printf 'export SPILLWAY_TEST_S3_SECRET_ACCESS_KEY=test\n'
  printf 'export SPILLWAY_TEST_S3_REGION=us-east-1\n'
  # moto on 127.0.0.1 only understands path-style addressing (no bucket.host names).
  printf 'export SPILLWAY_TEST_S3_FORCE_PATH_STYLE=true\n'
}

case "${1:-}" in
  install) "$SPILLWAY_SERVICES_DIR/python.sh" install ;;
  start) start ;;
  stop) stop_pidfile moto_server "$PIDFILE" ;;
  restart) stop_pidfile moto_server "$PIDFILE"; start ;;
  status) status ;;
  env) print_env ;;
  check)
    status
    say "boto3 check against $ENDPOINT"
    "$SPILLWAY_PY" "$SPILLWAY_SERVICES_DIR/s3_check.py" "$ENDPOINT" ;;
  *) echo "usage: $0 {install|start|stop|restart|status|env|check}" >&2; exit 2 ;;
esac
