#!/usr/bin/env bash
# test_operator_roles.sh — least privilege, search_path and the anchored
# audit chain (issue 10 items 9, 10, 11), against a real PostgreSQL 15:
#   * `bandsplit migrate` (as the database's owner with CREATEROLE) creates
#     bandsplit_owner/_settle/_cli/_api, hands every object to the owner,
#     applies schemas/sql/grants.sql; run as bandsplit_cli it is refused;
#   * bandsplit_cli, bandsplit_settle and bandsplit_api (which logs in
#     since 0027 and, without a token, reads nothing) each try what they
#     must not (disable a trigger, truncate, alter, drop, rewrite or insert
#     audit rows, delete usage, touch the other's tables, become the owner,
#     session_replication_role, create objects, replace a function) and are
#     refused (SQLSTATE 42501); what they need works;
#   * the search_path attack: temporary tables named allocation, audit_log
#     and audit_head do not fool the capacity guard or the audit trigger
#     (an allocation that brings the pool to 240 % of its limit is refused;
#     forced, it is
#     marked and audited in the real audit_log); every function of the
#     schema pins search_path with pg_temp last;
#   * audit anchor / verify --anchor / --expect: a chain rewritten by the
#     owner (consistent again, so plain verify passes) fails against the
#     anchor recorded before.
#   usage: test_operator_roles.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
PASSED=0
WORK=$(mktemp -d /tmp/bandsplit-roles.XXXXXX)
bs_at_exit "rm -rf $WORK"

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
q() { pg_psql -At -c "$1"; }
# as ROLE SQL: psql as that role (one session, one transaction per -c)
as() { PGUSER=$1 pg_psql -At -c "$2"; }
# refused ROLE SQL: fails with insufficient_privilege (42501)
refused() {
	local out
	if out=$(PGUSER=$1 pg_psql -At -c '\set VERBOSITY verbose' -c "$2" 2>&1); then
		fail "$1 was allowed: $2"
	fi
	grep -q "ERROR:  42501:" <<<"$out" || fail "$1: expected 42501 for: $2
got: $out"
}

pg_start
export PGTZ=Asia/Shanghai BANDSPLIT_ACTOR=roles-test

# --- migrate creates the roles and runs as the owner ------------------------
pg_migrate "$BS" >"$WORK/migrate.log" 2>&1 || fail "migrate: $(cat "$WORK/migrate.log")"
for r in owner settle cli api; do
	grep -q "^created role bandsplit_$r$" "$WORK/migrate.log" || fail "role $r not created"
done
[ "$(q "SELECT string_agg(format('%s:%s%s%s%s', rolname, rolcanlogin::int, rolsuper::int,
	rolcreaterole::int, rolbypassrls::int), ' ' ORDER BY rolname) FROM pg_roles
	WHERE rolname LIKE 'bandsplit\_%'")" = \
  "bandsplit_api:1000 bandsplit_cli:1000 bandsplit_owner:0000 bandsplit_settle:1000" ] ||
	fail "role attributes"
[ "$(q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S', 'i')
	AND pg_get_userbyid(c.relowner) <> 'bandsplit_owner'")" = 0 ] || fail "objects not owned by bandsplit_owner"
[ "$(q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
	AND proname LIKE 'bs\_%' AND pg_get_userbyid(proowner) <> 'bandsplit_owner'")" = 0 ] ||
	fail "functions not owned by bandsplit_owner"
pg_migrate "$BS" >"$WORK/migrate2.log" 2>&1 && grep -q "schema up to date" "$WORK/migrate2.log" ||
	fail "migrate re-run: $(cat "$WORK/migrate2.log")"
# a database migrated before the roles existed: everything owned by the
# administrator; migrate hands it all to bandsplit_owner
PGUSER=root pg_psql -q -c "REASSIGN OWNED BY bandsplit_owner TO bandsplit" >/dev/null
# ... and whose bandsplit_api could not log in (before 0027)
PGUSER=root pg_psql -q -c "ALTER ROLE bandsplit_api NOLOGIN" >/dev/null
[ "$(q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = 'bandsplit'")" -gt 20 ] || fail "reassign"
pg_migrate "$BS" >"$WORK/migrate4.log" 2>&1 || fail "migrate of an older database: $(cat "$WORK/migrate4.log")"
[ "$(q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> 'bandsplit_owner'")" = 0 ] &&
[ "$(q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
	AND proname LIKE 'bs\_%' AND pg_get_userbyid(proowner) <> 'bandsplit_owner'")" = 0 ] ||
	fail "objects of an older database not handed to bandsplit_owner"
[ "$(q "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'bandsplit_api'")" = t ] ||
	fail "migrate of an older database did not let bandsplit_api log in"
rc=0; "$BS" migrate >"$WORK/migrate3.log" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "role bandsplit_cli may not act as bandsplit_owner" "$WORK/migrate3.log" ||
	fail "migrate as bandsplit_cli: exit $rc: $(cat "$WORK/migrate3.log")"
ok "migrate creates the four roles (no superuser, createrole, bypassrls), gives the owner every object (an older database's too), is idempotent, refuses bandsplit_cli"

# --- a park, through the CLI (as bandsplit_cli) -------------------------------
"$BS" pool add --id 1 --carrier CT --name ct-1 --capacity 1G --limit 1 --flat-fee 100 --from 2026-01-01 >/dev/null
"$BS" plan add --id 1 --name p --kind flat --price 1 --from 2026-01-01 >/dev/null
"$BS" tenant add --id 1 --name a >/dev/null
"$BS" tenant add --id 2 --name b >/dev/null
"$BS" tenant add --id 3 --name c0 >/dev/null
"$BS" alloc add --tenant 1 --pool 1 --plan 1 --committed 600M --from 2026-01-01 >/dev/null
"$BS" alloc add --tenant 3 --pool 1 --plan 1 --committed 1G --from 2026-01-01 --force >/dev/null 2>&1
[ "$(q "SELECT db_user FROM audit_log ORDER BY audit_id DESC LIMIT 1")" = bandsplit_cli ] ||
	fail "the CLI did not run as bandsplit_cli"
ok "the CLI works as bandsplit_cli; its changes are audited through the trigger"

# --- what each role must not do ----------------------------------------------
for r in bandsplit_cli bandsplit_settle bandsplit_api; do
	refused $r "ALTER TABLE allocation DISABLE TRIGGER allocation_guard"
	refused $r "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"
	refused $r "ALTER TABLE pool ADD COLUMN x int"
	refused $r "TRUNCATE allocation"
	refused $r "TRUNCATE audit_log"
	refused $r "TRUNCATE usage_5m"
	refused $r "UPDATE audit_log SET actor = 'x'"
	refused $r "DELETE FROM audit_log"
	refused $r "UPDATE audit_head SET last_id = 0"
	refused $r "INSERT INTO audit_log SELECT * FROM audit_log LIMIT 1"
	refused $r "DELETE FROM usage_raw"
	refused $r "UPDATE usage_raw SET bytes = 0"
	refused $r "DELETE FROM usage_5m"
	refused $r "DROP TABLE allocation"
	refused $r "CREATE TABLE public.mine (i int)"
	refused $r "CREATE TRIGGER t BEFORE INSERT ON allocation FOR EACH ROW EXECUTE FUNCTION bs_audit_refuse()"
	refused $r "CREATE OR REPLACE FUNCTION bs_audit_content(p_id bigint, p_at timestamptz, p_actor text,
		p_db_user text, p_application text, p_txid bigint, p_table text, p_op text,
		p_key jsonb, p_before jsonb, p_after jsonb) RETURNS bytea LANGUAGE sql AS 'SELECT NULL::bytea'"
	refused $r "SET session_replication_role = replica"
	refused $r "SET ROLE bandsplit_owner"
	refused $r "ALTER TABLE allocation OWNER TO $r"
done
refused bandsplit_cli "INSERT INTO usage_raw SELECT * FROM usage_raw LIMIT 1"
refused bandsplit_cli "UPDATE kafka_offsets SET next_offset = 0"
refused bandsplit_cli "INSERT INTO rejected_records (topic, kafka_partition, kafka_offset, payload, payload_bytes, reason, error) VALUES ('t', 0, 0, '', 0, 'x', 'x')"
refused bandsplit_cli "SELECT bs_usage_raw_drop_before('2100-01-01')"
refused bandsplit_cli "SELECT bs_usage_raw_ensure_partitions(now(), now())"
refused bandsplit_settle "INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps, burst_bps, valid) VALUES (2, 1, 1, 1, 1, '[2026-01-01,)')"
refused bandsplit_settle "UPDATE pool SET capacity_bps = 1"
refused bandsplit_settle "SELECT * FROM audit_log"
refused bandsplit_settle "DELETE FROM kafka_offsets"
refused bandsplit_settle "INSERT INTO prefix_map_export (version, map_at, path, v4_prefixes, v6_prefixes, tenants) VALUES (99, now(), 'x', 0, 0, 0)"
[ "$(as bandsplit_api "SELECT (SELECT count(*) FROM allocation) + (SELECT count(*) FROM tenant)")" = 0 ] ||
	fail "bandsplit_api reads allocations or tenants without a token"
refused bandsplit_cli "SET ROLE bandsplit_api"
# what they need works
[ "$(as bandsplit_settle "SELECT bs_usage_raw_ensure_partitions('2026-01-01T00:00Z', '2026-01-02T00:00Z')")" = 2 ] &&
[ "$(q "SELECT string_agg(n.nspname || '.' || c.relname || ':' || pg_get_userbyid(c.relowner), ' ' ORDER BY c.relname)
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname IN ('usage_raw_20260101', 'usage_raw_20260102')")" = \
  "public.usage_raw_20260101:bandsplit_owner public.usage_raw_20260102:bandsplit_owner" ] ||
	fail "bandsplit_settle cannot create partitions (in public, owned by the owner)"
[ "$(as bandsplit_settle "SELECT bs_usage_raw_drop_before('2026-01-02')")" = 1 ] ||
	fail "bandsplit_settle cannot drop old partitions"
as bandsplit_settle "SELECT count(*) FROM kafka_offsets" >/dev/null || fail "settle reads offsets"
ok "bandsplit_cli / bandsplit_settle: no trigger control, TRUNCATE, ALTER, DROP, CREATE, audit rewrite, usage delete, role switch (bandsplit_api neither); bandsplit_api without a token reads nothing"

# --- the search_path hijack (item 10) ----------------------------------------
bad_fns=$(q "SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
	WHERE p.pronamespace = 'public'::regnamespace AND p.prokind = 'f'
	AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
	                AND d.objid = p.oid AND d.deptype = 'e')
	AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, public, pg_temp']")
[ -z "$bad_fns" ] || fail "functions without search_path = pg_catalog, public, pg_temp: $bad_fns"
attack() { # FORCE: the attack in one bandsplit_cli session
	PGUSER=bandsplit_cli pg_psql -At 2>&1 <<-EOF
		\set VERBOSITY verbose
		CREATE TEMP TABLE allocation (LIKE public.allocation);
		CREATE TEMP TABLE audit_log (LIKE public.audit_log);
		CREATE TEMP TABLE audit_head (LIKE public.audit_head);
		INSERT INTO audit_head VALUES (true, 0, sha256(''));
		SET bandsplit.force = '$1';
		INSERT INTO public.allocation (tenant_id, pool_id, plan_id, committed_bps, burst_bps, valid)
		VALUES (2, 1, 1, 800000000, 800000000, '[2026-06-01,)');
		SELECT 'temp audit rows ' || count(*) FROM pg_temp.audit_log;
	EOF
}
audit_before=$(q "SELECT count(*) FROM audit_log")
out=$(attack off) && fail "the attack went through: $out"
grep -q "ERROR:  BSC01: pool 1 (ct-1): Σ committed would be 2400 Mbps" <<<"$out" || fail "attack: $out"
[ "$(q "SELECT count(*) FROM allocation WHERE tenant_id = 2")" = 0 ] || fail "attack left a row"
out=$(attack on) || fail "forced: $out"
grep -q "^temp audit rows 0$" <<<"$out" || fail "audit rows went to the temporary table: $out"
[ "$(q "SELECT count(*) FROM allocation WHERE tenant_id = 2 AND forced LIKE 'forced: pool 1 (ct-1): Σ committed would be 2400 Mbps%'")" = 1 ] ||
	fail "forced allocation not marked: $(q "SELECT forced FROM allocation WHERE tenant_id = 2")"
[ "$(q "SELECT count(*) FROM audit_log")" = $((audit_before + 1)) ] &&
[ "$(q "SELECT db_user || ' ' || (after ->> 'committed_bps') FROM audit_log ORDER BY audit_id DESC LIMIT 1")" = \
  "bandsplit_cli 800000000" ] || fail "the forced allocation is not in the real audit_log"
"$BS" audit verify >/dev/null || fail "audit chain broken by the attack"
ok "search_path: temp allocation/audit_log/audit_head do not fool the guard (a pool at 240 % of its limit refused; forced: marked, audited in the real log); every function pins pg_temp last"

# --- the audit anchor (item 11) ----------------------------------------------
anchors=$WORK/anchors
"$BS" audit anchor --out "$anchors" >"$WORK/anchor.out" || fail "anchor"
read -r aid ahash _ <"$anchors"
[[ $aid =~ ^[0-9]+$ && $ahash =~ ^[0-9a-f]{64}$ ]] || fail "anchor line: $(cat "$anchors")"
grep -q "anchored audit head id $aid hash $ahash" "$WORK/anchor.out" || fail "anchor output"
"$BS" tenant add --id 4 --name d >/dev/null
"$BS" audit anchor --out "$anchors" >/dev/null
[ "$(wc -l <"$anchors")" = 2 ] || fail "anchor does not append"
"$BS" audit verify --anchor "$anchors" >/dev/null || fail "verify --anchor of an intact chain"
"$BS" audit verify --expect "$aid:$ahash" >/dev/null || fail "verify --expect of an intact chain"
# the owner rewrites the chain from row 2 on, consistently
q "SET ROLE bandsplit_owner;
   ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
   DO \$\$ DECLARE r record; prev bytea; BEGIN
     SELECT hash INTO prev FROM audit_log WHERE audit_id = 1;
     FOR r IN SELECT audit_id FROM audit_log WHERE audit_id >= 2 ORDER BY audit_id LOOP
       UPDATE audit_log SET actor = CASE WHEN audit_id = 2 THEN 'mallory' ELSE actor END,
              prev_hash = prev,
              hash = sha256(prev || bs_audit_content(audit_id, at,
                  CASE WHEN audit_id = 2 THEN 'mallory' ELSE actor END, db_user,
                  application, txid, table_name, op, row_key, before, after))
        WHERE audit_id = r.audit_id RETURNING hash INTO prev;
     END LOOP;
     UPDATE audit_head SET last_hash = prev;
   END \$\$;
   ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only" >/dev/null
"$BS" audit verify >/dev/null || fail "the rewrite was not consistent (the test's own rewrite is wrong)"
rc=0; "$BS" audit verify --anchor "$anchors" >"$WORK/v.out" 2>"$WORK/v.err" || rc=$?
[ $rc = 1 ] && grep -q "row $aid: hash [0-9a-f]*, anchored $ahash: the chain was rewritten after it was anchored" "$WORK/v.err" ||
	fail "verify --anchor after a rewrite: exit $rc: $(cat "$WORK/v.err")"
rc=0; "$BS" audit verify --expect "$aid:$ahash" >/dev/null 2>&1 || rc=$?
[ $rc = 1 ] || fail "verify --expect after a rewrite: exit $rc"
rc=0; "$BS" audit verify --expect "999999:$ahash" >/dev/null 2>"$WORK/v.err" || rc=$?
[ $rc = 1 ] && grep -q "row 999999: anchored" "$WORK/v.err" || fail "an anchor past the end"
rc=0; "$BS" audit anchor --out "$anchors" >/dev/null 2>&1 || rc=$?
[ $rc = 0 ] || fail "anchor after rewrite (intact-looking chain) exit $rc"
rc=0; "$BS" audit verify --expect "x" >/dev/null 2>"$WORK/v.err" || rc=$?
[ $rc = 2 ] && grep -q -- "--expect 'x': expected AUDIT_ID:HASH" "$WORK/v.err" || fail "bad --expect"
echo "12 zz" >"$WORK/bad.anchors"
rc=0; "$BS" audit verify --anchor "$WORK/bad.anchors" >/dev/null 2>"$WORK/v.err" || rc=$?
[ $rc = 2 ] && grep -q "$WORK/bad.anchors:1: expected AUDIT_ID:HASH" "$WORK/v.err" || fail "bad anchor file: $(cat "$WORK/v.err")"
rc=0; "$BS" audit anchor >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "anchor without --out"
ok "audit anchor appends the head; verify --anchor / --expect detect a chain the owner rewrote (plain verify cannot)"

echo "test_operator_roles: $PASSED passed"
