#!/usr/bin/env bash
# test_settle_group.sh — two bandsplit-settle instances in one consumer
# group: the second joins mid-stream (a rebalance), the first leaves
# mid-stream (another); the partitions move between them and every record
# still settles exactly once.
source "$(dirname "$0")/settle_lib.sh"

start_db
start_kafka 64

produce --records 200000 --seed 41 --rate 25000 &
producer=$!
start_settle a --set settle.batch_records=3000
wait_settled 20000 60
start_settle b --set settle.batch_records=3000
for _ in $(seq 100); do
	grep -q "assigned" "$T/settle-b.log" && break
	sleep 0.1
done
grep -q "assigned" "$T/settle-b.log" || fail "the second instance got no partitions"
ok "rebalance: the second instance took partitions"
sleep 2
stop_settle a
ok "the first instance left mid-stream (exit 0)"
wait "$producer" || fail "the producer failed"
wait_settled "$(messages_produced)" 120
stop_settle b
(( $(jq .messages "$T/stats-a.json") > 0 && $(jq .messages "$T/stats-b.json") > 0 )) ||
	fail "both instances should have settled records"
ok "both instances settled records ($(jq .messages "$T/stats-a.json") + $(jq .messages "$T/stats-b.json") messages)"
assert_exact
echo "PASS"
