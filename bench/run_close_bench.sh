#!/usr/bin/env bash
# run_close_bench.sh — the month close against its floor.
#
# For each tenant count (default 1000 2000 4000): a fresh schema in a private
# PostgreSQL 15 (tests/lib/pg.sh), four p95 pools, the tenants with tax ids,
# a burstable95, a flat and a volume plan, one allocation per tenant, and a
# full 30-day month (2026-11, Asia/Shanghai: 8,640 buckets) of 5-minute
# rollups in both directions for every tenant (1,000 tenants: 17,280,000
# rows), loaded bucket after bucket (the order bandsplit-settle writes them
# in), indexed, VACUUM ANALYZEd, and its UTC days compacted as the daily
# `bandsplit rollup compact` keeps them (timed: compact_s; usage_day, 0029).
# Then, in the same run:
#   scan    the floor: one sequential aggregate scan over the same rows
#           (SELECT count(*), sum(frame_bytes) over the month; best of 2),
#           as PostgreSQL runs it (a parallel seq scan, 2 workers here), and
#           scan1: the same with max_parallel_workers_per_gather = 0 (one
#           process, as the close's single COPY stream reads)
#   close   bandsplit close --period 2026-11 (rating, invoices, carrier
#           bills, ledger, one transaction), reading the compacted days
#   export  bandsplit invoice export --period 2026-11 --format csv
# Targets (1,000 tenants): close ≤ 3 × scan and ≤ 20 s; export ≤ 2 s;
# growth linear in the tenants.
# The server runs as README's "PostgreSQL on the database host" says: its
# shared memory in huge pages (tests/lib/pg.sh PG_HUGE_PAGES, reserved for
# the run and given back; the header says whether they could be had).
#   usage: bench/run_close_bench.sh [BUILD_DIR] [TENANTS...]
#   env:   PG_HUGE_PAGES=0 (without huge pages), PG_SHARED_BUFFERS (256MB)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=$(cd "${1:-build}" && pwd)
shift || true
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(1000 2000 4000)
BS=$BUILD/settlement/bandsplit
. "$ROOT/tests/lib/pg.sh"
. "$ROOT/tests/lib/bulk_month.sh"
export PG_HUGE_PAGES=${PG_HUGE_PAGES:-1}
pg_start
export BANDSPLIT_ACTOR=close-bench BANDSPLIT_SQL_DIR=$ROOT/schemas/sql

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; PostgreSQL $(pg_psql -Atc 'SHOW server_version'), shared_buffers $(pg_psql -Atc 'SHOW shared_buffers'), huge pages: $PG_HUGE_PAGES_STATE"
printf "%-8s %-11s %-9s %-10s %-9s %-9s %-9s %-7s %-7s %-8s\n" tenants rows load_s compact_s scan_s scan1_s close_s ratio ratio1 export_s
for n in "${COUNTS[@]}"; do
	pg_psql -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null 2>&1
	pg_migrate "$BS" >/dev/null
	t0=$(now)
	bulk_month "$n" "$n" 4 3 2000000000
	t1=$(now)
	rows=$(pg_psql -Atc "SELECT count(*) FROM usage_5m")
	k0=$(now)
	"$BS" rollup compact --through 2026-11-30 >/dev/null
	pg_psql -c "VACUUM ANALYZE usage_day" >/dev/null
	k1=$(now)
	best=
	for i in 1 2; do
		s0=$(now)
		pg_psql -Atc "SELECT count(*), sum(frame_bytes) FROM usage_5m
		  WHERE bucket_start >= timestamptz '2026-11-01 00:00+08'
		    AND bucket_start < timestamptz '2026-12-01 00:00+08'" >/dev/null
		s1=$(now)
		d=$(secs "$s0" "$s1")
		if [ -z "$best" ] || awk -v a="$d" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$d; fi
	done
	s0=$(now)
	pg_psql -Atc "SET max_parallel_workers_per_gather = 0; SELECT count(*), sum(frame_bytes)
	  FROM usage_5m WHERE bucket_start >= timestamptz '2026-11-01 00:00+08'
	    AND bucket_start < timestamptz '2026-12-01 00:00+08'" >/dev/null
	s1=$(now)
	scan1=$(secs "$s0" "$s1")
	c0=$(now)
	BS_CLOSE_TIMING=${BS_CLOSE_TIMING:-} "$BS" close --period 2026-11 >/dev/null
	c1=$(now)
	e0=$(now)
	"$BS" invoice export --period 2026-11 --format csv >/dev/null
	e1=$(now)
	close_s=$(secs "$c0" "$c1")
	printf "%-8s %-11s %-9s %-10s %-9s %-9s %-9s %-7s %-7s %-8s\n" "$n" "$rows" "$(secs "$t0" "$t1")" "$(secs "$k0" "$k1")" \
		"$best" "$scan1" "$close_s" "$(awk -v a="$close_s" -v b="$best" 'BEGIN { printf "%.2f", a / b }')" \
		"$(awk -v a="$close_s" -v b="$scan1" 'BEGIN { printf "%.2f", a / b }')" "$(secs "$e0" "$e1")"
	[ "$(pg_psql -Atc "SELECT count(*) FROM invoice")" = "$n" ] || { echo "expected $n invoices" >&2; exit 1; }
done
