/*
 * cmd_pool.c — `bandsplit pool add|list|show|change|end`: the carriers'
 * bulk contracts the park bought (capacity, validity, cost model, and the
 * oversubscription limit the capacity guard enforces).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

#define POOL_COLS \
	"p.pool_id AS id, p.carrier, p.name, bs_mbps(p.capacity_bps) AS capacity_mbps," \
	" trim_scale(p.oversub_limit)::text AS oversub_limit," \
	" bs_iso(lower(p.valid)) AS valid_from, bs_iso(upper(p.valid)) AS valid_to," \
	" p.cost_model, bs_yuan(p.monthly_fee_fen) AS monthly_fee," \
	" bs_yuan(p.price_fen_per_mbps) AS price_per_mbps," \
	" bs_mbps(p.commit_floor_bps) AS commit_floor_mbps, p.currency"

#define LIMIT_SCALE 4                    /* numeric(8,4) */
#define LIMIT_MAX_SCALED 1000000ULL      /* 100.0000 */

enum { OPT_ID = 256, OPT_CARRIER, OPT_NAME, OPT_CAPACITY, OPT_LIMIT, OPT_FROM,
       OPT_TO, OPT_FLAT_FEE, OPT_P95_PRICE, OPT_FLOOR, OPT_CURRENCY, OPT_AT,
       OPT_ALL, OPT_FORCE, OPT_JSON, OPT_HELP };

static const struct option OPTIONS[] = {
	{ "id", required_argument, NULL, OPT_ID },
	{ "carrier", required_argument, NULL, OPT_CARRIER },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "capacity", required_argument, NULL, OPT_CAPACITY },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "flat-fee", required_argument, NULL, OPT_FLAT_FEE },
	{ "p95-price", required_argument, NULL, OPT_P95_PRICE },
	{ "commit-floor", required_argument, NULL, OPT_FLOOR },
	{ "currency", required_argument, NULL, OPT_CURRENCY },
	{ "at", required_argument, NULL, OPT_AT },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct pool_args {
	const char *id, *carrier, *name, *capacity, *limit, *from, *to;
	const char *flat_fee, *p95_price, *floor, *currency, *at;
	bool all, force, help;
	char id_v[BS_OP_VALUE_MAX], capacity_v[BS_OP_VALUE_MAX];
	char limit_v[BS_OP_VALUE_MAX], from_v[BS_OP_VALUE_MAX];
	char to_v[BS_OP_VALUE_MAX], flat_fee_v[BS_OP_VALUE_MAX];
	char p95_price_v[BS_OP_VALUE_MAX], floor_v[BS_OP_VALUE_MAX];
	char at_v[BS_OP_VALUE_MAX];
};

static int parse_limit(const struct bs_op *op, const char *v, char *out)
{
	uint64_t scaled;
	char err[128];
	if (bs_parse_decimal(v, LIMIT_SCALE, LIMIT_MAX_SCALED, &scaled, err,
			     sizeof(err)) < 0)
		return bs_op_usage(op, "--limit '%s': %s (a ratio like 1.2, above "
				   "0, at most 100, 4 decimals)", v, err);
	snprintf(out, BS_OP_VALUE_MAX, "%llu.%04llu",
		 (unsigned long long)(scaled / 10000),
		 (unsigned long long)(scaled % 10000));
	return 0;
}

static int parse_currency(const struct bs_op *op, const char *v)
{
	bool ok = strlen(v) == 3;
	for (const char *p = v; ok && *p; p++)
		ok = *p >= 'A' && *p <= 'Z';
	return ok ? 0 : bs_op_usage(op, "--currency '%s': an ISO 4217 code "
				    "like CNY", v);
}

/* Every verb shares one option table and refuses the options not among
 * its `allowed` words. Returns 0 or an exit code. */
static int parse(struct bs_op *op, int argc, char **argv, const char *allowed,
		 struct pool_args *a)
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
		case OPT_ID: a->id = optarg; break;
		case OPT_CARRIER: a->carrier = optarg; break;
		case OPT_NAME: a->name = optarg; break;
		case OPT_CAPACITY: a->capacity = optarg; break;
		case OPT_LIMIT: a->limit = optarg; break;
		case OPT_FROM: a->from = optarg; break;
		case OPT_TO: a->to = optarg; break;
		case OPT_FLAT_FEE: a->flat_fee = optarg; break;
		case OPT_P95_PRICE: a->p95_price = optarg; break;
		case OPT_FLOOR: a->floor = optarg; break;
		case OPT_CURRENCY: a->currency = optarg; break;
		case OPT_AT: a->at = optarg; break;
		case OPT_ALL: a->all = true; break;
		case OPT_FORCE: a->force = true; break;
		case OPT_JSON: op->json = true; break;
		case OPT_HELP: a->help = true; return 0;
		}
	}
	int rc = 0;
	if (a->id) rc = bs_op_parse_id(op, "--id", a->id, a->id_v);
	if (!rc && a->carrier) rc = bs_op_parse_text(op, "--carrier", a->carrier, 100);
	if (!rc && a->name) rc = bs_op_parse_text(op, "--name", a->name, 100);
	if (!rc && a->capacity)
		rc = bs_op_parse_rate(op, "--capacity", a->capacity, a->capacity_v);
	if (!rc && a->limit) rc = parse_limit(op, a->limit, a->limit_v);
	if (!rc && a->from) rc = bs_op_parse_time(op, "--from", a->from, a->from_v);
	if (!rc && a->to) rc = bs_op_parse_time(op, "--to", a->to, a->to_v);
	if (!rc && a->flat_fee)
		rc = bs_op_parse_money(op, "--flat-fee", a->flat_fee, a->flat_fee_v);
	if (!rc && a->p95_price)
		rc = bs_op_parse_money(op, "--p95-price", a->p95_price, a->p95_price_v);
	if (!rc && a->floor) {
		if (strcmp(a->floor, "0") == 0)
			snprintf(a->floor_v, sizeof(a->floor_v), "0");
		else
			rc = bs_op_parse_rate(op, "--commit-floor", a->floor, a->floor_v);
	}
	if (!rc && a->currency) rc = parse_currency(op, a->currency);
	if (!rc && a->at) rc = bs_op_parse_time(op, "--at", a->at, a->at_v);
	if (!rc && a->flat_fee && (a->p95_price || a->floor))
		rc = bs_op_usage(op, "--flat-fee excludes --p95-price and "
				 "--commit-floor (a pool is flat or p95)");
	return rc;
}

static int finish(struct bs_op *op, PGresult *res, bool as_object)
{
	int rc = bs_op_close(op, true);
	if (rc == 0 && res != NULL)
		bs_op_print(op, res, as_object);
	PQclear(res);
	return rc;
}

static int add(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct pool_args a;
	bs_op_init(&op, cli, "pool add");
	int rc = parse(&op, argc, argv, "id carrier name capacity limit from to "
		       "flat-fee p95-price commit-floor currency", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
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
"the park's time zone unless they carry an offset.\n");
		return BS_EXIT_OK;
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (!a.carrier || !a.name || !a.capacity)
		return bs_op_usage(&op, "--carrier, --name and --capacity are required");
	if (!a.flat_fee && !a.p95_price)
		return bs_op_usage(&op, "a cost model is required: --flat-fee or "
				   "--p95-price");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
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
	return finish(&op, res, true);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct pool_args a;
	bs_op_init(&op, cli, "pool list");
	int rc = parse(&op, argc, argv, "at all", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit pool list [--at TIME | --all] [--json]\n"
"\n"
"Lists the pools valid at TIME, or (default) those not ended yet, or all.\n");
		return BS_EXIT_OK;
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (a.at && a.all)
		return bs_op_usage(&op, "--at and --all exclude each other");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[2] = { a.at ? a.at_v : NULL, a.all ? "all" : NULL };
	PGresult *res = bs_op_query(&op, "SELECT " POOL_COLS " FROM pool p"
		" WHERE CASE WHEN $1::timestamptz IS NOT NULL THEN p.valid @> $1::timestamptz"
		"            WHEN $2::text IS NOT NULL THEN true"
		"            ELSE upper_inf(p.valid) OR upper(p.valid) > now() END"
		" ORDER BY p.pool_id", 2, params);
	return finish(&op, res, false);
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct pool_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "pool show");
	int rc = parse(&op, argc, argv, "", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf("Usage: bandsplit pool show POOL_ID [--json]\n\n"
		       "Shows one pool ('bandsplit capacity' shows its load).\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "POOL_ID", id)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[1] = { id };
	PGresult *res = bs_op_query_one(&op, "pool", "SELECT " POOL_COLS
		" FROM pool p WHERE p.pool_id = $1::bigint", 1, params);
	return finish(&op, res, true);
}

static int change(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct pool_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "pool change");
	int rc = parse(&op, argc, argv, "carrier name capacity limit to flat-fee "
		       "p95-price commit-floor force", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
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
"its figures.\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "POOL_ID", id)) != 0)
		return rc;
	if (!a.carrier && !a.name && !a.capacity && !a.limit && !a.to &&
	    !a.flat_fee && !a.p95_price && !a.floor)
		return bs_op_usage(&op, "nothing to change");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	if (a.force)
		bs_op_set_local(&op, "bandsplit.force", "on");
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
	return finish(&op, res, true);
}

static int end(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct pool_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "pool end");
	int rc = parse(&op, argc, argv, "at", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit pool end POOL_ID [--at TIME] [--json]\n"
"\n"
"Ends a pool's validity at TIME (default now). Refused while allocations\n"
"on it run past TIME: end or move them first.\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "POOL_ID", id)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[2] = { id, a.at ? a.at_v : "now" };
	PGresult *res = bs_op_query_one(&op, "pool",
		"WITH p AS (UPDATE pool SET valid = tstzrange(lower(valid),"
		" $2::timestamptz) WHERE pool_id = $1::bigint RETURNING *)"
		" SELECT " POOL_COLS " FROM p", 2, params);
	return finish(&op, res, true);
}

static const struct bs_op_verb VERBS[] = {
	{ "add", "add a carrier's bulk contract", add },
	{ "list", "list pools", list },
	{ "show", "show one pool", show },
	{ "change", "change a pool (capacity, limit, fees, name, end)", change },
	{ "end", "end a pool's validity", end },
};

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	return bs_op_dispatch(cli, "pool", "Pools: the carriers' bulk contracts "
		"the park bought, and their oversubscription limit.", VERBS,
		(int)(sizeof(VERBS) / sizeof(VERBS[0])), argc, argv);
}

const struct bs_cli_command bs_cmd_pool = {
	.name = "pool",
	.summary = "carriers' bulk contracts: add, list, show, change, end",
	.run = run,
};
