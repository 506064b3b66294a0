/*
 * invoice_doc.c — an issued document rendered as sent (invoice_doc.h):
 * read the document, its lines, its VAT per rate and the notes that
 * reference it; write one HTML page (header, the two parties, the lines,
 * their evidence, VAT per rate, the totals — in zh also in capital
 * numerals —, the statement digest, the notes); for PDF print that page
 * with docfmt's headless chromium.
 */
#include "invoice_doc.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cny_capital.h"

#define NUMBER_MAX 40
#define MAX_LINES 10000
#define MAX_NOTES 1000
#define DAY 86400

/* The words only an invoice needs (the shared ones are docfmt's labels). */
enum inv_word {
	W_CREDIT_NOTE, W_DEBIT_NOTE, W_ADJUSTS, W_LINES, W_EVIDENCE, W_ITEM,
	W_LINE, W_BILLED_BYTES, W_BYTES_IN, W_BYTES_OUT, W_VAT_BY_RATE,
	W_VAT_BASE, W_TOTAL_WORDS, W_IN_FIGURES, W_CURRENCY, W_NOTES_REF,
	W_NO_NOTES, W_KIND, W_AMOUNT_CHANGE, W_DIGEST_PENDING,
	W_COUNT_
};
static const char *const WORDS[W_COUNT_][2] = {
	[W_CREDIT_NOTE] = { "Credit note", "贷项通知单（红字）" },
	[W_DEBIT_NOTE] = { "Debit note", "借项通知单" },
	[W_ADJUSTS] = { "Adjusts invoice", "所调整的发票" },
	[W_LINES] = { "Lines", "明细" },
	[W_EVIDENCE] = { "Evidence (rating of each line)", "计费依据" },
	[W_ITEM] = { "Item", "项目" },
	[W_LINE] = { "Line", "行" },
	[W_BILLED_BYTES] = { "Billed bytes", "计费采样字节数" },
	[W_BYTES_IN] = { "Bytes in", "入向字节" },
	[W_BYTES_OUT] = { "Bytes out", "出向字节" },
	[W_VAT_BY_RATE] = { "VAT by rate", "按税率汇总" },
	[W_VAT_BASE] = { "Base", "不含税金额" },
	[W_TOTAL_WORDS] = { "Total in words", "价税合计（大写）" },
	[W_IN_FIGURES] = { "in figures", "（小写）" },
	[W_CURRENCY] = { "Currency", "币种" },
	[W_NOTES_REF] = { "Credit and debit notes referencing this invoice",
			  "引用本发票的红字/借项通知单" },
	[W_NO_NOTES] = { "None.", "无。" },
	[W_KIND] = { "Kind", "类型" },
	[W_AMOUNT_CHANGE] = { "Amount (change)", "金额（变动）" },
	[W_DIGEST_PENDING] = { "not stored for this document (issued before "
				 "digests were kept)",
			       "本单据未存储摘要（早于摘要存储功能开具）" },
};

static const char *word(enum inv_word w, enum bs_doc_lang lang)
{
	assert(w < W_COUNT_);
	return WORDS[w][lang == BS_LANG_ZH];
}

static int fail(char *err, size_t n, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t n, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return rc;
}

/* A read in the caller's transaction; NULL (err set) on failure. */
static PGresult *query(PGconn *conn, const char *sql, const char *param,
		       char *err, size_t n)
{
	const char *p[1] = { param };
	PGresult *res = PQexecParams(conn, sql, 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	const char *msg = PQresultErrorMessage(res);
	fail(err, n, 3, "%.*s", (int)strcspn(msg, "\n"), msg);
	PQclear(res);
	return NULL;
}

static const char HEAD_SQL[] =
	"SELECT i.invoice_id, i.kind, i.number, o.number,"
	" to_char(i.period, 'YYYY-MM'),"
	" extract(epoch FROM i.period_start)::bigint,"
	" extract(epoch FROM i.period_end)::bigint,"
	" extract(epoch FROM i.issue_date::timestamp AT TIME ZONE r.time_zone)::bigint,"
	" extract(epoch FROM i.due_date::timestamp AT TIME ZONE r.time_zone)::bigint,"
	" i.currency, i.seller_name, i.seller_tax_id, i.seller_address,"
	" i.seller_bank, i.buyer_name, i.buyer_tax_id, i.buyer_address,"
	" i.buyer_bank, i.subtotal_fen, i.vat_fen, i.total_fen, r.time_zone"
	" FROM invoice i JOIN close_run r ON r.run_id = i.run_id"
	" LEFT JOIN invoice o ON o.invoice_id = i.original_id"
	" WHERE i.number = $1";
enum { H_ID, H_KIND, H_NUMBER, H_ORIGINAL, H_PERIOD, H_PSTART, H_PEND,
       H_ISSUE, H_DUE, H_CURRENCY, H_SNAME, H_STAX, H_SADDR, H_SBANK,
       H_BNAME, H_BTAX, H_BADDR, H_BBANK, H_SUBTOTAL, H_VAT, H_TOTAL, H_ZONE };

static const char LINES_SQL[] =
	"SELECT line_no, plan_kind, charge,"
	" extract(epoch FROM window_start)::bigint,"
	" extract(epoch FROM window_end)::bigint, buckets, gaps, billed_rank,"
	" billed_bytes, commit_bps, bytes_in, bytes_out,"
	" trim_scale(quantity)::text, unit_price_fen, amount_fen, vat_bp,"
	" description"
	" FROM invoice_line WHERE invoice_id = $1::bigint ORDER BY line_no";
enum { L_NO, L_PLAN_KIND, L_CHARGE, L_WSTART, L_WEND, L_BUCKETS, L_GAPS,
       L_RANK, L_BILLED, L_COMMIT, L_IN, L_OUT, L_QTY, L_PRICE, L_AMOUNT,
       L_VAT_BP, L_DESC };

static const char VAT_SQL[] =
	"SELECT vat_bp, base_fen, vat_fen FROM invoice_vat"
	" WHERE invoice_id = $1::bigint ORDER BY vat_bp";

static const char DIGEST_SQL[] =
	"SELECT form, sha256, samples FROM invoice_digest"
	" WHERE invoice_id = $1::bigint";

static const char NOTES_SQL[] =
	"SELECT number, kind, issue_date::text, total_fen FROM invoice"
	" WHERE original_id = $1::bigint ORDER BY invoice_id";

static int64_t i64(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ---- pieces of the page ---------------------------------------------- */

struct page {
	struct bs_buf b;
	enum bs_doc_lang lang;
	struct bs_doc_zone period_zone, date_zone;
};

static const char *label(const struct page *pg, enum bs_doc_label l)
{
	return bs_doc_label(l, pg->lang);
}

static void put_money(struct page *pg, int64_t fen)
{
	char s[BS_DOC_NUM_MAX];
	bs_doc_fmt_money(s, sizeof(s), fen, pg->lang);
	bs_buf_puts(&pg->b, s);
}

static void put_int(struct page *pg, int64_t v)
{
	char s[BS_DOC_NUM_MAX];
	bs_doc_fmt_int(s, sizeof(s), v);
	bs_buf_puts(&pg->b, s);
}

/* 600 → "6%", 550 → "5.5%", 1275 → "12.75%". */
static void put_rate(struct page *pg, int64_t bp)
{
	if (bp % 100 == 0)
		bs_buf_printf(&pg->b, "%" PRId64 "%%", bp / 100);
	else if (bp % 10 == 0)
		bs_buf_printf(&pg->b, "%" PRId64 ".%" PRId64 "%%", bp / 100, bp % 100 / 10);
	else
		bs_buf_printf(&pg->b, "%" PRId64 ".%02" PRId64 "%%", bp / 100, bp % 100);
}

/* A window's end: the local date and "HH:MM" (the zone and its offset are
 * in the header). */
static void put_local(struct page *pg, int64_t epoch)
{
	char s[BS_DOC_NUM_MAX * 2];
	bs_doc_fmt_date(s, sizeof(s), &pg->period_zone, epoch, pg->lang);
	bs_buf_html(&pg->b, s);
	bs_doc_fmt_hhmm(s, sizeof(s), &pg->period_zone, epoch);
	bs_buf_puts(&pg->b, "&nbsp;");
	bs_buf_html(&pg->b, s);
}

static void put_date(struct page *pg, int64_t epoch)
{
	char s[BS_DOC_NUM_MAX * 2];
	bs_doc_fmt_date(s, sizeof(s), &pg->date_zone, epoch, pg->lang);
	bs_buf_html(&pg->b, s);
}

/* <th>k</th><td>v (escaped; "—" when empty)</td> */
static void kv_cells(struct page *pg, const char *k, const char *v)
{
	bs_buf_puts(&pg->b, "<th>");
	bs_buf_html(&pg->b, k);
	bs_buf_puts(&pg->b, "</th><td>");
	bs_buf_html(&pg->b, v != NULL && v[0] != '\0' ? v : "—");
	bs_buf_puts(&pg->b, "</td>");
}

/* One key/value row. */
static void kv(struct page *pg, const char *k, const char *v)
{
	bs_buf_puts(&pg->b, "<tr>");
	kv_cells(pg, k, v);
	bs_buf_puts(&pg->b, "</tr>\n");
}

static void party(struct page *pg, enum bs_doc_label title, const PGresult *h,
		  int name, int tax, int addr, int bank)
{
	bs_buf_puts(&pg->b, "<td class=\"party\"><h3>");
	bs_buf_html(&pg->b, label(pg, title));
	bs_buf_puts(&pg->b, "</h3><table class=\"kv\">\n");
	kv(pg, label(pg, title), PQgetvalue(h, 0, name));
	kv(pg, label(pg, BS_L_TAX_ID), PQgetvalue(h, 0, tax));
	kv(pg, label(pg, BS_L_ADDRESS), PQgetvalue(h, 0, addr));
	kv(pg, label(pg, BS_L_BANK), PQgetvalue(h, 0, bank));
	bs_buf_puts(&pg->b, "</table></td>\n");
}

static const char *title_of(const struct page *pg, const char *kind)
{
	if (strcmp(kind, "credit_note") == 0)
		return word(W_CREDIT_NOTE, pg->lang);
	if (strcmp(kind, "debit_note") == 0)
		return word(W_DEBIT_NOTE, pg->lang);
	return label(pg, BS_L_INVOICE);
}

static void header(struct page *pg, const PGresult *h)
{
	const char *kind = PQgetvalue(h, 0, H_KIND);
	bs_buf_puts(&pg->b, "<h1>");
	bs_buf_html(&pg->b, title_of(pg, kind));
	bs_buf_puts(&pg->b, " <span class=\"mono\">");
	bs_buf_html(&pg->b, PQgetvalue(h, 0, H_NUMBER));
	bs_buf_puts(&pg->b, "</span></h1>\n<table class=\"head\">\n<tr>");
	kv_cells(pg, label(pg, BS_L_INVOICE_NUMBER), PQgetvalue(h, 0, H_NUMBER));
	bs_buf_puts(&pg->b, "<th>");
	bs_buf_html(&pg->b, label(pg, BS_L_ISSUE_DATE));
	bs_buf_puts(&pg->b, "</th><td>");
	put_date(pg, i64(h, 0, H_ISSUE));
	bs_buf_puts(&pg->b, "</td></tr>\n<tr>");
	kv_cells(pg, label(pg, BS_L_PERIOD), PQgetvalue(h, 0, H_PERIOD));
	bs_buf_puts(&pg->b, "<th>");
	bs_buf_html(&pg->b, label(pg, BS_L_DUE_DATE));
	bs_buf_puts(&pg->b, "</th><td>");
	put_date(pg, i64(h, 0, H_DUE));
	bs_buf_puts(&pg->b, "</td></tr>\n<tr>");
	kv_cells(pg, word(W_CURRENCY, pg->lang), PQgetvalue(h, 0, H_CURRENCY));
	/* the zone with its offset at the end of the period */
	char off[16], zone[BS_DOC_ZONE_NAME_MAX + 24];
	bs_doc_fmt_offset(off, sizeof(off),
			  bs_doc_zone_offset(&pg->period_zone, i64(h, 0, H_PEND) - 1));
	snprintf(zone, sizeof(zone), "%s (UTC%s)", PQgetvalue(h, 0, H_ZONE), off);
	kv_cells(pg, label(pg, BS_L_TIME_ZONE), zone);
	bs_buf_puts(&pg->b, "</tr>\n");
	if (!PQgetisnull(h, 0, H_ORIGINAL)) {
		bs_buf_puts(&pg->b, "<tr>");
		kv_cells(pg, word(W_ADJUSTS, pg->lang), PQgetvalue(h, 0, H_ORIGINAL));
		bs_buf_puts(&pg->b, "<th></th><td></td>");
		bs_buf_puts(&pg->b, "</tr>\n");
	}
	bs_buf_puts(&pg->b, "</table>\n<table class=\"parties\"><tr>\n");
	party(pg, BS_L_SELLER, h, H_SNAME, H_STAX, H_SADDR, H_SBANK);
	party(pg, BS_L_BUYER, h, H_BNAME, H_BTAX, H_BADDR, H_BBANK);
	bs_buf_puts(&pg->b, "</tr></table>\n");
}

static enum bs_doc_label charge_label(const char *plan_kind, const char *charge)
{
	if (strcmp(charge, "overage") == 0)
		return BS_L_CHARGE_OVERAGE;
	if (strcmp(charge, "volume") == 0)
		return BS_L_CHARGE_VOLUME;
	if (strcmp(plan_kind, "flat") == 0)
		return BS_L_CHARGE_FLAT;
	return BS_L_CHARGE_COMMIT;
}

static void th(struct page *pg, const char *text, bool numeric)
{
	bs_buf_puts(&pg->b, numeric ? "<th class=\"n\">" : "<th>");
	bs_buf_html(&pg->b, text);
	bs_buf_puts(&pg->b, "</th>");
}

static void lines(struct page *pg, const PGresult *l, bool note)
{
	bs_buf_puts(&pg->b, "<h2>");
	bs_buf_html(&pg->b, word(W_LINES, pg->lang));
	bs_buf_puts(&pg->b, "</h2>\n<table class=\"lines\"><thead><tr>");
	th(pg, word(W_LINE, pg->lang), true);
	th(pg, word(W_ITEM, pg->lang), false);
	th(pg, label(pg, BS_L_QUANTITY), true);
	th(pg, label(pg, BS_L_UNIT_PRICE), true);
	th(pg, note ? word(W_AMOUNT_CHANGE, pg->lang) : label(pg, BS_L_AMOUNT), true);
	th(pg, label(pg, BS_L_VAT_RATE), true);
	bs_buf_puts(&pg->b, "</tr></thead><tbody>\n");
	for (int r = 0; r < PQntuples(l); r++) {
		bool volume = strcmp(PQgetvalue(l, r, L_CHARGE), "volume") == 0;
		bs_buf_puts(&pg->b, "<tr><td class=\"n\">");
		bs_buf_html(&pg->b, PQgetvalue(l, r, L_NO));
		bs_buf_puts(&pg->b, "</td><td>");
		bs_buf_html(&pg->b, label(pg, charge_label(PQgetvalue(l, r, L_PLAN_KIND),
							   PQgetvalue(l, r, L_CHARGE))));
		bs_buf_puts(&pg->b, "<br><span class=\"small\">");
		bs_buf_html(&pg->b, PQgetvalue(l, r, L_DESC));
		bs_buf_puts(&pg->b, "</span></td><td class=\"n\">");
		bs_buf_html(&pg->b, PQgetvalue(l, r, L_QTY));
		bs_buf_puts(&pg->b, volume ? " GB" : " Mbps");
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		if (PQgetisnull(l, r, L_PRICE)) {
			bs_buf_puts(&pg->b, "—");
		} else {
			put_money(pg, i64(l, r, L_PRICE));
			bs_buf_puts(&pg->b, pg->lang == BS_LANG_ZH ? "/Mbps·月" : "/Mbps-month");
		}
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		put_money(pg, i64(l, r, L_AMOUNT));
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		put_rate(pg, i64(l, r, L_VAT_BP));
		bs_buf_puts(&pg->b, "</td></tr>\n");
	}
	bs_buf_puts(&pg->b, "</tbody></table>\n");
}

/* Per line: window, commit, the billed sample (95th) as a rate and in
 * bytes (exact), buckets and gaps, bytes in and out (in decimal units; the
 * exact figures are on the statement and `invoice show`). */
static void evidence(struct page *pg, const PGresult *l)
{
	bs_buf_puts(&pg->b, "<h2>");
	bs_buf_html(&pg->b, word(W_EVIDENCE, pg->lang));
	bs_buf_puts(&pg->b, "</h2>\n<table class=\"evidence small\"><thead><tr>");
	th(pg, word(W_LINE, pg->lang), true);
	th(pg, label(pg, BS_L_WINDOW), false);
	th(pg, label(pg, BS_L_COMMIT), true);
	th(pg, label(pg, BS_L_P95), true);
	th(pg, word(W_BILLED_BYTES, pg->lang), true);
	th(pg, label(pg, BS_L_BUCKETS), true);
	th(pg, label(pg, BS_L_GAPS), true);
	th(pg, word(W_BYTES_IN, pg->lang), true);
	th(pg, word(W_BYTES_OUT, pg->lang), true);
	bs_buf_puts(&pg->b, "</tr></thead><tbody>\n");
	char s[BS_DOC_NUM_MAX];
	for (int r = 0; r < PQntuples(l); r++) {
		bs_buf_puts(&pg->b, "<tr><td class=\"n\">");
		bs_buf_html(&pg->b, PQgetvalue(l, r, L_NO));
		bs_buf_puts(&pg->b, "</td><td class=\"win\">");
		put_local(pg, i64(l, r, L_WSTART));
		bs_buf_puts(&pg->b, " –<br>");
		put_local(pg, i64(l, r, L_WEND));
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		bs_doc_fmt_mbps(s, sizeof(s), (unsigned __int128)i64(l, r, L_COMMIT), 1);
		bs_buf_puts(&pg->b, s);
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		if (PQgetisnull(l, r, L_BILLED)) {
			bs_buf_puts(&pg->b, "—</td><td class=\"n\">—");
		} else {
			bs_doc_fmt_bucket_mbps(s, sizeof(s), i64(l, r, L_BILLED));
			bs_buf_puts(&pg->b, s);
			bs_buf_puts(&pg->b, "</td><td class=\"n\">");
			put_int(pg, i64(l, r, L_BILLED));
		}
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		put_int(pg, i64(l, r, L_BUCKETS));
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		put_int(pg, i64(l, r, L_GAPS));
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		bs_doc_fmt_bytes(s, sizeof(s), i64(l, r, L_IN));
		bs_buf_puts(&pg->b, s);
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		bs_doc_fmt_bytes(s, sizeof(s), i64(l, r, L_OUT));
		bs_buf_puts(&pg->b, s);
		bs_buf_puts(&pg->b, "</td></tr>\n");
	}
	bs_buf_puts(&pg->b, "</tbody></table>\n");
}

static int totals(struct page *pg, const PGresult *h, const PGresult *v,
		  char *err, size_t n)
{
	bs_buf_puts(&pg->b, "<h2>");
	bs_buf_html(&pg->b, word(W_VAT_BY_RATE, pg->lang));
	bs_buf_puts(&pg->b, "</h2>\n<table class=\"vat\"><thead><tr>");
	th(pg, label(pg, BS_L_VAT_RATE), true);
	th(pg, word(W_VAT_BASE, pg->lang), true);
	th(pg, label(pg, BS_L_VAT), true);
	bs_buf_puts(&pg->b, "</tr></thead><tbody>\n");
	for (int r = 0; r < PQntuples(v); r++) {
		bs_buf_puts(&pg->b, "<tr><td class=\"n\">");
		put_rate(pg, i64(v, r, 0));
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		put_money(pg, i64(v, r, 1));
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		put_money(pg, i64(v, r, 2));
		bs_buf_puts(&pg->b, "</td></tr>\n");
	}
	bs_buf_puts(&pg->b, "</tbody></table>\n<table class=\"kv totals keep\">\n");
	static const struct { enum bs_doc_label l; int col; } rows[] = {
		{ BS_L_SUBTOTAL, H_SUBTOTAL }, { BS_L_VAT, H_VAT },
		{ BS_L_TOTAL, H_TOTAL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bs_buf_puts(&pg->b, "<tr><th>");
		bs_buf_html(&pg->b, label(pg, rows[i].l));
		bs_buf_puts(&pg->b, "</th><td class=\"n total\">");
		put_money(pg, i64(h, 0, rows[i].col));
		bs_buf_puts(&pg->b, "</td></tr>\n");
	}
	if (pg->lang == BS_LANG_ZH) {
		char words[BS_CNY_CAPITAL_SIZE];
		if (bs_cny_capital(i64(h, 0, H_TOTAL), words, sizeof(words)) != 0)
			return fail(err, n, 3, "total %s fen out of "
				    "range for capital numerals",
				    PQgetvalue(h, 0, H_TOTAL));
		bs_buf_puts(&pg->b, "<tr><th>");
		bs_buf_html(&pg->b, word(W_TOTAL_WORDS, pg->lang));
		bs_buf_puts(&pg->b, "</th><td class=\"words\">");
		bs_buf_html(&pg->b, words);
		bs_buf_puts(&pg->b, "　");
		bs_buf_html(&pg->b, word(W_IN_FIGURES, pg->lang));
		put_money(pg, i64(h, 0, H_TOTAL));
		bs_buf_puts(&pg->b, "</td></tr>\n");
	}
	bs_buf_puts(&pg->b, "</table>\n");
	return 0;
}

/* The statement digest stored with the document at close (0025): the
 * SHA-256 of the samples it was rated on, on a line of its own. */
static void digest(struct page *pg, const PGresult *dg)
{
	bs_buf_puts(&pg->b, "<h2>");
	bs_buf_html(&pg->b, label(pg, BS_L_DIGEST));
	bs_buf_puts(&pg->b, "</h2>\n<p class=\"mono digest\">");
	if (PQntuples(dg) == 1) {
		bs_buf_html(&pg->b, PQgetvalue(dg, 0, 1));
		bs_buf_puts(&pg->b, "</p>\n<p class=\"small\">");
		bs_buf_html(&pg->b, PQgetvalue(dg, 0, 0));
		bs_buf_puts(&pg->b, ", ");
		put_int(pg, i64(dg, 0, 2));
		bs_buf_puts(&pg->b, pg->lang == BS_LANG_ZH ? " 条采样" : " samples");
	} else {
		bs_buf_html(&pg->b, word(W_DIGEST_PENDING, pg->lang));
	}
	bs_buf_puts(&pg->b, "</p>\n");
}

static void notes(struct page *pg, const PGresult *nt)
{
	bs_buf_puts(&pg->b, "<h2>");
	bs_buf_html(&pg->b, word(W_NOTES_REF, pg->lang));
	bs_buf_puts(&pg->b, "</h2>\n");
	if (PQntuples(nt) == 0) {
		bs_buf_puts(&pg->b, "<p>");
		bs_buf_html(&pg->b, word(W_NO_NOTES, pg->lang));
		bs_buf_puts(&pg->b, "</p>\n");
		return;
	}
	bs_buf_puts(&pg->b, "<table class=\"notes\"><thead><tr>");
	th(pg, label(pg, BS_L_INVOICE_NUMBER), false);
	th(pg, word(W_KIND, pg->lang), false);
	th(pg, label(pg, BS_L_ISSUE_DATE), false);
	th(pg, label(pg, BS_L_TOTAL), true);
	bs_buf_puts(&pg->b, "</tr></thead><tbody>\n");
	for (int r = 0; r < PQntuples(nt); r++) {
		bs_buf_puts(&pg->b, "<tr><td class=\"mono\">");
		bs_buf_html(&pg->b, PQgetvalue(nt, r, 0));
		bs_buf_puts(&pg->b, "</td><td>");
		bs_buf_html(&pg->b, title_of(pg, PQgetvalue(nt, r, 1)));
		bs_buf_puts(&pg->b, "</td><td>");
		bs_buf_html(&pg->b, PQgetvalue(nt, r, 2));
		bs_buf_puts(&pg->b, "</td><td class=\"n\">");
		put_money(pg, i64(nt, r, 3));
		bs_buf_puts(&pg->b, "</td></tr>\n");
	}
	bs_buf_puts(&pg->b, "</tbody></table>\n");
}

static const char OWN_CSS[] =
	"table.parties{border:0}table.parties>tbody>tr>td.party{border:0;"
	"width:50%;padding:0 2mm 0 0}\n"
	"td.words{font-weight:bold;letter-spacing:0.05em}\n"
	"td.total{font-weight:bold}\n"
	"table.head th{width:16%}table.head td{width:34%}\n"
	"td.win{white-space:nowrap}\n";

/* The whole page into pg->b. */
static int page(struct page *pg, const PGresult *h, const PGresult *l,
		const PGresult *v, const PGresult *dg, const PGresult *nt,
		char *err, size_t n)
{
	bool note = strcmp(PQgetvalue(h, 0, H_KIND), "invoice") != 0;
	bs_buf_puts(&pg->b, "<!DOCTYPE html>\n<html lang=\"");
	bs_buf_puts(&pg->b, pg->lang == BS_LANG_ZH ? "zh-CN" : "en");
	bs_buf_puts(&pg->b, "\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
	bs_buf_html(&pg->b, title_of(pg, PQgetvalue(h, 0, H_KIND)));
	bs_buf_puts(&pg->b, " ");
	bs_buf_html(&pg->b, PQgetvalue(h, 0, H_NUMBER));
	bs_buf_puts(&pg->b, "</title>\n<style>\n");
	bs_buf_puts(&pg->b, bs_doc_print_css());
	bs_buf_puts(&pg->b, OWN_CSS);
	bs_buf_puts(&pg->b, "</style>\n</head>\n<body>\n");
	header(pg, h);
	lines(pg, l, note);
	evidence(pg, l);
	int rc = totals(pg, h, v, err, n);
	if (rc != 0)
		return rc;
	digest(pg, dg);
	if (!note)
		notes(pg, nt);
	bs_buf_puts(&pg->b, "</body>\n</html>\n");
	return 0;
}

/* ---- output ------------------------------------------------------------ */

static int write_all(FILE *out, const char *p, size_t len, char *err, size_t n)
{
	if (fwrite(p, 1, len, out) != len || fflush(out) != 0)
		return fail(err, n, 3, "writing the document "
			    "failed: %s", strerror(errno));
	return 0;
}

static int write_pdf(FILE *out, const struct bs_buf *html, char *err, size_t n)
{
	return bs_doc_pdf_write(html->p, html->len, out, err, n) == 0 ? 0 : 3;
}

static bool number_ok(const char *number)
{
	size_t len = number != NULL ? strlen(number) : 0;
	if (len == 0 || len > NUMBER_MAX)
		return false;
	for (const char *p = number; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || *p == '-'))
			return false;
	return true;
}

int bs_invoice_render(PGconn *conn, const char *number, enum bs_doc_format fmt,
		      enum bs_doc_lang lang, FILE *out, char *err,
		      size_t err_size)
{
	assert(err != NULL && err_size > 0);
	err[0] = '\0';
	if (conn == NULL || out == NULL)
		return fail(err, err_size, 2, "no connection or output");
	if (fmt != BS_DOC_HTML && fmt != BS_DOC_PDF)
		return fail(err, err_size, 2, "format %s: only html "
			    "and pdf", bs_doc_format_name(fmt));
	if (lang != BS_LANG_EN && lang != BS_LANG_ZH)
		return fail(err, err_size, 2, "unknown language");
	if (!number_ok(number))
		return fail(err, err_size, 2, "'%.*s' is not a "
			    "document number", NUMBER_MAX, number ? number : "");

	struct page pg = { .lang = lang };
	bs_buf_init(&pg.b);
	PGresult *h = NULL, *l = NULL, *v = NULL, *dg = NULL, *nt = NULL;
	int rc = 0;
	h = query(conn, HEAD_SQL, number, err, err_size);
	if (h == NULL) {
		rc = 3;
		goto out;
	}
	if (PQntuples(h) != 1) {
		rc = fail(err, err_size, 1, "%s: invoice not found",
			  number);
		goto out;
	}
	const char *id = PQgetvalue(h, 0, H_ID);
	l = query(conn, LINES_SQL, id, err, err_size);
	v = l ? query(conn, VAT_SQL, id, err, err_size) : NULL;
	dg = v ? query(conn, DIGEST_SQL, id, err, err_size) : NULL;
	nt = dg ? query(conn, NOTES_SQL, id, err, err_size) : NULL;
	if (nt == NULL) {
		rc = 3;
		goto out;
	}
	if (PQntuples(l) > MAX_LINES || PQntuples(nt) > MAX_NOTES) {
		rc = fail(err, err_size, 3, "%s: too many lines or "
			  "notes to render", number);
		goto out;
	}
	/* the zone of the period's instants, and of the issue and due dates
	 * (at most 365 days apart, 0020) */
	int64_t issue = i64(h, 0, H_ISSUE), due = i64(h, 0, H_DUE);
	if (bs_doc_zone_load(&pg.period_zone, PQgetvalue(h, 0, H_ZONE),
			     i64(h, 0, H_PSTART) - DAY, i64(h, 0, H_PEND) + DAY,
			     err, err_size) != 0 ||
	    bs_doc_zone_load(&pg.date_zone, PQgetvalue(h, 0, H_ZONE),
			     issue - DAY, due + DAY, err, err_size) != 0) {
		rc = 3;
		goto out;
	}
	rc = page(&pg, h, l, v, dg, nt, err, err_size);
	if (rc == 0 && pg.b.failed)
		rc = fail(err, err_size, 3, "out of memory");
	if (rc == 0)
		rc = fmt == BS_DOC_HTML ? write_all(out, pg.b.p, pg.b.len, err, err_size)
					: write_pdf(out, &pg.b, err, err_size);
out:
	PQclear(h);
	PQclear(l);
	PQclear(v);
	PQclear(dg);
	PQclear(nt);
	bs_buf_free(&pg.b);
	return rc;
}
