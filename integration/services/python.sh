#!/usr/bin/env bash
# The Python venv used by the integration tests and service helpers.
#   python.sh install   create $SPILLWAY_CACHE/venv and install the pinned packages
#                       (skipped when the stamp file matches the requirement list)
#   python.sh path      print the venv's python
#   python.sh status    say whether the venv is installed and up to date
set -euo pipefail
SPILLWAY_COMPONENT=python
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# Exact pins, checked to install together on Python 3.11 (Debian 12, x86_64).
# wheel + setuptools are needed to download the pyspark 2.4.8 sdist (see hdfs.sh).
REQUIREMENTS=(
  wheel==0.48.0
  setuptools==84.2.1
  "moto[server]==5.2.5"
  duckdb==2.0.0
  pyarrow==26.0.1
  boto3==1.44.5
  confluent-kafka==2.16.1
  prometheus_client==0.26.0
  pyyaml==6.0.3
)
STAMP="$SPILLWAY_VENV/.spillway-requirements"
# Keep pip's download cache with the rest of the cache.
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$SPILLWAY_CACHE/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

wanted_stamp() { printf '%s\n' "${REQUIREMENTS[@]}"; }

up_to_date() {
  [[ -x "$SPILLWAY_PY" ]] && "$SPILLWAY_PY" -c 'import sys' 2>/dev/null \
    && [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$(wanted_stamp)" ]]
}

install() {
  local t0 log
  t0="$(now_s)"
  if up_to_date; then
    say "venv $SPILLWAY_VENV is up to date (stamp matches), nothing to do"
    return 0
  fi
  mkdir -p "$SPILLWAY_CACHE/logs"
  log="$SPILLWAY_CACHE/logs/python-install.log"
  if [[ -d "$SPILLWAY_VENV" ]] && ! "$SPILLWAY_PY" -c 'import sys' 2>/dev/null; then
    say "venv $SPILLWAY_VENV is broken, removing it"
    rm -rf "$SPILLWAY_VENV"
  fi
  if [[ ! -x "$SPILLWAY_PY" ]]; then
    command -v python3 >/dev/null || die "python3 not found"
    say "creating venv $SPILLWAY_VENV with $(python3 --version 2>&1)"
    python3 -m venv "$SPILLWAY_VENV"
  fi
  rm -f "$STAMP"
  say "installing ${REQUIREMENTS[*]} (log: $log)"
  if ! "$SPILLWAY_PY" -m pip install --no-input "${REQUIREMENTS[@]}" >"$log" 2>&1; then
    die_with_log "$log" "pip install failed"
  fi
  say "checking imports"
  "$SPILLWAY_PY" -c 'import boto3, confluent_kafka, duckdb, moto, pyarrow, setuptools, wheel' \
    || die "installed packages do not import"
  [[ -x "$SPILLWAY_VENV/bin/moto_server" ]] || die "moto_server missing from $SPILLWAY_VENV/bin"
  wanted_stamp > "$STAMP"
  say "venv ready in $(elapsed "$t0")s: $SPILLWAY_PY"
}

case "${1:-}" in
  install) install ;;
  path)
    [[ -x "$SPILLWAY_PY" ]] || die "venv not installed; run $0 install"
    printf '%s\n' "$SPILLWAY_PY" ;;
  status)
    if up_to_date; then say "venv installed and up to date: $SPILLWAY_PY"
    elif [[ -x "$SPILLWAY_PY" ]]; then say "venv present but not matching the pins; run $0 install"; exit 1
    else say "venv not installed"; exit 1; fi ;;
  *) echo "usage: $0 {install|path|status}" >&2; exit 2 ;;
esac
