#!/usr/bin/env bash
# test_embedded_kafka.sh — the embedded Kafka (bandsplit-kafka) and the
# usage reader (bandsplit-usage) end to end: records produced with kcat are
# read back with exact totals, duplicates are dropped, --check catches a
# missing summary, broker outages and injected protocol errors are taken
# through the control socket, and the cluster shuts down cleanly.
#
# Usage: test_embedded_kafka.sh BUILD_DIR     (exit 77 = skipped)
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
KAFKA=$BUILD/tools/bandsplit-kafka
USAGE=$BUILD/tools/bandsplit-usage
TOPIC=bandsplit.usage.v1

for tool in kcat socat; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed"
		exit 77
	fi
done
[[ -x $KAFKA && -x $USAGE ]] || { echo "FAIL: $KAFKA or $USAGE not built"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/bs-embedded-kafka.XXXXXX")
KPID=
cleanup() {
	if [[ -n $KPID ]] && kill -0 "$KPID" 2>/dev/null; then
		kill "$KPID" 2>/dev/null || true
		wait "$KPID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	for f in "$T"/kafka.err "$T"/usage.err; do
		[[ -f $f ]] && { echo "--- $f"; tail -n 30 "$f"; }
	done
	exit 1
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
	if [[ $2 != "$3" ]]; then
		echo "--- expected ($1):"; printf '%s\n' "$2"
		echo "--- got:"; printf '%s\n' "$3"
		fail "$1"
	fi
	echo "ok: $1"
}

# ---- records --------------------------------------------------------------
BOOT=0123456789abcdef0123456789abcdef
head_json() { # type seq interval_start
	printf '"schema":"bandsplit.usage.v1","type":"%s","node_id":"n1","boot_id":"%s","seq":%d,"interval_start":%d,"interval_len":10,"byte_measure":"frame","map_version":1' \
		"$1" "$BOOT" "$2" "$3"
}
# usage SEQ INTERVAL TENANT POOL DIR PACKETS BYTES  -> "key<TAB>json"
usage_rec() {
	printf '%d\t{%s,"tenant_id":%d,"pool_id":%d,"direction":"%s","packets":%d,"bytes":%d,"policed_packets":0,"policed_bytes":0}\n' \
		"$3" "$(head_json usage "$1" "$2")" "$3" "$4" "$5" "$6" "$7"
}
# summary SEQ INTERVAL COUNT FIRST_SEQ IN_P IN_B OUT_P OUT_B UNATTR_P UNATTR_B
summary_rec() {
	printf 'node:n1\t{%s,"record_count":%d,"first_seq":%d,"in_packets":%d,"in_bytes":%d,"out_packets":%d,"out_bytes":%d,"unattributed_packets":%d,"unattributed_bytes":%d,"malformed_packets":0,"malformed_bytes":0,"non_ip_packets":0,"non_ip_bytes":0,"rx_packets":%d,"rx_bytes":%d}\n' \
		"$(head_json summary "$1" "$2")" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" \
		$(($5 + $7)) $(($6 + $8))
}
# Keys are separated by a tab: summary keys ("node:n1") contain ':'.
produce() { kcat -P -b "$BS" -t "$TOPIC" -K $'\t' -X message.timeout.ms=60000; }

# read_usage EXTRA_ARGS... : TSV on stdout, stats in $T/stats
read_usage() {
	"$USAGE" --brokers "$BS" --format tsv --idle-ms 500 --timeout-ms 60000 \
		--stats "$T/stats" "$@" 2>"$T/usage.err"
}
stat_of() { sed -n "s/^$1=//p" "$T/stats"; }

ctl() {
	printf '%s\n' "$1" | socat -t 5 - "UNIX-CONNECT:$T/ctl"
}
# expect_ctl COMMAND REPLY_PREFIX
expect_ctl() {
	local got
	got=$(ctl "$1")
	[[ $got == "$2"* ]] || fail "control '$1': expected '$2...', got '$got'"
	echo "ok: control '$1' -> $got"
}

# ---- argument errors ---------------------------------------------------------
set +e
"$KAFKA" --brokers 0 2>/dev/null;            rc_a=$?
"$KAFKA" --topic nocolon 2>/dev/null;        rc_b=$?
"$USAGE" --format xml --brokers x 2>/dev/null; rc_c=$?
"$USAGE" 2>/dev/null;                        rc_d=$?
set -e
expect_eq "bad arguments exit 2" "2 2 2 2" "$rc_a $rc_b $rc_c $rc_d"

# ---- start -------------------------------------------------------------------
"$KAFKA" --brokers 3 --partitions 8 --bootstrap-file "$T/bootstrap" \
	--control "$T/ctl" --pidfile "$T/pid" >"$T/kafka.out" 2>"$T/kafka.err" &
KPID=$!
for _ in $(seq 100); do
	[[ -s $T/bootstrap ]] && break
	kill -0 "$KPID" 2>/dev/null || fail "bandsplit-kafka exited early"
	sleep 0.1
done
[[ -s $T/bootstrap ]] || fail "no bootstrap file after 10 s"
BS=$(cat "$T/bootstrap")
[[ $BS =~ ^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}$ ]] || fail "bootstrap '$BS'"
expect_eq "stdout is the bootstrap string" "$BS" "$(head -n 1 "$T/kafka.out")"
expect_eq "pidfile" "$KPID" "$(cat "$T/pid")"
expect_ctl ping "ok pong"
expect_ctl bootstrap "ok $BS"
expect_ctl "frobnicate" "error: "

# ---- two intervals, read back ------------------------------------------------
{
	usage_rec 1 1000 7 1 in 10 15000
	usage_rec 2 1000 7 1 out 5 400
	usage_rec 3 1000 0 1 in 2 120
	summary_rec 4 1000 3 1 12 15120 5 400 2 120
	usage_rec 5 1010 9 2 out 3 180
	usage_rec 6 1010 7 1 in 1 60
	summary_rec 7 1010 2 5 1 60 3 180 0 0
} | produce

BY_TENANT=$'tenant_id\tpool_id\tdirection\tpackets\tbytes
0\t1\tin\t2\t120
7\t1\tin\t11\t15060
7\t1\tout\t5\t400
9\t2\tout\t3\t180'
out=$(read_usage --check --expect-summaries 2) || fail "bandsplit-usage --check failed"
expect_eq "totals by tenant" "$BY_TENANT" "$out"
expect_eq "stats" "7 5 2 0 0 0" \
	"$(stat_of records) $(stat_of usage) $(stat_of summaries) $(stat_of duplicates) $(stat_of rejected) $(stat_of check_failures)"

out=$(read_usage --by interval --expect-summaries 2) || fail "bandsplit-usage --by interval"
expect_eq "totals by interval" $'interval_start\ttenant_id\tpool_id\tdirection\tpackets\tbytes
1000\t0\t1\tin\t2\t120
1000\t7\t1\tin\t10\t15000
1000\t7\t1\tout\t5\t400
1010\t7\t1\tin\t1\t60
1010\t9\t2\tout\t3\t180' "$out"

# ---- a second delivery of a record and an undecodable message -----------------
{
	usage_rec 1 1000 7 1 in 10 15000
	printf '7\t{"schema":"bandsplit.usage.v1","type":"usage"}\n'
} | produce
out=$(read_usage --check) || fail "bandsplit-usage --check after a duplicate"
expect_eq "duplicate dropped" "$BY_TENANT" "$out"
expect_eq "duplicate and rejected counted" "9 5 2 1 1 0" \
	"$(stat_of records) $(stat_of usage) $(stat_of summaries) $(stat_of duplicates) $(stat_of rejected) $(stat_of check_failures)"
grep -q "rejected (missing_field)" "$T/usage.err" || fail "rejected message not reported"
out=$(read_usage --no-dedup) || fail "bandsplit-usage --no-dedup"
expect_eq "duplicate kept with --no-dedup" $'tenant_id\tpool_id\tdirection\tpackets\tbytes
0\t1\tin\t2\t120
7\t1\tin\t21\t30060
7\t1\tout\t5\t400
9\t2\tout\t3\t180' "$out"

# ---- broker outage and injected errors ----------------------------------------
# Broker 1's own address, from the cluster's metadata.
metadata() { timeout 30 kcat -L -b "$1" -m "$2" -t "$TOPIC" 2>/dev/null; }
ADDR1=$(metadata "$BS" 10 | sed -n 's/^ *broker 1 at \([^ ]*\).*/\1/p')
[[ $ADDR1 =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "address of broker 1: '$ADDR1'"
expect_ctl "broker down 1" "ok broker 1 down"
metadata "$ADDR1" 2 >/dev/null && fail "broker 1 still answers while down"
metadata "$BS" 10 >/dev/null || fail "brokers 2 and 3 do not answer while 1 is down"
expect_ctl "broker down 4" "error: "
expect_ctl "broker up 1" "ok broker 1 up"
metadata "$ADDR1" 10 >/dev/null || fail "broker 1 does not answer after up"
echo "ok: broker 1 down and up"

# A non-retriable injected error makes the delivery fail: the record
# (seq 10) never arrives, which --check reports below as a seq gap.
expect_ctl "errors Produce 1 MSG_SIZE_TOO_LARGE" "ok 1 Produce (0)"
usage_rec 10 1030 7 1 in 1 64 | produce 2>/dev/null &&
	fail "produce succeeded through an injected MSG_SIZE_TOO_LARGE"
echo "ok: injected non-retriable error fails the delivery"
expect_ctl "errors Produce 3 NOT_LEADER_FOR_PARTITION" "ok 3 Produce (0)"
expect_ctl "errors 0 1 6" "ok 1 Produce (0)"
expect_ctl "errors Produce 1 NO_SUCH_ERROR" "error: "
# The producer retries through these (retriable) errors; the records arrive.
{
	usage_rec 8 1020 9 2 in 4 240
	summary_rec 9 1020 1 8 4 240 0 0 0 0
} | produce
out=$(read_usage --check --expect-summaries 3) || fail "bandsplit-usage after injected errors"
expect_eq "records produced through injected errors" $'tenant_id\tpool_id\tdirection\tpackets\tbytes
0\t1\tin\t2\t120
7\t1\tin\t11\t15060
7\t1\tout\t5\t400
9\t2\tin\t4\t240
9\t2\tout\t3\t180' "$out"
expect_eq "summaries after errors" "3" "$(stat_of summaries)"

# ---- --check catches a missing summary and a seq gap ---------------------------
usage_rec 11 1030 7 1 out 1 64 | produce
set +e
read_usage --check >/dev/null
rc=$?
set -e
expect_eq "--check exit status" "1" "$rc"
grep -q "interval 1030: 1 usage records but no summary" "$T/usage.err" ||
	fail "missing summary not reported"
grep -q "seq 10 missing" "$T/usage.err" || fail "seq gap not reported"
expect_eq "check_failures" "2" "$(stat_of check_failures)"

# ---- topics and shutdown --------------------------------------------------------
expect_ctl "topic create extra.topic 2" "ok topic extra.topic created"
expect_ctl "topic create extra.topic 2" "error: "
expect_ctl quit "ok bye"
set +e
wait "$KPID"
rc=$?
set -e
KPID=
expect_eq "exit status after quit" "0" "$rc"
[[ ! -e $T/bootstrap && ! -e $T/ctl && ! -e $T/pid ]] ||
	fail "bootstrap file, control socket or pidfile left behind"

# SIGTERM is a clean shutdown too.
rm -f "$T/bootstrap"
"$KAFKA" --brokers 1 --partitions 1 --bootstrap-file "$T/bootstrap" \
	>/dev/null 2>"$T/kafka.err" &
KPID=$!
for _ in $(seq 100); do [[ -s $T/bootstrap ]] && break; sleep 0.1; done
[[ -s $T/bootstrap ]] || fail "no bootstrap file (second cluster)"
kill -TERM "$KPID"
set +e
wait "$KPID"
rc=$?
set -e
KPID=
expect_eq "exit status after SIGTERM" "0" "$rc"
echo "embedded Kafka: all checks passed"
