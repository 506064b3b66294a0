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
# ---- identity conflicts ---------------------------------------------------------
# recc NODE START TENANT POOL DIRECTION PACKETS BYTES: a usage record with
# the given counts
recc() {
	printf '%s\t{"schema":"bandsplit.usage.v1","type":"usage","node_id":"%s","boot_id":"%s","seq":%s,"interval_start":%s,"interval_len":10,"byte_measure":"frame","map_version":1,"tenant_id":%s,"pool_id":%s,"direction":"%s","packets":%s,"bytes":%s,"policed_packets":0,"policed_bytes":0}\n' \
		"$3" "$1" "$BOOT" "$(( $3 % 1000 ))" "$2" "$3" "$4" "$5" "$6" "$7"
}
# summ NODE START RECORDS IN_BYTES: a summary of the interval
summ() {
	printf 'node:%s\t{"schema":"bandsplit.usage.v1","type":"summary","node_id":"%s","boot_id":"%s","seq":%s,"interval_start":%s,"interval_len":10,"byte_measure":"frame","map_version":1,"record_count":%s,"first_seq":1,"in_packets":%s,"in_bytes":%s,"out_packets":0,"out_bytes":0,"unattributed_packets":0,"unattributed_bytes":0,"malformed_packets":0,"malformed_bytes":0,"non_ip_packets":0,"non_ip_bytes":0,"rx_packets":%s,"rx_bytes":%s}\n' \
		"$1" "$1" "$BOOT" 5000 "$2" "$3" "$3" "$4" "$3" "$4"
}
rows_before=$(q "SELECT count(*) || '/' || sum(packets) || '/' || sum(bytes) FROM usage_raw")
T1=$(( T0 + 600 ))
{
	summ node-c "$T1" 2 5000            # a summary, stored first
} | kafka_produce
drain summary
{
	rec node-a "$T0" 1 1 in                  # first: stored (the fast path)
	recc node-a "$T0" 5 1 in 99999 9999900   # tenant 5 in: stored with 5 / 500
	rec node-a "$T0" 6 1 in                  # a copy
} | kafka_produce
drain conflict1
{
	recc node-c "$T1" 1 1 in 10 1000         # new: the COPY path ...
	recc node-a "$T0" 7 1 in 7 700000        # ... tenant 7 in: stored with 7 / 700
	recc node-c "$T1" 2 1 in 10 1000         # new
	recc node-c "$T1" 2 1 in 11 1100         # the same identity again, other counts
	summ node-c "$T1" 3 7000                 # the summary again, other counts
	summ node-d "$T1" 1 100                  # a new summary ...
	summ node-d "$T1" 1 200                  # ... twice in the batch, other counts
} | kafka_produce
drain conflict2
expect_eq "conflicts: the stored rows unchanged, two new" \
	"$(( ${rows_before%%/*} + 2 ))" "$(q "SELECT count(*) FROM usage_raw")"
expect_eq "conflicts: tenant 5 and 7 keep their stored counts" "5/500 7/700" \
	"$(q "SELECT string_agg(packets || '/' || bytes, ' ' ORDER BY tenant_id) FROM usage_raw
	      WHERE node_id = 'node-a' AND interval_start = to_timestamp($T0) AND pool_id = 1
	        AND direction = 'in' AND tenant_id IN (5, 7)")"
expect_eq "conflicts: node-c tenant 2 keeps the first copy" "10/1000" \
	"$(q "SELECT packets || '/' || bytes FROM usage_raw WHERE node_id = 'node-c' AND tenant_id = 2")"
expect_eq "conflicts: five in rejected_records, with both values" \
	"5:5:99999|7:7:7|c2:10:11|summary:1:1|summary:2:3" \
	"$(q "SELECT string_agg(x, '|' ORDER BY x) FROM (
	        SELECT CASE WHEN conflict->'stored' ? 'record_count'
	                 THEN 'summary:' || (conflict->'stored'->>'record_count') || ':' ||
	                      (conflict->'received'->>'record_count')
	                 WHEN conflict->'stored'->>'node_id' = 'node-c'
	                 THEN 'c' || (conflict->'received'->>'tenant_id') || ':' ||
	                      (conflict->'stored'->>'packets') || ':' || (conflict->'received'->>'packets')
	                 ELSE (conflict->'received'->>'tenant_id') || ':' ||
	                      (conflict->'stored'->>'packets') || ':' || (conflict->'received'->>'packets')
	               END AS x
	          FROM rejected_records WHERE reason = 'identity_conflict') c")"
expect_eq "conflicts: each names its Kafka offset, with a digest of its payload" 5 \
	"$(q "SELECT count(DISTINCT kafka_offset) FROM rejected_records WHERE reason = 'identity_conflict'
	      AND payload_sha256 = sha256(payload) AND payload_bytes = length(payload)")"
grep -q "ALARM.*identity conflict" "$T/settle-conflict1.log" || fail "no ALARM for the fast-path conflict"
grep -q "ALARM.*identity conflict" "$T/settle-conflict2.log" || fail "no ALARM for the COPY-path conflicts"
ok "an ALARM line for each"
"$CLI" gaps --from "$(date -u -d "@$(( T0 - 3600 ))" +%Y-%m-%dT%H:%M:%SZ)" \
	--to "$(date -u -d "@$(( T1 + 3600 ))" +%Y-%m-%dT%H:%M:%SZ)" >"$T/gaps.txt" 2>&1 ||
	fail "bandsplit gaps: $(cat "$T/gaps.txt")"
expect_eq "bandsplit gaps lists the five conflicts" 5 "$(grep -c '^identity_conflict' "$T/gaps.txt")"
expect_eq "node-d keeps its first summary" 100 \
	"$(q "SELECT in_bytes FROM node_interval WHERE node_id = 'node-d'")"
rc=0
"$CLI" gaps --fail-if-any --from "$(date -u -d "@$(( T1 - 60 ))" +%Y-%m-%dT%H:%M:%SZ)" \
	--to "$(date -u -d "@$(( T1 + 60 ))" +%Y-%m-%dT%H:%M:%SZ)" >/dev/null 2>&1 || rc=$?
expect_eq "bandsplit gaps --fail-if-any: exit 1 on a conflict" 1 "$rc"
# replayed once more: nothing new, no second reject
kafka_produce <<<"$(recc node-a "$T0" 5 1 in 99999 9999900)"
drain conflict3
expect_eq "the same conflicting message again (another offset): one more reject" 6 \
	"$(q "SELECT count(*) FROM rejected_records WHERE reason = 'identity_conflict'")"
echo PASS
