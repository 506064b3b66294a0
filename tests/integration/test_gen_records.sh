#!/usr/bin/env bash
# test_gen_records.sh — `bandsplit-gen --records` (the simulated month of a
# second node's usage records) through the embedded Kafka into
# bandsplit-settle on a real PostgreSQL:
#   - the generator's output: deterministic with --seed (byte-identical),
#     another seed differs, every line a valid usage.v1 record, the node
#     labelled simulated, contiguous seq, summaries equal to their records;
#   - bad options refused with exit 2 and a message naming the option;
#   - November 2026 produced while bandsplit-settle consumes (the embedded
#     Kafka keeps ~5 MiB per partition, less than one tenant's month): the
#     settled rollups equal the generator's per-bucket truth exactly, the
#     per-(tenant, pool, direction) totals equal its totals, the node's
#     interval summaries are all there with no sequence gap, the outage
#     intervals are absent, and the tenants said to burst do burst: their
#     95th percentile (nearest rank, max(in, out)) is over their commit.
source "$(dirname "$0")/settle_lib.sh"

GEN=$BUILD/tools/bandsplit-gen
[[ -x $GEN ]] || fail "$GEN not built"
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }

# ---- the generator alone (two days: 576 intervals) -----------------------------
TWO_DAYS="--start 1793462400 --end 1793635200"
"$GEN" --records --out "$T/a.jsonl" $TWO_DAYS --seed 5 --tenants 6 \
	>"$T/gen-a.log" 2>&1 || fail "generator (--out)"
"$GEN" --records --out "$T/b.jsonl" $TWO_DAYS --seed 5 --tenants 6 \
	>/dev/null 2>&1 || fail "generator (--out, again)"
"$GEN" --records --out "$T/c.jsonl" $TWO_DAYS --seed 6 --tenants 6 \
	>/dev/null 2>&1 || fail "generator (--out, seed 6)"
cmp -s "$T/a.jsonl" "$T/b.jsonl" || fail "the same seed gave different records"
ok "same seed, byte-identical records"
cmp -s "$T/a.jsonl" "$T/c.jsonl" && fail "another seed gave the same records"
ok "another seed, other records"

expect_eq "every record from node sim-node-2, interval 300 s" "0" \
	"$(jq -c 'select(.node_id != "sim-node-2" or .interval_len != 300)' "$T/a.jsonl" | wc -l)"
expect_eq "seq contiguous from 1" "ok" \
	"$(jq -s -r '[.[].seq] | if . == [range(1; length + 1)] then "ok" else "broken" end' "$T/a.jsonl")"
# Every summary equals its interval's usage records (count, first seq, in,
# out, unattributed bytes and packets).
bad=$(jq -s -r '
	(map(select(.type == "usage")) | group_by(.interval_start)
	 | map({key: (.[0].interval_start | tostring), value: {
	     n: length, first: (map(.seq) | min),
	     ib: (map(select(.direction == "in") | .bytes) | add // 0),
	     ob: (map(select(.direction == "out") | .bytes) | add // 0),
	     ip: (map(select(.direction == "in") | .packets) | add // 0),
	     ub: (map(select(.tenant_id == 0) | .bytes) | add // 0)}})
	 | from_entries) as $u
	| [ .[] | select(.type == "summary")
	    | select(($u[.interval_start | tostring]) as $x
	        | .record_count != $x.n or .first_seq != $x.first
	          or .in_bytes != $x.ib or .out_bytes != $x.ob
	          or .in_packets != $x.ip or .unattributed_bytes != $x.ub) ]
	| length' "$T/a.jsonl")
expect_eq "summaries equal their usage records" 0 "$bad"
missing=$(grep -o 'outage): .*' "$T/gen-a.log" | sed 's/outage): //')
expect_eq "3 outage intervals announced" 3 "$(wc -w <<<"$missing")"
expect_eq "intervals present = 576 − 3" 573 \
	"$(jq -r 'select(.type == "summary") | .interval_start' "$T/a.jsonl" | wc -l)"
for t in $missing; do
	expect_eq "no record in the outage interval $t" 0 \
		"$(grep -c "\"interval_start\":$t," "$T/a.jsonl" || true)"
done

refuse() { # WHAT PATTERN ARGS...
	local what=$1 pat=$2 rc=0
	shift 2
	"$GEN" --records "$@" >"$T/refused.log" 2>&1 || rc=$?
	[[ $rc == 2 ]] || fail "$what: exit $rc, expected 2"
	grep -q -- "$pat" "$T/refused.log" || fail "$what: message lacks '$pat': $(cat "$T/refused.log")"
	ok "$what refused (exit 2, names $pat)"
}
refuse "a node not labelled simulated" "--node 'node-2'" --out /dev/null --month 2026-11 --node node-2
refuse "month 13" "--month '2026-13'" --out /dev/null --month 2026-13
refuse "a bad tenant spec" "--tenant '3:1'" --out /dev/null --month 2026-11 --tenant 3:1
refuse "no destination" "exactly one of" --month 2026-11
refuse "an unaligned range" "5-minute" --out /dev/null --start 100 --end 1000

# ---- produced into Kafka while bandsplit-settle consumes -----------------------
start_db
start_kafka 64
start_settle live
# The consumer must be consuming before the month is produced, and keep up:
# one tenant's month (~5.7 MB) is more than a partition keeps. At 5,000
# messages/s a tenant's partition grows ~0.2 MB/s, so the consumer would
# have to stall ~25 s to lose data (20,000/s lost some on a loaded machine:
# the partition stops, "Kafka no longer holds offset").
for _ in $(seq 600); do
	grep -q "assigned 64 partition" "$T/settle-live.log" && break
	sleep 0.1
done
grep -q "assigned 64 partition" "$T/settle-live.log" || fail "bandsplit-settle not consuming"
"$GEN" --records --bootstrap-file "$T/boot" --month 2026-11 --seed 5 --rate 5000 \
	--tenant 11:1:100:160 --tenant 12:1:300 --tenant 13:2:50:90 \
	--tenant 14:2:20:16 --tenant 15:1:500:450 \
	--truth "$T/gtruth.csv" --truth-buckets "$T/gbuckets.csv" \
	>"$T/gen-kafka.log" 2>&1 || fail "generator into Kafka"
usage=$(sed -n 's/.* \([0-9]*\) usage records, \([0-9]*\) summaries.*/\1/p' "$T/gen-kafka.log")
sums=$(sed -n 's/.* \([0-9]*\) usage records, \([0-9]*\) summaries.*/\2/p' "$T/gen-kafka.log")
[[ -n $usage && -n $sums ]] || fail "no totals in the generator's output"
wait_settled $((usage + sums)) 300
stop_settle live
expect_eq "no message went to the DLQ" 0 "$(q "SELECT count(*) FROM rejected_records")"

pg_psql -q <<-EOF || fail "loading the generator's truth"
	CREATE TABLE gtruth (tenant_id bigint, pool_id bigint, direction text,
	  records bigint, packets bigint, bytes bigint);
	\copy gtruth FROM '$T/gtruth.csv' WITH (FORMAT csv, HEADER)
	CREATE TABLE gbuckets (tenant_id bigint, pool_id bigint, direction text,
	  bucket bigint, packets bigint, bytes bigint);
	\copy gbuckets FROM '$T/gbuckets.csv' WITH (FORMAT csv, HEADER)
EOF
got=$(q "
  WITH t AS (SELECT tenant_id, pool_id, direction, to_timestamp(bucket) AS b,
                    packets, bytes FROM gbuckets),
       r AS (SELECT tenant_id, pool_id, direction, bucket_start AS b,
                    frame_packets, frame_bytes FROM usage_5m)
  SELECT (SELECT count(*) FROM (TABLE t EXCEPT TABLE r) x) || ' ' ||
         (SELECT count(*) FROM (TABLE r EXCEPT TABLE t) x) || ' ' ||
         (SELECT count(*) FROM t)")
expect_eq "rollups = per-bucket truth (truth-only, rollup-only, rows)" \
	"0 0 $usage" "$got"
got=$(q "
  WITH r AS (SELECT tenant_id, pool_id, direction, sum(records)::bigint AS n,
                    sum(frame_packets)::bigint AS p, sum(frame_bytes)::bigint AS y
               FROM usage_5m GROUP BY 1, 2, 3)
  SELECT (SELECT count(*) FROM (SELECT * FROM gtruth EXCEPT SELECT * FROM r) x)
      || ' ' || (SELECT count(*) FROM (SELECT * FROM r EXCEPT SELECT * FROM gtruth) x)
      || ' ' || (SELECT count(*) FROM gtruth)")
expect_eq "totals per (tenant, pool, direction) = the printed truth" "0 0 14" "$got"
expect_eq "node intervals settled, all from sim-node-2" "$sums sim-node-2" \
	"$(q "SELECT count(*) || ' ' || string_agg(DISTINCT node_id, ',') FROM node_interval")"
expect_eq "Σ node summaries = Σ truth bytes" \
	"$(q "SELECT sum(bytes) FROM gtruth")" \
	"$(q "SELECT sum(in_bytes + out_bytes) FROM node_interval")"
"$CLI" gaps --from 2026-11-01T00:00:00+08:00 --to 2026-12-01T00:00:00+08:00 \
	--fail-if-any >"$T/gaps.txt" 2>&1 || fail "bandsplit gaps: $(cat "$T/gaps.txt")"
ok "no sequence gap, every summary equals its records"
missing=$(grep -o 'outage): .*' "$T/gen-kafka.log" | sed 's/outage): //')
for t in $missing; do
	expect_eq "outage interval $t: no summary, no rollup" "0 0" \
		"$(q "SELECT (SELECT count(*) FROM node_interval WHERE interval_start = to_timestamp($t))
		     || ' ' || (SELECT count(*) FROM usage_5m WHERE bucket_start = to_timestamp($t))")"
done

# Bursting: the 95th (rank ⌈0.95 × 8,640⌉ = 8,208: the 433rd largest, gaps
# as 0) of max(in, out) in bit/s against the commit given above.
p95() { # TENANT → bit/s (integer part)
	q "SELECT coalesce((SELECT v FROM (
	     SELECT max(frame_bytes) * 8 / 300 AS v FROM usage_5m
	      WHERE tenant_id = $1 GROUP BY bucket_start) s
	     ORDER BY v DESC OFFSET 432 LIMIT 1), 0)"
}
for spec in 11:100:over 13:50:over 12:300:under 14:20:under 15:500:under; do
	IFS=: read -r t commit want <<<"$spec"
	v=$(p95 "$t")
	if [[ $want == over ]]; then
		(( v > commit * 1000000 )) || fail "tenant $t: p95 $v bit/s not over its commit"
	else
		(( v <= commit * 1000000 )) || fail "tenant $t: p95 $v bit/s over its commit"
	fi
	ok "tenant $t: p95 $((v / 1000000)) Mbps, $want its commit of $commit Mbps"
done
grep -q "SIMULATED usage of node sim-node-2" "$T/gen-kafka.log" || fail "not labelled simulated"
ok "labelled simulated"

# ---- the simulated month rated: the database export, reference and C agree --
# A park on the settled month: a p95 and a flat pool, a burstable95 plan
# whose price changes mid-month between two 5-minute boundaries, a volume
# plan, an allocation starting mid-month and one changed mid-month.
pg_psql -q <<-'EOF2' || fail "setting up the park model"
	INSERT INTO pool (pool_id, carrier, name, capacity_bps, valid, cost_model,
	                  price_fen_per_mbps, commit_floor_bps, monthly_fee_fen) VALUES
	  (1, 'Carrier A', 'pool-a', 10000000000, tstzrange('2026-01-01 00:00+08', NULL),
	   'p95', 2000, 500000000, NULL),
	  (2, 'Carrier B', 'pool-b', 10000000000, tstzrange('2026-11-05 00:00+08', NULL),
	   'flat', NULL, NULL, 5000000);
	INSERT INTO tenant (tenant_id, name)
	  SELECT i, 'tenant ' || i FROM generate_series(11, 15) AS i;
	INSERT INTO plan (plan_id, name, kind) VALUES (1, 'b95', 'burstable95'),
	                                              (2, 'vol', 'volume'),
	                                              (3, 'no version yet', 'flat');
	INSERT INTO plan_version (plan_id, version, kind, valid, price_fen_per_mbps,
	                          overage_fen_per_mbps) VALUES
	  (1, 1, 'burstable95', tstzrange('2026-01-01 00:00+08', '2026-11-16 12:02:30+08'), 3000, 5000),
	  (1, 2, 'burstable95', tstzrange('2026-11-16 12:02:30+08', NULL), 3500, 6000);
	INSERT INTO plan_version (plan_id, version, kind, valid, direction,
	                          tier_from_gb, tier_fen_per_gb) VALUES
	  (2, 1, 'volume', tstzrange('2026-01-01 00:00+08', NULL), 'sum', '{0,10000}', '{20,12}');
	INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps, burst_bps, valid) VALUES
	  (11, 1, 1, 100000000, 1000000000, tstzrange('2026-01-01 00:00+08', NULL)),
	  (12, 1, 1, 300000000, 1000000000, tstzrange('2026-11-10 09:31:17+08', NULL)),
	  (13, 2, 1, 50000000, 1000000000, tstzrange('2026-11-05 00:00+08', '2026-11-20 07:07:07+08')),
	  (13, 2, 1, 80000000, 1000000000, tstzrange('2026-11-20 07:07:07+08', NULL)),
	  (14, 2, 2, 20000000, 1000000000, tstzrange('2026-11-05 00:00+08', NULL)),
	  (15, 1, 1, 500000000, 1000000000, tstzrange('2026-01-01 00:00+08', NULL));
EOF2
pg_psql -At -v month=2026-11 -f "$SRC/tests/reference/case_from_db.sql" >"$T/case.json" ||
	fail "exporting the month for the reference"
python3 "$SRC/tests/reference/rating_ref.py" "$T/case.json" >"$T/ref.json" ||
	fail "rating_ref.py: $(cat "$T/ref.json")"
"$BUILD/tests/reference/rating_driver" "$T/case.json" >"$T/c.json" ||
	fail "rating_driver: $(cat "$T/c.json")"
expect_eq "the month rated by the reference and by the C library: identical" "same" \
	"$(python3 -c 'import json, sys; a, b = (json.load(open(f)) for f in sys.argv[1:]); print("same" if a == b else "differ")' "$T/ref.json" "$T/c.json")"
# The byte chain on the rated month: Σ evidence bytes (one commit or volume
# line per segment) per tenant = Σ rollups in its allocations' buckets.
evidence=$(python3 -c '
import json, sys
out = json.load(open(sys.argv[1]))
tot = {}
for inv in out["invoices"]:
    for l in inv["lines"]:
        if l["charge"] in ("commit", "volume"):
            tot[l["tenant_id"]] = tot.get(l["tenant_id"], 0) + l["bytes_in"] + l["bytes_out"]
print(" ".join(f"{t}:{tot[t]}" for t in sorted(tot)))' "$T/ref.json")
rollups=$(q "
  SELECT string_agg(tenant_id || ':' || b, ' ' ORDER BY tenant_id) FROM (
    SELECT u.tenant_id, sum(u.frame_bytes) AS b FROM usage_5m u
     WHERE EXISTS (SELECT 1 FROM allocation a
                    WHERE a.tenant_id = u.tenant_id AND a.pool_id = u.pool_id
                      AND a.valid && tstzrange(u.bucket_start, u.bucket_start + interval '300 seconds'))
       AND u.bucket_start > '2026-11-01 00:00+08'::timestamptz - interval '300 seconds'
       AND u.bucket_start < '2026-12-01 00:00+08'
     GROUP BY u.tenant_id) s")
expect_eq "Σ evidence bytes = Σ rollups in the allocations' buckets, per tenant" "$rollups" "$evidence"
expect_eq "lines: 2 segments × 2 for 11, 12 (starts mid-month) and 15 (price change), 13 (changed mid-month) 3 × 2, 14 (volume) 1" \
	"11:4 12:4 13:6 14:1 15:4" \
	"$(python3 -c '
import json, sys
out = json.load(open(sys.argv[1]))
n = {}
for inv in out["invoices"]:
    n[inv["tenant_id"]] = n.get(inv["tenant_id"], 0) + len(inv["lines"])
print(" ".join(f"{t}:{n[t]}" for t in sorted(n)))' "$T/ref.json")"
