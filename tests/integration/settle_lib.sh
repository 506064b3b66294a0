# settle_lib.sh — sourced by the settlement integration tests
# (test_settle_*.sh): a private PostgreSQL (tests/lib/pg.sh), the embedded
# Kafka (bandsplit-kafka), the test producer with its ground truth, and the
# assertions every test makes: every record the producer sent stored as one
# raw row with its own identity, seq and counts (no record lost, altered or
# stored twice: a multiset comparison, which the UNIQUE key alone does not
# give), exact per-(tenant, pool, direction, 5-minute bucket) totals against
# the truth, and the rollups equal to the raw rows.
#
# Environment: BUILD (the build dir), SRC (the source dir); set by meson.
# Exit 77 = skipped.

set -euo pipefail
: "${BUILD:?BUILD must name the build directory}" "${SRC:?SRC must name the source directory}"

source "$SRC/tests/lib/pg.sh"

KAFKA=$BUILD/tools/bandsplit-kafka
SETTLE=$BUILD/settlement/bandsplit-settle
CLI=$BUILD/settlement/bandsplit
PRODUCE=$BUILD/tests/integration/produce_usage
export BANDSPLIT_SQL_DIR=$SRC/schemas/sql

for tool in socat kcat curl; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
for exe in "$KAFKA" "$SETTLE" "$CLI" "$PRODUCE"; do
	[[ -x $exe ]] || { echo "FAIL: $exe not built"; exit 1; }
done

T=$(mktemp -d /tmp/bs-settle-test.XXXXXX)
bs_at_exit "rm -rf $T"
: >"$T/truth.csv"

fail() {
	echo "FAIL: $*"
	for f in "$T"/*.log; do
		[[ -f $f ]] && { echo "--- $f"; tail -n 40 "$f"; }
	done
	exit 1
}

ok() { echo "ok: $*"; }

expect_eq() { # NAME EXPECTED ACTUAL
	[[ $2 == "$3" ]] || fail "$1: expected '$2', got '$3'"
	ok "$1"
}

q() { pg_psql -At -c "$1"; }

start_kafka() { # PARTITIONS
	"$KAFKA" --partitions "${1:-16}" --bootstrap-file "$T/boot" \
		--control "$T/ctl" >"$T/kafka.log" 2>&1 &
	KAFKA_PID=$!
	bs_at_exit "kill $KAFKA_PID; wait $KAFKA_PID"
	for _ in $(seq 100); do
		[[ -s $T/boot ]] && break
		sleep 0.1
	done
	[[ -s $T/boot ]] || fail "bandsplit-kafka did not start"
	BROKERS=$(cat "$T/boot")
}

kafka_ctl() { # COMMAND...
	local reply
	reply=$(echo "$*" | socat -t 5 - "UNIX-CONNECT:$T/ctl")
	[[ $reply == ok* ]] || fail "kafka control '$*': $reply"
}

start_db() {
	pg_start || fail "PostgreSQL did not start"
	pg_migrate "$CLI" >"$T/migrate.log" 2>&1 || fail "bandsplit migrate"
}

SETTLE_ARGS=()
settle_args() { # NAME -> SETTLE_ARGS for an instance
	SETTLE_ARGS=(--set "postgres.conninfo=$BS_DB_SETTLE"
		--set "kafka.bootstrap_file=$T/boot"
		--set settle.metrics_listen=127.0.0.1:0
		--set settle.gap_check_s=0
		--set settle.late_after_s=31536000
		--set settle.retry_max_s=2
		--set kafka.session.timeout.ms=6000
		--set kafka.heartbeat.interval.ms=500
		--stats "$T/stats-$1.json")
}

# start_settle NAME [ARGS...]: in the background; pid in SETTLE_PID[NAME]
declare -A SETTLE_PID
start_settle() {
	local name=$1
	shift
	settle_args "$name"
	"$SETTLE" "${SETTLE_ARGS[@]}" "$@" >>"$T/settle-$name.log" 2>&1 &
	SETTLE_PID[$name]=$!
	bs_at_exit "kill -9 ${SETTLE_PID[$name]} 2>/dev/null"
}

# stop_settle NAME: SIGTERM, expects exit 0
stop_settle() {
	local pid=${SETTLE_PID[$1]} rc=0
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	[[ $rc == 0 ]] || fail "bandsplit-settle $1 exited $rc after SIGTERM"
}

# drain NAME [ARGS...]: settles everything Kafka holds, expects exit 0
drain() {
	local name=$1 rc=0
	shift
	settle_args "$name"
	timeout 120 "$SETTLE" "${SETTLE_ARGS[@]}" --drain "$@" \
		>>"$T/settle-$name.log" 2>&1 || rc=$?
	[[ $rc == 0 ]] || fail "bandsplit-settle --drain ($name) exited $rc"
}

# produce [ARGS...]: the producer, its truth appended to $T/truth.csv
produce() {
	"$PRODUCE" --bootstrap-file "$T/boot" --truth "$T/truth.part" "$@" \
		>>"$T/produce.log" 2>&1 || fail "produce_usage $*"
	cat "$T/truth.part" >>"$T/truth.csv"
}

# produce_again [ARGS...]: the producer, records already in the truth
produce_again() {
	"$PRODUCE" --bootstrap-file "$T/boot" "$@" >>"$T/produce.log" 2>&1 ||
		fail "produce_usage $*"
}

# messages_settled: the sum of the stored next offsets
messages_settled() {
	q "SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets"
}

# wait_settled N TIMEOUT_S: until the stored offsets reach N messages
wait_settled() {
	local want=$1 until=$((SECONDS + $2))
	while (( $(messages_settled) < want )); do
		(( SECONDS < until )) || fail "only $(messages_settled) of $want messages settled after $2 s"
		sleep 0.5
	done
}

# messages_produced: from the producer's log lines
messages_produced() {
	awk '/^produced/ { n += $2 + $4 + $6 } END { print n + 0 }' "$T/produce.log"
}

# assert_exact: the settled usage equals the ground truth exactly
assert_exact() {
	pg_psql -q <<-EOF || fail "loading the truth"
		DROP TABLE IF EXISTS truth;
		CREATE TABLE truth (tenant_id bigint, pool_id bigint, direction text,
		  interval_start bigint, packets bigint, bytes bigint, pp bigint, pb bigint,
		  node_id text, boot_id uuid, seq bigint);
		\copy truth FROM '$T/truth.csv' WITH (FORMAT csv)
	EOF
	local got
	got=$(q "
	  WITH t AS (
	    SELECT tenant_id, pool_id, direction,
	           to_timestamp(interval_start / 300 * 300) AS b, sum(packets) AS p,
	           sum(bytes) AS y, sum(pp) AS pp, sum(pb) AS pb, count(*) AS n
	      FROM truth GROUP BY 1, 2, 3, 4),
	  r AS (
	    SELECT tenant_id, pool_id, direction, bucket_start AS b,
	           frame_packets::numeric AS p, frame_bytes::numeric AS y,
	           policed_packets::numeric AS pp, policed_bytes::numeric AS pb,
	           records AS n
	      FROM usage_5m),
	  raw AS (
	    SELECT tenant_id, pool_id, direction,
	           date_bin('300 seconds', interval_start, 'epoch') AS b,
	           sum(packets) AS p, sum(bytes) AS y, sum(policed_packets) AS pp,
	           sum(policed_bytes) AS pb, count(*) AS n
	      FROM usage_raw GROUP BY 1, 2, 3, 4),
	  sent AS (
	    SELECT node_id, boot_id, seq, to_timestamp(interval_start), tenant_id,
	           pool_id, direction, packets, bytes, pp, pb FROM truth),
	  stored AS (
	    SELECT node_id, boot_id, seq, interval_start, tenant_id, pool_id,
	           direction, packets, bytes, policed_packets, policed_bytes
	      FROM usage_raw)
	  SELECT concat_ws(' ',
	    (SELECT count(*) FROM (TABLE t EXCEPT TABLE r) x),
	    (SELECT count(*) FROM (TABLE r EXCEPT TABLE t) x),
	    (SELECT count(*) FROM (TABLE raw EXCEPT TABLE r) x),
	    (SELECT count(*) FROM usage_raw) - (SELECT count(*) FROM truth),
	    (SELECT count(*) FROM (TABLE sent EXCEPT ALL TABLE stored) x),
	    (SELECT count(*) FROM (TABLE stored EXCEPT ALL TABLE sent) x))")
	expect_eq "exact (truth-only buckets, rollup-only, rollup<>raw, raw-truth rows, records not stored, rows not sent)" \
		"0 0 0 0 0 0" "$got"
}

metrics_url() { # NAME: from the instance's log
	local port
	port=$(grep -o 'metrics on http://127.0.0.1:[0-9]*' "$T/settle-$1.log" | tail -1 | sed 's/.*://')
	[[ -n $port ]] || fail "no metrics endpoint in settle-$1.log"
	echo "http://127.0.0.1:$port/metrics"
}
