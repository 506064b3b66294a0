/*
 * close.h — the month close: rate every allocation active in a period with
 * the rating library (rating.h) on the period's 5-minute rollups, and issue
 * the invoices, notes, carrier bills and journal entries in the caller's one
 * transaction (schemas/sql/0021-0024).
 *
 * The database side lives in bs_close_issue() (0024); this file reads the
 * model and the usage, rates, and stages the lines for it.
 */
#ifndef BS_FINANCE_CLOSE_H
#define BS_FINANCE_CLOSE_H

#include <stdbool.h>

#include "ops.h"

struct bs_close_request {
	char period[8];          /* "2026-11", checked by bs_close_parse_period */
	bool adjust;             /* --adjust: notes for what changed since */
	bool dry_run;            /* print what would be issued, write nothing */
};

/* "YYYY-MM" with a year 2000..9999 and a month 01..12 → 0, else -1 with
 * the reason in why. */
int bs_close_parse_period(const char *s, char *why, size_t why_len);

/* What a run did, for its caller to print once the transaction is over. */
struct bs_close_report {
	PGresult *documents;     /* the documents issued (NULL: none) */
	char message[512];       /* one line for stdout */
};

/* Runs the close in op's open transaction, which it leaves to be committed
 * (*commit) or rolled back. Returns op->rc. */
int bs_close_run(struct bs_op *op, const struct bs_close_request *req,
		 bool *commit, struct bs_close_report *report);

#endif
