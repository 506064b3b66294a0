/*
 * test_fapiao_tax.c — a rate's VAT split over its lines by largest
 * remainder (fapiao_tax.h): the sum always equals the VAT, ties go to the
 * earlier line, a line of zero gets nothing, bad arguments are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "fapiao_tax.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void split(const int64_t *amount, size_t n, int64_t vat,
		  const int64_t *want)
{
	int64_t tax[16];
	assert_true(n <= N(tax));
	assert_int_equal(bs_fapiao_tax_split(amount, n, vat, tax), 0);
	int64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (tax[i] != want[i])
			fail_msg("line %zu: tax %lld, want %lld", i + 1,
				 (long long)tax[i], (long long)want[i]);
		sum += tax[i];
	}
	assert_int_equal(sum, vat);
}

static void test_exact(void **state)
{
	(void)state;
	/* 6% of 1000 + 2000 = 180: shares exact (60, 120) */
	split((int64_t[]){ 1000, 2000 }, 2, 180, (int64_t[]){ 60, 120 });
	/* one line takes the whole VAT */
	split((int64_t[]){ 12345 }, 1, 741, (int64_t[]){ 741 });
}

static void test_remainders(void **state)
{
	(void)state;
	/* base 100+100+101 = 301 at 6%: vat 18 (18.06 rounded). Shares
	 * 5.980, 5.980, 6.040: floors 5,5,6 = 16; 2 left → the two largest
	 * remainders (0.980, 0.980; line 3's is 0.040) → 6,6,6 */
	split((int64_t[]){ 100, 100, 101 }, 3, 18, (int64_t[]){ 6, 6, 6 });
	/* base 333+333+334 = 1000, vat 60: shares 19.98, 19.98, 20.04 →
	 * floors 19,19,20 = 58; 2 left to lines 1 and 2 */
	split((int64_t[]){ 333, 333, 334 }, 3, 60, (int64_t[]){ 20, 20, 20 });
}

static void test_ties(void **state)
{
	(void)state;
	/* three equal lines, vat 1: remainders all 1/3 → the first line */
	split((int64_t[]){ 5, 5, 5 }, 3, 1, (int64_t[]){ 1, 0, 0 });
	/* vat 2: the first two lines */
	split((int64_t[]){ 5, 5, 5 }, 3, 2, (int64_t[]){ 1, 1, 0 });
	/* a tie between lines 2 and 4 (both 7 of base 20, vat 3 → shares
	 * 1.05), line 1 and 3 (3 each → 0.45): floors 0,1,0,1 = 2, 1 left →
	 * the larger remainders are lines 1 and 3 (0.45 > 0.05), tie → line 1 */
	split((int64_t[]){ 3, 7, 3, 7 }, 4, 3, (int64_t[]){ 1, 1, 0, 1 });
}

static void test_zero_lines(void **state)
{
	(void)state;
	/* a line of zero among others: never gets a fen */
	split((int64_t[]){ 0, 1, 1 }, 3, 1, (int64_t[]){ 0, 1, 0 });
	split((int64_t[]){ 7, 0, 3 }, 3, 1, (int64_t[]){ 1, 0, 0 });
	/* all zero: a base of 0 has a VAT of 0 */
	split((int64_t[]){ 0, 0 }, 2, 0, (int64_t[]){ 0, 0 });
	/* a rate of 0% */
	split((int64_t[]){ 500, 700 }, 2, 0, (int64_t[]){ 0, 0 });
}

static void test_large(void **state)
{
	(void)state;
	/* near the limit: vat × amount needs more than 64 bits */
	int64_t big = INT64_C(400000000000000);
	split((int64_t[]){ big, big, 1 }, 3, INT64_C(48000000000000),
	      (int64_t[]){ INT64_C(24000000000000), INT64_C(24000000000000), 0 });
	/* many lines of 1 fen: base 4096, vat 246 → the first 246 lines */
	int64_t *amount = calloc(BS_FAPIAO_TAX_MAX_LINES, sizeof(*amount));
	int64_t *tax = calloc(BS_FAPIAO_TAX_MAX_LINES, sizeof(*tax));
	assert_non_null(amount);
	assert_non_null(tax);
	for (size_t i = 0; i < BS_FAPIAO_TAX_MAX_LINES; i++)
		amount[i] = 1;
	assert_int_equal(bs_fapiao_tax_split(amount, BS_FAPIAO_TAX_MAX_LINES, 246, tax), 0);
	for (size_t i = 0; i < BS_FAPIAO_TAX_MAX_LINES; i++)
		assert_int_equal(tax[i], i < 246 ? 1 : 0);
	free(amount);
	free(tax);
}

static void test_refused(void **state)
{
	(void)state;
	int64_t tax[4];
	assert_int_equal(bs_fapiao_tax_split((int64_t[]){ 1 }, 0, 0, tax), -1);
	assert_int_equal(bs_fapiao_tax_split((int64_t[]){ -1, 2 }, 2, 0, tax), -1);
	assert_int_equal(bs_fapiao_tax_split((int64_t[]){ 1, 2 }, 2, -1, tax), -1);
	assert_int_equal(bs_fapiao_tax_split((int64_t[]){ 0, 0 }, 2, 1, tax), -1);
	assert_int_equal(bs_fapiao_tax_split((int64_t[]){ 1, 2 }, 2, 4, tax), -1);
	assert_int_equal(bs_fapiao_tax_split((int64_t[]){ INT64_MAX, 1 }, 2, 0, tax), -1);
	assert_int_equal(bs_fapiao_tax_split(NULL, 1, 0, tax), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_remainders),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_zero_lines),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
