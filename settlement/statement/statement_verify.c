/*
 * statement_verify.c — `bandsplit statement verify FILE.csv`: a CSV
 * statement checked line by line (each bucket's billable bytes and rate
 * follow from its in and out bytes by its segment's direction rule), then
 * its digest recomputed from the bucket lines (columns 2–6 are the
 * canonical line of sampledigest.h) and compared with the one stored at
 * close (or, for an open period, the one the statement states).
 */
#include "statement.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampledigest.h"

#define V_MAX_FIELDS 32
#define V_MAX_CUR 16

/* SHA-256 of no bytes: the digest of a currency without bucket lines. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct cur {
	char code[4];
	struct bs_sample_digest *d;   /* from the first bucket line on */
	bool started;
	char stated[BS_DIGEST_HEX_LEN + 1];
	char at_close[BS_DIGEST_HEX_LEN + 1];
	long doc_line;
};

/* Splits one CSV line (RFC 4180 quoting) into fields, in place in buf. */
static int split(char *buf, char **f, int cap)
{
	int n = 0;
	char *p = buf;
	for (;;) {
		if (n == cap)
			return -1;
		if (*p == '"') {
			char *w = ++p;
			f[n++] = w;
			for (;;) {
				if (*p == '\0')
					return -1;
				if (*p == '"' && p[1] == '"') {
					*w++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*w++ = *p++;
				}
			}
			*w = '\0';
			if (*p == '\0')
				return n;
			if (*p != ',')
				return -1;
			p++;
		} else {
			f[n++] = p;
			char *c = strchr(p, ',');
			if (!c)
				return n;
			*c = '\0';
			p = c + 1;
		}
	}
}

static bool digits(const char *s, bool empty_ok)
{
	if (*s == '\0')
		return empty_ok;
	if (strlen(s) > 19 || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static bool utc_shape(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	if (strlen(s) != sizeof pat - 1)
		return false;
	for (size_t i = 0; pat[i]; i++)
		if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
			return false;
	return true;
}

static struct cur *cur_of(struct cur *c, size_t *n, const char *code)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(c[i].code, code) == 0)
			return &c[i];
	if (*n == V_MAX_CUR || strlen(code) != 3)
		return NULL;
	struct cur *x = &c[(*n)++];
	memset(x, 0, sizeof *x);
	memcpy(x->code, code, 4);
	return x;
}

int bs_statement_verify_csv(const char *text, size_t len, char *msg,
			    size_t msg_size)
{
	/* small allocations only: this runs per fuzz input */
	struct cur *cs = calloc(V_MAX_CUR, sizeof *cs);
	size_t ncs = 0;
	size_t line_cap = len + 1 < 65536 ? len + 1 : 65536;
	char *line = malloc(line_cap);
	int rc = 0;
	long lineno = 0, buckets = 0;
	bool seen_header[6] = { false };
	static const char *const types[6] = { "statement", "document", "line",
					      "day", "bucket", "month" };
	const char *p = text, *end = text + len;
	if (!cs || !line) {
		snprintf(msg, msg_size, "out of memory");
		free(cs);
		free(line);
		return 2;
	}
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			snprintf(msg, msg_size, "line %ld: no line end (LF) at the end "
				 "of the file", lineno + 1);
			rc = 2;
			break;
		}
		size_t n = (size_t)(nl - p);
		lineno++;
		if (n >= line_cap || memchr(p, '\0', n)) {
			snprintf(msg, msg_size, "line %ld: too long or not text", lineno);
			rc = 2;
			break;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		const char *raw = p;
		p = nl + 1;
		char *f[V_MAX_FIELDS];
		int nf = split(line, f, V_MAX_FIELDS);
		int type = -1;
		for (int t = 0; nf > 0 && t < 6; t++)
			if (strcmp(f[0], types[t]) == 0)
				type = t;
		if (nf < 1 || type < 0) {
			snprintf(msg, msg_size, "line %ld: not a statement line (record "
				 "type '%.20s')", lineno, nf > 0 ? f[0] : "");
			rc = 2;
			break;
		}
		if (!seen_header[type]) {   /* each record type's header line */
			seen_header[type] = true;
			continue;
		}
		if (type == 1) {
			struct cur *c = nf == 14 ? cur_of(cs, &ncs, f[1]) : NULL;
			if (!c || strlen(f[10]) != 64) {
				snprintf(msg, msg_size, "line %ld: malformed document line",
					 lineno);
				rc = 2;
				break;
			}
			snprintf(c->stated, sizeof c->stated, "%s", f[10]);
			snprintf(c->at_close, sizeof c->at_close, "%s", f[12]);
			c->doc_line = lineno;
		}
		if (type != 4)
			continue;
		/* bucket,alloc_id,pool_id,bucket_utc,in,out,currency,segment_no,
		 * direction,local_time,billable_bytes,rate_mbps,mark */
		if (nf != 13 || !digits(f[1], false) || !digits(f[2], false) ||
		    !utc_shape(f[3]) || !digits(f[4], true) || !digits(f[5], true) ||
		    (f[4][0] == '\0') != (f[5][0] == '\0') || !digits(f[10], false)) {
			snprintf(msg, msg_size, "line %ld: malformed bucket line", lineno);
			rc = 2;
			break;
		}
		struct cur *c = cur_of(cs, &ncs, f[6]);
		enum bs_dir_rule rule;
		if (!c || bs_dir_rule_parse(f[8], &rule) != 0) {
			snprintf(msg, msg_size, "line %ld: malformed bucket line "
				 "(currency or direction)", lineno);
			rc = 2;
			break;
		}
		int64_t in = strtoll(f[4], NULL, 10), out = strtoll(f[5], NULL, 10);
		int64_t want = rule == BS_RULE_IN ? in : rule == BS_RULE_OUT ? out
			     : rule == BS_RULE_SUM ? in + out : (in > out ? in : out);
		int64_t got = strtoll(f[10], NULL, 10);
		if (got != want) {
			snprintf(msg, msg_size, "line %ld: billable_bytes %s is not "
				 "%s(in, out) = %" PRId64 " (bucket %s)", lineno, f[10],
				 f[8], want, f[3]);
			rc = 1;
			break;
		}
		int64_t milli = (int64_t)(((unsigned __int128)got * 2 + 37500) / 75000);
		char rate[40];
		snprintf(rate, sizeof rate, "%" PRId64 ".%03" PRId64, milli / 1000,
			 milli % 1000);
		if (strcmp(rate, f[11]) != 0) {
			snprintf(msg, msg_size, "line %ld: rate_mbps %s is not billable "
				 "× 8 / 300 s = %s (bucket %s)", lineno, f[11], rate, f[3]);
			rc = 1;
			break;
		}
		if (!c->started) {
			c->d = malloc(sizeof *c->d);
			if (!c->d || bs_sample_digest_begin(c->d) != 0) {
				free(c->d);
				c->d = NULL;
				snprintf(msg, msg_size, "SHA-256 failed");
				rc = 2;
				break;
			}
			c->started = true;
		}
		/* the canonical line: the raw text of columns 2–6 and LF */
		const char *q = raw;
		for (int k = 0; k < 6; k++)
			q = strchr(q, ',') + 1;
		const char *start = strchr(raw, ',') + 1;
		char canon[BS_SAMPLE_LINE_MAX + 1];
		size_t cl = (size_t)(q - start);
		if (cl > BS_SAMPLE_LINE_MAX - 1) {
			snprintf(msg, msg_size, "line %ld: malformed bucket line", lineno);
			rc = 2;
			break;
		}
		memcpy(canon, start, cl);
		canon[cl - 1] = '\n';
		bs_sample_digest_raw(c->d, canon, cl);
		buckets++;
	}
	for (size_t i = 0; rc == 0 && i < ncs; i++) {
		struct cur *c = &cs[i];
		char hex[BS_DIGEST_HEX_LEN + 1] = EMPTY_SHA256;
		if (c->started) {
			bs_sample_digest_end(c->d, hex);
			c->started = false;
		}
		if (c->doc_line == 0) {
			snprintf(msg, msg_size, "no document line states the %s digest",
				 c->code);
			rc = 2;
		} else if (c->at_close[0] && strcmp(hex, c->at_close) != 0) {
			snprintf(msg, msg_size, "line %ld: %s digest stored at close %s; "
				 "recomputed from the bucket lines: %s (the samples differ "
				 "from those the invoice was rated on)", c->doc_line,
				 c->code, c->at_close, hex);
			rc = 1;
		} else if (strcmp(hex, c->stated) != 0) {
			snprintf(msg, msg_size, "line %ld: %s digest stated %s; "
				 "recomputed from the bucket lines: %s", c->doc_line,
				 c->code, c->stated, hex);
			rc = 1;
		}
	}
	if (rc == 0 && (ncs == 0 || !seen_header[0])) {
		snprintf(msg, msg_size, "not a bandsplit statement CSV (no statement "
			 "or document line)");
		rc = 2;
	}
	if (rc == 0) {
		size_t o = (size_t)snprintf(msg, msg_size, "ok: %ld bucket lines;", buckets);
		for (size_t i = 0; i < ncs && o < msg_size; i++)
			o += (size_t)snprintf(msg + o, msg_size - o, " %s %s%s", cs[i].code,
					      cs[i].at_close[0] ? cs[i].at_close : cs[i].stated,
					      cs[i].at_close[0] ? " (= at close)" : " (open period)");
	}
	for (size_t i = 0; i < ncs; i++) {
		if (cs[i].started)
			bs_sample_digest_abort(cs[i].d);
		free(cs[i].d);
	}
	free(cs);
	free(line);
	return rc;
}
