/*
 * cmd_invoice.c — `bandsplit invoice list|show|export`: the documents the
 * month close issued (invoices, credit and debit notes; 0021), read only.
 * export writes one row per line for accounting, in the stable columns
 * listed in the README ("Finance"), or the fapiao batch (fapiao-xlsx,
 * fapiao-csv); render writes one document as HTML or PDF. Both of these
 * are in cmd_invoice_docs.c (README "Finance's documents").
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "close.h"
#include "finance_cmds.h"
#include "invoice_docs.h"
#include "ops.h"
#include "verb.h"

static const char *const FORMATS[] = { "csv", "json", "fapiao-xlsx",
				       "fapiao-csv", "html", "pdf", NULL };
static const char *const LANGS[] = { "zh", "en", NULL };

struct invoice_args {
	const char *period, *tenant, *number, *format, *lang, *out;
	char tenant_v[BS_OP_VALUE_MAX];
};

static int check_period(const struct bs_op *op, void *args)
{
	const struct invoice_args *a = args;
	char why[96];
	if (bs_close_parse_period(a->period, why, sizeof(why)) != 0)
		return bs_op_usage(op, "--period '%s': %s", a->period, why);
	return 0;
}

static int check_number(const struct bs_op *op, void *args)
{
	const struct invoice_args *a = args;
	size_t n = strlen(a->number);
	bool ok = n >= 11 && n <= 20;
	for (const char *p = a->number; ok && *p; p++)
		ok = (*p >= '0' && *p <= '9') || *p == '-' || *p == 'C' ||
		     *p == 'D' || *p == 'N';
	return ok ? 0 : bs_op_usage(op, "--number '%s': a document number like "
				    "2026-000001, CN-2026-000001 or DN-2026-000001",
				    a->number);
}

/* The formats each verb takes (the option's choices are their union). */
static int check_format_in(const struct bs_op *op, const char *format,
			   const char *words)
{
	if (format == NULL || bs_op_word_in(words, format))
		return 0;
	return bs_op_usage(op, "--format '%s': expected one of %s", format, words);
}

static int check_export_format(const struct bs_op *op, void *args)
{
	const struct invoice_args *a = args;
	if (a->format != NULL && strcmp(a->format, "fapiao-xlsx") == 0 &&
	    a->out == NULL)
		return bs_op_usage(op, "--format fapiao-xlsx needs --out FILE");
	return check_format_in(op, a->format, "csv json fapiao-xlsx fapiao-csv");
}

static int check_render_format(const struct bs_op *op, void *args)
{
	const struct invoice_args *a = args;
	return check_format_in(op, a->format, "html pdf");
}

#define A(field) offsetof(struct invoice_args, field)
static const struct bs_verb_opt OPTS[] = {
	{ "period", BS_OPT_TEXT, A(period), .check = check_period },
	{ "tenant", BS_OPT_ID, A(tenant), A(tenant_v) },
	{ "number", BS_OPT_TEXT, A(number), .check = check_number },
	{ "format", BS_OPT_CHOICE, A(format), .choices = FORMATS },
	{ "lang", BS_OPT_CHOICE, A(lang), .choices = LANGS },
	{ "out", BS_OPT_TEXT, A(out), .max = 4000 },
};
#undef A

static const struct bs_object INVOICE = {
	"invoice", OPTS, sizeof(OPTS) / sizeof(OPTS[0]),
	sizeof(struct invoice_args), NULL,
};

/* A tenant given as a filter must exist (an unknown one is an error, not
 * an empty list). */
static void check_tenant(struct bs_op *op, const struct invoice_args *a)
{
	if (a->tenant == NULL)
		return;
	const char *p[1] = { a->tenant_v };
	PGresult *res = bs_op_query(op, "SELECT 1 FROM tenant WHERE tenant_id ="
				    " $1::bigint", 1, p);
	if (res != NULL && PQntuples(res) == 0)
		bs_op_fail(op, BS_EXIT_REFUSED, "--tenant %s: no such tenant",
			   a->tenant_v);
	PQclear(res);
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "list", "period tenant number", NULL,
"Usage: bandsplit invoice list [--period YYYY-MM] [--tenant ID]\n"
"                              [--number NUMBER] [--json]\n"
"\n"
"Lists invoices and notes (newest period first), with their totals in\n"
"yuan; a note names the invoice it adjusts.\n" };
	struct bs_op op;
	static struct invoice_args a;
	int rc = bs_verb_start(&op, cli, &INVOICE, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	check_tenant(&op, &a);
	char period[16] = "";
	if (a.period != NULL)
		snprintf(period, sizeof(period), "%s-01", a.period);
	const char *p[3] = { a.period ? period : NULL, a.tenant ? a.tenant_v : NULL,
			     a.number };
	PGresult *res = bs_op_query(&op,
		"SELECT i.number, replace(i.kind, '_', ' ') AS kind,"
		" o.number AS adjusts, to_char(i.period, 'YYYY-MM') AS period,"
		" i.tenant_id, i.buyer_name AS tenant, i.currency,"
		" bs_yuan(i.subtotal_fen) AS subtotal, bs_yuan(i.vat_fen) AS vat,"
		" bs_yuan(i.total_fen) AS total, i.issue_date::text AS issued,"
		" i.due_date::text AS due"
		" FROM invoice i LEFT JOIN invoice o ON o.invoice_id = i.original_id"
		" WHERE ($1::date IS NULL OR i.period = $1::date)"
		" AND ($2::bigint IS NULL OR i.tenant_id = $2::bigint)"
		" AND ($3::text IS NULL OR i.number = $3 OR o.number = $3)"
		" ORDER BY i.period DESC, i.invoice_id", 3, p);
	return bs_verb_finish(&op, res, false);
}

static int show(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "show", "number", NULL,
"Usage: bandsplit invoice show --number NUMBER [--json]\n"
"\n"
"Shows one invoice or note: both parties, the period, the dates, the\n"
"totals; its lines with their evidence (window, buckets, gaps, billed rank\n"
"and bucket, billed bytes, bytes in and out, commit, direction rule, plan\n"
"and version, allocation, byte measure); its VAT per rate. Amounts in fen.\n",
		.required = "number", .required_msg = "--number is required" };
	struct bs_op op;
	static struct invoice_args a;
	int rc = bs_verb_start(&op, cli, &INVOICE, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	const char *p[1] = { a.number };
	PGresult *head = bs_op_query_one(&op, "invoice",
		"SELECT i.invoice_id, i.number, i.kind, o.number AS adjusts,"
		" to_char(i.period, 'YYYY-MM') AS period, bs_iso(i.period_start) AS period_start,"
		" bs_iso(i.period_end) AS period_end, i.issue_date::text AS issue_date,"
		" i.due_date::text AS due_date, i.currency, i.seller_name, i.seller_tax_id,"
		" i.seller_address, i.seller_bank, i.tenant_id, i.buyer_name,"
		" i.buyer_tax_id, i.buyer_address, i.buyer_bank, i.subtotal_fen,"
		" i.vat_fen, i.total_fen, bs_yuan(i.total_fen) AS total_yuan"
		" FROM invoice i LEFT JOIN invoice o ON o.invoice_id = i.original_id"
		" WHERE i.number = $1", 1, p);
	if (head == NULL)
		return bs_op_close(&op, false);
	const char *id[1] = { PQgetvalue(head, 0, 0) };
	PGresult *lines = bs_op_query(&op,
		"SELECT line_no, segment_no, alloc_id, pool_id, plan_id, plan_version,"
		" charge, bs_iso(window_start) AS window_start,"
		" bs_iso(window_end) AS window_end, direction, byte_measure, buckets,"
		" gaps, billed_rank, bs_iso(billed_bucket) AS billed_bucket,"
		" billed_bytes, commit_bps, bytes_in, bytes_out, quantity::text,"
		" unit_price_fen, amount_fen, vat_bp, prev_amount_fen, delta_bytes_in,"
		" delta_bytes_out, description"
		" FROM invoice_line WHERE invoice_id = $1::bigint ORDER BY line_no", 1, id);
	PGresult *vat = bs_op_query(&op,
		"SELECT vat_bp, base_fen, vat_fen FROM invoice_vat"
		" WHERE invoice_id = $1::bigint ORDER BY vat_bp", 1, id);
	rc = bs_op_close(&op, true);
	if (rc == 0 && op.json) {
		/* one object: the document, its lines, its VAT */
		op.json = true;
		fputs("{\"document\": ", stdout);
		fflush(stdout);
		bs_op_print(&op, head, true);
		fputs(", \"lines\": ", stdout);
		fflush(stdout);
		bs_op_print(&op, lines, false);
		fputs(", \"vat\": ", stdout);
		fflush(stdout);
		bs_op_print(&op, vat, false);
		fputs("}\n", stdout);
	} else if (rc == 0) {
		bs_op_print(&op, head, true);
		printf("\nlines:\n");
		bs_op_print(&op, lines, false);
		printf("\nVAT:\n");
		bs_op_print(&op, vat, false);
	}
	PQclear(head);
	PQclear(lines);
	PQclear(vat);
	return rc;
}

/* The export's columns: stable, documented in the README. */
#define EXPORT_SELECT \
	"SELECT i.number, i.kind, o.number AS original_number," \
	" to_char(i.period, 'YYYY-MM') AS period, i.issue_date, i.due_date," \
	" i.tenant_id, i.buyer_name, i.buyer_tax_id, i.currency, l.line_no," \
	" l.segment_no, l.alloc_id, l.pool_id, l.plan_id, l.plan_version," \
	" l.plan_kind, l.charge," \
	" to_char(l.window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS window_start," \
	" to_char(l.window_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS window_end," \
	" l.direction, l.byte_measure, l.buckets, l.gaps, l.billed_rank," \
	" to_char(l.billed_bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS billed_bucket," \
	" l.billed_bytes, l.commit_bps, l.bytes_in, l.bytes_out," \
	" l.quantity, l.unit_price_fen, l.amount_fen, l.vat_bp," \
	" i.subtotal_fen AS document_subtotal_fen, i.vat_fen AS document_vat_fen," \
	" i.total_fen AS document_total_fen, l.description" \
	" FROM invoice i JOIN invoice_line l ON l.invoice_id = i.invoice_id" \
	" LEFT JOIN invoice o ON o.invoice_id = i.original_id" \
	" WHERE i.period = DATE '%s-01' ORDER BY i.invoice_id, l.line_no"

static int export_copy(struct bs_op *op, const char *sql)
{
	PGresult *res = PQexec(op->conn, sql);
	bool copying = PQresultStatus(res) == PGRES_COPY_OUT;
	if (!copying)
		bs_op_fail(op, BS_EXIT_FAILURE, "export: %s",
			   PQresultErrorMessage(res));
	PQclear(res);
	if (!copying)
		return op->rc;
	char *buf;
	int len;
	while ((len = PQgetCopyData(op->conn, &buf, 0)) > 0) {
		fwrite(buf, 1, (size_t)len, stdout);
		PQfreemem(buf);
	}
	while ((res = PQgetResult(op->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			bs_op_fail(op, BS_EXIT_FAILURE, "export: %s",
				   PQresultErrorMessage(res));
		PQclear(res);
	}
	if (fflush(stdout) != 0)
		bs_op_fail(op, BS_EXIT_FAILURE, "export: writing the output failed");
	return op->rc;
}

static int export(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "export", "period format out", NULL,
"Usage: bandsplit invoice export --period YYYY-MM\n"
"                                --format csv|json|fapiao-xlsx|fapiao-csv\n"
"                                [--out FILE]\n"
"\n"
"csv, json: every line of the period's invoices and notes for accounting,\n"
"one row per line with its document's figures; amounts in integer fen. The\n"
"columns are stable and listed in the README (Finance: export columns).\n"
"csv has a header row; json is an array of objects with the same keys.\n"
"\n"
"fapiao-xlsx, fapiao-csv: the batch for bulk issuing of VAT e-invoices, one\n"
"row per line of the period's invoices (buyer, tax id, item, specification,\n"
"unit, quantity, unit price, amount excluding tax, tax rate, tax; amounts in\n"
"yuan, exactly the invoice's: per invoice and rate they add up to its VAT\n"
"base and VAT). The period must be closed. fapiao-xlsx needs --out.\n"
"\n"
"--out FILE writes FILE (complete or not at all) instead of stdout.\n",
		.required = "period format",
		.required_msg = "--period and --format are required",
		.check = check_export_format };
	struct bs_op op;
	static struct invoice_args a;
	int rc = bs_verb_start(&op, cli, &INVOICE, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	if (strncmp(a.format, "fapiao-", 7) == 0) {
		bs_invoice_export_fapiao(&op, a.period, a.format, a.out);
		return bs_op_close(&op, op.rc == 0);
	}
	if (a.out != NULL && freopen(a.out, "w", stdout) == NULL) {
		bs_op_fail(&op, BS_EXIT_FAILURE, "--out %s: cannot write it", a.out);
		return bs_op_close(&op, false);
	}
	/* COPY takes no parameters: the period was checked to be YYYY-MM */
	char select[4096], sql[4400];
	snprintf(select, sizeof(select), EXPORT_SELECT, a.period);
	if (strcmp(a.format, "csv") == 0)
		snprintf(sql, sizeof(sql), "COPY (%s) TO STDOUT WITH (FORMAT csv,"
			 " HEADER true)", select);
	else
		snprintf(sql, sizeof(sql), "SELECT coalesce(json_agg(x), '[]')::text"
			 " FROM (%s) x", select);
	if (strcmp(a.format, "csv") == 0) {
		export_copy(&op, sql);
	} else {
		PGresult *res = bs_op_query(&op, sql, 0, NULL);
		if (res != NULL)
			printf("%s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	return bs_op_close(&op, true);
}

static int render(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "render", "number format lang out", NULL,
"Usage: bandsplit invoice render --number NUMBER --format html|pdf\n"
"                                [--lang zh|en] [--out FILE]\n"
"\n"
"Writes one invoice or note as it is sent: seller and buyer with their\n"
"legal details as issued, the lines with their evidence (window, commit,\n"
"95th, billed bytes), VAT per rate, the totals (in zh also in Chinese\n"
"capital numerals), the statement digest, and the notes referencing an\n"
"invoice. html is one self-contained page that prints on A4; pdf is that\n"
"page printed by headless Chromium. --lang defaults to zh. Without --out\n"
"the document goes to stdout.\n",
		.required = "number format",
		.required_msg = "--number and --format are required",
		.check = check_render_format };
	struct bs_op op;
	static struct invoice_args a;
	int rc = bs_verb_start(&op, cli, &INVOICE, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	bs_invoice_render_cmd(&op, a.number, a.format, a.lang ? a.lang : "zh",
			      a.out);
	return bs_op_close(&op, false);
}

static const struct bs_op_verb VERBS[] = {
	{ "list", "list invoices and notes", list },
	{ "show", "show one document, its lines and VAT", show },
	{ "export", "a period's lines for accounting (csv, json) or fapiao batch"
	  " (fapiao-xlsx, fapiao-csv)", export },
	{ "render", "one document as sent (html, pdf; zh, en)", render },
};

const struct bs_cli_command bs_cmd_invoice = {
	.name = "invoice",
	.summary = "issued invoices and notes: list, show, export, render",
	.description = "The invoices, credit notes and debit notes issued by "
		"'bandsplit close'. They never change once issued.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
