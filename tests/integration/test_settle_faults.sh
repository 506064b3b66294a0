#!/usr/bin/env bash
# test_settle_faults.sh — bandsplit-settle through infrastructure faults,
# each while records are being produced and settled:
#   1. PostgreSQL crash-restarted (pg_ctl restart -m immediate), then down
#      for a few seconds: the consumer pauses, retries with backoff and
#      resumes from the stored offsets;
#   2. Kafka request errors (Fetch, ListOffsets) and a broker down;
#   3. SIGTERM: the batch in flight commits or rolls back, exit 0.
# After each, everything settles exactly once.
source "$(dirname "$0")/settle_lib.sh"

start_db
start_kafka 64

# ---- PostgreSQL --------------------------------------------------------------
produce --records 200000 --seed 31 --rate 40000 &
producer=$!
start_settle pg --set settle.batch_records=5000
wait_settled 20000 60
pg_restart_immediate || fail "PostgreSQL restart"
ok "PostgreSQL crash-restarted mid-stream"
sleep 1
wait_settled 60000 60
pg_down || fail "PostgreSQL stop"
sleep 3
kill -0 "${SETTLE_PID[pg]}" || fail "bandsplit-settle died while PostgreSQL was down"
pg_up || fail "PostgreSQL start"
ok "PostgreSQL down for 3 s mid-stream"
wait "$producer" || fail "the producer failed"
wait_settled "$(messages_produced)" 90
stop_settle pg
grep -q "rolled back, retrying" "$T/settle-pg.log" || fail "no failed batch was retried"
assert_exact

# ---- Kafka -------------------------------------------------------------------
produce --records 100000 --seed 32 --rate 25000 &
producer=$!
start_settle kafka --set settle.batch_records=5000
wait_settled "$(( $(messages_settled) + 10000 ))" 60
kafka_ctl errors Fetch 40 NOT_LEADER_FOR_PARTITION
kafka_ctl errors ListOffsets 5 REQUEST_TIMED_OUT
sleep 1
kafka_ctl broker down 2
sleep 3
kafka_ctl broker up 2
ok "Kafka request errors and a broker down mid-stream"
wait "$producer" || fail "the producer failed"
wait_settled "$(messages_produced)" 120
assert_exact

# ---- SIGTERM with batches in flight -----------------------------------------
produce --records 50000 --seed 33 --rate 50000 &
producer=$!
sleep 0.5
stop_settle kafka
ok "SIGTERM mid-stream: exit 0"
wait "$producer" || fail "the producer failed"
drain final
expect_eq "stored offsets = messages produced" "$(messages_produced)" "$(messages_settled)"
assert_exact
echo "PASS"
