#!/usr/bin/env bash
# test_finance_close.sh — `bandsplit close`, invoices, notes, carrier bills,
# the ledger and `bandsplit reconcile` against a real PostgreSQL 15:
# close twice → identical; totals = Σ lines + VAT; the ledger sums to zero;
# every way of changing an issued document refused (every table and column);
# late usage → a note, the originals untouched; two concurrent closes → one
# runs; bad input → a clear error naming it, exit code, nothing written.
#   usage: test_finance_close.sh BUILD_DIR [CASE]
set -euo pipefail

BUILD=$(cd "$1" && pwd)
ONLY=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
WORK=$(mktemp -d /tmp/bandsplit-fin.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
. "$HERE/finance_lib.sh"
. "$HERE/../lib/bulk_month.sh"

pg_start
export BANDSPLIT_ACTOR=finance-test
ok_cmd --db "$BS_DB_ADMIN" migrate
fin_model
fin_usage '2026-11-01 00:00+08' '2026-12-01 00:00+08'

# The invariants after any close.
check_invariants() {
	local bad
	bad=$(q "SELECT count(*) FROM invoice i WHERE i.subtotal_fen <>
	           (SELECT coalesce(sum(amount_fen), 0) FROM invoice_line l WHERE l.invoice_id = i.invoice_id)
	        OR i.vat_fen <> (SELECT coalesce(sum(vat_fen), 0) FROM invoice_vat v WHERE v.invoice_id = i.invoice_id)
	        OR i.total_fen <> i.subtotal_fen + i.vat_fen")
	[ "$bad" = 0 ] || fail "$1: $bad document(s) whose totals are not Σ lines + VAT"
	bad=$(q "SELECT count(*) FROM invoice i JOIN invoice_vat v USING (invoice_id)
	          WHERE i.kind = 'invoice' AND v.vat_fen <> (v.base_fen * v.vat_bp + 5000) / 10000")
	[ "$bad" = 0 ] || fail "$1: VAT not round-half-up(base × rate)"
	bad=$(q "SELECT coalesce(sum(amount_fen), 0) FROM posting")
	[ "$bad" = 0 ] || fail "$1: the ledger sums to $bad, not 0"
	bad=$(q "SELECT count(*) FROM journal_entry e WHERE (SELECT coalesce(sum(amount_fen), 0)
	          FROM posting p WHERE p.entry_id = e.entry_id) <> 0")
	[ "$bad" = 0 ] || fail "$1: $bad unbalanced entries"
	bad=$(q "SELECT count(*) FROM invoice i WHERE NOT EXISTS (SELECT 1 FROM journal_entry e
	          WHERE e.invoice_id = i.invoice_id)")
	[ "$bad" = 0 ] || fail "$1: $bad documents without a journal entry"
	ok_cmd ledger trial-balance --period 2026-11
	grep -q "TOTAL .* 0$" <<<"$OUT" || fail "$1: trial balance: $OUT"
}

# --- help and usage ------------------------------------------------------------
ok_cmd --help
for c in close invoice ledger reconcile park; do
	grep -q "^  $c " <<<"$OUT" || fail "--help lacks $c"
done
ok_cmd close --help; grep -q "^Usage: bandsplit close --period" <<<"$OUT" || fail "close --help"
ok_cmd reconcile --help
for v in list show export; do ok_cmd invoice "$v" --help; done
for v in accounts trial-balance; do ok_cmd ledger "$v" --help; done
for v in show set; do ok_cmd park "$v" --help; done
ok "--help at every level"

# --- bad input: nothing written --------------------------------------------------
bad 2 "--period is required" close
bad 2 "--period '2026-13': month 13 does not exist" close --period 2026-13
bad 2 "--period '2026-00': month 00 does not exist" close --period 2026-00
bad 2 "--period '26-11': expected YYYY-MM" close --period 26-11
bad 2 "--period '2026-1': expected YYYY-MM" close --period 2026-1
bad 2 "unknown option" close --period 2026-11 --frobnicate
bad 1 "--tenant 999: no such tenant" invoice list --tenant 999
bad 2 "--period '2026-13'" invoice export --period 2026-13 --format csv
bad 2 "--format 'xml'" invoice export --period 2026-11 --format xml
bad 1 "period 2026-11 is not closed yet" close --period 2026-11 --adjust
# a tenant without a tax id
q "UPDATE tenant SET tax_id = NULL WHERE tenant_id = 2" >/dev/null
bad 1 "no tax id: tenant 2 (beta)" close --period 2026-11
q "UPDATE tenant SET tax_id = '91B' WHERE tenant_id = 2" >/dev/null
# a plan with no version in force during an allocation (a hole made by hand)
q "SET bandsplit.force = on; UPDATE plan_version SET valid = tstzrange(lower(valid), '2026-11-20 00:00+08') WHERE plan_id = 2" >/dev/null
bad 1 "allocation 2 (tenant 2, pool 1, plan 2 'flat')" close --period 2026-11
grep -qi "version" <<<"$ERR" || fail "no-version error does not say so: $ERR"
q "UPDATE plan_version SET valid = tstzrange(lower(valid), NULL) WHERE plan_id = 2" >/dev/null
# usage on a pool without a contract for the month, and of an unknown tenant
q "INSERT INTO usage_5m (tenant_id, pool_id, direction, bucket_start, frame_bytes) VALUES (1, 9, 'in', '2026-11-05 00:00+08', 5)" >/dev/null
bad 1 "pool 9: usage in 2026-11 but no pool contract" close --period 2026-11
q "DELETE FROM usage_5m WHERE pool_id = 9" >/dev/null
q "INSERT INTO usage_5m (tenant_id, pool_id, direction, bucket_start, frame_bytes) VALUES (77, 1, 'in', '2026-11-05 00:00+08', 5)" >/dev/null
bad 1 "tenant 77: usage in 2026-11 on pool 1 but no such tenant" close --period 2026-11
q "DELETE FROM usage_5m WHERE tenant_id = 77" >/dev/null
# incomplete seller details
q "UPDATE park_settings SET seller_address = NULL" >/dev/null
bad 1 "seller address not set" close --period 2026-11
q "UPDATE park_settings SET seller_address = '1 Park Road'" >/dev/null
[ "$(q "SELECT count(*) FROM close_run")" = 0 ] || fail "a refused close left a run"
ok "bad input: clear errors naming the culprit, exit 2 or 1, nothing written"

# --- the close ----------------------------------------------------------------
before=$(fin_state)
ok_cmd close --period 2026-11 --dry-run
grep -q "dry run, nothing written" <<<"$OUT" || fail "dry run: $OUT"
grep -q "2026-000001" <<<"$OUT" || fail "dry run does not show the invoices: $OUT"
[ "$(fin_state)" = "$before" ] || fail "--dry-run wrote"
ok "--dry-run prints the documents and writes nothing"

ok_cmd close --period 2026-11
grep -q "3 invoice\|period 2026-11: 5 document(s) issued" <<<"$OUT" || fail "close: $OUT"
[ "$(q "SELECT string_agg(number || ':' || tenant_id, ' ' ORDER BY number) FROM invoice")" = \
  "2026-000001:1 2026-000002:2 2026-000003:3" ] || fail "numbers: $(q 'SELECT number FROM invoice')"
[ "$(q "SELECT count(*) FROM carrier_bill")" = 2 ] || fail "carrier bills"
# segments: tenant 1 has two (the plan change), each with its own 95th
[ "$(q "SELECT count(DISTINCT segment_no) FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE i.tenant_id = 1")" = 2 ] \
	|| fail "tenant 1: the plan change did not make two segments"
# buckets of the two segments: the change at 10:02:30 local leaves the
# bucket starting 10:00 in the first segment
[ "$(q "SELECT string_agg(buckets::text, '+' ORDER BY segment_no) FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE i.tenant_id = 1 AND charge = 'commit'")" = "4441+4199" ] \
	|| fail "segment buckets: $(q "SELECT buckets FROM invoice_line WHERE charge='commit' AND alloc_id = 1")"
# tenant 2 starts mid-month: prorated flat
[ "$(q "SELECT window_seconds || '/' || period_seconds || ' ' || amount_fen FROM invoice_line l WHERE alloc_id = 2")" = \
  "1771200/2592000 410000" ] || fail "proration: $(q "SELECT * FROM invoice_line WHERE alloc_id = 2")"
# the legal details copied
[ "$(q "SELECT seller_name || '|' || buyer_name || '|' || buyer_tax_id || '|' || due_date - issue_date FROM invoice WHERE tenant_id = 3")" = \
  "Park Operator Co|gamma|91C|30" ] || fail "legal details"
# VAT per rate: 9% for the volume plan
[ "$(q "SELECT vat_bp FROM invoice_vat JOIN invoice USING (invoice_id) WHERE tenant_id = 3")" = 900 ] || fail "VAT rate group"
check_invariants "after the close"
ok "close: gapless numbers, segments, proration, legal details, VAT groups, balanced ledger"

first=$(fin_state)
ok_cmd close --period 2026-11
grep -q "period 2026-11 is closed already (run [0-9]* at" <<<"$OUT" || fail "re-run: $OUT"
[ "$(fin_state)" = "$first" ] || fail "a second close changed something"
ok "close twice: identical, and says so"

ok_cmd invoice list --period 2026-11 --json
[ "$(jq length <<<"$OUT")" = 3 ] || fail "invoice list --json: $OUT"
ok_cmd invoice show --number 2026-000001
grep -q "billed_bucket\|BILLED_BUCKET" <<<"$OUT" || fail "invoice show lacks evidence"
ok_cmd invoice show --number 2026-000001 --json
[ "$(jq '.lines | length' <<<"$OUT")" = 4 ] || fail "invoice show --json: $OUT"
bad 1 "invoice not found" invoice show --number 2026-000099
ok_cmd invoice export --period 2026-11 --format csv
[ "$(head -1 <<<"$OUT")" = "number,kind,original_number,period,issue_date,due_date,tenant_id,buyer_name,buyer_tax_id,currency,line_no,segment_no,alloc_id,pool_id,plan_id,plan_version,plan_kind,charge,window_start,window_end,direction,byte_measure,buckets,gaps,billed_rank,billed_bucket,billed_bytes,commit_bps,bytes_in,bytes_out,quantity,unit_price_fen,amount_fen,vat_bp,document_subtotal_fen,document_vat_fen,document_total_fen,description" ] \
	|| fail "export header changed: $(head -1 <<<"$OUT")"
[ "$(($(wc -l <<<"$OUT") - 1))" = "$(q "SELECT count(*) FROM invoice_line")" ] || fail "export rows"
ok_cmd invoice export --period 2026-11 --format json
[ "$(jq '[.[].amount_fen] | add' <<<"$OUT")" = "$(q "SELECT sum(amount_fen) FROM invoice_line")" ] || fail "export json"
ok_cmd ledger accounts
grep -q "receivable:tenant:1" <<<"$OUT" || fail "accounts: $OUT"
ok "invoice list/show/export, ledger accounts"

ok_cmd reconcile --period 2026-11
grep -q "reconciliation holds" <<<"$OUT" || fail "reconcile: $OUT"
ok_cmd reconcile --period 2026-11 --json
[ "$(jq .ok <<<"$OUT")" = true ] || fail "reconcile --json"
ok_cmd reconcile --period 2026-11 --format csv
grep -q "^pool,name,carrier" <<<"$OUT" || fail "reconcile csv"
ok "reconcile: the byte chain holds after the close (table, json, csv)"

# --- immutability: every table, every column, every statement ----------------------
refused() {   # SQL: must fail with BSI01
	local err
	if err=$(pg_psql -c "$1" 2>&1); then fail "not refused: $1"; fi
	grep -q "immutable\|only counts up\|only its name\|can only be updated to DEFAULT" <<<"$err" || fail "refused for another reason: $1: $err"
}
for t in close_run invoice invoice_line invoice_vat carrier_bill journal_entry posting; do
	for col in $(q "SELECT attname FROM pg_attribute WHERE attrelid = '$t'::regclass AND attnum > 0 AND NOT attisdropped"); do
		refused "UPDATE $t SET $col = $col"
	done
	refused "DELETE FROM $t"
	refused "TRUNCATE $t CASCADE"
done
refused "INSERT INTO invoice_line SELECT invoice_id, 99, segment_no, alloc_id, pool_id, plan_id, plan_version, plan_kind, charge, window_start, window_end, window_seconds, period_seconds, direction, byte_measure, buckets, gaps, billed_rank, dropped, billed_bucket, billed_bytes, commit_bps, bytes_in, bytes_out, quantity, unit_price_fen, 1, vat_bp, description FROM invoice_line LIMIT 1"
refused "INSERT INTO invoice_vat VALUES (1, 1300, 0, 0)"
refused "INSERT INTO posting SELECT entry_id, 99, account_id, 1 FROM posting LIMIT 1"
refused "UPDATE document_counter SET last_number = last_number - 1"
refused "DELETE FROM document_counter"
refused "UPDATE account SET code = code || 'x'"
refused "DELETE FROM account"
# a number not taken from the counter, and a hole in the numbers
err=$(pg_psql -c "INSERT INTO invoice (kind, number, number_year, number_seq, run_id, period, period_start, period_end, tenant_id, currency, issue_date, due_date, seller_name, seller_tax_id, seller_address, buyer_name, buyer_tax_id, subtotal_fen, vat_fen, total_fen) SELECT 'invoice', number_year || '-000099', number_year, 99, run_id, '2026-10-01', period_start, period_end, tenant_id, currency, issue_date, due_date, seller_name, seller_tax_id, seller_address, buyer_name, buyer_tax_id, 0, 0, 0 FROM invoice LIMIT 1" 2>&1) \
	&& fail "an invoice with a number never taken was accepted"
grep -q "not taken from the counter" <<<"$err" || fail "number guard: $err"
err=$(pg_psql -c "UPDATE document_counter SET last_number = last_number + 1 WHERE series = 'invoice'" 2>&1) \
	&& fail "a hole in the numbers was accepted"
grep -q "not gapless" <<<"$err" || fail "gapless check: $err"
# an unbalanced journal entry
err=$(pg_psql -c "BEGIN; INSERT INTO journal_entry (period, run_id, currency, invoice_id, memo) SELECT '2026-11-01', 1, 'CNY', NULL, 'x' WHERE false; INSERT INTO close_run (period, kind, time_zone, billing_measure, period_start, period_end, actor) VALUES ('2026-09-01', 'adjust', 'UTC', 'frame', '2026-09-01', '2026-10-01', 't'); INSERT INTO carrier_bill (kind, run_id, period, pool_id, carrier, currency, cost_model, window_start, window_end, window_seconds, period_seconds, byte_measure, buckets, gaps, bytes_in, bytes_out, unattributed_bytes, amount_fen) SELECT 'bill', max(run_id), '2026-09-01', 1, 'x', 'CNY', 'flat', '2026-09-01', '2026-10-01', 2592000, 2592000, 'frame', 0, 0, 0, 0, 0, 5 FROM close_run; INSERT INTO journal_entry (period, run_id, currency, carrier_bill_id, memo) SELECT '2026-09-01', max(run_id), 'CNY', max(carrier_bill_id), 'unbalanced' FROM carrier_bill WHERE period = '2026-09-01'; INSERT INTO posting SELECT max(entry_id), 1, (SELECT min(account_id) FROM account), 5 FROM journal_entry; COMMIT;" 2>&1) \
	&& fail "an unbalanced entry was accepted"
grep -q "does not balance" <<<"$err" || fail "balance check: $err"
[ "$(fin_state)" = "$first" ] || fail "a refused change changed something"
ok "every UPDATE (each column), DELETE, TRUNCATE and late INSERT of an issued document refused; gapless numbers and balanced entries enforced"

# --- late usage → a note; the originals untouched ------------------------------------
# tenant 1: one bucket's bytes up (dropped above the 95th: only the evidence
# changes); tenant 3 (volume, direction sum): +2,000 GB at 0.40 yuan
fin_late '2026-11-20 10:00+08' 1 1 900000000000
fin_late '2026-11-21 10:00+08' 3 2 2000000000000
ok_cmd close --period 2026-11
grep -q "pending late usage: 2 rollup row" <<<"$OUT" || fail "pending late usage not reported: $OUT"
[ "$(fin_state)" = "$first" ] || fail "plain close after late usage wrote"
bs reconcile --period 2026-11
[ "$RC" = 1 ] || fail "reconcile with unadjusted late usage: exit $RC"
grep -q "usage settled after the last close.*FAIL" <<<"$OUT" || fail "reconcile: $OUT"
ok "a closed period with late usage: the close says so, reconcile fails (exit 1)"

originals=$(q "SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (SELECT i.*, l.* FROM invoice i JOIN invoice_line l USING (invoice_id) WHERE i.kind = 'invoice') x")
ok_cmd close --period 2026-11 --adjust
grep -q "debit note *DN-2026-000001" <<<"$OUT" || fail "--adjust: $OUT"
grep -q "debit note *DN-2026-000002" <<<"$OUT" || fail "--adjust: $OUT"
[ "$(q "SELECT string_agg(n.number || '>' || o.number, ' ' ORDER BY n.number) FROM invoice n JOIN invoice o ON o.invoice_id = n.original_id")" = \
  "DN-2026-000001>2026-000001 DN-2026-000002>2026-000003" ] || fail "the notes do not reference their invoices"
[ "$(q "SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (SELECT i.*, l.* FROM invoice i JOIN invoice_line l USING (invoice_id) WHERE i.kind = 'invoice') x")" = "$originals" ] \
	|| fail "the originals changed"
# tenant 1: the evidence's delta is exactly the late bytes, amounts unchanged
[ "$(q "SELECT string_agg(DISTINCT delta_bytes_in::text || '/' || amount_fen, ' ') FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE i.number = 'DN-2026-000001'")" = "900000000000/0" ] \
	|| fail "tenant 1's note: $(q "SELECT * FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE i.number = 'DN-2026-000001'")"
# tenant 3: +2,000 GB × 40 fen; VAT 9% = round(new base × 9%) − VAT billed
base=$(q "SELECT sum(v.base_fen) FROM invoice_vat v JOIN invoice x USING (invoice_id) WHERE x.tenant_id = 3 AND x.period = '2026-11-01'")
old_vat=$(q "SELECT vat_fen FROM invoice WHERE number = '2026-000003'")
[ "$(q "SELECT subtotal_fen || ' ' || vat_fen FROM invoice WHERE number = 'DN-2026-000002'")" = \
  "80000 $(( (base * 900 + 5000) / 10000 - old_vat ))" ] \
	|| fail "tenant 3's note: $(q "SELECT i.number, v.* FROM invoice_vat v JOIN invoice i USING (invoice_id) WHERE i.tenant_id = 3")"
check_invariants "after --adjust"
ok_cmd reconcile --period 2026-11
grep -q "reconciliation holds" <<<"$OUT" || fail "reconcile after adjust: $OUT"
adjusted=$(fin_state)
ok_cmd close --period 2026-11 --adjust
grep -q "no change since its close; nothing issued" <<<"$OUT" || fail "second --adjust: $OUT"
[ "$(fin_state)" = "$adjusted" ] || fail "a second --adjust wrote"
ok "late usage → a debit note referencing the invoice with the deltas; originals untouched; ledger balanced; reconcile holds"

# --- two concurrent closes: one runs ---------------------------------------------------
fin_usage '2026-12-01 00:00+08' '2027-01-01 00:00+08'
pg_psql -c "BEGIN; SELECT pg_advisory_xact_lock(hashtext('bandsplit.close')); SELECT pg_sleep(2); COMMIT;" >/dev/null &
holder=$!
sleep 0.5
"$BS" close --period 2026-12 >"$WORK/c1" 2>&1 & p1=$!
"$BS" close --period 2026-12 >"$WORK/c2" 2>&1 & p2=$!
rc1=0; rc2=0; wait $p1 || rc1=$?; wait $p2 || rc2=$?; wait $holder
[ $rc1 = 0 ] && [ $rc2 = 0 ] || fail "concurrent closes: exit $rc1/$rc2: $(cat "$WORK/c1" "$WORK/c2")"
grep -q "another close is running; waiting" "$WORK/c1" || fail "close 1 did not say it waits: $(cat "$WORK/c1")"
[ "$(grep -l "closed already" "$WORK/c1" "$WORK/c2" | wc -l)" = 1 ] || fail "not exactly one 'closed already': $(cat "$WORK/c1" "$WORK/c2")"
[ "$(q "SELECT count(*) FROM close_run WHERE period = '2026-12-01'")" = 1 ] || fail "two runs for 2026-12"
[ "$(q "SELECT count(*) FROM invoice WHERE period = '2026-12-01'")" = 3 ] || fail "December invoices"
[ "$(q "SELECT string_agg(number, ' ' ORDER BY number) FROM invoice WHERE kind = 'invoice' AND period = '2026-12-01'")" = \
  "2026-000004 2026-000005 2026-000006" ] || fail "December numbers not following November's"
check_invariants "after concurrent closes"
ok "two concurrent closes: one waits then finds the period closed; one run, gapless numbers"

# --- a park whose samples span several 2 MB pages ------------------------------------
# The close holds the month's samples in dense arrays (close.c, cube_array:
# transparent huge pages): 48 (tenant, pool) pairs × 8,640 buckets × 8 bytes
# are 3.3 MB an array, more than one 2 MB page. Every statement digest the
# close computes from those arrays must match the one `statement verify`
# recomputes from the database's rows (the first, a middle and the last
# pair), and each pool's bill (from the pool arrays) its rows' totals and
# 95th.
pg_psql -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null 2>&1
ok_cmd --db "$BS_DB_ADMIN" migrate
bulk_month 48 48 2 1 0
ok_cmd close --period 2026-11
[ "$(q "SELECT count(*) FROM invoice WHERE kind = 'invoice'")" = 48 ] || fail "48 tenants: not 48 invoices"
for t in 1 25 48; do
	ok_cmd statement --tenant $t --period 2026-11 --format csv
	printf '%s\n' "$OUT" >"$WORK/big$t.csv"
	bs statement verify "$WORK/big$t.csv"
	{ [ "$RC" = 0 ] && grep -q "at close" <<<"$OUT"; } ||
		fail "48 tenants: tenant $t's digest at close does not verify (exit $RC): $OUT $ERR"
done
for p in 1 2; do
	want=$(q "SELECT sum(frame_bytes) FILTER (WHERE direction = 'in') || ' ' ||
	                 sum(frame_bytes) FILTER (WHERE direction = 'out') || ' ' ||
	                 (SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY m) FROM
	                    (SELECT greatest(sum(frame_bytes) FILTER (WHERE direction = 'in'),
	                                     sum(frame_bytes) FILTER (WHERE direction = 'out')) AS m
	                       FROM usage_5m WHERE pool_id = $p GROUP BY bucket_start) s)
	            FROM usage_5m WHERE pool_id = $p")
	got=$(q "SELECT bytes_in || ' ' || bytes_out || ' ' || billed_bytes FROM carrier_bill
	          WHERE pool_id = $p AND period = '2026-11-01'")
	[ "$got" = "$want" ] || fail "48 tenants: pool $p's bill (in, out, 95th) $got; the rows say $want"
done
check_invariants "48 tenants"
ok "a park whose samples span several 2 MB pages: every digest verifies, each pool's totals and 95th match its rows"

echo "test_finance_close: $PASSED passed"
