/*
 * docfmt.h — what the tenant statements and finance's documents share:
 * the output format and language enums, a growable output buffer with a
 * hand-written integer writer (the documents are tens of thousands of
 * numbers: no printf per field), money / integer / byte / rate formatting
 * per language, dates and times in the park's time zone with the UTC
 * offset shown, HTML escaping, the A4 print CSS, the en/zh label table,
 * and HTML → PDF through Debian's headless chromium.
 *
 * Formats (golden strings in tests/unit/test_docfmt.c):
 *   money   en "CNY 1,234.56"   zh "¥1,234.56"   negative: "-CNY 1,234.56",
 *           "-¥1,234.56" (the amount is integer fen: no rounding)
 *   integer "1,234,567" (both languages group by thousands with ",")
 *   bytes   decimal units (kB = 10³ … PB = 10¹⁵), two decimals rounded
 *           half-up: "999 B", "1.00 kB", "1.23 GB"
 *   rate    bit/s given exactly as num/den, in Mbps with three decimals
 *           rounded half-up: "1,234.568 Mbps"
 *   date    en "2026-11-01"  zh "2026年11月1日"
 *   time    en "2026-11-01 08:00 +08:00"  zh "2026年11月1日 08:00 (UTC+08:00)"
 *   UTC     "2026-11-01T00:00:00Z" (the statements' canonical times)
 *
 * Time zones: bs_doc_zone_load() reads the TZ database once (localtime_r
 * under a temporarily set TZ, serialised by a mutex) and records the UTC
 * offsets in force over a range of instants, transitions found to the
 * second by halving (a day: two lookups; a month: about ten); formatting
 * is then pure arithmetic. A zone name that is not a
 * file of /usr/share/zoneinfo is refused (glibc would quietly use UTC).
 */
#ifndef BS_DOCFMT_H
#define BS_DOCFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

enum bs_doc_format { BS_DOC_CSV, BS_DOC_JSON, BS_DOC_HTML, BS_DOC_PDF };
enum bs_doc_lang { BS_LANG_EN, BS_LANG_ZH };

/* "csv"/"json"/"html"/"pdf", "en"/"zh"; parsers return 0 or -1. */
const char *bs_doc_format_name(enum bs_doc_format f);
const char *bs_doc_lang_name(enum bs_doc_lang l);
int bs_doc_format_parse(const char *s, enum bs_doc_format *f);
int bs_doc_lang_parse(const char *s, enum bs_doc_lang *l);

/* ---- output buffer ----------------------------------------------------- */

#define BS_BUF_MAX ((size_t)1 << 30)     /* a document is at most 1 GiB */

/* Appends never fail loudly: on allocation failure or past BS_BUF_MAX the
 * buffer sets `failed` and ignores further appends; check it at the end. */
struct bs_buf {
	char *p;
	size_t len;
	size_t cap;
	bool failed;
};

void bs_buf_init(struct bs_buf *b);
void bs_buf_free(struct bs_buf *b);
/* Makes room for n more bytes; false (and failed set) if it cannot. */
bool bs_buf_reserve(struct bs_buf *b, size_t n);
void bs_buf_put(struct bs_buf *b, const char *s, size_t n);
void bs_buf_puts(struct bs_buf *b, const char *s);
void bs_buf_putc(struct bs_buf *b, char c);
/* Plain decimal ("-12", no grouping). */
void bs_buf_i64(struct bs_buf *b, int64_t v);
/* "YYYY-MM-DDTHH:MM:SSZ". */
void bs_buf_utc(struct bs_buf *b, int64_t epoch);
/* s with & < > " ' escaped for HTML text and attribute values. */
void bs_buf_html(struct bs_buf *b, const char *s);
/* printf into the buffer (for the rare, non-repeated pieces). */
void bs_buf_printf(struct bs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes the decimal digits of v (plain, no grouping) to dst, which has
 * room for 21 bytes; returns the length (no terminator written). */
size_t bs_doc_i64_raw(char *dst, int64_t v);

/* ---- numbers ----------------------------------------------------------- */

/* Each writes a terminated string into dst (size n) and returns its
 * length; if n is too small the result is truncated (still terminated). */
#define BS_DOC_NUM_MAX 64                /* enough for any of these */
size_t bs_doc_fmt_int(char *dst, size_t n, int64_t v);
size_t bs_doc_fmt_money(char *dst, size_t n, int64_t fen, enum bs_doc_lang lang);
size_t bs_doc_fmt_bytes(char *dst, size_t n, int64_t bytes);
/* bit/s = num / den (den > 0). */
size_t bs_doc_fmt_mbps(char *dst, size_t n, unsigned __int128 num, uint64_t den);
/* A 5-minute bucket's bytes as a rate: bytes × 8 / 300 bit/s. */
size_t bs_doc_fmt_bucket_mbps(char *dst, size_t n, int64_t bytes);

/* ---- time -------------------------------------------------------------- */

#define BS_DOC_ZONE_NAME_MAX   64
#define BS_DOC_ZONE_MAX_CHANGES 64

/* The UTC offsets of a zone over [from, to): offset[i] is in force from
 * start[i] (start[0] = from) until start[i+1]. */
struct bs_doc_zone {
	char name[BS_DOC_ZONE_NAME_MAX];
	int64_t from;
	int64_t to;
	size_t n;
	int64_t start[BS_DOC_ZONE_MAX_CHANGES];
	int32_t offset_s[BS_DOC_ZONE_MAX_CHANGES];
	unsigned lookups;       /* localtime_r calls the load took */
};

/* Loads zone `name` for instants [from, to) (to − from ≤ 400 days).
 * 0 ok; -1 with err naming the problem (unknown zone, bad range). */
int bs_doc_zone_load(struct bs_doc_zone *z, const char *name, int64_t from,
		     int64_t to, char *err, size_t err_size);
/* The UTC offset in force at t (instants outside the range use the
 * nearest end's offset). */
int32_t bs_doc_zone_offset(const struct bs_doc_zone *z, int64_t t);

/* Civil fields of an epoch shifted by offset_s. */
struct bs_doc_civil {
	int32_t year, month, day, hour, minute, second;
};
void bs_doc_civil(int64_t epoch, int32_t offset_s, struct bs_doc_civil *c);
/* Epoch of a civil date-time at UTC (days_from_civil). */
int64_t bs_doc_civil_to_epoch(int32_t year, int32_t month, int32_t day,
			      int32_t hour, int32_t minute, int32_t second);

/* "+08:00", "-04:00", "+05:45" (n ≥ 7). */
size_t bs_doc_fmt_offset(char *dst, size_t n, int32_t offset_s);
size_t bs_doc_fmt_date(char *dst, size_t n, const struct bs_doc_zone *z,
		       int64_t epoch, enum bs_doc_lang lang);
size_t bs_doc_fmt_datetime(char *dst, size_t n, const struct bs_doc_zone *z,
			   int64_t epoch, enum bs_doc_lang lang);
/* Local "HH:MM" (no offset). */
size_t bs_doc_fmt_hhmm(char *dst, size_t n, const struct bs_doc_zone *z,
		       int64_t epoch);

/* ---- HTML -------------------------------------------------------------- */

/* The shared print CSS (A4, margins, page breaks, repeated table headers
 * through <thead>, a CJK font stack): a constant string. */
const char *bs_doc_print_css(void);

/* ---- labels ------------------------------------------------------------ */

enum bs_doc_label {
	BS_L_STATEMENT_TITLE,   /* Usage statement / 用量对账单 */
	BS_L_TENANT,
	BS_L_PERIOD,
	BS_L_TIME_ZONE,
	BS_L_GENERATED,
	BS_L_NOT_FINAL,         /* the open-period banner */
	BS_L_FINAL,
	BS_L_ALLOCATION,
	BS_L_POOL,
	BS_L_SEGMENT,
	BS_L_PLAN,
	BS_L_WINDOW,
	BS_L_COMMIT,
	BS_L_P95,               /* 95th percentile / 第95百分位 */
	BS_L_BILLABLE_BW,       /* Billable bandwidth / 计费带宽 */
	BS_L_BUCKET,
	BS_L_BUCKETS,
	BS_L_IN,
	BS_L_OUT,
	BS_L_BILLABLE,
	BS_L_RATE_MBPS,
	BS_L_MARK,
	BS_L_BILLED_SAMPLE,
	BS_L_DROPPED_SAMPLE,
	BS_L_GAP,
	BS_L_GAPS,
	BS_L_DROPPED,
	BS_L_BILLED_RANK,
	BS_L_DAILY_VOLUME,
	BS_L_MONTHLY_VOLUME,
	BS_L_DATE,
	BS_L_CHARGES,
	BS_L_CHARGE,
	BS_L_QUANTITY,
	BS_L_UNIT_PRICE,
	BS_L_AMOUNT,
	BS_L_VAT,
	BS_L_VAT_RATE,
	BS_L_SUBTOTAL,
	BS_L_TOTAL,
	BS_L_INVOICE,
	BS_L_INVOICE_NUMBER,
	BS_L_ISSUE_DATE,
	BS_L_DUE_DATE,
	BS_L_NOTES,
	BS_L_DIGEST,
	BS_L_RATE_CHART,
	BS_L_VOLUME_CHART,
	BS_L_BUCKET_MARKS,
	BS_L_DIRECTION,
	BS_L_CHARGE_COMMIT,
	BS_L_CHARGE_OVERAGE,
	BS_L_CHARGE_VOLUME,
	BS_L_CHARGE_FLAT,
	BS_L_SELLER,
	BS_L_BUYER,
	BS_L_TAX_ID,
	BS_L_ADDRESS,
	BS_L_BANK,
	BS_L_PAGE_NOTE_DIGEST,  /* how to recompute the digest */
	BS_L_COUNT_
};
const char *bs_doc_label(enum bs_doc_label l, enum bs_doc_lang lang);

/* ---- PDF --------------------------------------------------------------- */

/* The browser that prints PDFs: $BS_CHROMIUM, else Debian's
 * chromium-headless-shell when it is on $PATH, else "chromium". */
const char *bs_doc_pdf_browser(void);

/* Prints html_path to pdf_path with headless chromium (bs_doc_pdf_browser()):
 * its own temporary profile, no header/footer, a time limit
 * of $BS_CHROMIUM_TIMEOUT seconds (default 60). 0 ok; -1 with err naming
 * the problem (not installed, timed out, exit status, no PDF written, with
 * the last line chromium printed). */
int bs_doc_html_to_pdf(const char *html_path, const char *pdf_path, char *err,
		       size_t n);

/* An HTML document in memory printed to PDF and copied to out: the HTML
 * goes to a private temporary directory (under $TMPDIR, else /tmp), which is
 * removed in every case. 0 ok; -1 with err naming the step that failed. */
int bs_doc_pdf_write(const char *html, size_t len, FILE *out, char *err,
		     size_t n);

#endif
