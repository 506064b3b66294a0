#!/usr/bin/env bash
# demo.sh — the main job end to end on embedded defaults:
#   1. a private PostgreSQL cluster (started here, stopped at exit) and the
#      schema (bandsplit migrate);
#   2. the park operator's setup with the bandsplit CLI: three carrier pools,
#      40 tenants with their IPv4/IPv6 prefixes, a burstable-95th plan and an
#      allocation per tenant; then `bandsplit prefixes export`, the
#      dataplane's prefix map;
#   3. the embedded Kafka (bandsplit-kafka, librdkafka's mock cluster);
#   4. a sample capture of park traffic (bandsplit-gen: IPv4 and IPv6,
#      VLAN-mapped pools, malformed and non-IP frames, known ground truth);
#   5. bandsplit-meter replays it through DPDK's net_pcap with the exported
#      map and streams interval usage records to Kafka;
#   6. bandsplit-settle consumes them exactly once into PostgreSQL;
#   7. per-tenant 5-minute peaks and totals, pool capacity and completeness
#      from the database — checked against the capture's ground truth.
# Options: --packets N (default 1000000), --keep (leave the work dir).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PACKETS=1000000; KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--packets) PACKETS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) sed -n '2,19p' "$0"; exit 0 ;;
	*) echo "demo.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done

tools/install-deps.sh
tools/build.sh
BUILD=$ROOT/build
CLI=$BUILD/settlement/bandsplit
export BANDSPLIT_SQL_DIR=$ROOT/schemas/sql BANDSPLIT_ACTOR=demo-operator
. "$ROOT/tests/lib/pg.sh"
. "$ROOT/tests/lib/kafka.sh"
WORK=$(mktemp -d /tmp/bandsplit-demo.XXXXXX)
bs_at_exit "kafka_stop"
bs_at_exit "rm -rf /var/run/dpdk/bsdemo$$"
if [ "$KEEP" = 1 ]; then bs_at_exit "echo 'work files kept in $WORK'"; else bs_at_exit "rm -rf $WORK"; fi
step() { printf '\n== %s\n' "$*"; }
bs() { "$CLI" "$@" >>"$WORK/cli.log" 2>&1 || { tail -5 "$WORK/cli.log" >&2; echo "demo: bandsplit $* failed" >&2; exit 1; }; }

step "1. PostgreSQL (private cluster) and the schema"
pg_start
pg_migrate "$CLI" | sed 's/^/   /'

step "2. The operator's setup: pools, tenants, prefixes, plan, allocations (bandsplit CLI)"
# The sample traffic is the last whole hour's, so nothing arrives "late".
START=$(( $(date +%s) / 3600 * 3600 - 3600 ))
FROM=$(date -u -d "@$START" +%Y-%m-%dT%H:%M:%SZ); TO=$(date -u -d "@$((START + 3600))" +%Y-%m-%dT%H:%M:%SZ)
"$BUILD/tools/bandsplit-gen" --out "$WORK/park.pcap" --map "$WORK/tenants.map" \
	--truth "$WORK/truth.tsv" --packets "$PACKETS" --start "$START" --duration 3600 --tenants 40 --no-nested \
	--vlan-share 30 --vlan-pool 100:2 --vlan-pool 200:3 --interval 10 --seed 2026 >/dev/null
bs pool add --id 1 --carrier "China Telecom" --name ct-bj-1 --capacity 10G --limit 1.5 \
	--p95-price 18.50 --commit-floor 2G --from 2026-01-01
bs pool add --id 2 --carrier "China Unicom" --name cu-bj-1 --capacity 5G --limit 1.2 \
	--flat-fee 120000 --from 2026-01-01
bs pool add --id 3 --carrier "China Mobile" --name cm-bj-1 --capacity 5G --limit 1.2 \
	--flat-fee 95000 --from 2026-01-01
bs plan add --id 1 --name std-95 --kind burstable95 --price 32.00 --overage 48.00 --from 2026-01-01
for t in $(grep -v -e '^#' -e '^version' "$WORK/tenants.map" | awk 'NF == 2 { print $2 }' | sort -un); do
	bs tenant add --id "$t" --name "tenant-$t"
	bs alloc add --tenant "$t" --pool 1 --plan 1 --committed 200M --burst 500M --from 2026-01-01
	bs alloc add --tenant "$t" --pool 2 --plan 1 --committed 100M --burst 200M --from 2026-01-01
	bs alloc add --tenant "$t" --pool 3 --plan 1 --committed 100M --burst 200M --from 2026-01-01
done
grep -v -e '^#' -e '^version' "$WORK/tenants.map" | awk 'NF == 2' | while read -r prefix tenant; do
	bs prefix add --tenant "$tenant" --prefix "$prefix" --from 2026-01-01
done
"$CLI" tenant list | head -5 | sed 's/^/   /'; echo "   ..."
bs prefixes export --out "$WORK/prefixes.map" --at "$FROM"
grep '^version' "$WORK/prefixes.map" | sed 's/^/   exported prefix map /'
echo "   $(grep -vc -e '^#' -e '^version' "$WORK/prefixes.map") prefixes in $WORK/prefixes.map"

step "3. Embedded Kafka (librdkafka mock cluster: 3 brokers, 16 partitions)"
kafka_start "$WORK/kafka" 16
echo "   bootstrap: $KAFKA_BOOTSTRAP"

step "4. Sample traffic: $PACKETS frames from $FROM to $TO; pools 1 (port), 2 and 3 (VLAN 100, 200)"
grep -E '^# (packets|bytes|malformed_packets|non_ip_packets) ' "$WORK/truth.tsv" | sed 's/^# /   /'

step "5. bandsplit-meter: net_pcap replay → classify → per-lcore counters → 10 s records → Kafka"
cat >"$WORK/meter.conf" <<CONF
[meter]
node_id = demo-node
interval = 10
byte_measure = frame
clock = packet
exit_at_eof = true
prefix_map = $WORK/prefixes.map
spool_dir = $WORK/spool
max_tenants = 1024
[kafka]
brokers = $KAFKA_BOOTSTRAP
[port net_pcap0]
role = upstream
pool = 1
vlan_pool = 100:2, 200:3
CONF
"$BUILD/dataplane/bandsplit-meter" -l 0-1 --no-huge --no-pci -m 256 --file-prefix="bsdemo$$" \
	--log-level=warning --vdev="net_pcap0,rx_pcap=$WORK/park.pcap" -- --config "$WORK/meter.conf" \
	2>"$WORK/meter.log"
grep -E "boot|worker lcore|done:" "$WORK/meter.log" | sed 's/^[^ ]* [^ ]* [A-Z]*: /   /'

step "6. bandsplit-settle: Kafka → PostgreSQL, exactly once, with 5-minute rollups"
# (a replay of the last hour: records count as late only after 2 hours)
"$BUILD/settlement/bandsplit-settle" --set "postgres.conninfo=$BS_DB_SETTLE" --set "kafka.brokers=$KAFKA_BOOTSTRAP" \
	--set settle.metrics_listen=127.0.0.1:0 --set settle.late_after_s=7200 --drain --stats "$WORK/settle.json" 2>"$WORK/settle.log"
jq -r '"   \(.messages) messages settled in \(.seconds) s"' "$WORK/settle.json" 2>/dev/null || true

step "7. From the database"
echo "-- bandsplit usage (per tenant: 5-minute buckets, totals, peak bucket)"
"$CLI" usage >"$WORK/usage.txt"
head -12 "$WORK/usage.txt"; echo "   ... ($(($(wc -l <"$WORK/usage.txt") - 1)) tenants; tenant 0 = unattributed)"
echo; echo "-- bandsplit capacity (pools: bought, allocated, measured 95th and peak)"
"$CLI" capacity --from "$FROM" --to "$TO"
echo; echo "-- bandsplit gaps (completeness per node and boot)"
"$CLI" gaps --from "$FROM" --to "$TO"

# The proof: per (tenant, pool, direction) the settled bytes = the capture's.
grep -v '^#' "$WORK/truth.tsv" | awk -F'\t' '$1 == "frame" { k = $3"\t"$4"\t"$5; p[k] += $6; b[k] += $7 }
	END { for (k in p) print k"\t"p[k]"\t"b[k] }' | sort >"$WORK/expected.tsv"
pg_psql -At -F $'\t' -c "SELECT tenant_id, pool_id, direction, sum(frame_packets), sum(frame_bytes)
	FROM usage_5m GROUP BY 1, 2, 3" | sort >"$WORK/settled.tsv"
if diff -q "$WORK/expected.tsv" "$WORK/settled.tsv" >/dev/null; then
	echo
	echo "   settled totals equal the capture's ground truth for every (tenant, pool, direction):"
	echo "   $(wc -l <"$WORK/settled.tsv") rows, $(awk -F'\t' '{ s += $5 } END { print s }' "$WORK/settled.tsv") bytes, exact"
else
	diff "$WORK/expected.tsv" "$WORK/settled.tsv" | head -20
	echo "   MISMATCH against the ground truth" >&2
	exit 1
fi
