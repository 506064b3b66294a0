#!/usr/bin/env bash
# test_settle_secrets.sh — bandsplit-settle never logs a secret (issue 10,
# item 12), and the CLI for a malformed --db: a --set without '=' whose value is a password, a malformed
# conninfo holding one (libpq's message quotes pieces of it), a URI with
# user:password@ and an sslkey, a librdkafka property it refuses (librdkafka
# quotes the value), and librdkafka's configuration dump (debug=conf) with
# secrets librdkafka itself does not hide (a client.id holding JSON with a
# "password", a kinit command line). Every secret is "hunter2..." so one
# grep finds any.
source "$(dirname "$0")/settle_lib.sh"

echo 127.0.0.1:1 >"$T/boot"
BASE=(--set "kafka.bootstrap_file=$T/boot" --set settle.metrics_listen=)

# run_settle NAME SECONDS ARGS...: stderr to $T/NAME.log, exit code in RC
run_settle() {
	local name=$1 secs=$2
	shift 2
	RC=0
	timeout "$secs" "$SETTLE" "$@" >"$T/$name.log" 2>&1 || RC=$?
}
no_secret() { # NAME
	if grep -q "hunter2" "$T/$1.log"; then
		fail "$1: a secret in the log: $(grep -m1 hunter2 "$T/$1.log")"
	fi
	ok "$1: no secret in the log"
}

run_settle set_colon 10 "${BASE[@]}" --set 'kafka.sasl.password:hunter2a'
expect_eq "--set without '=': exit 2" 2 "$RC"
grep -q "'kafka.sasl.password...': expected SECTION.KEY=VALUE" "$T/set_colon.log" ||
	fail "the message does not name the key: $(cat "$T/set_colon.log")"
no_secret set_colon

run_settle conninfo 10 "${BASE[@]}" --set 'postgres.conninfo=host=/tmp password=hunter2b oops'
expect_eq "a malformed conninfo: exit 2" 2 "$RC"
grep -q "\[postgres\] conninfo: not a libpq connection string" "$T/conninfo.log" ||
	fail "the message does not name the key: $(cat "$T/conninfo.log")"
no_secret conninfo

# the same in the library's own connect (bs_db_connect, used by the CLI
# and reached without bandsplit-settle's config check): libpq's parse
# error quotes the token or the whole URI, and must not be shown
for ci in 'host=/tmp hunter2h' 'postgresql://u:hunter2i@[::1'; do
	RC=0
	"$BUILD/settlement/bandsplit" --db "$ci" tenant list >"$T/cli_conninfo.log" 2>&1 || RC=$?
	expect_eq "bandsplit --db a malformed conninfo: exit 3" 3 "$RC"
	grep -q "malformed conninfo (its text is not shown)" "$T/cli_conninfo.log" ||
		fail "the CLI's message is not the expected one: $(cat "$T/cli_conninfo.log")"
	no_secret cli_conninfo
done

# a well-formed URI to nowhere: retried (and logged) until the timeout
run_settle uri 4 "${BASE[@]}" --set 'postgres.conninfo=postgresql://settle:hunter2c@127.0.0.1:1/bs?sslkey=/etc/hunter2d.pem&sslmode=disable'
grep -q "postgres connect postgresql://settle:\*\*\*@127.0.0.1:1/bs?sslkey=\*\*\*&sslmode=disable" "$T/uri.log" ||
	fail "the connection failure is not logged as expected: $(head -3 "$T/uri.log")"
no_secret uri

# librdkafka refuses the value, and says so quoting it
start_db
run_settle kafkaprop 20 "${BASE[@]}" --set 'kafka.security.protocol=hunter2e'
expect_eq "a refused librdkafka property: exit 3" 3 "$RC"
grep -q "kafka property 'security.protocol': Invalid value" "$T/kafkaprop.log" ||
	fail "the message does not name the property: $(cat "$T/kafkaprop.log")"
no_secret kafkaprop

# librdkafka's configuration dump with secrets it does not hide itself
run_settle dump 6 "${BASE[@]}" -v --set kafka.debug=conf \
	--set 'kafka.client.id={"user":"s","password":"hunter2f"}' \
	--set 'kafka.sasl.kerberos.kinit.cmd=kinit --password hunter2g bob'
grep -q 'sasl.kerberos.kinit.cmd = \*\*\*' "$T/dump.log" ||
	fail "no configuration dump in the log: $(head -5 "$T/dump.log")"
no_secret dump
echo PASS
