# finance_lib.sh — what the finance tests share: a park model made with the
# bandsplit CLI, and a month of consistent usage (node interval summaries,
# raw records, 5-minute rollups, so that the byte chain holds) written
# straight into PostgreSQL. Source it after tests/lib/pg.sh and pg_start.
#   needs: BS (the bandsplit binary), WORK (a scratch dir)

PASSED=0
OUT=; ERR=; RC=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
q() { pg_psql -At -c "$1"; }

# bs ARGS...: runs bandsplit, OUT/ERR/RC set.
bs() {
	RC=0
	"$BS" "$@" >"$WORK/out" 2>"$WORK/err" || RC=$?
	OUT=$(cat "$WORK/out"); ERR=$(cat "$WORK/err")
}
ok_cmd() {
	bs "$@"
	[ "$RC" = 0 ] || fail "bandsplit $*: exit $RC: $ERR"
}

# A digest of everything the close writes.
fin_state() {
	q "SELECT md5(concat(
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM close_run x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM document_counter x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM invoice x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM invoice_line x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM invoice_vat x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM carrier_bill x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM account x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM journal_entry x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM posting x)))"
}

# bad RC MESSAGE ARGS...: must exit RC with MESSAGE on stderr, and write
# nothing.
bad() {
	local want=$1 msg=$2; shift 2
	local before; before=$(fin_state)
	bs "$@"
	[ "$RC" = "$want" ] || fail "bandsplit $*: exit $RC, expected $want: $ERR"
	grep -qF -- "$msg" <<<"$ERR" || fail "bandsplit $*: message lacks '$msg': $ERR"
	[ "$(fin_state)" = "$before" ] || fail "bandsplit $*: failed but wrote"
}

# The model: a p95 pool and a flat pool; three tenants; a burstable95, a
# flat and a volume plan; one allocation from mid-November, one plan change
# mid-November (plan 1 v2 from 2026-11-16T10:02:30, between two 5-minute
# boundaries).
fin_model() {
	ok_cmd park set --seller-name "Park Operator Co" --seller-tax-id 91110000P01 \
		--seller-address "1 Park Road" --seller-bank "ICBC 6222"
	ok_cmd pool add --id 1 --carrier "China Telecom" --name ct-1 --capacity 1G \
		--p95-price 20 --commit-floor 300M --from 2026-01-01 --limit 2
	ok_cmd pool add --id 2 --carrier "China Unicom" --name cu-1 --capacity 1G \
		--flat-fee 30000 --from 2026-01-01
	ok_cmd tenant add --id 1 --name acme --tax-id 91A
	ok_cmd tenant add --id 2 --name beta --tax-id 91B
	ok_cmd tenant add --id 3 --name gamma --tax-id 91C
	ok_cmd plan add --id 1 --name b95 --kind burstable95 --price 50 --overage 80 \
		--from 2026-01-01
	ok_cmd plan add --id 2 --name flat --kind flat --price 30 --from 2026-01-01
	ok_cmd plan add --id 3 --name vol --kind volume --tier 0:0.5 --tier 1000:0.4 \
		--direction sum --vat 9% --from 2026-01-01
	ok_cmd alloc add --tenant 1 --pool 1 --plan 1 --committed 100M --from 2026-01-01
	ok_cmd alloc add --tenant 2 --pool 1 --plan 2 --committed 200M \
		--from 2026-11-10T12:00
	ok_cmd alloc add --tenant 3 --pool 2 --plan 3 --committed 50M --from 2026-01-01
	ok_cmd plan change 1 --from 2026-11-16T10:02:30 --overage 90 --force
}

# fin_usage FROM TO: a node's records, summaries and rollups for the
# 5-minute intervals in [FROM, TO): tenants 1, 2 (from its allocation on),
# 3 and unattributed traffic, both directions, a diurnal-ish pattern; a few
# buckets missing for tenant 1.
fin_usage() {
	pg_psql -c "SELECT bs_usage_raw_ensure_partitions('$1'::timestamptz - interval '1 day', '$2');" >/dev/null
	pg_psql >/dev/null <<-EOF
	CREATE TEMP TABLE recs AS
	SELECT b, t, p, d,
	       ((1 + t) * 200000000 + (extract(epoch FROM b)::bigint / 300 % 288) * 1500000
	        * (CASE WHEN d = 'in' THEN 3 ELSE 1 END)
	        + (extract(epoch FROM b)::bigint / 300 * 7919 % 10007) * 1000)::bigint AS bytes
	  FROM generate_series('$1'::timestamptz, '$2'::timestamptz - interval '5 min',
	                       interval '5 min') b,
	       (VALUES (1, 1), (2, 1), (0, 1), (3, 2)) tp(t, p),
	       (VALUES ('in'), ('out')) dd(d)
	 WHERE NOT (t = 2 AND b < timestamptz '2026-11-10 12:00+08')
	   AND NOT (t = 1 AND extract(epoch FROM b)::bigint / 300 % 997 = 5);
	CREATE TEMP TABLE rows AS
	SELECT x.*, row_number() OVER (ORDER BY x.b, x.kind, x.t, x.p, x.d)
	            + coalesce((SELECT max(seq) FROM node_interval WHERE node_id = 'n1'), 0) AS seq
	  FROM (SELECT b, 0 AS kind, t, p, d, bytes FROM recs
	        UNION ALL
	        SELECT DISTINCT b, 1, NULL::int, NULL::int, NULL::text, NULL::bigint FROM recs) x;
	INSERT INTO usage_raw (node_id, boot_id, seq, interval_start, interval_len,
	    byte_measure, map_version, tenant_id, pool_id, direction, packets, bytes,
	    policed_packets, policed_bytes)
	SELECT 'n1', '00000000-0000-0000-0000-00000000000a', seq, b, 300, 'frame', 1,
	       t, p, d, bytes / 1000, bytes, 0, 0 FROM rows WHERE kind = 0;
	INSERT INTO node_interval (node_id, boot_id, interval_start, interval_len,
	    byte_measure, map_version, seq, record_count, first_seq, in_packets,
	    in_bytes, out_packets, out_bytes, unattributed_packets, unattributed_bytes,
	    malformed_packets, malformed_bytes, non_ip_packets, non_ip_bytes,
	    rx_packets, rx_bytes)
	SELECT 'n1', '00000000-0000-0000-0000-00000000000a', s.b, 300, 'frame', 1,
	       s.seq, count(r.*), min(r.seq),
	       sum(r.bytes / 1000) FILTER (WHERE r.d = 'in'), sum(r.bytes) FILTER (WHERE r.d = 'in'),
	       sum(r.bytes / 1000) FILTER (WHERE r.d = 'out'), sum(r.bytes) FILTER (WHERE r.d = 'out'),
	       coalesce(sum(r.bytes / 1000) FILTER (WHERE r.t = 0), 0),
	       coalesce(sum(r.bytes) FILTER (WHERE r.t = 0), 0), 0, 0, 0, 0,
	       sum(r.bytes / 1000), sum(r.bytes)
	  FROM rows s JOIN rows r ON r.b = s.b AND r.kind = 0
	 WHERE s.kind = 1 GROUP BY s.b, s.seq;
	INSERT INTO usage_5m AS u (tenant_id, pool_id, direction, bucket_start,
	    frame_packets, frame_bytes, records)
	SELECT t, p, d, b, bytes / 1000, bytes, 1 FROM recs
	ON CONFLICT (tenant_id, pool_id, direction, bucket_start) DO UPDATE
	   SET frame_packets = u.frame_packets + excluded.frame_packets,
	       frame_bytes = u.frame_bytes + excluded.frame_bytes,
	       records = u.records + 1, updated_at = now();
	EOF
}

# fin_late BUCKET TENANT POOL BYTES: one late record from a second node
# (its own boot, with its summary), settled now.
fin_late() {
	pg_psql >/dev/null <<-EOF
	WITH r AS (
	    INSERT INTO usage_raw (node_id, boot_id, seq, interval_start, interval_len,
	        byte_measure, map_version, tenant_id, pool_id, direction, packets,
	        bytes, policed_packets, policed_bytes, late)
	    VALUES ('n2', gen_random_uuid(), 1, '$1', 300, 'frame', 1, $2, $3, 'in',
	            1, $4, 0, 0, true)
	    RETURNING node_id, boot_id, interval_start)
	INSERT INTO node_interval (node_id, boot_id, interval_start, interval_len,
	    byte_measure, map_version, seq, record_count, first_seq, in_packets,
	    in_bytes, out_packets, out_bytes, unattributed_packets, unattributed_bytes,
	    malformed_packets, malformed_bytes, non_ip_packets, non_ip_bytes,
	    rx_packets, rx_bytes, late)
	SELECT node_id, boot_id, interval_start, 300, 'frame', 1, 2, 1, 1, 1, $4, 0, 0,
	       0, 0, 0, 0, 0, 0, 1, $4, true FROM r;
	INSERT INTO usage_5m AS u (tenant_id, pool_id, direction, bucket_start,
	    frame_packets, frame_bytes, records, late_records)
	VALUES ($2, $3, 'in', '$1', 1, $4, 1, 1)
	ON CONFLICT (tenant_id, pool_id, direction, bucket_start) DO UPDATE
	   SET frame_packets = u.frame_packets + 1, frame_bytes = u.frame_bytes + $4,
	       records = u.records + 1, late_records = u.late_records + 1,
	       updated_at = now();
	EOF
}
