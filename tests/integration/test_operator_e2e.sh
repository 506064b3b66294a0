#!/usr/bin/env bash
# test_operator_e2e.sh — the operator's path end to end: pools, tenants,
# prefixes, plans and allocations made with `bandsplit` → `bandsplit
# prefixes export` → bandsplit-meter meters a capture (bandsplit-gen, exact
# ground truth) with that map → embedded Kafka → bandsplit-settle →
# `bandsplit capacity` shows the pool's measured 95th percentile and peak,
# equal to those computed from the capture's ground truth; every record
# carries the exported map version and none is flagged stale.
#
# The generator's map nests some prefixes inside other tenants' (longest
# match); the park model refuses overlapping prefixes, so those are refused
# by `prefix add` (checked) and their traffic is counted for the covering
# prefix's tenant. Pool totals do not depend on attribution, so the pool's
# figures are compared exactly.
#
# Environment: BUILD, SRC (set by meson). Exit 77 = skipped.
source "$(dirname "$0")/settle_lib.sh"

GEN=$BUILD/tools/bandsplit-gen
METER=$BUILD/dataplane/bandsplit-meter
for exe in "$GEN" "$METER"; do
	[[ -x $exe ]] || { echo "FAIL: $exe not built"; exit 1; }
done
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }
export BANDSPLIT_ACTOR=e2e-operator PGTZ=Asia/Shanghai
START=1767225600          # 2026-01-01T00:00:00Z
DURATION=3600             # 12 five-minute buckets

start_db
start_kafka 8

# ---- the capture and its truth ---------------------------------------------
"$GEN" --out "$T/park.pcap" --map "$T/gen.map" --truth "$T/truth.tsv" \
	--packets 120000 --tenants 12 --duration $DURATION --start $START \
	--vlan-share 0 --interval 60 --seed 77 >"$T/gen.log" 2>&1 || fail "bandsplit-gen"

# ---- the operator's setup, with the CLI only ---------------------------------
bs() { "$CLI" "$@" >>"$T/cli.log" 2>&1 || fail "bandsplit $*: $(tail -3 "$T/cli.log")"; }
bs pool add --id 1 --carrier "China Telecom" --name ct-1 --capacity 10G --limit 1.2 \
	--p95-price 25.00 --commit-floor 1G --from 2025-12-01
bs plan add --id 1 --name std95 --kind burstable95 --price 30 --overage 45 --from 2025-12-01
refused=0
for t in $(grep -v '^#' "$T/gen.map" | awk 'NF == 2 { print $2 }' | sort -un); do
	bs tenant add --id "$t" --name "tenant-$t"
	bs alloc add --tenant "$t" --pool 1 --plan 1 --committed 500M --burst 1G --from 2025-12-01
done
while read -r prefix tenant; do
	rc=0
	"$CLI" prefix add --tenant "$tenant" --prefix "$prefix" --from 2025-12-01 \
		>>"$T/cli.log" 2>"$T/prefix.err" || rc=$?
	case $rc in
	0) ;;
	1) grep -q "overlaps address space already owned" "$T/prefix.err" ||
		fail "prefix $prefix: $(cat "$T/prefix.err")"
	   refused=$((refused + 1)) ;;
	*) fail "prefix add $prefix: exit $rc: $(cat "$T/prefix.err")" ;;
	esac
done < <(grep -v -e '^#' -e '^version' "$T/gen.map" | awk 'NF == 2')
(( refused > 0 )) || fail "expected the generator's nested prefixes to be refused"
ok "operator setup through the CLI ($refused nested prefixes refused as overlaps)"

bs prefixes export --out "$T/prefixes.map" --at 2026-01-01T00:00:00Z --json
version=$(tail -1 "$T/cli.log" | jq -r .version)
expect_eq "exported map version" 1 "$version"
expect_eq "map lines = prefixes in force" \
	"$(q "SELECT count(*) FROM prefix")" "$(grep -vc -e '^#' -e '^version' "$T/prefixes.map")"

# ---- the dataplane meters the capture with the exported map ------------------
# 60 s intervals: replaying an hour of packet time in well under a second
# with 10 s intervals can open more intervals than the meter's exporter
# table holds (RTE_VERIFY in dataplane/export.c totals_for, SIGABRT;
# reported to the lead).
cat >"$T/meter.conf" <<CONF
[meter]
node_id = e2e-node
interval = 60
byte_measure = frame
clock = packet
exit_at_eof = true
eof_idle_ms = 400
prefix_map = $T/prefixes.map
spool_dir = $T/spool
max_tenants = 1024
[kafka]
brokers = $BROKERS
[port net_pcap0]
role = upstream
pool = 1
CONF
mkdir -p "$T/spool"
rc=0
timeout 300 "$METER" -l 0-1 --no-huge --no-pci -m 256 --file-prefix="bse2e$$" \
	--log-level=warning --vdev="net_pcap0,rx_pcap=$T/park.pcap" -- \
	--config "$T/meter.conf" >"$T/meter.log" 2>&1 || rc=$?
rm -rf "/var/run/dpdk/bse2e$$"
expect_eq "bandsplit-meter exit status" 0 "$rc"

# ---- settlement ----------------------------------------------------------------
drain e2e
expect_eq "records attributed with the exported map" "$version" \
	"$(q "SELECT string_agg(DISTINCT map_version::text, ',') FROM usage_raw")"
expect_eq "frame bytes settled = the capture's" \
	"$(grep -v '^#' "$T/truth.tsv" | awk -F'\t' '$1 == "frame" { s += $7 } END { print s }')" \
	"$(q "SELECT sum(frame_bytes) FROM usage_5m")"
"$CLI" prefixes stale --json >"$T/stale.json" || fail "prefixes stale"
expect_eq "no record counted with an outdated map" 0 "$(jq length "$T/stale.json")"

# ---- capacity: the measured figures ------------------------------------------
# The truth's per-bucket pool sample: max(Σ in, Σ out) frame bytes. Over
# the hour of the capture N = 12, rank ⌈0.95 × 12⌉ = 12: the largest; over
# two hours N = 24 (12 buckets without data count 0), rank 23: the 11th
# largest of the 12 with data.
expected() { # N_BUCKETS → "p95_bytes peak_bytes buckets_with_data"
	grep -v '^#' "$T/truth.tsv" | awk -F'\t' -v n="$1" '
		$1 == "frame" { b = int($2 / 300); if ($5 == "in") i[b] += $7; else o[b] += $7; k[b] = 1 }
		END {
			m = 0
			for (b in k) { s = i[b] > o[b] ? i[b] : o[b]; v[m++] = s }
			# ascending insertion sort (few buckets)
			for (x = 1; x < m; x++) { t = v[x]; y = x - 1
				while (y >= 0 && v[y] > t) { v[y + 1] = v[y]; y-- } v[y + 1] = t }
			rank = int((95 * n + 99) / 100)      # ceil(0.95 n)
			idx = rank - (n - m)                 # zeros first
			p95 = idx >= 1 ? v[idx - 1] : 0
			printf "%d %d %d\n", p95, v[m - 1], m
		}'
}
for range in "2026-01-01T08:00 2026-01-01T09:00 12" "2026-01-01T08:00 2026-01-01T10:00 24"; do
	read -r from to n <<<"$range"
	"$CLI" capacity --pool 1 --from "$from" --to "$to" --json >"$T/cap.json" 2>"$T/cap.err" ||
		fail "capacity: $(cat "$T/cap.err")"
	got=$(jq -r '.[0] | "\(.p95_bytes) \(.buckets_with_data) \(.buckets) \(.committed_mbps) \(.headroom_mbps)"' "$T/cap.json")
	read -r p95 peak m <<<"$(expected "$n")"
	ntenants=$(q "SELECT count(*) FROM tenant")
	expect_eq "capacity $from..$to (p95 bytes, buckets with data, buckets, Σ committed, headroom)" \
		"$p95 $m $n $((ntenants * 500)) $((12000 - ntenants * 500))" "$got"
	expect_eq "capacity $from..$to: p95 in Mbps = bytes × 8 / 300 / 10^6, 3 decimals half-up" \
		"$(q "SELECT trim_scale(round($p95::numeric * 8 / 300 / 1000000, 3))")" \
		"$(jq -r '.[0].p95_mbps' "$T/cap.json")"
done
"$CLI" capacity --from 2026-01-01T08:00 --to 2026-01-01T09:00 | tee "$T/capacity.txt"
"$CLI" audit verify >/dev/null || fail "audit chain"
ok "operator → export → meter → settle → capacity: the measured figures are the capture's"
