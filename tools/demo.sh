#!/usr/bin/env bash
# demo.sh — the main job end to end on embedded defaults:
#   1. a sample capture of park traffic (bandsplit-gen: 40 tenants, IPv4 and
#      IPv6, VLAN-mapped pools, malformed and non-IP frames) and its map;
#   2. the embedded Kafka (bandsplit-kafka, librdkafka's mock cluster);
#   3. bandsplit-meter replays the capture through DPDK's net_pcap and
#      streams interval usage records to Kafka;
#   4. the usage read back from Kafka, per tenant, checked against the
#      capture's ground truth.
# Options: --packets N (default 1000000), --keep (leave the work dir).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PACKETS=1000000; KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--packets) PACKETS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "demo.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done

tools/install-deps.sh
tools/build.sh
BUILD=$ROOT/build
. "$ROOT/tests/lib/kafka.sh"
WORK=$(mktemp -d /tmp/bandsplit-demo.XXXXXX)
METER_PID=
cleanup() {
	[ -n "$METER_PID" ] && kill -9 "$METER_PID" 2>/dev/null || true
	kafka_stop
	rm -rf "/var/run/dpdk/bsdemo$$"
	[ "$KEEP" = 1 ] && echo "work files kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

step "1. Sample park traffic: $PACKETS frames over 5 minutes, 40 tenants, pools 1 (port) and 2, 3 (VLAN 100, 200)"
"$BUILD/tools/bandsplit-gen" --out "$WORK/park.pcap" --map "$WORK/prefixes.map" \
	--truth "$WORK/truth.tsv" --packets "$PACKETS" --duration 300 --tenants 40 \
	--vlan-share 30 --vlan-pool 100:2 --vlan-pool 200:3 --seed 2026 >/dev/null
grep -E '^# (packets|bytes|malformed_packets|non_ip_packets) ' "$WORK/truth.tsv" | sed 's/^# /   /'

step "2. Embedded Kafka (librdkafka mock cluster, 3 brokers, 16 partitions)"
kafka_start "$WORK/kafka" 16
echo "   bootstrap: $KAFKA_BOOTSTRAP"

step "3. bandsplit-meter: net_pcap replay → classify → per-lcore counters → 10 s interval records → Kafka"
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
grep -E "boot|done:" "$WORK/meter.log" | sed 's/^[^ ]* /   /'

step "4. Per-tenant usage read back from Kafka (bandsplit-usage)"
"$BUILD/tools/bandsplit-usage" --brokers "$KAFKA_BOOTSTRAP" --check --idle-ms 1000 2>/dev/null
"$BUILD/tools/bandsplit-usage" --brokers "$KAFKA_BOOTSTRAP" --by interval --format tsv --idle-ms 500 \
	2>/dev/null | tail -n +2 | sort >"$WORK/got.tsv"
grep -v '^#' "$WORK/truth.tsv" | awk -F'\t' '$1 == "frame"' | cut -f2- | sort >"$WORK/expected.tsv"
if diff -q "$WORK/expected.tsv" "$WORK/got.tsv" >/dev/null; then
	echo
	echo "   every (interval, tenant, pool, direction) total equals the capture's ground truth"
	echo "   ($(wc -l <"$WORK/got.tsv") rows, exact to the byte); every summary equals its records"
else
	diff "$WORK/expected.tsv" "$WORK/got.tsv" | head -20
	echo "   MISMATCH against the ground truth" >&2
	exit 1
fi
