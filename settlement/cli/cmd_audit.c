/*
 * cmd_audit.c — `bandsplit audit list|show|verify`: the database's audit
 * log of every change to the park model (0010_audit_log.sql).
 *
 * verify recomputes every link of the hash chain with PostgreSQL's
 * built-in sha256(), spelling the hashed content out here rather than
 * calling bs_audit_content(), so that a replaced function cannot vouch for
 * an edited log. It reports rows whose hash does not match their content
 * (edited), rows not linked to the row before (inserted, or a rewritten
 * predecessor), ids out of sequence (deleted rows) and a head that does not
 * match the last row (deleted tail). It prints the head hash: record it
 * elsewhere, and a later verify proves nothing before it was rewritten.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

#define MAX_PROBLEMS_SHOWN 20

static const char VERIFY_SQL[] =
	"WITH c AS ("
	"  SELECT audit_id, row_number() OVER (ORDER BY audit_id) AS n,"
	"         prev_hash = coalesce(lag(hash) OVER (ORDER BY audit_id),"
	"             sha256(convert_to('bandsplit audit log', 'UTF8'))) AS linked,"
	"         hash = sha256(prev_hash || convert_to(jsonb_build_array(audit_id,"
	"             to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	"             actor, db_user, application, txid, table_name, op, row_key,"
	"             before, after)::text, 'UTF8')) AS intact,"
	"         hash"
	"    FROM audit_log),"
	" bad AS (SELECT * FROM c WHERE NOT (linked AND intact AND audit_id = n))"
	" SELECT (SELECT count(*) FROM c) AS rows,"
	"        (SELECT count(*) FROM bad) AS problems,"
	"        (SELECT string_agg(format('row %s: %s', audit_id, concat_ws(', ',"
	"            CASE WHEN NOT intact THEN 'hash does not match its content"
	" (edited)' END,"
	"            CASE WHEN NOT linked THEN 'not linked to the row before' END,"
	"            CASE WHEN audit_id <> n THEN format('id out of sequence (%s"
	" expected: rows deleted before it)', n) END)), E'\\n' ORDER BY audit_id)"
	"           FROM (SELECT * FROM bad ORDER BY audit_id LIMIT $1::integer) b)"
	"          AS details,"
	"        h.last_id, encode(h.last_hash, 'hex') AS head_hash,"
	"        (SELECT max(audit_id) FROM c) AS max_id,"
	"        coalesce((SELECT hash FROM c ORDER BY audit_id DESC LIMIT 1),"
	"            sha256(convert_to('bandsplit audit log', 'UTF8'))) = h.last_hash"
	"          AS head_ok"
	"   FROM audit_head h";

static int verify(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	bs_op_init(&op, cli, "audit verify");
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c == 'j') {
			op.json = true;
		} else if (c == 'h') {
			printf(
"Usage: bandsplit audit verify [--json]\n"
"\n"
"Checks the audit log's hash chain: every row's hash against its content\n"
"and the row before, ids without holes, the head against the last row.\n"
"Exit 0 and the head hash if intact; exit 1 listing the first problems.\n"
"Keep the head hash somewhere else: a rewrite of the whole chain after it\n"
"shows as a different head.\n");
			return BS_EXIT_OK;
		} else {
			return bs_op_bad_option(&op, argv);
		}
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	/* One statement: one snapshot of the rows and the head. */
	const char *params[1] = { "20" };
	PGresult *res = bs_op_query(&op, VERIFY_SQL, 1, params);
	int rc = bs_op_close(&op, true);
	if (rc != 0) {
		PQclear(res);
		return rc;
	}
	/* columns: rows, problems, details, last_id, head_hash, max_id, head_ok */
	bool head_ok = PQgetvalue(res, 0, 6)[0] == 't' &&
		strcmp(PQgetvalue(res, 0, 3), PQgetisnull(res, 0, 5) ? "0"
		       : PQgetvalue(res, 0, 5)) == 0;
	bool intact = strcmp(PQgetvalue(res, 0, 1), "0") == 0 && head_ok;
	if (op.json) {
		printf("{\"intact\": %s, \"rows\": %s, \"problems\": %s, "
		       "\"head_id\": %s, \"head_hash\": \"%s\", \"head_ok\": %s}\n",
		       intact ? "true" : "false", PQgetvalue(res, 0, 0),
		       PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3),
		       PQgetvalue(res, 0, 4), head_ok ? "true" : "false");
	} else if (intact) {
		printf("audit log intact: %s rows, head id %s, head hash %s\n",
		       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 3),
		       PQgetvalue(res, 0, 4));
	}
	if (!intact) {
		fprintf(stderr, "%s audit verify: audit log NOT intact: %s of %s rows "
			"fail%s\n", cli->prog, PQgetvalue(res, 0, 1),
			PQgetvalue(res, 0, 0), head_ok ? "" : "; the head does not "
			"match the last row (rows deleted at the end?)");
		if (!PQgetisnull(res, 0, 2))
			fprintf(stderr, "%s\n", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return intact ? BS_EXIT_OK : BS_EXIT_REFUSED;
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	bs_op_init(&op, cli, "audit list");
	enum { OPT_TABLE = 256, OPT_SINCE, OPT_ACTOR, OPT_LIMIT, OPT_JSON, OPT_HELP };
	static const struct option options[] = {
		{ "table", required_argument, NULL, OPT_TABLE },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "actor", required_argument, NULL, OPT_ACTOR },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const TABLES[] = { "park_settings", "pool", "tenant",
		"prefix", "plan", "plan_version", "allocation", "prefix_map_export",
		NULL };
	const char *table = NULL, *since = NULL, *actor = NULL, *limit = "50";
	char since_v[BS_OP_VALUE_MAX];
	uint64_t n;
	char err[128];
	int c, rc = 0;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_TABLE: table = optarg; break;
		case OPT_SINCE: since = optarg; break;
		case OPT_ACTOR: actor = optarg; break;
		case OPT_LIMIT: limit = optarg; break;
		case OPT_JSON: op.json = true; break;
		case OPT_HELP:
			printf(
"Usage: bandsplit audit list [--table TABLE] [--since TIME] [--actor WHO]\n"
"                            [--limit N] [--json]\n"
"\n"
"The latest N (default 50, at most 100000) changes, newest first: when, who\n"
"(actor, database user), table, operation, the row's key and the columns an\n"
"update changed. 'bandsplit audit show ID' gives the whole before / after.\n"
"Tables: pool tenant prefix plan plan_version allocation prefix_map_export\n"
"park_settings.\n");
			return BS_EXIT_OK;
		default:
			return bs_op_bad_option(&op, argv);
		}
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (table) rc = bs_op_parse_choice(&op, "--table", table, TABLES);
	if (!rc && since) rc = bs_op_parse_time(&op, "--since", since, since_v);
	if (!rc && actor) rc = bs_op_parse_text(&op, "--actor", actor, 200);
	if (!rc && bs_parse_uint(limit, 1, 100000, &n, err, sizeof(err)) < 0)
		rc = bs_op_usage(&op, "--limit '%s': %s", limit, err);
	if (rc != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[4] = { table, since ? since_v : NULL, actor, limit };
	PGresult *res = bs_op_query(&op, "SELECT audit_id AS id, bs_iso(at) AS at,"
		" actor, db_user, table_name AS table, op, row_key::text AS key,"
		" (SELECT string_agg(e.key, ',' ORDER BY e.key) FROM jsonb_each(after) e"
		"   WHERE op = 'UPDATE' AND before -> e.key IS DISTINCT FROM e.value)"
		"   AS changed"
		" FROM audit_log WHERE ($1::text IS NULL OR table_name = $1)"
		" AND ($2::timestamptz IS NULL OR at >= $2::timestamptz)"
		" AND ($3::text IS NULL OR actor = $3)"
		" ORDER BY audit_id DESC LIMIT $4::integer", 4, params);
	rc = bs_op_close(&op, true);
	if (rc == 0)
		bs_op_print(&op, res, false);
	PQclear(res);
	return rc;
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "audit show");
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c == 'j') {
			op.json = true;
		} else if (c == 'h') {
			printf("Usage: bandsplit audit show AUDIT_ID [--json]\n\n"
			       "One audit row in full: before and after as JSON, "
			       "its hashes.\n");
			return BS_EXIT_OK;
		} else {
			return bs_op_bad_option(&op, argv);
		}
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "AUDIT_ID", id)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[1] = { id };
	PGresult *res = bs_op_query_one(&op, "audit row", "SELECT audit_id AS id,"
		" bs_iso(at) AS at, actor, db_user, application, txid,"
		" table_name AS table, op, row_key AS key, before, after,"
		" encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash"
		" FROM audit_log WHERE audit_id = $1::bigint", 1, params);
	rc = bs_op_close(&op, true);
	if (rc == 0)
		bs_op_print(&op, res, true);
	PQclear(res);
	return rc;
}

static const struct bs_op_verb VERBS[] = {
	{ "list", "the latest changes", list },
	{ "show", "one change in full", show },
	{ "verify", "check the hash chain", verify },
};

const struct bs_cli_command bs_cmd_audit = {
	.name = "audit",
	.summary = "the audit log: list, show, verify",
	.description = "The audit log: every change to "
		"pools, tenants, prefixes, plans, allocations and map exports, "
		"written by the database, append-only, hash-chained.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
