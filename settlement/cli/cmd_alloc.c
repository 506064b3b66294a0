/*
 * cmd_alloc.c — `bandsplit alloc add|list|show|change|end`: a tenant's
 * slice of a pool (committed rate, burst cap, plan) over time. The database
 * refuses overlapping allocations of one tenant on one pool and, unless
 * --force, any allocation that would push its pool over capacity × limit
 * at some instant (0011's capacity guard, which names the instant and the
 * figures). A change is a new allocation from an instant; the old one ends
 * there.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "verb.h"

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

struct alloc_args {
	const char *tenant, *pool, *plan, *committed, *burst, *from, *to, *at;
	bool all, force;
	char tenant_v[BS_OP_VALUE_MAX], pool_v[BS_OP_VALUE_MAX];
	char plan_v[BS_OP_VALUE_MAX], committed_v[BS_OP_VALUE_MAX];
	char burst_v[BS_OP_VALUE_MAX], from_v[BS_OP_VALUE_MAX];
	char to_v[BS_OP_VALUE_MAX], at_v[BS_OP_VALUE_MAX];
};

#define A(field) offsetof(struct alloc_args, field)
static const struct bs_verb_opt OPTS[] = {
	{ "tenant", BS_OPT_ID, A(tenant), A(tenant_v) },
	{ "pool", BS_OPT_ID, A(pool), A(pool_v) },
	{ "plan", BS_OPT_ID, A(plan), A(plan_v) },
	{ "committed", BS_OPT_RATE, A(committed), A(committed_v) },
	{ "burst", BS_OPT_RATE, A(burst), A(burst_v) },
	{ "from", BS_OPT_TIME, A(from), A(from_v) },
	{ "to", BS_OPT_TIME, A(to), A(to_v) },
	{ "at", BS_OPT_TIME, A(at), A(at_v) },
	{ "all", BS_OPT_FLAG, A(all) },
	{ "force", BS_OPT_FLAG, A(force) },
};
#undef A

static const struct bs_object ALLOC = {
	"alloc", OPTS, sizeof(OPTS) / sizeof(OPTS[0]), sizeof(struct alloc_args),
	NULL,
};

/* bs_verb_finish for add and change: an allocation made over the guard is
 * also reported on stderr (the audit log has the row with its `forced`
 * figures). */
static int finish_warning_forced(struct bs_op *op, PGresult *res)
{
	if (bs_op_close(op, true) == 0 && res != NULL) {
		int col = PQfnumber(res, "forced");
		for (int r = 0; col >= 0 && r < PQntuples(res); r++)
			if (!PQgetisnull(res, r, col))
				fprintf(stderr, "%s %s: warning: allocation %s %s\n",
					op->cli->prog, op->cmd, PQgetvalue(res, r, 0),
					PQgetvalue(res, r, col));
	}
	return bs_verb_finish(op, res, true);   /* closed already: prints */
}

static int add(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "add",
		"tenant pool plan committed burst from to force", NULL,
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
"the audit log keeps it.\n",
		.required = "tenant pool plan committed",
		.required_msg = "--tenant, --pool, --plan and --committed are required" };

	struct bs_op op;
	struct alloc_args a;
	int rc = bs_verb_start(&op, cli, &ALLOC, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
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
	return finish_warning_forced(&op, res);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "list", "tenant pool at all", NULL,
"Usage: bandsplit alloc list [--tenant ID] [--pool ID] [--at TIME | --all]\n"
"                            [--json]\n"
"\n"
"Lists allocations in force at TIME, or (default) not ended yet, or all.\n" };
	static const char *const filters[] = { "tenant", "pool", NULL };
	return bs_verb_list(cli, argc, argv, &ALLOC, &verb, filters,
		"SELECT " ALLOC_COLS " FROM allocation x"
		" WHERE ($1::bigint IS NULL OR x.tenant_id = $1::bigint)"
		" AND ($2::bigint IS NULL OR x.pool_id = $2::bigint) AND"
		BS_IN_FORCE("x", 3, 4)
		" ORDER BY x.pool_id, x.tenant_id, lower(x.valid)");
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "show", "", "ALLOC_ID",
"Usage: bandsplit alloc show ALLOC_ID [--json]\n\n"
"Shows one allocation.\n" };
	return bs_verb_show(cli, argc, argv, &ALLOC, &verb, "allocation",
		"SELECT " ALLOC_COLS
		" FROM allocation x WHERE x.alloc_id = $1::bigint");
}

static int change(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "change",
		"plan committed burst at force", "ALLOC_ID",
"Usage: bandsplit alloc change ALLOC_ID [--at TIME] [--committed RATE]\n"
"                              [--burst RATE] [--plan ID] [--force] [--json]\n"
"\n"
"Changes an allocation from TIME (default now): the allocation ends at\n"
"TIME and a new one (printed) carries on from there to its end with the\n"
"changes. An allocation that has not begun at TIME is changed in place.\n"
"The capacity guard applies to the new figures (--force as for add). A\n"
"TIME in the past rewrites history: it needs --force too (audited).\n",
		.some_of = "committed burst plan",
		.some_of_msg = "nothing to change: give --committed, --burst or --plan" };

	struct bs_op op;
	struct alloc_args a;
	char id[BS_OP_VALUE_MAX];
	int rc = bs_verb_start(&op, cli, &ALLOC, &verb, argc, argv, &a, id);
	if (rc != BS_VERB_GO)
		return rc;
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
	return finish_warning_forced(&op, res);
}

static int end(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "end", "at force purge", "ALLOC_ID",
"Usage: bandsplit alloc end ALLOC_ID [--at TIME] [--force] [--purge] [--json]\n"
"\n"
"Ends an allocation at TIME (default now). A TIME in the past needs\n"
"--force (audited); an allocation that has not taken effect yet and starts\n"
"at or after TIME is removed only with --purge (audited). History is never\n"
"deleted.\n" };
	return bs_verb_end(cli, argc, argv, &ALLOC, &verb, "allocation",
		"WITH x AS (UPDATE allocation SET valid = tstzrange(lower(valid),"
		" $2::timestamptz) WHERE alloc_id = $1::bigint RETURNING *)"
		" SELECT " ALLOC_COLS " FROM x",
		"WITH x AS (DELETE FROM allocation WHERE alloc_id = $1::bigint"
		" AND lower(valid) >= $2::timestamptz RETURNING *)"
		" SELECT " ALLOC_COLS " FROM x");
}

static const struct bs_op_verb VERBS[] = {
	{ "add", "allocate a tenant a slice of a pool", add },
	{ "list", "list allocations", list },
	{ "show", "show one allocation", show },
	{ "change", "new figures from an instant (a new allocation)", change },
	{ "end", "end an allocation", end },
};

const struct bs_cli_command bs_cmd_alloc = {
	.name = "alloc",
	.summary = "allocations of pools to tenants: add, list, show, change, end",
	.description = "Allocations: a tenant's committed "
		"rate and burst cap on a pool, on a price plan, over time; guarded "
		"against the pool's capacity x limit.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
