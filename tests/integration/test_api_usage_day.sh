#!/usr/bin/env bash
# test_api_usage_day.sh — /v1/usage reads compacted days (usage_day, 0029
# and 0030) and answers exactly what usage_5m holds, against a real
# PostgreSQL 15 and bandsplit-api:
#   * an oracle in SQL (date_bin and sums over usage_5m, PostgreSQL's own
#     formatting) gives the CSV of every request of a list: ranges that
#     cross UTC days, start and end inside days, a tenant whose first day
#     is partial, gaps, steps 5m/1h/1d, each direction, an allocation;
#   * the API's CSV equals the oracle before any compaction, after
#     `bandsplit rollup compact`, after a late rollup makes a compacted day
#     dirty (insert and update, as bandsplit_settle), and after the day is
#     compacted again; its JSON is byte-identical before and after;
#   * the API does read usage_day: a compacted value changed by hand (the
#     superuser) shows in the answer until the day is compacted again; an
#     API that has not looked up the last compacted day since
#     (usage_day_check_s) reads the rows instead, and answers the truth;
#   * max_rows counts samples whatever their source (413 / 200 alike);
#   * tenant 1's token never sees tenant 2's compacted rows.
#   usage: test_api_usage_day.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
. "$HERE/../lib/api.sh"
BS=$BUILD/settlement/bandsplit
API=$BUILD/settlement/bandsplit-api
WORK=$(mktemp -d /tmp/bandsplit-apiday.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
. "$HERE/finance_lib.sh"

pg_start
export BANDSPLIT_ACTOR=api-usage-day-test
ok_cmd --db "$BS_DB_ADMIN" migrate
fin_model >/dev/null
fin_usage '2026-11-05 00:00+08' '2026-11-16 00:00+08'
root() { pg_psql -U root -At "$@"; }
# the four measures all different (fin_usage writes frame bytes and
# packets only); a gap of both directions and a lone direction of tenant 1
root -q -c "UPDATE usage_5m SET ip_bytes = frame_bytes - 38 * frame_packets,
                                 ip_packets = frame_packets - 7 - tenant_id;
         DELETE FROM usage_5m WHERE tenant_id = 1 AND bucket_start = '2026-11-12 07:55+08';
         DELETE FROM usage_5m WHERE tenant_id = 1 AND direction = 'out'
            AND bucket_start = '2026-11-12 08:00+08'"
ok_cmd token create --tenant 1 --label t1
T1=$(grep -o 'bst_[a-z2-7]\{8\}_[A-Za-z0-9_-]\{43\}' <<<"$OUT" | head -1)
ok_cmd token create --tenant 2 --label t2
T2=$(grep -o 'bst_[a-z2-7]\{8\}_[A-Za-z0-9_-]\{43\}' <<<"$OUT" | head -1)
ALLOC1=$(q "SELECT alloc_id FROM allocation WHERE tenant_id = 1")
ZONE=Asia/Shanghai   # the park's (the API's default)

start_api() {   # start_api NAME KEY=VALUE...
	local name=$1; shift
	{
		echo "[api]"; echo "listen = 127.0.0.1:0"; echo "access_log ="
		echo "rate_limit = 0"; echo "time_zone = $ZONE"
		for kv in "$@"; do echo "${kv/=/ = }"; done
		echo "[postgres]"; echo "conninfo = user=bandsplit_api"
	} >"$WORK/$name.conf"
	api_run "$API" "$WORK/$name.conf" "$WORK/$name.err" || fail "bandsplit-api $name did not start"
	eval "URL_$name=$API_URL"
}
# main and small look the last compacted day up on every request; stale
# every 60 s (the default), so it still knows none after the compaction
start_api main max_rows=100000 usage_day_check_s=0
start_api small max_rows=300 usage_day_check_s=0
start_api stale

# The requests: TENANT FROM TO STEP DIRECTION(all|in|out) ALLOC(-|id)
REQS="1 2026-11-12T00:00:00+08:00 2026-11-13T00:00:00+08:00 5m all -
1 2026-11-12T00:00:00Z 2026-11-14T00:00:00Z 5m in -
1 2026-11-09T13:35:00+08:00 2026-11-14T02:10:00+08:00 5m out -
1 2026-11-09T13:35:00+08:00 2026-11-14T02:10:00+08:00 1h all -
1 2026-11-09T13:35:00+08:00 2026-11-14T02:10:00+08:00 1d all -
1 2026-11-05T00:00:00+08:00 2026-11-16T00:00:00+08:00 1d all -
1 2026-11-05T00:00:00+08:00 2026-11-16T00:00:00+08:00 1h in -
1 2026-11-11T00:00:00Z 2026-11-13T00:00:00Z 1d all -
1 2026-11-12T07:50:00+08:00 2026-11-12T08:10:00+08:00 5m all -
1 2026-11-11T20:00:00+08:00 2026-11-13T04:00:00+08:00 5m all $ALLOC1
2 2026-11-10T00:00:00+08:00 2026-11-11T12:00:00+08:00 5m all -
2 2026-11-09T00:00:00+08:00 2026-11-13T00:00:00+08:00 1d out -
2 2026-11-10T11:00:00+08:00 2026-11-10T13:00:00+08:00 1h all -"

enc() { sed 's/+/%2B/g' <<<"$1"; }
path_of() {   # path_of FROM TO STEP DIR ALLOC FORMAT
	local p="/v1/usage?from=$(enc "$1")&to=$(enc "$2")&step=$3&format=$6"
	[ "$4" = all ] || p="$p&direction=$4"
	[ "$5" = - ] || p="$p&allocation=$5"
	echo "$p"
}
get() {   # get URL TENANT PATH OUT: the body, 200 required
	local tok=$T1; [ "$2" = 2 ] && tok=$T2
	local code; code=$(curl -s -o "$4" -w '%{http_code}' -H "Authorization: Bearer $tok" "$1$3")
	[ "$code" = 200 ] || fail "$3 (tenant $2): HTTP $code: $(head -c 300 "$4")"
}
# the oracle: the CSV of a request, from usage_5m, by SQL alone
oracle() {   # oracle TENANT FROM TO STEP DIR ALLOC
	local secs; case $4 in 5m) secs=300 ;; 1h) secs=3600 ;; 1d) secs=86400 ;; esac
	local dir="true"; [ "$5" = all ] || dir="u.direction = '$5'"
	local alloc="true"
	[ "$6" = - ] || alloc="EXISTS (SELECT FROM allocation a WHERE a.alloc_id = $6
		AND a.pool_id = u.pool_id AND a.valid @> u.bucket_start)"
	echo "start,pool_id,direction,frame_bytes,ip_bytes,frame_packets,ip_packets,buckets"
	PGTZ=$ZONE pg_psql -At -c "SELECT concat_ws(',',
		to_char(t, 'YYYY-MM-DD\"T\"HH24:MI:SS') || to_char(t, 'TZH:TZM'),
		pool_id, direction, fb, ib, fp, ip, n)
	  FROM (SELECT date_bin(interval '$secs seconds', u.bucket_start, '$2'::timestamptz) AS t,
	               u.pool_id, u.direction, sum(u.frame_bytes) AS fb, sum(u.ip_bytes) AS ib,
	               sum(u.frame_packets) AS fp, sum(u.ip_packets) AS ip, count(*) AS n
	          FROM usage_5m u
	         WHERE u.tenant_id = $1 AND u.bucket_start >= '$2' AND u.bucket_start < '$3'
	           AND $dir AND $alloc
	         GROUP BY 1, 2, 3) x
	  ORDER BY t, pool_id, direction"
}
# check LABEL [SAVE]: every request's CSV = the oracle's; SAVE keeps the
# JSON answers in $WORK/SAVE.N
check() {
	local i=0 t f to st d al
	while read -r t f to st d al; do
		i=$((i + 1))
		get "$URL_main" "$t" "$(path_of "$f" "$to" "$st" "$d" "$al" csv)" "$WORK/api.csv"
		oracle "$t" "$f" "$to" "$st" "$d" "$al" >"$WORK/oracle.csv"
		[ "$(wc -l <"$WORK/oracle.csv")" -gt 1 ] || fail "$1: request $i has no samples"
		diff "$WORK/oracle.csv" "$WORK/api.csv" >"$WORK/diff" ||
			fail "$1: request $i ($t $f $to $st $d $al): the API differs from usage_5m:
$(head -20 "$WORK/diff")"
		if [ -n "${2:-}" ]; then
			get "$URL_main" "$t" "$(path_of "$f" "$to" "$st" "$d" "$al" json)" "$WORK/$2.$i"
		fi
	done <<<"$REQS"
}
# the samples of /v1/usage with max_rows = 300 (URL_small)
small_code() {
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T1" "$URL_small$(path_of "$@" json)"
}

check "before compaction" json_before
get "$URL_stale" 1 "$(path_of 2026-11-12T00:00:00+08:00 2026-11-13T00:00:00+08:00 5m in - csv)" "$WORK/stale0.csv"
# 2026-11-12 +08:00 at 5m: 574 samples > 300; 11 days at 1d: 22 <= 300
[ "$(small_code 2026-11-12T00:00:00+08:00 2026-11-13T00:00:00+08:00 5m all -)" = 413 ] &&
[ "$(small_code 2026-11-05T00:00:00+08:00 2026-11-16T00:00:00+08:00 1d all -)" = 200 ] ||
	fail "max_rows before compaction"
ok "before compaction: $(wc -l <<<"$REQS") requests (csv) = the SQL oracle over usage_5m"

ok_cmd rollup compact --through 2026-11-14
[ "$(q "SELECT count(*) FROM usage_day_state WHERE NOT dirty")" = 11 ] ||
	fail "compact: $(q "SELECT string_agg(day::text, ' ') FROM usage_day_state")"
check "compacted" json_after
for i in $(seq "$(wc -l <<<"$REQS")"); do
	cmp -s "$WORK/json_before.$i" "$WORK/json_after.$i" ||
		fail "request $i: the JSON after compaction differs from before"
done
[ "$(small_code 2026-11-12T00:00:00+08:00 2026-11-13T00:00:00+08:00 5m all -)" = 413 ] &&
[ "$(small_code 2026-11-05T00:00:00+08:00 2026-11-16T00:00:00+08:00 1d all -)" = 200 ] ||
	fail "max_rows after compaction"
ok "compacted through 2026-11-14: the same answers (csv = the oracle, json byte for byte), max_rows alike"

# the answer does come from usage_day: a compacted value changed by hand
# (2026-11-12 00:00 UTC, tenant 1, pool 1, in) shows through
DAYREQ="2026-11-12T00:00:00+08:00 2026-11-13T00:00:00+08:00 5m in -"
root -q -c "UPDATE usage_day SET frame_bytes = overlay(frame_bytes PLACING int8send(4242)
              FROM 1 FOR 8) WHERE day = '2026-11-12' AND tenant_id = 1 AND direction = 'in'"
get "$URL_main" 1 "$(path_of $DAYREQ csv)" "$WORK/tampered.csv"
grep -q '^2026-11-12T08:00:00+08:00,1,in,4242,' "$WORK/tampered.csv" ||
	fail "a changed usage_day value does not show: the API did not read usage_day: $(grep '^2026-11-12T08:00' "$WORK/tampered.csv")"
# an API whose last look-up predates the compaction reads those days as
# rows: the truth, not the changed value
get "$URL_stale" 1 "$(path_of $DAYREQ csv)" "$WORK/stale.csv"
oracle 1 $DAYREQ >"$WORK/oracle.csv"
diff "$WORK/oracle.csv" "$WORK/stale.csv" >/dev/null ||
	fail "an API that has not looked up the compaction yet: not usage_5m's answer"
root -q -c "SELECT bs_usage_day_compact('2026-11-12')" >/dev/null
ok "the API reads compacted days from usage_day (a value changed there shows in the answer); one that has not looked them up yet (usage_day_check_s) reads rows"

# a late rollup into compacted days, as settlement writes it: an update
# (2026-11-13 UTC) and an insert into the gap of 2026-11-12 07:55+08:00
# (2026-11-11 UTC): both days dirty, read from usage_5m again, and the
# clean day between them too (one range of rows per pair)
PGUSER=bandsplit_settle pg_psql -q -c "UPDATE usage_5m SET frame_bytes = frame_bytes + 1000,
	frame_packets = frame_packets + 1, records = records + 1
	WHERE tenant_id = 1 AND bucket_start = '2026-11-13 12:00+08' AND direction = 'in'"
PGUSER=bandsplit_settle pg_psql -q -c "INSERT INTO usage_5m (tenant_id, pool_id, direction,
	bucket_start, frame_packets, frame_bytes, ip_packets, ip_bytes, records)
	VALUES (1, 1, 'in', '2026-11-12 07:55+08', 3, 4500, 2, 4000, 1)"
[ "$(q "SELECT string_agg(day::text, ' ' ORDER BY day) FROM usage_day_state WHERE dirty")" = \
  "2026-11-11 2026-11-13" ] || fail "dirty days: $(q "SELECT string_agg(day::text || dirty::text, ' ') FROM usage_day_state")"
check "dirty days"
ok_cmd rollup compact --through 2026-11-14
[ "$(q "SELECT count(*) FROM usage_day_state WHERE dirty")" = 0 ] || fail "recompact"
check "compacted again"
ok "a late rollup (update, insert) makes its days dirty: answers = the oracle while dirty and after compacting again"

# tenant 1's token: nothing of tenant 2's compacted rows, by any parameter
get "$URL_main" 1 "$(path_of 2026-11-10T00:00:00+08:00 2026-11-14T00:00:00+08:00 1d all - csv)" "$WORK/t1.csv"
[ "$(q "SELECT count(*) FROM usage_day WHERE tenant_id = 2")" -gt 0 ] || fail "tenant 2 has no compacted rows"
ALLOC2=$(q "SELECT alloc_id FROM allocation WHERE tenant_id = 2")
code=$(curl -s -o "$WORK/x" -w '%{http_code}' -H "Authorization: Bearer $T1" \
	"$URL_main$(path_of 2026-11-10T00:00:00+08:00 2026-11-14T00:00:00+08:00 1d all "$ALLOC2" csv)")
[ "$code" = 404 ] || fail "tenant 1 asking for tenant 2's allocation: HTTP $code"
[ "$(oracle 1 2026-11-10T00:00:00+08:00 2026-11-14T00:00:00+08:00 1d all -)" = "$(cat "$WORK/t1.csv")" ] ||
	fail "tenant 1's answer is not tenant 1's usage alone"
ok "tenant 1's token: its own usage only, tenant 2's allocation 404"
echo "# $PASSED passed"
