/*
 * cmd_rollup.c — `bandsplit rollup compact`: finished UTC days of 5-minute
 * rollups kept compacted (usage_day, 0029), one row per (day, tenant, pool,
 * direction), for the month close to read. Each day is compacted in its own
 * transaction (bs_usage_day_compact: settlement's writes wait for it, about
 * half a second a day in a park of 1,000 tenants); a day written to after
 * its compaction is dirty and is compacted again by the next run.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ops.h"
#include "parse_units.h"
#include "verb.h"

/* Days compacted by one run, at the most: eleven years (a first run on an
 * old park); the rest waits for the next run. */
#define COMPACT_DAYS_MAX 4096

struct rollup_args {
	const char *through;
	char through_day[11];
};

static int check_through(const struct bs_op *op, void *args)
{
	struct rollup_args *a = args;
	/* a date alone (10 characters), checked as the CLI checks times */
	char ts[BS_TIME_TEXT_MAX], why[160];
	if (strlen(a->through) != 10 ||
	    bs_parse_time(a->through, ts, sizeof(ts), why, sizeof(why)) != 0)
		return bs_op_usage(op, "--through '%s': expected a date, "
				   "YYYY-MM-DD (UTC)", a->through);
	memcpy(a->through_day, a->through, sizeof(a->through_day));
	return 0;
}

static const struct bs_verb_opt OPTS[] = {
	{ "through", BS_OPT_TEXT, offsetof(struct rollup_args, through),
	  .check = check_through },
};

static const struct bs_object ROLLUP = {
	"rollup", OPTS, 1, sizeof(struct rollup_args), NULL,
};

static int compact(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "compact", "through", NULL,
"Usage: bandsplit rollup compact [--through YYYY-MM-DD] [--json]\n"
"\n"
"Compacts every UTC day through --through (default: yesterday, UTC) that\n"
"has usage and is not compacted yet, or was written to after it was\n"
"(late usage): its 5-minute rollups become one row per (tenant, pool,\n"
"direction) in usage_day, which `bandsplit close` reads instead of the\n"
"day's rows. Run it daily (the package's bandsplit-compact.timer does).\n"
"Each day is its own transaction; settlement's writes wait while a day is\n"
"compacted. Prints each day and the (tenant, pool, direction) rows written.\n" };
	struct bs_op op;
	static struct rollup_args a;
	int rc = bs_verb_start(&op, cli, &ROLLUP, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	if (a.through == NULL) {
		time_t yesterday = time(NULL) - 86400;
		struct tm tm;
		gmtime_r(&yesterday, &tm);
		strftime(a.through_day, sizeof(a.through_day), "%Y-%m-%d", &tm);
	}
	const char *p[1] = { a.through_day };
	PGresult *days = bs_op_query(&op, "SELECT d::text FROM"
		" bs_usage_day_pending($1::date) d", 1, p);
	if (days == NULL || bs_op_commit(&op) != 0) {
		PQclear(days);
		return bs_op_close(&op, false);
	}
	int n = PQntuples(days);
	if (n > COMPACT_DAYS_MAX)
		n = COMPACT_DAYS_MAX;
	if (op.json)
		printf("[");
	for (int i = 0; i < n && op.rc == 0; i++) {
		const char *day[1] = { PQgetvalue(days, i, 0) };
		PGresult *res = bs_op_query(&op, "SELECT bs_usage_day_compact($1::date)",
					    1, day);
		if (res == NULL)
			break;
		if (op.json)
			printf("%s{\"day\":\"%s\",\"pairs\":%s}", i > 0 ? "," : "",
			       day[0], PQgetvalue(res, 0, 0));
		else
			printf("%s  %s\n", day[0], PQgetvalue(res, 0, 0));
		fflush(stdout);
		PQclear(res);
	}
	if (op.json)
		printf("]\n");
	if (op.rc == 0 && PQntuples(days) > n)
		fprintf(stderr, "bandsplit rollup compact: %d more days wait for the "
			"next run\n", PQntuples(days) - n);
	PQclear(days);
	return bs_op_close(&op, false);
}

static const struct bs_op_verb VERBS[] = {
	{ "compact", "compact finished UTC days for the month close", compact },
};

const struct bs_cli_command bs_cmd_rollup = {
	.name = "rollup",
	.summary = "the 5-minute rollups: compact finished days",
	.description = "The settled 5-minute rollups (usage_5m). Finished UTC "
		"days are kept compacted as well (usage_day), one row per tenant, "
		"pool and direction, for the month close to read quickly.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
