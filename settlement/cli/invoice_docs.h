/*
 * invoice_docs.h — finance's documents in `bandsplit invoice` (issue 12):
 * the fapiao batch export and the invoice render, run by cmd_invoice.c's
 * verbs inside the command's open transaction (op).
 */
#ifndef BS_CLI_INVOICE_DOCS_H
#define BS_CLI_INVOICE_DOCS_H

#include "ops.h"

/* `invoice export --period P --format fapiao-xlsx|fapiao-csv [--out F]`:
 * one row per line of the period's invoices (README "Finance's
 * documents"). Returns the exit code (printed): 1 when the period is not
 * closed or has no invoice, 2 for fapiao-xlsx without --out. */
int bs_invoice_export_fapiao(struct bs_op *op, const char *period,
			     const char *format, const char *out_path);

/* `invoice render --number N --format html|pdf [--lang zh|en] [--out F]`.
 * Returns the exit code (printed). */
int bs_invoice_render_cmd(struct bs_op *op, const char *number,
			  const char *format, const char *lang,
			  const char *out_path);

#endif
