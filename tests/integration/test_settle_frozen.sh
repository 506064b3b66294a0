#!/usr/bin/env bash
# test_settle_frozen.sh — a frozen instance holding its batch's row locks
# (issue 10, item 14). Instance A is stopped with SIGSTOP while its batch's
# transaction is open (the stored offsets of its partitions locked by the
# compare-and-set); B takes its partitions once A's group session expires.
# B's lock waits end by lock_timeout and are retried; A's session ends by
# its own idle_in_transaction timeout (frozen between statements) or, frozen
# inside a COPY (where no server timeout acts), is ended by B once it has
# not changed for longer than statement_timeout. B settles everything while
# A is still frozen. Without the timeouts B waits for ever.
# Also: the timeouts are configuration keys, checked like the others.
source "$(dirname "$0")/settle_lib.sh"

start_db
start_kafka 8

# idle_in_transaction far beyond the run: whether A freezes between two
# statements or inside a COPY (it varies from run to run), only B's
# lock_timeout and its ending of the frozen session can free the locks,
# so both are tested every time (with 4 s, A's own timeout ended it when
# frozen between statements and B passed without any lock_timeout)
TIMEOUTS=(--set postgres.lock_timeout_ms=2000 --set postgres.statement_timeout_ms=8000
	  --set postgres.idle_in_transaction_timeout_ms=600000)

# ---- the keys ---------------------------------------------------------------------
rc=0
"$SETTLE" --set postgres.lock_timeout_ms=soon >"$T/badkey.out" 2>&1 || rc=$?
expect_eq "a bad timeout: exit 2" 2 "$rc"
grep -q "\[postgres\] lock_timeout_ms: 'soon' is not a whole number" "$T/badkey.out" ||
	fail "the message does not name the key: $(cat "$T/badkey.out")"

# ---- freeze A inside a transaction ------------------------------------------------
produce --records 120000 --seed 71 --rate 6000 &
producer=$!
start_settle a --set settle.connections=1 --set settle.batch_records=500 \
	--set settle.batch_ms=50 "${TIMEOUTS[@]}"
wait_settled 5000 60
frozen=""
for _ in $(seq 200); do
	# A's backend with a transaction that wrote (its offsets' row locks)
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'bandsplit-settle'
	         AND backend_xid IS NOT NULL LIMIT 1")
	if [[ -n $pid ]]; then
		kill -STOP "${SETTLE_PID[a]}"
		sleep 0.5
		if [[ $(q "SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = $pid") == t ]]; then
			frozen=$pid
			break
		fi
		kill -CONT "${SETTLE_PID[a]}"
	fi
	sleep 0.05
done
[[ -n $frozen ]] || fail "could not freeze A inside a transaction"
bs_at_exit "kill -CONT ${SETTLE_PID[a]} 2>/dev/null"
ok "A frozen (SIGSTOP) with its transaction open (backend $frozen)"
locked=$(q "SELECT count(*) FROM pg_locks WHERE pid = $frozen AND locktype = 'transactionid'")
(( locked >= 1 )) || fail "A's backend holds no transaction lock"

start_settle b --set settle.batch_records=2000 "${TIMEOUTS[@]}"
wait "$producer" || fail "the producer failed"
wait_settled "$(messages_produced)" 90
ok "B settled everything while A is frozen"
expect_eq "A's frozen session was ended" 0 \
	"$(q "SELECT count(*) FROM pg_stat_activity WHERE pid = $frozen")"
kill -0 "${SETTLE_PID[a]}" || fail "A is gone"
kill -CONT "${SETTLE_PID[a]}"
sleep 3
stop_settle b
kill -TERM "${SETTLE_PID[a]}"
wait "${SETTLE_PID[a]}" || true
expect_eq "stored offsets = messages produced" "$(messages_produced)" "$(messages_settled)"
assert_exact
echo PASS
