/*
 * cmd_capacity.c — `bandsplit capacity`: per pool, over a time range, what
 * was bought against what is allocated and what was measured.
 *
 * Allocated figures are the highest Σ committed (and Σ burst) of the pool
 * at any instant of the range (sums only change where an allocation
 * starts). The measured 95th percentile follows ARCHITECTURE.md: the
 * pool's sample per 5-minute bucket is max(Σ in, Σ out) bytes over all its
 * traffic (every tenant and the unattributed), N = the number of buckets
 * starting in the range, buckets without data count as 0, the billed
 * sample is rank ⌈0.95·N⌉ ascending. Rates are bytes × 8 / 300 bit/s.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "names.h"
#include "ops.h"

#define MAX_RANGE_DAYS 400
#define MAX_RANGE_DAYS_TEXT "400"


static const char CAPACITY_SQL[] =
	"WITH r AS ("
	"  SELECT tstzrange(coalesce($2::timestamptz, date_trunc('month', now())),"
	"                   coalesce($3::timestamptz, date_trunc('month',"
	"                     coalesce($2::timestamptz, now())) + interval '1 month'))"
	"         AS rng),"
	" p AS (SELECT pool.* FROM pool, r WHERE pool.valid && r.rng"
	"        AND ($1::bigint IS NULL OR pool.pool_id = $1::bigint)),"
	" inst AS ("
	"  SELECT p.pool_id, greatest(lower(p.valid), lower(r.rng)) AS t FROM p, r"
	"  UNION"
	"  SELECT a.pool_id, lower(a.valid) FROM allocation a JOIN p USING (pool_id),"
	"         r WHERE a.valid && r.rng AND lower(a.valid) > lower(r.rng)),"
	" load AS ("
	"  SELECT i.pool_id, i.t, coalesce(sum(a.committed_bps), 0) AS c,"
	"         coalesce(sum(a.burst_bps), 0) AS b"
	"    FROM inst i LEFT JOIN allocation a"
	"      ON a.pool_id = i.pool_id AND a.valid @> i.t"
	"   GROUP BY i.pool_id, i.t),"
	" peak AS (SELECT pool_id, max(c) AS c, max(b) AS b FROM load GROUP BY pool_id),"
	" nb AS (SELECT (ceil(extract(epoch FROM upper(r.rng)) / 300)"
	"              - ceil(extract(epoch FROM lower(r.rng)) / 300))::bigint AS n"
	"          FROM r),"
	" samples AS ("
	"  SELECT u.pool_id, u.bucket_start,"
	"         greatest(sum(CASE WHEN u.direction = 'in' THEN"
	"                      CASE WHEN $4 = 'ip' THEN u.ip_bytes ELSE u.frame_bytes END"
	"                      ELSE 0 END),"
	"                  sum(CASE WHEN u.direction = 'out' THEN"
	"                      CASE WHEN $4 = 'ip' THEN u.ip_bytes ELSE u.frame_bytes END"
	"                      ELSE 0 END)) AS s"
	"    FROM usage_5m u JOIN p USING (pool_id), r"
	"   WHERE u.bucket_start >= lower(r.rng) AND u.bucket_start < upper(r.rng)"
	"   GROUP BY u.pool_id, u.bucket_start),"
	" ranked AS ("
	"  SELECT pool_id, s, row_number() OVER (PARTITION BY pool_id ORDER BY s) AS rn,"
	"         count(*) OVER (PARTITION BY pool_id) AS d,"
	"         max(s) OVER (PARTITION BY pool_id) AS peak_s"
	"    FROM samples),"
	" p95 AS ("
	"  SELECT pool_id, max(d) AS d, max(peak_s) AS peak_s,"
	"         coalesce(max(s) FILTER (WHERE rn = (95 * nb.n + 99) / 100"
	"                                        - (nb.n - d)), 0) AS s"
	"    FROM ranked, nb GROUP BY pool_id)"
	" SELECT p.pool_id AS pool, p.name, p.carrier,"
	"        bs_mbps(p.capacity_bps) AS capacity_mbps,"
	"        trim_scale(p.oversub_limit)::text AS oversub_limit,"
	"        bs_mbps(pk.c) AS committed_mbps, bs_mbps(pk.b) AS burst_mbps,"
	"        bs_mbps(p.capacity_bps * p.oversub_limit - pk.c) AS headroom_mbps,"
	"        trim_scale(round(pk.c / p.capacity_bps::numeric, 4))::text"
	"          AS oversubscription,"
	"        trim_scale(round(coalesce(q.s, 0) * 8 / 300.0 / 1000000, 3))::text"
	"          AS p95_mbps,"
	"        coalesce(q.s, 0) AS p95_bytes,"
	"        trim_scale(round(coalesce(q.peak_s, 0) * 8 / 300.0 / 1000000, 3))::text"
	"          AS peak_mbps,"
	"        coalesce(q.d, 0) AS buckets_with_data, nb.n AS buckets,"
	"        bs_iso(lower(r.rng)) AS range_from, bs_iso(upper(r.rng)) AS range_to"
	"   FROM p CROSS JOIN r CROSS JOIN nb JOIN peak pk USING (pool_id)"
	"   LEFT JOIN p95 q USING (pool_id)"
	"  ORDER BY p.pool_id";

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	enum { OPT_POOL = 256, OPT_FROM, OPT_TO, OPT_MEASURE, OPT_JSON, OPT_HELP };
	static const struct option options[] = {
		{ "pool", required_argument, NULL, OPT_POOL },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "measure", required_argument, NULL, OPT_MEASURE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct bs_op op;
	const char *pool = NULL, *from = NULL, *to = NULL, *measure = NULL;
	char pool_v[BS_OP_VALUE_MAX], from_v[BS_OP_VALUE_MAX], to_v[BS_OP_VALUE_MAX];
	int c, rc = 0;

	bs_op_init(&op, cli, "capacity");
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_POOL: { int once = bs_cli_once(cli, "capacity", "--pool", &pool, optarg);
			if (once != 0) return once; } break;
		case OPT_FROM: { int once = bs_cli_once(cli, "capacity", "--from", &from, optarg);
			if (once != 0) return once; } break;
		case OPT_TO: { int once = bs_cli_once(cli, "capacity", "--to", &to, optarg);
			if (once != 0) return once; } break;
		case OPT_MEASURE: { int once = bs_cli_once(cli, "capacity", "--measure", &measure, optarg);
			if (once != 0) return once; } break;
		case OPT_JSON: op.json = true; break;
		case OPT_HELP:
			printf(
"Usage: bandsplit capacity [--pool ID] [--from TIME] [--to TIME]\n"
"                          [--measure frame|ip] [--json]\n"
"\n"
"Per pool valid in [--from, --to) (default: the current month in the\n"
"park's time zone; --to defaults to a month after --from):\n"
"  capacity, oversubscription limit  what was bought, and the limit\n"
"  committed, burst     the highest sum of the allocations' committed\n"
"                       rates (burst caps) at any instant of the range\n"
"  headroom             capacity x limit - committed\n"
"  oversubscription     committed / capacity\n"
"  p95, peak            the pool's measured 95th percentile and peak\n"
"                       5-minute rate from the settled rollups: per bucket\n"
"                       max(in, out) of all its traffic; N = the buckets of\n"
"                       the range, those without data count 0, rank\n"
"                       ceil(0.95 N) ascending\n"
"Rates in Mbps (10^6 bit/s). The range is at most %d days.\n",
			       MAX_RANGE_DAYS);
			return BS_EXIT_OK;
		default:
			return bs_op_bad_option(&op, argv);
		}
	}
	if (measure == NULL)
		measure = BS_MEASURE_FRAME_NAME;
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (pool) rc = bs_op_parse_id(&op, "--pool", pool, pool_v);
	if (!rc && from) rc = bs_op_parse_time(&op, "--from", from, from_v);
	if (!rc && to) rc = bs_op_parse_time(&op, "--to", to, to_v);
	if (!rc) rc = bs_op_parse_choice(&op, "--measure", measure, bs_measure_names);
	if (rc != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[4] = { pool ? pool_v : NULL, from ? from_v : NULL,
				  to ? to_v : NULL, measure };
	const char *cp[3] = { params[1], params[2], MAX_RANGE_DAYS_TEXT };
	PGresult *chk = bs_op_query(&op, "SELECT CASE WHEN t <= f THEN 'empty'"
		" WHEN t - f > make_interval(days => $3::integer) THEN 'long' END"
		" FROM (SELECT coalesce($1::timestamptz, date_trunc('month', now())) AS f,"
		"  coalesce($2::timestamptz, date_trunc('month', coalesce($1::timestamptz,"
		"  now())) + interval '1 month') AS t) x", 3, cp);
	if (chk != NULL && !PQgetisnull(chk, 0, 0)) {
		bool empty = strcmp(PQgetvalue(chk, 0, 0), "empty") == 0;
		PQclear(chk);
		bs_op_close(&op, false);
		if (empty)
			return bs_op_usage(&op, "--from '%s' and --to '%s': --to must "
					   "be after --from", from ? from : "(this month)",
					   to ? to : "(a month later)");
		return bs_op_usage(&op, "the range is longer than %d days",
				   MAX_RANGE_DAYS);
	}
	PQclear(chk);
	PGresult *res = bs_op_query(&op, CAPACITY_SQL, 4, params);
	if (res != NULL && pool != NULL && PQntuples(res) == 0) {
		bs_op_fail(&op, BS_EXIT_REFUSED, "pool %s not found or not valid in "
			   "that range", pool_v);
		PQclear(res);
		res = NULL;
	}
	rc = bs_op_close(&op, true);
	if (rc == 0 && res != NULL)
		bs_op_print(&op, res, false);
	PQclear(res);
	return rc;
}

const struct bs_cli_command bs_cmd_capacity = {
	.name = "capacity",
	.summary = "pools: bought vs allocated vs measured 95th, over a range",
	.run = run,
};
