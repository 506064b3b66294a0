#!/usr/bin/env bash
# test_settle_identity.sh — a record is skipped as a duplicate only when its
# whole identity (node_id, boot_id, interval_start, tenant_id, pool_id,
# direction) is stored. A batch whose first record is stored goes through
# the replay's check by identity groups (settlement/settle/store.c); here
# such a batch also carries records that differ from a stored one in one
# identity field only, with the same seq and counts — each must be inserted
# — and exact copies, which must be skipped. Then the same messages again:
# every one a duplicate, nothing changes.
source "$(dirname "$0")/settle_lib.sh"

start_db
start_kafka 1

BOOT=3f2a9c1e5b7d48e0a1c2d3e4f5061728
T0=$(( $(date +%s) / 3600 * 3600 - 7200 ))

# rec NODE START TENANT POOL DIRECTION: one usage record (key TAB JSON); the
# same seq and counts for every variant of a tenant's record
rec() {
	printf '%s\t{"schema":"bandsplit.usage.v1","type":"usage","node_id":"%s","boot_id":"%s","seq":%s,"interval_start":%s,"interval_len":10,"byte_measure":"frame","map_version":1,"tenant_id":%s,"pool_id":%s,"direction":"%s","packets":%s,"bytes":%s,"policed_packets":0,"policed_bytes":0}\n' \
		"$3" "$1" "$BOOT" "$(( $3 % 1000 ))" "$2" "$3" "$4" "$5" "$(( $3 % 1000 ))" "$(( $3 % 1000 * 100 ))"
}
kafka_produce() {
	kcat -P -b "$BROKERS" -t bandsplit.usage.v1 -K $'\t' -X message.timeout.ms=60000 ||
		fail "kcat"
}

# ---- stored: tenants 1..40 of node-a, direction in ---------------------------
# (and the highest tenant and pool ids: their pair has the sign bit set)
{
	for t in $(seq 40); do rec node-a "$T0" "$t" 1 in; done
	rec node-a "$T0" 4294967295 4294967295 in
} >"$T/stored.tsv"
kafka_produce <"$T/stored.tsv"
drain stored
expect_eq "stored: 41 rows" 41 "$(q "SELECT count(*) FROM usage_raw")"

# ---- a batch led by a stored record: copies and one-field variants -----------
{
	rec node-a "$T0" 1 1 in                                  # first: stored
	for t in $(seq 40); do
		rec node-a "$T0" "$t" 1 in                       # a copy: skipped
		rec node-a "$T0" "$t" 1 out                      # direction
		rec node-b "$T0" "$t" 1 in                       # node_id, same boot_id
		rec node-a "$T0" "$t" 2 in                       # pool_id
		rec node-a "$(( T0 + 10 ))" "$t" 1 in            # interval_start
		rec node-a "$T0" "$(( t + 1000 ))" 1 in          # tenant_id
	done
	rec node-a "$T0" 4294967295 4294967295 in               # a copy
	rec node-a "$T0" 4294967295 4294967295 out              # direction
} >"$T/mixed.tsv"
kafka_produce <"$T/mixed.tsv"
drain mixed
expect_eq "mixed: every variant inserted" 201 "$(jq .usage_inserted "$T/stats-mixed.json")"
expect_eq "mixed: the copies skipped" 42 "$(jq .usage_duplicate "$T/stats-mixed.json")"
expect_eq "mixed: 242 rows" 242 "$(q "SELECT count(*) FROM usage_raw")"
# each stored row is one of the records sent, with that record's seq and
# counts, and every distinct record sent is stored
rows_sent() { cut -f2 "$T/stored.tsv" "$T/mixed.tsv" | jq -r '[.node_id, .boot_id, .seq,
	.interval_start, .tenant_id, .pool_id, .direction, .packets, .bytes] | @tsv' | sort -u; }
rows_stored() { q "SELECT node_id, replace(boot_id::text, '-', ''), seq,
	extract(epoch FROM interval_start)::bigint, tenant_id, pool_id, direction, packets, bytes
	FROM usage_raw" | tr '|' '\t' | sort; }
diff <(rows_sent) <(rows_stored) >"$T/rows.diff" || { head "$T/rows.diff"; fail "mixed: the stored rows are not the records sent"; }
ok "mixed: the stored rows are exactly the distinct records sent"
expect_eq "mixed: the rollups count every row once" 242 "$(q "SELECT sum(records) FROM usage_5m")"
grep -q "ERROR\|ALARM" "$T/settle-mixed.log" && fail "errors in the consumer's log"

# ---- the same messages again: all stored ------------------------------------
kafka_produce <"$T/mixed.tsv"
drain again
expect_eq "again: nothing inserted" 0 "$(jq .usage_inserted "$T/stats-again.json")"
expect_eq "again: every record a duplicate" 243 "$(jq .usage_duplicate "$T/stats-again.json")"
expect_eq "again: 242 rows" 242 "$(q "SELECT count(*) FROM usage_raw")"
expect_eq "again: the rollups unchanged" 242 "$(q "SELECT sum(records) FROM usage_5m")"
echo PASS
