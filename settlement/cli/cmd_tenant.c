/*
 * cmd_tenant.c — `bandsplit tenant add|list|show|change|end`: the park's
 * tenants. Ending a tenant closes it: its prefixes and allocations end at
 * that instant (those not begun yet are removed), the row and its history
 * stay.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

#define TENANT_COLS \
	"t.tenant_id AS id, t.name, t.tax_id, t.contact, t.status," \
	" bs_iso(t.closed_at) AS closed_at," \
	" (SELECT count(*) FROM prefix p WHERE p.tenant_id = t.tenant_id" \
	"    AND p.valid @> now())::integer AS prefixes_now," \
	" (SELECT count(*) FROM allocation a WHERE a.tenant_id = t.tenant_id" \
	"    AND a.valid @> now())::integer AS allocations_now"

static const char *const STATUS_SET[] = { "active", "suspended", NULL };
static const char *const STATUS_ALL[] = { "active", "suspended", "closed", NULL };

enum { OPT_ID = 256, OPT_NAME, OPT_TAX, OPT_CONTACT, OPT_STATUS, OPT_AT,
       OPT_JSON, OPT_HELP };

static const struct option OPTIONS[] = {
	{ "id", required_argument, NULL, OPT_ID },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "tax-id", required_argument, NULL, OPT_TAX },
	{ "contact", required_argument, NULL, OPT_CONTACT },
	{ "status", required_argument, NULL, OPT_STATUS },
	{ "at", required_argument, NULL, OPT_AT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct tenant_args {
	const char *id, *name, *tax_id, *contact, *status, *at;
	char id_v[BS_OP_VALUE_MAX], at_v[BS_OP_VALUE_MAX];
	bool help;
};

/* Every verb shares one option table and refuses the options not among
 * its `allowed` words. Returns 0 or an exit code. */
static int parse(struct bs_op *op, int argc, char **argv, const char *allowed,
		 struct tenant_args *a)
{
	memset(a, 0, sizeof(*a));
	int c;
	while ((c = getopt_long(argc, argv, "", OPTIONS, NULL)) != -1) {
		if (c == '?' || c == ':')
			return bs_op_bad_option(op, argv);
		const char *name = NULL;
		for (const struct option *o = OPTIONS; o->name; o++)
			if (o->val == c)
				name = o->name;
		if (c != OPT_HELP && c != OPT_JSON && !bs_op_word_in(allowed, name))
			return bs_op_usage(op, "--%s does not apply here", name);
		switch (c) {
		case OPT_ID: a->id = optarg; break;
		case OPT_NAME: a->name = optarg; break;
		case OPT_TAX: a->tax_id = optarg; break;
		case OPT_CONTACT: a->contact = optarg; break;
		case OPT_STATUS: a->status = optarg; break;
		case OPT_AT: a->at = optarg; break;
		case OPT_JSON: op->json = true; break;
		case OPT_HELP: a->help = true; return 0;
		}
	}
	int rc = 0;
	if (a->id != NULL)
		rc = bs_op_parse_id(op, "--id", a->id, a->id_v);
	if (rc == 0 && a->name != NULL)
		rc = bs_op_parse_text(op, "--name", a->name, 200);
	if (rc == 0 && a->tax_id != NULL) {
		rc = bs_op_parse_text(op, "--tax-id", a->tax_id, 40);
		for (const char *p = a->tax_id; rc == 0 && *p; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= 'a' && *p <= 'z') || *p == '-'))
				rc = bs_op_usage(op, "--tax-id '%s': letters, digits "
						 "and '-' only", a->tax_id);
	}
	if (rc == 0 && a->contact != NULL)
		rc = bs_op_parse_text(op, "--contact", a->contact, 200);
	if (rc == 0 && a->at != NULL)
		rc = bs_op_parse_time(op, "--at", a->at, a->at_v);
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
	struct tenant_args a;
	bs_op_init(&op, cli, "tenant add");
	int rc = parse(&op, argc, argv, "id name tax-id contact", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit tenant add --name NAME [--id ID] [--tax-id TAXID]\n"
"                            [--contact TEXT] [--json]\n"
"\n"
"Adds an active tenant. ID (1..4294967295) is the tenant id the dataplane\n"
"counts under; without --id the next free id after the highest is used.\n"
"TAXID (letters, digits, '-') goes on invoices. Names are unique.\n");
		return BS_EXIT_OK;
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (a.name == NULL)
		return bs_op_usage(&op, "--name is required");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	if (a.id == NULL)
		PQclear(bs_op_query(&op, "LOCK TABLE tenant IN SHARE ROW EXCLUSIVE MODE",
				    0, NULL));
	const char *params[4] = { a.id != NULL ? a.id_v : NULL, a.name, a.tax_id,
				  a.contact };
	PGresult *res = bs_op_query(&op,
		"WITH t AS (INSERT INTO tenant (tenant_id, name, tax_id, contact)"
		" VALUES (coalesce($1::bigint, (SELECT coalesce(max(tenant_id), 0) + 1"
		"         FROM tenant)), $2, $3, $4) RETURNING *)"
		" SELECT " TENANT_COLS " FROM t", 4, params);
	return finish(&op, res, true);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct tenant_args a;
	bs_op_init(&op, cli, "tenant list");
	int rc = parse(&op, argc, argv, "status", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit tenant list [--status active|suspended|closed] [--json]\n"
"\n"
"Lists tenants with the number of prefixes and allocations in force now.\n");
		return BS_EXIT_OK;
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (a.status != NULL &&
	    (rc = bs_op_parse_choice(&op, "--status", a.status, STATUS_ALL)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[1] = { a.status };
	PGresult *res = bs_op_query(&op, "SELECT " TENANT_COLS " FROM tenant t"
		" WHERE $1::text IS NULL OR t.status = $1 ORDER BY t.tenant_id",
		1, params);
	return finish(&op, res, false);
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct tenant_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "tenant show");
	int rc = parse(&op, argc, argv, "", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit tenant show TENANT_ID [--json]\n"
"\n"
"Shows one tenant.\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "TENANT_ID", id)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[1] = { id };
	PGresult *res = bs_op_query_one(&op, "tenant", "SELECT " TENANT_COLS
		" FROM tenant t WHERE t.tenant_id = $1::bigint", 1, params);
	return finish(&op, res, true);
}

static int change(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct tenant_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "tenant change");
	int rc = parse(&op, argc, argv, "name tax-id contact status", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit tenant change TENANT_ID [--name NAME] [--tax-id TAXID]\n"
"                               [--contact TEXT]\n"
"                               [--status active|suspended] [--json]\n"
"\n"
"Changes a tenant's details or suspends / reactivates it (suspension does\n"
"not stop metering or billing). Closing is 'bandsplit tenant end'.\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "TENANT_ID", id)) != 0)
		return rc;
	if (a.status != NULL &&
	    (rc = bs_op_parse_choice(&op, "--status", a.status, STATUS_SET)) != 0)
		return rc;
	if (!a.name && !a.tax_id && !a.contact && !a.status)
		return bs_op_usage(&op, "nothing to change: give --name, --tax-id, "
				   "--contact or --status");
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[5] = { id, a.name, a.tax_id, a.contact, a.status };
	PGresult *res = bs_op_query_one(&op, "tenant",
		"WITH t AS (UPDATE tenant SET name = coalesce($2, name),"
		" tax_id = coalesce($3, tax_id), contact = coalesce($4, contact),"
		" status = coalesce($5, status) WHERE tenant_id = $1::bigint"
		" RETURNING *) SELECT " TENANT_COLS " FROM t", 5, params);
	return finish(&op, res, true);
}

static int end(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	struct tenant_args a;
	char id[BS_OP_VALUE_MAX];
	bs_op_init(&op, cli, "tenant end");
	int rc = parse(&op, argc, argv, "at", &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		printf(
"Usage: bandsplit tenant end TENANT_ID [--at TIME] [--json]\n"
"\n"
"Closes a tenant at TIME (default now): its prefixes and allocations end\n"
"there (those starting later are removed), its status becomes closed.\n"
"Closing is final; the tenant's history is kept.\n");
		return BS_EXIT_OK;
	}
	if ((rc = bs_op_one_id(&op, argc, argv, "TENANT_ID", id)) != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[2] = { id, a.at != NULL ? a.at_v : "now" };
	PGresult *res = bs_op_query_one(&op, "tenant", "SELECT status FROM tenant"
		" WHERE tenant_id = $1::bigint FOR UPDATE", 1, params);
	if (res != NULL && strcmp(PQgetvalue(res, 0, 0), "closed") == 0)
		bs_op_fail(&op, BS_EXIT_REFUSED, "tenant %s is already closed", id);
	PQclear(res);
	static const char *const steps[] = {
		"DELETE FROM prefix WHERE tenant_id = $1::bigint"
		" AND lower(valid) >= $2::timestamptz",
		"UPDATE prefix SET valid = tstzrange(lower(valid), $2::timestamptz)"
		" WHERE tenant_id = $1::bigint AND valid @> $2::timestamptz",
		"DELETE FROM allocation WHERE tenant_id = $1::bigint"
		" AND lower(valid) >= $2::timestamptz",
		"UPDATE allocation SET valid = tstzrange(lower(valid), $2::timestamptz)"
		" WHERE tenant_id = $1::bigint AND valid @> $2::timestamptz",
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		PQclear(bs_op_query(&op, steps[i], 2, params));
	res = bs_op_query(&op, "WITH t AS (UPDATE tenant SET status = 'closed',"
		" closed_at = $2::timestamptz WHERE tenant_id = $1::bigint"
		" RETURNING *) SELECT " TENANT_COLS " FROM t", 2, params);
	return finish(&op, res, true);
}

static const struct bs_op_verb VERBS[] = {
	{ "add", "add a tenant", add },
	{ "list", "list tenants", list },
	{ "show", "show one tenant", show },
	{ "change", "change a tenant's details, suspend or reactivate it", change },
	{ "end", "close a tenant: its prefixes and allocations end", end },
};

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	return bs_op_dispatch(cli, "tenant", "The park's tenants: who is billed "
		"(name, tax id, contact, status).", VERBS,
		(int)(sizeof(VERBS) / sizeof(VERBS[0])), argc, argv);
}

const struct bs_cli_command bs_cmd_tenant = {
	.name = "tenant",
	.summary = "tenants: add, list, show, change, end",
	.run = run,
};
