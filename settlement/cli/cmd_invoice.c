/*
 * cmd_invoice.c — `bandsplit invoice list|show|export`: the documents the
 * month close issued (invoices, credit and debit notes; 0021), read only.
 * export writes one row per line for accounting, in the stable columns
 * listed in the README ("Finance").
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "close.h"
#include "finance_cmds.h"
#include "ops.h"
#include "verb.h"

static const char *const FORMATS[] = { "csv", "json", NULL };

struct invoice_args {
	const char *period, *tenant, *number, *format;
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

#define A(field) offsetof(struct invoice_args, field)
static const struct bs_verb_opt OPTS[] = {
	{ "period", BS_OPT_TEXT, A(period), .check = check_period },
	{ "tenant", BS_OPT_ID, A(tenant), A(tenant_v) },
	{ "number", BS_OPT_TEXT, A(number), .check = check_number },
	{ "format", BS_OPT_CHOICE, A(format), .choices = FORMATS },
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
	static const struct bs_verb verb = { "export", "period format", NULL,
"Usage: bandsplit invoice export --period YYYY-MM --format csv|json\n"
"\n"
"Writes every line of the period's invoices and notes for accounting, one\n"
"row per line with its document's figures; amounts in integer fen. The\n"
"columns are stable and listed in the README (Finance: export columns).\n"
"csv has a header row; json is an array of objects with the same keys.\n",
		.required = "period format",
		.required_msg = "--period and --format are required" };
	struct bs_op op;
	static struct invoice_args a;
	int rc = bs_verb_start(&op, cli, &INVOICE, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
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

static const struct bs_op_verb VERBS[] = {
	{ "list", "list invoices and notes", list },
	{ "show", "show one document, its lines and VAT", show },
	{ "export", "a period's lines for accounting (csv, json)", export },
};

const struct bs_cli_command bs_cmd_invoice = {
	.name = "invoice",
	.summary = "issued invoices and notes: list, show, export",
	.description = "The invoices, credit notes and debit notes issued by "
		"'bandsplit close'. They never change once issued.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
