/*
 * cmd_plan.c — `bandsplit plan add|list|show|change|end`: price plans
 * (flat, burstable95, volume) and their versions. A price change is a new
 * version from an instant: the version in force ends there, so invoices of
 * earlier periods keep the version they were rated with.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "verb.h"

/* Versions (v) of plans (pl); v's columns are NULL for a plan without one. */
#define VERSION_COLS \
	"pl.plan_id AS id, pl.name, pl.kind, v.version," \
	" bs_iso(lower(v.valid)) AS valid_from, bs_iso(upper(v.valid)) AS valid_to," \
	" v.direction, trim_scale(v.vat_bp / 100.0)::text || '%' AS vat," \
	" bs_yuan(v.price_fen_per_mbps) AS price_per_mbps," \
	" bs_yuan(v.overage_fen_per_mbps) AS overage_per_mbps," \
	" (SELECT string_agg(t.f || 'GB:' || bs_yuan(t.p), ' ' ORDER BY t.i)" \
	"    FROM unnest(v.tier_from_gb, v.tier_fen_per_gb) WITH ORDINALITY" \
	"    AS t(f, p, i)) AS tiers_per_gb, pl.currency"

#define MAX_TIERS 32
#define TIER_GB_MAX 1000000000ULL    /* 10^9 GB = 1 EB */

static const char *const KINDS[] = { "flat", "burstable95", "volume", NULL };
static const char *const DIRECTIONS[] = { "max", "in", "out", "sum", NULL };

struct plan_args {
	const char *id, *name, *kind, *from, *direction, *vat, *currency;
	const char *price, *overage, *at;
	bool force;
	const char *tier[MAX_TIERS];
	int ntier;
	char id_v[BS_OP_VALUE_MAX], from_v[BS_OP_VALUE_MAX];
	char vat_v[BS_OP_VALUE_MAX], price_v[BS_OP_VALUE_MAX];
	char overage_v[BS_OP_VALUE_MAX], at_v[BS_OP_VALUE_MAX];
	char tier_from[MAX_TIERS * 24 + 4];   /* "{0,1000}" */
	char tier_fen[MAX_TIERS * 24 + 4];
};

/* "FROM_GB:YUAN" tiers → two array literals, ascending from 0. */
static int parse_tiers(const struct bs_op *op, void *args)
{
	struct plan_args *a = args;
	size_t nf = 0, np = 0;
	uint64_t prev = 0;
	a->tier_from[nf++] = '{';
	a->tier_fen[np++] = '{';
	for (int i = 0; i < a->ntier; i++) {
		const char *t = a->tier[i];
		const char *colon = strchr(t, ':');
		char gb_text[32], err[128];
		uint64_t gb;
		int64_t fen;
		if (colon == NULL || (size_t)(colon - t) >= sizeof(gb_text))
			return bs_op_usage(op, "--tier '%s': expected FROM_GB:YUAN "
					   "like 0:0.50 or 1000:0.40", t);
		memcpy(gb_text, t, (size_t)(colon - t));
		gb_text[colon - t] = '\0';
		if (bs_parse_uint(gb_text, 0, TIER_GB_MAX, &gb, err, sizeof(err)) < 0)
			return bs_op_usage(op, "--tier '%s': from GB '%s': %s", t,
					   gb_text, err);
		if (bs_parse_money(colon + 1, &fen, err, sizeof(err)) < 0)
			return bs_op_usage(op, "--tier '%s': price '%s': %s", t,
					   colon + 1, err);
		if (i == 0 && gb != 0)
			return bs_op_usage(op, "--tier '%s': the first tier must start "
					   "at 0 GB", t);
		if (i > 0 && gb <= prev)
			return bs_op_usage(op, "--tier '%s': tiers must be given in "
					   "ascending order of their first GB", t);
		prev = gb;
		nf += (size_t)snprintf(a->tier_from + nf, sizeof(a->tier_from) - nf,
				       "%s%llu", i ? "," : "", (unsigned long long)gb);
		np += (size_t)snprintf(a->tier_fen + np, sizeof(a->tier_fen) - np,
				       "%s%lld", i ? "," : "", (long long)fen);
	}
	snprintf(a->tier_from + nf, sizeof(a->tier_from) - nf, "}");
	snprintf(a->tier_fen + np, sizeof(a->tier_fen) - np, "}");
	return 0;
}

#define A(field) offsetof(struct plan_args, field)
static const struct bs_verb_opt OPTS[] = {
	{ "id", BS_OPT_ID, A(id), A(id_v) },
	{ "name", BS_OPT_TEXT, A(name), .max = 100 },
	{ "kind", BS_OPT_CHOICE, A(kind), .choices = KINDS },
	{ "from", BS_OPT_TIME, A(from), A(from_v) },
	{ "direction", BS_OPT_CHOICE, A(direction), .choices = DIRECTIONS },
	{ "vat", BS_OPT_PERCENT, A(vat), A(vat_v) },
	{ "currency", BS_OPT_CURRENCY, A(currency) },
	{ "price", BS_OPT_MONEY, A(price), A(price_v) },
	{ "overage", BS_OPT_MONEY, A(overage), A(overage_v) },
	{ "tier", BS_OPT_LIST, A(tier), A(ntier), MAX_TIERS,
	  .too_many = "at most " BS_STR(MAX_TIERS) " --tier", .check = parse_tiers },
	{ "at", BS_OPT_TIME, A(at), A(at_v) },
	{ "force", BS_OPT_FLAG, A(force) },
};
#undef A

static const struct bs_object PLAN = {
	"plan", OPTS, sizeof(OPTS) / sizeof(OPTS[0]), sizeof(struct plan_args),
	NULL,
};

/* The prices a kind needs and refuses. */
static int check_kind(const struct bs_op *op, const char *kind,
		      const struct plan_args *a, bool all_required)
{
	bool flat = strcmp(kind, "flat") == 0;
	bool b95 = strcmp(kind, "burstable95") == 0;
	bool vol = strcmp(kind, "volume") == 0;
	if (vol && (a->price || a->overage))
		return bs_op_usage(op, "a volume plan is priced by --tier, not "
				   "--price or --overage");
	if (flat && (a->overage || a->ntier))
		return bs_op_usage(op, "a flat plan takes --price only (no "
				   "--overage, no --tier)");
	if (b95 && a->ntier)
		return bs_op_usage(op, "a burstable95 plan takes --price and "
				   "--overage, not --tier");
	if (!all_required)
		return 0;
	if ((flat || b95) && !a->price)
		return bs_op_usage(op, "--price is required for a %s plan (yuan per "
				   "committed Mbps-month)", kind);
	if (b95 && !a->overage)
		return bs_op_usage(op, "--overage is required for a burstable95 "
				   "plan (yuan per Mbps-month above the commit)");
	if (vol && !a->ntier)
		return bs_op_usage(op, "--tier is required for a volume plan "
				   "(FROM_GB:YUAN per GB, from 0)");
	return 0;
}

static PGresult *select_version(struct bs_op *op, const char *plan_id,
				const char *version)
{
	const char *params[2] = { plan_id, version };
	return bs_op_query(op, "SELECT " VERSION_COLS " FROM plan_version v"
		" JOIN plan pl USING (plan_id) WHERE v.plan_id = $1::bigint"
		" AND v.version = $2::integer", 2, params);
}

/* add: the prices its kind needs, and none it refuses */
static int check_add(const struct bs_op *op, void *args)
{
	const struct plan_args *a = args;
	return check_kind(op, a->kind, a, true);
}

static int add(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "add",
		"id name kind from direction vat currency price overage tier", NULL,
"Usage: bandsplit plan add --name NAME --kind flat|burstable95|volume\n"
"                          [--price YUAN] [--overage YUAN]\n"
"                          [--tier FROM_GB:YUAN ...] [--id ID]\n"
"                          [--direction max|in|out|sum] [--vat PERCENT]\n"
"                          [--from TIME] [--currency CNY] [--json]\n"
"\n"
"Adds a price plan and its version 1, in force from TIME (default now).\n"
"  flat         --price: yuan per committed Mbps-month\n"
"  burstable95  --price per committed Mbps-month, --overage per Mbps-month\n"
"               of the 95th percentile above the commit\n"
"  volume       --tier FROM_GB:YUAN, graduated: each tier's price (yuan per\n"
"               GB, 10^9 bytes) applies to the GB inside it; the first tier\n"
"               starts at 0, e.g. --tier 0:0.50 --tier 1000:0.40\n"
"Amounts are exact to the fen. --direction: which bytes are billed per\n"
"sample (default max of in and out). --vat default: the park's\n"
"(bandsplit park set --vat; 6% unless changed).\n",
		.required = "name kind", .required_msg = "--name and --kind are required",
		.check = check_add };

	struct bs_op op;
	static struct plan_args a;
	int rc = bs_verb_start(&op, cli, &PLAN, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	if (a.id == NULL)
		PQclear(bs_op_query(&op, "LOCK TABLE plan IN SHARE ROW EXCLUSIVE MODE",
				    0, NULL));
	const char *pp[4] = { a.id ? a.id_v : NULL, a.name, a.kind,
			      a.currency ? a.currency : "CNY" };
	PGresult *res = bs_op_query(&op, "INSERT INTO plan (plan_id, name, kind,"
		" currency) VALUES (coalesce($1::bigint, (SELECT coalesce(max(plan_id),"
		" 0) + 1 FROM plan)), $2, $3, $4) RETURNING plan_id::text", 4, pp);
	char plan_id[BS_OP_VALUE_MAX] = "";
	if (res != NULL)
		snprintf(plan_id, sizeof(plan_id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	const char *vp[9] = { plan_id, a.kind, a.from ? a.from_v : "now",
		a.direction ? a.direction : "max", a.vat ? a.vat_v : NULL,
		a.price ? a.price_v : NULL, a.overage ? a.overage_v : NULL,
		a.ntier ? a.tier_from : NULL, a.ntier ? a.tier_fen : NULL };
	PQclear(bs_op_query(&op, "INSERT INTO plan_version (plan_id, version, kind,"
		" valid, direction, vat_bp, price_fen_per_mbps, overage_fen_per_mbps,"
		" tier_from_gb, tier_fen_per_gb) VALUES ($1::bigint, 1, $2,"
		" tstzrange($3::timestamptz, NULL), $4, $5::integer, $6::bigint,"
		" $7::bigint, $8::bigint[], $9::bigint[])", 9, vp));
	res = op.rc == 0 ? select_version(&op, plan_id, "1") : NULL;
	return bs_verb_finish(&op, res, true);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "list", "at", NULL,
"Usage: bandsplit plan list [--at TIME] [--json]\n"
"\n"
"Lists plans with the version in force at TIME (default now); plans with\n"
"no version in force then show '-'.\n" };

	struct bs_op op;
	static struct plan_args a;
	int rc = bs_verb_start(&op, cli, &PLAN, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	const char *params[1] = { a.at ? a.at_v : "now" };
	PGresult *res = bs_op_query(&op, "SELECT " VERSION_COLS " FROM plan pl"
		" LEFT JOIN plan_version v ON v.plan_id = pl.plan_id"
		" AND v.valid @> $1::timestamptz ORDER BY pl.plan_id", 1, params);
	return bs_verb_finish(&op, res, false);
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "show", "", "PLAN_ID",
"Usage: bandsplit plan show PLAN_ID [--json]\n\n"
"Shows every version of a plan, oldest first.\n" };

	struct bs_op op;
	static struct plan_args a;
	char id[BS_OP_VALUE_MAX];
	int rc = bs_verb_start(&op, cli, &PLAN, &verb, argc, argv, &a, id);
	if (rc != BS_VERB_GO)
		return rc;
	const char *params[1] = { id };
	PGresult *res = bs_op_query(&op, "SELECT " VERSION_COLS " FROM plan_version v"
		" JOIN plan pl USING (plan_id) WHERE v.plan_id = $1::bigint"
		" ORDER BY v.version", 1, params);
	if (res != NULL && PQntuples(res) == 0) {
		bs_op_fail(&op, BS_EXIT_REFUSED, "plan %s not found", id);
		PQclear(res);
		res = NULL;
	}
	return bs_verb_finish(&op, res, false);
}

/* The version of plan_id in force at `at`, locked; also refuses when a
 * later version exists or the version starts exactly at `at`. Returns the
 * row (version, kind, upper bound) or NULL. */
static PGresult *version_at(struct bs_op *op, const char *plan_id,
			    const char *at)
{
	const char *params[2] = { plan_id, at };
	PGresult *res = bs_op_query(op, "SELECT v.version::text, v.kind,"
		" upper(v.valid)::text, lower(v.valid) = $2::timestamptz,"
		" EXISTS (SELECT 1 FROM plan_version w WHERE w.plan_id = v.plan_id"
		"         AND lower(w.valid) > $2::timestamptz)"
		" FROM plan_version v WHERE v.plan_id = $1::bigint"
		" AND v.valid @> $2::timestamptz FOR UPDATE", 2, params);
	if (res == NULL)
		return NULL;
	const char *why = NULL;
	if (PQntuples(res) != 1)
		why = "has no version in force at that time";
	else if (PQgetvalue(res, 0, 4)[0] == 't')
		why = "has a later version already";
	else if (PQgetvalue(res, 0, 3)[0] == 't')
		why = "has a version starting exactly then; choose a later time";
	if (why != NULL) {
		bs_op_fail(op, BS_EXIT_REFUSED, "plan %s %s", plan_id, why);
		PQclear(res);
		return NULL;
	}
	return res;
}

static int change(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "change",
		"from direction vat price overage tier force", "PLAN_ID",
"Usage: bandsplit plan change PLAN_ID --from TIME [--price YUAN]\n"
"                             [--overage YUAN] [--tier FROM_GB:YUAN ...]\n"
"                             [--direction max|in|out|sum] [--vat PERCENT]\n"
"                             [--force] [--json]\n"
"\n"
"Creates the plan's next version from TIME: the version in force at TIME\n"
"ends there, the new one copies it with the given changes (--tier replaces\n"
"all tiers). Earlier periods keep their version. A TIME in the past\n"
"rewrites history: it needs --force (audited).\n",
		.required = "from",
		.required_msg = "--from is required (when the new prices apply)",
		.some_of = "price overage tier direction vat", .some_of_msg = "nothing to change" };

	struct bs_op op;
	static struct plan_args a;
	char id[BS_OP_VALUE_MAX];
	int rc = bs_verb_start(&op, cli, &PLAN, &verb, argc, argv, &a, id);
	if (rc != BS_VERB_GO)
		return rc;
	PGresult *cur = version_at(&op, id, a.from_v);
	PGresult *res = NULL;
	if (cur != NULL && check_kind(&op, PQgetvalue(cur, 0, 1), &a, false) != 0)
		op.rc = BS_EXIT_USAGE;
	if (cur != NULL && op.rc == 0) {
		const char *up[2] = { id, a.from_v };
		PQclear(bs_op_query(&op, "UPDATE plan_version SET valid ="
			" tstzrange(lower(valid), $2::timestamptz)"
			" WHERE plan_id = $1::bigint AND valid @> $2::timestamptz", 2, up));
		const char *vp[10] = { id, PQgetvalue(cur, 0, 0), a.from_v,
			a.direction, a.vat ? a.vat_v : NULL, a.price ? a.price_v : NULL,
			a.overage ? a.overage_v : NULL, a.ntier ? a.tier_from : NULL,
			a.ntier ? a.tier_fen : NULL,
			PQgetisnull(cur, 0, 2) ? NULL : PQgetvalue(cur, 0, 2) };
		PGresult *ins = bs_op_query(&op, "INSERT INTO plan_version (plan_id,"
			" version, kind, valid, direction, vat_bp, price_fen_per_mbps,"
			" overage_fen_per_mbps, tier_from_gb, tier_fen_per_gb)"
			" SELECT plan_id, (SELECT max(version) + 1 FROM plan_version"
			"                  WHERE plan_id = $1::bigint), kind,"
			" tstzrange($3::timestamptz, $10::timestamptz),"
			" coalesce($4, direction), coalesce($5::integer, vat_bp),"
			" coalesce($6::bigint, price_fen_per_mbps),"
			" coalesce($7::bigint, overage_fen_per_mbps),"
			" coalesce($8::bigint[], tier_from_gb),"
			" coalesce($9::bigint[], tier_fen_per_gb)"
			" FROM plan_version WHERE plan_id = $1::bigint"
			" AND version = $2::integer RETURNING version::text", 10, vp);
		if (ins != NULL)
			res = select_version(&op, id, PQgetvalue(ins, 0, 0));
		PQclear(ins);
	}
	PQclear(cur);
	return bs_verb_finish(&op, res, true);
}

static int end(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "end", "at force", "PLAN_ID",
"Usage: bandsplit plan end PLAN_ID [--at TIME] [--force] [--json]\n"
"\n"
"Withdraws a plan at TIME (default now): its version in force ends there.\n"
"Refused while allocations on the plan run past TIME. A TIME in the past\n"
"needs --force (audited).\n" };

	struct bs_op op;
	static struct plan_args a;
	char id[BS_OP_VALUE_MAX];
	int rc = bs_verb_start(&op, cli, &PLAN, &verb, argc, argv, &a, id);
	if (rc != BS_VERB_GO)
		return rc;
	const char *at = a.at ? a.at_v : "now";
	PGresult *cur = version_at(&op, id, at);
	PGresult *res = NULL;
	if (cur != NULL) {
		const char *params[2] = { id, at };
		PGresult *busy = bs_op_query(&op, "SELECT alloc_id FROM allocation"
			" WHERE plan_id = $1::bigint AND (upper_inf(valid)"
			" OR upper(valid) > $2::timestamptz) ORDER BY alloc_id LIMIT 1",
			2, params);
		if (busy != NULL && PQntuples(busy) > 0)
			bs_op_fail(&op, BS_EXIT_REFUSED, "allocation %s on plan %s runs "
				   "past that time: end or change it first",
				   PQgetvalue(busy, 0, 0), id);
		PQclear(busy);
		PQclear(bs_op_query(&op, "UPDATE plan_version SET valid ="
			" tstzrange(lower(valid), $2::timestamptz)"
			" WHERE plan_id = $1::bigint AND valid @> $2::timestamptz",
			2, params));
		if (op.rc == 0)
			res = select_version(&op, id, PQgetvalue(cur, 0, 0));
	}
	PQclear(cur);
	return bs_verb_finish(&op, res, true);
}

static const struct bs_op_verb VERBS[] = {
	{ "add", "add a price plan (version 1)", add },
	{ "list", "list plans with the version in force", list },
	{ "show", "show a plan's versions", show },
	{ "change", "new prices from an instant (a new version)", change },
	{ "end", "withdraw a plan from an instant", end },
};

const struct bs_cli_command bs_cmd_plan = {
	.name = "plan",
	.summary = "price plans and their versions: add, list, show, change, end",
	.description = "Price plans: flat, burstable95 and "
		"volume, versioned over time. Amounts in yuan, exact to the fen.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
