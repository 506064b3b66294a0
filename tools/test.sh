#!/bin/sh
# test.sh — the whole test suite, in three parts, and one line that counts
# them all:
#   1. the normal build (./build) and every meson test, unit and integration;
#   2. the sanitizer build (./build-asan: -Db_sanitize=address,undefined, any
#      finding fatal) and, on it, the unit tests, the meter's integration
#      test (bandsplit-meter and its DPDK EAL under ASan and UBSan) and the
#      tenant API's (bandsplit-api under load, SIGTERM, LeakSanitizer at exit);
#   3. the fuzz build (./build-fuzz: clang, libFuzzer with ASan and UBSan)
#      and a bounded run of every parser's fuzz target over its corpus in
#      tests/fuzz/corpus/ (FUZZ_SECONDS each, default 15). A crash fails the
#      suite and leaves its reproducer in build-fuzz/fuzz/crashes/NAME/.
# It installs what it needs first (tools/install-deps.sh).
#
#   tools/test.sh [MESON TEST ARGS...]   all three parts (.ci/run runs this)
#   tools/test.sh --asan                 part 2 only
#   tools/test.sh --fuzz                 part 3 only
#
# Last line: "N passed, N failed[, N skipped]", every meson test and every
# fuzz target counted once; the exit status is 1 if anything failed.
set -eu
cd "$(dirname "$0")/.."

parts="normal asan fuzz"
case "${1:-}" in
--asan) parts=asan; shift ;;
--fuzz) parts=fuzz; shift ;;
esac
FUZZ_SECONDS=${FUZZ_SECONDS:-15}

tools/install-deps.sh

PASSED=0 FAILED=0 SKIPPED=0

# count LOG: adds the results of a meson test run (its JSON log)
count() {
	log=$1
	if [ ! -f "$log" ]; then
		FAILED=$((FAILED + 1))
		return
	fi
	PASSED=$((PASSED + $(jq -s '[.[] | select(.result == "OK")] | length' "$log")))
	FAILED=$((FAILED + $(jq -s '[.[] | select(.result != "OK" and .result != "SKIP")] | length' "$log")))
	SKIPPED=$((SKIPPED + $(jq -s '[.[] | select(.result == "SKIP")] | length' "$log")))
}

# build_failed WHAT: a build that failed counts as one failure
build_failed() {
	echo "not ok - $1"
	FAILED=$((FAILED + 1))
}

run_normal() {
	tools/build.sh || { build_failed "the build (./build)"; return; }
	rm -f build/meson-logs/testlog.json
	meson test -C build --print-errorlogs --num-processes 1 "$@" || true
	count build/meson-logs/testlog.json
}

# DPDK under the sanitizers: the EAL runs without hugepages (--no-huge, as in
# every test), so its memory is ordinary anonymous mappings that ASan leaves
# alone, and nothing else is needed; LeakSanitizer stays on (the meter frees
# what it allocates; DPDK's own memory is not malloc's). Any finding aborts
# the program, so the test that ran it fails.
run_asan() {
	start=$(date +%s)
	if [ ! -f build-asan/build.ninja ]; then
		meson setup build-asan -Db_sanitize=address,undefined \
			-Dc_args=-fno-sanitize-recover=all >/dev/null ||
			{ build_failed "the sanitizer build (./build-asan)"; return; }
	fi
	ninja -C build-asan >/dev/null || { build_failed "the sanitizer build (./build-asan)"; return; }
	# the unit suite, the meter's test and the tenant API's (bandsplit-api
	# under load, suspended and resumed requests, SIGTERM), by name
	tests=$(meson test -C build-asan --list 2>/dev/null |
		sed -n 's|^bandsplit:unit / ||p; s#^bandsplit:integration / \(meter\|api\)$#\1#p')
	rm -f build-asan/meson-logs/testlog.json
	# shellcheck disable=SC2086 # one word per test name
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:disable_coredump=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs --num-processes 1 $tests || true
	count build-asan/meson-logs/testlog.json
	echo "asan: build and tests took $(( $(date +%s) - start )) s"
}

run_fuzz() {
	start=$(date +%s)
	if [ ! -f build-fuzz/build.ninja ]; then
		CC=clang meson setup build-fuzz -Dfuzz=true -Db_lto=false \
			-Dwerror=false >/dev/null ||
			{ build_failed "the fuzz build (./build-fuzz)"; return; }
	fi
	ninja -C build-fuzz fuzzers >/dev/null || { build_failed "the fuzz build (./build-fuzz)"; return; }
	for corpus in tests/fuzz/corpus/*/; do
		name=$(basename "$corpus")
		exe=build-fuzz/tests/fuzz/fuzz_$name
		work=build-fuzz/fuzz/corpus/$name
		crashes=build-fuzz/fuzz/crashes/$name
		mkdir -p "$work" "$crashes"
		if [ ! -x "$exe" ]; then
			echo "not ok - fuzz $name: $exe not built"
			FAILED=$((FAILED + 1))
			continue
		fi
		# new inputs go to the build's working corpus; the seeds stay as
		# they are in tests/fuzz/corpus/
		if "$exe" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
			-artifact_prefix="$crashes/" "$work" "$corpus" \
			>"build-fuzz/fuzz/$name.log" 2>&1; then
			echo "ok - fuzz $name ($(grep -o 'Done [0-9]* runs' "build-fuzz/fuzz/$name.log" | cut -d' ' -f2) runs)"
			PASSED=$((PASSED + 1))
		else
			tail -n 40 "build-fuzz/fuzz/$name.log"
			echo "not ok - fuzz $name: reproducer in $crashes/ (run: $exe FILE)"
			FAILED=$((FAILED + 1))
		fi
	done
	echo "fuzz: build and $(ls -d tests/fuzz/corpus/*/ | wc -l) targets x ${FUZZ_SECONDS} s took $(( $(date +%s) - start )) s"
}

for part in $parts; do
	case $part in
	normal) run_normal "$@" ;;
	asan) run_asan ;;
	fuzz) run_fuzz ;;
	esac
done

if [ "$SKIPPED" -gt 0 ]; then
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
else
	echo "$PASSED passed, $FAILED failed"
fi
[ "$FAILED" -eq 0 ]
