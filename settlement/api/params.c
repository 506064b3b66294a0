/*
 * params.c — strict parsers of bandsplit-api's request parameters. See
 * params.h. Every parser bounds the length first, then reads the string
 * left to right with fixed-width fields; nothing here allocates.
 */
#include "params.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The input as it may be quoted back: printable ASCII, bounded. */
static void echo(const char *s, char out[API_PARAM_ECHO_MAX + 4])
{
	size_t i = 0;
	for (; s[i] != '\0' && i < API_PARAM_ECHO_MAX; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

__attribute__((format(printf, 4, 5)))
static int refuse(char *err, size_t err_size, const char *s, const char *fmt, ...)
{
	char quoted[API_PARAM_ECHO_MAX + 4];
	char what[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	echo(s, quoted);
	snprintf(err, err_size, "'%s': %s", quoted, what);
	return -1;
}

/* n decimal digits at s into *v; false if any is not a digit. */
static bool digits(const char *s, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	assert(m >= 1 && m <= 12);
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const int64_t yoe = y - era * 400;
	const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" at s (10 characters read). */
static bool parse_date(const char *s, int *y, int *m, int *d)
{
	return digits(s, 4, y) && s[4] == '-' && digits(s + 5, 2, m) &&
	       s[7] == '-' && digits(s + 8, 2, d) && *y >= 1970 && *y <= 9999 &&
	       *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

int api_parse_time(const char *s, int64_t *epoch, char *err, size_t err_size)
{
	static const char expect[] = "expected an RFC 3339 time "
		"(2026-11-01T00:00:00+08:00 or ...Z) or a date (2026-11-01)";
	size_t n = strnlen(s, API_PARAM_MAX + 1);
	int y, mo, d, h, mi, sec;
	if (n > API_PARAM_MAX || n < 10 || !parse_date(s, &y, &mo, &d))
		return refuse(err, err_size, s, "%s", expect);
	if (n == 10) {
		struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1,
				 .tm_mday = d, .tm_isdst = -1 };
		time_t t = mktime(&tm);
		if (t == (time_t)-1)
			return refuse(err, err_size, s, "not a time in the park's "
				      "time zone");
		*epoch = (int64_t)t;
		return 0;
	}
	if ((s[10] != 'T' && s[10] != 't') || n < 19 || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec) || h > 23 || mi > 59 || sec > 59)
		return refuse(err, err_size, s, "%s", expect);
	const char *p = s + 19;
	if (*p == '.') {
		int k = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			k++;
		if (k < 1 || k > 9)
			return refuse(err, err_size, s, "%s", expect);
	}
	int offset = 0;
	if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
		offset = 0;
	} else if (p[0] == '+' || p[0] == '-' || p[0] == ' ') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
		    p[6] != '\0' || oh > 23 || om > 59)
			return refuse(err, err_size, s, "%s", expect);
		offset = (oh * 60 + om) * 60 * (p[0] == '-' ? -1 : 1);
	} else {
		return refuse(err, err_size, s, "%s (the offset is required)",
			      expect);
	}
	*epoch = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
		 offset;
	return 0;
}

int api_parse_step(const char *s, int *seconds, char *err, size_t err_size)
{
	static const struct { const char *name; int s; } steps[] = {
		{ "5m", 300 }, { "1h", 3600 }, { "1d", 86400 },
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (strcmp(s, steps[i].name) == 0) {
			*seconds = steps[i].s;
			return 0;
		}
	return refuse(err, err_size, s, "expected 5m, 1h or 1d");
}

int api_parse_direction(const char *s, enum api_direction *dir, char *err,
			size_t err_size)
{
	if (strcmp(s, "in") == 0)
		*dir = API_DIR_IN;
	else if (strcmp(s, "out") == 0)
		*dir = API_DIR_OUT;
	else if (strcmp(s, "both") == 0)
		*dir = API_DIR_BOTH;
	else
		return refuse(err, err_size, s, "expected in, out or both");
	return 0;
}

int api_parse_period(const char *s, char out[8], char *err, size_t err_size)
{
	int y, m;
	if (strnlen(s, 8) != 7 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &m))
		return refuse(err, err_size, s, "expected a month YYYY-MM");
	if (y < 2000 || m < 1 || m > 12)
		return refuse(err, err_size, s, "no such month (years 2000..9999, "
			      "months 01..12)");
	memcpy(out, s, 7);
	out[7] = '\0';
	return 0;
}

int api_parse_invoice_number(const char *s, char *err, size_t err_size)
{
	const char *p = s;
	if (strncmp(p, "CN-", 3) == 0 || strncmp(p, "DN-", 3) == 0)
		p += 3;
	int y, seq;
	if (strnlen(p, 12) != 11 || !digits(p, 4, &y) || p[4] != '-' ||
	    !digits(p + 5, 6, &seq) || y < 2000 || seq < 1)
		return refuse(err, err_size, s, "expected an invoice number "
			      "YYYY-NNNNNN, or CN-/DN-YYYY-NNNNNN for a note");
	return 0;
}

int api_parse_id(const char *s, int64_t *id, char *err, size_t err_size)
{
	size_t n = strnlen(s, 17);
	if (n == 0 || n > 16 || s[0] == '0')
		return refuse(err, err_size, s, "expected a positive whole number");
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return refuse(err, err_size, s, "expected a positive whole number");
		v = v * 10 + (s[i] - '0');
	}
	if (v > ((int64_t)1 << 53))
		return refuse(err, err_size, s, "too large");
	*id = v;
	return 0;
}

static const char *const fmt_names[API_FMT_COUNT] = { "json", "csv", "html", "pdf" };
static const char *const fmt_types[API_FMT_COUNT] = {
	"application/json", "text/csv", "text/html", "application/pdf",
};

const char *api_format_name(enum api_format fmt)
{
	assert(fmt < API_FMT_COUNT);
	return fmt_names[fmt];
}

const char *api_format_media_type(enum api_format fmt)
{
	assert(fmt < API_FMT_COUNT);
	return fmt_types[fmt];
}

int api_parse_format(const char *s, unsigned allowed, enum api_format *fmt,
		     char *err, size_t err_size)
{
	char list[64] = "";
	for (int f = 0; f < API_FMT_COUNT; f++) {
		if (!(allowed & API_FMT_BIT(f)))
			continue;
		if (strcmp(s, fmt_names[f]) == 0) {
			*fmt = (enum api_format)f;
			return 0;
		}
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " : "",
			 fmt_names[f]);
	}
	return refuse(err, err_size, s, "expected %s here", list);
}

/* q of a media range's parameters ";q=0.5;level=1": 1000 * q, or 1000. */
static int q_of(const char *params, size_t len)
{
	const char *p = params, *end = params + len;
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi != NULL ? semi : end;
		while (p < stop && (*p == ' ' || *p == '\t'))
			p++;
		if (stop - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			int q = 0, scale = 1000;
			const char *v = p + 2;
			if (v < stop && *v == '1')
				return 1000;
			if (v < stop && *v == '0') {
				v++;
				if (v < stop && *v == '.')
					for (v++; v < stop && *v >= '0' && *v <= '9' &&
					     scale > 1; v++) {
						scale /= 10;
						q += (*v - '0') * scale;
					}
				return q;
			}
			return 0;   /* malformed: not acceptable */
		}
		p = stop + 1;
	}
	return 1000;
}

/* One element of a header's comma-separated list with q-values
 * ("text/csv;q=0.5", "gzip;q=0"): its token without the blanks around it
 * and its q (0..1000). */
struct list_item {
	const char *token;
	size_t len;
	int q;
};

/* The element at *p (before end) into it, *p moved past it; false at the
 * end. */
static bool next_item(const char **p, const char *end, struct list_item *it)
{
	if (*p >= end)
		return false;
	const char *s = *p;
	const char *comma = memchr(s, ',', (size_t)(end - s));
	const char *stop = comma != NULL ? comma : end;
	while (s < stop && (*s == ' ' || *s == '\t'))
		s++;
	const char *semi = s;
	while (semi < stop && *semi != ';')
		semi++;
	const char *tend = semi;
	while (tend > s && (tend[-1] == ' ' || tend[-1] == '\t'))
		tend--;
	it->token = s;
	it->len = (size_t)(tend - s);
	it->q = semi < stop ? q_of(semi + 1, (size_t)(stop - semi - 1)) : 1000;
	*p = stop + 1;
	return true;
}

static bool item_is(const struct list_item *it, const char *token)
{
	return strlen(token) == it->len && strncasecmp(it->token, token, it->len) == 0;
}

enum api_format api_format_from_accept(const char *accept, unsigned allowed)
{
	if (accept == NULL)
		return API_FMT_JSON;
	size_t n = strnlen(accept, API_ACCEPT_MAX + 1);
	if (n > API_ACCEPT_MAX)
		return API_FMT_JSON;
	enum api_format best = API_FMT_JSON;
	int best_q = -1;
	const char *p = accept;
	struct list_item it;
	while (next_item(&p, accept + n, &it)) {
		int match = -1;
		if (item_is(&it, "*/*"))
			match = API_FMT_JSON;
		for (int f = 0; f < API_FMT_COUNT && match < 0; f++)
			if ((allowed & API_FMT_BIT(f)) && item_is(&it, fmt_types[f]))
				match = f;
		if (match >= 0 && it.q > 0 && it.q > best_q) {
			best = (enum api_format)match;
			best_q = it.q;
		}
	}
	return best;
}

bool api_accepts_gzip(const char *accept_encoding)
{
	if (accept_encoding == NULL)
		return false;
	size_t n = strnlen(accept_encoding, API_ACCEPT_MAX + 1);
	if (n > API_ACCEPT_MAX)
		return false;
	int gzip_q = -1, any_q = -1;      /* -1: not listed */
	const char *p = accept_encoding;
	struct list_item it;
	while (next_item(&p, accept_encoding + n, &it)) {
		if (item_is(&it, "gzip") || item_is(&it, "x-gzip"))
			gzip_q = it.q > gzip_q ? it.q : gzip_q;
		else if (item_is(&it, "*"))
			any_q = it.q > any_q ? it.q : any_q;
	}
	return gzip_q >= 0 ? gzip_q > 0 : any_q > 0;
}

int api_parse_lang(const char *s, enum api_lang *lang, char *err, size_t err_size)
{
	if (strcmp(s, "en") == 0)
		*lang = API_LANG_EN;
	else if (strcmp(s, "zh") == 0)
		*lang = API_LANG_ZH;
	else
		return refuse(err, err_size, s, "expected en or zh");
	return 0;
}
