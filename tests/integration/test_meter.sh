#!/usr/bin/env bash
# test_meter.sh — bandsplit-meter end to end: captures with known ground truth
# (bandsplit-gen) replayed through net_pcap into the embedded Kafka, read
# back and compared exactly, per (interval, tenant, pool, direction), in both
# byte measures and every port role; then with Kafka broken, the meter killed
# with -9, and the prefix map reloaded mid-run.
#   usage: test_meter.sh BUILD_DIR [TEST_NAME...]
set -euo pipefail

BUILD=$(cd "$1" && pwd); shift
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/kafka.sh"
GEN=$BUILD/tools/bandsplit-gen
METER=$BUILD/dataplane/bandsplit-meter
WORK=$(mktemp -d /tmp/bandsplit-meter-test.XXXXXX)
PASSED=0; FAILED=0; METER_PID=
cleanup() {
	[ -n "$METER_PID" ] && kill -9 "$METER_PID" 2>/dev/null || true
	kafka_stop
	rm -rf "$WORK" /var/run/dpdk/bsit$$* 2>/dev/null || true
}
trap cleanup EXIT

# Every case that starts Kafka must also run expect_consistent (the runner
# below fails a case that does not): kafka_start and expect_consistent
# leave a mark for the case in $WORK.
eval "lib_$(declare -f kafka_start)"
kafka_start() { : >"$WORK/.kafka.$CASE"; lib_kafka_start "$@"; }

fail() { echo "FAIL: $*" >&2; exit 1; }   # each test runs in a subshell

# write_conf FILE MAP SPOOL ROLE MEASURE [extra "[port]" lines...]
write_conf() {
	local file=$1 map=$2 spool=$3 role=$4 measure=$5; shift 5
	cat >"$file" <<CONF
[meter]
node_id = it-node
interval = 10
byte_measure = $measure
clock = packet
exit_at_eof = true
eof_idle_ms = 400
prefix_map = $map
spool_dir = $spool
max_tenants = 1024
[kafka]
brokers = $KAFKA_BOOTSTRAP
[port net_pcap0]
role = $role
pool = 1
$(printf '%s\n' "$@")
CONF
}

METER_RUN=0
# start_meter CONF PCAP LOG: runs the meter in the background (METER_PID)
start_meter() {
	METER_RUN=$((METER_RUN + 1))
	"$METER" -l 0-1 --no-huge --no-pci -m 256 --file-prefix="bsit$$_$METER_RUN" \
		--log-level=warning --vdev="net_pcap0,rx_pcap=$2" -- --config "$1" >"$3" 2>&1 &
	METER_PID=$!
}
wait_meter() {   # → the meter's exit status
	local rc=0
	wait "$METER_PID" || rc=$?
	METER_PID=
	return $rc
}

# usage_tsv OUT: every usage record on the topic as
#   boot interval tenant pool direction packets bytes map_version seq
# with exact copies (a record re-sent from the spool: same seq, same
# content) removed. Two records with the same counts but their own seq
# numbers both stay, so a record emitted twice is counted twice; a seq of
# one boot carried by two different records fails.
usage_tsv() {
	kcat -C -b "$KAFKA_BOOTSTRAP" -t bandsplit.usage.v1 -e -q -f '%s\n' |
		jq -r 'select(.type == "usage") | [.boot_id, .interval_start, .tenant_id,
			.pool_id, .direction, .packets, .bytes, .map_version, .seq] | @tsv' |
		sort -u >"$1"
	local reused
	reused=$(awk -F'\t' '{ n[$1" "$9]++ } END { for (k in n) if (n[k] > 1) print k }' "$1" | head -5)
	[ -z "$reused" ] || fail "usage_tsv: (boot seq) carried by two different records: $reused"
}
summary_tsv() {
	kcat -C -b "$KAFKA_BOOTSTRAP" -t bandsplit.usage.v1 -e -q -f '%s\n' |
		jq -r 'select(.type == "summary") | [.boot_id, .interval_start, .rx_packets,
			.rx_bytes, .malformed_packets, .malformed_bytes, .non_ip_packets,
			.non_ip_bytes, .record_count] | @tsv' | sort -u >"$1"
}

# truth_rows TRUTH MEASURE → "interval tenant pool dir packets bytes", sorted
truth_rows() {
	grep -v '^#' "$1" | awk -F'\t' -v m="$2" '$1 == m { print $2"\t"$3"\t"$4"\t"$5"\t"$6"\t"$7 }' | sort
}
# got_rows USAGE_TSV [BOOT] → same shape, summed over boots (or one boot)
got_rows() {
	awk -F'\t' -v b="${2:-}" 'b == "" || $1 == b { k = $2"\t"$3"\t"$4"\t"$5; p[k] += $6; y[k] += $7 }
		END { for (k in p) print k"\t"p[k]"\t"y[k] }' "$1" | sort
}

# Compares every (interval, tenant, pool, direction) total exactly.
expect_exact() {
	local truth=$1 measure=$2 usage=$3
	truth_rows "$truth" "$measure" >"$WORK/exp.tsv"
	got_rows "$usage" >"$WORK/got.tsv"
	[ -s "$WORK/exp.tsv" ] || fail "empty ground truth"
	if ! diff -u "$WORK/exp.tsv" "$WORK/got.tsv" >"$WORK/diff.txt"; then
		head -20 "$WORK/diff.txt" >&2
		fail "totals differ from the ground truth ($measure)"
	fi
}

# The node summaries: rx, malformed and non-IP per interval = the truth's.
expect_summaries() {
	local truth=$1 summaries=$2
	awk -F'\t' '$1 == "# summary" && $2 ~ /^[0-9]+$/ { print $2"\t"$3"\t"$4"\t"$5"\t"$6"\t"$7"\t"$8 }' "$truth" | sort >"$WORK/exp_sum.tsv"
	awk -F'\t' '{ k = $2; r[k] += $3; rb[k] += $4; m[k] += $5; mb[k] += $6; n[k] += $7; nb[k] += $8 }
		END { for (k in r) print k"\t"r[k]"\t"rb[k]"\t"m[k]"\t"mb[k]"\t"n[k]"\t"nb[k] }' "$summaries" | sort >"$WORK/got_sum.tsv"
	diff -u "$WORK/exp_sum.tsv" "$WORK/got_sum.tsv" >&2 || fail "node summaries differ from the ground truth"
}

# Every summary equals the sum of its interval's usage records, per direction,
# and seq is contiguous per boot (bandsplit-usage --check).
expect_consistent() {
	"$BUILD/tools/bandsplit-usage" --brokers "$KAFKA_BOOTSTRAP" --check --format tsv \
		--idle-ms 500 >/dev/null 2>"$WORK/check.txt" || { cat "$WORK/check.txt" >&2; fail "bandsplit-usage --check"; }
	: >"$WORK/.checked.$CASE"
}

replay_exact() {   # ROLE MEASURE [gen options...]
	local role=$1 measure=$2; shift 2
	local d=$WORK/$role-$measure
	mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --role "$role" \
		--packets 60000 --duration 60 --boundary-packets --vlan-share 20 \
		--vlan-pool 100:2 --vlan-pool 200:3 "$@" >/dev/null
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" "$role" "$measure" "vlan_pool = 100:2, 200:3"
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	usage_tsv "$d/usage.tsv"
	summary_tsv "$d/summary.tsv"
	expect_exact "$d/truth" "$measure" "$d/usage.tsv"
	expect_summaries "$d/truth" "$d/summary.tsv"
	expect_consistent
	[ -z "$(ls -A "$d/spool")" ] || fail "spool not empty after a clean run"
	kafka_stop
}

t_upstream_frame()   { replay_exact upstream frame --seed 11; }
t_upstream_ip()      { replay_exact upstream ip --seed 11; }
t_downstream_frame() { replay_exact downstream frame --seed 12 --sparse-ids; }
t_mirror_ip()        { replay_exact mirror ip --seed 13 --intra-share 10; }
t_mirror_frame()     { replay_exact mirror frame --seed 13 --intra-share 10; }

# An hour of sparse traffic (360 intervals) replayed in a fraction of a
# second: the worker runs far ahead of the control thread's interval close.
t_long_sparse_replay() { replay_exact upstream frame --seed 14 --packets 20000 --duration 3600; }

# The same capture replayed twice gives identical records (but the boot id).
t_replay_deterministic() {
	local d=$WORK/det; mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --packets 30000 --seed 5 >/dev/null
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream frame
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/m1.log"; wait_meter
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/m2.log"; wait_meter
	kcat -C -b "$KAFKA_BOOTSTRAP" -t bandsplit.usage.v1 -e -q -f '%s\n' |
		jq -c 'del(.boot_id)' | sort | uniq -c | awk '$1 != 2 { bad++ } END { exit bad > 0 }' ||
		fail "two replays of one capture gave different records"
	expect_consistent
	kafka_stop
}

# Two ports on two worker lcores (sharing the second CPU): an upstream port
# in pool 1 and a downstream port in pool 5, replayed together. Each interval
# closes only when both workers have left it; the totals of both captures
# are exact and each summary covers both workers.
t_two_workers() {
	local d=$WORK/two; mkdir -p "$d"
	"$GEN" --out "$d/a.pcap" --map "$d/map" --truth "$d/truth_a" --packets 60000 --duration 60 \
		--role upstream --seed 81 >/dev/null
	"$GEN" --out "$d/b.pcap" --reuse-map "$d/map" --truth "$d/truth_b" --packets 60000 --duration 60 \
		--role downstream --pool 5 --seed 82 >/dev/null
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream ip
	printf '[port net_pcap1]\nrole = downstream\npool = 5\n' >>"$d/meter.conf"
	METER_RUN=$((METER_RUN + 1))
	"$METER" --lcores 0@0,1@1,2@1 --no-huge --no-pci -m 256 --file-prefix="bsit$$_$METER_RUN" \
		--log-level=warning --vdev="net_pcap0,rx_pcap=$d/a.pcap" --vdev="net_pcap1,rx_pcap=$d/b.pcap" \
		-- --config "$d/meter.conf" >"$d/meter.log" 2>&1 || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	grep -q "2 workers" "$d/meter.log" || fail "expected 2 workers"
	usage_tsv "$d/usage.tsv"
	cat "$d/truth_a" "$d/truth_b" >"$d/truth"
	expect_exact "$d/truth" ip "$d/usage.tsv"
	expect_consistent
	kafka_stop
}

# The capture on standard input (rx_pcap=-, dataplane/pcap_stdin.c) through
# a pipe, as from zcat: the same exact totals as a capture read by name.
t_stdin_pipe() {
	local d=$WORK/stdin; mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --packets 60000 --duration 60 \
		--boundary-packets --vlan-share 20 --seed 15 >/dev/null
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream frame
	METER_RUN=$((METER_RUN + 1))
	# shellcheck disable=SC2002 # a pipe, not a file, on purpose
	cat "$d/cap.pcap" | "$METER" -l 0-1 --no-huge --no-pci -m 256 --file-prefix="bsit$$_$METER_RUN" \
		--log-level=warning --vdev="net_pcap0,rx_pcap=-" -- --config "$d/meter.conf" >"$d/meter.log" 2>&1 ||
		{ cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	grep -q ' done: 60000 packets' "$d/meter.log" || { cat "$d/meter.log" >&2; fail "not 60000 packets"; }
	usage_tsv "$d/usage.tsv"
	summary_tsv "$d/summary.tsv"
	expect_exact "$d/truth" frame "$d/usage.tsv"
	expect_summaries "$d/truth" "$d/summary.tsv"
	expect_consistent
	kafka_stop
}

# Kafka down for the whole replay: the meter spools, waits, and delivers
# everything once the brokers are back; then exits 0.
t_broker_down() {
	local d=$WORK/down; mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --packets 80000 --duration 120 --seed 21 >/dev/null
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream frame
	kafka_ctl "broker down 1" >/dev/null; kafka_ctl "broker down 2" >/dev/null; kafka_ctl "broker down 3" >/dev/null
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	local i
	for i in $(seq 100); do grep -q "waiting for Kafka" "$d/meter.log" && break; sleep 0.2; done
	grep -q "waiting for Kafka" "$d/meter.log" || { cat "$d/meter.log" >&2; fail "meter did not wait for Kafka"; }
	[ "$(ls "$d/spool" | wc -l)" -ge 12 ] || fail "expected 12 spooled segments, found $(ls "$d/spool" | wc -l)"
	kafka_ctl "broker up 1" >/dev/null; kafka_ctl "broker up 2" >/dev/null; kafka_ctl "broker up 3" >/dev/null
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero after Kafka came back"; }
	usage_tsv "$d/usage.tsv"
	expect_exact "$d/truth" frame "$d/usage.tsv"
	expect_consistent
	kafka_stop
}

# Produce requests failing with retriable errors: the producer retries and
# nothing is lost. One request in flight per connection: librdkafka 2.0's
# mock broker does not check idempotent sequence numbers, so with several
# in flight it stores a later batch after an earlier one failed, and the
# producer then takes the earlier one as stored too (a real broker would
# have refused the later one as out of order): a loss that only the mock
# makes, about one run in two on a slow build. With one in flight every
# failed request is retried before the next is sent, so the run is
# deterministic. Afterwards one probe message, sent without retries, must
# go through: every injected error was spent on the meter's requests.
t_request_errors() {
	local d=$WORK/errs; mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --packets 80000 --duration 120 --seed 22 >/dev/null
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream ip
	sed -i '/^brokers = /a max.in.flight.requests.per.connection = 1' "$d/meter.conf"
	kafka_ctl "errors Produce ${REQUEST_ERRORS:-6} NOT_LEADER_FOR_PARTITION" >/dev/null
	kafka_ctl "errors Produce ${REQUEST_ERRORS:-6} REQUEST_TIMED_OUT" >/dev/null
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	usage_tsv "$d/usage.tsv"
	expect_exact "$d/truth" ip "$d/usage.tsv"
	expect_consistent
	echo probe | kcat -P -b "$KAFKA_BOOTSTRAP" -t bandsplit.usage.v1 -X message.send.max.retries=0 \
		2>"$d/probe.txt" || { cat "$d/probe.txt" >&2; fail "injected errors left over: the meter did not meet them all"; }
	kafka_stop
}

# kill -9 while closed intervals wait in the spool for Kafka: a restart
# (replaying the next capture) delivers them; totals of both runs exact.
t_kill9_spooled() {
	local d=$WORK/k9s; mkdir -p "$d"
	"$GEN" --out "$d/a.pcap" --map "$d/map" --truth "$d/truth_a" --packets 50000 --duration 100 --seed 31 >/dev/null
	"$GEN" --out "$d/b.pcap" --reuse-map "$d/map" --truth "$d/truth_b" --packets 50000 --duration 100 \
		--start 1767225700 --seed 32 >/dev/null
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream frame
	kafka_ctl "broker down 1" >/dev/null; kafka_ctl "broker down 2" >/dev/null; kafka_ctl "broker down 3" >/dev/null
	start_meter "$d/meter.conf" "$d/a.pcap" "$d/m1.log"
	local i
	for i in $(seq 100); do grep -q "waiting for Kafka" "$d/m1.log" && break; sleep 0.2; done
	kill -9 "$METER_PID"; wait_meter || true
	local spooled; spooled=$(ls "$d/spool" | wc -l)
	[ "$spooled" -eq 10 ] || fail "expected 10 spooled segments after kill -9, found $spooled"
	kafka_ctl "broker up 1" >/dev/null; kafka_ctl "broker up 2" >/dev/null; kafka_ctl "broker up 3" >/dev/null
	start_meter "$d/meter.conf" "$d/b.pcap" "$d/m2.log"
	wait_meter || { cat "$d/m2.log" >&2; fail "restarted meter exited non-zero"; }
	grep -q "re-sending" "$d/m2.log" || fail "restart did not re-send the spool"
	usage_tsv "$d/usage.tsv"
	cat "$d/truth_a" "$d/truth_b" >"$d/truth"
	expect_exact "$d/truth" frame "$d/usage.tsv"
	expect_consistent
	kafka_stop
}

# kill -9 at a random point of a replay. What a kill can lose is stated in
# the README: the intervals not yet closed (the open one and any closed
# banks not yet written to the spool). So: every interval of the killed run
# that has a summary is exact; the intervals without one are a suffix; the
# next run's capture is exact. The capture reaches the meter through a FIFO
# held open: a random 30-70% of it is written, then the kill comes 0-0.5 s
# later while the meter still waits for the rest, so it always lands
# mid-run (asserted: killed by the signal, no 'done:', some but not all
# intervals closed).
t_kill9_random() {
	local d=$WORK/k9r; mkdir -p "$d"
	"$GEN" --out "$d/a.pcap" --map "$d/map" --truth "$d/truth_a" --packets 1500000 --duration 300 \
		--size-mix 64 --seed 41 >/dev/null
	"$GEN" --out "$d/b.pcap" --reuse-map "$d/map" --truth "$d/truth_b" --packets 20000 --duration 50 \
		--start 1767225900 --seed 42 >/dev/null
	kafka_start "$d/kafka" 32
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream frame
	mkfifo "$d/feed"
	METER_RUN=$((METER_RUN + 1))
	"$METER" -l 0-1 --no-huge --no-pci -m 256 --file-prefix="bsit$$_$METER_RUN" \
		--log-level=warning --vdev="net_pcap0,rx_pcap=-" -- --config "$d/meter.conf" \
		<"$d/feed" >"$d/m1.log" 2>&1 &
	METER_PID=$!
	exec 9>"$d/feed"
	local size cut rc=0
	size=$(stat -c %s "$d/a.pcap")
	cut=$(( size / 100 * (30 + RANDOM % 41) ))
	head -c "$cut" "$d/a.pcap" >&9
	sleep "0.$((RANDOM % 6))"
	kill -9 "$METER_PID" 2>/dev/null || true   # asserted below
	wait_meter || rc=$?
	exec 9>&-
	[ "$rc" -eq 137 ] || { cat "$d/m1.log" >&2; fail "the first run was not killed by the signal (exit $rc)"; }
	! grep -q ' done: ' "$d/m1.log" || fail "the first run had finished before the kill"
	start_meter "$d/meter.conf" "$d/b.pcap" "$d/m2.log"
	wait_meter || { cat "$d/m2.log" >&2; fail "restarted meter exited non-zero"; }
	usage_tsv "$d/usage.tsv"
	summary_tsv "$d/summary.tsv"
	local boot1 boot2
	boot1=$(grep -o 'boot [0-9a-f]*' "$d/m1.log" | head -1 | cut -d' ' -f2)
	boot2=$(grep -o 'boot [0-9a-f]*' "$d/m2.log" | head -1 | cut -d' ' -f2)
	# run 1: intervals with a summary are exact
	awk -F'\t' -v b="$boot1" '$1 == b { print $2 }' "$d/summary.tsv" | sort -u >"$d/closed"
	local n_closed; n_closed=$(wc -l <"$d/closed")
	truth_rows "$d/truth_a" frame | awk -F'\t' 'NR == FNR { c[$1] = 1; next } ($1 in c)' "$d/closed" - >"$d/exp1"
	got_rows "$d/usage.tsv" "$boot1" >"$d/got1"
	diff -u "$d/exp1" "$d/got1" >&2 || fail "killed run: a closed interval is not exact"
	# ... and the intervals it lost are the last ones
	truth_rows "$d/truth_a" frame | cut -f1 | sort -u >"$d/all_a"
	head -n "$n_closed" "$d/all_a" | diff -u - "$d/closed" >&2 || fail "killed run lost an interval that is not at the end"
	[ "$n_closed" -ge 1 ] && [ "$n_closed" -lt "$(wc -l <"$d/all_a")" ] ||
		fail "the kill did not land mid-run: $n_closed of $(wc -l <"$d/all_a") intervals closed"
	got_rows "$d/usage.tsv" "$boot2" >"$d/got2"
	truth_rows "$d/truth_b" frame | diff -u - "$d/got2" >&2 || fail "run after kill -9 not exact"
	expect_consistent
	echo "  (killed after $n_closed of $(wc -l <"$d/all_a") intervals, $((cut * 100 / size))% of the capture sent)"
	kafka_stop
}

# SIGHUP mid-run with a map that moves a prefix to another tenant: each
# packet counts for the map in force when it was counted — intervals before
# the swap follow map 1, after it map 2, at most one interval mixes both;
# everything else stays exact and the records carry the map version.
t_reload_moves_prefix() {
	local d=$WORK/hup; mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --packets 1500000 --duration 600 \
		--size-mix 64 --move-prefix --seed 51 >/dev/null
	local from to
	read -r from to < <(awk '$2 == "moved_prefix" { print $5, $7 }' "$d/truth")
	cp "$d/map" "$d/live.map"
	kafka_start "$d/kafka" 32
	write_conf "$d/meter.conf" "$d/live.map" "$d/spool" upstream frame
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	local i
	for i in $(seq 200); do [ "$(grep -c closed "$d/meter.log")" -ge 3 ] && break; sleep 0.02; done
	cp "$d/map.v2" "$d/live.map.tmp" && mv "$d/live.map.tmp" "$d/live.map"
	kill -HUP "$METER_PID"
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	grep -q "version 2 in force" "$d/meter.log" || { cat "$d/meter.log" >&2; fail "reload not logged"; }
	usage_tsv "$d/usage.tsv"
	# all tenants but the two involved: exact under either map
	truth_rows "$d/truth" frame | awk -F'\t' -v a="$from" -v b="$to" '$2 != a && $2 != b' >"$d/exp"
	got_rows "$d/usage.tsv" | awk -F'\t' -v a="$from" -v b="$to" '$2 != a && $2 != b' >"$d/got"
	diff -u "$d/exp" "$d/got" >&2 || fail "uninvolved tenants not exact across the reload"
	truth_rows "$d/truth" frame | awk -F'\t' -v a="$from" '$2 == a { print $1 }' | sort -un >"$d/intervals"
	# per interval: from+to = truth(from) under map 1; pure map 1, mixed, or pure map 2
	awk -F'\t' -v a="$from" -v b="$to" '
		FILENAME == ARGV[1] && $1 == "frame" && $3 == a { t1[$2] = $6 }
		FILENAME == ARGV[2] && $1 == "frame" && $3 == a { t2a[$2] = $6 }
		FILENAME == ARGV[2] && $1 == "frame" && $3 == b { t2b[$2] = $6 }
		FILENAME == ARGV[3] && $3 == a { ga[$2] += $6 }
		FILENAME == ARGV[3] && $3 == b { gb[$2] += $6 }
		FILENAME == ARGV[4] { keys[++n] = $1 }
		END {
			state = 1; mixed = 0; v1 = 0; v2 = 0
			for (i = 1; i <= n; i++) {
				k = keys[i]
				if (ga[k] + gb[k] != t1[k]) { print "interval " k ": " ga[k] "+" gb[k] " != " t1[k]; exit 1 }
				if (gb[k] == 0 && ga[k] == t1[k]) s = 1
				else if (ga[k] == t2a[k] + 0 && gb[k] == t2b[k] + 0) s = 3
				else { s = 2; mixed++ }
				if (s < state) { print "interval " k " goes back to the old map"; exit 1 }
				state = s; v1 += (s == 1); v2 += (s == 3)
			}
			if (mixed > 1 || v1 == 0 || v2 == 0) { print "mixed " mixed " v1 " v1 " v2 " v2; exit 1 }
			print "  (" v1 " intervals on map 1, " mixed " mixed, " v2 " on map 2)"
		}' "$d/truth" "$d/truth.v2" "$d/usage.tsv" "$d/intervals" || fail "moved prefix not attributed to the map in force"
	awk -F'\t' -v b="$to" '$3 == b && $8 != 2 { bad++ } END { exit bad > 0 }' "$d/usage.tsv" ||
		fail "records counted under map 2 do not carry version 2"
	expect_consistent
	kafka_stop
}

# A bad map on SIGHUP leaves the old one in force, with the error named.
t_reload_bad_map() {
	local d=$WORK/badhup; mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --packets 1500000 --duration 600 \
		--size-mix 64 --seed 61 >/dev/null
	cp "$d/map" "$d/live.map"
	kafka_start "$d/kafka" 16
	write_conf "$d/meter.conf" "$d/live.map" "$d/spool" upstream frame
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	local i
	for i in $(seq 200); do grep -q closed "$d/meter.log" && break; sleep 0.02; done
	{ echo "version 9"; echo "10.0.0.1/8 5"; } >"$d/live.map"
	kill -HUP "$METER_PID"
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	grep -q "reload failed, version 1 stays in force: .*live.map:2: host bits set" "$d/meter.log" ||
		{ cat "$d/meter.log" >&2; fail "bad map error not reported as expected"; }
	usage_tsv "$d/usage.tsv"
	expect_exact "$d/truth" frame "$d/usage.tsv"
	expect_consistent
	kafka_stop
}

# A map whose version is lower than the one in force (an old copy) is
# refused on SIGHUP: the map in force stays, the refusal is logged
# (issue 10 item 4).
t_reload_lower_version() {
	local d=$WORK/lowhup; mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --packets 1500000 --duration 600 \
		--size-mix 64 --seed 62 >/dev/null
	sed 's/^version .*/version 5/' "$d/map" >"$d/live.map"
	grep -q '^version 5$' "$d/live.map" || fail "the generator's map has no version line"
	kafka_start "$d/kafka" 16
	write_conf "$d/meter.conf" "$d/live.map" "$d/spool" upstream frame
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	local i
	for i in $(seq 200); do grep -q closed "$d/meter.log" && break; sleep 0.02; done
	# version 3, every prefix moved to tenant 1: were it taken, the counts
	# would no longer match the truth
	{ echo "version 3"; grep -v -e '^#' -e '^version' "$d/map" | awk 'NF == 2 { print $1, 1 }'; } >"$d/live.map"
	kill -HUP "$METER_PID"
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	grep -q "reload refused: .*live.map holds version 3, lower than version 5 in force, which stays" "$d/meter.log" ||
		{ cat "$d/meter.log" >&2; fail "a lower version was not refused"; }
	usage_tsv "$d/usage.tsv"
	expect_exact "$d/truth" frame "$d/usage.tsv"
	expect_consistent
	kafka_stop
}

# Live mode (system clock, endless capture): SIGTERM closes the open
# interval, flushes, exits 0; telemetry answers while it runs.
t_sigterm_live() {
	local d=$WORK/live; mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --packets 2000 --seed 71 >/dev/null
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream frame
	sed -i 's/^clock = packet/clock = system/; s/^exit_at_eof = true/exit_at_eof = false/; s/^interval = 10/interval = 1/' "$d/meter.conf"
	METER_RUN=$((METER_RUN + 1))
	local prefix="bsit$$_$METER_RUN"
	"$METER" -l 0-1 --no-huge --no-pci -m 256 --file-prefix="$prefix" --log-level=warning \
		--vdev="net_pcap0,rx_pcap=$d/cap.pcap,infinite_rx=1" -- --config "$d/meter.conf" >"$d/meter.log" 2>&1 &
	METER_PID=$!
	local i sock=/var/run/dpdk/$prefix/dpdk_telemetry.v2
	for i in $(seq 100); do [ "$(grep -c closed "$d/meter.log")" -ge 2 ] && break; sleep 0.1; done
	if [ -S "$sock" ]; then
		python3 - "$sock" >"$d/telemetry.json" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
json.loads(s.recv(16384))
s.send(b"/bandsplit/stats")
print(s.recv(65536).decode())
PY
		jq -e '."/bandsplit/stats".rx_packets > 0 and ."/bandsplit/stats".map_version == 1' "$d/telemetry.json" >/dev/null ||
			{ cat "$d/telemetry.json" >&2; fail "telemetry /bandsplit/stats"; }
	else
		fail "no telemetry socket at $sock"
	fi
	kill -TERM "$METER_PID"
	wait_meter || { cat "$d/meter.log" >&2; fail "SIGTERM: non-zero exit"; }
	grep -q "stopping: closing the open interval" "$d/meter.log" || fail "SIGTERM not handled"
	[ -z "$(ls -A "$d/spool")" ] || fail "spool not empty after SIGTERM"
	local rx; rx=$(grep -o 'done: [0-9]* packets' "$d/meter.log" | awk '{ print $2 }')
	summary_tsv "$d/summary.tsv"
	[ "$(awk -F'\t' '{ s += $3 } END { print s + 0 }' "$d/summary.tsv")" = "$rx" ] ||
		fail "summaries do not add up to the $rx packets received"
	expect_consistent
	kafka_stop
}

# Bad configuration and arguments: a clear error naming the place, exit 2.
t_bad_config() {
	local d=$WORK/badcfg; mkdir -p "$d"
	KAFKA_BOOTSTRAP=127.0.0.1:1
	write_conf "$d/ok.conf" "$d/map" "$d/spool" upstream frame
	sed 's/^interval = 10/interval = ten/' "$d/ok.conf" >"$d/c1.conf"
	sed 's/^role = upstream/role = sideways/' "$d/ok.conf" >"$d/c2.conf"
	local out rc
	check() {   # CONF EXPECTED-TEXT
		rc=0; out=$("$METER" -l 0-1 --no-huge --no-pci -m 128 --no-shconf --log-level=error -- --config "$1" 2>&1) || rc=$?
		[ "$rc" -eq 2 ] || fail "$1: exit $rc, expected 2"
		grep -q -- "$2" <<<"$out" || { echo "$out" >&2; fail "$1: message lacks '$2'"; }
	}
	check "$d/c1.conf" "c1.conf:3: \[meter\] interval: 'ten' is not a number"
	check "$d/c2.conf" "c2.conf:14: \[port net_pcap0\] role: 'sideways'"
	rc=0; out=$("$METER" -l 0-1 --no-huge --no-pci -m 128 --no-shconf --log-level=error -- --config "$d/ok.conf" --bogus 2>&1) || rc=$?
	[ "$rc" -eq 2 ] && grep -q "unknown option '--bogus'" <<<"$out" || fail "bad option: exit $rc: $out"
	echo "version 1" >"$d/map"; echo "300.1.2.0/24 7" >>"$d/map"
	rc=0; out=$("$METER" -l 0-1 --no-huge --no-pci -m 128 --no-shconf --log-level=error -- --config "$d/ok.conf" 2>&1) || rc=$?
	[ "$rc" -eq 2 ] && grep -q "map:2:" <<<"$out" || fail "bad map: exit $rc: $out"
	printf 'version 1\n203.0.113.0/24 1001\n' >"$d/map"
	rc=0; out=$("$METER" -l 0-1 --no-huge --no-pci -m 128 --no-shconf --log-level=error -- --config "$d/ok.conf" 2>&1) || rc=$?
	[ "$rc" -eq 2 ] && grep -q "ok.conf:13: \[port net_pcap0\]: no such DPDK port" <<<"$out" || fail "no port: exit $rc: $out"
	rc=0; out=$("$METER" -l 0 --no-huge --no-pci -m 128 --no-shconf --log-level=error -- --config "$d/ok.conf" 2>&1) || rc=$?
	[ "$rc" -eq 2 ] && grep -q "needs at least two lcores" <<<"$out" || fail "one lcore: exit $rc: $out"
	rc=0; out=$("$METER" -l 0-1 --no-huge --no-pci -m 128 --no-shconf --log-level=error \
		--vdev=net_pcap0,rx_pcap=- --vdev net_pcap1,rx_pcap=- -- --config "$d/ok.conf" 2>&1 </dev/null) || rc=$?
	[ "$rc" -eq 2 ] && grep -q "rx_pcap=- is given 2 times" <<<"$out" || fail "rx_pcap=- twice: exit $rc: $out"
	"$METER" --help | grep -q "Usage: bandsplit-meter" || fail "--help"
}

# ---- jumbo and multi-segment frames, sliced ports (issue 9 §1-2) ----------

# jumbo_exact NAME MEASURE [extra "[port]" lines...]: frames of 60, 1,519,
# 2,049 and 9,014 bytes, IPv4 and IPv6, a quarter VLAN-tagged, exact in
# MEASURE. With the default MTU the mbufs hold 2,048 bytes and net_pcap
# chains the longer frames over several mbufs; with "mtu = 9000" the data
# room is sized for them (net_pcap cannot scatter) and each is one mbuf.
jumbo_exact() {
	local name=$1 measure=$2; shift 2
	local d=$WORK/$name; mkdir -p "$d"
	"$GEN" --out "$d/cap.pcap" --map "$d/map" --truth "$d/truth" --packets 20000 --duration 30 \
		--size-mix jumbo --vlan-share 25 --malformed-share 0 --seed 31 >/dev/null
	awk '$1 == "#" && $2 ~ /^(ipv4|ipv6)_packets$/ && $3 < 5000 { bad = 1 } END { exit bad }' "$d/truth" ||
		fail "the capture lacks IPv4 or IPv6 frames"
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream "$measure" "$@"
	sed -i '/^\[meter\]/a mbufs = 2047' "$d/meter.conf"   # 9 KB mbufs in -m 256
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	usage_tsv "$d/usage.tsv"
	summary_tsv "$d/summary.tsv"
	expect_exact "$d/truth" "$measure" "$d/usage.tsv"
	expect_summaries "$d/truth" "$d/summary.tsv"
	expect_consistent
	kafka_stop
}
t_jumbo_frame()      { jumbo_exact jumbo-frame frame; }
t_jumbo_ip()         { jumbo_exact jumbo-ip ip; }
t_jumbo_mtu9000()    { jumbo_exact jumbo-mtu frame "mtu = 9000"; }

# sliced_capture DIR: a mirror capture whose every IP frame is cut after
# its L4 header (pcap caplen < len); the truth counts the IP headers'
# lengths ("frame": L2 header + IP length).
sliced_capture() {
	"$GEN" --out "$1/cap.pcap" --map "$1/map" --truth "$1/truth" --role mirror --intra-share 10 \
		--packets 40000 --duration 30 --vlan-share 20 --size-mix imix --malformed-share 0 \
		--slice --seed 41 >/dev/null
}

# A sliced mirror port counts each frame with the length its IP header
# claims: exact against the truth, in both measures.
sliced_exact() {
	local measure=$1
	local d=$WORK/sliced-$measure; mkdir -p "$d"
	sliced_capture "$d"
	local cut; cut=$(awk '$2 == "sliced_ip_packets" { print $3 }' "$d/truth")
	[ "${cut:-0}" -gt 10000 ] || fail "the capture has only ${cut:-0} frames cut short"
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" mirror "$measure" "sliced = true"
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	usage_tsv "$d/usage.tsv"
	summary_tsv "$d/summary.tsv"
	expect_exact "$d/truth" "$measure" "$d/usage.tsv"
	expect_summaries "$d/truth" "$d/summary.tsv"
	expect_consistent
	kafka_stop
}
t_sliced_frame() { sliced_exact frame; }
t_sliced_ip()    { sliced_exact ip; }

# The same capture on a port without "sliced": every frame cut short is
# malformed (bad_length), as documented; nothing of it is billed.
t_sliced_off() {
	local d=$WORK/sliced-off; mkdir -p "$d"
	sliced_capture "$d"
	local cut; cut=$(awk '$2 == "sliced_ip_packets" { print $3 }' "$d/truth")
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" mirror frame
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	local got
	got=$(kcat -C -b "$KAFKA_BOOTSTRAP" -t bandsplit.usage.v1 -e -q -f '%s\n' |
		jq -s '[.[] | select(.type == "summary")] | unique_by(.interval_start) |
			map(.malformed_packets) | add')
	[ "$got" = "$cut" ] || fail "malformed_packets $got, expected the $cut frames cut short"
	expect_consistent
	kafka_stop
}

# [port] mtu out of range: exit 2, naming the place.
t_mtu_bad() {
	local d=$WORK/mtu; mkdir -p "$d"
	printf 'version 1\n203.0.113.0/24 1001\n' >"$d/map"
	KAFKA_BOOTSTRAP=127.0.0.1:1 write_conf "$d/m.conf" "$d/map" "$d/spool" upstream frame "mtu = 9601"
	local rc=0 out
	out=$("$METER" -l 0-1 --no-huge --no-pci -m 128 --no-shconf --log-level=error -- --config "$d/m.conf" 2>&1) || rc=$?
	[ "$rc" -eq 2 ] && grep -q "m.conf:16: \[port net_pcap0\] mtu: '9601' is not an MTU from 68 to 9600" <<<"$out" ||
		fail "mtu 9601: exit $rc: $out"
	KAFKA_BOOTSTRAP=127.0.0.1:1 write_conf "$d/s.conf" "$d/map" "$d/spool" upstream frame "sliced = maybe"
	rc=0; out=$("$METER" -l 0-1 --no-huge --no-pci -m 128 --no-shconf --log-level=error -- --config "$d/s.conf" 2>&1) || rc=$?
	[ "$rc" -eq 2 ] && grep -q "s.conf:16: \[port net_pcap0\] sliced: 'maybe'" <<<"$out" ||
		fail "sliced maybe: exit $rc: $out"
}

# ---- late packets and malformed reasons in the summaries (issue 9 §3) -----

# A capture with 30 s of traffic, then 1,000 frames of its first 10 s again
# (a reordered capture): those are counted in the interval open when they
# come, as late. Every summary is v2; Σ late_packets/late_bytes = the
# appended frames, Σ malformed per reason = both truths' reasons.
t_late_and_reasons() {
	local d=$WORK/late; mkdir -p "$d"
	"$GEN" --out "$d/a.pcap" --map "$d/map" --truth "$d/a.truth" --packets 30000 --duration 30 \
		--malformed-share 2 --seed 51 >/dev/null
	"$GEN" --out "$d/b.pcap" --reuse-map "$d/map" --truth "$d/b.truth" --packets 1000 --duration 10 \
		--malformed-share 5 --seed 52 >/dev/null
	{ cat "$d/a.pcap"; tail -c +25 "$d/b.pcap"; } >"$d/cap.pcap"   # one pcap header
	kafka_start "$d/kafka"
	write_conf "$d/meter.conf" "$d/map" "$d/spool" upstream frame
	start_meter "$d/meter.conf" "$d/cap.pcap" "$d/meter.log"
	wait_meter || { cat "$d/meter.log" >&2; fail "meter exited non-zero"; }
	kcat -C -b "$KAFKA_BOOTSTRAP" -t bandsplit.usage.v1 -e -q -f '%s\n' |
		jq -s -c '[.[] | select(.type == "summary")] | unique_by(.boot_id, .interval_start)' >"$d/sum.json"
	[ "$(jq '[.[] | select(.schema != "bandsplit.usage.v2")] | length' "$d/sum.json")" = 0 ] ||
		fail "a summary is not v2"
	local want got
	want="$(awk '$2 == "packets" { print $3 }' "$d/b.truth") $(awk '$2 == "bytes" { print $3 }' "$d/b.truth")"
	got=$(jq -r '"\(map(.late_packets) | add) \(map(.late_bytes) | add)"' "$d/sum.json")
	[ "$got" = "$want" ] || fail "late packets/bytes: got $got, want $want (the appended frames)"
	want=$(cat "$d/a.truth" "$d/b.truth" | awk '$2 == "malformed_reason" { n[$3] += $4 }
		END { for (r in n) print r, n[r] }' | sort)
	got=$(jq -r '.[0] | keys[] | select(startswith("malformed_") and . != "malformed_packets" and
		. != "malformed_bytes")' "$d/sum.json" | while read -r k; do
		echo "${k#malformed_} $(jq "map(.$k) | add" "$d/sum.json")"; done | sort)
	[ "$got" = "$want" ] || fail "malformed reasons: got $(echo $got), want $(echo $want)"
	[ "$(awk '{ s += $2 } END { print s }' <<<"$want")" -gt 600 ] || fail "too few malformed frames"
	expect_consistent
	kafka_stop
}

ALL="upstream_frame upstream_ip downstream_frame mirror_ip mirror_frame long_sparse_replay
     replay_deterministic two_workers stdin_pipe
     broker_down request_errors kill9_spooled kill9_random reload_moves_prefix reload_bad_map
     reload_lower_version sigterm_live bad_config"
ALL="$ALL jumbo_frame jumbo_ip jumbo_mtu9000 sliced_frame sliced_ip sliced_off mtu_bad late_and_reasons"
for name in ${@:-$ALL}; do
	CASE=$name
	rm -f "$WORK/.kafka.$CASE" "$WORK/.checked.$CASE"
	# not under 'if': set -e must stay in force inside the test
	set +e; ( set -e; "t_$name" ); rc=$?; set -e
	if [ "$rc" -eq 0 ] && [ -e "$WORK/.kafka.$CASE" ] && [ ! -e "$WORK/.checked.$CASE" ]; then
		echo "FAIL: $name started Kafka but never ran expect_consistent" >&2
		rc=1
	fi
	if [ "$rc" -eq 0 ]; then
		echo "ok - $name"; PASSED=$((PASSED + 1))
	else
		echo "not ok - $name"; FAILED=$((FAILED + 1))
	fi
	kafka_stop
done
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
