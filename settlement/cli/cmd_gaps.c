/*
 * cmd_gaps.c — `bandsplit gaps`: the completeness check over a time range:
 * sequence gaps per (node, boot), intervals whose summary differs from the
 * sum of their usage records, usage without a summary; and how many late
 * records arrived for the range; and what the nodes metered but billed to
 * nobody: late packets and malformed frames per reason (v2 summaries,
 * schemas/sql/0014). The check itself is bs_find_gaps() in
 * schemas/sql/0003_ingest_state.sql.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "db.h"
#include "record.h"

static void help(FILE *out)
{
	fprintf(out,
"Usage: bandsplit gaps --from TIME --to TIME [--json] [--fail-if-any]\n"
"\n"
"Lists what is missing or inconsistent in the settled usage of the\n"
"intervals that start in [--from, --to):\n"
"  seq_gap          record sequence numbers of a (node, boot) that never\n"
"                   arrived\n"
"  count_mismatch   a node's interval summary counts a different number of\n"
"                   usage records than were settled\n"
"  sum_mismatch     the usage records' packets or bytes per direction do not\n"
"                   add up to the node's summary\n"
"  missing_summary  usage records of an interval whose summary never came\n"
"  identity_conflict a usage record or summary arrived again with other\n"
"                   counts than the stored one (kept aside by bandsplit-settle\n"
"                   in rejected_records; EXPECTED/ACTUAL: stored/received bytes)\n"
"and the number of late records settled for the range (flagged late:\n"
"their interval ended long before they arrived).\n"
"Then what the nodes' summaries say they metered without billing it: late\n"
"packets (older than the interval they were counted in, packet clock) and\n"
"malformed frames per reason; summaries from meters older than schema v2\n"
"do not say, and are counted apart.\n"
"\n"
"Options:\n"
"  --from TIME     start of the range (ISO 8601; park time without an offset)\n"
"  --to TIME       end of the range, exclusive\n"
"  --json          one JSON object: {\"gaps\": [...], \"late_records\": N,\n"
"                  \"metered\": {\"late_packets\": N, \"malformed_packets\": N,\n"
"                  \"malformed\": {REASON: N, ...}, \"summaries_without_reasons\": N}}\n"
"  --fail-if-any   exit 1 when there is at least one gap\n"
"  --help          show this help\n");
}

/* The gaps, then the identity conflicts bandsplit-settle kept in
 * rejected_records (migration 0015) for intervals of the range: expected
 * and actual are the stored and the received bytes (a summary: in_bytes). */
static const char GAPS_SQL[] =
	"SELECT kind, node_id, replace(boot_id::text, '-', ''),"
	" to_char(interval_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	" seq_from, seq_to, expected, actual, detail FROM ("
	"  SELECT kind, node_id, boot_id, interval_start, seq_from, seq_to, expected,"
	"    actual, detail FROM bs_find_gaps($1::timestamptz, $2::timestamptz)"
	"  UNION ALL"
	"  SELECT 'identity_conflict', c.node_id, c.boot_id, c.interval_start, NULL,"
	"    NULL, coalesce(s->>'bytes', s->>'in_bytes')::numeric,"
	"    coalesce(x->>'bytes', x->>'in_bytes')::numeric,"
	"    format('%s (Kafka %s [%s] offset %s)', r.error, r.topic, r.kafka_partition,"
	"      r.kafka_offset)"
	"  FROM rejected_records r,"
	"    LATERAL (SELECT r.conflict->'stored' AS s, r.conflict->'received' AS x) j,"
	"    LATERAL (SELECT x->>'node_id' AS node_id, (x->>'boot_id')::uuid AS boot_id,"
	"      (x->>'interval_start')::timestamptz AS interval_start) c"
	"  WHERE r.reason = 'identity_conflict'"
	"    AND c.interval_start >= $1::timestamptz AND c.interval_start < $2::timestamptz"
	") g ORDER BY interval_start, node_id, kind, seq_from";

static const char LATE_SQL[] =
	"SELECT (SELECT count(*) FROM usage_raw WHERE late"
	"         AND interval_start >= $1::timestamptz AND interval_start < $2::timestamptz)"
	"     + (SELECT count(*) FROM node_interval WHERE late"
	"         AND interval_start >= $1::timestamptz AND interval_start < $2::timestamptz)";

/* The node summaries of the range: late packets and malformed frames per
 * reason (columns 2.. in bs_record_malformed_reason_name order). */
static const char METERED_SQL[] =
	"SELECT count(*) FILTER (WHERE late_packets IS NULL),"
	" coalesce(sum(late_packets), 0), coalesce(sum(malformed_packets), 0),"
	" coalesce(sum(malformed_short_ether), 0), coalesce(sum(malformed_too_many_tags), 0),"
	" coalesce(sum(malformed_short_ip), 0), coalesce(sum(malformed_bad_version), 0),"
	" coalesce(sum(malformed_bad_ihl), 0), coalesce(sum(malformed_bad_length), 0)"
	" FROM node_interval"
	" WHERE interval_start >= $1::timestamptz AND interval_start < $2::timestamptz";
#define METERED_REASON_COL 3

static json_object *json_int_or_null(const PGresult *res, int r, int c)
{
	if (PQgetisnull(res, r, c))
		return NULL;
	return json_object_new_int64(strtoll(PQgetvalue(res, r, c), NULL, 10));
}

static json_object *json_metered(const PGresult *m)
{
	json_object *o = json_object_new_object();
	json_object *reasons = json_object_new_object();
	json_object_object_add(o, "late_packets", json_int_or_null(m, 0, 1));
	json_object_object_add(o, "malformed_packets", json_int_or_null(m, 0, 2));
	for (int i = 0; i < BS_RECORD_MAL_REASONS; i++)
		json_object_object_add(reasons, bs_record_malformed_reason_name((unsigned)i),
				       json_int_or_null(m, 0, METERED_REASON_COL + i));
	json_object_object_add(o, "malformed", reasons);
	json_object_object_add(o, "summaries_without_reasons", json_int_or_null(m, 0, 0));
	return o;
}

static void print_json(const PGresult *gaps, const char *late, const PGresult *metered)
{
	json_object *root = json_object_new_object();
	json_object *arr = json_object_new_array();
	static const char *const names[] = { "kind", "node_id", "boot_id",
		"interval_start", "seq_from", "seq_to", "expected", "actual",
		"detail" };
	for (int r = 0; r < PQntuples(gaps); r++) {
		json_object *o = json_object_new_object();
		for (int c = 0; c < 9; c++) {
			json_object *v;
			if (c >= 4 && c <= 7)
				v = json_int_or_null(gaps, r, c);
			else
				v = json_object_new_string(PQgetvalue(gaps, r, c));
			json_object_object_add(o, names[c], v);
		}
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "gaps", arr);
	json_object_object_add(root, "late_records",
			       json_object_new_int64(strtoll(late, NULL, 10)));
	json_object_object_add(root, "metered", json_metered(metered));
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY
		| JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

static void print_text(const PGresult *gaps, const char *late, const PGresult *m)
{
	int n = PQntuples(gaps);
	if (n > 0)
		printf("%-16s %-20s %-32s %-20s %-21s %s\n", "KIND", "NODE", "BOOT",
		       "INTERVAL_START", "SEQ", "DETAIL");
	for (int r = 0; r < n; r++) {
		char seqs[64] = "-";
		if (!PQgetisnull(gaps, r, 4))
			snprintf(seqs, sizeof(seqs), "%s..%s", PQgetvalue(gaps, r, 4),
				 PQgetvalue(gaps, r, 5));
		printf("%-16s %-20s %-32s %-20s %-21s %s\n", PQgetvalue(gaps, r, 0),
		       PQgetvalue(gaps, r, 1), PQgetvalue(gaps, r, 2),
		       PQgetvalue(gaps, r, 3), seqs, PQgetvalue(gaps, r, 8));
	}
	printf("%d gap(s), %s late record(s)\n", n, late);
	printf("metered, not billed: %s late packet(s), %s malformed (",
	       PQgetvalue(m, 0, 1), PQgetvalue(m, 0, 2));
	for (int i = 0; i < BS_RECORD_MAL_REASONS; i++)
		printf("%s%s %s", i ? ", " : "", bs_record_malformed_reason_name((unsigned)i),
		       PQgetvalue(m, 0, METERED_REASON_COL + i));
	printf(")");
	if (strcmp(PQgetvalue(m, 0, 0), "0") != 0)
		printf("; %s summaries (schema v1) do not say", PQgetvalue(m, 0, 0));
	printf("\n");
}

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	enum { OPT_FROM = 256, OPT_TO, OPT_JSON, OPT_FAIL, OPT_HELP };
	static const struct option options[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "fail-if-any", no_argument, NULL, OPT_FAIL },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL;
	bool json = false, fail_if_any = false;
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_FROM: { int once = bs_cli_once(cli, "gaps", "--from", &from, optarg);
			if (once != 0) return once; } break;
		case OPT_TO: { int once = bs_cli_once(cli, "gaps", "--to", &to, optarg);
			if (once != 0) return once; } break;
		case OPT_JSON: json = true; break;
		case OPT_FAIL: fail_if_any = true; break;
		case OPT_HELP: help(stdout); return BS_EXIT_OK;
		default:
			return bs_cli_usage_error(cli, "gaps", "unknown or "
				"incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bs_cli_usage_error(cli, "gaps", "unexpected argument '%s'",
					  argv[optind]);
	if (from == NULL || to == NULL)
		return bs_cli_usage_error(cli, "gaps", "--from and --to are required");

	PGconn *conn = bs_cli_connect(cli);
	if (conn == NULL)
		return BS_EXIT_FAILURE;
	int rc = bs_cli_check_time(cli, conn, "gaps", "--from", from);
	if (rc == 0)
		rc = bs_cli_check_time(cli, conn, "gaps", "--to", to);
	if (rc == 0)
		rc = bs_cli_check_range(cli, conn, "gaps", from, to);
	if (rc != 0) {
		PQfinish(conn);
		return rc;
	}
	char err[BS_DB_ERR_MAX];
	const char *params[2] = { from, to };
	PGresult *gaps = bs_db_query(conn, "gaps", GAPS_SQL, 2, params, err,
				     sizeof(err));
	PGresult *late = gaps == NULL ? NULL : bs_db_query(conn, "late records",
		LATE_SQL, 2, params, err, sizeof(err));
	PGresult *metered = late == NULL ? NULL : bs_db_query(conn, "metered",
		METERED_SQL, 2, params, err, sizeof(err));
	if (gaps == NULL || late == NULL || metered == NULL) {
		PQclear(gaps);
		PQclear(late);
		PQfinish(conn);
		return bs_cli_fail(cli, "gaps", BS_EXIT_FAILURE, "%s", err);
	}
	if (json)
		print_json(gaps, PQgetvalue(late, 0, 0), metered);
	else
		print_text(gaps, PQgetvalue(late, 0, 0), metered);
	int found = PQntuples(gaps);
	PQclear(gaps);
	PQclear(late);
	PQclear(metered);
	PQfinish(conn);
	return fail_if_any && found > 0 ? BS_EXIT_REFUSED : BS_EXIT_OK;
}

const struct bs_cli_command bs_cmd_gaps = {
	.name = "gaps",
	.summary = "list sequence gaps and summary mismatches of settled usage",
	.run = run,
};
