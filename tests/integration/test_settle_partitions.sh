#!/usr/bin/env bash
# test_settle_partitions.sh — assignments (issue 10, items 6 and 7):
#   1. a topic of 1,100 partitions (more than a batch's 1,024): every one is
#      positioned from PostgreSQL, none stopped, no ALARM, everything settled
#      exactly, the partitions above 1,023 included;
#   2. a failed partition assignment (rd_kafka_assign failing, through the
#      test hook BANDSPLIT_SETTLE_FAIL_ASSIGN=N) is retried: --drain ends
#      with everything settled instead of hanging.
source "$(dirname "$0")/settle_lib.sh"

start_db
start_kafka 1100

# ---- 1,100 partitions ------------------------------------------------------------
produce --records 30000 --tenants 5000 --per-node 500 --seed 61
drain wide
grep -q "ALARM" "$T/settle-wide.log" && fail "ALARM: $(grep -m1 ALARM "$T/settle-wide.log")"
ok "no ALARM, no partition stopped (drain exited 0)"
expect_eq "stored offsets = messages produced" "$(messages_produced)" "$(messages_settled)"
expect_eq "every partition positioned and stored" 1100 \
	"$(q "SELECT count(*) FROM kafka_offsets")"
above=$(q "SELECT count(*) FROM kafka_offsets WHERE kafka_partition >= 1024 AND next_offset > 0")
(( above >= 50 )) || fail "only $above partitions above 1023 settled anything"
ok "$above partitions above 1023 settled records"
assert_exact

# ---- a failed assignment -------------------------------------------------------------
produce --records 5000 --tenants 5000 --per-node 500 --seed 62
BANDSPLIT_SETTLE_FAIL_ASSIGN=2 drain failassign
grep -q "kafka assign of .*; retrying" "$T/settle-failassign.log" ||
	fail "the hook did not make the assignment fail"
grep -q "after a failed assignment" "$T/settle-failassign.log" ||
	fail "no assignment after the failed one"
ok "a failed assignment retried"
expect_eq "stored offsets = messages produced" "$(messages_produced)" "$(messages_settled)"
assert_exact
echo PASS
