#!/usr/bin/env bash
# test_operator_sql.sh — the park model's rules, straight in SQL against a
# real PostgreSQL 15 (tests/lib/pg.sh): whatever client writes, the
# database refuses overlapping prefixes (IPv4 and IPv6, nested and equal),
# overlapping allocations and plan versions, non-positive rates, bad
# ranges, allocations over the capacity guard (and records forced ones),
# and changes to the audit log; the hash chain detects an edited, a deleted
# and a truncated-at-the-end audit log (bandsplit audit verify).
#   usage: test_operator_sql.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
PASSED=0

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }

q() { pg_psql -At -c "$1"; }
# expect_state SQLSTATE SQL...: the statements (one transaction) fail with
# that SQLSTATE.
expect_state() {
	local state=$1 sql=$2 out
	if out=$(pg_psql -At -c '\set VERBOSITY verbose' -c "$sql" 2>&1); then
		fail "expected SQLSTATE $state, it succeeded: $sql"
	fi
	grep -q "ERROR:  $state:" <<<"$out" || fail "expected SQLSTATE $state for: $sql
got: $out"
}
as_root() { PGUSER=root pg_psql -At -c "$1"; }

pg_start
export PGTZ=Asia/Shanghai   # psql sessions read times in the park's zone
pg_migrate "$BS" >/dev/null

q "INSERT INTO pool (pool_id, carrier, name, capacity_bps, valid, cost_model,
                     monthly_fee_fen, oversub_limit)
   VALUES (1, 'CT', 'ct-1', 1000000000, '[2026-01-01,)', 'flat', 100000, 1.5),
          (2, 'CU', 'cu-1', 1000000000, '[2026-01-01,2026-07-01)', 'flat', 0, 1);
   INSERT INTO tenant (tenant_id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c');
   INSERT INTO plan (plan_id, name, kind) VALUES (1, 'flat', 'flat');
   INSERT INTO plan_version (plan_id, version, kind, valid, price_fen_per_mbps)
   VALUES (1, 1, 'flat', '[2026-01-01,)', 5000);"

# --- prefixes ---------------------------------------------------------------
q "INSERT INTO prefix (tenant_id, prefix, valid) VALUES
   (1, '10.0.0.0/16', '[2026-01-01,2026-03-01)'),
   (1, '2001:db8:1000::/48', '[2026-01-01,)'),
   (1, '192.0.2.10/32', '[2026-01-01,)')" >/dev/null
expect_state 23P01 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (2, '10.0.0.0/16', '[2026-02-01,)')"
expect_state 23P01 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (2, '10.0.5.0/24', '[2026-02-01,)')"
expect_state 23P01 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (2, '10.0.0.0/8', '[2025-01-01,2026-01-02)')"
expect_state 23P01 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (2, '192.0.2.0/24', '[2026-05-01,)')"
ok "IPv4: equal, nested inside and containing prefixes refused while in force"
expect_state 23P01 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (2, '2001:db8:1000::/48', '[2027-01-01,)')"
expect_state 23P01 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (2, '2001:db8:1000:ff00::/56', '[2026-01-01,)')"
expect_state 23P01 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (2, '2001:db8::/32', '[2026-06-01,2026-06-02)')"
ok "IPv6: equal, nested inside and containing prefixes refused while in force"
expect_state 23P01 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (1, '10.0.1.0/24', '[2026-01-01,)')"
ok "one tenant's own overlapping prefixes refused too (the map forbids duplicates)"
q "INSERT INTO prefix (tenant_id, prefix, valid) VALUES
   (2, '10.0.0.0/16', '[2026-03-01,)'),
   (2, '10.1.0.0/16', '[2026-01-01,)'),
   (2, '2001:db8:2000::/48', '[2026-01-01,)')"
[ "$(q "SELECT count(*) FROM prefix")" = 6 ] || fail "prefix rows"
ok "the same prefix at adjacent times, a disjoint prefix, another family: accepted"
# issue 10 item 17: address space that is no tenant's, refused with the reason
for p in '::ffff:10.0.0.0/104:IPv4-mapped' '::ffff:0:0/96:IPv4-mapped' \
	 '::/0:IPv4-mapped' '224.0.0.0/8:multicast' '239.1.1.1/32:multicast' \
	 'ff02::1/128:multicast' '127.0.0.1/32:loopback' '::1/128:loopback' \
	 '169.254.0.0/16:link-local' 'fe80::/64:link-local' '0.0.0.0/0:loopback'; do
	pfx=${p%:*}; why=${p##*:}
	rc=0; err=$(q "INSERT INTO prefix (tenant_id, prefix, valid)
		VALUES (3, '$pfx', '[2026-01-01,)')" 2>&1) || rc=$?
	[[ $rc != 0 && $err == *"$why"* && $err == *"no tenant's address space"* ]] ||
		fail "prefix $pfx: expected refusal naming '$why', got: $err"
done
ok "IPv4-mapped, multicast, loopback and link-local prefixes refused with their reason"
expect_state 22P02 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (3, '10.9.9.0/16', '[2026-01-01,)')"
expect_state 23514 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (3, '10.9.0.0/16', '[2026-02-01,2026-02-01)')"
expect_state 23514 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (3, '10.9.0.0/16', '(,2026-02-01)')"
expect_state 23503 "INSERT INTO prefix (tenant_id, prefix, valid)
	VALUES (99, '10.9.0.0/16', '[2026-01-01,)')"
ok "host bits, empty and unbounded-below ranges, unknown tenants refused"

# --- rates, money, plans ----------------------------------------------------
expect_state 23514 "INSERT INTO allocation (tenant_id, pool_id, plan_id,
	committed_bps, burst_bps, valid) VALUES (1, 1, 1, 0, 1, '[2026-01-01,)')"
expect_state 23514 "INSERT INTO allocation (tenant_id, pool_id, plan_id,
	committed_bps, burst_bps, valid) VALUES (1, 1, 1, -5, 1, '[2026-01-01,)')"
expect_state 23514 "INSERT INTO allocation (tenant_id, pool_id, plan_id,
	committed_bps, burst_bps, valid) VALUES (1, 1, 1, 100, 99, '[2026-01-01,)')"
expect_state 23514 "INSERT INTO pool (pool_id, carrier, name, capacity_bps,
	valid, cost_model, monthly_fee_fen) VALUES (9, 'x', 'x', 0, '[2026-01-01,)',
	'flat', 1)"
expect_state 23514 "INSERT INTO pool (pool_id, carrier, name, capacity_bps,
	valid, cost_model, monthly_fee_fen) VALUES (9, 'x', 'x', -1, '[2026-01-01,)',
	'flat', 1)"
expect_state 23514 "INSERT INTO pool (pool_id, carrier, name, capacity_bps,
	valid, cost_model, monthly_fee_fen) VALUES (9, 'x', 'x', 1, '[2026-01-01,)',
	'flat', -1)"
expect_state 23514 "INSERT INTO pool (pool_id, carrier, name, capacity_bps,
	valid, cost_model, monthly_fee_fen, oversub_limit) VALUES (9, 'x', 'x', 1,
	'[2026-01-01,)', 'flat', 1, 0)"
expect_state 23514 "INSERT INTO pool (pool_id, carrier, name, capacity_bps,
	valid, cost_model, price_fen_per_mbps) VALUES (9, 'x', 'x', 1,
	'[2026-01-01,)', 'p95', 1)"
ok "zero and negative rates, burst below committed, negative money, zero limit, incomplete cost model refused"
expect_state 23P01 "INSERT INTO plan_version (plan_id, version, kind, valid,
	price_fen_per_mbps) VALUES (1, 2, 'flat', '[2026-06-01,)', 6000)"
expect_state 23514 "INSERT INTO plan_version (plan_id, version, kind, valid,
	price_fen_per_mbps, overage_fen_per_mbps) VALUES (1, 2, 'flat',
	'[2020-01-01,2021-01-01)', 6000, 1)"
expect_state 23503 "INSERT INTO plan_version (plan_id, version, kind, valid,
	overage_fen_per_mbps, price_fen_per_mbps) VALUES (1, 2, 'burstable95',
	'[2020-01-01,2021-01-01)', 1, 1)"
q "INSERT INTO plan (plan_id, name, kind) VALUES (2, 'vol', 'volume')"
expect_state 23514 "INSERT INTO plan_version (plan_id, version, kind, valid,
	tier_from_gb, tier_fen_per_gb) VALUES (2, 1, 'volume', '[2026-01-01,)',
	'{10,100}', '{5,4}')"
expect_state 23514 "INSERT INTO plan_version (plan_id, version, kind, valid,
	tier_from_gb, tier_fen_per_gb) VALUES (2, 1, 'volume', '[2026-01-01,)',
	'{0,100,100}', '{5,4,3}')"
expect_state 23514 "INSERT INTO plan_version (plan_id, version, kind, valid,
	tier_from_gb, tier_fen_per_gb) VALUES (2, 1, 'volume', '[2026-01-01,)',
	'{0,100}', '{5}')"
q "INSERT INTO plan_version (plan_id, version, kind, valid, tier_from_gb,
   tier_fen_per_gb) VALUES (2, 1, 'volume', '[2026-01-01,)', '{0,100}', '{5,4}')"
ok "plan versions: overlapping, wrong prices for the kind, a kind not the plan's, bad tiers refused"

# --- allocations and the capacity guard ------------------------------------
# pool 1: 1 Gbit/s × 1.5 = 1500 Mbit/s
q "INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps,
   burst_bps, valid) VALUES (1, 1, 1, 600000000, 800000000, '[2026-01-01,2026-04-01)')"
expect_state 23P01 "INSERT INTO allocation (tenant_id, pool_id, plan_id,
	committed_bps, burst_bps, valid) VALUES (1, 1, 1, 1000, 1000,
	'[2026-03-31,2026-05-01)')"
q "INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps,
   burst_bps, valid) VALUES (1, 1, 1, 600000000, 600000000, '[2026-04-01,)'),
   (1, 2, 1, 1000000, 1000000, '[2026-02-01,2026-03-01)')"
ok "one tenant's allocations on one pool never overlap; adjacent ones and other pools fine"
q "INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps,
   burst_bps, valid) VALUES (2, 1, 1, 900000000, 900000000, '[2026-02-01,2026-03-01)')"
out=$(pg_psql -At -c "INSERT INTO allocation (tenant_id, pool_id, plan_id,
	committed_bps, burst_bps, valid) VALUES (3, 1, 1, 1000000, 1000000,
	'[2026-01-15,2026-06-01)')" 2>&1) && fail "over the limit accepted"
grep -q "pool 1 (ct-1): Σ committed would be 1501 Mbps at 2026-02-01T00:00:00+08:00, over capacity 1000 Mbps × limit 1.5 = 1500 Mbps" <<<"$out" ||
	fail "capacity message: $out"
expect_state BSC01 "INSERT INTO allocation (tenant_id, pool_id, plan_id,
	committed_bps, burst_bps, valid) VALUES (3, 1, 1, 1000000, 1000000,
	'[2026-01-15,2026-06-01)')"
q "INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps,
   burst_bps, valid) VALUES (3, 1, 1, 1000000, 1000000, '[2026-03-01,2026-06-01)')"
ok "capacity guard: refused at the instant it would exceed, with the figures; fine when the peak has passed"
[ "$(q "BEGIN; SET LOCAL bandsplit.force = 'on';
	INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps,
	burst_bps, valid) VALUES (3, 1, 1, 1000000, 1000000,
	'[2026-02-15,2026-03-01)') RETURNING forced IS NOT NULL; COMMIT" | head -1)" = t ] ||
	fail "forced allocation"
[ "$(q "SELECT count(*) FROM audit_log WHERE table_name = 'allocation'
	AND after ->> 'forced' LIKE 'forced: pool 1 (ct-1): Σ committed would be 1501 Mbps%'")" = 1 ] ||
	fail "forced allocation not in the audit log"
ok "forced allocation accepted, its figures recorded in the row and the audit log"
expect_state BSC02 "INSERT INTO allocation (tenant_id, pool_id, plan_id,
	committed_bps, burst_bps, valid) VALUES (2, 2, 1, 1000, 1000, '[2026-06-01,2026-08-01)')"
expect_state BSC01 "UPDATE pool SET capacity_bps = 500000000 WHERE pool_id = 1"
expect_state BSC02 "UPDATE pool SET valid = '[2026-01-01,2026-02-15)' WHERE pool_id = 2"
expect_state BSC03 "BEGIN ISOLATION LEVEL REPEATABLE READ;
	INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps,
	burst_bps, valid) VALUES (2, 2, 1, 1000, 1000, '[2026-03-01,2026-04-01)'); COMMIT"
expect_state BSP01 "INSERT INTO allocation (tenant_id, pool_id, plan_id,
	committed_bps, burst_bps, valid) VALUES (2, 2, 1, 1000, 1000, '[2025-12-01,2026-01-01)')"
ok "allocations outside the pool, a pool shrunk under its allocations, REPEATABLE READ, no plan version: refused"
q "UPDATE allocation SET committed_bps = 1000 WHERE tenant_id = 3 AND pool_id = 1
   AND forced IS NOT NULL" >/dev/null
ok "an allocation forced over the limit can still be reduced"

# --- closed tenants ---------------------------------------------------------
expect_state BST01 "UPDATE tenant SET status = 'closed', closed_at = '2026-05-01' WHERE tenant_id = 2"
q "SET bandsplit.force = on;
   UPDATE prefix SET valid = tstzrange(lower(valid), '2026-05-01') WHERE tenant_id = 3;
   UPDATE tenant SET status = 'closed', closed_at = '2026-07-01' WHERE tenant_id = 3"
expect_state BST01 "INSERT INTO prefix (tenant_id, prefix, valid) VALUES (3, '10.7.0.0/16', '[2026-06-01,)')"
expect_state BST01 "UPDATE tenant SET status = 'active', closed_at = NULL WHERE tenant_id = 3"
ok "closing refused while prefixes/allocations run past it; nothing new after; final"

# --- history is kept (issue 10 item 3) ---------------------------------------
expect_state BSH01 "DELETE FROM prefix WHERE tenant_id = 1"
expect_state BSH01 "DELETE FROM allocation WHERE tenant_id = 1"
expect_state BSH01 "SET bandsplit.purge = on; DELETE FROM pool WHERE pool_id = 1"
expect_state BSH01 "DELETE FROM plan_version WHERE plan_id = 1"
expect_state BSH01 "DELETE FROM tenant WHERE tenant_id = 3"
expect_state BSH03 "UPDATE allocation SET valid = tstzrange(lower(valid), '2026-06-01')
	WHERE tenant_id = 1 AND upper_inf(valid)"
expect_state BSH03 "UPDATE prefix SET valid = tstzrange(lower(valid), lower(valid) + interval '1 day')
	WHERE prefix = '2001:db8:1000::/48'"
expect_state BSH04 "UPDATE prefix SET valid = tstzrange('2026-01-02', upper(valid))
	WHERE prefix = '2001:db8:1000::/48'"
q "INSERT INTO prefix (tenant_id, prefix, valid) VALUES (1, '198.51.100.0/24', '[2099-01-01,)')"
expect_state BSH02 "DELETE FROM prefix WHERE prefix = '198.51.100.0/24'"
q "SET bandsplit.purge = on; DELETE FROM prefix WHERE prefix = '198.51.100.0/24'"
[ "$(q "SELECT op || ' ' || (before ->> 'prefix') FROM audit_log
	WHERE table_name = 'prefix' ORDER BY audit_id DESC LIMIT 1")" = "DELETE 198.51.100.0/24" ] ||
	fail "the purge is not in the audit log"
q "SET bandsplit.force = on; UPDATE prefix SET valid = tstzrange(lower(valid), '2026-06-01')
	WHERE prefix = '2001:db8:1000::/48'"
[ "$(q "SELECT op || ' ' || (before -> 'valid') || ' ' || (after -> 'valid') FROM audit_log
	WHERE table_name = 'prefix' ORDER BY audit_id DESC LIMIT 1")" = \
  'UPDATE "[\"2025-12-31 16:00:00+00\",)" "[\"2025-12-31 16:00:00+00\",\"2026-05-31 16:00:00+00\")"' ] ||
	fail "the forced past end is not in the audit log: $(q "SELECT after FROM audit_log ORDER BY audit_id DESC LIMIT 1")"
ok "history kept: rows that took effect never deleted, past ends need force, purge only of rows never in force; both audited"

# --- the audit log ----------------------------------------------------------
q "SET bandsplit.actor = 'carol'; UPDATE tenant SET contact = 'noc@b' WHERE tenant_id = 2" >/dev/null
[ "$(q "SELECT actor || ' ' || db_user || ' ' || op || ' ' || (before ->> 'contact' IS NULL)
	|| ' ' || (after ->> 'contact') FROM audit_log ORDER BY audit_id DESC LIMIT 1")" = \
	"carol bandsplit UPDATE true noc@b" ] || fail "audit row of an update"
ok "audit: who (bandsplit.actor, database user), before and after"
n=$(q "SELECT count(*) FROM audit_log")
expect_state BSA01 "UPDATE audit_log SET actor = 'x' WHERE audit_id = 3"
expect_state BSA01 "DELETE FROM audit_log WHERE audit_id = 3"
expect_state BSA01 "TRUNCATE audit_log"
expect_state BSA01 "DELETE FROM audit_head"
[ "$(q "SELECT count(*) FROM audit_log")" = "$n" ] || fail "audit rows changed"
ok "audit rows cannot be updated, deleted or truncated"
[ "$(q "SELECT count(*) = max(audit_id) FROM audit_log")" = t ] || fail "audit ids not gapless"
ok "audit ids are gapless despite the refused statements"

"$BS" audit verify >/dev/null || fail "fresh audit log does not verify"
as_root "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
	 UPDATE audit_log SET after = jsonb_set(after, '{capacity_bps}', '2000000000')
	 WHERE audit_id = 1;
	 ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only" >/dev/null
rc=0; out=$("$BS" audit verify 2>&1) || rc=$?
[ $rc = 1 ] || fail "edited row: verify exit $rc"
grep -q "row 1: hash does not match its content (edited)" <<<"$out" || fail "edited row: $out"
ok "hash chain detects an edited row (exit 1, row named)"
# Re-hash the edited row as a forger would: the next link breaks.
as_root "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
	 UPDATE audit_log SET hash = sha256(prev_hash || bs_audit_content(audit_id, at,
	   actor, db_user, application, txid, table_name, op, row_key, before, after))
	 WHERE audit_id = 1;
	 ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only" >/dev/null
rc=0; out=$("$BS" audit verify 2>&1) || rc=$?
[ $rc = 1 ] && grep -q "row 2: not linked to the row before" <<<"$out" || fail "re-hashed row: $out"
ok "hash chain detects a re-hashed row through the next link"
as_root "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
	 DELETE FROM audit_log WHERE audit_id IN (1, 2, 5);
	 ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only" >/dev/null
rc=0; out=$("$BS" audit verify 2>&1) || rc=$?
[ $rc = 1 ] && grep -q "row 6: .*id out of sequence" <<<"$out" || fail "deleted rows: $out"
ok "hash chain detects deleted rows"

# A clean database again, to test a deleted tail.
as_root "SET client_min_messages = warning; DROP SCHEMA public CASCADE;
	 CREATE SCHEMA public AUTHORIZATION bandsplit" >/dev/null
pg_migrate "$BS" >/dev/null
q "INSERT INTO tenant (tenant_id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')"
"$BS" audit verify >/dev/null || fail "verify"
as_root "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
	 DELETE FROM audit_log WHERE audit_id = 3;
	 ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only" >/dev/null
rc=0; out=$("$BS" audit verify 2>&1) || rc=$?
[ $rc = 1 ] && grep -q "the head does not match the last row" <<<"$out" || fail "deleted tail: $out"
ok "hash chain detects a deleted tail (the head)"

echo "test_operator_sql: $PASSED passed"
