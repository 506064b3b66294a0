/*
 * docfmt.c — formatting shared by the statements and finance's documents
 * (see docfmt.h for the exact formats), and HTML → PDF via headless
 * chromium.
 */
#include "docfmt.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- enums ------------------------------------------------------------- */

const char *bs_doc_format_name(enum bs_doc_format f)
{
	switch (f) {
	case BS_DOC_CSV: return "csv";
	case BS_DOC_JSON: return "json";
	case BS_DOC_HTML: return "html";
	case BS_DOC_PDF: return "pdf";
	}
	return "?";
}

const char *bs_doc_lang_name(enum bs_doc_lang l)
{
	return l == BS_LANG_ZH ? "zh" : "en";
}

int bs_doc_format_parse(const char *s, enum bs_doc_format *f)
{
	static const enum bs_doc_format all[] = { BS_DOC_CSV, BS_DOC_JSON,
						  BS_DOC_HTML, BS_DOC_PDF };
	for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
		if (strcmp(s, bs_doc_format_name(all[i])) == 0) {
			*f = all[i];
			return 0;
		}
	return -1;
}

int bs_doc_lang_parse(const char *s, enum bs_doc_lang *l)
{
	if (s && strcmp(s, "en") == 0) { *l = BS_LANG_EN; return 0; }
	if (s && strcmp(s, "zh") == 0) { *l = BS_LANG_ZH; return 0; }
	return -1;
}

/* ---- buffer ------------------------------------------------------------ */

void bs_buf_init(struct bs_buf *b)
{
	memset(b, 0, sizeof *b);
}

void bs_buf_free(struct bs_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

bool bs_buf_reserve(struct bs_buf *b, size_t n)
{
	if (b->failed)
		return false;
	if (n > BS_BUF_MAX || b->len + n + 1 > BS_BUF_MAX) {
		b->failed = true;
		return false;
	}
	if (b->len + n + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void bs_buf_put(struct bs_buf *b, const char *s, size_t n)
{
	if (!bs_buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void bs_buf_puts(struct bs_buf *b, const char *s)
{
	bs_buf_put(b, s, strlen(s));
}

void bs_buf_putc(struct bs_buf *b, char c)
{
	if (!bs_buf_reserve(b, 1))
		return;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

size_t bs_doc_i64_raw(char *dst, int64_t v)
{
	/* two digits per division: the statements and the close's digests
	 * format tens of millions of these */
	static const char pairs[201] =
		"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
		"8081828384858687888990919293949596979899";
	char tmp[24];
	size_t k = sizeof(tmp), n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	while (u >= 100) {
		unsigned d = (unsigned)(u % 100) * 2;
		u /= 100;
		tmp[--k] = pairs[d + 1];
		tmp[--k] = pairs[d];
	}
	if (u >= 10) {
		tmp[--k] = pairs[u * 2 + 1];
		tmp[--k] = pairs[u * 2];
	} else {
		tmp[--k] = (char)('0' + u);
	}
	if (v < 0)
		dst[n++] = '-';
	memcpy(dst + n, tmp + k, sizeof(tmp) - k);
	return n + sizeof(tmp) - k;
}

void bs_buf_i64(struct bs_buf *b, int64_t v)
{
	if (!bs_buf_reserve(b, 21))
		return;
	b->len += bs_doc_i64_raw(b->p + b->len, v);
	b->p[b->len] = '\0';
}

static char *put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

void bs_buf_utc(struct bs_buf *b, int64_t epoch)
{
	struct bs_doc_civil c;
	bs_doc_civil(epoch, 0, &c);
	if (c.year < 0 || c.year > 9999) {   /* not a statement's year */
		bs_buf_printf(b, "%" PRId64 "s", epoch);
		return;
	}
	if (!bs_buf_reserve(b, 20))
		return;
	char *p = b->p + b->len;
	p = put2(p, c.year / 100);
	p = put2(p, c.year % 100);
	*p++ = '-';
	p = put2(p, c.month);
	*p++ = '-';
	p = put2(p, c.day);
	*p++ = 'T';
	p = put2(p, c.hour);
	*p++ = ':';
	p = put2(p, c.minute);
	*p++ = ':';
	p = put2(p, c.second);
	*p++ = 'Z';
	b->len = (size_t)(p - b->p);
	b->p[b->len] = '\0';
}

void bs_buf_html(struct bs_buf *b, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		bs_buf_put(b, run, (size_t)(s - run));
		bs_buf_puts(b, rep);
		run = s + 1;
	}
	bs_buf_put(b, run, (size_t)(s - run));
}

void bs_buf_printf(struct bs_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!bs_buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* ---- numbers ----------------------------------------------------------- */

/* Copies src (length len) into dst of size n, truncating; terminated. */
static size_t out(char *dst, size_t n, const char *src, size_t len)
{
	if (n == 0)
		return 0;
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return len;
}

/* The digits of u grouped by thousands with ',' into p; returns length. */
static size_t grouped(char *p, uint64_t u)
{
	char tmp[32];
	size_t k = 0, n = 0;
	int d = 0;
	do {
		if (d && d % 3 == 0)
			tmp[k++] = ',';
		tmp[k++] = (char)('0' + u % 10);
		u /= 10;
		d++;
	} while (u);
	while (k)
		p[n++] = tmp[--k];
	return n;
}

static uint64_t magnitude(int64_t v)
{
	return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

size_t bs_doc_fmt_int(char *dst, size_t n, int64_t v)
{
	char s[BS_DOC_NUM_MAX];
	size_t k = 0;
	if (v < 0)
		s[k++] = '-';
	k += grouped(s + k, magnitude(v));
	return out(dst, n, s, k);
}

size_t bs_doc_fmt_money(char *dst, size_t n, int64_t fen, enum bs_doc_lang lang)
{
	char s[BS_DOC_NUM_MAX];
	size_t k = 0;
	uint64_t u = magnitude(fen);
	if (fen < 0)
		s[k++] = '-';
	const char *cur = lang == BS_LANG_ZH ? "¥" : "CNY ";
	memcpy(s + k, cur, strlen(cur));
	k += strlen(cur);
	k += grouped(s + k, u / 100);
	s[k++] = '.';
	s[k++] = (char)('0' + (u % 100) / 10);
	s[k++] = (char)('0' + u % 10);
	return out(dst, n, s, k);
}

/* "<grouped int>.<frac digits>" of num/den rounded half-up to `digits`
 * decimals. */
static size_t fixed(char *s, unsigned __int128 num, unsigned __int128 den,
		    int digits)
{
	unsigned __int128 scale = 1;
	for (int i = 0; i < digits; i++)
		scale *= 10;
	unsigned __int128 q = (2 * num * scale + den) / (2 * den);
	unsigned __int128 ip = q / scale;
	uint64_t fp = (uint64_t)(q % scale);
	size_t k;
	if (ip > UINT64_MAX) {   /* beyond any document's figure */
		memcpy(s, "overflow", 8);
		return 8;
	}
	k = grouped(s, (uint64_t)ip);
	if (digits > 0) {
		s[k++] = '.';
		for (int i = digits - 1; i >= 0; i--) {
			s[k + (size_t)i] = (char)('0' + fp % 10);
			fp /= 10;
		}
		k += (size_t)digits;
	}
	return k;
}

size_t bs_doc_fmt_bytes(char *dst, size_t n, int64_t bytes)
{
	static const char *const unit[] = { "kB", "MB", "GB", "TB", "PB", "EB" };
	char s[BS_DOC_NUM_MAX];
	size_t k = 0;
	uint64_t u = magnitude(bytes);
	if (bytes < 0)
		s[k++] = '-';
	if (u < 1000) {
		k += grouped(s + k, u);
		memcpy(s + k, " B", 2);
		return out(dst, n, s, k + 2);
	}
	/* the largest unit whose rounded value stays below 1000 (or EB) */
	uint64_t div = 1000;
	size_t ui = 0;
	while (ui + 1 < sizeof unit / sizeof unit[0]) {
		/* rounded to 2 decimals, is u/div ≥ 999.995 → next unit */
		unsigned __int128 q = ((unsigned __int128)2 * u * 100 + div) / (2 * (unsigned __int128)div);
		if (q < 100000)
			break;
		div *= 1000;
		ui++;
	}
	k += fixed(s + k, u, div, 2);
	s[k++] = ' ';
	memcpy(s + k, unit[ui], 2);
	return out(dst, n, s, k + 2);
}

size_t bs_doc_fmt_mbps(char *dst, size_t n, unsigned __int128 num, uint64_t den)
{
	char s[BS_DOC_NUM_MAX];
	assert(den > 0);
	size_t k = fixed(s, num, (unsigned __int128)den * 1000000u, 3);
	memcpy(s + k, " Mbps", 5);
	return out(dst, n, s, k + 5);
}

size_t bs_doc_fmt_bucket_mbps(char *dst, size_t n, int64_t bytes)
{
	return bs_doc_fmt_mbps(dst, n, (unsigned __int128)magnitude(bytes) * 8u, 300);
}

/* ---- time -------------------------------------------------------------- */

/* Howard Hinnant's days_from_civil / civil_from_days. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int64_t bs_doc_civil_to_epoch(int32_t year, int32_t month, int32_t day,
			      int32_t hour, int32_t minute, int32_t second)
{
	return days_from_civil(year, month, day) * 86400 + hour * 3600 +
	       minute * 60 + second;
}

void bs_doc_civil(int64_t epoch, int32_t offset_s, struct bs_doc_civil *c)
{
	int64_t t = epoch + offset_s;
	int64_t z = (t >= 0 ? t : t - 86399) / 86400;
	int64_t sod = t - z * 86400;
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp + (mp < 10 ? 3 : -9);
	c->year = (int32_t)(y + (m <= 2));
	c->month = (int32_t)m;
	c->day = (int32_t)d;
	c->hour = (int32_t)(sod / 3600);
	c->minute = (int32_t)(sod / 60 % 60);
	c->second = (int32_t)(sod % 60);
}

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

/* tm_gmtoff at t under the TZ currently set. */
static int32_t gmtoff_at(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return 0;
	return (int32_t)tm.tm_gmtoff;
}

static bool zone_name_ok(const char *name)
{
	if (!name || !*name || strlen(name) >= BS_DOC_ZONE_NAME_MAX ||
	    name[0] == '/' || strstr(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || strchr("/_+-", *p)))
			return false;
	char path[160];
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Two instants at most this far apart with the same offset have no
 * change between them: a zone's offset changes months apart, and none
 * comes back to an offset within a week (test_docfmt holds it against
 * localtime_r every 5 minutes of 2019-2027 in six zones, Casablanca's
 * month-long Ramadan change among them). */
#define ZONE_SPAN_S (7 * 86400)

/* Records the changes in (lo, hi], the offsets at lo and hi known: where
 * the ends differ or lie over a week apart, halves (to the second). -1
 * when over BS_DOC_ZONE_MAX_CHANGES. Depth: log2 of the range. */
static int zone_changes(struct bs_doc_zone *z, int64_t lo, int32_t off_lo,
			int64_t hi, int32_t off_hi)
{
	assert(lo < hi);
	if (off_lo == off_hi && hi - lo <= ZONE_SPAN_S)
		return 0;
	if (hi - lo == 1) {                    /* the change is at hi */
		if (z->n == BS_DOC_ZONE_MAX_CHANGES)
			return -1;
		z->start[z->n] = hi;
		z->offset_s[z->n] = off_hi;
		z->n++;
		return 0;
	}
	int64_t mid = lo + (hi - lo) / 2;
	int32_t off_mid = gmtoff_at(mid);
	z->lookups++;
	if (zone_changes(z, lo, off_lo, mid, off_mid) < 0)
		return -1;
	return zone_changes(z, mid, off_mid, hi, off_hi);
}

int bs_doc_zone_load(struct bs_doc_zone *z, const char *name, int64_t from,
		     int64_t to, char *err, size_t err_size)
{
	memset(z, 0, sizeof *z);
	if (!zone_name_ok(name)) {
		snprintf(err, err_size, "time zone '%s' is not in the TZ "
			 "database (/usr/share/zoneinfo)", name ? name : "");
		return -1;
	}
	if (to <= from || to - from > 400 * 86400) {
		snprintf(err, err_size, "time range of %s: bad range", name);
		return -1;
	}
	snprintf(z->name, sizeof z->name, "%s", name);
	z->from = from;
	z->to = to;

	pthread_mutex_lock(&tz_lock);
	char *old = getenv("TZ");
	char *saved = old ? strdup(old) : NULL;
	setenv("TZ", name, 1);
	tzset();

	z->start[0] = from;
	z->offset_s[0] = gmtoff_at(from);
	z->n = 1;
	z->lookups = 1;
	int rc = 0;
	if (to - 1 > from) {
		int32_t last = gmtoff_at(to - 1);
		z->lookups++;
		rc = zone_changes(z, from, z->offset_s[0], to - 1, last);
		if (rc < 0)
			snprintf(err, err_size, "time zone %s changes offset too "
				 "often", name);
	}

	if (saved) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	tzset();
	pthread_mutex_unlock(&tz_lock);
	return rc;
}

int32_t bs_doc_zone_offset(const struct bs_doc_zone *z, int64_t t)
{
	assert(z->n >= 1);
	size_t lo = 0, hi = z->n;          /* last start ≤ t */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (z->start[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->offset_s[lo];
}

size_t bs_doc_fmt_offset(char *dst, size_t n, int32_t offset_s)
{
	char s[8];
	int32_t a = offset_s < 0 ? -offset_s : offset_s;
	s[0] = offset_s < 0 ? '-' : '+';
	put2(s + 1, a / 3600 % 100);
	s[3] = ':';
	put2(s + 4, a / 60 % 60);
	return out(dst, n, s, 6);
}

size_t bs_doc_fmt_date(char *dst, size_t n, const struct bs_doc_zone *z,
		       int64_t epoch, enum bs_doc_lang lang)
{
	struct bs_doc_civil c;
	char s[BS_DOC_NUM_MAX];
	bs_doc_civil(epoch, bs_doc_zone_offset(z, epoch), &c);
	int k;
	if (lang == BS_LANG_ZH)
		k = snprintf(s, sizeof s, "%d年%d月%d日", c.year, c.month, c.day);
	else
		k = snprintf(s, sizeof s, "%04d-%02d-%02d", c.year, c.month, c.day);
	return out(dst, n, s, (size_t)k);
}

size_t bs_doc_fmt_datetime(char *dst, size_t n, const struct bs_doc_zone *z,
			   int64_t epoch, enum bs_doc_lang lang)
{
	char date[BS_DOC_NUM_MAX], off[8], s[2 * BS_DOC_NUM_MAX];
	struct bs_doc_civil c;
	int32_t o = bs_doc_zone_offset(z, epoch);
	bs_doc_civil(epoch, o, &c);
	bs_doc_fmt_date(date, sizeof date, z, epoch, lang);
	bs_doc_fmt_offset(off, sizeof off, o);
	int k;
	if (lang == BS_LANG_ZH)
		k = snprintf(s, sizeof s, "%s %02d:%02d (UTC%s)", date, c.hour,
			     c.minute, off);
	else
		k = snprintf(s, sizeof s, "%s %02d:%02d %s", date, c.hour,
			     c.minute, off);
	return out(dst, n, s, (size_t)k);
}

size_t bs_doc_fmt_hhmm(char *dst, size_t n, const struct bs_doc_zone *z,
		       int64_t epoch)
{
	struct bs_doc_civil c;
	char s[8];
	bs_doc_civil(epoch, bs_doc_zone_offset(z, epoch), &c);
	put2(s, c.hour);
	s[2] = ':';
	put2(s + 3, c.minute);
	return out(dst, n, s, 5);
}

/* ---- HTML -------------------------------------------------------------- */

static const char print_css[] =
	"@page{size:A4;margin:14mm 12mm 16mm 12mm}\n"
	"html{font-family:'DejaVu Sans','WenQuanYi Micro Hei','Noto Sans CJK SC',"
	"sans-serif;font-size:9.5pt;color:#111}\n"
	"body{margin:0 auto;max-width:186mm}\n"
	"h1{font-size:16pt;margin:0 0 2mm}h2{font-size:12pt;margin:5mm 0 2mm;"
	"break-after:avoid;page-break-after:avoid}\n"
	"h3{font-size:10.5pt;margin:4mm 0 1.5mm;break-after:avoid}\n"
	"table{border-collapse:collapse;width:100%;margin:1mm 0 3mm}\n"
	"thead{display:table-header-group}tfoot{display:table-footer-group}\n"
	"tr{break-inside:avoid;page-break-inside:avoid}\n"
	"th,td{border:0.3pt solid #999;padding:0.6mm 1.2mm;text-align:left;"
	"vertical-align:top}\n"
	"th{background:#eee;font-weight:bold}\n"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;"
	"white-space:nowrap}\n"
	"table.kv th{width:32%}\n"
	".banner{border:1pt solid #b00;color:#b00;font-weight:bold;"
	"padding:1.5mm;margin:2mm 0}\n"
	".mono{font-family:'DejaVu Sans Mono',monospace;word-break:break-all}\n"
	".small{font-size:8pt}\n"
	".pb{break-before:page;page-break-before:always}\n"
	".keep{break-inside:avoid;page-break-inside:avoid}\n"
	"svg{display:block;width:100%;height:auto}\n"
	".notfinal{position:fixed;top:0;right:0;color:#b00;font-size:8pt;"
	"font-weight:bold}\n";

const char *bs_doc_print_css(void)
{
	return print_css;
}

/* ---- labels ------------------------------------------------------------ */

static const char *const labels[BS_L_COUNT_][2] = {
	[BS_L_STATEMENT_TITLE] = { "Usage statement", "用量对账单" },
	[BS_L_TENANT] = { "Tenant", "租户" },
	[BS_L_PERIOD] = { "Period", "账期" },
	[BS_L_TIME_ZONE] = { "Time zone", "时区" },
	[BS_L_GENERATED] = { "Generated", "生成时间" },
	[BS_L_NOT_FINAL] = { "NOT FINAL: the period is open; usage to date, "
			     "figures may change until the month is closed",
			     "非最终版本：账期未结算，仅为截至目前的用量，结账前数据可能变化" },
	[BS_L_FINAL] = { "Final: the period is closed and invoiced",
			 "最终版本：账期已结算并开具发票" },
	[BS_L_ALLOCATION] = { "Allocation", "带宽分配" },
	[BS_L_POOL] = { "Pool", "线路池" },
	[BS_L_SEGMENT] = { "Segment", "计费分段" },
	[BS_L_PLAN] = { "Plan", "套餐" },
	[BS_L_WINDOW] = { "Window", "计费区间" },
	[BS_L_COMMIT] = { "Commit", "承诺带宽" },
	[BS_L_P95] = { "95th percentile", "第95百分位" },
	[BS_L_BILLABLE_BW] = { "Billable bandwidth", "计费带宽" },
	[BS_L_BUCKET] = { "5-minute bucket", "5分钟采样" },
	[BS_L_BUCKETS] = { "Buckets", "采样数" },
	[BS_L_IN] = { "In", "入向" },
	[BS_L_OUT] = { "Out", "出向" },
	[BS_L_BILLABLE] = { "Billable", "计费字节" },
	[BS_L_RATE_MBPS] = { "Rate (Mbps)", "速率 (Mbps)" },
	[BS_L_MARK] = { "Mark", "标记" },
	[BS_L_BILLED_SAMPLE] = { "billed sample", "计费采样点" },
	[BS_L_DROPPED_SAMPLE] = { "dropped top sample", "舍弃的高位采样" },
	[BS_L_GAP] = { "gap (no data)", "缺失 (无数据)" },
	[BS_L_GAPS] = { "Gaps", "缺失数" },
	[BS_L_DROPPED] = { "Dropped", "舍弃数" },
	[BS_L_BILLED_RANK] = { "Billed rank", "计费排名" },
	[BS_L_DAILY_VOLUME] = { "Daily volume", "每日流量" },
	[BS_L_MONTHLY_VOLUME] = { "Monthly volume", "月度流量" },
	[BS_L_DATE] = { "Date", "日期" },
	[BS_L_CHARGES] = { "Charges", "费用" },
	[BS_L_CHARGE] = { "Charge", "费用项" },
	[BS_L_QUANTITY] = { "Quantity", "数量" },
	[BS_L_UNIT_PRICE] = { "Unit price", "单价" },
	[BS_L_AMOUNT] = { "Amount", "金额" },
	[BS_L_VAT] = { "VAT", "增值税" },
	[BS_L_VAT_RATE] = { "VAT rate", "税率" },
	[BS_L_SUBTOTAL] = { "Subtotal", "不含税金额" },
	[BS_L_TOTAL] = { "Total", "价税合计" },
	[BS_L_INVOICE] = { "Invoice", "发票" },
	[BS_L_INVOICE_NUMBER] = { "Invoice number", "发票号码" },
	[BS_L_ISSUE_DATE] = { "Issue date", "开票日期" },
	[BS_L_DUE_DATE] = { "Due date", "付款期限" },
	[BS_L_NOTES] = { "Notes", "备注" },
	[BS_L_DIGEST] = { "Sample digest (SHA-256, bandsplit-samples-v1)",
			  "采样摘要 (SHA-256, bandsplit-samples-v1)" },
	[BS_L_RATE_CHART] = { "5-minute rates", "5分钟速率" },
	[BS_L_VOLUME_CHART] = { "Daily volume", "每日流量" },
	[BS_L_BUCKET_MARKS] = { "Billed, dropped and gap buckets",
				"计费、舍弃与缺失采样" },
	[BS_L_DIRECTION] = { "Direction rule", "方向规则" },
	[BS_L_CHARGE_COMMIT] = { "commit", "承诺带宽费" },
	[BS_L_CHARGE_OVERAGE] = { "overage", "超额带宽费" },
	[BS_L_CHARGE_VOLUME] = { "volume", "流量费" },
	[BS_L_CHARGE_FLAT] = { "flat", "固定带宽费" },
	[BS_L_SELLER] = { "Seller", "销售方" },
	[BS_L_BUYER] = { "Buyer", "购买方" },
	[BS_L_TAX_ID] = { "Tax id", "纳税人识别号" },
	[BS_L_ADDRESS] = { "Address", "地址" },
	[BS_L_BANK] = { "Bank", "开户行及账号" },
	[BS_L_PAGE_NOTE_DIGEST] = {
		"Recompute it from the CSV: `bandsplit statement verify FILE.csv` "
		"or the README's five lines of Python.",
		"可由CSV文件重新计算：`bandsplit statement verify FILE.csv`，"
		"或参见README中的五行Python代码。" },
};

const char *bs_doc_label(enum bs_doc_label l, enum bs_doc_lang lang)
{
	if ((unsigned)l >= BS_L_COUNT_)
		return "?";
	const char *s = labels[l][lang == BS_LANG_ZH ? 1 : 0];
	return s ? s : "?";
}

/* ---- PDF --------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

/* The last non-empty line of file f (without its newline) into dst. */
static void last_line(const char *f, char *dst, size_t n)
{
	dst[0] = '\0';
	FILE *fp = fopen(f, "r");
	if (!fp)
		return;
	char line[512];
	while (fgets(line, sizeof line, fp)) {
		size_t l = strlen(line);
		while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
			line[--l] = '\0';
		if (l)
			snprintf(dst, n, "%s", line);
	}
	fclose(fp);
}

/* Whether name is an executable file in one of $PATH's directories. */
static bool on_path(const char *name)
{
	const char *path = getenv("PATH");
	if (path == NULL || *path == '\0')
		return false;
	char dir[4096];
	while (*path != '\0') {
		size_t len = strcspn(path, ":");
		char file[4200];
		if (len > 0 && len < sizeof(dir)) {
			memcpy(dir, path, len);
			dir[len] = '\0';
			snprintf(file, sizeof(file), "%s/%s", dir, name);
			if (access(file, X_OK) == 0)
				return true;
		}
		path += len;
		if (*path == ':')
			path++;
	}
	return false;
}

const char *bs_doc_pdf_browser(void)
{
	const char *bin = getenv("BS_CHROMIUM");
	if (bin != NULL && *bin != '\0')
		return bin;
	/* Debian's chromium-headless-shell is the browser's headless build
	 * alone: the same Blink and Skia/PDF, without the desktop browser's
	 * start-up (about 1 s against 1.4–4 s here for a trivial page). */
	if (on_path("chromium-headless-shell"))
		return "chromium-headless-shell";
	return "chromium";
}

/* Runs the browser once (its own process group, stderr to logf), waits up
 * to limit seconds (then kills it). 0 with *status set; -1 when it could
 * not be started (errno). single: the headless shell's --single-process
 * --no-zygote (one process: half its start-up time). */
static int run_browser(const char *bin, bool single, const char *prof,
		       const char *outarg, const char *url, const char *logf,
		       long limit, int *status, bool *timed_out)
{
	*status = 0;
	*timed_out = false;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setpgid(0, 0);
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		if (fd >= 0)
			dup2(fd, 2);
		const char *argv[16];
		int argc = 0;
		argv[argc++] = bin;
		argv[argc++] = "--headless";
		argv[argc++] = "--no-sandbox";
		argv[argc++] = "--disable-gpu";
		if (single) {
			argv[argc++] = "--single-process";
			argv[argc++] = "--no-zygote";
		}
		argv[argc++] = "--no-pdf-header-footer";
		argv[argc++] = "--no-first-run";
		argv[argc++] = "--disable-extensions";
		argv[argc++] = "--disable-dev-shm-usage";
		argv[argc++] = "--run-all-compositor-stages-before-draw";
		argv[argc++] = prof;
		argv[argc++] = outarg;
		argv[argc++] = url;
		argv[argc] = NULL;
		assert(argc < (int)(sizeof(argv) / sizeof(argv[0])));
		execvp(bin, (char *const *)argv);
		dprintf(2, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);

	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			*status = -1;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= limit) {
			*timed_out = true;
			kill(-pid, SIGKILL);
			waitpid(pid, status, 0);
			break;
		}
		struct timespec d = { 0, 10 * 1000 * 1000 };
		nanosleep(&d, NULL);
	}
	kill(-pid, SIGKILL);   /* helpers chromium may have left behind */
	return 0;
}

int bs_doc_html_to_pdf(const char *html_path, const char *pdf_path, char *err,
		       size_t n)
{
	const char *bin = bs_doc_pdf_browser();
	long limit = 60;
	const char *lim = getenv("BS_CHROMIUM_TIMEOUT");
	if (lim && atol(lim) > 0 && atol(lim) <= 3600)
		limit = atol(lim);

	char abs_html[4096];
	if (!realpath(html_path, abs_html)) {
		snprintf(err, n, "html to pdf: %s: %s", html_path, strerror(errno));
		return -1;
	}
	char dir[] = "/tmp/bs-chromium-XXXXXX";
	if (!mkdtemp(dir)) {
		snprintf(err, n, "html to pdf: temporary profile: %s", strerror(errno));
		return -1;
	}
	char url[4200], prof[64], outarg[4200], logf[64];
	snprintf(url, sizeof url, "file://%s", abs_html);
	snprintf(prof, sizeof prof, "--user-data-dir=%s", dir);
	snprintf(outarg, sizeof outarg, "--print-to-pdf=%s", pdf_path);
	snprintf(logf, sizeof logf, "%s/stderr", dir);
	unlink(pdf_path);

	/* The headless shell first runs in one process (--single-process:
	 * half its start-up time here); that mode is not one Chromium
	 * supports, and two PDFs printed at once crashed it once (SIGTRAP)
	 * in a test run, so a shell that fails (not a time-out, not a missing
	 * binary) is run once more with its own process model. */
	const char *base = strrchr(bin, '/') ? strrchr(bin, '/') + 1 : bin;
	const bool shell = strstr(base, "headless-shell") != NULL;
	int status = 0;
	bool timed_out = false;
	for (int attempt = 0; attempt < 2; attempt++) {
		const bool single = shell && attempt == 0;
		if (run_browser(bin, single, prof, outarg, url, logf, limit,
				&status, &timed_out) != 0) {
			snprintf(err, n, "html to pdf: fork: %s", strerror(errno));
			nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
			return -1;
		}
		bool ok = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
		bool missing = WIFEXITED(status) && WEXITSTATUS(status) == 127;
		if (ok || timed_out || missing || !single)
			break;
		unlink(pdf_path);
	}

	char tail[300];
	last_line(logf, tail, sizeof tail);
	int rc = -1;
	if (timed_out) {
		snprintf(err, n, "html to pdf: %s did not finish within %ld s "
			 "(BS_CHROMIUM_TIMEOUT)", bin, limit);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		snprintf(err, n, "html to pdf: cannot run %s (install Debian's "
			 "chromium-headless-shell or chromium, or set "
			 "BS_CHROMIUM): %s", bin, tail);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, n, "html to pdf: %s failed (status %d): %s", bin,
			 status, tail);
	} else {
		char magic[5] = { 0 };
		FILE *fp = fopen(pdf_path, "rb");
		if (!fp || fread(magic, 1, 4, fp) != 4 || memcmp(magic, "%PDF", 4)) {
			snprintf(err, n, "html to pdf: %s wrote no PDF to %s: %s",
				 bin, pdf_path, tail);
		} else {
			rc = 0;
		}
		if (fp)
			fclose(fp);
	}
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

int bs_doc_pdf_write(const char *html, size_t len, FILE *out, char *err,
		     size_t n)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], html_path[600], pdf_path[600];
	snprintf(dir, sizeof dir, "%s/bs-document.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		snprintf(err, n, "pdf: a temporary directory: %s", strerror(errno));
		return -1;
	}
	snprintf(html_path, sizeof html_path, "%s/document.html", dir);
	snprintf(pdf_path, sizeof pdf_path, "%s/document.pdf", dir);
	int rc = 0;
	FILE *f = fopen(html_path, "w");
	if (!f || fwrite(html, 1, len, f) != len) {
		snprintf(err, n, "pdf: writing %s: %s", html_path, strerror(errno));
		rc = -1;
	}
	if (f && fclose(f) != 0 && rc == 0) {
		snprintf(err, n, "pdf: writing %s failed", html_path);
		rc = -1;
	}
	if (rc == 0 && bs_doc_html_to_pdf(html_path, pdf_path, err, n) != 0)
		rc = -1;
	if (rc == 0) {
		f = fopen(pdf_path, "rb");
		if (!f) {
			snprintf(err, n, "pdf: no PDF: %s", strerror(errno));
			rc = -1;
		} else {
			char buf[65536];
			size_t got;
			while (rc == 0 && (got = fread(buf, 1, sizeof buf, f)) > 0)
				if (fwrite(buf, 1, got, out) != got) {
					snprintf(err, n, "pdf: writing the document failed: %s",
						 strerror(errno));
					rc = -1;
				}
			if (rc == 0 && (ferror(f) || fflush(out) != 0)) {
				snprintf(err, n, "pdf: copying the PDF failed");
				rc = -1;
			}
			fclose(f);
		}
	}
	unlink(pdf_path);
	unlink(html_path);
	rmdir(dir);
	return rc;
}
