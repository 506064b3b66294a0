#!/usr/bin/env bash
# test_operator_concurrency.sh — many clients allocating on one pool at once
# never exceed its limit: 30 `bandsplit alloc add` at the same instant for
# a pool with room for exactly 10, then 40 raw SQL clients with random
# ranges and rates (READ COMMITTED and SERIALIZABLE) — the database's guard
# holds whoever the client is. The audit chain stays intact.
#   usage: test_operator_concurrency.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
WORK=$(mktemp -d /tmp/bandsplit-opconc.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
PASSED=0

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
q() { pg_psql -At -c "$1"; }

pg_start
export PGTZ=Asia/Shanghai
pg_migrate "$BS" >/dev/null
"$BS" pool add --id 1 --carrier c --name p1 --capacity 1G --flat-fee 1 --from 2026-01-01 >/dev/null
"$BS" pool add --id 2 --carrier c --name p2 --capacity 1G --limit 1.2 --flat-fee 1 --from 2026-01-01 >/dev/null
"$BS" plan add --id 1 --name f --kind flat --price 1 --from 2026-01-01 >/dev/null
q "INSERT INTO tenant (tenant_id, name) SELECT g, 't' || g FROM generate_series(1, 100) g"

# --- 30 CLI clients, room for 10 ------------------------------------------
for t in $(seq 1 30); do
	( rc=0; "$BS" alloc add --tenant "$t" --pool 1 --plan 1 --committed 100M \
		--from 2026-02-01 >"$WORK/cli.$t.out" 2>"$WORK/cli.$t.err" || rc=$?
	  echo "$rc" >"$WORK/cli.$t.rc" ) &
done
wait
okc=$(cat "$WORK"/cli.*.rc | grep -c '^0$' || true)
refused=$(cat "$WORK"/cli.*.rc | grep -c '^1$' || true)
[ "$okc" = 10 ] && [ "$refused" = 20 ] || fail "CLI race: $okc accepted, $refused refused: $(cat "$WORK"/cli.*.err | sort | uniq -c)"
grep -L "Σ committed would be 1100 Mbps" $(grep -l . "$WORK"/cli.*.err) | grep -q . &&
	fail "a refusal without the figures: $(cat "$WORK"/cli.*.err)"
[ "$(q "SELECT committed_bps FROM bs_pool_peak(1, '[2026-02-01,)', NULL, 0)")" = 1000000000 ] ||
	fail "pool 1 peak"
ok "30 concurrent CLI allocations on a pool with room for 10: exactly 10 accepted"

# --- 40 raw SQL clients, random ranges -------------------------------------
# pool 2: 1000 Mbit/s × 1.2 = 1200 Mbit/s
RANDOM=4242
for i in $(seq 1 40); do
	t=$((30 + i)); from=$((RANDOM % 60)); len=$((1 + RANDOM % 60))
	rate=$(( (50 + RANDOM % 250) * 1000000 ))
	iso=$([ $((i % 2)) = 0 ] && echo "READ COMMITTED" || echo "SERIALIZABLE")
	( rc=0; pg_psql -At -c "BEGIN ISOLATION LEVEL $iso;
		INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps, burst_bps, valid)
		VALUES ($t, 2, 1, $rate, $rate, tstzrange('2026-03-01'::timestamptz + interval '$from days',
		        '2026-03-01'::timestamptz + interval '$((from + len)) days'));
		COMMIT" >"$WORK/sql.$i.out" 2>"$WORK/sql.$i.err" || rc=$?
	  echo "$rc" >"$WORK/sql.$i.rc" ) &
done
wait
accepted=$(q "SELECT count(*) FROM allocation WHERE pool_id = 2")
other=$(cat "$WORK"/sql.*.err | grep ERROR | grep -v -e 'BSC01' -e 'Σ committed would be' \
	-e 'could not serialize' || true)
[ -z "$other" ] || fail "unexpected errors: $other"
[ "$accepted" -ge 5 ] && [ "$accepted" -lt 40 ] || fail "pool 2: $accepted of 40 accepted (the test should refuse some)"
# The true peak: Σ committed at every instant where an allocation starts.
peak=$(q "SELECT max(s) FROM (SELECT (SELECT sum(committed_bps) FROM allocation b
	WHERE b.pool_id = 2 AND b.valid @> lower(a.valid)) AS s
	FROM allocation a WHERE a.pool_id = 2) x")
[ "$peak" -le 1200000000 ] || fail "pool 2 peak $peak above 1200 Mbit/s"
ok "40 concurrent SQL clients, random ranges, READ COMMITTED and SERIALIZABLE: $accepted accepted, peak $peak bit/s ≤ 1.2 Gbit/s"

# --- capacity lowered while allocations are added (issue 10 item 15) --------
# 20 CLI clients at once, three rounds: 10 `pool change --capacity` (down
# and up) and 10 `alloc add`. Serialisation failures and deadlocks are
# retried by the CLI: every client exits 0 or 1 (refused with the
# figures), none 3, and the guard stays exact.
"$BS" pool add --id 3 --carrier c --name p3 --capacity 1G --flat-fee 1 --from 2026-01-01 >/dev/null
added=0
for round in 1 2 3; do
	rm -f "$WORK"/r15.*
	for i in $(seq 1 10); do
		cap=$(( (400 + 100 * ((i + round) % 7)) ))M
		( rc=0; "$BS" pool change 3 --capacity "$cap" >/dev/null 2>"$WORK/r15.p$i.err" || rc=$?
		  echo "$rc" >"$WORK/r15.p$i.rc" ) &
		t=$(( 70 + 10 * (round - 1) + i ))
		( rc=0; "$BS" alloc add --tenant "$((t > 100 ? t - 100 : t))" --pool 3 --plan 1 --committed 50M \
			--from 2026-0$((3 + round))-01 >/dev/null 2>"$WORK/r15.a$i.err" || rc=$?
		  echo "$rc" >"$WORK/r15.a$i.rc" ) &
	done
	wait
	for f in "$WORK"/r15.*.rc; do
		rc=$(cat "$f")
		case $rc in
		0) ;;
		1) grep -q "BSC01" "${f%.rc}.err" || fail "round $round: refused without the guard: $(cat "${f%.rc}.err")" ;;
		*) fail "round $round: exit $rc: $(cat "${f%.rc}.err")" ;;
		esac
	done
	added=$((added + $(cat "$WORK"/r15.a*.rc | grep -c '^0$' || true)))
done
cap3=$(q "SELECT capacity_bps * oversub_limit FROM pool WHERE pool_id = 3")
peak3=$(q "SELECT coalesce(max(s), 0) FROM (SELECT (SELECT sum(committed_bps) FROM allocation b
	WHERE b.pool_id = 3 AND b.valid @> lower(a.valid)) AS s FROM allocation a WHERE a.pool_id = 3) x")
[ "$(q "SELECT $peak3 <= $cap3")" = t ] || fail "pool 3: peak $peak3 above the limit $cap3"
[ "$(q "SELECT count(*) FROM allocation WHERE pool_id = 3 AND forced IS NULL")" = "$added" ] || fail "pool 3 rows"
[ "$added" -gt 0 ] || fail "pool 3: nothing was added (the test tests nothing)"
ok "20 concurrent CLI clients lowering capacity and allocating, 3 rounds: none failed (retried), $added added, peak $peak3 ≤ $cap3"

# A deadlock on purpose: a session holds pool 4's row, the CLI takes the
# pool's capacity lock and waits for the row, the session then asks for
# the capacity lock. The CLI's backend detects the deadlock first (it
# waited first) and is aborted with 40P01: the CLI runs the command again
# and succeeds once the session is gone.
"$BS" pool add --id 4 --carrier c --name p4 --capacity 1G --flat-fee 1 --from 2026-01-01 >/dev/null
PGUSER=bandsplit pg_psql -At >/dev/null 2>"$WORK/dl.err" <<-EOF &
	BEGIN;
	SELECT 1 FROM pool WHERE pool_id = 4 FOR UPDATE;
	SELECT pg_sleep(0.6);
	SELECT bs_pool_lock(4);
	SELECT pg_sleep(1);
	COMMIT;
EOF
dl=$!
sleep 0.2
rc=0; "$BS" alloc add --tenant 99 --pool 4 --plan 1 --committed 1M --from 2026-09-01 \
	>/dev/null 2>"$WORK/dl.cli.err" || rc=$?
wait $dl || fail "the locking session failed: $(cat "$WORK/dl.err")"
[ $rc = 0 ] || fail "a deadlock was not retried: exit $rc: $(cat "$WORK/dl.cli.err")"
added=$((added + 1))
ok "a deadlock (40P01) of a CLI transaction is retried"

"$BS" audit verify >/dev/null || fail "audit chain broken by concurrent writers"
[ "$(q "SELECT count(*) FROM audit_log WHERE table_name = 'allocation'")" = $((10 + accepted + added)) ] ||
	fail "audit rows of allocations"
ok "audit chain intact, one audit row per accepted allocation"

echo "test_operator_concurrency: $PASSED passed"
