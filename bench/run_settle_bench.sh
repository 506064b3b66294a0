#!/usr/bin/env bash
# run_settle_bench.sh — the settlement's performance figures, end to end:
#   1. 1,000,000 usage records already in the embedded Kafka (256 partitions,
#      so that its ~5 MiB per-partition retention holds them all) settled by
#      bandsplit-settle into PostgreSQL — raw rows, 5-minute rollups, node
#      summaries, offsets — exactly once: records per second from the first
#      message fetched to the last commit;
#   2. the same 1,000,000 records replayed (stored offsets reset: every
#      record a duplicate): records per second;
#   3. in the same run, the baseline: one binary COPY of the same rows into
#      an unindexed table with usage_raw's columns (bench/settle_bench).
# Not a test: it measures. Exit 1 only if a run fails or a count is wrong.
#
#   usage: bench/run_settle_bench.sh BUILD_DIR
# Environment: BENCH_RECORDS (default 1000000), BENCH_PARTITIONS (256),
# BENCH_BATCH (records per transaction, default: the consumer's default),
# BENCH_SETTLE_ARGS (more bandsplit-settle options), BENCH_KEEP_LOGS (a path
# prefix: the consumer's logs are kept there), BENCH_PG_SETTINGS (server
# settings NAME=VALUE ..., applied with ALTER SYSTEM, e.g. wal_compression=lz4).
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
RECORDS=${BENCH_RECORDS:-1000000}
PARTITIONS=${BENCH_PARTITIONS:-256}
source "$SRC/tests/lib/pg.sh"
export BANDSPLIT_SQL_DIR=$SRC/schemas/sql

T=$(mktemp -d /tmp/bs-settle-bench.XXXXXX)
bs_at_exit "rm -rf $T"
fail() {
	echo "FAIL: $*" >&2
	for f in "$T"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
	exit 1
}

pg_start
if [[ -n ${BENCH_PG_SETTINGS:-} ]]; then
	for s in $BENCH_PG_SETTINGS; do PGUSER=root psql -X -q -c "ALTER SYSTEM SET ${s%%=*} = '${s#*=}'"; done
	PGUSER=root psql -X -q -c "SELECT pg_reload_conf()" >/dev/null
fi
pg_migrate "$BUILD/settlement/bandsplit" >"$T/migrate.log" 2>&1 || fail "migrate"
"$BUILD/tools/bandsplit-kafka" --partitions "$PARTITIONS" --bootstrap-file "$T/boot" \
	>"$T/kafka.log" 2>&1 &
kpid=$!
bs_at_exit "kill $kpid"
for _ in $(seq 100); do [[ -s $T/boot ]] && break; sleep 0.1; done

# every node reports every (tenant, pool, direction) every interval, as a
# dataplane with busy tenants does: 500 tenants x 2 directions, 4 nodes, 10 s
GEN=(--records "$RECORDS" --seed 7 --tenants 500 --pools 1 --nodes 4 --per-node 1000)
"$BUILD/tests/integration/produce_usage" --bootstrap-file "$T/boot" "${GEN[@]}" \
	>"$T/produce.log" 2>&1 || fail "produce"
start=$(awk '/^produced/ { print $NF }' "$T/produce.log")
messages=$(awk '/^produced/ { print $2 + $4 }' "$T/produce.log")
echo "in Kafka: $messages messages ($RECORDS usage records + summaries), $PARTITIONS partitions"

settle() { # NAME
	local extra=()
	[[ -n ${BENCH_BATCH:-} ]] && extra+=(--set "settle.batch_records=$BENCH_BATCH")
	"$BUILD/settlement/bandsplit-settle" --set "postgres.conninfo=$BS_DB_SETTLE" --set "kafka.bootstrap_file=$T/boot" \
		--set settle.metrics_listen= --set settle.gap_check_s=0 \
		--set kafka.session.timeout.ms=6000 "${extra[@]}" \
		${BENCH_SETTLE_ARGS:-} --drain --stats "$T/$1.json" >"$T/$1.log" 2>&1 || fail "bandsplit-settle ($1)"
	if [[ -n ${BENCH_KEEP_LOGS:-} ]]; then
		cp "$T/$1.log" "$BENCH_KEEP_LOGS.$1.log"
	fi
}

PGUSER=root psql -X -q -c CHECKPOINT
settle first
rows=$(psql -XAt -c "SELECT count(*) FROM usage_raw")
[[ $rows == "$RECORDS" ]] || fail "usage_raw holds $rows rows, expected $RECORDS"
dups=$(psql -XAt -c "SELECT count(*) FROM (SELECT 1 FROM usage_raw GROUP BY node_id, boot_id,
	interval_start, tenant_id, pool_id, direction HAVING count(*) > 1) d")
[[ $dups == 0 ]] || fail "$dups duplicate identities"
rolled=$(psql -XAt -c "SELECT sum(records) FROM usage_5m")
[[ $rolled == "$RECORDS" ]] || fail "the rollups count $rolled records"

psql -X -q -c "UPDATE kafka_offsets SET next_offset = NULL"
PGUSER=root psql -X -q -c CHECKPOINT
settle replay
[[ $(jq .usage_duplicate "$T/replay.json") == "$RECORDS" ]] || fail "replay: not all duplicates"
rolled=$(psql -XAt -c "SELECT sum(records) FROM usage_5m")
[[ $rolled == "$RECORDS" ]] || fail "replay changed the rollups ($rolled)"

PGUSER=root psql -X -q -c CHECKPOINT
copy=$("$BUILD/bench/settle_bench" "${GEN[@]}" --start "$start") || fail "settle_bench"
[[ $(awk '{ print $2 }' <<<"$copy") == "$RECORDS" ]] || fail "COPY rows: $copy"

first=$(jq .records_per_second "$T/first.json")
replay=$(jq .records_per_second "$T/replay.json")
copy_rate=$(awk '{ print $6 }' <<<"$copy")
printf '%-58s %12s\n' "figure" "records/s"
printf '%-58s %12.0f   (%s s, %s batches)\n' "1. settle, first pass (exactly once, rollups, offsets)" \
	"$first" "$(jq .seconds "$T/first.json")" "$(jq .batches "$T/first.json")"
printf '%-58s %12.0f   (%s s)\n' "2. settle, replay (all duplicates)" "$replay" \
	"$(jq .seconds "$T/replay.json")"
printf '%-58s %12.0f   (%s s)\n' "3. baseline: binary COPY into an unindexed table" "$copy_rate" \
	"$(awk '{ print $4 }' <<<"$copy")"
awk -v f="$first" -v r="$replay" -v c="$copy_rate" 'BEGIN {
	printf "first pass / COPY = %.1f%%   replay / first pass = %.2fx\n", 100 * f / c, r / f }'
