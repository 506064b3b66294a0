#!/usr/bin/env bash
# test_usage_day.sh — compacted days (usage_day, 0029; `bandsplit rollup
# compact`) against a real PostgreSQL 15. Two copies of the same park and
# month (gaps and a lone direction included): one closed from its rows, the
# other compacted first. The compacted rows hold exactly usage_5m (checked
# bucket by bucket in SQL), and both closes issue the same documents, lines,
# carrier bills, ledger and statement digests. Then a late rollup written
# by bandsplit_settle's role into two compacted days (an update of a
# rollup, an insert of one): each day is dirty in the same transaction, `close --adjust` gives the same notes in both copies,
# and the next compaction takes that day again. usage_5m's rows cannot be
# deleted while days are compacted; a bad --through is a usage error.
#   usage: test_usage_day.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
WORK=$(mktemp -d /tmp/bandsplit-day.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
. "$HERE/finance_lib.sh"

pg_start
export BANDSPLIT_ACTOR=usage-day-test
ok_cmd --db "$BS_DB_ADMIN" migrate
fin_model >/dev/null
fin_usage '2026-11-01 00:00+08' '2026-12-01 00:00+08'

# A gap (neither direction) and a lone direction, on tenant 1's pool 1; a
# bucket of tenant 2 with 0 bytes (present, not a gap). usage_5m's DELETE
# guard only stands while days are compacted.
root() { pg_psql -U root -At "$@"; }
root -c "DELETE FROM usage_5m WHERE tenant_id = 1 AND pool_id = 1
           AND bucket_start = '2026-11-07 13:05+08';
         DELETE FROM usage_5m WHERE tenant_id = 1 AND pool_id = 1 AND direction = 'in'
           AND bucket_start = '2026-11-07 13:10+08';
         UPDATE usage_5m SET frame_bytes = 0, ip_bytes = 0
          WHERE tenant_id = 2 AND bucket_start = '2026-11-20 03:00+08'"
[ "$(q "SELECT count(*) FROM usage_5m WHERE tenant_id = 1 AND pool_id = 1
        AND bucket_start IN ('2026-11-07 13:05+08', '2026-11-07 13:10+08')")" = 1 ] ||
	fail "setup: the gap and the lone direction"

# The second copy, before anything is closed.
root -d postgres -c "CREATE DATABASE bandsplit_b TEMPLATE bandsplit OWNER bandsplit"
root -d postgres -c "CREATE DATABASE bandsplit_c TEMPLATE bandsplit OWNER bandsplit"
in_b() { PGDATABASE=bandsplit_b "$@"; }
in_c() { PGDATABASE=bandsplit_c "$@"; }

# Everything the close issues, without ids and times: the export (a row
# per line, with its evidence), the carrier bills, the ledger, the digests.
issued() {
	"$BS" invoice export --period 2026-11 --format csv
	q "SELECT string_agg(concat_ws('|', kind, period, pool_id, carrier, currency,
	     cost_model, window_start, window_end, byte_measure, buckets, gaps,
	     billed_rank, billed_bucket, billed_bytes, billed_mbps, bytes_in, bytes_out,
	     unattributed_bytes, amount_fen), E'\n' ORDER BY pool_id, kind, carrier_bill_id)
	   FROM carrier_bill"
	q "SELECT string_agg(concat_ws('|', a.code, p.amount_fen), E'\n'
	     ORDER BY a.code, p.amount_fen) FROM posting p JOIN account a USING (account_id)"
	q "SELECT string_agg(concat_ws('|', i.number, d.form, d.sha256, d.samples), E'\n'
	     ORDER BY i.number) FROM invoice_digest d JOIN invoice i USING (invoice_id)"
}

# --- A: closed from its rows --------------------------------------------------
ok_cmd close --period 2026-11
issued >"$WORK/a.issued"
[ "$(grep -c . "$WORK/a.issued")" -gt 10 ] || fail "A issued too little: $(cat "$WORK/a.issued")"
ok "A: closed from usage_5m"

# --- B: compacted, then closed ------------------------------------------------
in_b bs rollup compact --through 2026-11-30
[ "$RC" = 0 ] || fail "rollup compact: exit $RC: $ERR"
# the month in Asia/Shanghai: UTC days 2026-10-31 (from 16:00) to 2026-11-30
[ "$(wc -l <<<"$OUT")" = 31 ] && grep -q '^2026-10-31  ' <<<"$OUT" &&
	grep -q '^2026-11-30  ' <<<"$OUT" || fail "compact: days: $OUT"
# bucket by bucket: usage_day's value is usage_5m's, -1 where no row, and
# every (pair, day) with a row is there
bad=$(in_b q "SELECT count(*) FROM usage_day d CROSS JOIN generate_series(0, 287) s(i)
     LEFT JOIN usage_5m u ON (u.tenant_id, u.pool_id, u.direction, u.bucket_start) =
       (d.tenant_id, d.pool_id, d.direction, d.day::timestamp AT TIME ZONE 'UTC' + s.i * interval '5 min')
     WHERE ('x' || encode(substring(d.frame_bytes FROM s.i * 8 + 1 FOR 8), 'hex'))::bit(64)::bigint
             IS DISTINCT FROM coalesce(u.frame_bytes, -1)
        OR ('x' || encode(substring(d.ip_bytes FROM s.i * 8 + 1 FOR 8), 'hex'))::bit(64)::bigint
             IS DISTINCT FROM coalesce(u.ip_bytes, -1)
        OR ('x' || encode(substring(d.frame_packets FROM s.i * 8 + 1 FOR 8), 'hex'))::bit(64)::bigint
             IS DISTINCT FROM coalesce(u.frame_packets, -1)
        OR ('x' || encode(substring(d.ip_packets FROM s.i * 8 + 1 FOR 8), 'hex'))::bit(64)::bigint
             IS DISTINCT FROM coalesce(u.ip_packets, -1)")
[ "$bad" = 0 ] || fail "usage_day differs from usage_5m in $bad buckets"
missing=$(in_b q "SELECT count(*) FROM (SELECT DISTINCT tenant_id, pool_id, direction,
       (bucket_start AT TIME ZONE 'UTC')::date AS day FROM usage_5m) u
     WHERE NOT EXISTS (SELECT FROM usage_day d WHERE (d.day, d.tenant_id, d.pool_id, d.direction)
       = (u.day, u.tenant_id, u.pool_id, u.direction))")
[ "$missing" = 0 ] || fail "$missing (pair, day)s with rollups are not compacted"
[ "$(in_b q "SELECT count(*) FROM usage_day WHERE position('\xffffffffffffffff'::bytea IN frame_bytes) > 0")" -gt 0 ] ||
	fail "no gap (-1) in usage_day"
in_b ok_cmd close --period 2026-11
in_b issued >"$WORK/b.issued"
diff "$WORK/a.issued" "$WORK/b.issued" >&2 || fail "B (compacted) issued other documents than A (rows)"
ok "B: compacted (= usage_5m bucket by bucket, gaps -1); its close = A's (documents, lines, bills, ledger, digests)"

# --- C: a compaction committed while a close reads -------------------------------
# The close's streams read in a snapshot it exports; which days are
# compacted must be read in that same snapshot. Here the close pauses
# right after exporting it while the whole month is compacted and
# committed: the close must still read every day from its rows (the
# snapshot has no compacted day), and issue what A issued.
PGDATABASE=bandsplit_c BS_CLOSE_TEST_PAUSE_MS=8000 "$BS" close --period 2026-11 \
	>"$WORK/c.out" 2>"$WORK/c.err" &
close_pid=$!
sleep 1.5
in_c ok_cmd rollup compact --through 2026-11-30
[ "$(wc -l <<<"$OUT")" = 31 ] || fail "C: the compaction during the close: $OUT"
wait "$close_pid" || fail "C: the close: $(cat "$WORK/c.err")"
in_c issued >"$WORK/c.issued"
diff "$WORK/a.issued" "$WORK/c.issued" >&2 || fail "C (compacted while its close read) issued other documents than A"
ok "C: a compaction committed after the close's snapshot is not read by that close (= A)"

# --- late usage into a compacted day ---------------------------------------------
late="INSERT INTO usage_5m AS r (tenant_id, pool_id, direction, bucket_start,
        frame_packets, frame_bytes, ip_packets, ip_bytes, records)
      VALUES (1, 1, 'in', '2026-11-10 11:00+08', 10, 987654321, 10, 900000000, 1),
             (1, 1, 'in', '2026-11-07 13:05+08', 1, 1000, 1, 900, 1)
      ON CONFLICT (tenant_id, pool_id, direction, bucket_start) DO UPDATE
      SET frame_bytes = r.frame_bytes + excluded.frame_bytes,
          ip_bytes = r.ip_bytes + excluded.ip_bytes, records = r.records + 1"
pg_psql -U bandsplit_settle -c "$late"
in_b pg_psql -U bandsplit_settle -c "$late"
# the first row updates a rollup (ON CONFLICT), the second inserts one (into
# the gap made above)
[ "$(in_b q "SELECT string_agg(day::text, ',' ORDER BY day) FROM usage_day_state WHERE dirty")" = 2026-11-07,2026-11-10 ] ||
	fail "the late rows did not mark 2026-11-07 (insert) and 2026-11-10 (update) dirty: $(in_b q "SELECT string_agg(day || ':' || dirty, ',') FROM usage_day_state")"
ok_cmd close --period 2026-11 --adjust
in_b ok_cmd close --period 2026-11 --adjust
issued >"$WORK/a.adjusted"
in_b issued >"$WORK/b.adjusted"
cmp -s "$WORK/a.issued" "$WORK/a.adjusted" && fail "the late rows changed nothing in A"
diff "$WORK/a.adjusted" "$WORK/b.adjusted" >&2 || fail "after late usage, B's notes differ from A's"
in_b ok_cmd rollup compact --through 2026-11-30
[ "$OUT" = "$(in_b q "SELECT string_agg(day || '  ' || pairs, E'\n' ORDER BY day) FROM usage_day_state
               WHERE day IN ('2026-11-07', '2026-11-10')")" ] ||
	fail "the second compaction: $OUT"
[ "$(in_b q "SELECT count(*) FROM usage_day_state WHERE dirty")" = 0 ] || fail "still dirty"
in_b ok_cmd rollup compact --through 2026-11-30
[ -z "$OUT" ] || fail "a third compaction found work: $OUT"
ok "late usage (settle's role, upsert) marks its compacted day dirty; close --adjust = A's; the next compaction takes only those days"

# --- guards and bad input --------------------------------------------------------
RC=0; in_b root -c "DELETE FROM usage_5m WHERE tenant_id = 3" 2>"$WORK/err" || RC=$?
[ "$RC" != 0 ] && grep -q "compacted days" "$WORK/err" || fail "DELETE from usage_5m under compaction: $RC $(cat "$WORK/err")"
RC=0; in_b root -c "TRUNCATE usage_5m" 2>"$WORK/err" || RC=$?
[ "$RC" != 0 ] && grep -q "compacted days" "$WORK/err" || fail "TRUNCATE usage_5m under compaction: $RC $(cat "$WORK/err")"
for bad_day in 2026-13-01 2026-02-29 26-11-01 2026-11-01x ""; do
	in_b bs rollup compact --through "$bad_day"
	[ "$RC" = 2 ] && grep -q -- "--through '$bad_day'" <<<"$ERR" ||
		fail "--through '$bad_day': exit $RC: $ERR"
done
RC=0; in_b pg_psql -U bandsplit_settle -c "SELECT bs_usage_day_compact('2026-11-01')" 2>/dev/null || RC=$?
[ "$RC" != 0 ] || fail "bandsplit_settle may compact"
ok "usage_5m not deletable or truncatable while days are compacted; bad --through is a usage error; settle may not compact"

echo "usage_day: $PASSED passed"
