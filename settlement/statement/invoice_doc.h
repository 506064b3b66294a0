/*
 * invoice_doc.h — one issued invoice, credit note or debit note as it is
 * sent (issue 12, "Finance's documents"): a self-contained HTML page that
 * prints on A4 (docfmt's print CSS), or that page as PDF (docfmt's
 * headless chromium). Used by `bandsplit invoice render` and by the tenant
 * API.
 *
 * What it reads (all inside the caller's transaction): invoice (the
 * document, its original and the notes referencing it), invoice_line,
 * invoice_vat, the statement digest stored at close (invoice_digest, 0025)
 * and close_run.time_zone (the zone the document was issued in; close_run
 * has no tenant_id: the API's role needs to read that column). The seller's legal details are those copied onto the
 * invoice at issue: park_settings is not read.
 */
#ifndef BS_INVOICE_DOC_H
#define BS_INVOICE_DOC_H

#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>

#include "docfmt.h"

/* Writes document `number` to out as HTML or PDF (fmt BS_DOC_HTML or
 * BS_DOC_PDF), in lang. Runs its reads inside the caller's open
 * transaction (BEGIN ... READ ONLY REPEATABLE READ); never BEGINs or
 * COMMITs itself. Tenant isolation is the connection's (RLS when called by
 * the API): a document the connection cannot see is "not found". Returns
 * 0 ok, 1 not found, 2 bad argument (a format other than HTML/PDF, a
 * malformed number), 3 failure; err names the problem. */
int bs_invoice_render(PGconn *conn, const char *number, enum bs_doc_format fmt,
		      enum bs_doc_lang lang, FILE *out, char *err,
		      size_t err_size);

#endif
