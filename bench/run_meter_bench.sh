#!/usr/bin/env bash
# run_meter_bench.sh — the dataplane's performance figures, end to end (see
# bench/README-figures.md for what each one means and what was measured):
#   1. metering rate per core, in memory, next to an rx-and-requeue baseline
#   2. instructions per packet (callgrind; skipped without valgrind)
#   3. replay of a 3,000,000-packet capture through net_pcap into the
#      embedded Kafka with the real bandsplit-meter, and net_pcap's own rate
#   4. hot reload of a 100,000-prefix map mid-replay: time, packets lost
# Not a test: it measures. Exit 1 only if a run fails or a count is wrong.
#
#   usage: bench/run_meter_bench.sh BUILD_DIR
# Environment: BENCH_SECONDS (per round, default 2), BENCH_ROUNDS (default 5),
# BENCH_REPLAYS (meter runs of figure 3, default 3), BENCH_RELOAD_PACKETS
# (figure 4's capture, default 20000000: 1.5 GB in a temporary directory),
# BENCH_CALLGRIND_PACKETS (default 320000), BENCH_FIGURES (which of the four
# figures to measure, default "1 2 3 4"; 4 needs 3, e.g. "3" or "3 4").
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR (a meson build directory of bandsplit, built)" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lib/kafka.sh
. "$HERE/../tests/lib/kafka.sh"

BENCH=$BUILD/bench/meter_bench
METER=$BUILD/dataplane/bandsplit-meter
GEN=$BUILD/tools/bandsplit-gen
USAGE=$BUILD/tools/bandsplit-usage
for exe in "$BENCH" "$METER" "$GEN" "$USAGE" "$BUILD/tools/bandsplit-kafka"; do
	[ -x "$exe" ] || { echo "$0: $exe is missing: build first (ninja -C $BUILD)" >&2; exit 2; }
done
command -v socat >/dev/null || { echo "$0: needs socat (tests/lib/kafka.sh)" >&2; exit 2; }

SECS=${BENCH_SECONDS:-2}
ROUNDS=${BENCH_ROUNDS:-5}
REPLAYS=${BENCH_REPLAYS:-3}
RELOAD_PACKETS=${BENCH_RELOAD_PACKETS:-20000000}
CG_PACKETS=${BENCH_CALLGRIND_PACKETS:-320000}
FIGURES=" ${BENCH_FIGURES:-1 2 3 4} "
want() { [[ "$FIGURES" == *" $1 "* ]]; }
if want 4 && ! want 3; then
	echo "$0: BENCH_FIGURES: figure 4 needs figure 3 (its capture replay's set-up)" >&2
	exit 2
fi
REPLAY_PACKETS=3000000
EOF_IDLE_MS=100

WORK=$(mktemp -d /tmp/bandsplit-bench.XXXXXX)
PREFIX=bsbench$$
METER_PID=
cleanup() {
	if [ -n "$METER_PID" ]; then
		kill -9 "$METER_PID" 2>/dev/null || true
		wait "$METER_PID" 2>/dev/null || true
	fi
	kafka_stop
	rm -rf "$WORK" /var/run/dpdk/"$PREFIX"* 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

EAL1=(-l 0 --no-huge --no-pci -m 1024 --no-shconf --log-level=warning)
RESULTS=$WORK/results.txt
: >"$RESULTS"
say() { echo "$*" | tee -a "$RESULTS"; }
die() { echo "run_meter_bench: $*" >&2; exit 1; }

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
	print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# field KEY of a "result k=v ..." line on stdin
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
now_ms() { date +%s%3N; }
# Unix ms of the first log line matching PATTERN in LOG
log_ms() {
	local ts
	ts=$(grep -m1 -E "$2" "$1" | cut -d' ' -f1) || true
	[ -n "$ts" ] || die "no line matching '$2' in $1"
	date -u -d "$ts" +%s%3N
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== work dir $WORK"

# ---- 1. metering rate, in memory ---------------------------------------------
if want 1; then
say "## 1. metering rate per core (in memory, burst 32, 100k IPv4 + 10k IPv6 prefixes, 10k tenants)"
for variant in "--mbufs 1024" "--mbufs 8192" "--mbufs 8192 --role mirror" "--mbufs 1024 --thp" "--mbufs 8192 --thp"; do
	# shellcheck disable=SC2086
	"$BENCH" "${EAL1[@]}" -- --seconds "$SECS" --rounds "$ROUNDS" $variant \
		>"$WORK/mem.out" 2>"$WORK/mem.err" || { cat "$WORK/mem.err" >&2; die "meter_bench $variant failed"; }
	grep -E '^(frames|classifier|round)' "$WORK/mem.out" | sed 's/^/   /'
	say "   $(grep '^result' "$WORK/mem.out")"
done

fi

# ---- 2. instructions per packet ----------------------------------------------
if want 2; then
say "## 2. instructions per packet (callgrind, $CG_PACKETS packets, mbufs 8192, upstream)"
if command -v valgrind >/dev/null; then
	mkdir -p "$WORK/cg"
	(cd "$WORK/cg" && valgrind --tool=callgrind --collect-atstart=no \
		--callgrind-out-file="$WORK/cg/cg.out" \
		"$BENCH" "${EAL1[@]}" -- --packets "$CG_PACKETS" --mbufs 8192 --callgrind) \
		>"$WORK/cg.stdout" 2>"$WORK/cg.stderr" || { tail "$WORK/cg.stderr" >&2; die "callgrind run failed"; }
	for region in baseline meter_burst rx_meter_requeue; do
		file=$(grep -l "Client Request: $region\$" "$WORK"/cg/cg.out* | head -1)
		[ -n "$file" ] || die "callgrind: no dump for $region"
		ir=$(awk '$1 == "summary:" { print $2 }' "$file")
		n=$(grep '^callgrind packets:' "$WORK/cg.stdout" | tr ' ' '\n' | awk -F= -v k="$region" '$1 == k { print $2 }')
		say "   $region: $ir instructions / $n packets = $(awk -v a="$ir" -v b="$n" 'BEGIN { printf "%.1f", a / b }') per packet"
	done
	say "   (baseline = rte_eth_rx_burst + rte_eth_tx_burst on the ring port; meter_burst = bs_meter_burst alone)"
else
	say "   skipped: valgrind is not installed"
fi

fi

# ---- 3. capture replay ---------------------------------------------------------
"$BENCH" "${EAL1[@]}" -- --write-map "$WORK/park.map" >/dev/null 2>"$WORK/map.err" ||
	{ cat "$WORK/map.err" >&2; die "writing the park map failed"; }
if want 3; then
say "## 3. replay of $REPLAY_PACKETS packets through net_pcap (64-byte frames, 60% IPv4)"
"$GEN" --out "$WORK/replay.pcap" --reuse-map "$WORK/park.map" --truth "$WORK/replay.truth" \
	--truth-by tenant --packets "$REPLAY_PACKETS" --size-mix 64 --v4-share 60 --duration 60 >/dev/null
"$GEN" --out "$WORK/one.pcap" --reuse-map "$WORK/park.map" --packets 1 --size-mix 64 --duration 1 >/dev/null

# source_name file|stdin: how the capture reaches net_pcap, for the summary
source_name() { if [ "$1" = stdin ]; then echo "rx_pcap=- < FILE"; else echo "rx_pcap=FILE"; fi; }

# net_pcap's own rate, reading the capture by name (rx_pcap=FILE: libpcap's
# stdio, 4 KiB reads, locked) and from standard input (rx_pcap=- < FILE:
# 1 MiB buffer, unlocked; dataplane/pcap_stdin.c), without and with metering
for mode in raw metered; do
	for src in file stdin; do
		: >"$WORK/pcap.$src.mpps"
	done
	extra=()
	[ $mode = metered ] && extra=(--pcap-map "$WORK/park.map")
	for _ in 1 2 3; do
		for src in file stdin; do
			if [ $src = file ]; then
				"$BENCH" "${EAL1[@]}" --vdev="net_pcap0,rx_pcap=$WORK/replay.pcap" -- --mode pcap "${extra[@]}" \
					>"$WORK/pcap.out" 2>"$WORK/pcap.err" </dev/null
			else
				"$BENCH" "${EAL1[@]}" --vdev="net_pcap0,rx_pcap=-" -- --mode pcap "${extra[@]}" \
					>"$WORK/pcap.out" 2>"$WORK/pcap.err" <"$WORK/replay.pcap"
			fi || { cat "$WORK/pcap.err" >&2; die "meter_bench --mode pcap ($src) failed"; }
			grep '^result' "$WORK/pcap.out" | field mpps >>"$WORK/pcap.$src.mpps"
		done
	done
	what="net_pcap rx + free"
	[ $mode = metered ] && what="net_pcap rx + bs_meter_burst + free"
	for src in file stdin; do
		say "   $what, one lcore, $(source_name $src): median $(median <"$WORK/pcap.$src.mpps") Mpps of 3 runs ($(tr '\n' ' ' <"$WORK/pcap.$src.mpps"))"
	done
done

# write_conf FILE MAP SPOOL
write_conf() {
	cat >"$1" <<CONF
[meter]
node_id = bench
interval = 10
byte_measure = frame
clock = packet
exit_at_eof = true
eof_idle_ms = $EOF_IDLE_MS
prefix_map = $2
spool_dir = $3
[kafka]
brokers = $KAFKA_BOOTSTRAP
topic = bandsplit.usage.v1
[port net_pcap0]
role = upstream
pool = 1
CONF
}

RUN=0
# start_meter PCAP CONF LOG [stdin]: the real meter in the background
# (METER_PID), reading PCAP by name, or from standard input with "stdin"
start_meter() {
	RUN=$((RUN + 1))
	local rx="rx_pcap=$1" input=/dev/null
	if [ "${4:-}" = stdin ]; then
		rx="rx_pcap=-"
		input=$1
	fi
	"$METER" -l 0-1 --no-huge --no-pci -m 512 --file-prefix="${PREFIX}_$RUN" --log-level=warning \
		--vdev="net_pcap0,$rx" -- --config "$2" >"$3" 2>&1 <"$input" &
	METER_PID=$!
}
wait_meter() {
	local rc=0
	wait "$METER_PID" || rc=$?
	METER_PID=
	[ $rc -eq 0 ] || { tail -20 "$1" >&2; die "bandsplit-meter exited $rc (log above)"; }
}
done_packets() { grep -m1 ' done: ' "$1" | sed -E 's/.* done: ([0-9]+) packets.*/\1/'; }

# check_totals TRUTH SUMMARIES: Kafka's records, per (tenant, pool,
# direction), against the generator's truth; and the usage/summary checks.
check_totals() {
	"$USAGE" --brokers "$KAFKA_BOOTSTRAP" --format tsv --idle-ms 1000 --expect-summaries "$2" \
		--check --timeout-ms 120000 >"$WORK/usage.tsv" 2>"$WORK/usage.err" ||
		{ tail "$WORK/usage.err" >&2; die "bandsplit-usage --check failed"; }
	awk -F'\t' '$1 == "frame" { print $2"\t"$3"\t"$4"\t"$5"\t"$6 }' "$1" | sort >"$WORK/exp.tsv"
	tail -n +2 "$WORK/usage.tsv" | sort >"$WORK/got.tsv"
	[ -s "$WORK/exp.tsv" ] || die "empty truth $1"
	diff -q "$WORK/exp.tsv" "$WORK/got.tsv" >/dev/null ||
		{ diff "$WORK/exp.tsv" "$WORK/got.tsv" | head >&2; die "records' totals differ from the generator's truth"; }
}

# Start-up and shut-down cost: the same meter replaying one packet.
kafka_start "$WORK/kafka" 64 >/dev/null
mkdir -p "$WORK/spool1"
write_conf "$WORK/one.conf" "$WORK/park.map" "$WORK/spool1"
: >"$WORK/one.wall"
for _ in 1 2 3; do
	t0=$(now_ms)
	start_meter "$WORK/one.pcap" "$WORK/one.conf" "$WORK/one.log"
	wait_meter "$WORK/one.log"
	echo $(( $(now_ms) - t0 )) >>"$WORK/one.wall"
done
kafka_stop
STARTUP_MS=$(median <"$WORK/one.wall")
say "   bandsplit-meter replaying 1 packet (start-up + shut-down): median wall $STARTUP_MS ms ($(tr '\n' ' ' <"$WORK/one.wall"))"

: >"$WORK/replay.wall"
for src in file stdin; do
	: >"$WORK/replay.$src.pps_log"; : >"$WORK/replay.$src.pps_wall"
done
for r in $(seq "$REPLAYS"); do
	for src in file stdin; do
		kafka_start "$WORK/kafka" 64 >/dev/null
		rm -rf "$WORK/spool"; mkdir -p "$WORK/spool"
		write_conf "$WORK/replay.conf" "$WORK/park.map" "$WORK/spool"
		t0=$(now_ms)
		start_meter "$WORK/replay.pcap" "$WORK/replay.conf" "$WORK/replay.log" $src
		wait_meter "$WORK/replay.log"
		wall=$(( $(now_ms) - t0 ))
		got=$(done_packets "$WORK/replay.log")
		[ "$got" = "$REPLAY_PACKETS" ] || die "replay $r ($src): the meter counted $got packets of $REPLAY_PACKETS"
		[ "$r" -eq 1 ] && check_totals "$WORK/replay.truth" 6
		kafka_stop
		# launch → "done" (every record acknowledged), less the end-of-capture wait
		t_launch=$(log_ms "$WORK/replay.log" ' workers, interval ')
		t_done=$(log_ms "$WORK/replay.log" ' done: ')
		span=$(( t_done - t_launch - EOF_IDLE_MS ))
		[ $src = stdin ] && echo "$wall" >>"$WORK/replay.wall"
		awk -v n="$REPLAY_PACKETS" -v ms="$span" 'BEGIN { printf "%.2f\n", n / ms / 1e3 }' >>"$WORK/replay.$src.pps_log"
		awk -v n="$REPLAY_PACKETS" -v ms="$((wall - STARTUP_MS))" 'BEGIN { printf "%.2f\n", n / ms / 1e3 }' >>"$WORK/replay.$src.pps_wall"
		echo "   run $r, $src: wall $wall ms, launch → last ack $((t_done - t_launch)) ms (incl. ${EOF_IDLE_MS} ms end-of-capture idle); $(grep -m1 -o 'worker lcore [0-9]*: .*' "$WORK/replay.log" || true)"
	done
done
say "   records: totals per (tenant, pool, direction) = the generator's truth (both sources); bandsplit-usage --check ok"
for src in file stdin; do
	how=$(source_name $src)
	say "   bandsplit-meter, $how, first packet → last record acknowledged (log, less eof_idle): median $(median <"$WORK/replay.$src.pps_log") Mpps ($(tr '\n' ' ' <"$WORK/replay.$src.pps_log"))"
	say "   bandsplit-meter, $how, (wall − 1-packet wall): median $(median <"$WORK/replay.$src.pps_wall") Mpps"
done
say "   whole process wall (rx_pcap=-) median $(median <"$WORK/replay.wall") ms"

fi

# ---- 4. hot reload -------------------------------------------------------------
if want 4; then
say "## 4. hot reload of the 100k-prefix map mid-replay ($RELOAD_PACKETS packets)"
"$GEN" --out "$WORK/long.pcap" --reuse-map "$WORK/park.map" --truth "$WORK/long.truth" \
	--truth-by tenant --packets "$RELOAD_PACKETS" --size-mix 64 --v4-share 60 --duration 200 >/dev/null
sed 's/^version 1$/version 2/' "$WORK/park.map" >"$WORK/park.v2.map"
grep -q '^version 2$' "$WORK/park.v2.map" || die "map v2: no version line"
cp "$WORK/park.map" "$WORK/live.map"
kafka_start "$WORK/kafka" 64 >/dev/null
rm -rf "$WORK/spool"; mkdir -p "$WORK/spool"
write_conf "$WORK/reload.conf" "$WORK/live.map" "$WORK/spool"
start_meter "$WORK/long.pcap" "$WORK/reload.conf" "$WORK/reload.log"
for _ in $(seq 200); do
	grep -q ' workers, interval ' "$WORK/reload.log" && break
	kill -0 "$METER_PID" 2>/dev/null || break
	sleep 0.05
done
grep -q ' workers, interval ' "$WORK/reload.log" || die "the meter did not start (see $WORK/reload.log)"
sleep 0.5
cp "$WORK/park.v2.map" "$WORK/live.map.tmp" && mv "$WORK/live.map.tmp" "$WORK/live.map"
kill -HUP "$METER_PID"
wait_meter "$WORK/reload.log"
reload_line=$(grep -m1 'prefix map version 2 in force' "$WORK/reload.log") ||
	die "no reload in the log (see $WORK/reload.log)"
build_ms=$(echo "$reload_line" | sed -E 's/.*built and swapped in ([0-9.]+) ms.*/\1/')
got=$(done_packets "$WORK/reload.log")
v1=$(grep -c 'closed: .* map version 1$' "$WORK/reload.log" || true)
v2=$(grep -c 'closed: .* map version 2$' "$WORK/reload.log" || true)
if [ "$v1" -eq 0 ] || [ "$v2" -eq 0 ]; then
	die "the reload was not mid-replay: intervals under version 1: $v1, version 2: $v2"
fi
intervals=$(grep -c ' closed: ' "$WORK/reload.log")
check_totals "$WORK/long.truth" "$intervals"
kafka_stop
t_launch=$(log_ms "$WORK/reload.log" ' workers, interval ')
t_done=$(log_ms "$WORK/reload.log" ' done: ')
say "   built and swapped in $build_ms ms (meter log); intervals closed under map v1: $v1, under v2: $v2"
say "   packets counted $got of $RELOAD_PACKETS (lost: $((RELOAD_PACKETS - got))); records' totals = the generator's truth"
say "   replay rate with the reload: $(awk -v n="$RELOAD_PACKETS" -v ms="$((t_done - t_launch - EOF_IDLE_MS))" 'BEGIN { printf "%.2f", n / ms / 1e3 }') Mpps (first packet → last ack)"
[ "$got" = "$RELOAD_PACKETS" ] || die "packets lost during the reload"
fi

echo
echo "== summary"
cat "$RESULTS"
