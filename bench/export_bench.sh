#!/usr/bin/env bash
# export_bench.sh — `bandsplit prefixes export` of 100,000 prefixes of
# 10,000 tenants (target ≤ 2 s, README "Performance"), on a throwaway
# PostgreSQL 15 (tests/lib/pg.sh). Each tenant owns 6 IPv4 /28s and 4 IPv6
# /56s, all in force. Prints the load time, then the export's wall time
# over RUNS runs (best and median), and checks the file. Not a test: it
# measures.
#   usage: bench/export_bench.sh [BUILD_DIR] [RUNS]   (default build, 5)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
RUNS=${2:-5}
BS=$BUILD/settlement/bandsplit
. "$ROOT/tests/lib/pg.sh"
WORK=$(mktemp -d /tmp/bandsplit-export-bench.XXXXXX)
bs_at_exit "rm -rf '$WORK'"

pg_start
pg_migrate "$BS" >/dev/null
t0=$(date +%s.%N)
pg_psql -q <<'SQL'
BEGIN;
INSERT INTO tenant (tenant_id, name)
SELECT g, 'tenant-' || g FROM generate_series(1, 10000) g;
-- tenant g: 10.x.y.(16 k)/28 for k = 0..5, x.y from g
INSERT INTO prefix (tenant_id, prefix, valid)
SELECT g, set_masklen(('10.0.0.0'::inet + (g::bigint * 256 + k * 16)), 28)::cidr,
       '[2026-01-01,)'
  FROM generate_series(1, 10000) g, generate_series(0, 5) k;
-- tenant g: 2001:db8:gggg:kk00::/56
INSERT INTO prefix (tenant_id, prefix, valid)
SELECT g, (format('2001:db8:%s:%s00::/56', to_hex(g), to_hex(k)))::cidr,
       '[2026-01-01,)'
  FROM generate_series(1, 10000) g, generate_series(0, 3) k;
COMMIT;
ANALYZE prefix;
SQL
t1=$(date +%s.%N)
n=$(pg_psql -At -c "SELECT count(*) || ' prefixes of ' || count(DISTINCT tenant_id) || ' tenants' FROM prefix")
printf 'loaded %s in %.1f s (each row checked by the EXCLUDE constraint and audited)\n' \
	"$n" "$(echo "$t1 - $t0" | bc)"

times=()
for i in $(seq 1 "$RUNS"); do
	s=$(date +%s.%N)
	"$BS" prefixes export --out "$WORK/prefixes.map" --at 2026-06-01 >/dev/null
	e=$(date +%s.%N)
	times+=("$(echo "$e - $s" | bc)")
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
best=$(head -1 <<<"$sorted")
median=$(sed -n "$(( (RUNS + 1) / 2 ))p" <<<"$sorted")
lines=$(grep -vc '^#' "$WORK/prefixes.map")
[ "$lines" = 100001 ] || { echo "export_bench: expected 100001 lines, got $lines" >&2; exit 1; }
printf 'prefixes export, 100,000 prefixes / 10,000 tenants, %s runs: best %.3f s, median %.3f s (%s bytes)\n' \
	"$RUNS" "$best" "$median" "$(stat -c %s "$WORK/prefixes.map")"
