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
#      from the database — checked against the capture's ground truth;
#   8. finance: a SIMULATED month (2026-11) of a second node's usage records
#      (bandsplit-gen --records, node sim-node-2: diurnal load, tenants from
#      tens to hundreds of Mbps, some bursting over their commit, a few
#      missing intervals), into Kafka, settled by bandsplit-settle; a plan
#      change and an allocation change (a new allocation) mid-month;
#   9. bandsplit close of that month: the invoices, the carrier bills, the
#      trial balance and the reconciliation, ending with the byte chain;
#  10. a late record for the closed month, then close --adjust: a note;
#  11. tenant 902's usage statement of the month (CSV verified, HTML and PDF
#      in Chinese) written to build/demo-statements/.
# Options: --packets N (default 1000000), --keep (leave the work dir).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PACKETS=1000000; KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--packets) PACKETS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) sed -n '2,27p' "$0"; exit 0 ;;
	*) echo "demo.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done

tools/install-deps.sh
tools/build.sh
BUILD=$ROOT/build
CLI=$BUILD/settlement/bandsplit
export BANDSPLIT_SQL_DIR=$ROOT/schemas/sql BANDSPLIT_ACTOR=demo-operator
. "$ROOT/tests/lib/pg.sh"
. "$ROOT/tests/lib/api.sh"
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
bs park set --seller-name "Demo Park Bandwidth Co" --seller-tax-id 91110000PARK01 \
	--seller-address "1 Data Park Road, Beijing" --seller-bank "ICBC 0200 0000 0000" --payment-terms 30
bs plan add --id 1 --name std-95 --kind burstable95 --price 32.00 --overage 48.00 --from 2026-01-01
for t in $(grep -v -e '^#' -e '^version' "$WORK/tenants.map" | awk 'NF == 2 { print $2 }' | sort -un); do
	bs tenant add --id "$t" --name "tenant-$t" --tax-id "91110000DEMO$t"
	bs alloc add --tenant "$t" --pool 1 --plan 1 --committed 200M --burst 500M --from 2026-01-01
	bs alloc add --tenant "$t" --pool 2 --plan 1 --committed 100M --burst 200M --from 2026-01-01
	bs alloc add --tenant "$t" --pool 3 --plan 1 --committed 100M --burst 200M --from 2026-01-01
done
grep -v -e '^#' -e '^version' "$WORK/tenants.map" | awk 'NF == 2' | while read -r prefix tenant; do
	bs prefix add --tenant "$tenant" --prefix "$prefix" --from 2026-01-01
done
# into a file first: head would close the pipe after 5 lines and, under
# pipefail, the CLI's SIGPIPE (a race with its later writes) end the demo
"$CLI" tenant list >"$WORK/tenant-list.txt"
head -5 "$WORK/tenant-list.txt" | sed 's/^/   /'; echo "   ... ($(($(wc -l <"$WORK/tenant-list.txt") - 1)) tenants)"
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

step "8. Finance: a SIMULATED month (2026-11) of a second node, sim-node-2 (bandsplit-gen --records)"
# Five tenants of their own: 901 and 905 on the 95th (905 bursts over its
# commit), 902 on a plan whose price changes mid-month, 903 whose
# allocation changes mid-month (a new allocation from then), 904 on volume.
bs plan add --id 2 --name flat-50 --kind flat --price 50.00 --from 2026-01-01
bs plan add --id 3 --name volume --kind volume --tier 0:0.60 --tier 10000:0.45 --direction sum --from 2026-01-01
bs plan add --id 4 --name std-95-b --kind burstable95 --price 30.00 --overage 45.00 --from 2026-01-01
for t in 901 902 903 904 905; do bs tenant add --id $t --name "sim-tenant-$t" --tax-id "91110000SIM$t"; done
bs alloc add --tenant 901 --pool 1 --plan 1 --committed 100M --burst 300M --from 2026-10-01
bs alloc add --tenant 902 --pool 1 --plan 4 --committed 200M --burst 400M --from 2026-10-01
bs alloc add --tenant 903 --pool 2 --plan 2 --committed 50M --burst 100M --from 2026-10-01
bs alloc add --tenant 904 --pool 3 --plan 3 --committed 20M --burst 100M --from 2026-10-01
bs alloc add --tenant 905 --pool 1 --plan 1 --committed 300M --burst 800M --from 2026-10-01
bs plan change 4 --from 2026-11-16T10:02:30 --overage 55.00 --force   # in the past: forced, audited
A903=$(pg_psql -At -c "SELECT alloc_id FROM allocation WHERE tenant_id = 903")
bs alloc change "$A903" --at 2026-11-20T00:00 --committed 80M --force
echo "   plan 4 (tenant 902): overage 45.00 → 55.00 from 2026-11-16T10:02:30; tenant 903: 50M → 80M from 2026-11-20"
# the simulated month is settled as it is produced (live: not "late"); the
# embedded Kafka keeps ~5 MiB per partition, so bandsplit-settle consumes
# while bandsplit-gen produces
"$BUILD/settlement/bandsplit-settle" --set "postgres.conninfo=$BS_DB_SETTLE" --set "kafka.brokers=$KAFKA_BOOTSTRAP" \
	--set settle.metrics_listen=127.0.0.1:0 --set settle.late_after_s=31536000 \
	>"$WORK/settle-month.log" 2>&1 &
SETTLE=$!
bs_at_exit "kill $SETTLE 2>/dev/null"
for _ in $(seq 600); do
	grep -q "assigned 16 partition" "$WORK/settle-month.log" && break
	sleep 0.1
done
"$BUILD/tools/bandsplit-gen" --records --brokers "$KAFKA_BOOTSTRAP" --month 2026-11 --seed 11 --rate 3000 \
	--tenant 901:1:100:160 --tenant 902:1:200:180 --tenant 903:2:50:70 --tenant 904:3:20:60 \
	--tenant 905:1:300:520 --truth "$WORK/month-truth.csv" >"$WORK/gen-month.log" 2>&1 \
	|| { cat "$WORK/gen-month.log" >&2; exit 1; }
sed 's/^/   /' "$WORK/gen-month.log" | tail -4
WANT=$(sed -n 's/.* \([0-9]*\) usage records, \([0-9]*\) summaries.*/\1 \2/p' "$WORK/gen-month.log")
for _ in $(seq 600); do
	GOT=$(pg_psql -At -c "SELECT (SELECT count(*) FROM usage_raw WHERE node_id = 'sim-node-2') || ' ' ||
	      (SELECT count(*) FROM node_interval WHERE node_id = 'sim-node-2')")
	[ "$GOT" = "$WANT" ] && break
	sleep 0.5
done
[ "$GOT" = "$WANT" ] || { echo "demo: settled $GOT of $WANT simulated records" >&2; exit 1; }
kill "$SETTLE"; wait "$SETTLE" 2>/dev/null || true
echo "   settled: $GOT usage records and summaries of sim-node-2"

step "9. bandsplit close --period 2026-11: invoices, carrier bills, ledger (one transaction)"
# the daily compaction of finished days, which the close reads
"$CLI" rollup compact --through 2026-11-30 >"$WORK/compact.txt"
echo "   bandsplit rollup compact: $(wc -l <"$WORK/compact.txt") UTC days compacted, $(awk '{ s += $2 } END { print s }' "$WORK/compact.txt") (tenant, pool, direction) rows"
"$CLI" close --period 2026-11 >"$WORK/close.txt"
grep -E "^DOCUMENT|^invoice .* 90[1-5] |^carrier|document" "$WORK/close.txt"
echo "   (and $(grep -c "^invoice .* 10[0-9][0-9] " "$WORK/close.txt") invoices of the demo hour's tenants: November's commit charges; 'bandsplit invoice list')"
echo; echo "-- bandsplit invoice show (tenant 902: two segments, the plan change)"
N902=$(pg_psql -At -c "SELECT number FROM invoice WHERE tenant_id = 902")
"$CLI" invoice show --number "$N902" >"$WORK/inv902.txt"
sed -n '/^lines:/,$p' "$WORK/inv902.txt" | cut -c1-200
echo; echo "-- carrier bills"
pg_psql -c "SELECT pool_id, carrier, cost_model, bs_yuan(amount_fen) AS amount, buckets, billed_rank,
	round(billed_mbps, 3) AS billed_mbps FROM carrier_bill ORDER BY pool_id"
echo "-- bandsplit ledger trial-balance --period 2026-11"
"$CLI" ledger trial-balance --period 2026-11 >"$WORK/tb.txt"
grep -E "^(ACCOUNT|vat|payable|cost|revenue|TOTAL)" "$WORK/tb.txt"
echo; echo "-- bandsplit reconcile --period 2026-11"
"$CLI" reconcile --period 2026-11 >"$WORK/reconcile.txt" || { cat "$WORK/reconcile.txt"; echo "demo: reconciliation failed" >&2; exit 1; }
cat "$WORK/reconcile.txt"

step "10. A late record for 2026-11 arrives after the close: close --adjust issues a note"
"$BUILD/tools/bandsplit-gen" --records --brokers "$KAFKA_BOOTSTRAP" --node sim-node-3 \
	--start "$(date -d '2026-11-21T20:00:00+08:00' +%s)" --end "$(date -d '2026-11-21T20:05:00+08:00' +%s)" \
	--seed 12 --missing 0 --tenant 904:3:20:5000 >"$WORK/gen-late.log" 2>&1 || { cat "$WORK/gen-late.log" >&2; exit 1; }
"$BUILD/settlement/bandsplit-settle" --set "postgres.conninfo=$BS_DB_SETTLE" --set "kafka.brokers=$KAFKA_BOOTSTRAP" \
	--set settle.metrics_listen=127.0.0.1:0 --drain >"$WORK/settle-late.log" 2>&1
echo "   compacted days the late record made dirty (read from their rows until compacted again): $(pg_psql -At -c "SELECT string_agg(day::text, ',') FROM usage_day_state WHERE dirty")"
"$CLI" close --period 2026-11 | sed 's/^/   /'
"$CLI" close --period 2026-11 --adjust | grep -E "note|adjust|document" | sed 's/^/   /'
"$CLI" reconcile --period 2026-11 >"$WORK/reconcile.txt" || { cat "$WORK/reconcile.txt"; exit 1; }
grep -E "byte chain|reconciliation" "$WORK/reconcile.txt" | sed 's/^/   /'

# stmt: tenant 902's statement of the closed month (two segments: the plan
# change), HTML and PDF in Chinese, verified from its CSV; kept outside the
# work directory.
demo_stmt() {
	step "11. bandsplit statement: tenant 902's usage statement of 2026-11 (zh), verified"
	local out=$BUILD/demo-statements
	mkdir -p "$out"
	"$CLI" statement --tenant 902 --period 2026-11 --format csv --out "$out/statement-902-2026-11.csv"
	"$CLI" statement --tenant 902 --period 2026-11 --format html --lang zh --out "$out/statement-902-2026-11.zh.html"
	"$CLI" statement --tenant 902 --period 2026-11 --format pdf --lang zh --out "$out/statement-902-2026-11.zh.pdf"
	"$CLI" statement verify "$out/statement-902-2026-11.csv" | cut -c1-160 | sed 's/^/   /'
	echo "   digest stored at close: $(pg_psql -At -c "SELECT d.sha256 FROM invoice_digest d JOIN invoice i USING (invoice_id) WHERE i.tenant_id = 902 AND i.kind = 'invoice'")"
	ls -1 "$out"/statement-902-2026-11.* | sed 's/^/   /'
}
demo_stmt

# fapiao: finance's documents — tenant 902's invoice as sent (HTML and PDF, zh) and
# the period's fapiao batch (XLSX), kept under build/demo-docs/.
demo_fapiao() {
	step "12. Finance's documents: an invoice rendered (HTML, PDF) and the fapiao batch"
	local out=$BUILD/demo-docs n
	mkdir -p "$out"
	n=$(pg_psql -At -c "SELECT number FROM invoice WHERE kind = 'invoice' AND period = '2026-11-01' AND tenant_id = 902")
	"$CLI" invoice render --number "$n" --format html --lang zh --out "$out/$n.zh.html"
	"$CLI" invoice render --number "$n" --format pdf --lang zh --out "$out/$n.zh.pdf"
	"$CLI" invoice export --period 2026-11 --format fapiao-xlsx --out "$out/fapiao-2026-11.xlsx"
	echo "   invoice $n:   $out/$n.zh.html"
	echo "                  $out/$n.zh.pdf ($(pdfinfo "$out/$n.zh.pdf" 2>/dev/null | awk '/^Pages:/ {print $2}') page(s))"
	echo "   fapiao batch:  $out/fapiao-2026-11.xlsx ($(pg_psql -At -c "SELECT count(*) FROM invoice_line JOIN invoice USING (invoice_id) WHERE kind = 'invoice' AND period = '2026-11-01'") lines)"
}
demo_fapiao

# api: bandsplit-api serves tenant 902 its statement and invoice with a
# token of its own; the same token gets 404 for tenant 903's invoice.
demo_api() {
	step "13. bandsplit-api: tenant 902 fetches its statement and invoice with a token; another tenant's invoice is 404"
	local tok port api_pid inv902 inv903 t='-H @'"$WORK/api-auth"
	tok=$("$CLI" token create --tenant 902 --label demo --expires 1d 2>/dev/null)
	printf 'Authorization: Bearer %s\n' "$tok" >"$WORK/api-auth"
	echo "   bandsplit token create --tenant 902: ${tok:0:13}… (printed once; only its SHA-256 is stored)"
	cat >"$WORK/api.conf" <<-EOT
	[api]
	listen = 127.0.0.1:0
	access_log = $WORK/api-access.log
	[postgres]
	conninfo = user=bandsplit_api
	EOT
	api_run "$BUILD/settlement/bandsplit-api" "$WORK/api.conf" "$WORK/api.err" ||
		{ echo "demo: bandsplit-api did not start" >&2; exit 1; }
	api_pid=$API_PID port=${API_URL##*:}
	inv902=$(pg_psql -At -c "SELECT number FROM invoice WHERE tenant_id = 902 AND kind = 'invoice'")
	inv903=$(pg_psql -At -c "SELECT number FROM invoice WHERE tenant_id = 903 AND kind = 'invoice'")
	echo "   bandsplit-api listening on 127.0.0.1:$port"
	echo "-- curl $t /v1/statements/2026-11?format=csv"
	curl -sf $t -o "$WORK/api-statement.csv" "http://127.0.0.1:$port/v1/statements/2026-11?format=csv"
	head -3 "$WORK/api-statement.csv" | cut -c1-150 | sed 's/^/   /'
	echo "   ($(wc -l <"$WORK/api-statement.csv") lines; the same as 'bandsplit statement --tenant 902 --period 2026-11')"
	echo "-- curl --compressed $t /v1/statements/2026-11   (JSON; a client that takes gzip gets the cached gzip form)"
	curl -sf --compressed $t -o "$WORK/api-statement.json" \
		-w '   %{size_download} bytes on the wire (Content-Encoding: %header{content-encoding}), ' \
		"http://127.0.0.1:$port/v1/statements/2026-11"
	echo "$(wc -c <"$WORK/api-statement.json") bytes inflated"
	echo "-- curl $t /v1/invoices/$inv902"
	curl -sf $t "http://127.0.0.1:$port/v1/invoices/$inv902" | python3 -c \
		'import json,sys; d=json.load(sys.stdin); print("   %s %s buyer=%s total=%s %s, %d lines" % (d["kind"], d["number"], d["buyer"]["name"], d["total"], d["currency"], len(d["lines"])))'
	echo "-- curl $t '/v1/usage?from=2026-11-12&to=2026-11-13&step=1h&direction=in'   (a finished day: read from usage_day)"
	curl -sf $t "http://127.0.0.1:$port/v1/usage?from=2026-11-12&to=2026-11-13&step=1h&direction=in" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["samples"]; print("   %d hourly samples; the first: %s" % (len(s), json.dumps(s[0])))'
	echo "-- curl $t /v1/invoices/$inv903   (tenant 903's)"
	curl -s -w '   HTTP %{http_code}\n' $t "http://127.0.0.1:$port/v1/invoices/$inv903" | sed 's/^{/   {/'
	echo "-- the access log (no token in it)"
	sed 's/^/   /' "$WORK/api-access.log"
	kill "$api_pid"; wait "$api_pid" 2>/dev/null || true
	echo "   bandsplit-api stopped"
}
demo_api
