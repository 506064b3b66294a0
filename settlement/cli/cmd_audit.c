/*
 * cmd_audit.c — `bandsplit audit list|show|verify|anchor`: the database's audit
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
 *
 * anchor records the head outside the database: it appends "ID HASH TIME"
 * to an append-only file (after checking the chain). verify --anchor FILE
 * (every line of it) or --expect ID:HASH then also requires the row with
 * that id to hold that hash: whoever can write the database (even its
 * owner, who can disable the append-only triggers) and rewrites the chain
 * from an anchored row on changes that row's hash, and the rewrite shows.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"

#define MAX_PROBLEMS_SHOWN 20
#define MAX_ANCHORS 10000
#define HASH_HEX 64

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
	"          AS head_ok,"
	"        (SELECT string_agg(CASE WHEN c.audit_id IS NULL"
	"            THEN format('row %s: anchored (hash %s) but absent', a.id, a.h)"
	"            ELSE format('row %s: hash %s, anchored %s: the chain was"
	" rewritten after it was anchored', a.id, encode(c.hash, 'hex'), a.h) END,"
	"            E'\\n' ORDER BY a.id)"
	"           FROM unnest($2::bigint[], $3::text[]) AS a(id, h)"
	"           LEFT JOIN c ON c.audit_id = a.id"
	"          WHERE c.hash IS DISTINCT FROM decode(a.h, 'hex')) AS anchors_bad"
	"   FROM audit_head h";

/* Anchors to check: ids and hashes as SQL array literals. */
struct anchors {
	size_t n;
	char *ids, *hashes;     /* "{1,2}", "{ab..,cd..}" */
	size_t ids_len, hashes_len, cap;
};

static int anchors_add(struct bs_op *op, struct anchors *a, const char *where,
		       const char *id, const char *hash)
{
	char *end;
	errno = 0;
	long long v = strtoll(id, &end, 10);
	bool ok = errno == 0 && *end == '\0' && v >= 1 && strlen(hash) == HASH_HEX;
	for (const char *p = hash; ok && *p; p++)
		ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
	if (!ok)
		return bs_op_usage(op, "%s: expected AUDIT_ID:HASH (an id >= 1 and "
				   "64 lowercase hex digits)", where);
	if (a->n == MAX_ANCHORS)
		return bs_op_usage(op, "%s: more than %d anchors", where, MAX_ANCHORS);
	size_t need = 32 + HASH_HEX + 4;
	if (a->ids_len + need >= a->cap || a->hashes_len + need >= a->cap) {
		size_t cap = a->cap == 0 ? 4096 : a->cap * 2;
		char *i = realloc(a->ids, cap), *h = realloc(a->hashes, cap);
		if (i != NULL)
			a->ids = i;
		if (h != NULL)
			a->hashes = h;
		if (i == NULL || h == NULL) {
			perror("realloc");
			exit(BS_EXIT_FAILURE);
		}
		a->cap = cap;
	}
	a->ids_len += (size_t)snprintf(a->ids + a->ids_len, a->cap - a->ids_len,
				       "%s%lld", a->n ? "," : "{", v);
	a->hashes_len += (size_t)snprintf(a->hashes + a->hashes_len,
					  a->cap - a->hashes_len, "%s%s",
					  a->n ? "," : "{", hash);
	a->n++;
	return 0;
}

/* --expect ID:HASH */
static int anchors_expect(struct bs_op *op, struct anchors *a, const char *v)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", v);
	char *colon = strchr(buf, ':');
	char where[160];
	snprintf(where, sizeof(where), "--expect '%.100s'", v);
	if (colon == NULL)
		return bs_op_usage(op, "%s: expected AUDIT_ID:HASH", where);
	*colon = '\0';
	return anchors_add(op, a, where, buf, colon + 1);
}

/* --anchor FILE: lines "ID HASH [TIME]"; '#' starts a comment line. */
static int anchors_file(struct bs_op *op, struct anchors *a, const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return bs_op_usage(op, "--anchor '%s': %s", path, strerror(errno));
	char line[512];
	int lineno = 0, rc = 0;
	size_t before = a->n;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		char where[4200];
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			rc = bs_op_usage(op, "%s: line too long", where);
			break;
		}
		if (line[0] == '#' || line[0] == '\n')
			continue;
		char id[32], hash[80];
		if (sscanf(line, "%31s %79s", id, hash) != 2) {
			rc = bs_op_usage(op, "%s: expected 'AUDIT_ID HASH TIME'", where);
			break;
		}
		rc = anchors_add(op, a, where, id, hash);
	}
	fclose(f);
	if (rc == 0 && a->n == before)
		rc = bs_op_usage(op, "--anchor '%s': no anchor in it", path);
	return rc;
}

static int verify(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	bs_op_init(&op, cli, "audit verify");
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "expect", required_argument, NULL, 'e' },
		{ "anchor", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct anchors anchors = { 0 };
	int c, rc = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c == 'j') {
			op.json = true;
		} else if (c == 'e') {
			rc = anchors_expect(&op, &anchors, optarg);
		} else if (c == 'a') {
			rc = anchors_file(&op, &anchors, optarg);
		} else if (c == 'h') {
			printf(
"Usage: bandsplit audit verify [--expect AUDIT_ID:HASH ...] [--anchor FILE ...]\n"
"                              [--json]\n"
"\n"
"Checks the audit log's hash chain: every row's hash against its content\n"
"and the row before, ids without holes, the head against the last row.\n"
"Exit 0 and the head hash if intact; exit 1 listing the first problems.\n"
"A chain rewritten as a whole (by someone who can write the database)\n"
"is consistent again: check it against heads recorded outside the\n"
"database ('bandsplit audit anchor --out FILE'):\n"
"  --expect ID:HASH  the row ID must hold HASH (verify's head id and hash)\n"
"  --anchor FILE     every 'ID HASH TIME' line of FILE, as --expect\n");
			free(anchors.ids);
			free(anchors.hashes);
			return BS_EXIT_OK;
		} else {
			rc = bs_op_bad_option(&op, argv);
		}
	}
	if (rc == 0 && optind < argc)
		rc = bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	char ids[8] = "{}", hashes[8] = "{}";
	const char *params[3] = { "20", ids, hashes };
	if (anchors.n > 0) {
		strcat(anchors.ids, "}");
		strcat(anchors.hashes, "}");
		params[1] = anchors.ids;
		params[2] = anchors.hashes;
	}
	if (rc != 0 || bs_op_open(&op) != 0) {
		free(anchors.ids);
		free(anchors.hashes);
		return rc != 0 ? rc : bs_op_close(&op, false);
	}
	/* One statement: one snapshot of the rows, the head and the anchors. */
	PGresult *res = bs_op_query(&op, VERIFY_SQL, 3, params);
	rc = bs_op_close(&op, true);
	free(anchors.ids);
	free(anchors.hashes);
	if (rc != 0) {
		PQclear(res);
		return rc;
	}
	/* columns: rows, problems, details, last_id, head_hash, max_id, head_ok */
	bool head_ok = PQgetvalue(res, 0, 6)[0] == 't' &&
		strcmp(PQgetvalue(res, 0, 3), PQgetisnull(res, 0, 5) ? "0"
		       : PQgetvalue(res, 0, 5)) == 0;
	bool anchors_ok = PQgetisnull(res, 0, 7);
	bool intact = strcmp(PQgetvalue(res, 0, 1), "0") == 0 && head_ok &&
		      anchors_ok;
	if (op.json) {
		printf("{\"intact\": %s, \"rows\": %s, \"problems\": %s, "
		       "\"head_id\": %s, \"head_hash\": \"%s\", \"head_ok\": %s, "
		       "\"anchors_ok\": %s}\n",
		       intact ? "true" : "false", PQgetvalue(res, 0, 0),
		       PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3),
		       PQgetvalue(res, 0, 4), head_ok ? "true" : "false",
		       anchors_ok ? "true" : "false");
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
		if (!anchors_ok)
			fprintf(stderr, "%s audit verify: does not match its anchors "
				"(recorded outside the database):\n%s\n", cli->prog,
				PQgetvalue(res, 0, 7));
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
	const char *table = NULL, *since = NULL, *actor = NULL, *limit = NULL;
	char since_v[BS_OP_VALUE_MAX];
	uint64_t n;
	char err[128];
	int c, rc = 0;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_TABLE: { int once = bs_cli_once(cli, "audit list", "--table", &table, optarg);
			if (once != 0) return once; } break;
		case OPT_SINCE: { int once = bs_cli_once(cli, "audit list", "--since", &since, optarg);
			if (once != 0) return once; } break;
		case OPT_ACTOR: { int once = bs_cli_once(cli, "audit list", "--actor", &actor, optarg);
			if (once != 0) return once; } break;
		case OPT_LIMIT: { int once = bs_cli_once(cli, "audit list", "--limit", &limit, optarg);
			if (once != 0) return once; } break;
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
	if (limit == NULL)
		limit = "50";
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

/* `audit anchor --out FILE`: the head of an intact chain appended to FILE
 * (O_APPEND, fsync'd). */
static int anchor(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	bs_op_init(&op, cli, "audit anchor");
	static const struct option options[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c == 'o') {
			if (out != NULL)
				return bs_op_usage(&op, "--out given twice");
			out = optarg;
		} else if (c == 'h') {
			printf(
"Usage: bandsplit audit anchor --out FILE\n"
"\n"
"Checks the audit log's hash chain and appends its head, 'AUDIT_ID HASH\n"
"TIME', to FILE (created if missing, only ever appended to). Keep FILE\n"
"where the database's users cannot write (another host, WORM storage);\n"
"'bandsplit audit verify --anchor FILE' then detects a rewritten chain.\n");
			return BS_EXIT_OK;
		} else {
			return bs_op_bad_option(&op, argv);
		}
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (out == NULL)
		return bs_op_usage(&op, "--out FILE is required");
	int fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return bs_op_usage(&op, "--out '%s': %s", out, strerror(errno));
	if (bs_op_open(&op) != 0) {
		close(fd);
		return bs_op_close(&op, false);
	}
	const char *params[3] = { "1", "{}", "{}" };
	PGresult *res = bs_op_query(&op, VERIFY_SQL, 3, params);
	int rc = bs_op_close(&op, true);
	if (rc == 0 && !(strcmp(PQgetvalue(res, 0, 1), "0") == 0 &&
			 PQgetvalue(res, 0, 6)[0] == 't')) {
		fprintf(stderr, "%s audit anchor: the audit log is NOT intact (see "
			"'bandsplit audit verify'): nothing anchored\n", cli->prog);
		rc = BS_EXIT_REFUSED;
	}
	if (rc == 0) {
		char line[256], when[40];
		time_t now = time(NULL);
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
		int n = snprintf(line, sizeof(line), "%s %s %s\n",
				 PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), when);
		if (strcmp(PQgetvalue(res, 0, 3), "0") == 0) {
			fprintf(stderr, "%s audit anchor: the audit log is empty: "
				"nothing to anchor\n", cli->prog);
			rc = BS_EXIT_REFUSED;
		} else if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
			fprintf(stderr, "%s audit anchor: --out '%s': %s\n", cli->prog,
				out, strerror(errno));
			rc = BS_EXIT_FAILURE;
		} else {
			printf("anchored audit head id %s hash %s at %s in %s\n",
			       PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), when, out);
		}
	}
	if (close(fd) != 0 && rc == 0) {
		fprintf(stderr, "%s audit anchor: --out '%s': %s\n", cli->prog, out,
			strerror(errno));
		rc = BS_EXIT_FAILURE;
	}
	PQclear(res);
	return rc;
}

static const struct bs_op_verb VERBS[] = {
	{ "list", "the latest changes", list },
	{ "show", "one change in full", show },
	{ "verify", "check the hash chain (and against anchors)", verify },
	{ "anchor", "append the chain's head to a file outside the database", anchor },
};

const struct bs_cli_command bs_cmd_audit = {
	.name = "audit",
	.summary = "the audit log: list, show, verify, anchor",
	.description = "The audit log: every change to "
		"pools, tenants, prefixes, plans, allocations and map exports, "
		"written by the database, append-only, hash-chained.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
