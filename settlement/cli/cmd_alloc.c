/*
 * cmd_alloc.c — `bandsplit alloc add|list|show|change|end`: a tenant's
 * slice of a pool (committed rate, burst cap, plan) over time. The database
 * refuses overlapping allocations of one tenant on one pool and, unless
 * --force, any allocation that would push its pool over capacity × limit
 * at some instant (0011's capacity guard, which names the instant and the
 * figures). A change is a new allocation from an instant; the old one ends
 * there.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

/* A new burst cap defaults to the old one, raised to the new committed
 * rate if that is higher. */
#define NEW_BURST \
	" coalesce($4::bigint, greatest(burst_bps," \
	" coalesce($3::bigint, committed_bps)))"

#define ALLOC_COLS \
	"x.alloc_id AS id, x.tenant_id AS tenant, x.pool_id AS pool," \
	" x.plan_id AS plan, bs_mbps(x.committed_bps) AS committed_mbps," \
	" bs_mbps(x.burst_bps) AS burst_mbps," \
	" bs_iso(lower(x.valid)) AS valid_from, bs_iso(upper(x.valid)) AS valid_to," \
	" x.forced"

enum { OPT_TENANT = 256, OPT_POOL, OPT_PLAN, OPT_COMMITTED, OPT_BURST,
       OPT_FROM, OPT_TO, OPT_AT, OPT_ALL, OPT_FORCE, OPT_JSON, OPT_HELP };

static const struct option OPTIONS[] = {
	{ "tenant", required_argument, NULL, OPT_TENANT },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "plan", required_argument, NULL, OPT_PLAN },
	{ "committed", required_argument, NULL, OPT_COMMITTED },
	{ "burst", required_argument, NULL, OPT_BURST },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "at", required_argument, NULL, OPT_AT },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct alloc_args {
	const char *tenant, *pool, *plan, *committed, *burst, *from, *to, *at;
	bool all, force, help;
	char tenant_v[BS_OP_VALUE_MAX], pool_v[BS_OP_VALUE_MAX];
	char plan_v[BS_OP_VALUE_MAX], committed_v[BS_OP_VALUE_MAX];
	char burst_v[BS_OP_VALUE_MAX], from_v[BS_OP_VALUE_MAX];
	char to_v[BS_OP_VALUE_MAX], at_v[BS_OP_VALUE_MAX];
};

/* Every verb shares one option table and refuses the options not among
 * its `allowed` words. Returns 0 or an exit code. */
static int parse(struct bs_op *op, int argc, char **argv, const char *allowed,
		 struct alloc_args *a)
{
	memset(a, 0, sizeof(*a));
	int c;
	while ((c = getopt_long(argc, argv, "", OPTIONS, NULL)) != -1) {
		if (c == '?' || c == ':')
			return bs_op_bad_option(op, argv);
		const char *name = "";
		for (const struct option *o = OPTIONS; o->name; o++)
			if (o->val == c)
				name = o->name;
		if (c != OPT_HELP && c != OPT_JSON && !bs_op_word_in(allowed, name))
			return bs_op_usage(op, "--%s does not apply here", name);
		switch (c) {
		case OPT_TENANT: a->tenant = optarg; break;
		case OPT_POOL: a->pool = optarg; break;
		case OPT_PLAN: a->plan = optarg; break;
		case OPT_COMMITTED: a->committed = optarg; break;
		case OPT_BURST: a->burst = optarg; break;
		case OPT_FROM: a->from = optarg; break;
		case OPT_TO: a->to = optarg; break;
		case OPT_AT: a->at = optarg; break;
		case OPT_ALL: a->all = true; break;
		case OPT_FORCE: a->force = true; break;
		case OPT_JSON: op->json = true; break;
		case OPT_HELP: a->help = true; return 0;
		}
	}
	int rc = 0;
	if (a->tenant) rc = bs_op_parse_id(op, "--tenant", a->tenant, a->tenant_v);
	if (!rc && a->pool) rc = bs_op_parse_id(op, "--pool", a->pool, a->pool_v);
	if (!rc && a->plan) rc = bs_op_parse_id(op, "--plan", a->plan, a->plan_v);
	if (!rc && a->committed)
		rc = bs_op_parse_rate(op, "--committed", a->committed, a->committed_v);
	if (!rc && a->burst) rc = bs_op_parse_rate(op, "--burst", a->burst, a->burst_v);
	if (!rc && a->from) rc = bs_op_parse_time(op, "--from", a->from, a->from_v);
	if (!rc && a->to) rc = bs_op_parse_time(op, "--to", a->to, a->to_v);
	if (!rc && a->at) rc = bs_op_parse_time(op, "--at", a->at, a->at_v);
	return rc;
}

/* Prints the result; an allocation made over the guard is also reported
 * on stderr (the audit log has the row with its `forced` figures). */
static int finish(struct bs_op *op, PGresult *res, bool as_object)
{
	int rc = bs_op_close(op, true);
	bool changed = strstr(op->cmd, "add") || strstr(op->cmd, "change");
	if (rc == 0 && res != NULL) {
		int col = changed ? PQfnumber(res, "forced") : -1;
		for (int r = 0; col >= 0 && r < PQntuples(res); r++)
			if (!PQgetisnull(res, r, col))
				fprintf(stderr, "%s %s: warning: allocation %s %s\n",
					op->cli->prog, op->cmd, PQgetvalue(res, r, 0),
					PQgetvalue(res, r, col));
		bs_op_print(op, res, as_object);
	}
	PQclear(res);
	return rc;
}

static int add(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct alloc_args a;
	bs_op_init(&op, cli, "alloc add");
	int rc = parse(&op, argc, argv, "tenant pool plan committed burst from to "
		       "force", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit alloc add --tenant ID --pool ID --plan ID --committed RATE\n"
"                           [--burst RATE] [--from TIME] [--to TIME]\n"
"                           [--force] [--json]\n"
"\n"
"Allocates a tenant a committed rate (and a burst cap, default the\n"
"committed rate) on a pool, billed on a plan, from TIME (default now) to\n"
"TIME (default: open). RATE like 100M, 1G, 2.5Gbit. Refused (exit 1) if\n"
"the tenant already has an allocation on that pool then, if the pool is\n"
"not valid for the whole range, or if the pool's committed rates would sum\n"
"above capacity x limit at any instant (the message gives it). --force\n"
"allocates over the limit anyway: the allocation records the figures and\n"
"the audit log keeps it.\n");
		return BS_EXIT_OK;
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (!a.tenant || !a.pool || !a.plan || !a.committed)
		return bs_op_usage(&op, "--tenant, --pool, --plan and --committed are "
				   "required");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	if (a.force)
		bs_op_set_local(&op, "bandsplit.force", "on");
	const char *params[7] = { a.tenant_v, a.pool_v, a.plan_v, a.committed_v,
		a.burst ? a.burst_v : a.committed_v, a.from ? a.from_v : "now",
		a.to ? a.to_v : NULL };
	PGresult *res = bs_op_query(&op, "WITH x AS (INSERT INTO allocation"
		" (tenant_id, pool_id, plan_id, committed_bps, burst_bps, valid)"
		" VALUES ($1::bigint, $2::bigint, $3::bigint, $4::bigint, $5::bigint,"
		" tstzrange($6::timestamptz, $7::timestamptz)) RETURNING *)"
		" SELECT " ALLOC_COLS " FROM x", 7, params);
	return finish(&op, res, true);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct alloc_args a;
	bs_op_init(&op, cli, "alloc list");
	int rc = parse(&op, argc, argv, "tenant pool at all", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit alloc list [--tenant ID] [--pool ID] [--at TIME | --all]\n"
"                            [--json]\n"
"\n"
"Lists allocations in force at TIME, or (default) not ended yet, or all.\n");
		return BS_EXIT_OK;
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (a.at && a.all)
		return bs_op_usage(&op, "--at and --all exclude each other");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[4] = { a.tenant ? a.tenant_v : NULL,
		a.pool ? a.pool_v : NULL, a.at ? a.at_v : NULL, a.all ? "all" : NULL };
	PGresult *res = bs_op_query(&op, "SELECT " ALLOC_COLS " FROM allocation x"
		" WHERE ($1::bigint IS NULL OR x.tenant_id = $1::bigint)"
		" AND ($2::bigint IS NULL OR x.pool_id = $2::bigint) AND"
		" CASE WHEN $3::timestamptz IS NOT NULL THEN x.valid @> $3::timestamptz"
		"      WHEN $4::text IS NOT NULL THEN true"
		"      ELSE upper_inf(x.valid) OR upper(x.valid) > now() END"
		" ORDER BY x.pool_id, x.tenant_id, lower(x.valid)", 4, params);
	return finish(&op, res, false);
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct alloc_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "alloc show");
	int rc = parse(&op, argc, argv, "", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf("Usage: bandsplit alloc show ALLOC_ID [--json]\n\n"
		       "Shows one allocation.\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "ALLOC_ID", id)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[1] = { id };
	PGresult *res = bs_op_query_one(&op, "allocation", "SELECT " ALLOC_COLS
		" FROM allocation x WHERE x.alloc_id = $1::bigint", 1, params);
	return finish(&op, res, true);
}

static int change(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct alloc_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "alloc change");
	int rc = parse(&op, argc, argv, "plan committed burst at force", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit alloc change ALLOC_ID [--at TIME] [--committed RATE]\n"
"                              [--burst RATE] [--plan ID] [--force] [--json]\n"
"\n"
"Changes an allocation from TIME (default now): the allocation ends at\n"
"TIME and a new one (printed) carries on from there to its end with the\n"
"changes. An allocation that has not begun at TIME is changed in place.\n"
"The capacity guard applies to the new figures (--force as for add).\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "ALLOC_ID", id)) != 0)
		return rc;
	if (!a.committed && !a.burst && !a.plan)
		return bs_op_usage(&op, "nothing to change: give --committed, "
				   "--burst or --plan");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	if (a.force)
		bs_op_set_local(&op, "bandsplit.force", "on");
	const char *at = a.at ? a.at_v : "now";
	const char *params[2] = { id, at };
	PGresult *cur = bs_op_query_one(&op, "allocation in force at or after that "
		"time", "SELECT lower(valid) < $2::timestamptz, upper(valid)::text"
		" FROM allocation"
		" WHERE alloc_id = $1::bigint AND (upper_inf(valid)"
		" OR upper(valid) > $2::timestamptz) FOR UPDATE", 2, params);
	PGresult *res = NULL;
	if (cur != NULL) {
		bool split = PQgetvalue(cur, 0, 0)[0] == 't';
		const char *cp[6] = { id, at, a.committed ? a.committed_v : NULL,
			a.burst ? a.burst_v : NULL, a.plan ? a.plan_v : NULL, NULL };
		if (split) {
			cp[5] = PQgetisnull(cur, 0, 1) ? NULL : PQgetvalue(cur, 0, 1);
			PQclear(bs_op_query(&op, "UPDATE allocation SET valid ="
				" tstzrange(lower(valid), $2::timestamptz)"
				" WHERE alloc_id = $1::bigint", 2, params));
			res = bs_op_query(&op, "WITH x AS (INSERT INTO allocation"
				" (tenant_id, pool_id, plan_id, committed_bps, burst_bps,"
				"  valid) SELECT tenant_id, pool_id,"
				" coalesce($5::bigint, plan_id),"
				" coalesce($3::bigint, committed_bps)," NEW_BURST ","
				" tstzrange($2::timestamptz, $6::timestamptz)"
				" FROM allocation WHERE alloc_id = $1::bigint RETURNING *)"
				" SELECT " ALLOC_COLS " FROM x", 6, cp);
		} else {
			res = bs_op_query(&op, "WITH x AS (UPDATE allocation SET"
				" plan_id = coalesce($5::bigint, plan_id),"
				" committed_bps = coalesce($3::bigint, committed_bps),"
				" burst_bps =" NEW_BURST
				" WHERE alloc_id = $1::bigint"
				" AND $2::timestamptz IS NOT NULL RETURNING *)"
				" SELECT " ALLOC_COLS " FROM x", 5, cp);
		}
	}
	PQclear(cur);
	return finish(&op, res, true);
}

static int end(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct alloc_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "alloc end");
	int rc = parse(&op, argc, argv, "at", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit alloc end ALLOC_ID [--at TIME] [--json]\n"
"\n"
"Ends an allocation at TIME (default now).\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "ALLOC_ID", id)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[2] = { id, a.at ? a.at_v : "now" };
	PGresult *res = bs_op_query_one(&op, "allocation",
		"WITH x AS (UPDATE allocation SET valid = tstzrange(lower(valid),"
		" $2::timestamptz) WHERE alloc_id = $1::bigint RETURNING *)"
		" SELECT " ALLOC_COLS " FROM x", 2, params);
	return finish(&op, res, true);
}

static const struct bs_op_verb VERBS[] = {
	{ "add", "allocate a tenant a slice of a pool", add },
	{ "list", "list allocations", list },
	{ "show", "show one allocation", show },
	{ "change", "new figures from an instant (a new allocation)", change },
	{ "end", "end an allocation", end },
};

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	return bs_op_dispatch(cli, "alloc", "Allocations: a tenant's committed "
		"rate and burst cap on a pool, on a price plan, over time; guarded "
		"against the pool's capacity x limit.", VERBS,
		(int)(sizeof(VERBS) / sizeof(VERBS[0])), argc, argv);
}

const struct bs_cli_command bs_cmd_alloc = {
	.name = "alloc",
	.summary = "allocations of pools to tenants: add, list, show, change, end",
	.run = run,
};
