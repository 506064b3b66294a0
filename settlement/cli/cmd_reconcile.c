/*
 * cmd_reconcile.c — `bandsplit reconcile --period YYYY-MM`: carrier cost
 * against resale revenue per pool and for the park, completeness, and the
 * byte chain of the period (in the park's billing byte measure):
 *
 *   node interval summaries = raw usage records = 5-minute rollups
 *   rollups of tenants = the invoices' evidence (invoices + notes)
 *   all rollups (tenants + unattributed) = the carrier bills' evidence
 *
 * each equality shown, and every difference listed down to the tenant (or
 * node) and interval. Exits 1 when a check fails, so it runs from cron.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "close.h"
#include "finance_cmds.h"
#include "ops.h"

#define MAX_DIFFERENCES "1000"

/* $1 the period's first day. The period in the park's time zone, and the
 * billing measure's bytes of a rollup row. */
#define PERIOD_CTE \
	"WITH prm AS (SELECT s.billing_measure AS m," \
	"   ($1::date)::timestamp AT TIME ZONE s.time_zone AS p0," \
	"   ($1::date + interval '1 month')::timestamp AT TIME ZONE s.time_zone AS p1" \
	"  FROM park_settings s)," \
	" u AS (SELECT x.tenant_id, x.pool_id, x.bucket_start, x.updated_at, x.late_records," \
	"   CASE WHEN prm.m = 'ip' THEN x.ip_bytes ELSE x.frame_bytes END AS bytes" \
	"  FROM usage_5m x, prm WHERE x.bucket_start >= prm.p0 AND x.bucket_start < prm.p1)," \
	" lastrun AS (SELECT max(r.ran_at) AS at FROM close_run r WHERE r.period = $1::date)," \
	/* the invoices' evidence: per segment, bytes (invoice) or deltas (note) */ \
	" ev AS (SELECT DISTINCT ON (l.invoice_id, l.alloc_id, l.window_start)" \
	"   i.tenant_id, l.pool_id," \
	"   CASE WHEN i.kind = 'invoice' THEN l.bytes_in + l.bytes_out" \
	"        ELSE l.delta_bytes_in + l.delta_bytes_out END AS bytes" \
	"  FROM invoice i JOIN invoice_line l ON l.invoice_id = i.invoice_id" \
	"  WHERE i.period = $1::date ORDER BY l.invoice_id, l.alloc_id, l.window_start)," \
	/* the carrier bills' evidence: the latest state per pool */ \
	" cb AS (SELECT b.pool_id, sum(b.amount_fen)::bigint AS cost," \
	"   (array_agg(b.bytes_in + b.bytes_out ORDER BY b.carrier_bill_id DESC))[1] AS bytes," \
	"   (array_agg(b.billed_bytes ORDER BY b.carrier_bill_id DESC))[1] AS billed_bytes" \
	"  FROM carrier_bill b WHERE b.period = $1::date GROUP BY b.pool_id)"

static const char POOLS_SQL[] = PERIOD_CTE ","
	" rev AS (SELECT l.pool_id, sum(l.amount_fen)::bigint AS revenue"
	"  FROM invoice i JOIN invoice_line l ON l.invoice_id = i.invoice_id"
	"  WHERE i.period = $1::date GROUP BY l.pool_id),"
	" ub AS (SELECT u.pool_id, sum(u.bytes)::bigint AS total,"
	"   coalesce(sum(u.bytes) FILTER (WHERE u.tenant_id = 0), 0)::bigint AS unattributed"
	"  FROM u GROUP BY u.pool_id),"
	" pl AS (SELECT p.pool_id, p.name, p.carrier, p.capacity_bps,"
	"   (SELECT k.committed_bps FROM bs_pool_peak(p.pool_id,"
	"      tstzrange(prm.p0, prm.p1), NULL, 0) k) AS committed,"
	"   cb.billed_bytes, coalesce(cb.cost, 0) AS cost, coalesce(rev.revenue, 0) AS revenue,"
	"   coalesce(ub.total, 0) AS total, coalesce(ub.unattributed, 0) AS unattributed"
	"  FROM pool p CROSS JOIN prm LEFT JOIN cb ON cb.pool_id = p.pool_id"
	"  LEFT JOIN rev ON rev.pool_id = p.pool_id LEFT JOIN ub ON ub.pool_id = p.pool_id"
	"  WHERE p.valid && tstzrange(prm.p0, prm.p1))"
	" SELECT pool_id::text AS pool, name, carrier, bs_mbps(capacity_bps) AS capacity_mbps,"
	"  bs_mbps(committed) AS committed_mbps,"
	"  trim_scale(round(committed / capacity_bps::numeric, 4))::text AS oversubscription,"
	"  trim_scale(round(coalesce(billed_bytes, 0) * 8 / 300.0 / 1000000, 3))::text AS p95_mbps,"
	"  bs_yuan(cost) AS carrier_cost, bs_yuan(revenue) AS revenue,"
	"  bs_yuan(revenue - cost) AS margin, total AS bytes, unattributed AS unattributed_bytes,"
	"  CASE WHEN total = 0 THEN '0' ELSE"
	"   trim_scale(round(100.0 * unattributed / total, 3))::text END || '%' AS unattributed_share"
	"  FROM pl"
	" UNION ALL"
	" SELECT 'park', '', '', bs_mbps(sum(capacity_bps)), bs_mbps(sum(committed)),"
	"  trim_scale(round(sum(committed) / nullif(sum(capacity_bps), 0)::numeric, 4))::text,"
	"  NULL, bs_yuan(sum(cost)::bigint), bs_yuan(sum(revenue)::bigint),"
	"  bs_yuan(sum(revenue - cost)::bigint), sum(total)::bigint, sum(unattributed)::bigint,"
	"  CASE WHEN coalesce(sum(total), 0) = 0 THEN '0' ELSE"
	"   trim_scale(round(100.0 * sum(unattributed) / sum(total), 3))::text END || '%'"
	"  FROM pl";

static const char CHECKS_SQL[] = PERIOD_CTE ","
	" summ AS (SELECT coalesce(sum(n.in_bytes + n.out_bytes), 0) AS b FROM node_interval n, prm"
	"  WHERE n.interval_start >= prm.p0 AND n.interval_start < prm.p1"
	"    AND n.byte_measure = prm.m),"
	" raw AS (SELECT coalesce(sum(r.bytes), 0) AS b FROM usage_raw r, prm"
	"  WHERE r.interval_start >= prm.p0 AND r.interval_start < prm.p1"
	"    AND r.byte_measure = prm.m),"
	" gaps AS (SELECT count(*) AS n FROM prm, bs_find_gaps(prm.p0, prm.p1) g),"
	" c AS ("
	"  SELECT 1 AS o, 'closed' AS check_name, 'yes' AS expected,"
	"   CASE WHEN (SELECT at FROM lastrun) IS NULL THEN 'no' ELSE 'yes' END AS actual"
	"  UNION ALL SELECT 2, 'completeness: sequence gaps and summary mismatches', '0',"
	"   (SELECT n FROM gaps)::text"
	"  UNION ALL SELECT 3, 'completeness: usage settled after the last close (needs --adjust)',"
	"   '0', (SELECT count(*) FROM u, lastrun WHERE u.updated_at >= lastrun.at)::text"
	"  UNION ALL SELECT 4, 'late records (settled late; info)', '-',"
	"   (SELECT coalesce(sum(late_records), 0) FROM u)::text"
	"  UNION ALL SELECT 5, 'byte chain: summaries = raw records',"
	"   (SELECT b FROM summ)::text, (SELECT b FROM raw)::text"
	"  UNION ALL SELECT 6, 'byte chain: raw records = rollups',"
	"   (SELECT b FROM raw)::text, (SELECT coalesce(sum(bytes), 0) FROM u)::text"
	"  UNION ALL SELECT 7, 'byte chain: rollups of tenants = invoices'' evidence',"
	"   (SELECT coalesce(sum(bytes), 0) FROM u WHERE tenant_id <> 0)::text,"
	"   (SELECT coalesce(sum(bytes), 0) FROM ev)::text"
	"  UNION ALL SELECT 8, 'byte chain: all rollups = carrier bills'' evidence',"
	"   (SELECT coalesce(sum(bytes), 0) FROM u)::text,"
	"   (SELECT coalesce(sum(bytes), 0) FROM cb)::text"
	"  UNION ALL SELECT 9, 'ledger: the period''s postings sum to zero', '0',"
	"   (SELECT coalesce(sum(p.amount_fen), 0) FROM journal_entry e"
	"     JOIN posting p ON p.entry_id = e.entry_id WHERE e.period = $1::date)::text)"
	" SELECT check_name AS check, expected, actual,"
	"  CASE WHEN expected = '-' OR actual ~ '[^0-9-]' OR expected ~ '[^0-9-]' THEN NULL"
	"   ELSE (actual::numeric - expected::numeric)::text END AS difference,"
	"  CASE WHEN expected = '-' THEN 'info' WHEN expected = actual THEN 'ok'"
	"   ELSE 'FAIL' END AS status FROM c ORDER BY o";

static const char DIFFS_SQL[] = PERIOD_CTE ","
	" rawb AS (SELECT r.tenant_id, r.pool_id,"
	"   date_bin('300 seconds', r.interval_start, timestamptz 'epoch') AS bucket_start,"
	"   sum(r.bytes) AS b FROM usage_raw r, prm"
	"  WHERE r.interval_start >= prm.p0 AND r.interval_start < prm.p1"
	"    AND r.byte_measure = prm.m GROUP BY 1, 2, 3),"
	" ut AS (SELECT tenant_id, pool_id, bucket_start, sum(bytes) AS b FROM u GROUP BY 1, 2, 3),"
	" evt AS (SELECT tenant_id, pool_id, sum(bytes) AS b FROM ev GROUP BY 1, 2),"
	" rolt AS (SELECT tenant_id, pool_id, sum(bytes) AS b FROM u WHERE tenant_id <> 0"
	"   GROUP BY 1, 2),"
	" d AS ("
	"  SELECT 'summaries = raw records' AS step, NULL::bigint AS tenant_id,"
	"   NULL::bigint AS pool_id, g.node_id, g.interval_start,"
	"   g.expected AS expected, g.actual AS actual, g.kind || ': ' || g.detail AS detail"
	"  FROM prm, bs_find_gaps(prm.p0, prm.p1) g"
	"  WHERE g.kind IN ('count_mismatch', 'sum_mismatch', 'missing_summary')"
	"  UNION ALL"
	"  SELECT 'raw records = rollups', coalesce(r.tenant_id, x.tenant_id),"
	"   coalesce(r.pool_id, x.pool_id), NULL, coalesce(r.bucket_start, x.bucket_start),"
	"   coalesce(r.b, 0), coalesce(x.b, 0), 'bucket'"
	"  FROM rawb r FULL JOIN ut x ON x.tenant_id = r.tenant_id AND x.pool_id = r.pool_id"
	"   AND x.bucket_start = r.bucket_start"
	"  WHERE coalesce(r.b, 0) <> coalesce(x.b, 0)"
	"  UNION ALL"
	"  SELECT 'rollups of tenants = invoices'' evidence', coalesce(a.tenant_id, e.tenant_id),"
	"   coalesce(a.pool_id, e.pool_id), NULL,"
	"   (SELECT min(u.bucket_start) FROM u, lastrun WHERE u.tenant_id = coalesce(a.tenant_id, e.tenant_id)"
	"     AND u.pool_id = coalesce(a.pool_id, e.pool_id) AND u.updated_at >= lastrun.at),"
	"   coalesce(a.b, 0), coalesce(e.b, 0),"
	"   CASE WHEN e.tenant_id IS NULL THEN 'usage not on any invoice (no allocation)'"
	"        ELSE 'interval: the first bucket settled after the last close, if any' END"
	"  FROM rolt a FULL JOIN evt e ON e.tenant_id = a.tenant_id AND e.pool_id = a.pool_id"
	"  WHERE coalesce(a.b, 0) <> coalesce(e.b, 0))"
	" SELECT step, tenant_id, pool_id, node_id, bs_iso(interval_start) AS interval_start,"
	"  expected::text AS expected, actual::text AS actual,"
	"  (actual - expected)::text AS difference, detail FROM d"
	" ORDER BY step, tenant_id, pool_id, node_id, interval_start LIMIT " MAX_DIFFERENCES;

static void print_csv(const PGresult *res)
{
	for (int c = 0; c < PQnfields(res); c++)
		printf("%s%s", c ? "," : "", PQfname(res, c));
	putchar('\n');
	for (int r = 0; r < PQntuples(res); r++) {
		for (int c = 0; c < PQnfields(res); c++) {
			const char *v = PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c);
			if (c)
				putchar(',');
			if (strpbrk(v, ",\"\n") != NULL) {
				putchar('"');
				for (const char *p = v; *p; p++) {
					if (*p == '"')
						putchar('"');
					putchar(*p);
				}
				putchar('"');
			} else {
				fputs(v, stdout);
			}
		}
		putchar('\n');
	}
}

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	enum { OPT_PERIOD = 256, OPT_FORMAT, OPT_JSON, OPT_HELP };
	static const struct option options[] = {
		{ "period", required_argument, NULL, OPT_PERIOD },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const FORMATS[] = { "table", "json", "csv", NULL };
	struct bs_op op;
	const char *period = NULL, *format = "table";
	int c;
	bs_op_init(&op, cli, "reconcile");
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_PERIOD: period = optarg; break;
		case OPT_FORMAT: format = optarg; break;
		case OPT_JSON: format = "json"; break;
		case OPT_HELP:
			fputs(
"Usage: bandsplit reconcile --period YYYY-MM [--format table|json|csv] [--json]\n"
"\n"
"Per pool valid in the period and for the park: purchased capacity, the\n"
"highest sum of committed rates, oversubscription, the measured 95th (the\n"
"carrier bill's), carrier cost, resale revenue (invoices and notes), margin,\n"
"unattributed bytes (traffic nobody pays for) and their share.\n"
"Checks: the period is closed; completeness (sequence gaps, summaries that\n"
"differ from their records, usage settled after the last close; late\n"
"records for information); the byte chain, in the billing byte measure:\n"
"  node interval summaries = raw usage records = rollups,\n"
"  rollups of tenants = the invoices' evidence (invoices + notes),\n"
"  all rollups = the carrier bills' evidence;\n"
"and the ledger. Every difference is listed down to the tenant or node and\n"
"the interval (at most " MAX_DIFFERENCES " rows).\n"
"csv: the pools, the checks, the differences, each with a header row,\n"
"separated by an empty line. Exit status: 0 all checks hold, 1 a check\n"
"failed, 2 usage error, 3 failure.\n", stdout);
			return BS_EXIT_OK;
		default:
			return bs_op_bad_option(&op, argv);
		}
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (period == NULL)
		return bs_op_usage(&op, "--period is required (YYYY-MM)");
	char why[96];
	if (bs_close_parse_period(period, why, sizeof(why)) != 0)
		return bs_op_usage(&op, "--period '%s': %s", period, why);
	int rc = bs_op_parse_choice(&op, "--format", format, FORMATS);
	if (rc != 0)
		return rc;
	op.json = strcmp(format, "json") == 0;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	char day[16];
	snprintf(day, sizeof(day), "%s-01", period);
	const char *p[1] = { day };
	PGresult *pools = bs_op_query(&op, POOLS_SQL, 1, p);
	PGresult *checks = bs_op_query(&op, CHECKS_SQL, 1, p);
	PGresult *diffs = bs_op_query(&op, DIFFS_SQL, 1, p);
	rc = bs_op_close(&op, false);
	int failed = 0;
	for (int r = 0; rc == 0 && r < PQntuples(checks); r++)
		failed += strcmp(PQgetvalue(checks, r, 4), "FAIL") == 0;
	if (rc == 0 && op.json) {
		fputs("{\"period\": \"", stdout);
		fputs(period, stdout);
		fputs("\", \"pools\": ", stdout);
		fflush(stdout);
		bs_op_print(&op, pools, false);
		fputs(", \"checks\": ", stdout);
		fflush(stdout);
		bs_op_print(&op, checks, false);
		fputs(", \"differences\": ", stdout);
		fflush(stdout);
		bs_op_print(&op, diffs, false);
		printf(", \"ok\": %s}\n", failed ? "false" : "true");
	} else if (rc == 0 && strcmp(format, "csv") == 0) {
		print_csv(pools);
		putchar('\n');
		print_csv(checks);
		putchar('\n');
		print_csv(diffs);
	} else if (rc == 0) {
		printf("period %s\n\n", period);
		bs_op_print(&op, pools, false);
		putchar('\n');
		bs_op_print(&op, checks, false);
		if (PQntuples(diffs) > 0) {
			printf("\ndifferences:\n");
			bs_op_print(&op, diffs, false);
		}
		printf("\n%s\n", failed ? "reconciliation FAILED" :
		       "reconciliation holds: the byte chain is complete");
	}
	PQclear(pools);
	PQclear(checks);
	PQclear(diffs);
	if (rc == 0 && failed) {
		fprintf(stderr, "%s reconcile: %d check(s) failed for %s\n",
			cli->prog, failed, period);
		rc = BS_EXIT_REFUSED;
	}
	return rc;
}

const struct bs_cli_command bs_cmd_reconcile = {
	.name = "reconcile",
	.summary = "carrier cost vs revenue, completeness, the byte chain",
	.run = run,
};
