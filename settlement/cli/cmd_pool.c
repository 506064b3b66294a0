/*
 * cmd_pool.c — `bandsplit pool add|list|show|change|end`: the carriers'
 * bulk contracts the park bought (capacity, validity, cost model, and the
 * oversubscription limit the capacity guard enforces).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "verb.h"

#define POOL_COLS \
	"p.pool_id AS id, p.carrier, p.name, bs_mbps(p.capacity_bps) AS capacity_mbps," \
	" trim_scale(p.oversub_limit)::text AS oversub_limit," \
	" bs_iso(lower(p.valid)) AS valid_from, bs_iso(upper(p.valid)) AS valid_to," \
	" p.cost_model, bs_yuan(p.monthly_fee_fen) AS monthly_fee," \
	" bs_yuan(p.price_fen_per_mbps) AS price_per_mbps," \
	" bs_mbps(p.commit_floor_bps) AS commit_floor_mbps, p.currency"

#define LIMIT_SCALE 4                    /* numeric(8,4) */
#define LIMIT_MAX_SCALED 1000000ULL      /* 100.0000 */

struct pool_args {
	const char *id, *carrier, *name, *capacity, *limit, *from, *to;
	const char *flat_fee, *p95_price, *floor, *currency, *at;
	bool all, force;
	char id_v[BS_OP_VALUE_MAX], capacity_v[BS_OP_VALUE_MAX];
	char limit_v[BS_OP_VALUE_MAX], from_v[BS_OP_VALUE_MAX];
	char to_v[BS_OP_VALUE_MAX], flat_fee_v[BS_OP_VALUE_MAX];
	char p95_price_v[BS_OP_VALUE_MAX], floor_v[BS_OP_VALUE_MAX];
	char at_v[BS_OP_VALUE_MAX];
};

static int check_limit(const struct bs_op *op, void *args)
{
	struct pool_args *a = args;
	uint64_t scaled;
	char err[128];
	if (bs_parse_decimal(a->limit, LIMIT_SCALE, LIMIT_MAX_SCALED, &scaled,
			     err, sizeof(err)) < 0)
		return bs_op_usage(op, "--limit '%s': %s (a ratio like 1.2, above "
				   "0, at most 100, 4 decimals)", a->limit, err);
	snprintf(a->limit_v, sizeof(a->limit_v), "%llu.%04llu",
		 (unsigned long long)(scaled / 10000),
		 (unsigned long long)(scaled % 10000));
	return 0;
}

/* A floor of "0" needs no unit. */
static int check_floor(const struct bs_op *op, void *args)
{
	struct pool_args *a = args;
	if (strcmp(a->floor, "0") == 0) {
		snprintf(a->floor_v, sizeof(a->floor_v), "0");
		return 0;
	}
	return bs_op_parse_rate(op, "--commit-floor", a->floor, a->floor_v);
}

static int check_cost_model(const struct bs_op *op, void *args)
{
	const struct pool_args *a = args;
	if (a->flat_fee && (a->p95_price || a->floor))
		return bs_op_usage(op, "--flat-fee excludes --p95-price and "
				   "--commit-floor (a pool is flat or p95)");
	return 0;
}

#define A(field) offsetof(struct pool_args, field)
static const struct bs_verb_opt OPTS[] = {
	{ "id", BS_OPT_ID, A(id), A(id_v) },
	{ "carrier", BS_OPT_TEXT, A(carrier), .max = 100 },
	{ "name", BS_OPT_TEXT, A(name), .max = 100 },
	{ "capacity", BS_OPT_RATE, A(capacity), A(capacity_v) },
	{ "limit", BS_OPT_TEXT, A(limit), .check = check_limit },
	{ "from", BS_OPT_TIME, A(from), A(from_v) },
	{ "to", BS_OPT_TIME, A(to), A(to_v) },
	{ "flat-fee", BS_OPT_MONEY, A(flat_fee), A(flat_fee_v) },
	{ "p95-price", BS_OPT_MONEY, A(p95_price), A(p95_price_v) },
	{ "commit-floor", BS_OPT_TEXT, A(floor), .check = check_floor },
	{ "currency", BS_OPT_CURRENCY, A(currency) },
	{ "at", BS_OPT_TIME, A(at), A(at_v) },
	{ "all", BS_OPT_FLAG, A(all) },
	{ "force", BS_OPT_FLAG, A(force) },
};
#undef A

static const struct bs_object POOL = {
	"pool", OPTS, sizeof(OPTS) / sizeof(OPTS[0]), sizeof(struct pool_args),
	check_cost_model,
};

static int add(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "add",
		"id carrier name capacity limit from to flat-fee p95-price commit-floor "
		"currency", NULL,
"Usage: bandsplit pool add --carrier NAME --name NAME --capacity RATE\n"
"                          (--flat-fee YUAN | --p95-price YUAN\n"
"                           [--commit-floor RATE])\n"
"                          [--id ID] [--limit RATIO] [--from TIME] [--to TIME]\n"
"                          [--currency CNY] [--json]\n"
"\n"
"Adds a carrier's bulk contract. ID (1..4294967295) is the pool id the\n"
"dataplane's port configuration names (default: the next after the\n"
"highest). RATE like 10G, 2.5Gbit, 800M. The cost model is a flat monthly\n"
"fee, or a price per Mbps of the pool's 95th percentile with a committed\n"
"floor (default 0). RATIO is the oversubscription limit (default 1):\n"
"allocations' committed rates may sum to capacity x RATIO at most. Valid\n"
"from TIME (default now) to TIME (default: open). Times are ISO 8601, in\n"
"the park's time zone unless they carry an offset.\n",
		.required = "carrier name capacity",
		.required_msg = "--carrier, --name and --capacity are required",
		.some_of = "flat-fee p95-price",
		.some_of_msg = "a cost model is required: --flat-fee or --p95-price" };

	struct bs_op op;
	struct pool_args a;
	int rc = bs_verb_start(&op, cli, &POOL, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	if (a.id == NULL)
		PQclear(bs_op_query(&op, "LOCK TABLE pool IN SHARE ROW EXCLUSIVE MODE",
				    0, NULL));
	const char *params[12] = {
		a.id ? a.id_v : NULL, a.carrier, a.name, a.capacity_v,
		a.from ? a.from_v : "now", a.to ? a.to_v : NULL,
		a.flat_fee ? "flat" : "p95", a.flat_fee ? a.flat_fee_v : NULL,
		a.p95_price ? a.p95_price_v : NULL,
		a.p95_price ? (a.floor ? a.floor_v : "0") : NULL,
		a.limit ? a.limit_v : "1", a.currency ? a.currency : "CNY",
	};
	PGresult *res = bs_op_query(&op,
		"WITH p AS (INSERT INTO pool (pool_id, carrier, name, capacity_bps,"
		" valid, cost_model, monthly_fee_fen, price_fen_per_mbps,"
		" commit_floor_bps, oversub_limit, currency) VALUES"
		" (coalesce($1::bigint, (SELECT coalesce(max(pool_id), 0) + 1 FROM pool)),"
		"  $2, $3, $4::bigint, tstzrange($5::timestamptz, $6::timestamptz),"
		"  $7, $8::bigint, $9::bigint, $10::bigint, $11::numeric, $12)"
		" RETURNING *) SELECT " POOL_COLS " FROM p", 12, params);
	return bs_verb_finish(&op, res, true);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "list", "at all", NULL,
"Usage: bandsplit pool list [--at TIME | --all] [--json]\n"
"\n"
"Lists the pools valid at TIME, or (default) those not ended yet, or all.\n" };
	static const char *const filters[] = { NULL };
	return bs_verb_list(cli, argc, argv, &POOL, &verb, filters,
		"SELECT " POOL_COLS " FROM pool p WHERE" BS_IN_FORCE("p", 1, 2)
		" ORDER BY p.pool_id");
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "show", "", "POOL_ID",
"Usage: bandsplit pool show POOL_ID [--json]\n\n"
"Shows one pool ('bandsplit capacity' shows its load).\n" };
	return bs_verb_show(cli, argc, argv, &POOL, &verb, "pool",
		"SELECT " POOL_COLS " FROM pool p WHERE p.pool_id = $1::bigint");
}

static int change(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "change",
		"carrier name capacity limit to flat-fee p95-price commit-floor force",
		"POOL_ID",
"Usage: bandsplit pool change POOL_ID [--carrier NAME] [--name NAME]\n"
"                             [--capacity RATE] [--limit RATIO]\n"
"                             [--flat-fee YUAN | --p95-price YUAN\n"
"                              --commit-floor RATE] [--to TIME] [--force]\n"
"                             [--json]\n"
"\n"
"Changes a pool in place (the audit log keeps the old values). Lowering\n"
"the capacity or the limit below what is allocated is refused unless\n"
"--force (recorded in the audit log). --to moves the end of validity;\n"
"allocations must stay inside it. Switching the cost model needs all of\n"
"its figures.\n",
		.some_of = "carrier name capacity limit to flat-fee p95-price commit-floor",
		.some_of_msg = "nothing to change" };

	struct bs_op op;
	struct pool_args a;
	char id[BS_OP_VALUE_MAX];
	int rc = bs_verb_start(&op, cli, &POOL, &verb, argc, argv, &a, id);
	if (rc != BS_VERB_GO)
		return rc;
	/* The pool's capacity lock before its row (the guard takes the lock
	 * after the row lock; allocations take it before the pool row's key
	 * share lock): one order, so concurrent allocations and pool changes
	 * queue rather than deadlock. */
	const char *lock[1] = { id };
	PQclear(bs_op_query(&op, "SELECT bs_pool_lock($1::bigint)", 1, lock));
	const char *model = a.flat_fee ? "flat" : a.p95_price ? "p95" : NULL;
	const char *params[9] = {
		id, a.carrier, a.name, a.capacity ? a.capacity_v : NULL,
		a.limit ? a.limit_v : NULL, a.to ? a.to_v : NULL, model,
		a.flat_fee ? a.flat_fee_v : a.p95_price ? a.p95_price_v : NULL,
		a.floor ? a.floor_v : NULL,
	};
	PGresult *res = bs_op_query_one(&op, "pool",
		"WITH p AS (UPDATE pool SET carrier = coalesce($2, carrier),"
		" name = coalesce($3, name),"
		" capacity_bps = coalesce($4::bigint, capacity_bps),"
		" oversub_limit = coalesce($5::numeric, oversub_limit),"
		" valid = CASE WHEN $6::timestamptz IS NULL THEN valid"
		"         ELSE tstzrange(lower(valid), $6::timestamptz) END,"
		" cost_model = coalesce($7, cost_model),"
		" monthly_fee_fen = CASE coalesce($7, cost_model) WHEN 'flat'"
		"   THEN coalesce(CASE WHEN $7 = 'flat' THEN $8::bigint END,"
		"                 monthly_fee_fen) END,"
		" price_fen_per_mbps = CASE coalesce($7, cost_model) WHEN 'p95'"
		"   THEN coalesce(CASE WHEN $7 = 'p95' THEN $8::bigint END,"
		"                 price_fen_per_mbps) END,"
		" commit_floor_bps = CASE coalesce($7, cost_model) WHEN 'p95'"
		"   THEN coalesce($9::bigint, commit_floor_bps, 0) END"
		" WHERE pool_id = $1::bigint RETURNING *)"
		" SELECT " POOL_COLS " FROM p", 9, params);
	return bs_verb_finish(&op, res, true);
}

static int end(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "end", "at force", "POOL_ID",
"Usage: bandsplit pool end POOL_ID [--at TIME] [--force] [--json]\n"
"\n"
"Ends a pool's validity at TIME (default now). Refused while allocations\n"
"on it run past TIME: end or move them first. A TIME in the past needs\n"
"--force (audited).\n" };
	return bs_verb_end(cli, argc, argv, &POOL, &verb, "pool",
		"WITH p AS (UPDATE pool SET valid = tstzrange(lower(valid),"
		" $2::timestamptz) WHERE pool_id = $1::bigint RETURNING *)"
		" SELECT " POOL_COLS " FROM p", NULL);
}

static const struct bs_op_verb VERBS[] = {
	{ "add", "add a carrier's bulk contract", add },
	{ "list", "list pools", list },
	{ "show", "show one pool", show },
	{ "change", "change a pool (capacity, limit, fees, name, end)", change },
	{ "end", "end a pool's validity", end },
};

const struct bs_cli_command bs_cmd_pool = {
	.name = "pool",
	.summary = "carriers' bulk contracts: add, list, show, change, end",
	.description = "Pools: the carriers' bulk contracts "
		"the park bought, and their oversubscription limit.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
