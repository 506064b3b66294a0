/*
 * invoice_pending.c — stands in for bs_invoice_render (fapiao's
 * settlement/statement/invoice_doc.c) while that file is not yet built:
 * bandsplit-api answers HTML and PDF invoices with a logged 500 until
 * then. settlement/meson.build drops this file once the CLI compiles the
 * real one.
 */
#include "invoice_doc.h"

int bs_invoice_render(PGconn *conn, const char *number, enum bs_doc_format fmt,
		      enum bs_doc_lang lang, FILE *out, char *err,
		      size_t err_size)
{
	(void)conn; (void)number; (void)fmt; (void)lang; (void)out;
	snprintf(err, err_size, "invoice documents are not built yet");
	return 3;
}
