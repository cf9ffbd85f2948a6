#!/usr/bin/env bash
# Debian's Chromium, for the status-page test (headless screenshot and DOM dump).
#   browser.sh install   apt-get install chromium (once; a second run finds it installed)
#   browser.sh status    say whether it is installed
#   browser.sh env       print `export SPILLWAY_CHROMIUM=...` when installed
set -euo pipefail
SPILLWAY_COMPONENT=browser
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

find_chromium() {
  local c
  for c in "${SPILLWAY_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [[ -n "$c" && -x "$c" ]]; then printf '%s\n' "$c"; return 0; fi
  done
  return 1
}

case "${1:-}" in
  install)
    if c="$(find_chromium)"; then
      say "chromium already installed: $c"
      exit 0
    fi
    command -v apt-get >/dev/null || die "chromium is missing and apt-get is not available; set SPILLWAY_CHROMIUM"
    log="$SPILLWAY_CACHE/logs/browser-install.log"
    mkdir -p "$(dirname "$log")"
    say "installing Debian's chromium with apt-get (log: $log)"
    sudo_cmd=()
    [[ "$(id -u)" -eq 0 ]] || sudo_cmd=(sudo)
    if ! { "${sudo_cmd[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium; } >"$log" 2>&1; then
      die_with_log "$log" "apt-get install chromium failed"
    fi
    c="$(find_chromium)" || die "chromium installed but not found"
    say "installed $("$c" --version 2>/dev/null || echo chromium)"
    ;;
  status)
    if c="$(find_chromium)"; then say "installed: $c"; else say "not installed"; exit 1; fi ;;
  env)
    if c="$(find_chromium)"; then printf 'export SPILLWAY_CHROMIUM=%q\n' "$c"; fi ;;
  *)
    echo "usage: $0 {install|status|env}" >&2; exit 2 ;;
esac
