/*
 * sampledigest.c — the canonical sample lines and their SHA-256 (see
 * sampledigest.h for the form).
 */
#include "sampledigest.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "docfmt.h"

int bs_sample_digest_begin(struct bs_sample_digest *d)
{
	d->lines = 0;
	d->len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		d->md = NULL;
		return -1;
	}
	d->md = md;
	return 0;
}

static char *put_utc(char *p, int64_t t)
{
	/* Consecutive samples are mostly of one day: its "YYYY-MM-DDT" is kept
	 * (per thread: the API renders statements on several) and only the
	 * time of day formatted. */
	static _Thread_local int64_t cached_day = INT64_MIN;
	static _Thread_local char cached_date[11];
	int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	if (day == cached_day) {
		int64_t s = t - day * 86400;
		memcpy(p, cached_date, 11);
		p += 11;
		const int f[3] = { (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60) };
		const char sep[3] = { ':', ':', 'Z' };
		for (int i = 0; i < 3; i++) {
			*p++ = (char)('0' + f[i] / 10);
			*p++ = (char)('0' + f[i] % 10);
			*p++ = sep[i];
		}
		return p;
	}
	struct bs_doc_civil c;
	bs_doc_civil(t, 0, &c);
	assert(c.year >= 0 && c.year <= 9999);
	const int f[6] = { c.year, c.month, c.day, c.hour, c.minute, c.second };
	const char sep[6] = { '-', '-', 'T', ':', ':', 'Z' };
	for (int i = 0; i < 6; i++) {
		if (i == 0) {
			*p++ = (char)('0' + f[0] / 1000);
			*p++ = (char)('0' + f[0] / 100 % 10);
		}
		*p++ = (char)('0' + f[i] / 10 % 10);
		*p++ = (char)('0' + f[i] % 10);
		*p++ = sep[i];
	}
	memcpy(cached_date, p - 20, 11);
	cached_day = day;
	return p;
}

size_t bs_sample_line(char *dst, int64_t alloc_id, int64_t pool_id,
		      int64_t bucket, bool present, int64_t in_bytes,
		      int64_t out_bytes)
{
	char *p = dst;
	p += bs_doc_i64_raw(p, alloc_id);
	*p++ = ',';
	p += bs_doc_i64_raw(p, pool_id);
	*p++ = ',';
	p = put_utc(p, bucket);
	*p++ = ',';
	if (present)
		p += bs_doc_i64_raw(p, in_bytes);
	*p++ = ',';
	if (present)
		p += bs_doc_i64_raw(p, out_bytes);
	*p++ = '\n';
	assert((size_t)(p - dst) <= BS_SAMPLE_LINE_MAX);
	return (size_t)(p - dst);
}

static void flush(struct bs_sample_digest *d)
{
	if (d->len > 0 && d->md != NULL)
		EVP_DigestUpdate(d->md, d->buf, d->len);
	d->len = 0;
}

void bs_sample_digest_add(struct bs_sample_digest *d, int64_t alloc_id,
			  int64_t pool_id, int64_t bucket, bool present,
			  int64_t in_bytes, int64_t out_bytes)
{
	if (d->len + BS_SAMPLE_LINE_MAX > sizeof d->buf)
		flush(d);
	d->len += bs_sample_line(d->buf + d->len, alloc_id, pool_id, bucket,
				 present, in_bytes, out_bytes);
	d->lines++;
}

void bs_sample_digest_raw(struct bs_sample_digest *d, const char *s, size_t n)
{
	if (d->len + n > sizeof d->buf)
		flush(d);
	if (n > sizeof d->buf) {
		EVP_DigestUpdate(d->md, s, n);
	} else {
		memcpy(d->buf + d->len, s, n);
		d->len += n;
	}
	d->lines++;
}

int bs_sample_digest_end(struct bs_sample_digest *d, char hex[BS_DIGEST_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	flush(d);
	int ok = d->md != NULL && EVP_DigestFinal_ex(d->md, md, &n) == 1 && n == 32;
	static const char hx[] = "0123456789abcdef";
	for (unsigned i = 0; ok && i < 32; i++) {
		hex[2 * i] = hx[md[i] >> 4];
		hex[2 * i + 1] = hx[md[i] & 15];
	}
	hex[ok ? 64 : 0] = '\0';
	EVP_MD_CTX_free(d->md);
	d->md = NULL;
	return ok ? 0 : -1;
}

void bs_sample_digest_abort(struct bs_sample_digest *d)
{
	EVP_MD_CTX_free(d->md);
	d->md = NULL;
}

void bs_sample_alloc_buckets(struct bs_interval period,
			     const struct bs_rating_alloc *a, int64_t *first,
			     int64_t *n)
{
	struct bs_interval w = {
		a->valid.from > period.from ? a->valid.from : period.from,
		a->valid.to < period.to ? a->valid.to : period.to };
	*first = 0;
	*n = 0;
	if (w.to <= w.from)
		return;
	bs_rating_bucket_span(w, first, n);
	if (a->first_bucket_elsewhere && *first < a->valid.from && *n > 0) {
		*first += BS_RATING_BUCKET_S;
		*n -= 1;
	}
}
