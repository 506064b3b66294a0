#!/usr/bin/env bash
# test_settle_basic.sh — bandsplit migrate and bandsplit-settle on a real
# PostgreSQL and the embedded Kafka:
#   - migrations: applied once, a re-run is a no-op, a database ahead of the
#     code is refused by migrate and by the consumer;
#   - 200,000 usage records salted with 1% malformed messages: every valid
#     record settles exactly (per tenant, pool, direction, 5-minute bucket),
#     every malformed one lands in the DLQ with the right reason header and
#     in rejected_records;
#   - the whole stream produced again (the dataplane re-sending its spool):
#     nothing changes, every record counted as a duplicate;
#   - completeness: no gaps, then a stream with one record left out shows
#     its sequence gap and count mismatch in `bandsplit gaps` and in the
#     metrics;
#   - v2 summaries' late and malformed-reason counts stored (v1 still
#     accepted, NULL there), shown by `bandsplit gaps`;
#   - a stored offset Kafka does not hold stops that partition loudly.
source "$(dirname "$0")/settle_lib.sh"

start_db
start_kafka 64

# ---- migrations ------------------------------------------------------------
pg_migrate "$CLI" >"$T/migrate2.log" 2>&1 || fail "migrate re-run"
grep -q "schema up to date" "$T/migrate2.log" || fail "migrate re-run applied something"
ok "migrate re-run is a no-op"
before=$(q "SELECT count(*) FROM schema_migrations")
q "INSERT INTO schema_migrations VALUES (999, '0999_from_the_future', repeat('0', 64))" >/dev/null
rc=0; pg_migrate "$CLI" >"$T/migrate3.log" 2>&1 || rc=$?
expect_eq "migrate refuses a database ahead of the code (exit 1)" 1 "$rc"
rc=0; timeout 30 "$SETTLE" --set "postgres.conninfo=$BS_DB_SETTLE" --set "kafka.bootstrap_file=$T/boot" \
	--set settle.metrics_listen= >"$T/settle-refused.log" 2>&1 || rc=$?
expect_eq "bandsplit-settle refuses it too (exit 1)" 1 "$rc"
q "DELETE FROM schema_migrations WHERE version = 999" >/dev/null
expect_eq "nothing else changed" "$before" "$(q "SELECT count(*) FROM schema_migrations")"

# ---- 200k records, 1% malformed ----------------------------------------------
produce --records 200000 --seed 11 --malformed-permille 10 --rejects "$T/rejects.txt"
start=$(awk '/^produced/ { print $NF; exit }' "$T/produce.log")
malformed=$(wc -l <"$T/rejects.txt")
(( malformed > 1500 )) || fail "the producer salted only $malformed malformed messages"
drain first
assert_exact

expected=$(sort "$T/rejects.txt" | uniq -c | awk '{ print $2, $1 }')
got=$(q "SELECT reason || ' ' || count(*) FROM rejected_records GROUP BY reason ORDER BY reason")
expect_eq "rejected_records by reason" "$expected" "$got"

kcat -C -b "$BROKERS" -t bandsplit.usage.dlq -e -q -f '%h\n' >"$T/dlq.txt" 2>"$T/kcat.log" ||
	fail "reading the DLQ"
got=$(grep -o 'bandsplit-reject-reason=[a-z_]*' "$T/dlq.txt" | sed 's/.*=//' | sort | uniq -c |
	awk '{ print $2, $1 }')
expect_eq "DLQ messages by reason header" "$expected" "$got"
expect_eq "every DLQ message names its source offset" "$malformed" \
	"$(grep -c 'bandsplit-source-offset=[0-9]' "$T/dlq.txt")"

# ---- the same stream again: all duplicates ----------------------------------
produce_again --records 200000 --seed 11 --start "$start"
drain replay
assert_exact
expect_eq "replay: every usage record a duplicate" 200000 \
	"$(jq .usage_duplicate "$T/stats-replay.json")"
expect_eq "replay: no usage row inserted" 0 "$(jq .usage_inserted "$T/stats-replay.json")"

# ---- duplicates and new records mixed in the same batches -------------------
produce_again --records 200000 --seed 11 --start "$start" &
again=$!
produce --records 50000 --seed 13 --nodes 2
wait "$again" || fail "the producer failed"
drain mixed
assert_exact
expect_eq "mixed: the new usage records inserted" 50000 "$(jq .usage_inserted "$T/stats-mixed.json")"
expect_eq "mixed: the replayed ones skipped" 200000 "$(jq .usage_duplicate "$T/stats-mixed.json")"

# ---- completeness ------------------------------------------------------------
"$CLI" gaps --from 2000-01-01 --to 2100-01-01 --fail-if-any >"$T/gaps0.txt" ||
	fail "gaps found in a complete stream: $(cat "$T/gaps0.txt")"
ok "no gaps in a complete stream"

produce --records 1000 --seed 12 --nodes 1 --per-node 20 --skip 55
drain gappy
assert_exact
"$CLI" gaps --from 2000-01-01 --to 2100-01-01 --json >"$T/gaps.json" || fail "bandsplit gaps"
expect_eq "gaps: one sequence gap and one count mismatch" "count_mismatch seq_gap" \
	"$(jq -r '[.gaps[].kind] | sort | join(" ")' "$T/gaps.json")"
expect_eq "gaps: the missing seq" "58..58" \
	"$(jq -r '.gaps[] | select(.kind == "seq_gap") | "\(.seq_from)..\(.seq_to)"' "$T/gaps.json")"
rc=0; "$CLI" gaps --from 2000-01-01 --to 2100-01-01 --fail-if-any >/dev/null || rc=$?
expect_eq "gaps --fail-if-any exits 1" 1 "$rc"
rc=0; "$CLI" gaps --from yesterday-ish --to 2100-01-01 >/dev/null 2>&1 || rc=$?
expect_eq "gaps with a bad time exits 2" 2 "$rc"

start_settle metrics --set settle.gap_check_s=1
for _ in $(seq 50); do
	grep -q "metrics on" "$T/settle-metrics.log" 2>/dev/null && break
	sleep 0.2
done
url=$(metrics_url metrics)
lag0='bandsplit_settle_consumer_lag{group="bandsplit-settle",partition="0"} 0'
for _ in $(seq 100); do
	curl -fsS "$url" >"$T/metrics.txt" 2>/dev/null &&
		grep -q 'bandsplit_settle_gaps{kind="seq_gap"} 1' "$T/metrics.txt" &&
		grep -qF "$lag0" "$T/metrics.txt" && break
	sleep 0.2
done
grep -q 'bandsplit_settle_gaps{kind="seq_gap"} 1' "$T/metrics.txt" || fail "gap metric: $(grep gaps "$T/metrics.txt")"
grep -q 'bandsplit_settle_gaps{kind="count_mismatch"} 1' "$T/metrics.txt" || fail "mismatch metric"
grep -q '^bandsplit_settle_db_up 1' "$T/metrics.txt" || fail "db_up metric"
grep -qF "$lag0" "$T/metrics.txt" ||
	fail "lag metric: $(grep lag "$T/metrics.txt" | head -3)"
ok "metrics: gaps, db_up, lag"
stop_settle metrics
ok "SIGTERM: exit 0"

# ---- v2 summaries: late packets and malformed reasons kept ------------------
# A v2 summary's late and per-reason malformed counts land in node_interval;
# a v1 summary (an older meter) is still accepted, with those columns NULL;
# a v2 summary whose reasons do not add up to malformed_packets is refused
# (range). `bandsplit gaps` shows what the range metered without billing it.
v2_at=$(( ($(date +%s) - 20 * 86400) / 10 * 10 ))   # before every stream above
v2_head() { # SCHEMA BOOT SEQ
	printf '{"schema":"bandsplit.usage.%s","type":"summary","node_id":"dp-v2","boot_id":"%s","seq":%s,"interval_start":%s,"interval_len":10,"byte_measure":"frame","map_version":1,"record_count":0,"first_seq":0,"in_packets":0,"in_bytes":0,"out_packets":0,"out_bytes":0,"unattributed_packets":0,"unattributed_bytes":0,"malformed_packets":%s,"malformed_bytes":%s,"non_ip_packets":0,"non_ip_bytes":0,"rx_packets":40,"rx_bytes":9000' \
		"$1" "$2" "$3" "$v2_at" "$4" "$5"
}
{
	printf 'node:dp-v2\t%s,"late_packets":5,"late_bytes":700,"malformed_short_ether":1,"malformed_too_many_tags":0,"malformed_short_ip":0,"malformed_bad_version":0,"malformed_bad_ihl":0,"malformed_bad_length":2}\n' \
		"$(v2_head v2 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1 1 3 180)"
	printf 'node:dp-v2\t%s}\n' "$(v2_head v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2 1 4 240)"
	printf 'node:dp-v2\t%s,"late_packets":0,"late_bytes":0,"malformed_short_ether":1,"malformed_too_many_tags":0,"malformed_short_ip":0,"malformed_bad_version":0,"malformed_bad_ihl":0,"malformed_bad_length":1}\n' \
		"$(v2_head v2 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3 1 3 180)"
} | kcat -P -b "$BROKERS" -t bandsplit.usage.v1 -K $'\t' 2>"$T/kcat-v2.log" || fail "producing v2 summaries"
drain v2
expect_eq "v2 summary: late and malformed reasons stored" "5|700|1|0|0|0|0|2" \
	"$(q "SELECT concat_ws('|', late_packets, late_bytes, malformed_short_ether, malformed_too_many_tags,
		malformed_short_ip, malformed_bad_version, malformed_bad_ihl, malformed_bad_length)
		FROM node_interval WHERE node_id = 'dp-v2' AND boot_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaa1'")"
expect_eq "v1 summary: accepted, its v2 columns NULL" "4|8" \
	"$(q "SELECT malformed_packets || '|' || num_nulls(late_packets, late_bytes, malformed_short_ether,
		malformed_too_many_tags, malformed_short_ip, malformed_bad_version, malformed_bad_ihl,
		malformed_bad_length) FROM node_interval WHERE boot_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaa2'")"
expect_eq "v2 summary whose reasons do not add up: refused (range)" "range|0" \
	"$(q "SELECT (SELECT string_agg(reason, ',') FROM rejected_records WHERE payload_bytes > 0
		AND convert_from(payload, 'UTF8') LIKE '%aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3%') || '|' ||
		(SELECT count(*) FROM node_interval WHERE boot_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaa3')")"
rc=0; q "UPDATE node_interval SET malformed_short_ip = 1 WHERE boot_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaa1'" >/dev/null 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "node_interval took malformed reasons that do not add up"
rc=0; q "UPDATE node_interval SET late_packets = 41 WHERE boot_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaa1'" \
	>/dev/null 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "node_interval took late_packets > rx_packets"
ok "node_interval: reasons must add up, late within rx (constraints)"
from=$(date -u -d "@$v2_at" +%Y-%m-%dT%H:%M:%SZ); to=$(date -u -d "@$((v2_at + 10))" +%Y-%m-%dT%H:%M:%SZ)
"$CLI" gaps --from "$from" --to "$to" --json >"$T/gaps-v2.json" || fail "bandsplit gaps (v2)"
expect_eq "gaps --json: what the range metered without billing it" "5 7 1 2 1" \
	"$(jq -r '.metered | "\(.late_packets) \(.malformed_packets) \(.malformed.short_ether) \(.malformed.bad_length) \(.summaries_without_reasons)"' "$T/gaps-v2.json")"
"$CLI" gaps --from "$from" --to "$to" >"$T/gaps-v2.txt" || fail "bandsplit gaps (v2, text)"
grep -q "metered, not billed: 5 late packet(s), 7 malformed (short_ether 1, too_many_tags 0, short_ip 0, bad_version 0, bad_ihl 0, bad_length 2); 1 summaries (schema v1) do not say" \
	"$T/gaps-v2.txt" || fail "gaps text: $(cat "$T/gaps-v2.txt")"
ok "gaps shows late packets and malformed reasons"

# ---- Kafka no longer holds the stored offset ---------------------------------
# Retention overran a stopped consumer: one tenant's 40,000 records (13 MB)
# into its single partition (and the node's 20,000 summaries into another),
# more than the embedded Kafka keeps (5 MiB), so the oldest of them, which
# the database expects next, are gone.
produce_again --records 40000 --seed 14 --nodes 1 --tenants 1 --pools 1 --per-node 2
rc=0
settle_args overrun
timeout 60 "$SETTLE" "${SETTLE_ARGS[@]}" --drain >"$T/settle-overrun.log" 2>&1 || rc=$?
expect_eq "drain after retention overran exits 1" 1 "$rc"
grep -q 'ALARM bandsplit.usage.v1 \[[0-9]*\]: PostgreSQL expects offset [0-9]* next, Kafka holds' \
	"$T/settle-overrun.log" || fail "no ALARM for the overrun partition"
expect_eq "the two overrun partitions stopped" 2 "$(grep -c 'ALARM' "$T/settle-overrun.log")"
ok "retention overrun: the partition is stopped loudly, nothing skipped"

q "UPDATE kafka_offsets SET next_offset = next_offset + 1000000 WHERE kafka_partition = 3" >/dev/null
rc=0
settle_args lost
timeout 60 "$SETTLE" "${SETTLE_ARGS[@]}" --drain >"$T/settle-lost.log" 2>&1 || rc=$?
expect_eq "drain with a lost offset exits 1" 1 "$rc"
grep -q 'ALARM bandsplit.usage.v1 \[3\].*STOPPED' "$T/settle-lost.log" || fail "no ALARM for partition 3"
ok "the partition is stopped loudly, never skipped"
echo "PASS"
