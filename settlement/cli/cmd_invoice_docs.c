/*
 * cmd_invoice_docs.c — the fapiao batch export (`bandsplit invoice export
 * --format fapiao-xlsx|fapiao-csv`) and the invoice render (`bandsplit
 * invoice render`); see invoice_docs.h and the README "Finance's
 * documents".
 *
 * The export: one row per line of every invoice of a closed period (notes
 * are not in it: a credit note is issued as a red-letter fapiao against
 * the original, one by one), in the columns of FAPIAO_COLUMNS. Amounts
 * are the invoice's own: each line's amount excluding tax, and the VAT of
 * each rate (invoice_vat) split over its lines by largest remainder
 * (fapiao_tax.h), so that per invoice and rate Σ amounts = the VAT base
 * and Σ tax = the VAT. XLSX through libxlsxwriter; CSV per RFC 4180 in
 * UTF-8 with a byte order mark (so that Excel reads the Chinese), CRLF.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "fapiao_tax.h"
#include "invoice_doc.h"
#include "invoice_docs.h"
#include "outfile.h"

/* What every fapiao row's item is (商品和服务税收分类: 信息技术服务). */
#define FAPIAO_ITEM "*信息技术服务*带宽服务"

/* The columns, in order (README: the export's columns). */
enum col {
	C_NUMBER, C_LINE, C_BUYER, C_BUYER_TAX_ID, C_ITEM, C_SPEC, C_UNIT,
	C_QTY, C_PRICE, C_AMOUNT, C_RATE, C_TAX, C_NCOLS
};
static const char *const FAPIAO_COLUMNS[C_NCOLS] = {
	"单据编号", "行号", "购买方名称", "购买方纳税人识别号", "项目名称",
	"规格型号", "单位", "数量", "单价", "金额", "税率", "税额",
};

/* The period's invoice lines with their rate's VAT row, in document and
 * line order; one statement, so one snapshot. Quantity × unit price =
 * the amount (to a fen): a prorated line's quantity is its amount over
 * the unit price (Mbps-months), a volume line's unit price its amount over
 * its GB. */
static const char LINES_SQL[] =
	"SELECT i.invoice_id, i.number, l.line_no, i.buyer_name, i.buyer_tax_id,"
	" p.name || ' ' || CASE WHEN l.charge = 'overage' THEN '超出承诺带宽（第95百分位）'"
	"   WHEN l.charge = 'volume' THEN '流量'"
	"   WHEN l.plan_kind = 'flat' THEN '固定带宽'"
	"   ELSE '承诺带宽' END || ' ' || bs_mbps(l.commit_bps) || 'Mbps' AS spec,"
	" CASE WHEN l.charge = 'volume' THEN 'GB' ELSE 'Mbps·月' END AS unit,"
	" CASE WHEN l.unit_price_fen > 0 AND l.amount_fen > 0"
	"   THEN trim_scale(round(l.amount_fen::numeric / l.unit_price_fen, 8))::text"
	"   ELSE trim_scale(round(l.quantity, 8))::text END AS qty,"
	" CASE WHEN l.unit_price_fen IS NOT NULL THEN bs_yuan(l.unit_price_fen)"
	"   WHEN l.quantity > 0"
	"   THEN trim_scale(round(l.amount_fen / 100.0 / l.quantity, 8))::text"
	"   END AS price,"
	" l.amount_fen, l.vat_bp, coalesce(v.base_fen, 0) AS base_fen,"
	" coalesce(v.vat_fen, 0) AS vat_fen"
	" FROM invoice i JOIN invoice_line l ON l.invoice_id = i.invoice_id"
	" JOIN pool p ON p.pool_id = l.pool_id"
	" LEFT JOIN invoice_vat v ON v.invoice_id = i.invoice_id AND v.vat_bp = l.vat_bp"
	" WHERE i.period = $1::date AND i.kind = 'invoice'"
	" ORDER BY i.invoice_id, l.line_no";
enum { Q_ID, Q_NUMBER, Q_LINE, Q_BUYER, Q_TAX_ID, Q_SPEC, Q_UNIT, Q_QTY,
       Q_PRICE, Q_AMOUNT, Q_VAT_BP, Q_BASE, Q_VAT };

#define MAX_ROWS 1000000

static int64_t field_i64(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* The tax of every row: per invoice and rate, its VAT split over its
 * lines. Fails (3) when the lines of a rate do not add up to its base. */
static int split_taxes(struct bs_op *op, const PGresult *res, int64_t *tax)
{
	int n = PQntuples(res);
	int64_t *amount = malloc((size_t)n * sizeof(*amount));
	int64_t *part = malloc((size_t)n * sizeof(*part));
	int *idx = malloc((size_t)n * sizeof(*idx));
	char *done = calloc((size_t)n, 1);
	if (amount == NULL || part == NULL || idx == NULL || done == NULL) {
		bs_op_fail(op, BS_EXIT_FAILURE, "out of memory");
		goto out;
	}
	for (int first = 0; first < n; first++) {
		if (done[first])
			continue;
		/* the lines of first's invoice at first's rate */
		size_t k = 0;
		int64_t base = 0;
		for (int r = first; r < n && strcmp(PQgetvalue(res, r, Q_ID),
				PQgetvalue(res, first, Q_ID)) == 0; r++) {
			if (done[r] || strcmp(PQgetvalue(res, r, Q_VAT_BP),
					      PQgetvalue(res, first, Q_VAT_BP)) != 0)
				continue;
			idx[k] = r;
			amount[k] = field_i64(res, r, Q_AMOUNT);
			base += amount[k];
			done[r] = 1;
			k++;
		}
		int64_t want_base = field_i64(res, first, Q_BASE);
		int64_t vat = field_i64(res, first, Q_VAT);
		if (base != want_base || k > BS_FAPIAO_TAX_MAX_LINES ||
		    bs_fapiao_tax_split(amount, k, vat, part) != 0) {
			bs_op_fail(op, BS_EXIT_FAILURE, "invoice %s, VAT rate %s bp: "
				   "lines add up to %" PRId64 " fen, the VAT base is "
				   "%" PRId64 " fen (VAT %" PRId64 "): not exported",
				   PQgetvalue(res, first, Q_NUMBER),
				   PQgetvalue(res, first, Q_VAT_BP), base, want_base, vat);
			goto out;
		}
		for (size_t j = 0; j < k; j++)
			tax[idx[j]] = part[j];
	}
out:
	free(amount);
	free(part);
	free(idx);
	free(done);
	return op->rc;
}

/* fen as yuan text: -1234 → "-12.34". */
static void yuan(int64_t fen, char *out, size_t n)
{
	uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
	snprintf(out, n, "%s%" PRIu64 ".%02" PRIu64, fen < 0 ? "-" : "",
		 a / 100, a % 100);
}

/* A rate in basis points as a decimal fraction: 600 → "0.06", 550 →
 * "0.055", 0 → "0". */
static void rate_text(int bp, char *out, size_t n)
{
	assert(bp >= 0 && bp <= 10000);
	if (bp == 10000) {
		snprintf(out, n, "1");
		return;
	}
	char digits[8];
	snprintf(digits, sizeof(digits), "%04d", bp);
	size_t len = strlen(digits);
	while (len > 0 && digits[len - 1] == '0')
		digits[--len] = '\0';
	snprintf(out, n, len == 0 ? "0" : "0.%s", digits);
}

/* One row's cells as text, in column order. */
struct row_text {
	char line[16], amount[32], rate[16], tax[32];
	const char *cell[C_NCOLS];
};

static void row_cells(const PGresult *res, int r, int64_t tax,
		      struct row_text *t)
{
	snprintf(t->line, sizeof(t->line), "%s", PQgetvalue(res, r, Q_LINE));
	yuan(field_i64(res, r, Q_AMOUNT), t->amount, sizeof(t->amount));
	rate_text(atoi(PQgetvalue(res, r, Q_VAT_BP)), t->rate, sizeof(t->rate));
	yuan(tax, t->tax, sizeof(t->tax));
	t->cell[C_NUMBER] = PQgetvalue(res, r, Q_NUMBER);
	t->cell[C_LINE] = t->line;
	t->cell[C_BUYER] = PQgetvalue(res, r, Q_BUYER);
	t->cell[C_BUYER_TAX_ID] = PQgetvalue(res, r, Q_TAX_ID);
	t->cell[C_ITEM] = FAPIAO_ITEM;
	t->cell[C_SPEC] = PQgetvalue(res, r, Q_SPEC);
	t->cell[C_UNIT] = PQgetvalue(res, r, Q_UNIT);
	t->cell[C_QTY] = PQgetvalue(res, r, Q_QTY);
	t->cell[C_PRICE] = PQgetvalue(res, r, Q_PRICE);
	t->cell[C_AMOUNT] = t->amount;
	t->cell[C_RATE] = t->rate;
	t->cell[C_TAX] = t->tax;
}

static void csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int write_csv(FILE *f, const PGresult *res, const int64_t *tax)
{
	fputs("\xEF\xBB\xBF", f);   /* UTF-8 byte order mark */
	for (int c = 0; c < C_NCOLS; c++) {
		fputs(c ? "," : "", f);
		csv_field(f, FAPIAO_COLUMNS[c]);
	}
	fputs("\r\n", f);
	for (int r = 0; r < PQntuples(res); r++) {
		struct row_text t;
		row_cells(res, r, tax[r], &t);
		for (int c = 0; c < C_NCOLS; c++) {
			fputs(c ? "," : "", f);
			csv_field(f, t.cell[c]);
		}
		fputs("\r\n", f);
	}
	return ferror(f) ? -1 : 0;
}

/* Numbers are numbers in the sheet (amounts 0.00, rates 0%); the number,
 * tax id and texts are strings; an empty cell stays empty. */
static lxw_error write_xlsx(const char *path, const PGresult *res,
			    const int64_t *tax)
{
	lxw_workbook *wb = workbook_new(path);
	if (wb == NULL)
		return LXW_ERROR_CREATING_XLSX_FILE;
	lxw_worksheet *ws = workbook_add_worksheet(wb, "发票明细");
	lxw_format *head = workbook_add_format(wb);
	lxw_format *money = workbook_add_format(wb);
	lxw_format *exact = workbook_add_format(wb);
	lxw_format *pct = workbook_add_format(wb);
	format_set_bold(head);
	format_set_num_format(money, "0.00");
	format_set_num_format(exact, "0.########");
	format_set_num_format(pct, "0.0#%");
	static const double WIDTH[C_NCOLS] = { 16, 6, 24, 22, 24, 36, 10, 14,
					       12, 14, 8, 12 };
	for (int c = 0; c < C_NCOLS; c++) {
		worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, WIDTH[c], NULL);
		worksheet_write_string(ws, 0, (lxw_col_t)c, FAPIAO_COLUMNS[c], head);
	}
	worksheet_freeze_panes(ws, 1, 0);
	for (int r = 0; r < PQntuples(res); r++) {
		struct row_text t;
		row_cells(res, r, tax[r], &t);
		lxw_row_t row = (lxw_row_t)r + 1;
		for (int c = 0; c < C_NCOLS; c++) {
			const char *v = t.cell[c];
			if (v[0] == '\0')
				continue;
			switch (c) {
			case C_LINE:
				worksheet_write_number(ws, row, (lxw_col_t)c, strtod(v, NULL), NULL);
				break;
			case C_QTY: case C_PRICE:
				worksheet_write_number(ws, row, (lxw_col_t)c, strtod(v, NULL), exact);
				break;
			case C_AMOUNT: case C_TAX:
				worksheet_write_number(ws, row, (lxw_col_t)c, strtod(v, NULL), money);
				break;
			case C_RATE:
				worksheet_write_number(ws, row, (lxw_col_t)c, strtod(v, NULL), pct);
				break;
			default:
				worksheet_write_string(ws, row, (lxw_col_t)c, v, NULL);
			}
		}
	}
	return workbook_close(wb);
}

int bs_invoice_export_fapiao(struct bs_op *op, const char *period,
			     const char *format, const char *out_path)
{
	bool xlsx = strcmp(format, "fapiao-xlsx") == 0;
	assert(xlsx || strcmp(format, "fapiao-csv") == 0);
	assert(!xlsx || out_path != NULL);   /* the verb's check */
	char month[16];
	snprintf(month, sizeof(month), "%s-01", period);
	const char *p[1] = { month };
	PGresult *res = bs_op_query(op, "SELECT 1 FROM close_run WHERE period ="
				    " $1::date AND kind = 'close'", 1, p);
	if (res == NULL)
		return op->rc;
	bool closed = PQntuples(res) > 0;
	PQclear(res);
	if (!closed) {
		bs_op_fail(op, BS_EXIT_REFUSED, "period %s is not closed: nothing "
			   "to export (bandsplit close --period %s)", period, period);
		return op->rc;
	}
	res = bs_op_query(op, LINES_SQL, 1, p);
	if (res == NULL)
		return op->rc;
	int n = PQntuples(res);
	if (n == 0 || n > MAX_ROWS) {
		bs_op_fail(op, BS_EXIT_REFUSED, n == 0 ? "period %s has no invoice:"
			   " nothing to export" : "period %s: too many lines",
			   period);
		PQclear(res);
		return op->rc;
	}
	int64_t *tax = calloc((size_t)n, sizeof(*tax));
	if (tax == NULL) {
		bs_op_fail(op, BS_EXIT_FAILURE, "out of memory");
	} else if (split_taxes(op, res, tax) == 0) {
		/* written beside the target, renamed over it when complete
		 * (outfile.h) */
		struct bs_outfile of;
		const char *name = out_path != NULL ? bs_outfile_name(&of, out_path) : NULL;
		int wrc = 0;
		if (xlsx) {
			lxw_error e = write_xlsx(name, res, tax);
			if (e != LXW_NO_ERROR) {
				bs_op_fail(op, BS_EXIT_FAILURE, "--out %s: %s",
					   out_path, lxw_strerror(e));
				wrc = -1;
			}
		} else {
			FILE *f = out_path ? (of.f = fopen(name, "wb")) : stdout;
			if (f == NULL) {
				bs_op_fail(op, BS_EXIT_FAILURE, "--out %s: %s",
					   out_path, strerror(errno));
				wrc = -1;
			} else {
				wrc = write_csv(f, res, tax);
				if (f == stdout && fflush(f) != 0)
					wrc = -1;
				if (wrc != 0)
					bs_op_fail(op, BS_EXIT_FAILURE, "writing %s failed",
						   out_path ? out_path : "the output");
			}
		}
		if (out_path != NULL && wrc == 0 && bs_outfile_commit(&of) != 0) {
			bs_op_fail(op, BS_EXIT_FAILURE, "--out %s: %s", out_path,
				   strerror(errno));
			wrc = -1;
		} else if (out_path != NULL && wrc != 0) {
			bs_outfile_abort(&of);
		}
	}
	free(tax);
	PQclear(res);
	return op->rc;
}

int bs_invoice_render_cmd(struct bs_op *op, const char *number,
			  const char *format, const char *lang,
			  const char *out_path)
{
	enum bs_doc_format fmt;
	enum bs_doc_lang lg;
	if (bs_doc_format_parse(format, &fmt) != 0 || bs_doc_lang_parse(lang, &lg) != 0) {
		bs_op_fail(op, BS_EXIT_USAGE, "--format '%s' --lang '%s'", format, lang);
		return op->rc;
	}
	/* written beside the target, renamed over it when complete
	 * (outfile.h) */
	struct bs_outfile of;
	FILE *f = stdout;
	if (out_path != NULL) {
		if (bs_outfile_open(&of, out_path) != 0) {
			bs_op_fail(op, BS_EXIT_FAILURE, "--out %s: %s", out_path,
				   strerror(errno));
			return op->rc;
		}
		f = of.f;
	}
	char err[1024];
	int rc = bs_invoice_render(op->conn, number, fmt, lg, f, err, sizeof(err));
	if (out_path != NULL) {
		if (rc != 0)
			bs_outfile_abort(&of);
		else if (bs_outfile_commit(&of) != 0)
			rc = 3, snprintf(err, sizeof(err), "--out %s: %s", out_path,
					 strerror(errno));
	}
	if (rc != 0)
		bs_op_fail(op, rc, "%s", err);
	return op->rc;
}
