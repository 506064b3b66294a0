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

"$BS" audit verify >/dev/null || fail "audit chain broken by concurrent writers"
[ "$(q "SELECT count(*) FROM audit_log WHERE table_name = 'allocation'")" = $((10 + accepted)) ] ||
	fail "audit rows of allocations"
ok "audit chain intact, one audit row per accepted allocation"

echo "test_operator_concurrency: $PASSED passed"
