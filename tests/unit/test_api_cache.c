/*
 * test_api_cache.c — bandsplit-api's statement cache (settlement/api/
 * cache.c) and per-tenant rate limit (settlement/api/ratelimit.c): LRU
 * order and eviction, keys differing in any field, oversized documents not
 * kept, a disabled cache; token buckets per tenant (burst, refill, Retry-
 * After, tenants independent, a full table reusing the stalest slot).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "ratelimit.h"

static struct api_cache_key key(int64_t tenant, const char *period, int fmt)
{
	struct api_cache_key k = { .tenant = tenant, .version = 7, .format = fmt };
	snprintf(k.period, sizeof(k.period), "%s", period);
	return k;
}

static bool has(struct api_cache *c, struct api_cache_key k, const char *want)
{
	size_t len = 0;
	char *d = api_cache_get(c, &k, &len);
	bool ok = d != NULL && len == strlen(want) && memcmp(d, want, len) == 0;
	free(d);
	return ok;
}

static void test_lru(void **state)
{
	(void)state;
	struct api_cache *c = api_cache_new(3, 100);
	assert_non_null(c);
	api_cache_put(c, &(struct api_cache_key){0}, "", 0);   /* empty doc ok */
	struct api_cache_key a = key(1, "2026-11", 0), b = key(2, "2026-11", 0),
			     d = key(1, "2026-10", 0), e = key(1, "2026-11", 1);
	api_cache_put(c, &a, "A", 1);
	api_cache_put(c, &b, "B", 1);
	assert_true(has(c, a, "A"));          /* a is now the most recent */
	api_cache_put(c, &d, "D", 1);         /* evicts the empty key */
	api_cache_put(c, &e, "E", 1);         /* evicts b, the least recent */
	assert_false(has(c, b, "B"));
	assert_true(has(c, a, "A"));
	assert_true(has(c, d, "D"));
	assert_true(has(c, e, "E"));
	struct api_cache_key v = a;
	v.version = 8;                        /* a new note: another version */
	assert_false(has(c, v, "A"));
	v = a;
	v.lang = 1;
	assert_false(has(c, v, "A"));
	v = a;
	v.encoding = 1;                       /* its gzip form: another entry */
	assert_false(has(c, v, "A"));
	char big[101];
	memset(big, 'x', sizeof(big));
	struct api_cache_key f = key(3, "2026-11", 0);
	api_cache_put(c, &f, big, sizeof(big));   /* over max_bytes: not kept */
	size_t n;
	assert_null(api_cache_get(c, &f, &n));
	api_cache_put(c, &a, "other", 5);         /* an existing key is kept */
	assert_true(has(c, a, "A"));
	uint64_t hits, misses;
	unsigned used;
	api_cache_stats(c, &hits, &misses, &used);
	assert_int_equal(used, 3);
	assert_int_equal(hits, 5);
	assert_int_equal(misses, 5);
	/* many keys through a small cache: bounded, consistent */
	for (int i = 0; i < 1000; i++) {
		struct api_cache_key k = key(i % 17, i % 2 ? "2026-11" : "2026-12", i % 4);
		k.version = 9;
		char doc[16];
		snprintf(doc, sizeof(doc), "%d", i % 17);
		api_cache_put(c, &k, doc, strlen(doc));
		assert_true(has(c, k, doc));
	}
	api_cache_stats(c, &hits, &misses, &used);
	assert_int_equal(used, 3);
	api_cache_free(c);

	struct api_cache *off = api_cache_new(0, 100);
	api_cache_put(off, &a, "A", 1);
	assert_null(api_cache_get(off, &a, &n));
	api_cache_free(off);
}

static void test_rate(void **state)
{
	(void)state;
	struct api_ratelimit *rl = api_ratelimit_new(2, 3);   /* 2/s, burst 3 */
	unsigned retry = 0;
	uint64_t t = 1000000;
	for (int i = 0; i < 3; i++)
		assert_true(api_ratelimit_take(rl, 1, t, &retry));
	assert_false(api_ratelimit_take(rl, 1, t, &retry));
	assert_int_equal(retry, 1);
	assert_true(api_ratelimit_take(rl, 2, t, &retry));     /* another tenant */
	assert_false(api_ratelimit_take(rl, 1, t + 400000, &retry)); /* 0.8 token */
	assert_true(api_ratelimit_take(rl, 1, t + 600000, &retry));  /* 1.2 */
	assert_false(api_ratelimit_take(rl, 1, t + 600000, &retry));
	/* refilled to the burst, never beyond */
	t += 100000000;
	for (int i = 0; i < 3; i++)
		assert_true(api_ratelimit_take(rl, 1, t, &retry));
	assert_false(api_ratelimit_take(rl, 1, t, &retry));
	/* more tenants than slots: every new one starts with a full bucket */
	for (int64_t k = 10; k < 10 + 3 * API_RATE_SLOTS; k++)
		assert_true(api_ratelimit_take(rl, k, t + (uint64_t)k, &retry));
	api_ratelimit_free(rl);

	struct api_ratelimit *off = api_ratelimit_new(0, 1);
	for (int i = 0; i < 100; i++)
		assert_true(api_ratelimit_take(off, 1, 0, &retry));
	api_ratelimit_free(off);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
