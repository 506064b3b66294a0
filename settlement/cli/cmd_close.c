/*
 * cmd_close.c — `bandsplit close --period YYYY-MM [--dry-run] [--adjust]`:
 * the month close (settlement/finance/close.c does the work).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "close.h"
#include "ops.h"

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	enum { OPT_PERIOD = 256, OPT_DRY_RUN, OPT_ADJUST, OPT_JSON, OPT_HELP };
	static const struct option options[] = {
		{ "period", required_argument, NULL, OPT_PERIOD },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "adjust", no_argument, NULL, OPT_ADJUST },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct bs_op op;
	struct bs_close_request req = { .period = "" };
	const char *period = NULL;
	int c;

	bs_op_init(&op, cli, "close");
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_PERIOD: period = optarg; break;
		case OPT_DRY_RUN: req.dry_run = true; break;
		case OPT_ADJUST: req.adjust = true; break;
		case OPT_JSON: op.json = true; break;
		case OPT_HELP:
			fputs(
"Usage: bandsplit close --period YYYY-MM [--dry-run] [--adjust] [--json]\n"
"\n"
"Closes a month: rates every allocation active in the period (the park's\n"
"time zone; the month begins at local midnight) on the settled 5-minute\n"
"rollups, in the park's billing byte measure, and issues in one\n"
"transaction one invoice per tenant and currency (lines per segment and\n"
"charge kind, with their evidence; VAT per rate; both parties' legal\n"
"details; the due date from the payment terms), a carrier bill per pool,\n"
"and a balanced journal entry for each. Numbers are gapless per year.\n"
"\n"
"  --period YYYY-MM  the month to close\n"
"  --dry-run         print what would be issued; write nothing\n"
"  --adjust          after a close: re-rate the period and issue a credit or\n"
"                    debit note per invoice whose figures changed (usage that\n"
"                    settled late), and carrier bill adjustments; the issued\n"
"                    documents never change\n"
"\n"
"One close runs at a time (a second one waits). Closing a closed period\n"
"changes nothing and says so, with any usage settled since (run --adjust).\n"
"Refused (exit 1), naming the culprit, with nothing written: a plan with\n"
"no version in force, a tenant without a tax id, usage of an unknown tenant\n"
"or of a pool without a contract in the month, incomplete seller details.\n"
"Exit status: 0 ok, 1 refused, 2 usage error, 3 failure.\n", stdout);
			return BS_EXIT_OK;
		default:
			return bs_op_bad_option(&op, argv);
		}
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (period == NULL)
		return bs_op_usage(&op, "--period is required (YYYY-MM)");
	char why[96];
	if (bs_close_parse_period(period, why, sizeof(why)) != 0)
		return bs_op_usage(&op, "--period '%s': %s", period, why);
	snprintf(req.period, sizeof(req.period), "%s", period);
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	bool commit = false;
	struct bs_close_report report;
	bs_close_run(&op, &req, &commit, &report);
	int rc = bs_op_close(&op, commit);
	if (rc == 0 && report.documents != NULL)
		bs_op_print(&op, report.documents, false);
	if (rc == 0 && report.message[0] != '\0')
		fprintf(op.json ? stderr : stdout, "%s\n", report.message);
	PQclear(report.documents);
	return rc;
}

const struct bs_cli_command bs_cmd_close = {
	.name = "close",
	.summary = "close a month: invoices, carrier bills, ledger (--adjust: notes)",
	.run = run,
};
