/*
 * deps.h — what bandsplit-api uses from other parts of bandsplit, in one
 * place: the token check (settlement/api_auth.h), the statement and
 * invoice documents (settlement/statement/), readiness notification
 * (common/notify.h). Until a part is in the tree its declaration is given
 * here and pending.c stands in for it (answering "not built").
 */
#ifndef BS_API_DEPS_H
#define BS_API_DEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <libpq-fe.h>

#if __has_include("api_auth.h")
#include "api_auth.h"
#else
#define BS_API_PENDING_AUTH 1
int bs_api_auth_begin(PGconn *conn, const char *token, int64_t *tenant_id,
		      char *err, size_t err_size);
bool bs_api_token_wellformed(const char *token);
#endif

#if __has_include("statement/statement.h")
#include "statement/statement.h"
#else
#define BS_API_PENDING_STATEMENT 1
enum bs_doc_format { BS_DOC_CSV, BS_DOC_JSON, BS_DOC_HTML, BS_DOC_PDF };
enum bs_doc_lang { BS_LANG_EN, BS_LANG_ZH };
int bs_statement_write(PGconn *conn, int64_t tenant_id, const char *period,
		       enum bs_doc_format fmt, enum bs_doc_lang lang,
		       FILE *out, char *err, size_t err_size);
#endif

#if __has_include("statement/invoice_doc.h")
#include "statement/invoice_doc.h"
#else
#define BS_API_PENDING_INVOICE 1
int bs_invoice_render(PGconn *conn, const char *number, enum bs_doc_format fmt,
		      enum bs_doc_lang lang, FILE *out, char *err,
		      size_t err_size);
#endif

#if __has_include("notify.h")
#include "notify.h"
#else
#define BS_API_PENDING_NOTIFY 1
void bs_notify_ready(void);
void bs_notify_watchdog(void);
void bs_notify_stopping(void);
#endif

#endif
