#!/usr/bin/env bash
# test_deploy.sh — the installation (issue 14), from the build directory:
#   1. `meson install --destdir`: the layout (programs, migrations, units,
#      sysusers.d, examples, configuration, man pages), and an operator's
#      configuration file that is already there is kept as it was;
#   2. `systemd-analyze verify` of every installed unit, its ExecStart
#      pointed at the installed programs (any complaint fails);
#   3. the service manager's notifications of the installed programs,
#      seen on a fake NOTIFY_SOCKET with WATCHDOG_USEC set: READY=1,
#      WATCHDOG=1 (rate-limited), RELOADING=1 on SIGHUP, STOPPING=1 —
#      bandsplit-kafka, bandsplit-meter (net_pcap, in-process Kafka) and
#      bandsplit-settle (a private PostgreSQL migrated with the installed
#      migrations; ready once its partitions are assigned) and, when built,
#      bandsplit-api (ready once it listens);
#   4. every installed man page renders with `man -l` without a warning,
#      and every program and every CLI command has its page.
# Environment: BUILD, SRC (set by meson). Exit 77 = skipped.
set -euo pipefail
: "${BUILD:?BUILD must name the build directory}" "${SRC:?SRC must name the source directory}"
source "$SRC/tests/lib/pg.sh"

for tool in systemd-analyze man python3 socat; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
T=$(mktemp -d /tmp/bs-deploy-test.XXXXXX)
bs_at_exit "rm -rf $T /var/run/dpdk/bsdeploy$$ 2>/dev/null"
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

# ---- 1. meson install --destdir -------------------------------------------
read -r PREFIX BINDIR SYSCONFDIR DATADIR MANDIR < <(meson introspect "$BUILD" --buildoptions |
	python3 -c 'import json, sys, os.path
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
print(p, *(os.path.join(p, o[k]) for k in ("bindir", "sysconfdir", "datadir", "mandir")))')
ROOT=$T/root
# an operator's edited configuration, there before the install
mkdir -p "$ROOT$SYSCONFDIR/bandsplit"
printf '# edited by the operator\n[settle]\ngroup = ours\n' >"$ROOT$SYSCONFDIR/bandsplit/settle.conf"
cp "$ROOT$SYSCONFDIR/bandsplit/settle.conf" "$T/settle.conf.before"
if ! meson install -C "$BUILD" --destdir "$ROOT" --no-rebuild >"$T/install.log" 2>&1; then
	cat "$T/install.log" >&2
	fail "meson install --destdir"
fi
UNITDIR=$(sed -n 's/^Installing .*bandsplit-settle\.service to //p' "$T/install.log" | head -1)
UNITDIR=${UNITDIR#"$ROOT"}
[[ -n $UNITDIR ]] || fail "no unit installed (install log: $T/install.log)"

PROGRAMS=(bandsplit bandsplit-meter bandsplit-settle bandsplit-kafka bandsplit-usage bandsplit-gen)
[[ -x $BUILD/settlement/bandsplit-api ]] && PROGRAMS+=(bandsplit-api)
for p in "${PROGRAMS[@]}"; do
	[[ -x $ROOT$BINDIR/$p ]] || fail "$BINDIR/$p not installed"
done
want_sql=$(cd "$SRC/schemas/sql" && ls ./*.sql | sort)
have_sql=$(cd "$ROOT$DATADIR/bandsplit/sql" 2>/dev/null && ls ./*.sql | sort || true)
[[ $want_sql == "$have_sql" ]] || fail "$DATADIR/bandsplit/sql differs from schemas/sql"
for f in $want_sql; do
	cmp -s "$SRC/schemas/sql/$f" "$ROOT$DATADIR/bandsplit/sql/$f" || fail "installed $f differs"
done
UNITS=(bandsplit-meter@.service bandsplit-settle.service bandsplit-kafka.service)
[[ -x $BUILD/settlement/bandsplit-api ]] && UNITS+=(bandsplit-api.service)
for u in "${UNITS[@]}"; do
	[[ -f $ROOT$UNITDIR/$u ]] || fail "$UNITDIR/$u not installed"
done
[[ -n $(find "$ROOT" -path '*/sysusers.d/bandsplit.conf') ]] || fail "no sysusers.d/bandsplit.conf"
for f in meter.conf settle.conf prefixes.map meter-node1.eal; do
	[[ -f $ROOT$DATADIR/doc/bandsplit/examples/$f ]] || fail "example $f not installed"
done
cmp -s "$T/settle.conf.before" "$ROOT$SYSCONFDIR/bandsplit/settle.conf" ||
	fail "the operator's $SYSCONFDIR/bandsplit/settle.conf was overwritten"
cmp -s "$SRC/config/meter.conf" "$ROOT$SYSCONFDIR/bandsplit/meter-node1.conf" ||
	fail "$SYSCONFDIR/bandsplit/meter-node1.conf is not the example"
[[ -f $ROOT$SYSCONFDIR/bandsplit/meter-node1.eal ]] || fail "meter-node1.eal not installed"
if [[ -x $BUILD/settlement/bandsplit-api ]]; then
	cmp -s "$SRC/config/api.conf" "$ROOT$SYSCONFDIR/bandsplit/api.conf" ||
		fail "$SYSCONFDIR/bandsplit/api.conf is not the example"
fi
# a second install keeps what the first put there, edited since
echo "# edited again" >>"$ROOT$SYSCONFDIR/bandsplit/meter-node1.conf"
cp "$ROOT$SYSCONFDIR/bandsplit/meter-node1.conf" "$T/meter.conf.before"
meson install -C "$BUILD" --destdir "$ROOT" --no-rebuild >"$T/install2.log" 2>&1 || fail "second install"
cmp -s "$T/meter.conf.before" "$ROOT$SYSCONFDIR/bandsplit/meter-node1.conf" ||
	fail "a second install overwrote the edited meter-node1.conf"
((FAILS == 0)) && ok "install layout (prefix $PREFIX, units in $UNITDIR)"

# ---- 2. systemd-analyze verify ---------------------------------------------
# A copy of each unit whose program paths name the installed copies.
mkdir -p "$T/units"
for u in "${UNITS[@]}"; do
	sed "s|$BINDIR/|$ROOT$BINDIR/|g" "$ROOT$UNITDIR/$u" >"$T/units/$u"
	grep -q '^Type=notify$' "$T/units/$u" || fail "$u: not Type=notify"
	grep -q '^WatchdogSec=' "$T/units/$u" || fail "$u: no WatchdogSec"
	grep -q '^Restart=on-failure$' "$T/units/$u" || fail "$u: not Restart=on-failure"
	grep -q '^User=bandsplit$' "$T/units/$u" || fail "$u: not User=bandsplit"
	grep -q '^ProtectSystem=strict$' "$T/units/$u" || fail "$u: not ProtectSystem=strict"
	grep -q '^NoNewPrivileges=yes$' "$T/units/$u" || fail "$u: no NoNewPrivileges"
done
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$T/units/bandsplit-meter@.service" ||
	fail "bandsplit-meter@.service: no ExecReload sending SIGHUP"
# the single-box drop-in of the examples, verified with the meter's unit
mkdir -p "$T/units/bandsplit-meter@.service.d"
sed "s|$BINDIR/|$ROOT$BINDIR/|g" "$ROOT$DATADIR/doc/bandsplit/examples/meter-single-box.conf" \
	>"$T/units/bandsplit-meter@.service.d/single-box.conf" || fail "no meter-single-box.conf example"
verify_failed=0
for u in "${UNITS[@]}"; do
	name=${u/@./@node1.}   # a template is verified as an instance
	rc=0
	(cd "$T/units" && SYSTEMD_UNIT_PATH="$T/units:" systemd-analyze verify --man=no "$name") \
		>"$T/verify.out" 2>&1 || rc=$?
	if [[ $rc != 0 || -s $T/verify.out ]]; then
		fail "systemd-analyze verify $name (exit $rc): $(cat "$T/verify.out")"
		verify_failed=1
	fi
done
((verify_failed == 0)) && ok "systemd-analyze verify: ${UNITS[*]}"
# the daily compaction: a oneshot service and its timer
for u in bandsplit-compact.service bandsplit-compact.timer; do
	[[ -f $ROOT$UNITDIR/$u ]] || fail "$UNITDIR/$u not installed"
	sed "s|$BINDIR/|$ROOT$BINDIR/|g" "$ROOT$UNITDIR/$u" >"$T/units/$u"
done
grep -q "^ExecStart=$ROOT$BINDIR/bandsplit rollup compact\$" "$T/units/bandsplit-compact.service" ||
	fail "bandsplit-compact.service does not run bandsplit rollup compact"
grep -q '^User=bandsplit$' "$T/units/bandsplit-compact.service" || fail "bandsplit-compact.service: not User=bandsplit"
grep -q '^OnCalendar=' "$T/units/bandsplit-compact.timer" || fail "bandsplit-compact.timer: no OnCalendar"
rc=0
(cd "$T/units" && SYSTEMD_UNIT_PATH="$T/units:" systemd-analyze verify --man=no bandsplit-compact.timer) \
	>"$T/verify.out" 2>&1 || rc=$?
# the EnvironmentFile is the operator's to write: its absence is not a fault of the unit
grep -v 'cli.env' "$T/verify.out" >"$T/verify.rest" || true
[[ ! -s $T/verify.rest ]] ||
	fail "systemd-analyze verify bandsplit-compact.timer (exit $rc): $(cat "$T/verify.out")"
ok "the daily compaction: bandsplit-compact.service (oneshot, bandsplit rollup compact) and its timer verify"

# ---- 3. notifications on a fake NOTIFY_SOCKET -----------------------------
# listen NAME: starts a listener; the messages go to $T/notify-NAME.log
declare -A LISTENER
listen() {
	local name=$1
	: >"$T/notify-$name.log"
	python3 "$SRC/tests/integration/notify_listen.py" "$T/notify-$name.sock" \
		"$T/notify-$name.log" >"$T/notify-$name.out" &
	LISTENER[$name]=$!
	bs_at_exit "kill ${LISTENER[$name]} 2>/dev/null"
	local i
	for i in $(seq 50); do
		grep -q listening "$T/notify-$name.out" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "notify listener $name did not start"
}
# wait_for NAME MESSAGE [SECONDS]: until the program sent MESSAGE
wait_for() {
	local i
	for i in $(seq $((${3:-20} * 10))); do
		grep -q "^$2" "$T/notify-$1.log" && return 0
		sleep 0.1
	done
	return 1
}
count() { grep -c "^$2" "$T/notify-$1.log" || true; }
# expect NAME MESSAGE...: each was sent
expect() {
	local name=$1 m
	shift
	for m in "$@"; do
		grep -q "^$m" "$T/notify-$name.log" || fail "$name: no $m on NOTIFY_SOCKET (got: $(tr '\n' ' ' <"$T/notify-$name.log"))"
	done
}

# bandsplit-kafka: ready once the brokers listen and the topics exist
listen kafka
NOTIFY_SOCKET=$T/notify-kafka.sock WATCHDOG_USEC=1000000 \
	"$ROOT$BINDIR/bandsplit-kafka" --brokers 1 --partitions 2 \
	--bootstrap-file "$T/kafka.bootstrap" >/dev/null 2>"$T/kafka.log" &
KAFKA_PID=$!
bs_at_exit "kill -9 $KAFKA_PID 2>/dev/null"
wait_for kafka 'READY=1' 10 || fail "bandsplit-kafka: no READY=1"
[[ -s $T/kafka.bootstrap ]] || fail "bandsplit-kafka: READY=1 before its bootstrap file"
wait_for kafka 'WATCHDOG=1' 5 || true
kill -TERM "$KAFKA_PID"; wait "$KAFKA_PID" || fail "bandsplit-kafka exited $? after SIGTERM"
expect kafka 'READY=1' 'WATCHDOG=1' 'STOPPING=1'
ok "bandsplit-kafka: $(sort -u "$T/notify-kafka.log" | cut -d'|' -f1 | tr '\n' ' ')"

# bandsplit-meter: an empty capture (no traffic), the system clock, the
# in-process Kafka; ready once its port is started and the map in force
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$T/empty.pcap"
cp "$SRC/config/prefixes.map" "$T/prefixes.map"
cat >"$T/meter.conf" <<CONF
[meter]
node_id = deploy-test
interval = 1
clock = system
prefix_map = $T/prefixes.map
spool_dir = $T/spool
max_tenants = 64
flush_timeout = 5
[kafka]
brokers =
[port net_pcap0]
role = upstream
pool = 1
CONF
listen meter
WATCHDOG_USEC=400000 NOTIFY_SOCKET=$T/notify-meter.sock \
	"$ROOT$BINDIR/bandsplit-meter" -l 0-1 --no-huge --no-pci -m 256 \
	--file-prefix="bsdeploy$$" --log-level=warning --vdev="net_pcap0,rx_pcap=$T/empty.pcap" \
	-- --config "$T/meter.conf" >"$T/meter.log" 2>&1 &
METER_PID=$!
bs_at_exit "kill -9 $METER_PID 2>/dev/null"
if wait_for meter 'READY=1' 20; then
	grep -q '^READY=1|STATUS=node deploy-test' "$T/notify-meter.log" ||
		fail "bandsplit-meter: READY=1 without its status line"
	sleep 1.2
	kill -HUP "$METER_PID"
	for i in $(seq 50); do
		(($(count meter 'READY=1') >= 2)) && break
		sleep 0.1
	done
	kill -TERM "$METER_PID"
	wait "$METER_PID" || fail "bandsplit-meter exited $? after SIGTERM: $(tail -5 "$T/meter.log")"
	expect meter 'READY=1' 'WATCHDOG=1' 'RELOADING=1' 'STOPPING=1'
	((($(count meter 'READY=1') >= 2))) || fail "bandsplit-meter: no READY=1 after the reload"
	# rate limit: at most one per half period (0.2 s) over the ~2 s run
	# while its control loop turns thousands of times
	wd=$(count meter 'WATCHDOG=1')
	((wd >= 2 && wd <= 25)) || fail "bandsplit-meter: $wd WATCHDOG=1 in about 2 s (WATCHDOG_USEC=0.4 s)"
	ok "bandsplit-meter: READY, $wd x WATCHDOG (rate-limited), RELOADING, READY, STOPPING"
else
	fail "bandsplit-meter: no READY=1; its log: $(tail -5 "$T/meter.log")"
	kill -9 "$METER_PID" 2>/dev/null || true
fi

# bandsplit-settle: the installed migrations on a private PostgreSQL, ready
# once the group assigned its partitions
if pg_start >"$T/pg.log" 2>&1; then
	"$ROOT$BINDIR/bandsplit" --db "$BS_DB_ADMIN" migrate --sql-dir "$ROOT$DATADIR/bandsplit/sql" \
		>"$T/migrate.log" 2>&1 || fail "installed bandsplit migrate: $(tail -3 "$T/migrate.log")"
	"$BUILD/tools/bandsplit-kafka" --brokers 1 --partitions 2 \
		--bootstrap-file "$T/kafka2.bootstrap" >/dev/null 2>"$T/kafka2.log" &
	KAFKA2_PID=$!
	bs_at_exit "kill -9 $KAFKA2_PID 2>/dev/null"
	for i in $(seq 50); do [[ -s $T/kafka2.bootstrap ]] && break; sleep 0.1; done
	listen settle
	WATCHDOG_USEC=2000000 NOTIFY_SOCKET=$T/notify-settle.sock \
		"$ROOT$BINDIR/bandsplit-settle" --sql-dir "$ROOT$DATADIR/bandsplit/sql" \
		--set "postgres.conninfo=$BS_DB_SETTLE" --set "kafka.bootstrap_file=$T/kafka2.bootstrap" \
		--set settle.metrics_listen=127.0.0.1:0 --set settle.gap_check_s=0 \
		--set kafka.session.timeout.ms=6000 --set kafka.heartbeat.interval.ms=500 \
		>"$T/settle.log" 2>&1 &
	SETTLE_PID=$!
	bs_at_exit "kill -9 $SETTLE_PID 2>/dev/null"
	if wait_for settle 'READY=1' 30; then
		grep -q '^READY=1|STATUS=group .* 2 partition(s)' "$T/notify-settle.log" ||
			fail "bandsplit-settle: READY=1 without the assignment in its status"
		grep -q 'assigned 2 partition' "$T/settle.log" ||
			fail "bandsplit-settle: READY=1 but no assignment in its log"
		kill -TERM "$SETTLE_PID"
		wait "$SETTLE_PID" || fail "bandsplit-settle exited $? after SIGTERM"
		expect settle 'READY=1' 'WATCHDOG=1' 'STOPPING=1'
		ok "bandsplit-settle: READY after the assignment, WATCHDOG, STOPPING"
	else
		fail "bandsplit-settle: no READY=1; its log: $(tail -5 "$T/settle.log")"
	fi
	# bandsplit-api: ready once it listens (its pool connected first)
	if [[ -x $ROOT$BINDIR/bandsplit-api ]]; then
		printf '[api]\nlisten = 127.0.0.1:0\naccess_log = %s\n[postgres]\nconninfo = user=bandsplit_api\n' \
			"$T/api.access.log" >"$T/api.conf"
		listen api
		WATCHDOG_USEC=2000000 NOTIFY_SOCKET=$T/notify-api.sock \
			"$ROOT$BINDIR/bandsplit-api" --config "$T/api.conf" >"$T/api.log" 2>&1 &
		API_PID=$!
		bs_at_exit "kill -9 $API_PID 2>/dev/null"
		if wait_for api 'READY=1' 20; then
			grep -q '^READY=1|STATUS=listening on 127.0.0.1:' "$T/notify-api.log" ||
				fail "bandsplit-api: READY=1 without the address in its status"
			grep -q 'listening on' "$T/api.log" || fail "bandsplit-api: READY=1 before it listens"
			wait_for api 'WATCHDOG=1' 5 || true
			kill -TERM "$API_PID"
			wait "$API_PID" || fail "bandsplit-api exited $? after SIGTERM"
			expect api 'READY=1' 'WATCHDOG=1' 'STOPPING=1'
			ok "bandsplit-api: READY once listening, WATCHDOG, STOPPING"
		else
			fail "bandsplit-api: no READY=1; its log: $(tail -5 "$T/api.log")"
		fi
	fi
else
	fail "PostgreSQL did not start: $(cat "$T/pg.log")"
fi

# ---- 4. man pages ---------------------------------------------------------
pages=$(find "$ROOT$MANDIR" -name '*.[18]' | sort)
[[ -n $pages ]] || fail "no man page installed under $MANDIR"
for page in $pages; do
	MANWIDTH=80 man -l --warnings=w "$page" >"$T/man.out" 2>"$T/man.err" || fail "man -l $page failed"
	[[ -s $T/man.err ]] && fail "man -l $(basename "$page"): $(cat "$T/man.err")"
	grep -q . "$T/man.out" || fail "man -l $(basename "$page"): empty"
done
for p in "${PROGRAMS[@]}"; do
	[[ -n $(find "$ROOT$MANDIR" -name "$p.[18]") ]] || fail "$p has no man page"
done
# every command `bandsplit --help` lists has its page (usage: -totals)
commands=$("$ROOT$BINDIR/bandsplit" --help | awk '/^Commands:/ { on = 1; next }
	on && /^  [a-z]/ { print $1; next } on && !/^  / { exit }')
[[ -n $commands ]] || fail "no command in 'bandsplit --help'"
for c in $commands; do
	page=bandsplit-$c
	[[ $c == usage ]] && page=bandsplit-usage-totals
	[[ -f $ROOT$MANDIR/man1/$page.1 ]] || fail "'bandsplit $c' has no man page $page(1)"
done
((FAILS == 0)) && ok "man pages: $(echo "$pages" | wc -l) render without warnings"

if ((FAILS > 0)); then
	echo "test_deploy: $FAILS failure(s)" >&2
	exit 1
fi
echo "test_deploy: all passed"
