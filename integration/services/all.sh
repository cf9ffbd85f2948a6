#!/usr/bin/env bash
# Install, start, stop, check every service the integration tests need.
#   all.sh install   python venv, tansu (Kafka), moto (S3, from the venv), Hadoop 2.7.3 (HDFS)
#   all.sh start     kafka, s3, hdfs (each fresh; see the scripts for settings), then print the env
#   all.sh stop      hdfs, s3, kafka (recorded PIDs only)
#   all.sh restart   stop + start (fresh data)
#   all.sh status    status of each; exit 1 when any is down
#   all.sh check     end-to-end check of each running service (kafka and hdfs restart themselves)
#   all.sh env       same as env.sh
set -euo pipefail
SPILLWAY_COMPONENT=all
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
D="$SPILLWAY_SERVICES_DIR"

timed() {
  local t0; t0="$(now_s)"
  "$@"
  say "$(basename "$1") ${*:2}: done in $(elapsed "$t0")s"
}

case "${1:-}" in
  install)
    t0="$(now_s)"
    timed "$D/python.sh" install
    timed "$D/kafka.sh" install
    timed "$D/s3.sh" install
    timed "$D/hdfs.sh" install
    timed "$D/browser.sh" install
    say "all installed in $(elapsed "$t0")s (cache: $SPILLWAY_CACHE)" ;;
  start)
    t0="$(now_s)"
    timed "$D/kafka.sh" start
    timed "$D/s3.sh" start
    timed "$D/hdfs.sh" start
    say "all started in $(elapsed "$t0")s; environment:"
    "$D/env.sh" >&2 ;;
  stop)
    rc=0
    "$D/hdfs.sh" stop || rc=1
    "$D/s3.sh" stop || rc=1
    "$D/kafka.sh" stop || rc=1
    exit "$rc" ;;
  restart)
    "$0" stop
    "$0" start ;;
  status)
    rc=0
    for s in kafka s3 hdfs; do "$D/$s.sh" status || rc=1; done
    exit "$rc" ;;
  check)
    for s in kafka s3 hdfs; do timed "$D/$s.sh" check; done ;;
  env) exec "$D/env.sh" ;;
  *) echo "usage: $0 {install|start|stop|restart|status|check|env}" >&2; exit 2 ;;
esac
