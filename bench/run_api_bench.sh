#!/usr/bin/env bash
# run_api_bench.sh — bandsplit-api under wrk (Debian's) on loopback.
#
# A private PostgreSQL 15 (tests/lib/pg.sh) with the finance tests' park
# (tests/integration/finance_lib.sh: three tenants, a month of 5-minute
# usage, its UTC days through 2026-11-20 compacted as the nightly
# `bandsplit rollup compact` does, 2026-11 closed), a token for tenant 1,
# bandsplit-api started with
# THREADS HTTP threads and POOL database connections; then wrk with
# CONNS connections (default 50), 2 threads, DURATION seconds (default 20)
# per figure:
#   healthz        /healthz (no database: the HTTP floor)
#   usage_day      /v1/usage of one day of 5-minute samples (576 samples,
#                  JSON): 2026-11-12 in the park's zone, two compacted
#                  UTC days (usage_day)
#   usage_day_raw  the same for 2026-11-25, two UTC days not compacted
#                  (usage_5m's rows: today's usage, before the nightly
#                  compaction)
#   statement      /v1/statements/2026-11 (JSON) of the closed month,
#                  served from the statement cache after the first request
#   statement_gzip the same asked with Accept-Encoding: gzip, as browsers,
#                  curl --compressed and HTTP libraries ask: the cached
#                  gzip form (about a tenth of the bytes)
#   statement_nc   the same with the cache off (cache_entries = 0): every
#                  request renders the statement from PostgreSQL
#   invoice        /v1/invoices/{number} (JSON, built by PostgreSQL)
# Each line: requests/s, p50/p90/p99/max latency (wrk's own percentiles,
# printed by bench/api_latency.lua's done()), non-2xx answers, and the CPU
# model and load average beside it. Target: p99 < 50 ms on 2 cores. wrk,
# PostgreSQL and the API share the machine's cores: the figures are of
# the three together, and of whatever else runs (the load is printed).
#   usage: bench/run_api_bench.sh [BUILD_DIR] [FIGURE...]
#   env:   THREADS, POOL (unset: the program's defaults: one HTTP thread per two CPUs, one connection per CPU) CONNS (50) DURATION (20)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=$(cd "${1:-build}" && pwd)
shift || true
FIGURES=("$@")
[ ${#FIGURES[@]} -gt 0 ] || FIGURES=(healthz usage_day usage_day_raw statement statement_gzip statement_nc invoice)
THREADS=${THREADS:-} POOL=${POOL:-} CONNS=${CONNS:-50} DURATION=${DURATION:-20}
BS=$BUILD/settlement/bandsplit
API=$BUILD/settlement/bandsplit-api
command -v wrk >/dev/null || { echo "run_api_bench: wrk not installed (apt-get install wrk)" >&2; exit 1; }
. "$ROOT/tests/lib/pg.sh"
. "$ROOT/tests/lib/api.sh"
WORK=$(mktemp -d /tmp/bandsplit-apibench.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
. "$ROOT/tests/integration/finance_lib.sh"
pg_start
export BANDSPLIT_ACTOR=api-bench
ok_cmd --db "$BS_DB_ADMIN" migrate
fin_model >/dev/null
fin_usage '2026-11-01 00:00+08' '2026-12-01 00:00+08'
ok_cmd rollup compact --through 2026-11-20
ok_cmd close --period 2026-11
pg_psql -c "VACUUM ANALYZE" >/dev/null
ok_cmd token create --tenant 1 --label bench
export TOKEN=$(grep -o 'bst_[a-z2-7]\{8\}_[A-Za-z0-9_-]\{43\}' <<<"$OUT" | head -1)
INV=$(q "SELECT number FROM invoice WHERE tenant_id = 1 AND kind = 'invoice'")
CPU="$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"

# start_api NAME CACHE_ENTRIES: URL
start_api() {
	cat >"$WORK/$1.conf" <<-EOT
	[api]
	listen = 127.0.0.1:0
	access_log =
	${THREADS:+threads = $THREADS}
	rate_limit = 0
	cache_entries = $2
	[postgres]
	conninfo = user=bandsplit_api
	${POOL:+db_pool_size = $POOL}
	EOT
	api_run "$API" "$WORK/$1.conf" "$WORK/$1.err" || exit 1
	URL=$API_URL
}
stop_api() { kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; }

run() {   # run NAME PATH [ACCEPT_ENCODING]
	local code enc
	code=$(curl -s -o /dev/null -w '%{http_code} %header{content-encoding}' -H "Authorization: Bearer $TOKEN" \
		${3:+-H "Accept-Encoding: $3"} "$URL$2")
	enc=${code#* }; code=${code%% *}
	[ "$code" = 200 ] || { echo "run_api_bench: $2: HTTP $code" >&2; exit 1; }
	[ -z "${3:-}" ] || [ "$enc" = gzip ] || { echo "run_api_bench: $2: Accept-Encoding: $3 answered without gzip" >&2; exit 1; }
	local load; load=$(cut -d' ' -f1 /proc/loadavg)
	local r; r=$(ACCEPT_ENCODING=${3:-} wrk -t"$(( CONNS < 2 ? 1 : 2 ))" -c"$CONNS" -d"${DURATION}s" --latency -s "$ROOT/bench/api_latency.lua" "$URL$2" | grep '^RESULT')
	printf "%-15s %s load_before=%s load_after=%s cpu=\"%s\"\n" "$1" "${r#RESULT }" "$load" \
		"$(cut -d' ' -f1 /proc/loadavg)" "$CPU"
}

echo "# bandsplit-api: threads=${THREADS:-default} db_pool_size=${POOL:-default} ($(nproc) CPUs), wrk -t$(( CONNS < 2 ? 1 : 2 )) -c$CONNS -d${DURATION}s on loopback; PostgreSQL $(pg_psql -Atc 'SHOW server_version')"
echo "# CPU: $CPU"
DAY="/v1/usage?from=2026-11-12T00:00:00%2B08:00&to=2026-11-13T00:00:00%2B08:00&step=5m"
RAW_DAY="/v1/usage?from=2026-11-25T00:00:00%2B08:00&to=2026-11-26T00:00:00%2B08:00&step=5m"
start_api cached 256
for f in "${FIGURES[@]}"; do
	case $f in
	healthz) run healthz /healthz ;;
	usage_day) run usage_day "$DAY" ;;
	usage_day_raw) run usage_day_raw "$RAW_DAY" ;;
	statement) run statement "/v1/statements/2026-11?format=json" ;;
	statement_gzip) run statement_gzip "/v1/statements/2026-11?format=json" gzip ;;
	invoice) run invoice "/v1/invoices/$INV" ;;
	statement_nc) ;;
	*) echo "run_api_bench: unknown figure $f" >&2; exit 2 ;;
	esac
done
stop_api
if [[ " ${FIGURES[*]} " == *" statement_nc "* ]]; then
	start_api nocache 0
	run statement_nc "/v1/statements/2026-11?format=json"
	stop_api
fi
