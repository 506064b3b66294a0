#!/bin/sh
# test.sh — the whole test suite: installs dependencies, builds, runs every
# unit and integration test (meson test), and prints "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
rc=0
meson test -C build --print-errorlogs --num-processes 1 "$@" || rc=$?
log=build/meson-logs/testlog.json
if [ -f "$log" ]; then
	passed=$(jq -s '[.[] | select(.result == "OK")] | length' "$log")
	failed=$(jq -s '[.[] | select(.result != "OK" and .result != "SKIP")] | length' "$log")
	skipped=$(jq -s '[.[] | select(.result == "SKIP")] | length' "$log")
	echo "$passed passed, $failed failed, $skipped skipped"
fi
exit $rc
