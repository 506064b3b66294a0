#!/usr/bin/env bash
# test_operator_cli.sh — `bandsplit` pool / tenant / prefix / plan / alloc /
# capacity / audit / prefixes against a real PostgreSQL 15: every verb's
# --help, good input and its output (table and --json), each kind of bad
# input with its message and exit code (2 usage, 1 refused by a rule, 3
# failure), and that a failed command changed nothing.
#   usage: test_operator_cli.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
WORK=$(mktemp -d /tmp/bandsplit-opcli.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
PASSED=0
OUT=; ERR=; RC=0

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
q() { pg_psql -At -c "$1"; }

# Everything the operator commands write is audited: the audit head and a
# digest of the model's tables change with any write.
state() {
	q "SELECT (SELECT last_id FROM audit_head) || ' ' || md5(concat(
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM pool x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM tenant x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM prefix x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM plan_version x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM allocation x),
	   (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM prefix_map_export x)))"
}

# bs ARGS...: runs bandsplit, OUT/ERR/RC set.
bs() {
	RC=0
	"$BS" "$@" >"$WORK/out" 2>"$WORK/err" || RC=$?
	OUT=$(cat "$WORK/out"); ERR=$(cat "$WORK/err")
}
# ok_cmd ARGS...: must exit 0.
ok_cmd() {
	bs "$@"
	[ $RC = 0 ] || fail "bandsplit $*: exit $RC: $ERR"
}
# bad RC MESSAGE ARGS...: must exit RC with MESSAGE (a fixed string) on
# stderr, and change nothing.
bad() {
	local want=$1 msg=$2; shift 2
	local before; before=$(state)
	bs "$@"
	[ $RC = "$want" ] || fail "bandsplit $*: exit $RC, expected $want: $ERR"
	grep -qF -- "$msg" <<<"$ERR" || fail "bandsplit $*: message lacks '$msg': $ERR"
	[ "$(state)" = "$before" ] || fail "bandsplit $*: failed but changed the database"
}

pg_start
export BANDSPLIT_ACTOR=op-test
ok_cmd --db "$BS_DB_ADMIN" migrate

# --- help at every level ----------------------------------------------------
ok_cmd --help
for c in pool tenant prefix plan alloc capacity audit prefixes; do
	grep -q "^  $c " <<<"$OUT" || fail "--help lacks $c"
done
for o in pool tenant prefix plan alloc; do
	ok_cmd "$o" --help
	for v in add list show change end; do
		ok_cmd "$o" "$v" --help
		grep -q "^Usage: bandsplit $o $v" <<<"$OUT" || fail "$o $v --help: $OUT"
	done
	bad 2 "Usage: bandsplit $o VERB" "$o"
	bad 2 "unknown verb 'frob'" "$o" frob
done
for v in list show verify; do ok_cmd audit "$v" --help; done
for v in export exports stale; do ok_cmd prefixes "$v" --help; done
ok_cmd capacity --help
ok "--help on every command and verb; missing and unknown verbs are usage errors"

# --- pools ------------------------------------------------------------------
ok_cmd pool add --id 1 --carrier "China Telecom" --name ct-a --capacity 1G \
	--limit 1.5 --flat-fee 120000.00 --from 2026-01-01
grep -q "capacity_mbps *1000$" <<<"$OUT" || fail "pool add output: $OUT"
grep -q "valid_from *2026-01-01T00:00:00+08:00" <<<"$OUT" || fail "park time zone: $OUT"
ok_cmd pool add --carrier CU --name cu-b --capacity 2.5Gbit --p95-price 35.50 \
	--commit-floor 1G --from 2026-01-01T00:00:00Z --to 2027-01-01 --json
[ "$(jq -r '.id, .capacity_mbps, .price_per_mbps, .commit_floor_mbps, .valid_from' <<<"$OUT" | tr '\n' ' ')" = \
  "2 2500 35.50 1000 2026-01-01T08:00:00+08:00 " ] || fail "pool add --json: $OUT"
ok "pool add: rates, exact money, ISO 8601 times in the park's zone, table and JSON"
bad 2 "--capacity '10X': unknown unit" pool add --carrier x --name x --capacity 10X --flat-fee 1
bad 2 "--capacity '0': must be above zero" pool add --carrier x --name x --capacity 0 --flat-fee 1
bad 2 "--capacity '-1G': not a number" pool add --carrier x --name x --capacity -1G --flat-fee 1
bad 2 "--limit '0': must be above zero" pool add --carrier x --name x --capacity 1G --flat-fee 1 --limit 0
bad 2 "--limit '1.00001': more than 4 decimals" pool add --carrier x --name x --capacity 1G --flat-fee 1 --limit 1.00001
bad 2 "--flat-fee '12.345': more than 2 decimals" pool add --carrier x --name x --capacity 1G --flat-fee 12.345
bad 2 "--flat-fee '-1': must not be negative" pool add --carrier x --name x --capacity 1G --flat-fee -1
bad 2 "--from '2026-02-30': no such day in that month" pool add --carrier x --name x --capacity 1G --flat-fee 1 --from 2026-02-30
bad 2 "--currency 'cny'" pool add --carrier x --name x --capacity 1G --flat-fee 1 --currency cny
bad 2 "--carrier, --name and --capacity are required" pool add --name x --capacity 1G --flat-fee 1
bad 2 "a cost model is required" pool add --carrier x --name x --capacity 1G
bad 2 "--flat-fee excludes --p95-price" pool add --carrier x --name x --capacity 1G --flat-fee 1 --p95-price 1
bad 2 "unknown option, or option without its value: '--bogus'" pool add --bogus
bad 2 "--at does not apply here" pool add --at 2026-01-01
bad 2 "--id '0': out of range 1..4294967295" pool add --id 0 --carrier x --name x --capacity 1G --flat-fee 1
bad 1 "refused: duplicate key value" pool add --carrier x --name ct-a --capacity 1G --flat-fee 1
bad 2 "--to must be after --from" pool add --carrier x --name x --capacity 1G --flat-fee 1 --from 2026-02-01 --to 2026-01-01
bad 2 "--to must be after --from" pool add --carrier x --name x --capacity 1G --flat-fee 1 --from 2026-02-01 --to 2026-02-01
ok "pool add: every bad value named with its reason, exit 2; rule violations exit 1; nothing written"
ok_cmd pool list
[ "$(grep -c '^ *[12] ' <<<"$OUT")" = 2 ] || fail "pool list: $OUT"
ok_cmd pool list --json
[ "$(jq length <<<"$OUT")" = 2 ] || fail "pool list --json"
ok_cmd pool show 2 --json
[ "$(jq -r .name <<<"$OUT")" = cu-b ] || fail "pool show"
bad 1 "pool not found" pool show 99
bad 2 "POOL_ID 'x': not a whole number" pool show x
bad 2 "missing POOL_ID" pool show
bad 2 "unexpected argument '3'" pool show 2 3
ok_cmd pool change 2 --name cu-b2 --limit 1.25
grep -q "oversub_limit *1.25$" <<<"$OUT" || fail "pool change: $OUT"
bad 2 "nothing to change" pool change 2
bad 1 "pool not found" pool change 77 --name z
ok "pool list / show / change"

# --- tenants ----------------------------------------------------------------
ok_cmd tenant add --id 1001 --name Acme --tax-id 91310000MA1K00001X --contact "noc@acme.example"
ok_cmd tenant add --name Beta --json
[ "$(jq -r '.id, .status' <<<"$OUT" | tr '\n' ' ')" = "1002 active " ] || fail "tenant add: $OUT"
ok_cmd tenant add --id 1003 --name Gamma
bad 1 "refused: duplicate key value violates unique constraint \"tenant_pkey\"" tenant add --id 1001 --name Other
bad 2 "--tax-id 'AB CD': letters, digits and '-' only" tenant add --name Z --tax-id "AB CD"
bad 2 "--name '': must not be empty" tenant add --name ""
bad 2 "--status 'closed': must be one of: active suspended" tenant change 1001 --status closed
bad 2 "nothing to change" tenant change 1001
ok_cmd tenant change 1002 --status suspended
grep -q "status *suspended" <<<"$OUT" || fail "suspend"
ok_cmd tenant list --status suspended --json
[ "$(jq -r '.[].id' <<<"$OUT")" = 1002 ] || fail "tenant list --status"
bad 2 "--status 'gone'" tenant list --status gone
ok "tenant add / list / change (suspend) with bad inputs"

# --- plans ------------------------------------------------------------------
ok_cmd plan add --id 1 --name std95 --kind burstable95 --price 30 --overage 45.50 --from 2026-01-01
ok_cmd plan add --name vol --kind volume --tier 0:0.50 --tier 1000:0.40 --vat 6% --from 2026-01-01 --json
[ "$(jq -r '.id, .tiers_per_gb, .vat' <<<"$OUT" | tr '\n' '|')" = "2|0GB:0.50 1000GB:0.40|6%|" ] || fail "plan add volume: $OUT"
bad 2 "--price is required for a flat plan" plan add --name f --kind flat
bad 2 "a volume plan is priced by --tier" plan add --name v2 --kind volume --price 1 --tier 0:1
bad 2 "--tier '10:1': the first tier must start at 0 GB" plan add --name v2 --kind volume --tier 10:1
bad 2 "--tier '5:1': tiers must be given in ascending order" plan add --name v2 --kind volume --tier 0:2 --tier 10:1 --tier 5:1
bad 2 "--tier 'x': expected FROM_GB:YUAN" plan add --name v2 --kind volume --tier x
bad 2 "--vat '101%': above 100%" plan add --name f --kind flat --price 1 --vat 101%
bad 2 "--kind 'fixed': must be one of: flat burstable95 volume" plan add --name f --kind fixed
bad 2 "--direction 'both'" plan add --name f --kind flat --price 1 --direction both
ok_cmd plan change 1 --from 2026-06-01 --overage 50 --force
[ "$(grep -c . <<<"$OUT")" -gt 3 ] && grep -q "overage_per_mbps *50.00" <<<"$OUT" &&
	grep -q "price_per_mbps *30.00" <<<"$OUT" && grep -q "version *2" <<<"$OUT" || fail "plan change: $OUT"
ok_cmd plan show 1 --json
[ "$(jq -r '.[] | "\(.version) \(.valid_to) \(.overage_per_mbps)"' <<<"$OUT" | tr '\n' '|')" = \
  "1 2026-06-01T00:00:00+08:00 45.50|2 null 50.00|" ] || fail "plan show: $OUT"
bad 1 "plan 1 has a later version already" plan change 1 --from 2026-03-01 --price 31
bad 1 "plan 1 has no version in force at that time" plan change 1 --from 2025-03-01 --price 31
bad 2 "a burstable95 plan takes --price and --overage, not --tier" plan change 1 --from 2026-07-01 --tier 0:1
ok_cmd plan list --at 2026-03-01
grep -q "std95 .* 1 .*45.50" <<<"$OUT" || fail "plan list --at: $OUT"
ok "plan add / change (new version from a date) / show / list with bad inputs"

# --- prefixes ---------------------------------------------------------------
ok_cmd prefix add --tenant 1001 --prefix 203.0.113.0/24 --prefix 2001:DB8:1000::/48 --from 2026-01-01
[ "$(grep -c 1001 <<<"$OUT")" = 2 ] && grep -q "2001:db8:1000::/48" <<<"$OUT" || fail "prefix add: $OUT"
ok_cmd prefix add --tenant 1002 --prefix 198.51.100.0/24 --from 2026-01-01
bad 2 "--prefix '10.1.2.0/16': host bits set below /16" prefix add --tenant 1003 --prefix 10.1.2.0/16
bad 2 "--prefix '300.1.2.0/24': '300.1.2.0' is not an IPv4 address" prefix add --tenant 1003 --prefix 300.1.2.0/24
bad 1 "refused: the prefix overlaps address space already owned during that time" \
	prefix add --tenant 1003 --prefix 10.3.0.0/16 --prefix 203.0.113.128/25 --from 2026-02-01
bad 1 "(while adding --prefix 2001:db8:1000:ff00::/56)" \
	prefix add --tenant 1003 --prefix 2001:db8:1000:ff00::/56
bad 1 "refused: insert or update on table \"prefix\" violates foreign key constraint" \
	prefix add --tenant 4242 --prefix 10.4.0.0/16
ok "prefix add: several at once, all or none; overlaps refused naming the prefix; bad prefixes named"
ok_cmd prefix add --tenant 1003 --prefix 192.0.2.10/32 --from 2026-01-01
id=$(q "SELECT prefix_id FROM prefix WHERE prefix = '198.51.100.0/24'")
ok_cmd prefix change "$id" --tenant 1003 --at 2026-04-01 --force --json
[ "$(jq -r '.tenant, .valid_from' <<<"$OUT" | tr '\n' ' ')" = "1003 2026-04-01T00:00:00+08:00 " ] || fail "prefix change: $OUT"
moved=$(jq -r .id <<<"$OUT")
ok_cmd prefix show "$id" --json
[ "$(jq -r '.tenant, .valid_to' <<<"$OUT" | tr '\n' ' ')" = "1002 2026-04-01T00:00:00+08:00 " ] || fail "prefix show: $OUT"
bad 1 "prefix $moved already belongs to tenant 1003" prefix change "$moved" --tenant 1003 --at 2026-05-01
bad 1 "prefix in force at that time not found" prefix change "$id" --tenant 1001 --at 2026-05-01
ok_cmd prefix list --at 2026-03-01 --json
[ "$(jq -r '[.[] | "\(.prefix)=\(.tenant)"] | join(" ")' <<<"$OUT")" = \
  "192.0.2.10/32=1003 198.51.100.0/24=1002 203.0.113.0/24=1001 2001:db8:1000::/48=1001" ] || fail "prefix list --at: $OUT"
ok "prefix change moves a prefix from an instant; list at an instant"

# --- allocations and the capacity guard ------------------------------------
# pool 1: 1000 Mbps × 1.5 = 1500 Mbps
ok_cmd alloc add --tenant 1001 --pool 1 --plan 1 --committed 800M --burst 1G --from 2026-01-01
ok_cmd alloc add --tenant 1002 --pool 1 --plan 1 --committed 600M --from 2026-02-01 --to 2026-03-01 --json
[ "$(jq -r '.burst_mbps' <<<"$OUT")" = 600 ] || fail "burst defaults to committed"
bad 1 "refused: pool 1 (ct-a): Σ committed would be 1600 Mbps at 2026-02-01T00:00:00+08:00, over capacity 1000 Mbps × limit 1.5 = 1500 Mbps" \
	alloc add --tenant 1003 --pool 1 --plan 1 --committed 200M --from 2026-01-15
bad 1 "the tenant already has an allocation on this pool during that time" \
	alloc add --tenant 1001 --pool 1 --plan 1 --committed 1M --from 2026-05-01
bad 1 "outside pool 2 validity" \
	alloc add --tenant 1001 --pool 2 --plan 1 --committed 1M --from 2026-05-01
bad 1 "plan 1 has no version in force at 2025-06-01T00:00:00+08:00" \
	alloc add --tenant 1003 --pool 1 --plan 1 --committed 1M --from 2025-06-01 --to 2025-07-01
bad 1 "violates check constraint \"allocation_check\"" \
	alloc add --tenant 1003 --pool 1 --plan 1 --committed 100M --burst 50M --from 2026-03-01
bad 2 "--committed '0': must be above zero" alloc add --tenant 1003 --pool 1 --plan 1 --committed 0
bad 2 "--committed '1.5': not a whole number of bit/s" alloc add --tenant 1003 --pool 1 --plan 1 --committed 1.5
bad 2 "--tenant, --pool, --plan and --committed are required" alloc add --tenant 1003
ok "alloc add: capacity guard with the figures, overlaps, pool validity, plan versions, bad rates"
ok_cmd alloc add --tenant 1003 --pool 1 --plan 1 --committed 200M --from 2026-01-15 --force
grep -q "warning: allocation .* forced: pool 1 (ct-a): Σ committed would be 1600 Mbps" <<<"$ERR" || fail "force warning: $ERR"
[ "$(q "SELECT count(*) FROM audit_log WHERE table_name = 'allocation' AND actor = 'op-test'
	AND after ->> 'forced' LIKE 'forced: pool 1 (ct-a)%'")" = 1 ] || fail "forcing not audited"
ok "alloc add --force: allowed, warned, audited"
aid=$(q "SELECT alloc_id FROM allocation WHERE tenant_id = 1001 AND pool_id = 1")
bad 1 "refused: pool 1 (ct-a): Σ committed would be 1700 Mbps at 2099-01-01T00:00:00+08:00" \
	alloc change "$aid" --at 2099-01-01 --committed 1.5G
bad 1 "(in the past) rewrites history: it needs --force (audited)" \
	alloc change "$aid" --at 2026-03-15 --committed 900M
ok_cmd alloc change "$aid" --at 2026-03-15 --committed 900M --force --json
[ "$(jq -r '.committed_mbps, .burst_mbps, .valid_from' <<<"$OUT" | tr '\n' ' ')" = \
  "900 1000 2026-03-15T00:00:00+08:00 " ] || fail "alloc change: $OUT"
ok_cmd alloc show "$aid" --json
[ "$(jq -r '.valid_to' <<<"$OUT")" = 2026-03-15T00:00:00+08:00 ] || fail "old allocation not ended"
ok_cmd alloc list --pool 1 --all --json
[ "$(jq length <<<"$OUT")" = 4 ] || fail "alloc list: $OUT"
bad 2 "--at and --all exclude each other" alloc list --all --at 2026-01-01
ok "alloc change: a new allocation from the instant, the old one ends there"

# --- capacity ---------------------------------------------------------------
ok_cmd capacity --pool 1 --from 2026-02-01 --to 2026-03-01 --json
[ "$(jq -r '.[0] | "\(.capacity_mbps) \(.committed_mbps) \(.burst_mbps) \(.headroom_mbps) \(.oversubscription) \(.p95_mbps) \(.buckets)"' <<<"$OUT")" = \
  "1000 1600 1800 -100 1.6 0 8064" ] || fail "capacity: $OUT"
ok_cmd capacity --from 2026-04-01
grep -q "ct-a .* 1100 " <<<"$OUT" || fail "capacity in April: $OUT"
bad 2 "--to must be after --from" capacity --from 2026-03-01 --to 2026-02-01
bad 2 "the range is longer than 400 days" capacity --from 2026-01-01 --to 2028-01-01
bad 2 "--measure 'bytes'" capacity --measure bytes
bad 1 "pool 9 not found" capacity --pool 9
ok "capacity: purchased, Σ committed / burst peaks, headroom, ratio, buckets"

# --- ends -------------------------------------------------------------------
bad 1 "on plan 1 runs past that time: end or change it first" plan end 1 --at 2026-08-01
bad 1 "would leave allocation" pool end 1 --at 2026-08-01
ok_cmd alloc end 2 --at 2026-02-15 --force
grep -q "valid_to *2026-02-15T00:00:00+08:00" <<<"$OUT" || fail "alloc end: $OUT"
ok_cmd tenant end 1003 --at 2026-09-01 --force --json
[ "$(jq -r '.status, .closed_at' <<<"$OUT" | tr '\n' ' ')" = "closed 2026-09-01T00:00:00+08:00 " ] || fail "tenant end: $OUT"
[ "$(q "SELECT count(*) FROM prefix WHERE tenant_id = 1003 AND (upper_inf(valid) OR upper(valid) > '2026-09-01+08')")" = 0 ] &&
[ "$(q "SELECT count(*) FROM allocation WHERE tenant_id = 1003 AND (upper_inf(valid) OR upper(valid) > '2026-09-01+08')")" = 0 ] ||
	fail "tenant end left prefixes or allocations"
bad 1 "tenant 1003 is already closed" tenant end 1003
bad 1 "tenant 1003 is closed since 2026-09-01T00:00:00+08:00" prefix add --tenant 1003 --prefix 10.9.0.0/16 --from 2026-10-01
ok_cmd prefix end 1 --at 2026-12-01 --force
ok_cmd plan end 2 --at 2026-12-01 --force
ok_cmd pool end 2 --at 2026-12-01 --force
grep -q "valid_to *2026-12-01" <<<"$OUT" || fail "pool end: $OUT"
ok "end: allocation, tenant (closes, ends its prefixes and allocations), prefix, plan, pool"


# --- prefixes export --------------------------------------------------------
map=$WORK/prefixes.map
ok_cmd prefixes export --out "$map" --at 2026-03-01
grep -q "^prefix map version 1 written to $map: 3 IPv4 and 1 IPv6 prefixes of 3 tenants" <<<"$OUT" || fail "export: $OUT"
[ "$(grep -v '^#' "$map")" = "version 1
192.0.2.10/32 1003
198.51.100.0/24 1002
203.0.113.0/24 1001
2001:db8:1000::/48 1001" ] || fail "map content: $(cat "$map")"
sleep 30 & pid=$!
trap_log=$WORK/hup
mkdir -p "$WORK/bin"
cat >"$WORK/bin/bandsplit-meter" <<EOF
#!/usr/bin/python3
# stands in for the meter: its command name is bandsplit-meter. Python,
# not bash: bash cannot trap a signal ignored when it started (a suite run
# under nohup ignores SIGHUP), Python sets its own handler whatever it
# inherited.
import os, signal, time
signal.signal(signal.SIGHUP, lambda *_: open("$trap_log", "a").write("HUP\\n"))
open("$WORK/meter.pid", "w").write("%d\\n" % os.getpid())
while True:
    time.sleep(0.1)
EOF
chmod +x "$WORK/bin/bandsplit-meter"
"$WORK/bin/bandsplit-meter" &
sleeper=$!
bs_at_exit "kill $sleeper $pid 2>/dev/null || true"
for _ in $(seq 50); do [ -s "$WORK/meter.pid" ] && break; sleep 0.1; done
ok_cmd prefixes export --out "$map" --at 2026-05-01 --notify "$WORK/meter.pid" --json
[ "$(jq -r '.version, .v4_prefixes, .notified' <<<"$OUT" | tr '\n' ' ')" = "2 3 true " ] || fail "export 2: $OUT"
for _ in $(seq 50); do [ -s "$trap_log" ] && break; sleep 0.1; done
[ "$(cat "$trap_log")" = HUP ] || fail "--notify: no SIGHUP"
grep -q "^198.51.100.0/24 1003$" "$map" && grep -q "^version 2$" "$map" || fail "map 2: $(cat "$map")"
ls "$WORK" | grep -q '\.tmp\.' && fail "temporary file left"
ok "prefixes export: the map at an instant, versions grow, atomic, --notify sends SIGHUP"
cp "$map" "$WORK/keep"
bad 2 "--notify '$WORK/nope.pid'" prefixes export --out "$map" --notify "$WORK/nope.pid"
bad 2 "--out '$WORK': not a regular file" prefixes export --out "$WORK"
bad 3 "$WORK/nodir/x.map.tmp." prefixes export --out "$WORK/nodir/x.map"
bad 2 "--out FILE is required" prefixes export
cmp -s "$map" "$WORK/keep" || fail "a failed export changed the map"
ok_cmd prefixes exports --json
[ "$(jq -r '[.[].version] | join(",")' <<<"$OUT")" = "2,1" ] || fail "exports: $OUT"
ok_cmd prefixes stale
ok "failed exports change neither the file nor the database; export history"

# --- --notify checks its pid is a meter, before installing (item 13) ---------
echo "$pid" >"$WORK/other.pid"
cp "$map" "$WORK/keep"
bad 1 "--notify '$WORK/other.pid': $WORK/other.pid: pid $pid is 'sleep'" \
	prefixes export --out "$map" --notify "$WORK/other.pid"
grep -q "not a running bandsplit-meter: nothing exported" <<<"$ERR" || fail "notify refusal: $ERR"
kill -0 "$pid" || fail "the unrelated process was signalled"
cmp -s "$map" "$WORK/keep" || fail "the map was installed although --notify was refused"
echo 999999 >"$WORK/gone.pid"
bad 1 "pid 999999 is not running" prefixes export --out "$map" --notify "$WORK/gone.pid"
ok "prefixes export --notify: a pid that is not a running bandsplit-meter is refused before the map is installed"

# --- exports serialised, the file's version never goes back (item 4) --------
printf '# another copy\nversion 999\n10.0.0.0/8 1\n' >"$WORK/ahead.map"
cp "$WORK/ahead.map" "$WORK/keep"
bad 1 "$WORK/ahead.map holds map version 999, newer than this export's" prefixes export --out "$WORK/ahead.map"
cmp -s "$WORK/ahead.map" "$WORK/keep" || fail "a newer map was replaced"
echo "not a map" >"$WORK/notmap"
bad 1 "$WORK/notmap: no 'version' line: not a prefix map" prefixes export --out "$WORK/notmap"
race=$WORK/race.map
racers=()
for i in $(seq 1 12); do
	( "$BS" prefixes export --out "$race" >"$WORK/race.$i.out" 2>&1; echo $? >"$WORK/race.$i.rc" ) &
	racers+=($!)
done
wait "${racers[@]}"
[ "$(cat "$WORK"/race.*.rc | sort -u)" = 0 ] || fail "concurrent exports failed: $(cat "$WORK"/race.*.out)"
[ "$(awk '/^version / { print $2 }' "$race")" = "$(q "SELECT max(version) FROM prefix_map_export")" ] ||
	fail "the file holds version $(awk '/^version / { print $2 }' "$race"), the database $(q "SELECT max(version) FROM prefix_map_export")"
ok "12 concurrent exports: the file holds the newest version; a file with a newer version is never replaced"

# --- history is never erased (issue 10 item 3) --------------------------------
ok_cmd tenant add --id 77 --name t77
ok_cmd prefix add --tenant 77 --prefix 10.77.0.0/16 --from 2026-01-01
ok_cmd alloc add --tenant 77 --pool 1 --plan 1 --committed 1M --from 2026-01-01 --force --json
a77=$(jq -r .id <<<"$OUT")
bad 1 "took effect at 2026-01-01T00:00:00+08:00: history is kept" tenant end 77 --at 1970-01-01
bad 1 "took effect at 2026-01-01T00:00:00+08:00: history is kept" tenant end 77 --at 1970-01-01 --force
bad 1 "(in the past) rewrites history: it needs --force (audited)" alloc end "$a77" --at 2026-06-01
bad 1 "(in the past) rewrites history: it needs --force (audited)" tenant end 77 --at 2026-06-01
# the tenant's own guard, alone: a tenant with no prefix or allocation to
# refuse it (the rows' guard answered above) is not closed in the past either
ok_cmd tenant add --id 78 --name t78
bad 1 "closing tenant 78 at 2026-06-01T00:00:00+08:00 (in the past) rewrites history: it needs --force" tenant end 78 --at 2026-06-01
ok_cmd tenant end 78 --at 2026-06-01 --force
ok_cmd alloc end "$a77" --at 2026-06-01 --force
[ "$(q "SELECT actor || ' ' || op || ' ' || (after ->> 'valid') FROM audit_log
	WHERE table_name = 'allocation' ORDER BY audit_id DESC LIMIT 1")" = \
  'op-test UPDATE ["2025-12-31 16:00:00+00","2026-05-31 16:00:00+00")' ] || fail "forced past end not audited"
ok_cmd prefix add --tenant 77 --prefix 10.78.0.0/16 --from 2099-01-01 --json
p78=$(jq -r '.[0].id // .id' <<<"$OUT")
bad 1 "never took effect (starts 2099-01-01T00:00:00+08:00): removing it needs --purge" tenant end 77
bad 2 "--to must not be before --from (or --at)" prefix end "$p78" --at 2098-01-01
ok_cmd prefix end "$p78" --at 2098-01-01 --purge
[ "$(q "SELECT count(*) FROM prefix WHERE prefix_id = $p78")" = 0 ] &&
[ "$(q "SELECT op FROM audit_log WHERE table_name = 'prefix' AND row_key ->> 'prefix_id' = '$p78'
	ORDER BY audit_id DESC LIMIT 1")" = DELETE ] || fail "purge not done or not audited"
bad 1 "took effect at 2026-01-01T00:00:00+08:00: history is kept" prefix end \
	"$(q "SELECT prefix_id FROM prefix WHERE prefix = '10.77.0.0/16'")" --at 2025-01-01 --purge
ok_cmd tenant end 77
[ "$(q "SELECT count(*) FROM prefix WHERE tenant_id = 77") $(q "SELECT count(*) FROM allocation WHERE tenant_id = 77")" = "1 1" ] ||
	fail "tenant end erased history"
ok "history kept: tenant end before its history refused, past ends need --force, purge only of rows never in force; audited"

# --- audit ------------------------------------------------------------------
ok_cmd audit list --table allocation --limit 3 --json
[ "$(jq length <<<"$OUT")" = 3 ] && [ "$(jq -r '.[0].actor' <<<"$OUT")" = op-test ] || fail "audit list: $OUT"
ok_cmd audit list --table pool --json
jq -e '.[] | select(.op == "UPDATE" and (.changed | contains("oversub_limit")))' <<<"$OUT" >/dev/null ||
	fail "audit list changed columns: $OUT"
ok_cmd audit show 1 --json
[ "$(jq -r '.table, .op, .after.name, .before' <<<"$OUT" | tr '\n' ' ')" = "pool INSERT ct-a null " ] || fail "audit show: $OUT"
bad 2 "--table 'users'" audit list --table users
bad 2 "--limit '0': out of range 1..100000" audit list --limit 0
bad 1 "audit row not found" audit show 999999
ok_cmd audit verify
grep -q "^audit log intact: [0-9]* rows, head id [0-9]*, head hash [0-9a-f]\{64\}$" <<<"$OUT" || fail "verify: $OUT"
ok "audit list / show / verify"

# --- operator input: units, prefixes, names, options (issue 10 items 16, 17) -
ok_cmd pool add --id 5 --carrier c --name bytes-pool --capacity 10MB/s --flat-fee 1 --from 2026-01-01 --json
[ "$(jq -r .capacity_mbps <<<"$OUT")" = 80 ] || fail "10MB/s is not 80 Mbit/s: $OUT"
ok_cmd pool change 5 --capacity 10MBps --json
[ "$(jq -r .capacity_mbps <<<"$OUT")" = 80 ] || fail "10MBps is not 80 Mbit/s: $OUT"
ok_cmd pool change 5 --capacity 10Mb --json
[ "$(jq -r .capacity_mbps <<<"$OUT")" = 10 ] || fail "10Mb is not 10 Mbit/s: $OUT"
bad 2 "--capacity '10MBPS': ambiguous unit 'BPS'" pool change 5 --capacity 10MBPS
bad 2 "--committed '1MB/S': ambiguous unit 'B/S'" alloc add --tenant 1001 --pool 5 --plan 1 --committed 1MB/S
bad 1 "::ffff:10.0.0.0/104: IPv4-mapped IPv6 (::ffff:0:0/96)" prefix add --tenant 1001 --prefix ::ffff:10.0.0.0/104
bad 1 "multicast (224.0.0.0/4)" prefix add --tenant 1001 --prefix 224.1.0.0/16
bad 1 "multicast (ff00::/8)" prefix add --tenant 1001 --prefix ff05::/16
bad 1 "loopback (127.0.0.0/8)" prefix add --tenant 1001 --prefix 127.0.0.0/8
bad 1 "loopback (::1)" prefix add --tenant 1001 --prefix ::1/128
bad 1 "link-local (169.254.0.0/16)" prefix add --tenant 1001 --prefix 169.254.1.0/24
bad 1 "link-local (fe80::/10)" prefix add --tenant 1001 --prefix fe80::/64
bad 2 "--name: not valid UTF-8 (byte 3)" tenant add --id 3009 --name $'ab\xffcd'
bad 2 "--contact: not valid UTF-8 (byte 1)" tenant add --id 3009 --name ok --contact $'\xc0\xaf'
bad 2 "--name given more than once" tenant add --id 3009 --name a --name b
bad 2 "--committed given more than once" alloc add --tenant 1001 --pool 1 --plan 1 --committed 1M --committed 2M
bad 2 "--force given more than once" alloc end 1 --force --force
bad 2 "--to given more than once ('2026-02-01', then '2026-03-01')" gaps --from 2026-01-01 --to 2026-02-01 --to 2026-03-01
bad 2 "--out given more than once" prefixes export --out "$WORK/a.map" --out "$WORK/b.map"
ok_cmd tenant add --id 3001 --name "Zeta Net"
for twin in "zeta net" "ZETA NET" $'Zeta\u200b Net' $'\u200dZeta Net' $'Zeta Net\ufeff' $'\uff3a\uff45\uff54\uff41 Net' $'Ze\u00adta Net'; do
	bad 1 "another tenant has this name, up to case, compatibility forms and invisible characters" \
		tenant add --id 3002 --name "$twin"
done
bad 1 "another tenant has this name" tenant change 1001 --name "zeta net"
ok "units (MB/s = 8 Mbit/s, b/B never confused), unusable prefixes with a reason, invalid UTF-8 named, repeated options, twin tenant names refused"

# --- every --from/--to pair is checked (issue 10 item 5) --------------------
for cmd in "gaps --fail-if-any" "usage" "prefixes stale" "capacity" \
	   "pool add --id 9 --carrier c --name n9 --capacity 1G --flat-fee 1" \
	   "alloc add --tenant 1001 --pool 1 --plan 1 --committed 1M" \
	   "prefix add --tenant 1001 --prefix 10.99.0.0/16"; do
	# shellcheck disable=SC2086
	bad 2 "--from '2100-01-01" $cmd --from 2100-01-01 --to 2000-01-01
	grep -q -- "--to '2000-01-01.*': --to must be after --from" <<<"$ERR" || fail "$cmd: $ERR"
	# shellcheck disable=SC2086
	bad 2 "--to must be after --from" $cmd --from 2026-01-01T08:00+08:00 --to 2026-01-01T00:00Z
done
ok "reversed and empty --from/--to ranges refused naming both (gaps, usage, prefixes stale, capacity, add)"

# --- connection failures ----------------------------------------------------
bad 3 "postgres connect" --db "host=$WORK/nosuchdir dbname=x" tenant list
ok "an unreachable database is a failure (exit 3)"

echo "test_operator_cli: $PASSED passed"
