/*
 * cmd_park.c — `bandsplit park show|set`: the park's settings that the
 * month close needs (park_settings, 0011 and 0020): the seller's legal
 * details printed on every invoice, the payment terms, the default VAT rate
 * of new plan versions, the billing byte measure. (The time zone and the
 * currency are shown; they are set when the park is installed.)
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finance_cmds.h"
#include "ops.h"
#include "verb.h"

#define PARK_COLS \
	"s.time_zone, s.currency, s.billing_measure," \
	" trim_scale(s.default_vat_bp / 100.0)::text || '%' AS default_vat," \
	" s.payment_terms_days, s.seller_name, s.seller_tax_id, s.seller_address," \
	" s.seller_bank"

static const char *const MEASURES[] = { "frame", "ip", NULL };

struct park_args {
	const char *name, *tax_id, *address, *bank, *terms, *vat, *measure;
	char vat_v[BS_OP_VALUE_MAX];
};

static int check_terms(const struct bs_op *op, void *args)
{
	const struct park_args *a = args;
	char *end;
	long v = strtol(a->terms, &end, 10);
	if (*a->terms == '\0' || *end != '\0' || v < 0 || v > 365)
		return bs_op_usage(op, "--payment-terms '%s': days, 0..365", a->terms);
	return 0;
}

static int check_tax_id(const struct bs_op *op, void *args)
{
	const struct park_args *a = args;
	size_t n = strlen(a->tax_id);
	bool ok = n >= 1 && n <= 40;
	for (const char *p = a->tax_id; ok && *p; p++)
		ok = (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= 'a' && *p <= 'z') || *p == '-';
	return ok ? 0 : bs_op_usage(op, "--seller-tax-id '%s': 1..40 letters, "
				    "digits or '-'", a->tax_id);
}

#define A(field) offsetof(struct park_args, field)
static const struct bs_verb_opt OPTS[] = {
	{ "seller-name", BS_OPT_TEXT, A(name), .max = 200 },
	{ "seller-tax-id", BS_OPT_TEXT, A(tax_id), .check = check_tax_id },
	{ "seller-address", BS_OPT_TEXT, A(address), .max = 400 },
	{ "seller-bank", BS_OPT_TEXT, A(bank), .max = 200 },
	{ "payment-terms", BS_OPT_TEXT, A(terms), .check = check_terms },
	{ "vat", BS_OPT_PERCENT, A(vat), A(vat_v) },
	{ "billing-measure", BS_OPT_CHOICE, A(measure), .choices = MEASURES },
};
#undef A

static const struct bs_object PARK = {
	"park", OPTS, sizeof(OPTS) / sizeof(OPTS[0]), sizeof(struct park_args),
	NULL,
};

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "show", "", NULL,
"Usage: bandsplit park show [--json]\n\n"
"Shows the park's settings: time zone, currency, billing byte measure,\n"
"default VAT, payment terms and the seller's legal details.\n" };
	struct bs_op op;
	static struct park_args a;
	int rc = bs_verb_start(&op, cli, &PARK, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	return bs_verb_finish(&op, bs_op_query_one(&op, "park_settings",
		"SELECT " PARK_COLS " FROM park_settings s", 0, NULL), true);
}

static int set(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "set",
		"seller-name seller-tax-id seller-address seller-bank payment-terms "
		"vat billing-measure", NULL,
"Usage: bandsplit park set [--seller-name TEXT] [--seller-tax-id ID]\n"
"                          [--seller-address TEXT] [--seller-bank TEXT]\n"
"                          [--payment-terms DAYS] [--vat PERCENT]\n"
"                          [--billing-measure frame|ip] [--json]\n"
"\n"
"Changes the park's settings (audited). The seller's name, tax id and\n"
"address are required before the first month close; invoices copy them\n"
"when issued. --payment-terms: days from the issue date to the due date\n"
"(default 30). --vat: the VAT rate of new plan versions (default 6%).\n"
"--billing-measure: which bytes are billed, for every tenant and the\n"
"carrier cost (frame: Ethernet frames as received, the default; ip: IP\n"
"total length).\n",
		.some_of = "seller-name seller-tax-id seller-address seller-bank "
			   "payment-terms vat billing-measure",
		.some_of_msg = "nothing to change" };
	struct bs_op op;
	static struct park_args a;
	int rc = bs_verb_start(&op, cli, &PARK, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	const char *p[7] = { a.name, a.tax_id, a.address, a.bank, a.terms,
			     a.vat ? a.vat_v : NULL, a.measure };
	PGresult *res = bs_op_query(&op, "UPDATE park_settings s SET"
		" seller_name = coalesce($1, seller_name),"
		" seller_tax_id = coalesce($2, seller_tax_id),"
		" seller_address = coalesce($3, seller_address),"
		" seller_bank = coalesce($4, seller_bank),"
		" payment_terms_days = coalesce($5::integer, payment_terms_days),"
		" default_vat_bp = coalesce($6::integer, default_vat_bp),"
		" billing_measure = coalesce($7, billing_measure)"
		" RETURNING " PARK_COLS, 7, p);
	return bs_verb_finish(&op, res, true);
}

static const struct bs_op_verb VERBS[] = {
	{ "show", "show the park's settings", show },
	{ "set", "change the seller's details, terms, VAT, billing measure", set },
};

const struct bs_cli_command bs_cmd_park = {
	.name = "park",
	.summary = "the park's settings: seller details, payment terms, VAT",
	.description = "The park's settings used by the month close: the "
		"seller's legal details, payment terms, default VAT rate and "
		"billing byte measure.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
