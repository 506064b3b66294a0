/*
 * cmd_usage.c — `bandsplit usage`: per-tenant totals and 5-minute peaks of
 * the settled usage (usage_5m). The billable sample of a bucket is
 * max(in, out) bytes (ARCHITECTURE.md); its rate is bytes × 8 / 300 bit/s.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "names.h"
#include "db.h"

static void help(FILE *out)
{
	fprintf(out,
"Usage: bandsplit usage [--from TIME] [--to TIME] [--tenant ID]\n"
"                       [--measure frame|ip] [--json]\n"
"\n"
"Per tenant (all pools together), over the 5-minute buckets starting in\n"
"[--from, --to): the buckets with data, total bytes in and out, and the\n"
"peak bucket: the one with the largest max(in, out) bytes, shown as bytes\n"
"and as Mbps (bytes x 8 / 300 / 10^6, rounded to 3 decimals for display).\n"
"Tenant 0 is traffic that matched no tenant.\n"
"\n"
"Options:\n"
"  --from TIME          first bucket (default: the earliest)\n"
"  --to TIME            end, exclusive (default: no end)\n"
"  --tenant ID          only this tenant\n"
"  --measure frame|ip   bytes as Ethernet frames (default) or IP lengths\n"
"  --json               a JSON array, one object per tenant\n"
"  --help               show this help\n");
}

static const char USAGE_SQL[] =
	"WITH b AS ("
	"  SELECT tenant_id, bucket_start,"
	"         sum(CASE WHEN direction = 'in' THEN"
	"             CASE WHEN $4 = 'ip' THEN ip_bytes ELSE frame_bytes END"
	"             ELSE 0 END) AS in_b,"
	"         sum(CASE WHEN direction = 'out' THEN"
	"             CASE WHEN $4 = 'ip' THEN ip_bytes ELSE frame_bytes END"
	"             ELSE 0 END) AS out_b"
	"    FROM usage_5m"
	"   WHERE bucket_start >= coalesce($1::timestamptz, '-infinity')"
	"     AND bucket_start < coalesce($2::timestamptz, 'infinity')"
	"     AND ($3::bigint IS NULL OR tenant_id = $3::bigint)"
	"   GROUP BY tenant_id, bucket_start"
	"), t AS ("
	"  SELECT tenant_id, count(*) AS buckets, sum(in_b) AS in_bytes,"
	"         sum(out_b) AS out_bytes, max(greatest(in_b, out_b)) AS peak_bytes,"
	"         (array_agg(bucket_start ORDER BY greatest(in_b, out_b) DESC,"
	"                    bucket_start))[1] AS peak_bucket"
	"    FROM b GROUP BY tenant_id"
	")"
	"SELECT tenant_id, buckets, in_bytes, out_bytes,"
	"       to_char(peak_bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	"       peak_bytes, round(peak_bytes * 8 / 300.0 / 1000000, 3)"
	"  FROM t ORDER BY tenant_id";

static void print_json(const PGresult *res)
{
	json_object *arr = json_object_new_array();
	for (int r = 0; r < PQntuples(res); r++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "tenant_id", json_object_new_int64(
			strtoll(PQgetvalue(res, r, 0), NULL, 10)));
		json_object_object_add(o, "buckets", json_object_new_int64(
			strtoll(PQgetvalue(res, r, 1), NULL, 10)));
		json_object_object_add(o, "in_bytes", json_object_new_int64(
			strtoll(PQgetvalue(res, r, 2), NULL, 10)));
		json_object_object_add(o, "out_bytes", json_object_new_int64(
			strtoll(PQgetvalue(res, r, 3), NULL, 10)));
		json_object_object_add(o, "peak_bucket",
			json_object_new_string(PQgetvalue(res, r, 4)));
		json_object_object_add(o, "peak_bytes", json_object_new_int64(
			strtoll(PQgetvalue(res, r, 5), NULL, 10)));
		/* a decimal string: exact, no float */
		json_object_object_add(o, "peak_mbps",
			json_object_new_string(PQgetvalue(res, r, 6)));
		json_object_array_add(arr, o);
	}
	printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY
		| JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
}

static void print_text(const PGresult *res)
{
	printf("%-10s %8s %16s %16s %-20s %14s %12s\n", "TENANT", "BUCKETS",
	       "IN_BYTES", "OUT_BYTES", "PEAK_5MIN", "PEAK_BYTES", "PEAK_MBPS");
	for (int r = 0; r < PQntuples(res); r++)
		printf("%-10s %8s %16s %16s %-20s %14s %12s\n",
		       PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
		       PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
		       PQgetvalue(res, r, 4), PQgetvalue(res, r, 5),
		       PQgetvalue(res, r, 6));
	if (PQntuples(res) == 0)
		printf("(no settled usage in this range)\n");
}

static bool valid_tenant(const char *s)
{
	char *end;
	if (s[0] < '0' || s[0] > '9')
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	return *end == '\0' && v <= 4294967295ULL;
}

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	enum { OPT_FROM = 256, OPT_TO, OPT_TENANT, OPT_MEASURE, OPT_JSON, OPT_HELP };
	static const struct option options[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "measure", required_argument, NULL, OPT_MEASURE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL, *tenant = NULL, *measure = NULL;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_FROM: { int once = bs_cli_once(cli, "usage", "--from", &from, optarg);
			if (once != 0) return once; } break;
		case OPT_TO: { int once = bs_cli_once(cli, "usage", "--to", &to, optarg);
			if (once != 0) return once; } break;
		case OPT_TENANT: { int once = bs_cli_once(cli, "usage", "--tenant", &tenant, optarg);
			if (once != 0) return once; } break;
		case OPT_MEASURE: { int once = bs_cli_once(cli, "usage", "--measure", &measure, optarg);
			if (once != 0) return once; } break;
		case OPT_JSON: json = true; break;
		case OPT_HELP: help(stdout); return BS_EXIT_OK;
		default:
			return bs_cli_usage_error(cli, "usage", "unknown or "
				"incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (measure == NULL)
		measure = BS_MEASURE_FRAME_NAME;
	if (optind < argc)
		return bs_cli_usage_error(cli, "usage", "unexpected argument '%s'",
					  argv[optind]);
	enum bs_byte_measure m;
	if (bs_measure_parse(measure, strlen(measure), &m) < 0)
		return bs_cli_usage_error(cli, "usage", "--measure '%s': must be "
					  "frame or ip", measure);
	if (tenant != NULL && !valid_tenant(tenant))
		return bs_cli_usage_error(cli, "usage", "--tenant '%s': must be an "
					  "integer 0..4294967295", tenant);

	PGconn *conn = bs_cli_connect(cli);
	if (conn == NULL)
		return BS_EXIT_FAILURE;
	int rc = from != NULL ? bs_cli_check_time(cli, conn, "usage", "--from", from) : 0;
	if (rc == 0 && to != NULL)
		rc = bs_cli_check_time(cli, conn, "usage", "--to", to);
	if (rc == 0)
		rc = bs_cli_check_range(cli, conn, "usage", from, to);
	if (rc != 0) {
		PQfinish(conn);
		return rc;
	}
	char err[BS_DB_ERR_MAX];
	const char *params[4] = { from, to, tenant, measure };
	PGresult *res = bs_db_query(conn, "usage", USAGE_SQL, 4, params, err,
				    sizeof(err));
	if (res == NULL) {
		PQfinish(conn);
		return bs_cli_fail(cli, "usage", BS_EXIT_FAILURE, "%s", err);
	}
	if (json)
		print_json(res);
	else
		print_text(res);
	PQclear(res);
	PQfinish(conn);
	return BS_EXIT_OK;
}

const struct bs_cli_command bs_cmd_usage = {
	.name = "usage",
	.summary = "per-tenant usage totals and 5-minute peaks",
	.run = run,
};
