#!/usr/bin/env bash
# test_finance_property.sh — the close against an independent reference:
# for random months (time zones with and without DST, 28-31 days), plans
# with versions changing at random seconds, allocations starting and ending
# at random seconds, sparse multi-node rollups with gaps and unattributed
# traffic, written into a real PostgreSQL, `bandsplit close` must issue
# exactly the lines (amounts, windows, buckets, gaps, billed sample, bytes),
# invoice totals and carrier bills that tests/reference/rating_ref.py
# computes from the architecture's rules.
#   usage: test_finance_property.sh BUILD_DIR [ROUNDS] [FIRST_SEED]
#   REF=path overrides the reference (default tests/reference/rating_ref.py)
set -euo pipefail

BUILD=$(cd "$1" && pwd)
ROUNDS=${2:-8}
SEED0=${3:-$(date +%s)}
HERE=$(cd "$(dirname "$0")" && pwd)
REF=${REF:-$HERE/../reference/rating_ref.py}
if [ ! -f "$REF" ]; then
	echo "SKIP: the reference $REF is not there"
	exit 77
fi
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
WORK=$(mktemp -d /tmp/bandsplit-finprop.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
. "$HERE/finance_lib.sh"

pg_start
export BANDSPLIT_ACTOR=finance-property
echo "seeds $SEED0 .. $((SEED0 + ROUNDS - 1)) (rerun one: $0 BUILD 1 SEED)"
for ((i = 0; i < ROUNDS; i++)); do
	seed=$((SEED0 + i))
	pg_psql -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null 2>&1
	ok_cmd --db "$BS_DB_ADMIN" migrate
	ok_cmd park set --seller-name "Park" --seller-tax-id P1 --seller-address "Road 1"
	month=$(python3 "$HERE/finance_property.py" gen "$seed" "$WORK/case.json" "$WORK/setup.sql")
	pg_psql -f "$WORK/setup.sql" >/dev/null
	rc=0
	python3 "$REF" "$WORK/case.json" >"$WORK/ref.json" || rc=$?
	bs close --period "$month"
	if [ $rc != 0 ]; then
		# the rules refuse the case: so must the close, writing nothing
		[ "$RC" = 1 ] || fail "seed $seed: the reference refuses ($(cat "$WORK/ref.json")), the close exits $RC"
		[ "$(q "SELECT count(*) FROM invoice")" = 0 ] || fail "seed $seed: refused but wrote"
		ok "seed $seed ($month): refused by both: $(jq -r .error.kind "$WORK/ref.json")"
		continue
	fi
	[ "$RC" = 0 ] || fail "seed $seed: close exit $RC: $ERR"
	ok_cmd invoice export --period "$month" --format json
	echo "$OUT" >"$WORK/export.json"
	q "SELECT coalesce(json_agg(json_build_object('pool_id', pool_id, 'amount_fen', amount_fen)), '[]') FROM carrier_bill" >"$WORK/carrier.json"
	if ! python3 "$HERE/finance_property.py" compare "$WORK/ref.json" "$WORK/export.json" "$WORK/carrier.json" >"$WORK/cmp" 2>&1; then
		cat "$WORK/cmp" >&2
		fail "seed $seed ($month): the close differs from the reference"
	fi
	ok "seed $seed ($month, $(jq -r .time_zone "$WORK/case.json")): $(tail -1 "$WORK/cmp")"
done
echo "test_finance_property: $PASSED passed"
