/*
 * sampledigest.h — the statement digest: SHA-256 (OpenSSL) over a
 * tenant's 5-minute samples in the canonical text form
 * "bandsplit-samples-v1", computed by `bandsplit close` (stored in
 * invoice_digest), printed on every statement and recomputed by
 * `bandsplit statement verify` and by anyone from the statement's CSV.
 *
 * bandsplit-samples-v1, for one document (tenant, currency, period):
 *   - the tenant's allocations whose plan bills in that currency and which
 *     are active in the period, by alloc_id ascending;
 *   - for each, every 5-minute bucket it is billed for (the buckets
 *     overlapping period ∩ its validity, except the first one when it
 *     belongs to the previous row of an `alloc change`), by start ascending;
 *   - one line per (allocation, bucket), ASCII, fields separated by ",",
 *     ended by "\n" (LF only):
 *         alloc_id,pool_id,bucket_start,in_bytes,out_bytes
 *     integers in decimal without sign, grouping or leading zeros;
 *     bucket_start in UTC as YYYY-MM-DDTHH:MM:SSZ; in and out bytes in the
 *     park's billing measure summed over nodes (a direction without a row
 *     is 0); a gap (no row in either direction) has both byte fields
 *     empty: "7,1,2026-11-03T04:05:00Z,,";
 *   - the digest is SHA-256 of the lines concatenated, lowercase hex.
 */
#ifndef BS_SAMPLEDIGEST_H
#define BS_SAMPLEDIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rating.h"

#define BS_SAMPLE_FORM "bandsplit-samples-v1"
#define BS_DIGEST_HEX_LEN 64

struct bs_sample_digest {
	void *md;                      /* EVP_MD_CTX */
	int64_t lines;
	size_t len;
	char buf[65536];               /* lines waiting to be hashed */
};

/* 0 ok, -1 (OpenSSL failed). */
int bs_sample_digest_begin(struct bs_sample_digest *d);
/* Writes one canonical line into dst (room for BS_SAMPLE_LINE_MAX);
 * returns its length, "\n" included. */
#define BS_SAMPLE_LINE_MAX 96
size_t bs_sample_line(char *dst, int64_t alloc_id, int64_t pool_id,
		      int64_t bucket, bool present, int64_t in_bytes,
		      int64_t out_bytes);
void bs_sample_digest_add(struct bs_sample_digest *d, int64_t alloc_id,
			  int64_t pool_id, int64_t bucket, bool present,
			  int64_t in_bytes, int64_t out_bytes);
/* Adds raw bytes (a line already in canonical form). */
void bs_sample_digest_raw(struct bs_sample_digest *d, const char *s, size_t n);
/* Finishes into hex (65 bytes, terminated) and frees; 0 ok, -1. */
int bs_sample_digest_end(struct bs_sample_digest *d, char hex[BS_DIGEST_HEX_LEN + 1]);
/* Frees without finishing (error paths). */
void bs_sample_digest_abort(struct bs_sample_digest *d);

/* The buckets an allocation is billed for in the period: the union of its
 * segments' buckets as bs_rating_rate_allocation counts them (first start
 * and count; 0 when it is not active). a->first_bucket_elsewhere must be
 * set (bs_rating_mark_changes). */
void bs_sample_alloc_buckets(struct bs_interval period,
			     const struct bs_rating_alloc *a, int64_t *first,
			     int64_t *n);

#endif
