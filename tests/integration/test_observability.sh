#!/usr/bin/env bash
# test_observability.sh — the park's observability end to end: the embedded
# Kafka, bandsplit-meter replaying a bandsplit-gen capture (net_pcap) with
# metrics_listen on, and bandsplit-settle against a real PostgreSQL
# (tests/lib/pg.sh), every program with --log-format json. Checks
# (observability_check.py): each /metrics is valid Prometheus text (every
# sample in a # TYPE'd family, no duplicate series, counters end in _total);
# the meter's received packets and bytes equal the capture's ground truth and
# its per-pool bytes and bytes/s those of the closed intervals; settle's pool
# capacity is the pool table's; every metric named by the Grafana dashboard
# and the alerting rules is one a program exported in this run (or one of
# the API lane's bandsplit_api_* names); the rules' structure (promtool
# check rules when promtool is installed); every stderr line of every
# program is one JSON object; a bad --log-format exits 2 naming the option.
#   usage: test_observability.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib/pg.sh"
CHECK="python3 $SRC/tests/integration/observability_check.py"
METER=$BUILD/dataplane/bandsplit-meter
SETTLE=$BUILD/settlement/bandsplit-settle
CLI=$BUILD/settlement/bandsplit
KAFKA=$BUILD/tools/bandsplit-kafka
GEN=$BUILD/tools/bandsplit-gen
USAGE=$BUILD/tools/bandsplit-usage
DASHBOARD=$SRC/contrib/grafana/bandsplit.json
RULES=$SRC/contrib/prometheus/bandsplit.rules.yml
export BANDSPLIT_SQL_DIR=$SRC/schemas/sql

for tool in curl socat; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml is not installed"; exit 77; }
for exe in "$METER" "$SETTLE" "$CLI" "$KAFKA" "$GEN" "$USAGE"; do
	[[ -x $exe ]] || { echo "FAIL: $exe not built"; exit 1; }
done

W=$(mktemp -d /tmp/bs-obs-test.XXXXXX)
bs_at_exit "rm -rf $W /var/run/dpdk/bsobs$$ 2>/dev/null"

fail() {
	echo "FAIL: $*"
	for f in "$W"/*.err; do
		[[ -f $f ]] && { echo "--- $f"; tail -n 20 "$f"; }
	done
	exit 1
}
ok() { echo "ok: $*"; }

# --- 1. a bad --log-format: exit 2, the option named -------------------------
for exe in "$METER" "$SETTLE" "$CLI" "$KAFKA" "$GEN" "$USAGE"; do
	rc=0
	"$exe" --log-format yaml >"$W/bad.out" 2>"$W/bad.err" || rc=$?
	[[ $rc == 2 ]] || fail "$(basename "$exe") --log-format yaml: exit $rc, not 2"
	grep -q -- '--log-format' "$W/bad.err" || fail "$(basename "$exe"): the error does not name --log-format: $(cat "$W/bad.err")"
done
rc=0   # the meter's own options come after the EAL's and "--"
"$METER" -l 0-1 --no-huge -- --config /nonexistent --log-format=xml 2>"$W/bad.err" || rc=$?
[[ $rc == 2 ]] && grep -q -- '--log-format' "$W/bad.err" || fail "bandsplit-meter -- --log-format=xml: exit $rc"
rc=0
"$GEN" --records --log-format xml 2>"$W/bad.err" || rc=$?
[[ $rc == 2 ]] || fail "bandsplit-gen --records --log-format xml: exit $rc"
for exe in "$METER" "$SETTLE" "$CLI" "$KAFKA" "$GEN" "$USAGE"; do
	"$exe" --help | grep -q -- '--log-format' || fail "$(basename "$exe") --help does not document --log-format"
done
ok "a bad --log-format exits 2 naming the option, on all six programs; each --help documents it"

# --- 2. PostgreSQL with a pool; Kafka; a capture ------------------------------
pg_start || fail "PostgreSQL did not start"
pg_migrate "$CLI" >"$W/migrate.log" 2>&1 || fail "bandsplit migrate: $(tail -5 "$W/migrate.log")"
CAPACITY_BPS=1000000000
"$CLI" --log-format json pool add --id 1 --carrier "Obs Telecom" --name obs-1 \
	--capacity 1G --p95-price 20 --commit-floor 300M --from 2026-01-01 \
	>"$W/cli.out" 2>"$W/cli.err" || fail "bandsplit pool add: $(cat "$W/cli.err")"
"$CLI" --log-format json --db "host=$W/nowhere" pool list >"$W/cli.out" 2>"$W/cli-fail.err" &&
	fail "bandsplit with no database succeeded"

"$KAFKA" --partitions 4 --bootstrap-file "$W/boot" --control "$W/ctl" \
	--log-format json >"$W/kafka.out" 2>"$W/kafka.err" &
KAFKA_PID=$!
bs_at_exit "kill -9 $KAFKA_PID 2>/dev/null"
for _ in $(seq 100); do [[ -s $W/boot ]] && break; sleep 0.1; done
[[ -s $W/boot ]] || fail "bandsplit-kafka did not start"
BROKERS=$(cat "$W/boot")

"$GEN" --out "$W/cap.pcap" --map "$W/map" --truth "$W/truth" --packets 40000 \
	--duration 40 --seed 11 --log-format json >"$W/gen.out" 2>"$W/gen.err" ||
	fail "bandsplit-gen: $(cat "$W/gen.err")"

# --- 3. the meter: the capture replayed, then idle (the last interval open) ----
cat >"$W/meter.conf" <<CONF
[meter]
node_id = obs-node
interval = 10
byte_measure = frame
clock = packet
exit_at_eof = false
prefix_map = $W/map
spool_dir = $W/spool
max_tenants = 1024
metrics_listen = 127.0.0.1:0
[kafka]
brokers = $BROKERS
[port net_pcap0]
role = upstream
pool = 1
CONF
"$METER" -l 0-1 --no-huge --no-pci -m 256 --file-prefix="bsobs$$" \
	--vdev="net_pcap0,rx_pcap=$W/cap.pcap" -- --config "$W/meter.conf" \
	--log-format json >"$W/meter.out" 2>"$W/meter.err" &
METER_PID=$!
bs_at_exit "kill -9 $METER_PID 2>/dev/null"

metrics_url() { # LOGFILE: the endpoint a program logged
	local hp
	hp=$(grep -o 'metrics on http://127.0.0.1:[0-9]*' "$1" | tail -1 | sed 's|.*http://||')
	[[ -n $hp ]] && echo "http://$hp/metrics"
}
scrape_until() { # URL OUT TIMEOUT_S PYTHON_CONDITION_ON_TEXT
	local until=$((SECONDS + $3))
	while ((SECONDS < until)); do
		if curl -sf "$1" -o "$2" && python3 -c "import sys; t = open('$2').read(); sys.exit(0 if ($4) else 1)"; then
			return 0
		fi
		sleep 0.3
	done
	return 1
}
for _ in $(seq 100); do METER_URL=$(metrics_url "$W/meter.err") && break; sleep 0.1; done
[[ -n ${METER_URL:-} ]] || fail "the meter logged no metrics endpoint"
# 40 s of capture in 10 s intervals: three close, the fourth stays open
scrape_until "$METER_URL" "$W/meter.prom" 30 \
	"'bandsplit_meter_intervals_closed_total 3' in t and 'bandsplit_meter_records_pending 0' in t" ||
	fail "the meter did not close 3 intervals and deliver them: $(grep -E 'closed_total|pending' "$W/meter.prom")"
$CHECK meter "$W/meter.prom" "$W/truth" || fail "meter figures"

# --- 4. the settlement ---------------------------------------------------------
"$SETTLE" --set "postgres.conninfo=$BS_DB_SETTLE" --set "kafka.bootstrap_file=$W/boot" \
	--set settle.metrics_listen=127.0.0.1:0 --set settle.gap_check_s=1 \
	--set settle.late_after_s=31536000 --log-format json \
	>"$W/settle.out" 2>"$W/settle.err" &
SETTLE_PID=$!
bs_at_exit "kill -9 $SETTLE_PID 2>/dev/null"
for _ in $(seq 100); do SETTLE_URL=$(metrics_url "$W/settle.err") && break; sleep 0.1; done
[[ -n ${SETTLE_URL:-} ]] || fail "bandsplit-settle logged no metrics endpoint"
ACKED=$(awk '$1 == "bandsplit_meter_records_acked_total" { print $2 }' "$W/meter.prom")
scrape_until "$SETTLE_URL" "$W/settle.prom" 30 \
	"'bandsplit_settle_pool_capacity_bytes_per_second{pool=\"1\"}' in t and 'bandsplit_settle_gaps{' in t and sum(float(l.split()[-1]) for l in t.splitlines() if l.startswith('bandsplit_settle_records_total{') and 'inserted' in l) >= $ACKED" ||
	fail "bandsplit-settle did not settle the meter's $ACKED records: $(grep records_total "$W/settle.prom")"
$CHECK settle "$W/settle.prom" "$W/meter.prom" "$CAPACITY_BPS" || fail "settle figures"

# bandsplit-usage reads the topic back, logging in JSON
"$USAGE" --brokers "$BROKERS" --idle-ms 500 --timeout-ms 20000 --log-format json \
	>"$W/usage.out" 2>"$W/usage.err" || fail "bandsplit-usage: $(tail -3 "$W/usage.err")"

# --- 5. the text format, the dashboard and the rules ---------------------------
$CHECK metrics "$W/meter.prom" "$W/settle.prom" || fail "text format"
$CHECK names "$DASHBOARD" "$RULES" "$W/meter.prom" "$W/settle.prom" || fail "dashboard and rules names"
$CHECK rules "$RULES" || fail "rules structure"
if command -v promtool >/dev/null; then
	promtool check rules "$RULES" || fail "promtool check rules"
	ok "promtool check rules"
else
	echo "SKIP: promtool check rules: promtool is not installed (Debian's prometheus package); the YAML structure was checked with python3-yaml"
fi

# --- 6. stop; every stderr line was a JSON object ------------------------------
kill -TERM "$METER_PID"
rc=0; wait "$METER_PID" || rc=$?
[[ $rc == 0 ]] || fail "bandsplit-meter exited $rc after SIGTERM"
kill -TERM "$SETTLE_PID"
rc=0; wait "$SETTLE_PID" || rc=$?
[[ $rc == 0 ]] || fail "bandsplit-settle exited $rc after SIGTERM"
printf 'quit\n' | socat -t 5 - "UNIX-CONNECT:$W/ctl" >/dev/null || true
rc=0; wait "$KAFKA_PID" || rc=$?
[[ $rc == 0 ]] || fail "bandsplit-kafka exited $rc"
grep -q '"msg":"dpdk: EAL: ' "$W/meter.err" || fail "DPDK's EAL lines are not in the meter's JSON log"
$CHECK jsonlog bandsplit-meter "$W/meter.err" --nonempty || fail "meter log"
$CHECK jsonlog bandsplit-settle "$W/settle.err" --nonempty || fail "settle log"
$CHECK jsonlog bandsplit-kafka "$W/kafka.err" --nonempty || fail "kafka log"
$CHECK jsonlog bandsplit-gen "$W/gen.err" || fail "gen log"
$CHECK jsonlog bandsplit-usage "$W/usage.err" || fail "usage log"
$CHECK jsonlog bandsplit "$W/cli.err" || fail "cli log"
$CHECK jsonlog bandsplit "$W/cli-fail.err" --nonempty || fail "cli error log"
ok "all passed"
