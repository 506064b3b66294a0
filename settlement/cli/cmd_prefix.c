/*
 * cmd_prefix.c — `bandsplit prefix add|list|show|change|end`: the address
 * prefixes each tenant owns over time. The database refuses any two
 * prefixes that overlap in address space at the same time (0011); moving a
 * prefix to another tenant ends it and starts it anew from that instant.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "verb.h"

#define PREFIX_COLS \
	"x.prefix_id AS id, x.tenant_id AS tenant, x.prefix::text AS prefix," \
	" family(x.prefix) AS family, bs_iso(lower(x.valid)) AS valid_from," \
	" bs_iso(upper(x.valid)) AS valid_to"

#define MAX_PREFIXES_PER_ADD 1000

struct prefix_args {
	const char *tenant, *from, *to, *at;
	const char *prefix[MAX_PREFIXES_PER_ADD];
	int nprefix;
	bool all, force, purge;
	char tenant_v[BS_OP_VALUE_MAX], from_v[BS_OP_VALUE_MAX];
	char to_v[BS_OP_VALUE_MAX], at_v[BS_OP_VALUE_MAX];
	char prefix_v[MAX_PREFIXES_PER_ADD][BS_OP_VALUE_MAX];
};

static int check_prefixes(const struct bs_op *op, void *args)
{
	struct prefix_args *a = args;
	for (int i = 0; i < a->nprefix; i++) {
		char err[160];
		int family;
		if (bs_parse_prefix(a->prefix[i], a->prefix_v[i], BS_OP_VALUE_MAX,
				    &family, err, sizeof(err)) < 0)
			return bs_op_usage(op, "--prefix '%s': %s", a->prefix[i], err);
	}
	return 0;
}

#define A(field) offsetof(struct prefix_args, field)
static const struct bs_verb_opt OPTS[] = {
	{ "tenant", BS_OPT_ID, A(tenant), A(tenant_v) },
	{ "prefix", BS_OPT_LIST, A(prefix), A(nprefix), MAX_PREFIXES_PER_ADD,
	  .too_many = "at most " BS_STR(MAX_PREFIXES_PER_ADD) " --prefix at once",
	  .check = check_prefixes },
	{ "from", BS_OPT_TIME, A(from), A(from_v) },
	{ "to", BS_OPT_TIME, A(to), A(to_v) },
	{ "at", BS_OPT_TIME, A(at), A(at_v) },
	{ "all", BS_OPT_FLAG, A(all) },
	{ "force", BS_OPT_FLAG, A(force) },
	{ "purge", BS_OPT_FLAG, A(purge) },
};
#undef A

static const struct bs_object PREFIX = {
	"prefix", OPTS, sizeof(OPTS) / sizeof(OPTS[0]),
	sizeof(struct prefix_args), NULL,
};

static int add(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "add", "tenant prefix from to", NULL,
"Usage: bandsplit prefix add --tenant ID --prefix PREFIX [--prefix ...]\n"
"                            [--from TIME] [--to TIME] [--json]\n"
"\n"
"Gives a tenant IPv4 or IPv6 prefixes (network address/length, e.g.\n"
"203.0.113.0/24, 2001:db8:1000::/48) from TIME (default now) to TIME\n"
"(default: open). Refused if any of them overlaps, at any instant of that\n"
"range, address space already owned (by anyone): nested and equal\n"
"prefixes too. All or none are added. Run 'bandsplit prefixes export' to\n"
"give the dataplane the new map.\n",
		.required = "tenant prefix", .required_msg = "--tenant and --prefix are required" };

	struct bs_op op;
	static struct prefix_args a;   /* large: not on the stack */
	int rc = bs_verb_start(&op, cli, &PREFIX, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	PGresult *all = NULL;
	for (int i = 0; i < a.nprefix && op.rc == 0; i++) {
		const char *params[4] = { a.tenant_v, a.prefix_v[i],
					  a.from ? a.from_v : "now",
					  a.to ? a.to_v : NULL };
		PGresult *res = bs_op_query(&op, "INSERT INTO prefix (tenant_id,"
			" prefix, valid) VALUES ($1::bigint, $2::cidr,"
			" tstzrange($3::timestamptz, $4::timestamptz))", 4, params);
		if (res == NULL)
			fprintf(stderr, "  (while adding --prefix %s)\n", a.prefix[i]);
		PQclear(res);
	}
	if (op.rc == 0) {
		const char *params[2] = { a.tenant_v, a.from ? a.from_v : "now" };
		all = bs_op_query(&op, "SELECT " PREFIX_COLS " FROM prefix x"
			" WHERE x.tenant_id = $1::bigint"
			" AND x.created_at = now() ORDER BY x.prefix_id", 1, params);
	}
	return bs_verb_finish(&op, all, false);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "list", "tenant at all", NULL,
"Usage: bandsplit prefix list [--tenant ID] [--at TIME | --all] [--json]\n"
"\n"
"Lists prefixes in force at TIME, or (default) not ended yet, or all.\n" };
	static const char *const filters[] = { "tenant", NULL };
	return bs_verb_list(cli, argc, argv, &PREFIX, &verb, filters,
		"SELECT " PREFIX_COLS " FROM prefix x"
		" WHERE ($1::bigint IS NULL OR x.tenant_id = $1::bigint) AND"
		BS_IN_FORCE("x", 2, 3)
		" ORDER BY family(x.prefix), x.prefix, lower(x.valid)");
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "show", "", "PREFIX_ID",
"Usage: bandsplit prefix show PREFIX_ID [--json]\n\n"
"Shows one prefix record.\n" };
	return bs_verb_show(cli, argc, argv, &PREFIX, &verb, "prefix",
		"SELECT " PREFIX_COLS
		" FROM prefix x WHERE x.prefix_id = $1::bigint");
}

static int change(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "change", "tenant at force", "PREFIX_ID",
"Usage: bandsplit prefix change PREFIX_ID --tenant ID [--at TIME] [--force]\n"
"                               [--json]\n"
"\n"
"Moves a prefix to another tenant from TIME (default now): the record\n"
"ends at TIME and a new one starts there for the new tenant, so the old\n"
"owner's usage before TIME stays its own. A TIME in the past rewrites\n"
"history: it needs --force (audited).\n",
		.required = "tenant", .required_msg = "--tenant is required (the new owner)" };

	struct bs_op op;
	static struct prefix_args a;
	char id[BS_OP_VALUE_MAX];
	int rc = bs_verb_start(&op, cli, &PREFIX, &verb, argc, argv, &a, id);
	if (rc != BS_VERB_GO)
		return rc;
	const char *params[3] = { id, a.at ? a.at_v : "now", a.tenant_v };
	PGresult *old = bs_op_query_one(&op, "prefix in force at that time",
		"SELECT prefix::text, upper(valid)::text, tenant_id::text FROM prefix"
		" WHERE prefix_id = $1::bigint AND valid @> $2::timestamptz"
		" AND lower(valid) < $2::timestamptz FOR UPDATE", 2, params);
	PGresult *res = NULL;
	if (old != NULL && strcmp(PQgetvalue(old, 0, 2), a.tenant_v) == 0)
		bs_op_fail(&op, BS_EXIT_REFUSED, "prefix %s already belongs to "
			   "tenant %s", id, a.tenant_v);
	if (old != NULL && op.rc == 0) {
		PQclear(bs_op_query(&op, "UPDATE prefix SET valid ="
			" tstzrange(lower(valid), $2::timestamptz)"
			" WHERE prefix_id = $1::bigint", 2, params));
		const char *ins[4] = { a.tenant_v, PQgetvalue(old, 0, 0),
			params[1], PQgetisnull(old, 0, 1) ? NULL : PQgetvalue(old, 0, 1) };
		res = bs_op_query(&op, "WITH x AS (INSERT INTO prefix (tenant_id,"
			" prefix, valid) VALUES ($1::bigint, $2::cidr,"
			" tstzrange($3::timestamptz, $4::timestamptz)) RETURNING *)"
			" SELECT " PREFIX_COLS " FROM x", 4, ins);
	}
	PQclear(old);
	return bs_verb_finish(&op, res, true);
}

static int end(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "end", "at force purge", "PREFIX_ID",
"Usage: bandsplit prefix end PREFIX_ID [--at TIME] [--force] [--purge] [--json]\n"
"\n"
"Ends a prefix record at TIME (default now); its addresses count as\n"
"unattributed after that, once the map is exported. A TIME in the past\n"
"needs --force (audited); a record that has not taken effect yet and\n"
"starts at or after TIME is removed only with --purge (audited). History\n"
"is never deleted.\n" };
	return bs_verb_end(cli, argc, argv, &PREFIX, &verb, "prefix",
		"WITH x AS (UPDATE prefix SET valid = tstzrange(lower(valid),"
		" $2::timestamptz) WHERE prefix_id = $1::bigint RETURNING *)"
		" SELECT " PREFIX_COLS " FROM x",
		"WITH x AS (DELETE FROM prefix WHERE prefix_id = $1::bigint"
		" AND lower(valid) >= $2::timestamptz RETURNING *)"
		" SELECT " PREFIX_COLS " FROM x");
}

static const struct bs_op_verb VERBS[] = {
	{ "add", "give a tenant prefixes", add },
	{ "list", "list prefixes", list },
	{ "show", "show one prefix record", show },
	{ "change", "move a prefix to another tenant from an instant", change },
	{ "end", "end a prefix", end },
};

const struct bs_cli_command bs_cmd_prefix = {
	.name = "prefix",
	.summary = "tenants' address prefixes: add, list, show, change, end",
	.description = "Prefixes: the IPv4/IPv6 address "
		"space each tenant owns, over time. No two overlap at the same "
		"time.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
