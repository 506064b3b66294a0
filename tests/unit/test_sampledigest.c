/*
 * test_sampledigest.c — the canonical sample lines (bandsplit-samples-v1)
 * against an independent reference written here: snprintf for the
 * integers, gmtime_r and strftime for the time, OpenSSL's one-shot SHA256
 * for the digest. Random samples over many days, in and out of time
 * order (the line writer keeps the day it formatted last), negative and
 * extreme values for the integer formatter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "docfmt.h"
#include "sampledigest.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t ref_line(char *dst, int64_t alloc, int64_t pool, int64_t t,
		       bool present, int64_t in, int64_t out)
{
	time_t tt = (time_t)t;
	struct tm tm;
	assert_non_null(gmtime_r(&tt, &tm));
	char when[32];
	assert_int_equal(strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm), 20);
	if (!present)
		return (size_t)sprintf(dst, "%" PRId64 ",%" PRId64 ",%s,,\n", alloc,
				       pool, when);
	return (size_t)sprintf(dst, "%" PRId64 ",%" PRId64 ",%s,%" PRId64 ",%"
			       PRId64 "\n", alloc, pool, when, in, out);
}

static void test_i64(void **state)
{
	(void)state;
	const int64_t edges[] = { 0, 1, 9, 10, 11, 99, 100, 101, 999, 1000,
				  -1, -9, -10, -99, -100, 4294967295LL,
				  INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
				  999999999999999999LL, 1000000000000000000LL };
	char got[32], want[32];
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		size_t n = bs_doc_i64_raw(got, edges[i]);
		got[n] = '\0';
		snprintf(want, sizeof want, "%" PRId64, edges[i]);
		assert_string_equal(got, want);
	}
	for (int i = 0; i < 200000; i++) {
		int64_t v = (int64_t)(next() >> (next() % 64));
		if (i & 1)
			v = -v;
		size_t n = bs_doc_i64_raw(got, v);
		got[n] = '\0';
		snprintf(want, sizeof want, "%" PRId64, v);
		assert_string_equal(got, want);
	}
}

static void test_lines_and_digest(void **state)
{
	(void)state;
	struct bs_sample_digest *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	assert_int_equal(bs_sample_digest_begin(d), 0);
	size_t cap = 1 << 24, len = 0;
	char *all = malloc(cap);
	assert_non_null(all);
	/* 2026-11-01 00:00 +08 and on: a month of buckets, then jumps to
	 * other days and back (the writer's day cache), leap days, 1970, 9999 */
	int64_t t = 1793462400;
	for (int i = 0; i < 100000; i++) {
		switch (next() % 8) {
		case 0: t = (int64_t)(next() % 253402300800ULL) / 300 * 300; break;
		case 1: t -= 300; break;
		case 2: t = 951782400 + (int64_t)(next() % 3) * 86400 - 300; break;  /* 2000-02-29 */
		default: t += 300; break;
		}
		if (t < 0)
			t = 0;
		int64_t alloc = (int64_t)(next() % 100000) + 1, pool = (int64_t)(next() % 5000);
		bool present = next() % 10 != 0;
		int64_t in = (int64_t)(next() >> (next() % 63 + 1));   /* shift 1..63 */
		int64_t out = (int64_t)(next() >> (next() % 63 + 1));   /* shift 1..63 */
		char got[BS_SAMPLE_LINE_MAX + 1], want[160];
		size_t n = bs_sample_line(got, alloc, pool, t, present, in, out);
		size_t m = ref_line(want, alloc, pool, t, present, in, out);
		got[n] = '\0';
		assert_int_equal(n, m);
		assert_string_equal(got, want);
		bs_sample_digest_add(d, alloc, pool, t, present, in, out);
		assert_true(len + m < cap);
		memcpy(all + len, want, m);
		len += m;
	}
	char hex[BS_DIGEST_HEX_LEN + 1], ref[65];
	assert_int_equal(bs_sample_digest_end(d, hex), 0);
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)all, len, md);
	for (int i = 0; i < 32; i++)
		sprintf(ref + 2 * i, "%02x", md[i]);
	assert_string_equal(hex, ref);
	free(all);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_i64),
		cmocka_unit_test(test_lines_and_digest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
