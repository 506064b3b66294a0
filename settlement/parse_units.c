/*
 * parse_units.c — exact parsers of the operator's units: rates, money,
 * percentages, decimals, ids, prefixes, ISO 8601 times. See parse_units.h.
 * Integers only: a value is read as digits and a fraction, scaled by a
 * power of ten, and checked against its limit before every multiplication.
 */
#include "parse_units.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_INT_DIGITS  18
#define MAX_FRAC_DIGITS 18

/* "digits[.digits]" at the start of s: the integer part, the fraction's
 * digits (trailing zeros dropped) and their count; *end after the number.
 * Returns -1 if there is no digit before the point or none after it. */
struct decimal {
	uint64_t int_part;
	uint64_t frac;        /* the fraction's digits as an integer */
	int nfrac;            /* how many digits frac has (after trimming) */
};

static int read_decimal(const char *s, struct decimal *d, const char **end,
			char *err, size_t err_size)
{
	const char *p = s;
	int nint = 0;
	memset(d, 0, sizeof(*d));
	while (*p >= '0' && *p <= '9') {
		if (++nint > MAX_INT_DIGITS) {
			snprintf(err, err_size, "too large");
			return -1;
		}
		d->int_part = d->int_part * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (nint == 0) {
		snprintf(err, err_size, "not a number");
		return -1;
	}
	if (*p == '.') {
		p++;
		const char *f = p;
		while (*p >= '0' && *p <= '9')
			p++;
		int n = (int)(p - f);
		if (n == 0) {
			snprintf(err, err_size, "no digit after the decimal point");
			return -1;
		}
		while (n > 0 && f[n - 1] == '0')
			n--;
		if (n > MAX_FRAC_DIGITS) {
			snprintf(err, err_size, "too many decimals");
			return -1;
		}
		for (int i = 0; i < n; i++)
			d->frac = d->frac * 10 + (uint64_t)(f[i] - '0');
		d->nfrac = n;
	}
	*end = p;
	return 0;
}

static uint64_t pow10u(int e)
{
	assert(e >= 0 && e <= 19);
	uint64_t v = 1;
	while (e-- > 0)
		v *= 10;
	return v;
}

/* d × 10^e as an integer ≤ max; -1 if the fraction does not fit in e
 * decimals (msg_frac) or the value exceeds max. */
static int scale_decimal(const struct decimal *d, int e, uint64_t max,
			 uint64_t *out, const char *msg_frac, char *err,
			 size_t err_size)
{
	if (d->nfrac > e) {
		snprintf(err, err_size, "%s", msg_frac);
		return -1;
	}
	uint64_t mul = pow10u(e);
	if (d->int_part > max / mul) {
		snprintf(err, err_size, "too large");
		return -1;
	}
	uint64_t v = d->int_part * mul;
	uint64_t f = d->frac * pow10u(e - d->nfrac);
	if (f > max - v) {
		snprintf(err, err_size, "too large");
		return -1;
	}
	*out = v + f;
	return 0;
}

static const char *skip_spaces(const char *p)
{
	while (*p == ' ')
		p++;
	return p;
}

int bs_parse_rate(const char *s, uint64_t *bps, char *err, size_t err_size)
{
	struct decimal d;
	const char *p;
	if (read_decimal(s, &d, &p, err, err_size) < 0)
		return -1;
	p = skip_spaces(p);
	int e = 0;
	switch (*p) {
	case 'k': case 'K': e = 3; p++; break;
	case 'm': case 'M': e = 6; p++; break;
	case 'g': case 'G': e = 9; p++; break;
	case 't': case 'T': e = 12; p++; break;
	default: break;
	}
	/* 'b' is a bit and 'B' a byte (8 bits): the abbreviations are matched
	 * exactly; only the spelled-out words ignore case. */
	static const struct { const char *name; bool any_case; unsigned bits; }
	units[] = {
		{ "", false, 1 }, { "b", false, 1 }, { "b/s", false, 1 },
		{ "bps", false, 1 }, { "bit", true, 1 }, { "bits", true, 1 },
		{ "bit/s", true, 1 }, { "bits/s", true, 1 },
		{ "B", false, 8 }, { "B/s", false, 8 }, { "Bps", false, 8 },
		{ "byte", true, 8 }, { "bytes", true, 8 }, { "byte/s", true, 8 },
		{ "bytes/s", true, 8 },
	};
	unsigned bits = 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && bits == 0; i++)
		if (units[i].any_case ? strcasecmp(p, units[i].name) == 0
				      : strcmp(p, units[i].name) == 0)
			bits = units[i].bits;
	if (bits == 0) {
		bool ambiguous = strcasecmp(p, "b") == 0 || strcasecmp(p, "b/s") == 0 ||
				 strcasecmp(p, "bps") == 0;
		if (ambiguous)
			snprintf(err, err_size, "ambiguous unit '%s': 'b' is a bit, "
				 "'B' a byte (write e.g. 10Mbps or 10Mbit/s for "
				 "megabits, 10MB/s for megabytes = 80 Mbit/s)", p);
		else
			snprintf(err, err_size, "unknown unit '%s' (use e.g. 100M, "
				 "1G, 2.5Gbit, 10 Mbps, 10 MB/s)", p);
		return -1;
	}
	uint64_t v;
	if (scale_decimal(&d, e, BS_RATE_MAX_BPS / bits, &v, bits == 1
			  ? "not a whole number of bit/s"
			  : "not a whole number of byte/s", err, err_size) < 0) {
		if (strcmp(err, "too large") == 0)
			snprintf(err, err_size, "above the limit of 1 Pbit/s");
		return -1;
	}
	v *= bits;
	if (v == 0) {
		snprintf(err, err_size, "must be above zero");
		return -1;
	}
	*bps = v;
	return 0;
}

int bs_parse_money(const char *s, int64_t *fen, char *err, size_t err_size)
{
	struct decimal d;
	const char *p;
	if (s[0] == '-') {
		snprintf(err, err_size, "must not be negative");
		return -1;
	}
	if (read_decimal(s, &d, &p, err, err_size) < 0)
		return -1;
	if (*p != '\0') {
		snprintf(err, err_size, "not an amount in yuan like 12.34 "
			 "(unexpected '%s')", p);
		return -1;
	}
	uint64_t v;
	if (scale_decimal(&d, 2, (uint64_t)BS_MONEY_MAX_FEN, &v, "more than 2 "
			  "decimals (amounts are in yuan, exact to the fen)", err,
			  err_size) < 0)
		return -1;
	*fen = (int64_t)v;
	return 0;
}

int bs_parse_percent(const char *s, int *bp, char *err, size_t err_size)
{
	struct decimal d;
	const char *p;
	if (read_decimal(s, &d, &p, err, err_size) < 0)
		return -1;
	if (!(p[0] == '\0' || (p[0] == '%' && p[1] == '\0'))) {
		snprintf(err, err_size, "not a percentage like 6%% (unexpected "
			 "'%s')", p);
		return -1;
	}
	uint64_t v;
	if (scale_decimal(&d, 2, 10000, &v, "more than 2 decimals", err,
			  err_size) < 0) {
		if (strcmp(err, "too large") == 0)
			snprintf(err, err_size, "above 100%%");
		return -1;
	}
	*bp = (int)v;
	return 0;
}

int bs_parse_decimal(const char *s, int decimals, uint64_t max_scaled,
		     uint64_t *scaled, char *err, size_t err_size)
{
	assert(decimals >= 0 && decimals <= 9);
	struct decimal d;
	const char *p;
	if (read_decimal(s, &d, &p, err, err_size) < 0)
		return -1;
	if (*p != '\0') {
		snprintf(err, err_size, "not a decimal number (unexpected '%s')", p);
		return -1;
	}
	char msg[64];
	snprintf(msg, sizeof(msg), "more than %d decimals", decimals);
	uint64_t v;
	if (scale_decimal(&d, decimals, max_scaled, &v, msg, err, err_size) < 0)
		return -1;
	if (v == 0) {
		snprintf(err, err_size, "must be above zero");
		return -1;
	}
	*scaled = v;
	return 0;
}

int bs_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v,
		  char *err, size_t err_size)
{
	uint64_t x = 0;
	const char *p = s;
	if (*p == '\0') {
		snprintf(err, err_size, "empty");
		return -1;
	}
	for (; *p; p++) {
		if (*p < '0' || *p > '9') {
			snprintf(err, err_size, "not a whole number");
			return -1;
		}
		if (x > (UINT64_MAX - 9) / 10 || p - s >= 20) {
			snprintf(err, err_size, "out of range %llu..%llu",
				 (unsigned long long)min, (unsigned long long)max);
			return -1;
		}
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (x < min || x > max) {
		snprintf(err, err_size, "out of range %llu..%llu",
			 (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*v = x;
	return 0;
}

int bs_parse_prefix(const char *s, char *canon, size_t canon_size,
		    int *family, char *err, size_t err_size)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	if (slash == NULL) {
		snprintf(err, err_size, "not a prefix: expected address/length "
			 "like 203.0.113.0/24 or 2001:db8::/48");
		return -1;
	}
	size_t alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(addr)) {
		snprintf(err, err_size, "not an IP address before '/'");
		return -1;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	uint8_t bytes[16];
	int af = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(af, addr, bytes) != 1) {
		snprintf(err, err_size, "'%s' is not an IPv%d address", addr,
			 af == AF_INET ? 4 : 6);
		return -1;
	}
	int nbits = af == AF_INET ? 32 : 128;
	uint64_t len;
	char lerr[64];
	if (bs_parse_uint(slash + 1, 0, (uint64_t)nbits, &len, lerr,
			  sizeof(lerr)) < 0) {
		snprintf(err, err_size, "prefix length '%s': %s", slash + 1, lerr);
		return -1;
	}
	for (int bit = (int)len; bit < nbits; bit++) {
		if (bytes[bit / 8] & (0x80 >> (bit % 8))) {
			snprintf(err, err_size, "host bits set below /%d (the "
				 "network address is required)", (int)len);
			return -1;
		}
	}
	char text[INET6_ADDRSTRLEN];
	if (inet_ntop(af, bytes, text, sizeof(text)) == NULL) {
		snprintf(err, err_size, "cannot format address");
		return -1;
	}
	snprintf(canon, canon_size, "%s/%d", text, (int)len);
	*family = af == AF_INET ? 4 : 6;
	return 0;
}

/* Exactly n digits at p → *v. */
static bool digits(const char *p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		x = x * 10 + (p[i] - '0');
	}
	*v = x;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
				      30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

static int time_error(char *err, size_t err_size, const char *what)
{
	snprintf(err, err_size, "%s; use ISO 8601 like 2026-11-01, "
		 "2026-11-01T08:00 or 2026-11-01T08:00:00+08:00", what);
	return -1;
}

int bs_parse_time(const char *s, char *out, size_t out_size, char *err,
		  size_t err_size)
{
	assert(out_size >= BS_TIME_TEXT_MAX);
	if (strcmp(s, "now") == 0) {
		snprintf(out, out_size, "now");
		return 0;
	}
	int y, mo, d, h = 0, mi = 0, sec = 0;
	const char *p = s;
	if (!digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) ||
	    p[7] != '-' || !digits(p + 8, 2, &d))
		return time_error(err, err_size, "not a date YYYY-MM-DD");
	if (y < 1970 || y > 9999)
		return time_error(err, err_size, "year out of range 1970..9999");
	if (mo < 1 || mo > 12)
		return time_error(err, err_size, "month out of range 01..12");
	if (d < 1 || d > days_in_month(y, mo))
		return time_error(err, err_size, "no such day in that month");
	p += 10;
	char frac[8] = "";
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(p, 2, &h) || p[2] != ':' || !digits(p + 3, 2, &mi))
			return time_error(err, err_size, "not a time HH:MM");
		p += 5;
		if (*p == ':') {
			if (!digits(p + 1, 2, &sec))
				return time_error(err, err_size, "not seconds :SS");
			p += 3;
			if (*p == '.' || *p == ',') {
				int n = 0;
				p++;
				while (p[n] >= '0' && p[n] <= '9')
					n++;
				if (n < 1 || n > 6)
					return time_error(err, err_size, "fraction of a "
							  "second: 1 to 6 digits");
				frac[0] = '.';
				memcpy(frac + 1, p, (size_t)n);
				frac[n + 1] = '\0';
				p += n;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return time_error(err, err_size, "hour, minute or second "
					  "out of range");
	}
	char zone[8] = "";
	if (*p == 'Z' || *p == 'z') {
		snprintf(zone, sizeof(zone), "+00:00");
		p++;
	} else if (*p == '+' || *p == '-') {
		int zh, zm = 0;
		char sign = *p++;
		if (!digits(p, 2, &zh))
			return time_error(err, err_size, "not a zone offset ±HH:MM");
		p += 2;
		if (*p == ':') {
			if (!digits(p + 1, 2, &zm))
				return time_error(err, err_size, "not a zone offset "
						  "±HH:MM");
			p += 3;
		} else if (*p >= '0' && *p <= '9') {
			if (!digits(p, 2, &zm))
				return time_error(err, err_size, "not a zone offset "
						  "±HHMM");
			p += 2;
		}
		if (zh > 15 || zm > 59)
			return time_error(err, err_size, "zone offset out of range");
		snprintf(zone, sizeof(zone), "%c%02d:%02d", sign, zh, zm);
	}
	if (*p != '\0')
		return time_error(err, err_size, "unexpected text after the time");
	snprintf(out, out_size, "%04d-%02d-%02d %02d:%02d:%02d%s%s", y, mo, d,
		 h, mi, sec, frac, zone);
	return 0;
}
