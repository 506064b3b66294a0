#!/usr/bin/env bash
# test_api_rls.sh — the tenants' API tokens and the row-level security that
# binds the API role's reads to the token (issue 13: "Tokens", "Isolation
# in the database"), against a real PostgreSQL 15, connected with psql AS
# bandsplit_api — the API's own role, bypassing any handler:
#   * the catalog: bandsplit_api logs in, no superuser / BYPASSRLS / owned
#     object / membership; it can read exactly the expected relations, each
#     tenant-owned one with ENABLE + FORCE row-level security and its
#     policy, each view security_invoker; it may execute exactly two
#     SECURITY DEFINER functions; it holds no write privilege anywhere;
#   * with tenant A's token hash set: every table and view returns A's rows
#     only (as many as the administrator counts for A), and B's ids
#     (allocation, invoice number, note number, invoice id, period, tenant)
#     return nothing;
#   * no setting, garbage, another hex string, A's hash in capitals,
#     SET bandsplit.tenant_id = B: nothing; switching mid-transaction to
#     garbage gives nothing, to B's *hash* gives B (the only way, and the API
#     never knows B's secret); a pooled connection reused after COMMIT or
#     ROLLBACK without the setting gives nothing; revoked and expired tokens
#     give nothing; bs_api_auth_begin (api_auth_probe) as the API calls it;
#   * bandsplit_api cannot read api_token / api_token_hash, write anything,
#     ALTER / disable / drop row-level security, turn row_security off, SET
#     ROLE or SESSION AUTHORIZATION, replace bs_api_tenant, read pg_stats;
#   * `bandsplit token create|list|revoke`, the schema's rules on tokens
#     (revoked once, never deleted, nothing else changes), audited (not the
#     touches), and the secret in no log line, audit row or listing (the
#     server logs every statement during the test);
#   * the other roles (owner, cli, settle) read and write as before.
#   usage: test_api_rls.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
PROBE=$BUILD/tests/integration/api_auth_probe
WORK=$(mktemp -d /tmp/bandsplit-apirls.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
. "$HERE/finance_lib.sh"

# api SQL: psql as bandsplit_api, one implicit transaction (the -c string)
# (psql 15 prints every statement's result: the last one is the answer)
api() { PGUSER=bandsplit_api pg_psql -At -c "$1" | tail -n 1; }
# as HASH SQL: SQL after setting the transaction's token hash
as() { api "SELECT set_config('bandsplit.token_hash', '$1', true); $2"; }
# refused SQL: bandsplit_api gets insufficient_privilege (42501)
refused() {
	local out
	if out=$(PGUSER=bandsplit_api pg_psql -At -c '\set VERBOSITY verbose' \
		-c "SELECT set_config('bandsplit.token_hash', '$HA', true); $1" 2>&1); then
		fail "bandsplit_api was allowed: $1"
	fi
	grep -q "ERROR:  42501:" <<<"$out" || fail "bandsplit_api: expected 42501 for: $1
got: $out"
}
# refused_all < statements (one a line): each refused with 42501, in one
# psql session (each statement its own transaction, A's hash set)
refused_all() {
	local script=$WORK/refused.sql n=0 line out
	{ echo '\set VERBOSITY verbose'
	  echo "SET bandsplit.token_hash = '$HA';"
	  while IFS= read -r line; do
		[ -n "$line" ] || continue
		n=$((n + 1))
		printf '\\echo @@%d\n%s;\n' "$n" "$line"
	  done; } >"$script"
	out=$(PGUSER=bandsplit_api pg_psql -At -v ON_ERROR_STOP=0 -f "$script" 2>&1)
	for ((i = 1; i <= n; i++)); do
		awk -v i="$i" '$0 == "@@" i { on = 1; next } /^@@[0-9]+$/ { on = 0 } on' <<<"$out" |
			grep -q "ERROR:  42501:" ||
			fail "bandsplit_api was not refused (42501): $(grep -v '^\\' "$script" | sed -n "$((i * 2 + 1))p")
$(awk -v i="$i" '$0 == "@@" i { on = 1; next } /^@@[0-9]+$/ { on = 0 } on' <<<"$out")"
	done
}
# sqlstate WANT SQL: as the superuser, the statement fails with WANT
sqlstate() {
	local out
	if out=$(PGUSER=root pg_psql -At -c '\set VERBOSITY verbose' -c "$2" 2>&1); then
		fail "allowed: $2"
	fi
	grep -q "ERROR:  $1:" <<<"$out" || fail "expected $1 for: $2
got: $out"
}
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

pg_start
export BANDSPLIT_ACTOR=api-test
# every statement of every session in the server log, to look for secrets
PGUSER=root pg_psql -q -c "ALTER SYSTEM SET log_statement = 'all'" \
	-c "SELECT pg_reload_conf()" >/dev/null
ok_cmd --db "$BS_DB_ADMIN" migrate

# --- the park: three tenants, usage, November closed, then debit notes ------
fin_model
fin_usage '2026-11-08 00:00+08' '2026-11-13 00:00+08'
ok_cmd rollup compact --through 2026-11-11
ok_cmd close --period 2026-11
fin_late '2026-11-11 10:00+08' 1 1 900000000000
fin_late '2026-11-11 10:00+08' 2 1 900000000000
ok_cmd close --period 2026-11 --adjust
for t in 1 2; do
	[ "$(q "SELECT count(*) FILTER (WHERE kind = 'invoice') || '/' || count(*) FILTER (WHERE kind <> 'invoice') FROM invoice WHERE tenant_id = $t")" = 1/1 ] ||
		fail "tenant $t should have an invoice and a note: $(q "SELECT number, tenant_id FROM invoice")"
done
PGUSER=root pg_psql -q -c "ANALYZE" >/dev/null
ok "a park with three tenants, usage, invoices and notes for tenants 1 and 2"

# --- tokens ------------------------------------------------------------------
ok_cmd token create --tenant 1 --label "portal A" --expires 90d
TA=$OUT
grep -qx 'bst_[a-z2-7]\{8\}_[A-Za-z0-9_-]\{43\}' <<<"$TA" || fail "token create printed: $TA"
grep -q "shown this once" <<<"$ERR" && ! grep -qF "$TA" <<<"$ERR" || fail "create's stderr: $ERR"
ok_cmd token create --tenant 2 --json
TB=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$OUT")
ok_cmd token create --tenant 1 --expires 2027-01-01
TA2=$OUT
HA=$(sha "$TA") HB=$(sha "$TB") HA2=$(sha "$TA2")
PA=${TA:4:8} PA2=${TA2:4:8}
[ "$(q "SELECT count(*) FROM api_token_hash WHERE token_hash IN (decode('$HA', 'hex'), decode('$HB', 'hex'))")" = 2 ] ||
	fail "the stored hash is not SHA-256 of the token"
[ "$(q "SELECT to_char(expires_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') FROM api_token WHERE prefix = '$PA2'")" = "2027-01-01 00:00" ] ||
	fail "--expires 2027-01-01 is not midnight in the park's time zone"
ok_cmd token list
grep -q "^$PA .*portal A *live" <<<"$OUT" || fail "token list: $OUT"
! grep -qiE "hash|${TA:13}" <<<"$OUT" || fail "token list shows a hash or secret: $OUT"
[ "$(wc -l <<<"$OUT")" = 4 ] || fail "token list: header + 3 tokens: $OUT"
ok_cmd token list --tenant 2 --json
[ "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d), sorted(d[0]))' <<<"$OUT")" = \
  "1 ['created', 'created_by', 'expires', 'label', 'last_used', 'prefix', 'revoked', 'status', 'tenant_id']" ] ||
	fail "token list --json: $OUT"
bs token revoke "$TA"
[ "$RC" = 2 ] && grep -q "not the token" <<<"$ERR" && ! grep -qF "${TA:13}" <<<"$ERR" ||
	fail "revoke with a whole token: exit $RC: $ERR"
bs token revoke zzzzzzzz
[ "$RC" = 1 ] && grep -q "token not found" <<<"$ERR" || fail "revoke unknown: exit $RC: $ERR"
bs token create --tenant 9
[ "$RC" = 1 ] && grep -q "tenant 9 does not exist" <<<"$ERR" || fail "token for no tenant: $RC $ERR"
bs token create --tenant 1 --expires 2020-01-01
[ "$RC" = 2 ] || fail "token expiring in the past: $RC $ERR"
bs token create --tenant 1 --expires 5000d
[ "$RC" = 2 ] || fail "token expiring in 5000 days: $RC $ERR"
ok "token create (printed once, stdout only, SHA-256 stored, --expires days or date), list (never a hash), bad input refused"

# --- the catalog -------------------------------------------------------------
[ "$(q "SELECT format('%s%s%s%s%s', rolcanlogin::int, rolsuper::int, rolbypassrls::int,
	rolcreaterole::int, rolinherit::int) FROM pg_roles WHERE rolname = 'bandsplit_api'")" = 10001 ] || fail "bandsplit_api attributes"
[ "$(q "SELECT (SELECT count(*) FROM pg_class WHERE relowner = 'bandsplit_api'::regrole)
	+ (SELECT count(*) FROM pg_proc WHERE proowner = 'bandsplit_api'::regrole)
	+ (SELECT count(*) FROM pg_auth_members WHERE member = 'bandsplit_api'::regrole)")" = 0 ] ||
	fail "bandsplit_api owns something or is a member of a role"
readable=$(q "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
	AND NOT c.relispartition
	AND (has_table_privilege('bandsplit_api', c.oid, 'SELECT')
	     OR has_any_column_privilege('bandsplit_api', c.oid, 'SELECT'))")
want="allocation api_allocation close_run invoice invoice_digest invoice_line invoice_vat park_settings plan plan_version pool schema_migrations tenant usage_5m usage_day usage_day_state"
[ "$readable" = "$want" ] || fail "bandsplit_api can read: $readable
expected: $want"
# every readable table but the park-wide ones: RLS enabled, forced, with a
# policy for bandsplit_api; every readable view: security_invoker
bad=$(q "SELECT string_agg(c.relname, ' ') FROM pg_class c
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
	AND c.relname NOT IN ('schema_migrations', 'park_settings', 'close_run', 'usage_day_state')
	AND (has_table_privilege('bandsplit_api', c.oid, 'SELECT')
	     OR has_any_column_privilege('bandsplit_api', c.oid, 'SELECT'))
	AND NOT (c.relrowsecurity AND c.relforcerowsecurity
	         AND EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid
	                     AND 'bandsplit_api'::regrole = ANY (p.polroles)))")
[ -z "$bad" ] || fail "readable by bandsplit_api without forced row-level security: $bad"
bad=$(q "SELECT string_agg(c.relname, ' ') FROM pg_class c
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
	AND has_table_privilege('bandsplit_api', c.oid, 'SELECT')
	AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)")
[ -z "$bad" ] || fail "views readable by bandsplit_api without security_invoker: $bad"
# no table with a tenant_id is readable without forced RLS (park-wide ones
# have none)
bad=$(q "SELECT string_agg(DISTINCT c.relname, ' ') FROM pg_class c
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
	AND has_table_privilege('bandsplit_api', c.oid, 'SELECT')
	AND NOT c.relforcerowsecurity")
[ -z "$bad" ] || fail "tenant tables readable without FORCE: $bad"
[ "$(q "SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_proc p
	WHERE p.prosecdef AND has_function_privilege('bandsplit_api', p.oid, 'EXECUTE')")" = \
  "bs_api_tenant bs_api_touch" ] || fail "SECURITY DEFINER functions bandsplit_api may call: $(q "SELECT string_agg(proname, ' ') FROM pg_proc WHERE prosecdef AND has_function_privilege('bandsplit_api', oid, 'EXECUTE')")"
[ "$(q "SELECT count(*) FROM pg_class c, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS priv
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
	AND (has_table_privilege('bandsplit_api', c.oid, priv)
	     OR (priv IN ('INSERT', 'UPDATE', 'REFERENCES') AND has_any_column_privilege('bandsplit_api', c.oid, priv)))")" = 0 ] ||
	fail "bandsplit_api holds a write privilege"
[ "$(q "SELECT has_schema_privilege('bandsplit_api', 'public', 'CREATE')::text || has_database_privilege('bandsplit_api', current_database(), 'CREATE')::text")" = falsefalse ] ||
	fail "bandsplit_api may create objects"
ok "catalog: bandsplit_api logs in, no superuser/BYPASSRLS/ownership/membership; reads exactly [$want]; tenant tables FORCE RLS with its policy; views security_invoker; executes only bs_api_tenant/bs_api_touch among SECURITY DEFINER functions; no write privilege"

# --- A sees A, only A -----------------------------------------------------------
# rows_of TENANT TABLE: what the administrator counts for that tenant
rows_of() {
	case $2 in
	invoice_line | invoice_vat | invoice_digest)
		q "SELECT count(*) FROM $2 x JOIN invoice i USING (invoice_id) WHERE i.tenant_id = $1" ;;
	plan | plan_version)
		q "SELECT count(*) FROM $2 x WHERE x.plan_id IN (SELECT plan_id FROM allocation WHERE tenant_id = $1)" ;;
	pool)
		q "SELECT count(*) FROM $2 x WHERE x.pool_id IN (SELECT pool_id FROM allocation WHERE tenant_id = $1)" ;;
	*)
		q "SELECT count(*) FROM $2 x WHERE x.tenant_id = $1" ;;
	esac
}
TENANT_RELS="tenant allocation api_allocation usage_5m usage_day invoice invoice_line invoice_vat invoice_digest plan plan_version pool"
for rel in $TENANT_RELS; do
	col="*"; [ "$rel" = pool ] && col="pool_id, name"
	for who in "1 $HA" "2 $HB"; do
		set -- $who
		want=$(rows_of "$1" "$rel")
		[ "$want" -gt 0 ] || fail "the park has no $rel rows of tenant $1"
		got=$(as "$2" "SELECT count(*) FROM (SELECT $col FROM $rel) x")
		[ "$got" = "$want" ] || fail "tenant $1's token: $rel returns $got rows, the tenant has $want"
	done
	# nothing of another tenant: the rows A sees are all A's
	case $rel in
	invoice_line | invoice_vat | invoice_digest) other="SELECT count(*) FROM $rel x WHERE x.invoice_id NOT IN (SELECT invoice_id FROM invoice WHERE tenant_id = 1)" ;;
	plan | plan_version) other="SELECT count(*) FROM $rel x WHERE x.plan_id <> 1" ;;
	pool) other="SELECT count(*) FROM $rel x WHERE x.pool_id <> 1" ;;
	*) other="SELECT count(*) FROM $rel x WHERE x.tenant_id <> 1" ;;
	esac
	[ "$(as "$HA" "$other")" = 0 ] || fail "tenant 1's token sees other tenants' $rel rows"
done
[ "$(as "$HA" "SELECT string_agg(DISTINCT tenant_id::text, ',') FROM usage_5m")" = 1 ] || fail "usage_5m tenants"
refused "SELECT capacity_bps FROM pool"
refused "SELECT pairs FROM usage_day_state"
[ "$(as "$HA" "SELECT count(*) FROM usage_day_state WHERE NOT dirty")" = 4 ] || fail "usage_day_state: which days are clean"
refused "SELECT actor FROM close_run"
ok "tenant 1's and tenant 2's tokens: each of [$TENANT_RELS] returns exactly that tenant's rows; pools by id and name only"

# --- B's ids through A's token --------------------------------------------------
b_alloc=$(q "SELECT alloc_id FROM allocation WHERE tenant_id = 2")
b_inv=$(q "SELECT number FROM invoice WHERE tenant_id = 2 AND kind = 'invoice'")
b_note=$(q "SELECT number FROM invoice WHERE tenant_id = 2 AND kind <> 'invoice'")
b_inv_id=$(q "SELECT invoice_id FROM invoice WHERE tenant_id = 2 AND kind = 'invoice'")
b_note_id=$(q "SELECT invoice_id FROM invoice WHERE tenant_id = 2 AND kind <> 'invoice'")
[ -n "$b_alloc" ] && [ -n "$b_inv" ] && [ -n "$b_note" ] || fail "tenant 2's ids"
for sql in \
	"SELECT count(*) FROM allocation WHERE alloc_id = $b_alloc" \
	"SELECT count(*) FROM api_allocation WHERE alloc_id = $b_alloc" \
	"SELECT count(*) FROM allocation WHERE tenant_id = 2" \
	"SELECT count(*) FROM tenant WHERE tenant_id IN (2, 3)" \
	"SELECT count(*) FROM invoice WHERE number = '$b_inv'" \
	"SELECT count(*) FROM invoice WHERE number = '$b_note'" \
	"SELECT count(*) FROM invoice WHERE invoice_id IN ($b_inv_id, $b_note_id)" \
	"SELECT count(*) FROM invoice WHERE original_id = $b_inv_id" \
	"SELECT count(*) FROM invoice WHERE tenant_id = 2 AND period = '2026-11-01'" \
	"SELECT count(*) FROM invoice_line WHERE invoice_id IN ($b_inv_id, $b_note_id)" \
	"SELECT count(*) FROM invoice_line WHERE alloc_id = $b_alloc" \
	"SELECT count(*) FROM invoice_vat WHERE invoice_id IN ($b_inv_id, $b_note_id)" \
	"SELECT count(*) FROM usage_5m WHERE tenant_id = 2" \
	"SELECT count(*) FROM usage_5m WHERE tenant_id = 3 AND bucket_start >= '2026-11-01'" \
	"SELECT count(*) FROM usage_day WHERE tenant_id IN (2, 3)" \
	"SELECT count(*) FROM usage_day WHERE day = '2026-11-10' AND tenant_id = 2 AND pool_id = 1" \
	"SELECT count(*) FROM plan WHERE plan_id IN (2, 3)" \
	"SELECT count(*) FROM plan_version WHERE plan_id IN (2, 3)" \
	"SELECT count(*) FROM pool WHERE pool_id = 2" \
	"SELECT count(*) FROM invoice_digest WHERE invoice_id IN ($b_inv_id, $b_note_id)"; do
	[ "$(as "$HA" "$sql")" = 0 ] || fail "tenant 1's token: $sql → $(as "$HA" "$sql")"
done
ok "tenant 1's token: tenant 2's allocation id, invoice and note numbers and ids, period, usage, plans, tenant 3's pool: nothing"

# --- settings that are not a valid token ------------------------------------------
every() {   # the rows of every tenant relation, summed, after the prefix SQL $1
	local rel col sum="0"
	for rel in $TENANT_RELS; do
		col="*"; [ "$rel" = pool ] && col="pool_id"
		sum="$sum + (SELECT count(*) FROM (SELECT $col FROM $rel) x)"
	done
	api "$1 SELECT $sum"
}
[ "$(every "")" = 0 ] || fail "no setting: rows visible"
[ "$(every "SELECT set_config('bandsplit.token_hash', 'garbage', true);")" = 0 ] || fail "garbage hash: rows"
[ "$(every "SELECT set_config('bandsplit.token_hash', '', true);")" = 0 ] || fail "empty hash: rows"
[ "$(every "SELECT set_config('bandsplit.token_hash', '$(sha nothing)', true);")" = 0 ] || fail "unknown hash: rows"
[ "$(every "SELECT set_config('bandsplit.token_hash', upper('$HA'), true);")" = 0 ] || fail "hash in capitals: rows"
[ "$(every "SET LOCAL bandsplit.tenant_id = 2;")" = 0 ] || fail "SET bandsplit.tenant_id = 2: rows"
[ "$(every "SET bandsplit.tenant_id = 1;")" = 0 ] || fail "SET bandsplit.tenant_id = 1: rows"
ok "no setting, empty, garbage, unknown hash, A's hash in capitals, SET bandsplit.tenant_id: nothing in any relation"

# --- mid-transaction, and a pooled connection -------------------------------------
out=$(PGUSER=bandsplit_api pg_psql -At <<-EOF
	BEGIN ISOLATION LEVEL REPEATABLE READ;
	SELECT set_config('bandsplit.token_hash', '$HA', true);
	SELECT 'a', string_agg(DISTINCT tenant_id::text, ',') FROM invoice;
	SET LOCAL bandsplit.tenant_id = 2;
	SELECT 'tid', string_agg(DISTINCT tenant_id::text, ',') FROM invoice;
	SELECT set_config('bandsplit.token_hash', 'x', true);
	SELECT 'garbage', count(*) FROM invoice;
	SELECT set_config('bandsplit.token_hash', '$HB', true);
	SELECT 'b', string_agg(DISTINCT tenant_id::text, ',') FROM invoice;
	COMMIT;
	SELECT 'after commit', count(*) FROM invoice;
	BEGIN;
	SELECT set_config('bandsplit.token_hash', '$HA', true);
	SELECT 'a again', count(*) > 0 FROM invoice;
	ROLLBACK;
	SELECT 'after rollback', count(*) FROM invoice;
	BEGIN;
	SELECT 'next transaction', count(*) FROM invoice, usage_5m;
	COMMIT;
	EOF
)
[ "$(grep -v '^[a-z0-9]\{64\}$\|^x$' <<<"$out" | tr '\n' ';')" = \
  "a|1;tid|1;garbage|0;b|2;after commit|0;a again|t;after rollback|0;next transaction|0;" ] ||
	fail "mid-transaction / reuse: $out"
ok "mid-transaction: SET bandsplit.tenant_id changes nothing, garbage gives nothing, only B's hash gives B; a pooled connection after COMMIT or ROLLBACK sees nothing"

# --- revoked and expired tokens -----------------------------------------------------
[ "$(as "$HA2" "SELECT count(*) FROM invoice")" -gt 0 ] || fail "second token of A"
ok_cmd token revoke "$PA2"
grep -q "^status *revoked" <<<"$OUT" || fail "revoke: $OUT"
[ "$(every "SELECT set_config('bandsplit.token_hash', '$HA2', true);")" = 0 ] || fail "revoked token still reads"
ok_cmd token revoke "bst_$PA2"
grep -q "^status *already revoked" <<<"$OUT" || fail "second revoke: $OUT"
TE="bst_expireda_$(printf 'E%.0s' $(seq 43))"
PGUSER=root pg_psql -q -c "WITH t AS (INSERT INTO api_token (tenant_id, prefix, created_by, created_at, expires_at)
	VALUES (1, 'expireda', 'test', now() - interval '2 days', now() - interval '1 second') RETURNING token_id)
	INSERT INTO api_token_hash SELECT token_id, decode('$(sha "$TE")', 'hex') FROM t" >/dev/null
[ "$(every "SELECT set_config('bandsplit.token_hash', '$(sha "$TE")', true);")" = 0 ] || fail "expired token still reads"
ok_cmd token list --tenant 1 --all
grep -q "^$PA2 .*revoked" <<<"$OUT" && grep -q "^expireda .*expired" <<<"$OUT" || fail "list --all: $OUT"
ok_cmd token list --tenant 1
! grep -q "^$PA2\|^expireda" <<<"$OUT" || fail "list shows dead tokens without --all: $OUT"
ok "revoked and expired tokens read nothing; revoking twice changes nothing; list --all shows them"

# --- bs_api_auth_begin, as the API calls it -----------------------------------------
n_a=$(rows_of 1 invoice)
out=$("$PROBE" "user=bandsplit_api" <<<"$TA")
[ "$out" = "0 1 $n_a on
reuse 0" ] || fail "api_auth_probe with A's token: $out"
[ -n "$(q "SELECT last_used_at FROM api_token WHERE prefix = '$PA'")" ] || fail "last_used_at not recorded"
audit_before=$(q "SELECT count(*) FROM audit_log")
used_before=$(q "SELECT last_used_at FROM api_token WHERE prefix = '$PA'")
out=$("$PROBE" "user=bandsplit_api" <<<"$TA")
[ "$(q "SELECT last_used_at FROM api_token WHERE prefix = '$PA'")" = "$used_before" ] ||
	fail "last_used_at written twice within a minute"
[ "$(q "SELECT count(*) FROM audit_log")" = "$audit_before" ] || fail "a token's use was audited"
for t in "$TA2" "$TE" "${TA%?}x" "bst_zzzzzzzz_${TA:13}" "" "$TA "; do
	out=$("$PROBE" "user=bandsplit_api" <<<"$t" 2>"$WORK/probe.err")
	[ "$out" = "1 -1 0 off
reuse 0" ] || fail "api_auth_probe with a bad token '$t': $out"
	! grep -qF "${TA:13}" "$WORK/probe.err" || fail "the auth error quotes the secret"
done
ok "bs_api_auth_begin: A's token → tenant 1, A's invoices only, transaction read-only, last use recorded once a minute and not audited; revoked, expired, altered, malformed → 1 and nothing; a reused connection sees nothing"

# --- what bandsplit_api cannot do -----------------------------------------------------
{
	echo "SELECT * FROM api_token"
	echo "SELECT * FROM api_token_hash"
	echo "SELECT bs_api_token_create(1, 'aaaaaaaa', '\\x00'::bytea, NULL, now() + interval '1 day')"
	echo "SELECT * FROM bs_api_token_revoke('$PA')"
	echo "SELECT bs_api_rls('invoice', 'true')"
	for rel in tenant allocation usage_5m invoice invoice_line invoice_vat plan plan_version pool park_settings; do
		c1=$(q "SELECT attname FROM pg_attribute WHERE attrelid = '$rel'::regclass AND attnum > 0
			AND NOT attisdropped AND attidentity = '' AND attgenerated = '' ORDER BY attnum LIMIT 1")
		echo "UPDATE $rel SET $c1 = $c1"
		echo "INSERT INTO $rel DEFAULT VALUES"
		echo "DELETE FROM $rel"
		echo "TRUNCATE $rel"
		echo "ALTER TABLE $rel DISABLE ROW LEVEL SECURITY"
		echo "ALTER TABLE $rel NO FORCE ROW LEVEL SECURITY"
	done
	echo "UPDATE invoice SET total_fen = 0"
	echo "INSERT INTO usage_5m (tenant_id, pool_id, direction, bucket_start) VALUES (1, 1, 'in', '2026-11-01')"
	echo "INSERT INTO tenant (tenant_id, name) VALUES (99, 'x')"
	echo "DROP POLICY api_tenant ON invoice"
	echo "CREATE POLICY mine ON invoice FOR SELECT TO bandsplit_api USING (true)"
	echo "ALTER POLICY api_tenant ON invoice USING (true)"
	echo "CREATE OR REPLACE FUNCTION bs_api_tenant() RETURNS bigint LANGUAGE sql AS 'SELECT 2::bigint'"
	echo "CREATE FUNCTION public.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'"
	echo "CREATE VIEW public.mine AS SELECT * FROM invoice"
	echo "SET row_security = off; SELECT count(*) FROM invoice"
	for r in bandsplit_owner bandsplit_cli bandsplit_settle root bandsplit; do
		echo "SET ROLE $r"
		echo "SET SESSION AUTHORIZATION $r"
	done
	echo "UPDATE api_token SET revoked_at = NULL"
	echo "SELECT set_config('role', 'bandsplit_owner', false)"
} | refused_all
[ "$(as "$HA" "SELECT count(*) FROM pg_stats WHERE tablename IN ('usage_5m', 'invoice', 'allocation')")" = 0 ] ||
	fail "bandsplit_api reads the statistics of RLS tables"
ok "bandsplit_api: no token table, no write, no TRUNCATE, no ALTER/DROP/CREATE POLICY, no RLS off, no SET ROLE / SESSION AUTHORIZATION, no replacing bs_api_tenant, no pg_stats"

# --- the schema's rules on tokens, audited ---------------------------------------------
sqlstate BSK01 "UPDATE api_token SET revoked_at = now() WHERE prefix = '$PA2'"
sqlstate BSK01 "UPDATE api_token SET revoked_at = NULL WHERE prefix = '$PA2'"
sqlstate BSK01 "UPDATE api_token SET expires_at = expires_at + interval '1 day' WHERE prefix = '$PA'"
sqlstate BSK01 "UPDATE api_token SET tenant_id = 2 WHERE prefix = '$PA'"
sqlstate BSK01 "UPDATE api_token SET last_used_at = created_at WHERE prefix = '$PA'"
sqlstate BSH01 "DELETE FROM api_token WHERE prefix = '$PA2'"
sqlstate BSK01 "UPDATE api_token_hash SET token_hash = decode('$HB', 'hex')"
sqlstate BSK01 "DELETE FROM api_token_hash"
sqlstate 23514 "INSERT INTO api_token (tenant_id, prefix, created_by, expires_at) VALUES (1, 'AAAAAAAA', 't', now() + interval '1 day')"
sqlstate 23514 "INSERT INTO api_token (tenant_id, prefix, created_by, expires_at) VALUES (1, 'aaaaaaab', 't', now() - interval '1 day')"
sqlstate 23514 "INSERT INTO api_token (tenant_id, prefix, created_by, expires_at) VALUES (1, 'aaaaaaac', 't', now() + interval '6 years')"
sqlstate 23514 "INSERT INTO api_token (tenant_id, prefix, created_by, expires_at, label) VALUES (1, 'aaaaaaad', 't', now() + interval '1 day', E'a\nb')"
sqlstate 23514 "WITH t AS (INSERT INTO api_token (tenant_id, prefix, created_by, expires_at) VALUES (1, 'aaaaaaae', 't', now() + interval '1 day') RETURNING token_id) INSERT INTO api_token_hash SELECT token_id, '\\x00'::bytea FROM t"
sqlstate 23505 "WITH t AS (INSERT INTO api_token (tenant_id, prefix, created_by, expires_at) VALUES (1, '$PA', 't', now() + interval '1 day') RETURNING token_id) INSERT INTO api_token_hash SELECT token_id, decode('$(sha other)', 'hex') FROM t"
sqlstate 23505 "WITH t AS (INSERT INTO api_token (tenant_id, prefix, created_by, expires_at) VALUES (1, 'aaaaaaaf', 't', now() + interval '1 day') RETURNING token_id) INSERT INTO api_token_hash SELECT token_id, decode('$HB', 'hex') FROM t"
refused_cli() {
	PGUSER=bandsplit_cli pg_psql -At -c "$1" >/dev/null 2>&1 && fail "bandsplit_cli was allowed: $1"
	return 0
}
refused_cli "SELECT * FROM api_token_hash"
refused_cli "UPDATE api_token SET revoked_at = now()"
refused_cli "DELETE FROM api_token"
refused_cli "INSERT INTO api_token (tenant_id, prefix, created_by, expires_at) VALUES (1, 'aaaaaaag', 't', now() + interval '1 day')"
[ "$(q "SELECT string_agg(op || ':' || (coalesce(after, before) ->> 'prefix') || ':' || actor, ' ' ORDER BY audit_id)
	FROM audit_log WHERE table_name = 'api_token'")" = \
  "INSERT:$PA:api-test INSERT:${TB:4:8}:api-test INSERT:$PA2:api-test UPDATE:$PA2:api-test INSERT:expireda:root" ] ||
	fail "audit of api_token: $(q "SELECT op, after FROM audit_log WHERE table_name = 'api_token'")"
ok_cmd audit verify
ok "tokens: revoked once, never deleted, nothing else changes, shape/expiry/label/hash checked; the CLI cannot bypass the functions; created and revoked audited (the chain verifies)"

# --- the secret nowhere ------------------------------------------------------------------
for tok in "$TA" "$TB" "$TA2"; do
	secret=${tok:13}
	! grep -qF "$secret" "$PG_LOG" || fail "a token's secret is in the server log"
	[ "$(q "SELECT count(*) FROM audit_log WHERE concat_ws(' ', actor, application, row_key, before, after) LIKE '%$secret%'")" = 0 ] ||
		fail "a token's secret is in the audit log"
	h=$(sha "$tok")
	[ "$(q "SELECT count(*) FROM audit_log WHERE concat_ws(' ', row_key, before, after) LIKE '%$h%'
		OR concat_ws(' ', row_key, before, after) LIKE '%' || encode(decode('$h', 'hex'), 'base64') || '%'")" = 0 ] ||
		fail "a token's hash is in the audit log"
done
grep -q "set_config('bandsplit.token_hash'" "$PG_LOG" || fail "the server log did not log the statements"
ok "no token secret in the server log (every statement logged), in the audit log, in the CLI's stderr; no hash in the audit log"

# --- the other roles as before ------------------------------------------------------------
[ "$(PGUSER=bandsplit_cli pg_psql -At -c "SELECT count(*) FROM invoice")" = "$(PGUSER=root pg_psql -At -c "SELECT count(*) FROM invoice")" ] &&
[ "$(PGUSER=bandsplit_cli pg_psql -At -c "SELECT count(*) FROM usage_5m")" = "$(PGUSER=root pg_psql -At -c "SELECT count(*) FROM usage_5m")" ] &&
[ "$(PGUSER=bandsplit_settle pg_psql -At -c "SELECT count(*) FROM usage_5m")" = "$(PGUSER=root pg_psql -At -c "SELECT count(*) FROM usage_5m")" ] ||
	fail "bandsplit_cli / bandsplit_settle do not see every row"
PGUSER=bandsplit_settle pg_psql -q -c "INSERT INTO usage_5m AS u (tenant_id, pool_id, direction, bucket_start, frame_bytes, records)
	VALUES (2, 1, 'in', '2026-12-01 00:00+08', 5, 1) ON CONFLICT (tenant_id, pool_id, direction, bucket_start)
	DO UPDATE SET frame_bytes = u.frame_bytes + 5" >/dev/null || fail "bandsplit_settle cannot write usage_5m"
ok_cmd tenant list
[ "$(grep -c . <<<"$OUT")" = 4 ] || fail "tenant list as bandsplit_cli: $OUT"
ok_cmd alloc add --tenant 2 --pool 2 --plan 2 --committed 10M --from 2027-01-01
ok "bandsplit_cli and bandsplit_settle read every row and write as before (FORCE RLS with their permissive policies)"

PGUSER=root pg_psql -q -c "ALTER ROLE bandsplit_api BYPASSRLS" >/dev/null
bs --db "$BS_DB_ADMIN" migrate
[ "$RC" = 1 ] && grep -q "bandsplit_api are superusers or bypass row-level security" <<<"$ERR" ||
	fail "migrate with bandsplit_api BYPASSRLS: exit $RC: $ERR"
PGUSER=root pg_psql -q -c "ALTER ROLE bandsplit_api NOBYPASSRLS" >/dev/null
ok_cmd --db "$BS_DB_ADMIN" migrate
ok "migrate refuses a bandsplit_api that bypasses row-level security"

echo "api_rls: $PASSED checks passed"
