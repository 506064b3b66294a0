/*
 * cmd_tenant.c — `bandsplit tenant add|list|show|change|end`: the park's
 * tenants. Ending a tenant closes it: its prefixes and allocations end at
 * that instant (those not begun yet are removed), the row and its history
 * stay.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "verb.h"

#define TENANT_COLS \
	"t.tenant_id AS id, t.name, t.tax_id, t.contact, t.address," \
	" t.bank_account, t.status," \
	" bs_iso(t.closed_at) AS closed_at," \
	" (SELECT count(*) FROM prefix p WHERE p.tenant_id = t.tenant_id" \
	"    AND p.valid @> now())::integer AS prefixes_now," \
	" (SELECT count(*) FROM allocation a WHERE a.tenant_id = t.tenant_id" \
	"    AND a.valid @> now())::integer AS allocations_now"

static const char *const STATUS_SET[] = { "active", "suspended", NULL };
static const char *const STATUS_ALL[] = { "active", "suspended", "closed", NULL };

struct tenant_args {
	const char *id, *name, *tax_id, *contact, *status, *at, *address, *bank;
	bool force, purge;
	char id_v[BS_OP_VALUE_MAX], at_v[BS_OP_VALUE_MAX];
};

static int check_tax_id(const struct bs_op *op, void *args)
{
	const struct tenant_args *a = args;
	for (const char *p = a->tax_id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= 'a' && *p <= 'z') || *p == '-'))
			return bs_op_usage(op, "--tax-id '%s': letters, digits "
					   "and '-' only", a->tax_id);
	return 0;
}

/* --status is checked by the verb: list and change take other values. */
#define A(field) offsetof(struct tenant_args, field)
static const struct bs_verb_opt OPTS[] = {
	{ "id", BS_OPT_ID, A(id), A(id_v) },
	{ "name", BS_OPT_TEXT, A(name), .max = 200 },
	{ "tax-id", BS_OPT_TEXT, A(tax_id), .max = 40, .check = check_tax_id },
	{ "contact", BS_OPT_TEXT, A(contact), .max = 200 },
	{ "status", BS_OPT_TEXT, A(status) },
	{ "at", BS_OPT_TIME, A(at), A(at_v) },
	{ "address", BS_OPT_TEXT, A(address), .max = 400 },
	{ "bank-account", BS_OPT_TEXT, A(bank), .max = 200 },
	{ "force", BS_OPT_FLAG, A(force) },
	{ "purge", BS_OPT_FLAG, A(purge) },
};
#undef A

static const struct bs_object TENANT = {
	"tenant", OPTS, sizeof(OPTS) / sizeof(OPTS[0]),
	sizeof(struct tenant_args), NULL,
};

/* --status: any status to list by; only the settable ones to change to */
static int check_status_any(const struct bs_op *op, void *args)
{
	const struct tenant_args *a = args;
	return a->status == NULL ? 0 : bs_op_parse_choice(op, "--status", a->status, STATUS_ALL);
}

static int check_status_settable(const struct bs_op *op, void *args)
{
	const struct tenant_args *a = args;
	return a->status == NULL ? 0 : bs_op_parse_choice(op, "--status", a->status, STATUS_SET);
}

static int add(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "add",
		"id name tax-id contact address bank-account", NULL,
"Usage: bandsplit tenant add --name NAME [--id ID] [--tax-id TAXID]\n"
"                            [--contact TEXT] [--address TEXT]\n"
"                            [--bank-account TEXT] [--json]\n"
"\n"
"Adds an active tenant. ID (1..4294967295) is the tenant id the dataplane\n"
"counts under; without --id the next free id after the highest is used.\n"
"TAXID (letters, digits, '-'), the address and the bank account go on\n"
"invoices (copied when issued; the month close needs the tax id).\n"
"Names are unique.\n",
		.required = "name", .required_msg = "--name is required" };

	struct bs_op op;
	struct tenant_args a;
	int rc = bs_verb_start(&op, cli, &TENANT, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	if (a.id == NULL)
		PQclear(bs_op_query(&op, "LOCK TABLE tenant IN SHARE ROW EXCLUSIVE MODE",
				    0, NULL));
	const char *params[6] = { a.id != NULL ? a.id_v : NULL, a.name, a.tax_id,
				  a.contact, a.address, a.bank };
	PGresult *res = bs_op_query(&op,
		"WITH t AS (INSERT INTO tenant (tenant_id, name, tax_id, contact,"
		" address, bank_account)"
		" VALUES (coalesce($1::bigint, (SELECT coalesce(max(tenant_id), 0) + 1"
		"         FROM tenant)), $2, $3, $4, $5, $6) RETURNING *)"
		" SELECT " TENANT_COLS " FROM t", 6, params);
	return bs_verb_finish(&op, res, true);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "list", "status", NULL,
"Usage: bandsplit tenant list [--status active|suspended|closed] [--json]\n"
"\n"
"Lists tenants with the number of prefixes and allocations in force now.\n",
		.check = check_status_any };

	struct bs_op op;
	struct tenant_args a;
	int rc = bs_verb_start(&op, cli, &TENANT, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	const char *params[1] = { a.status };
	PGresult *res = bs_op_query(&op, "SELECT " TENANT_COLS " FROM tenant t"
		" WHERE $1::text IS NULL OR t.status = $1 ORDER BY t.tenant_id",
		1, params);
	return bs_verb_finish(&op, res, false);
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "show", "", "TENANT_ID",
"Usage: bandsplit tenant show TENANT_ID [--json]\n"
"\n"
"Shows one tenant.\n" };
	return bs_verb_show(cli, argc, argv, &TENANT, &verb, "tenant",
		"SELECT " TENANT_COLS
		" FROM tenant t WHERE t.tenant_id = $1::bigint");
}

static int change(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "change",
		"name tax-id contact status address bank-account", "TENANT_ID",
"Usage: bandsplit tenant change TENANT_ID [--name NAME] [--tax-id TAXID]\n"
"                               [--contact TEXT] [--address TEXT]\n"
"                               [--bank-account TEXT]\n"
"                               [--status active|suspended] [--json]\n"
"\n"
"Changes a tenant's details or suspends / reactivates it (suspension does\n"
"not stop metering or billing). Closing is 'bandsplit tenant end'.\n",
		.some_of = "name tax-id contact status address bank-account",
		.some_of_msg = "nothing to change: give --name, --tax-id, --contact, --address, --bank-account or --status",
		.check = check_status_settable };

	struct bs_op op;
	struct tenant_args a;
	char id[BS_OP_VALUE_MAX];
	int rc = bs_verb_start(&op, cli, &TENANT, &verb, argc, argv, &a, id);
	if (rc != BS_VERB_GO)
		return rc;
	const char *params[7] = { id, a.name, a.tax_id, a.contact, a.status,
				  a.address, a.bank };
	PGresult *res = bs_op_query_one(&op, "tenant",
		"WITH t AS (UPDATE tenant SET name = coalesce($2, name),"
		" tax_id = coalesce($3, tax_id), contact = coalesce($4, contact),"
		" status = coalesce($5, status), address = coalesce($6, address),"
		" bank_account = coalesce($7, bank_account) WHERE tenant_id = $1::bigint"
		" RETURNING *) SELECT " TENANT_COLS " FROM t", 7, params);
	return bs_verb_finish(&op, res, true);
}

static int end(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "end", "at force purge", "TENANT_ID",
"Usage: bandsplit tenant end TENANT_ID [--at TIME] [--force] [--purge] [--json]\n"
"\n"
"Closes a tenant at TIME (default now): its prefixes and allocations end\n"
"there, its status becomes closed. Closing is final; the tenant's history\n"
"is kept: a TIME in the past needs --force (audited); a prefix or\n"
"allocation that took effect after TIME refuses it (history is never\n"
"erased); one that starts after TIME and has not taken effect yet is\n"
"removed only with --purge (audited).\n" };

	struct bs_op op;
	struct tenant_args a;
	char id[BS_OP_VALUE_MAX];
	int rc = bs_verb_start(&op, cli, &TENANT, &verb, argc, argv, &a, id);
	if (rc != BS_VERB_GO)
		return rc;
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
	return bs_verb_finish(&op, res, true);
}

static const struct bs_op_verb VERBS[] = {
	{ "add", "add a tenant", add },
	{ "list", "list tenants", list },
	{ "show", "show one tenant", show },
	{ "change", "change a tenant's details, suspend or reactivate it", change },
	{ "end", "close a tenant: its prefixes and allocations end", end },
};

const struct bs_cli_command bs_cmd_tenant = {
	.name = "tenant",
	.summary = "tenants: add, list, show, change, end",
	.description = "The park's tenants: who is billed "
		"(name, tax id, contact, status).",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
