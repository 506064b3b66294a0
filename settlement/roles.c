/*
 * roles.c — the database roles made ready (or checked) before the
 * migrations run as their owner. See roles.h.
 */
#include "roles.h"

#include <string.h>

#include "db.h"

static const char *const ROLES[] = {
	"bandsplit_owner", "bandsplit_settle", "bandsplit_cli", "bandsplit_api",
};
/* The login roles: no password is set here (the administrator sets one,
 * or uses peer/cert authentication). bandsplit_api logs in since the
 * tenants' API (migration 0027); a database whose bandsplit_api predates
 * it gets LOGIN on the next migrate by a role that may create roles. */
static bool role_logs_in(const char *r)
{
	return strcmp(r, "bandsplit_settle") == 0 || strcmp(r, "bandsplit_cli") == 0 ||
	       strcmp(r, "bandsplit_api") == 0;
}

/* Hands bandsplit_owner every schema object the session's role owns: tables,
 * views, standalone sequences, functions (not an extension's members, not
 * sequences owned by a column: they follow their table). */
static const char ADOPT[] =
	"DO $$ DECLARE o record; BEGIN"
	" FOR o IN"
	"  SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE'"
	"              WHEN c.relkind = 'v' THEN 'VIEW'"
	"              WHEN c.relkind = 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind,"
	"         pg_catalog.format('%I.%I', n.nspname, c.relname) AS name"
	"    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	"   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
	"     AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)"
	"     AND NOT c.relispartition"
	"     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d"
	"                      WHERE d.classid = 'pg_catalog.pg_class'::regclass"
	"                        AND d.objid = c.oid AND (d.deptype = 'e'"
	"                         OR (c.relkind = 'S' AND d.deptype IN ('a', 'i')"
	"                             AND d.refclassid = 'pg_catalog.pg_class'::regclass)))"
	"  UNION ALL"
	"  SELECT 'FUNCTION', p.oid::regprocedure::text"
	"    FROM pg_catalog.pg_proc p"
	"   WHERE p.pronamespace = 'public'::regnamespace"
	"     AND p.proowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)"
	"     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d"
	"                      WHERE d.classid = 'pg_catalog.pg_proc'::regclass"
	"                        AND d.objid = p.oid AND d.deptype = 'e')"
	" LOOP"
	"  EXECUTE pg_catalog.format('ALTER %s %s OWNER TO bandsplit_owner', o.kind, o.name);"
	" END LOOP;"
	" FOR o IN"   /* partitions: ALTER TABLE on the parent does not recurse */
	"  SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name"
	"    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	"   WHERE n.nspname = 'public' AND c.relispartition AND c.relkind IN ('r', 'p')"
	"     AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)"
	" LOOP"
	"  EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO bandsplit_owner', o.name);"
	" END LOOP;"
	" END $$";

/* One text value of a one-row query. */
static int query_text(PGconn *conn, const char *what, const char *sql,
		      char *out, size_t out_size, char *err, size_t err_size)
{
	PGresult *res = bs_db_query(conn, what, sql, 0, NULL, err, err_size);
	if (res == NULL)
		return -1;
	snprintf(out, out_size, "%s", PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
		 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return 0;
}

static int create_missing(PGconn *conn, FILE *out, char *err, size_t err_size)
{
	for (size_t i = 0; i < sizeof(ROLES) / sizeof(ROLES[0]); i++) {
		const char *params[1] = { ROLES[i] };
		PGresult *res = bs_db_query(conn, "look for a role",
			"SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", 1,
			params, err, err_size);
		if (res == NULL)
			return -1;
		bool exists = PQntuples(res) == 1;
		PQclear(res);
		char sql[160];
		if (exists) {
			/* bandsplit_api of a database older than 0027: NOLOGIN */
			if (strcmp(ROLES[i], "bandsplit_api") == 0 &&
			    bs_db_exec(conn, "let bandsplit_api log in", "DO $$ BEGIN"
				       " IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE"
				       " rolname = 'bandsplit_api' AND NOT rolcanlogin)"
				       " THEN ALTER ROLE bandsplit_api LOGIN;"
				       " END IF; END $$", 0, NULL, err, err_size) < 0)
				return -1;
			continue;
		}
		/* No role of ours bypasses row-level security. */
		snprintf(sql, sizeof(sql), "CREATE ROLE %s %s NOBYPASSRLS", ROLES[i],
			 role_logs_in(ROLES[i]) ? "LOGIN" : "NOLOGIN");
		if (bs_db_exec(conn, "create role", sql, 0, NULL, err, err_size) < 0)
			return -1;
		if (out != NULL)
			fprintf(out, "created role %s\n", ROLES[i]);
	}
	return 0;
}

static int missing_roles(PGconn *conn, char *list, size_t list_size, char *err,
			 size_t err_size)
{
	return query_text(conn, "check roles",
		"SELECT string_agg(r, ', ') FROM unnest(ARRAY['bandsplit_owner',"
		" 'bandsplit_settle', 'bandsplit_cli', 'bandsplit_api']) AS r"
		" WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r)",
		list, list_size, err, err_size);
}

int bs_roles_assume_owner(PGconn *conn, FILE *out, char *err, size_t err_size)
{
	char who[128], may_create[8], missing[256];
	if (query_text(conn, "who am I", "SELECT current_user", who, sizeof(who),
		       err, err_size) < 0 ||
	    query_text(conn, "role rights", "SELECT (rolsuper OR rolcreaterole)::text"
		       " FROM pg_catalog.pg_roles WHERE rolname = current_user",
		       may_create, sizeof(may_create), err, err_size) < 0)
		return 3;
	bool creator = strcmp(may_create, "true") == 0;
	if (creator && strcmp(who, BS_ROLE_OWNER) != 0) {
		if (create_missing(conn, out, err, err_size) < 0 ||
		    bs_db_exec(conn, "owner membership", "DO $$ BEGIN IF NOT"
			       " pg_has_role(current_user, 'bandsplit_owner', 'MEMBER')"
			       " THEN EXECUTE pg_catalog.format('GRANT bandsplit_owner TO"
			       " %I', current_user); END IF; END $$", 0, NULL, err,
			       err_size) < 0 ||
		    bs_db_exec(conn, "owner's rights",
			       "DO $$ BEGIN EXECUTE pg_catalog.format('GRANT CREATE ON"
			       " DATABASE %I TO bandsplit_owner', current_database());"
			       " GRANT USAGE, CREATE ON SCHEMA public TO bandsplit_owner;"
			       " GRANT USAGE ON SCHEMA public TO bandsplit_settle,"
			       " bandsplit_cli, bandsplit_api; END $$",
			       0, NULL, err, err_size) < 0 ||
		    bs_db_exec(conn, "hand the schema to bandsplit_owner", ADOPT, 0,
			       NULL, err, err_size) < 0)
			return 3;
	}
	if (missing_roles(conn, missing, sizeof(missing), err, err_size) < 0)
		return 3;
	if (missing[0] != '\0') {
		snprintf(err, err_size, "role(s) %s missing: run 'bandsplit migrate' "
			 "once as a role that may create roles (CREATEROLE, e.g. the "
			 "database's owner), or create them (README: roles)", missing);
		return 1;
	}
	/* Row-level security (0027) binds bandsplit_api to a token: a role
	 * of ours above it (superuser, BYPASSRLS) is refused. */
	char above[256];
	if (query_text(conn, "role attributes", "SELECT string_agg(rolname, ', ')"
		       " FROM pg_catalog.pg_roles WHERE rolname IN ('bandsplit_settle',"
		       " 'bandsplit_cli', 'bandsplit_api') AND (rolsuper OR rolbypassrls)",
		       above, sizeof(above), err, err_size) < 0)
		return 3;
	if (above[0] != '\0') {
		snprintf(err, err_size, "role(s) %s are superusers or bypass row-level "
			 "security: run ALTER ROLE ... NOSUPERUSER NOBYPASSRLS (README: "
			 "roles)", above);
		return 1;
	}
	if (strcmp(who, BS_ROLE_OWNER) == 0)
		return 0;
	char member[8];
	if (query_text(conn, "owner membership", "SELECT pg_has_role(current_user,"
		       " 'bandsplit_owner', 'MEMBER')::text", member, sizeof(member),
		       err, err_size) < 0)
		return 3;
	if (strcmp(member, "true") != 0) {
		snprintf(err, err_size, "role %s may not act as bandsplit_owner: run "
			 "'bandsplit migrate' as bandsplit_owner, as a member of it, "
			 "or as a role that may create roles", who);
		return 1;
	}
	return bs_db_exec(conn, "set role", "SET ROLE bandsplit_owner", 0, NULL,
			  err, err_size) < 0 ? 3 : 0;
}

void bs_roles_reset(PGconn *conn)
{
	PGresult *res = PQexec(conn, "RESET ROLE");
	PQclear(res);
}
