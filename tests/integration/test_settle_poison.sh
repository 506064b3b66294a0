#!/usr/bin/env bash
# test_settle_poison.sh — a poison message and the DLQ, exactly once
# (issue 10, item 1):
#   a 1 MiB message in the middle of a stream salted with malformed ones,
#   settled through kill -9 of bandsplit-settle and a PostgreSQL crash
#   restart (every batch in flight rolled back and read again). Then:
#   - everything after the poison settled (the stored offsets reach the
#     end) and the usage is exact;
#   - rejected_records holds the poison: reason too_large, the first 64 KiB
#     of it, its length and its SHA-256;
#   - the DLQ holds exactly one message per rejected record (key
#     topic/partition/offset), the poison's truncated to 64 KiB with its
#     length, digest and "truncated" in headers — also for the round of
#     DLQ messages whose instance died after the DLQ acknowledged them and
#     before PostgreSQL recorded it (test hook BANDSPLIT_SETTLE_DLQ_CRASH).
# What this proves does not rest on what the embedded Kafka (librdkafka's
# mock cluster) cannot do: the retries here are bandsplit-settle's own
# (batches rolled back and read again, restarts); no produce request of the
# DLQ producer is made to fail, so the mock's lack of idempotent sequence
# checks is never relied on.
source "$(dirname "$0")/settle_lib.sh"

start_db
start_kafka 8

POISON_BYTES=1048576
# poison: one JSON-looking message of POISON_BYTES bytes
python3 -c "import sys; sys.stdout.write('{\"pad\":\"' + 'x' * ($POISON_BYTES - 10) + '\"}')" >"$T/poison"
[[ $(stat -c %s "$T/poison") == "$POISON_BYTES" ]] || fail "poison size"
POISON_SHA=$(sha256sum "$T/poison" | cut -d' ' -f1)

produce --records 60000 --seed 41 --rate 15000 --malformed-permille 3 --rejects "$T/rejects.txt" &
producer=$!
# the first instance dies right after the DLQ acknowledged its first round
# and before PostgreSQL recorded it (test hook): the next one must find
# those messages in the DLQ instead of producing them again
BANDSPLIT_SETTLE_DLQ_CRASH=1 start_settle p0 --set settle.batch_records=2000
for _ in $(seq 300); do
	kill -0 "${SETTLE_PID[p0]}" 2>/dev/null || break
	sleep 0.2
done
kill -0 "${SETTLE_PID[p0]}" 2>/dev/null && fail "the DLQ crash hook did not fire"
grep -q "BANDSPLIT_SETTLE_DLQ_CRASH: exiting after" "$T/settle-p0.log" ||
	fail "p0 did not die where the hook makes it"
ok "killed between the DLQ's acknowledgement and its confirmation"
start_settle p1 --set settle.batch_records=2000
sleep 1
# the poison, mid-stream, into partition 3
kcat -P -b "$BROKERS" -t bandsplit.usage.v1 -p 3 -k poison \
	-X message.max.bytes=2000000 "$T/poison" || fail "kcat: the poison"
ok "a $POISON_BYTES-byte message produced mid-stream"
sleep 1
kill -9 "${SETTLE_PID[p1]}"
ok "kill -9 mid-stream"
start_settle p2 --set settle.batch_records=2000
sleep 2
pg_restart_immediate || fail "PostgreSQL restart"
ok "PostgreSQL crash-restarted mid-stream"
sleep 2
kill -9 "${SETTLE_PID[p2]}"
start_settle p3 --set settle.batch_records=2000
wait "$producer" || fail "the producer failed"
total=$(( $(messages_produced) + 1 ))
wait_settled "$total" 120
stop_settle p3
drain final
expect_eq "stored offsets = every message (the poison and what follows it settled)" \
	"$total" "$(messages_settled)"
assert_exact

# ---- the poison in rejected_records ------------------------------------------
expect_eq "the poison: reason, kept bytes, length, digest" \
	"too_large|65536|$POISON_BYTES|$POISON_SHA" \
	"$(q "SELECT reason, length(payload), payload_bytes, encode(payload_sha256, 'hex')
	      FROM rejected_records WHERE kafka_key = 'poison'")"
malformed=$(wc -l <"$T/rejects.txt")
(( malformed > 50 )) || fail "only $malformed malformed messages produced"
expect_eq "rejected_records: the malformed messages and the poison" \
	"$(( malformed + 1 ))" "$(q "SELECT count(*) FROM rejected_records")"
expect_eq "rejected_records: every row published and confirmed" 0 \
	"$(q "SELECT count(*) FROM rejected_records WHERE dlq_sent_at IS NULL OR dlq_offset IS NULL")"

# ---- the DLQ: exactly one message per reject ----------------------------------
kcat -C -b "$BROKERS" -t bandsplit.usage.dlq -e -q -f '%k\n' >"$T/dlq-keys" 2>"$T/kcat.log" ||
	fail "kcat: reading the DLQ"
expect_eq "DLQ messages = rejected records" "$(( malformed + 1 ))" "$(wc -l <"$T/dlq-keys")"
expect_eq "DLQ: no key twice" 0 "$(sort "$T/dlq-keys" | uniq -d | wc -l)"
q "SELECT topic || '/' || kafka_partition || '/' || kafka_offset FROM rejected_records" |
	sort >"$T/rejected-keys"
sort "$T/dlq-keys" | diff - "$T/rejected-keys" >/dev/null ||
	fail "the DLQ's keys are not the rejected records'"
ok "the DLQ's keys are exactly the rejected records'"
poison_key=$(q "SELECT topic || '/' || kafka_partition || '/' || kafka_offset
                FROM rejected_records WHERE kafka_key = 'poison'")
kcat -C -b "$BROKERS" -t bandsplit.usage.dlq -e -q -f '%k %S %h\n' 2>>"$T/kcat.log" |
	grep "^$poison_key " >"$T/dlq-poison" || fail "the poison is not in the DLQ"
grep -q " 65536 " "$T/dlq-poison" || fail "the poison's DLQ payload is not 64 KiB: $(cut -c1-200 "$T/dlq-poison")"
for h in "bandsplit-reject-reason=too_large" "bandsplit-payload-bytes=$POISON_BYTES" \
	 "bandsplit-payload-sha256=$POISON_SHA" "bandsplit-payload-truncated=true" \
	 "bandsplit-source-key=poison"; do
	grep -q "$h" "$T/dlq-poison" || fail "the poison's DLQ message lacks header $h: $(cut -c1-300 "$T/dlq-poison")"
done
ok "the poison's DLQ message: truncated payload, length, digest"
echo PASS
