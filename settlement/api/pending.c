/*
 * pending.c — stand-ins for the parts of bandsplit that bandsplit-api
 * uses and that are not in the tree yet (see deps.h): each refuses with
 * "not built". Compiles to nothing once the real ones are there.
 */
#include "deps.h"

#include <stdio.h>

#ifdef BS_API_PENDING_AUTH
int bs_api_auth_begin(PGconn *conn, const char *token, int64_t *tenant_id,
		      char *err, size_t err_size)
{
	(void)conn; (void)token; (void)tenant_id;
	snprintf(err, err_size, "token check not built (settlement/api_auth.h)");
	return 3;
}

bool bs_api_token_wellformed(const char *token)
{
	(void)token;
	return true;
}
#endif

#ifdef BS_API_PENDING_STATEMENT
int bs_statement_write(PGconn *conn, int64_t tenant_id, const char *period,
		       enum bs_doc_format fmt, enum bs_doc_lang lang,
		       FILE *out, char *err, size_t err_size)
{
	(void)conn; (void)tenant_id; (void)period; (void)fmt; (void)lang; (void)out;
	snprintf(err, err_size, "statements not built (settlement/statement/)");
	return 3;
}
#endif

#ifdef BS_API_PENDING_INVOICE
int bs_invoice_render(PGconn *conn, const char *number, enum bs_doc_format fmt,
		      enum bs_doc_lang lang, FILE *out, char *err,
		      size_t err_size)
{
	(void)conn; (void)number; (void)fmt; (void)lang; (void)out;
	snprintf(err, err_size, "invoice documents not built (settlement/statement/)");
	return 3;
}
#endif

#ifdef BS_API_PENDING_NOTIFY
void bs_notify_ready(void) {}
void bs_notify_watchdog(void) {}
void bs_notify_stopping(void) {}
#endif

/* keeps the file a translation unit when nothing is pending */
extern const int bs_api_pending_unit;
const int bs_api_pending_unit = 0;
