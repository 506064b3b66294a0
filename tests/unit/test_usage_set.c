/*
 * test_usage_set.c — the assembly of /v1/usage samples from usage_5m rows
 * and compacted runs (settlement/api/usage_set.c): bins counted from
 * `from`, gaps, the parts of a bin from different days and forms added up,
 * the order, the cap and the values the schema does not allow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "usage_set.h"

#define DAY 86400
#define T0 1794441600            /* 2026-11-12T00:00:00Z */

/* A run of n buckets: measure m of bucket k is base[m] + k, or -1 for
 * the buckets in gap[] (all four). */
struct run {
	unsigned char c[USAGE_MEASURES][288 * 8];
};

static void put_be(unsigned char *p, int64_t v)
{
	for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
		p[i] = (unsigned char)(v & 0xff);
}

static void make_run(struct run *r, size_t n, const int64_t base[USAGE_MEASURES],
		     const size_t *gap, size_t ngap)
{
	for (size_t k = 0; k < n; k++) {
		bool is_gap = false;
		for (size_t g = 0; g < ngap; g++)
			is_gap |= gap[g] == k;
		for (int m = 0; m < USAGE_MEASURES; m++)
			put_be(r->c[m] + 8 * k, is_gap ? -1 : base[m] + (int64_t)k);
	}
}

static const unsigned char *const *cols(const struct run *r)
{
	static const unsigned char *c[USAGE_MEASURES];
	for (int m = 0; m < USAGE_MEASURES; m++)
		c[m] = r->c[m];
	return c;
}

/* 5m: one sample a bucket, gaps left out, in (time, pool, dir) order. */
static void five_minutes_with_gaps(void **state)
{
	(void)state;
	struct usage_set s;
	assert_int_equal(usage_set_init(&s, 100, T0, 300), 0);
	static struct run r;
	const int64_t base[] = { 1000, 900, 10, 9 };
	const size_t gap[] = { 1 };
	make_run(&r, 4, base, gap, 1);
	assert_int_equal(usage_set_add_run(&s, T0, 7, 1, cols(&r), 4), USAGE_SET_OK);
	const int64_t v[] = { 5, 4, 3, 2 };
	assert_int_equal(usage_set_add(&s, T0 + 300, 7, 0, v, 1), USAGE_SET_OK);
	assert_int_equal(usage_set_finish(&s, NULL, NULL), 4);
	/* T0 out; T0+300 in (the row); T0+600 out; T0+900 out */
	assert_int_equal(s.s[0].t, T0);
	assert_int_equal(s.s[0].dir, 1);
	assert_int_equal(s.s[0].v[USAGE_FRAME_BYTES], 1000);
	assert_int_equal(s.s[1].t, T0 + 300);
	assert_int_equal(s.s[1].dir, 0);
	assert_int_equal(s.s[1].v[USAGE_IP_PACKETS], 2);
	assert_int_equal(s.s[2].t, T0 + 600);
	assert_int_equal(s.s[2].v[USAGE_IP_BYTES], 902);
	assert_int_equal(s.s[3].v[USAGE_FRAME_PACKETS], 13);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s.s[i].buckets, 1);
	usage_set_free(&s);
}

/* 1d from 08:00 UTC: a bin takes the end of one day's run, the start of
 * the next's and a row summed by PostgreSQL; buckets counts them all. */
static void a_day_bin_across_two_runs_and_rows(void **state)
{
	(void)state;
	const int64_t from = T0 - DAY + 8 * 3600;
	struct usage_set s;
	assert_int_equal(usage_set_init(&s, 100, from, DAY), 0);
	static struct run a, b;
	const int64_t one[] = { 1, 1, 1, 1 };
	make_run(&a, 192, one, NULL, 0);         /* 08:00..24:00 of day 1 */
	make_run(&b, 96, one, NULL, 0);          /* 00:00..08:00 of day 2 */
	assert_int_equal(usage_set_add_run(&s, from, 3, 0, cols(&a), 192), USAGE_SET_OK);
	assert_int_equal(usage_set_add_run(&s, T0, 3, 0, cols(&b), 96), USAGE_SET_OK);
	const int64_t v[] = { 100, 100, 100, 100 };
	assert_int_equal(usage_set_add(&s, from, 3, 0, v, 5), USAGE_SET_OK);
	assert_int_equal(usage_set_finish(&s, NULL, NULL), 1);
	assert_int_equal(s.s[0].t, from);
	assert_int_equal(s.s[0].buckets, 192 + 96 + 5);
	/* 1 + k over k < 192, and over k < 96, plus 100 */
	assert_int_equal(s.s[0].v[USAGE_FRAME_BYTES],
			 192 + 191 * 192 / 2 + 96 + 95 * 96 / 2 + 100);
	usage_set_free(&s);
}

/* 1h: a run's buckets go to their hour, pools and directions apart. */
static void hours_and_pairs(void **state)
{
	(void)state;
	struct usage_set s;
	assert_int_equal(usage_set_init(&s, 100, T0, 3600), 0);
	static struct run r;
	const int64_t zero[] = { 0, 0, 0, 0 };
	make_run(&r, 24, zero, NULL, 0);        /* two hours: 0..11, 12..23 */
	assert_int_equal(usage_set_add_run(&s, T0, 2, 1, cols(&r), 24), USAGE_SET_OK);
	assert_int_equal(usage_set_add_run(&s, T0, 1, 1, cols(&r), 24), USAGE_SET_OK);
	assert_int_equal(usage_set_add_run(&s, T0, 1, 0, cols(&r), 24), USAGE_SET_OK);
	assert_int_equal(usage_set_finish(&s, NULL, NULL), 6);
	const int64_t want_pool[] = { 1, 1, 2, 1, 1, 2 }, want_dir[] = { 0, 1, 1, 0, 1, 1 };
	for (int i = 0; i < 6; i++) {
		assert_int_equal(s.s[i].t, T0 + (i / 3) * 3600);
		assert_int_equal(s.s[i].pool, want_pool[i]);
		assert_int_equal(s.s[i].dir, want_dir[i]);
		assert_int_equal(s.s[i].buckets, 12);
		assert_int_equal(s.s[i].v[USAGE_FRAME_BYTES], i < 3 ? 66 : 66 + 144);
	}
	usage_set_free(&s);
}

/* Rows left in the caller's result: a sample of one row keeps its row;
 * a row that is one part of several is read back and added up; a row
 * that cannot be read back fails the answer. */
static int64_t row_base[3] = { 10, 20, 30 };
static int row_values(void *ctx, int row, int64_t v[USAGE_MEASURES], int64_t *buckets)
{
	(void)ctx;
	if (row > 2)
		return -1;
	for (int m = 0; m < USAGE_MEASURES; m++)
		v[m] = row_base[row] + m;
	*buckets = 12;
	return 0;
}

static void rows_by_reference(void **state)
{
	(void)state;
	struct usage_set s;
	assert_int_equal(usage_set_init(&s, 100, T0, 3600), 0);
	static struct run r;
	const int64_t one[] = { 1, 1, 1, 1 };
	make_run(&r, 12, one, NULL, 0);
	assert_int_equal(usage_set_add_row(&s, T0 + 3600, 1, 0, 0), USAGE_SET_OK);
	assert_int_equal(usage_set_add_row(&s, T0, 1, 0, 1), USAGE_SET_OK);
	assert_int_equal(usage_set_add_run(&s, T0, 1, 0, cols(&r), 12), USAGE_SET_OK);
	assert_int_equal(usage_set_finish(&s, row_values, NULL), 2);
	assert_int_equal(s.s[0].t, T0);                 /* row 1 + the run */
	assert_int_equal(s.s[0].row, -1);
	assert_int_equal(s.s[0].v[USAGE_IP_BYTES], 21 + 12 * 1 + 66);
	assert_int_equal(s.s[0].buckets, 24);
	assert_int_equal(s.s[1].t, T0 + 3600);          /* row 0 alone */
	assert_int_equal(s.s[1].row, 0);
	usage_set_free(&s);

	assert_int_equal(usage_set_init(&s, 100, T0, 3600), 0);
	assert_int_equal(usage_set_add_row(&s, T0, 1, 0, 5), USAGE_SET_OK);
	assert_int_equal(usage_set_add_run(&s, T0, 1, 0, cols(&r), 12), USAGE_SET_OK);
	assert_int_equal(usage_set_finish(&s, row_values, NULL), USAGE_SET_BAD);
	usage_set_free(&s);
	assert_int_equal(usage_set_init(&s, 100, T0, 3600), 0);
	assert_int_equal(usage_set_add_row(&s, T0, 1, 0, 0), USAGE_SET_OK);
	assert_int_equal(usage_set_add_row(&s, T0 + 300, 1, 0, 1), USAGE_SET_OK);
	assert_int_equal(usage_set_finish(&s, NULL, NULL), USAGE_SET_BAD);
	usage_set_free(&s);
}

/* The cap: FULL on the part past it, whichever the form. */
static void the_cap(void **state)
{
	(void)state;
	struct usage_set s;
	assert_int_equal(usage_set_init(&s, 3, T0, 300), 0);
	static struct run r;
	const int64_t one[] = { 1, 1, 1, 1 };
	make_run(&r, 4, one, NULL, 0);
	assert_int_equal(usage_set_add_run(&s, T0, 1, 0, cols(&r), 4), USAGE_SET_FULL);
	usage_set_free(&s);
	assert_int_equal(usage_set_init(&s, 1, T0, 300), 0);
	assert_int_equal(usage_set_add(&s, T0, 1, 0, one, 1), USAGE_SET_OK);
	assert_int_equal(usage_set_add(&s, T0, 1, 1, one, 1), USAGE_SET_FULL);
	usage_set_free(&s);
}

/* What the schema does not allow: a gap in one measure only, another
 * negative value, a time before from, a bad direction, a sum past int8. */
static void bad_values(void **state)
{
	(void)state;
	struct usage_set s;
	assert_int_equal(usage_set_init(&s, 10, T0, 300), 0);
	static struct run r;
	const int64_t one[] = { 1, 1, 1, 1 };
	make_run(&r, 2, one, NULL, 0);
	put_be(r.c[USAGE_IP_BYTES] + 8, -1);
	assert_int_equal(usage_set_add_run(&s, T0, 1, 0, cols(&r), 2), USAGE_SET_BAD);
	put_be(r.c[USAGE_IP_BYTES] + 8, -2);
	assert_int_equal(usage_set_add_run(&s, T0, 1, 0, cols(&r), 2), USAGE_SET_BAD);
	make_run(&r, 2, one, NULL, 0);
	assert_int_equal(usage_set_add_run(&s, T0 - 300, 1, 0, cols(&r), 2), USAGE_SET_BAD);
	assert_int_equal(usage_set_add_run(&s, T0, 1, 2, cols(&r), 2), USAGE_SET_BAD);
	const int64_t neg[] = { 1, -1, 1, 1 };
	assert_int_equal(usage_set_add(&s, T0, 1, 0, neg, 1), USAGE_SET_BAD);
	assert_int_equal(usage_set_add(&s, T0, 1, 0, one, 0), USAGE_SET_BAD);
	usage_set_free(&s);

	assert_int_equal(usage_set_init(&s, 10, T0, 3600), 0);
	const int64_t big[] = { INT64_MAX, 0, 0, 0 };
	assert_int_equal(usage_set_add(&s, T0, 1, 0, big, 1), USAGE_SET_OK);
	assert_int_equal(usage_set_add(&s, T0 + 300, 1, 0, one, 1), USAGE_SET_OK);
	assert_int_equal(usage_set_finish(&s, NULL, NULL), USAGE_SET_BAD);
	usage_set_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(five_minutes_with_gaps),
		cmocka_unit_test(a_day_bin_across_two_runs_and_rows),
		cmocka_unit_test(hours_and_pairs),
		cmocka_unit_test(rows_by_reference),
		cmocka_unit_test(the_cap),
		cmocka_unit_test(bad_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
