/*
 * statement.h — a tenant's usage statement for a month: every 5-minute
 * bucket of each of its allocations (in, out, billable bytes, rate, marks:
 * billed sample, dropped top sample, gap), daily and monthly volumes, per
 * segment the commit, the 95th and the charges (from the invoice's lines
 * when the period is closed, else rated now and marked not final), the
 * invoice and its notes, and the sample digest (sampledigest.h). CSV and
 * JSON carry every bucket; HTML and PDF the charts, the tables and the
 * marked buckets (README, "Tenant statements").
 *
 * `bandsplit statement verify FILE.csv` recomputes the digest of a CSV
 * statement: bs_statement_verify_csv.
 */
#ifndef BS_STATEMENT_H
#define BS_STATEMENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "docfmt.h"   /* enum bs_doc_format, enum bs_doc_lang */

/* Writes tenant's statement of period "YYYY-MM" to out. Runs its reads
 * inside the caller's open transaction (caller did BEGIN ... READ ONLY
 * REPEATABLE READ); never BEGINs/COMMITs itself. Returns 0 ok,
 * 1 not found (no such tenant/period data), 2 bad argument, 3 failure; err
 * names the problem. */
int bs_statement_write(PGconn *conn, int64_t tenant_id, const char *period,
		       enum bs_doc_format fmt, enum bs_doc_lang lang,
		       FILE *out, char *err, size_t err_size);

/* Checks a CSV statement (text of len bytes): every bucket line's derived
 * figures, then the digest recomputed from the bucket lines against the
 * one the statement states (the one stored at close when closed). Returns
 * 0 match, 1 mismatch (msg names the line), 2 malformed (msg names the
 * line). msg gets a one-line summary either way. */
int bs_statement_verify_csv(const char *text, size_t len, char *msg,
			    size_t msg_size);

#endif
