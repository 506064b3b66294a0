/*
 * cmd_prefix.c — `bandsplit prefix add|list|show|change|end`: the address
 * prefixes each tenant owns over time. The database refuses any two
 * prefixes that overlap in address space at the same time (0011); moving a
 * prefix to another tenant ends it and starts it anew from that instant.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

#define PREFIX_COLS \
	"x.prefix_id AS id, x.tenant_id AS tenant, x.prefix::text AS prefix," \
	" family(x.prefix) AS family, bs_iso(lower(x.valid)) AS valid_from," \
	" bs_iso(upper(x.valid)) AS valid_to"

#define MAX_PREFIXES_PER_ADD 1000

enum { OPT_TENANT = 256, OPT_PREFIX, OPT_FROM, OPT_TO, OPT_AT, OPT_ALL,
       OPT_JSON, OPT_HELP };

static const struct option OPTIONS[] = {
	{ "tenant", required_argument, NULL, OPT_TENANT },
	{ "prefix", required_argument, NULL, OPT_PREFIX },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "at", required_argument, NULL, OPT_AT },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct prefix_args {
	const char *tenant, *from, *to, *at;
	const char *prefix[MAX_PREFIXES_PER_ADD];
	int nprefix;
	bool all, help;
	char tenant_v[BS_OP_VALUE_MAX], from_v[BS_OP_VALUE_MAX];
	char to_v[BS_OP_VALUE_MAX], at_v[BS_OP_VALUE_MAX];
	char prefix_v[MAX_PREFIXES_PER_ADD][BS_OP_VALUE_MAX];
};

/* Every verb shares one option table and refuses the options not among
 * its `allowed` words. Returns 0 or an exit code. */
static int parse(struct bs_op *op, int argc, char **argv, const char *allowed,
		 struct prefix_args *a)
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
		case OPT_PREFIX:
			if (a->nprefix == MAX_PREFIXES_PER_ADD)
				return bs_op_usage(op, "at most %d --prefix at once",
						   MAX_PREFIXES_PER_ADD);
			a->prefix[a->nprefix++] = optarg;
			break;
		case OPT_FROM: a->from = optarg; break;
		case OPT_TO: a->to = optarg; break;
		case OPT_AT: a->at = optarg; break;
		case OPT_ALL: a->all = true; break;
		case OPT_JSON: op->json = true; break;
		case OPT_HELP: a->help = true; return 0;
		}
	}
	int rc = 0;
	if (a->tenant) rc = bs_op_parse_id(op, "--tenant", a->tenant, a->tenant_v);
	for (int i = 0; rc == 0 && i < a->nprefix; i++) {
		char err[160];
		int family;
		if (bs_parse_prefix(a->prefix[i], a->prefix_v[i], BS_OP_VALUE_MAX,
				    &family, err, sizeof(err)) < 0)
			rc = bs_op_usage(op, "--prefix '%s': %s", a->prefix[i], err);
	}
	if (!rc && a->from) rc = bs_op_parse_time(op, "--from", a->from, a->from_v);
	if (!rc && a->to) rc = bs_op_parse_time(op, "--to", a->to, a->to_v);
	if (!rc && a->at) rc = bs_op_parse_time(op, "--at", a->at, a->at_v);
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
	static struct prefix_args a;   /* large: not on the stack */
	bs_op_init(&op, cli, "prefix add");
	int rc = parse(&op, argc, argv, "tenant prefix from to", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit prefix add --tenant ID --prefix PREFIX [--prefix ...]\n"
"                            [--from TIME] [--to TIME] [--json]\n"
"\n"
"Gives a tenant IPv4 or IPv6 prefixes (network address/length, e.g.\n"
"203.0.113.0/24, 2001:db8:1000::/48) from TIME (default now) to TIME\n"
"(default: open). Refused if any of them overlaps, at any instant of that\n"
"range, address space already owned (by anyone): nested and equal\n"
"prefixes too. All or none are added. Run 'bandsplit prefixes export' to\n"
"give the dataplane the new map.\n");
		return BS_EXIT_OK;
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (!a.tenant || a.nprefix == 0)
		return bs_op_usage(&op, "--tenant and --prefix are required");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
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
	return finish(&op, all, false);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	static struct prefix_args a;
	bs_op_init(&op, cli, "prefix list");
	int rc = parse(&op, argc, argv, "tenant at all", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit prefix list [--tenant ID] [--at TIME | --all] [--json]\n"
"\n"
"Lists prefixes in force at TIME, or (default) not ended yet, or all.\n");
		return BS_EXIT_OK;
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (a.at && a.all)
		return bs_op_usage(&op, "--at and --all exclude each other");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[3] = { a.tenant ? a.tenant_v : NULL,
				  a.at ? a.at_v : NULL, a.all ? "all" : NULL };
	PGresult *res = bs_op_query(&op, "SELECT " PREFIX_COLS " FROM prefix x"
		" WHERE ($1::bigint IS NULL OR x.tenant_id = $1::bigint) AND"
		" CASE WHEN $2::timestamptz IS NOT NULL THEN x.valid @> $2::timestamptz"
		"      WHEN $3::text IS NOT NULL THEN true"
		"      ELSE upper_inf(x.valid) OR upper(x.valid) > now() END"
		" ORDER BY family(x.prefix), x.prefix, lower(x.valid)", 3, params);
	return finish(&op, res, false);
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	static struct prefix_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "prefix show");
	int rc = parse(&op, argc, argv, "", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf("Usage: bandsplit prefix show PREFIX_ID [--json]\n\n"
		       "Shows one prefix record.\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "PREFIX_ID", id)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[1] = { id };
	PGresult *res = bs_op_query_one(&op, "prefix", "SELECT " PREFIX_COLS
		" FROM prefix x WHERE x.prefix_id = $1::bigint", 1, params);
	return finish(&op, res, true);
}

static int change(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	static struct prefix_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "prefix change");
	int rc = parse(&op, argc, argv, "tenant at", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit prefix change PREFIX_ID --tenant ID [--at TIME] [--json]\n"
"\n"
"Moves a prefix to another tenant from TIME (default now): the record\n"
"ends at TIME and a new one starts there for the new tenant, so the old\n"
"owner's usage before TIME stays its own.\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "PREFIX_ID", id)) != 0)
		return rc;
	if (!a.tenant)
		return bs_op_usage(&op, "--tenant is required (the new owner)");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
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
	return finish(&op, res, true);
}

static int end(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	static struct prefix_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "prefix end");
	int rc = parse(&op, argc, argv, "at", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit prefix end PREFIX_ID [--at TIME] [--json]\n"
"\n"
"Ends a prefix record at TIME (default now); its addresses count as\n"
"unattributed after that, once the map is exported.\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "PREFIX_ID", id)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[2] = { id, a.at ? a.at_v : "now" };
	PGresult *res = bs_op_query_one(&op, "prefix",
		"WITH x AS (UPDATE prefix SET valid = tstzrange(lower(valid),"
		" $2::timestamptz) WHERE prefix_id = $1::bigint RETURNING *)"
		" SELECT " PREFIX_COLS " FROM x", 2, params);
	return finish(&op, res, true);
}

static const struct bs_op_verb VERBS[] = {
	{ "add", "give a tenant prefixes", add },
	{ "list", "list prefixes", list },
	{ "show", "show one prefix record", show },
	{ "change", "move a prefix to another tenant from an instant", change },
	{ "end", "end a prefix", end },
};

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	return bs_op_dispatch(cli, "prefix", "Prefixes: the IPv4/IPv6 address "
		"space each tenant owns, over time. No two overlap at the same "
		"time.", VERBS, (int)(sizeof(VERBS) / sizeof(VERBS[0])), argc, argv);
}

const struct bs_cli_command bs_cmd_prefix = {
	.name = "prefix",
	.summary = "tenants' address prefixes: add, list, show, change, end",
	.run = run,
};
