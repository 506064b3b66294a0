/*
 * cmd_ledger.c — `bandsplit ledger accounts|trial-balance`: the double-entry
 * ledger the month close posts to (0023). Postings: debit > 0, credit < 0.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "close.h"
#include "finance_cmds.h"
#include "ops.h"
#include "verb.h"

struct ledger_args {
	const char *period;
};

static int check_period(const struct bs_op *op, void *args)
{
	const struct ledger_args *a = args;
	char why[96];
	if (bs_close_parse_period(a->period, why, sizeof(why)) != 0)
		return bs_op_usage(op, "--period '%s': %s", a->period, why);
	return 0;
}

static const struct bs_verb_opt OPTS[] = {
	{ "period", BS_OPT_TEXT, offsetof(struct ledger_args, period),
	  .check = check_period },
};

static const struct bs_object LEDGER = {
	"ledger", OPTS, 1, sizeof(struct ledger_args), NULL,
};

static int accounts(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "accounts", "", NULL,
"Usage: bandsplit ledger accounts [--json]\n"
"\n"
"Lists the ledger's accounts with their balance over all periods, in fen\n"
"(debit positive): receivable:tenant:ID, revenue:pool:ID, vat:payable,\n"
"cost:pool:ID, payable:carrier:NAME.\n" };
	struct bs_op op;
	static struct ledger_args a;
	int rc = bs_verb_start(&op, cli, &LEDGER, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	PGresult *res = bs_op_query(&op,
		"SELECT a.code, a.name, a.kind, count(p.*) AS postings,"
		" coalesce(sum(p.amount_fen), 0)::bigint AS balance_fen,"
		" bs_yuan(coalesce(sum(p.amount_fen), 0)::bigint) AS balance"
		" FROM account a LEFT JOIN posting p ON p.account_id = a.account_id"
		" GROUP BY a.account_id ORDER BY a.code", 0, NULL);
	return bs_verb_finish(&op, res, false);
}

static int trial_balance(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "trial-balance", "period", NULL,
"Usage: bandsplit ledger trial-balance --period YYYY-MM [--json]\n"
"\n"
"Per account and currency, the debits and credits posted for the period's\n"
"documents (invoices, notes, carrier bills), in fen, and a TOTAL row per\n"
"currency. Exits 1 if the debits and credits do not sum to zero.\n",
		.required = "period", .required_msg = "--period is required" };
	struct bs_op op;
	static struct ledger_args a;
	int rc = bs_verb_start(&op, cli, &LEDGER, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	char period[16];
	snprintf(period, sizeof(period), "%s-01", a.period);
	const char *p[1] = { period };
	PGresult *res = bs_op_query(&op,
		"WITH t AS ("
		" SELECT e.currency, a.code, a.name, a.kind,"
		"  sum(greatest(p.amount_fen, 0))::bigint AS debit_fen,"
		"  sum(greatest(-p.amount_fen, 0))::bigint AS credit_fen"
		" FROM journal_entry e JOIN posting p ON p.entry_id = e.entry_id"
		" JOIN account a ON a.account_id = p.account_id"
		" WHERE e.period = $1::date GROUP BY 1, 2, 3, 4)"
		" SELECT code AS account, name, kind, currency, debit_fen, credit_fen,"
		"  debit_fen - credit_fen AS balance_fen FROM ("
		"  SELECT 0 AS o, * FROM t"
		"  UNION ALL"
		"  SELECT 1, currency, 'TOTAL', '', '', sum(debit_fen)::bigint,"
		"   sum(credit_fen)::bigint FROM t GROUP BY currency) x"
		" ORDER BY currency, o, code", 1, p);
	if (res != NULL) {
		for (int r = 0; r < PQntuples(res); r++)
			if (strcmp(PQgetvalue(res, r, 0), "TOTAL") == 0 &&
			    strcmp(PQgetvalue(res, r, 6), "0") != 0)
				bs_op_fail(&op, BS_EXIT_REFUSED, "the ledger does not "
					   "balance for %s in %s: %s fen", a.period,
					   PQgetvalue(res, r, 3), PQgetvalue(res, r, 6));
	}
	rc = bs_op_close(&op, true);
	if (res != NULL)
		bs_op_print(&op, res, false);
	PQclear(res);
	return rc;
}

static const struct bs_op_verb VERBS[] = {
	{ "accounts", "the accounts and their balances", accounts },
	{ "trial-balance", "a period's debits and credits per account", trial_balance },
};

const struct bs_cli_command bs_cmd_ledger = {
	.name = "ledger",
	.summary = "the double-entry ledger: accounts, trial balance",
	.description = "The ledger the month close posts to: every invoice and "
		"note (receivable / revenue / VAT payable) and every carrier bill "
		"(cost / payable), each entry balanced.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
