#!/usr/bin/env bash
# test_settle_kill.sh — bandsplit-settle killed with SIGKILL at random points
# of a 200,000-record stream, ten times in a row, while the stream is still
# being produced; a last instance settles the rest. Every record must be
# settled exactly once: exact totals, no duplicate row, and the stored
# offsets equal to what Kafka holds.
source "$(dirname "$0")/settle_lib.sh"

start_db
start_kafka 64

# a stream of about 100 s, so that the kills land while records keep coming
# (each new instance waits for the group to notice the dead one: the
# session timeout, 6 s here; a kill cycle takes 7-10 s, and a 65-s stream
# once let only 7 of the 10 kills land in time)
produce --records 200000 --seed 21 --rate 2000 &
producer=$!

RANDOM=4242
progress=()
for i in $(seq 10); do
	start_settle "kill$i" --set settle.batch_records=2000
	# let it join and settle something, then kill it at a random point
	before=$(messages_settled)
	until=$((SECONDS + 30))
	while (( $(messages_settled) == before && SECONDS < until )); do
		sleep 0.05
	done
	sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
	kill -9 "${SETTLE_PID[kill$i]}"
	wait "${SETTLE_PID[kill$i]}" 2>/dev/null || true
	progress+=("$(messages_settled)")
done
wait "$producer" || fail "the producer failed"
echo "stored offsets after each kill: ${progress[*]}"
(( ${progress[0]} < ${progress[9]} )) || fail "no progress between the kills"
mid=0
for p in "${progress[@]}"; do (( p < 204000 )) && mid=$((mid + 1)); done
# a loaded machine may finish the stream before the last kills; most must
# still land mid-stream
(( mid >= 8 )) || fail "only $mid of the 10 kills landed before the stream was complete"

drain final
expect_eq "stored offsets = messages produced" "$(messages_produced)" "$(messages_settled)"
assert_exact
echo "PASS"
