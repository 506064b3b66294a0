/*
 * test_cny_capital.c — renminbi in capital numerals (cny_capital.h): golden
 * strings for the cases where the zero rules bite, each with the reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cny_capital.h"

static void is(int64_t fen, const char *want)
{
	char got[BS_CNY_CAPITAL_SIZE];
	if (bs_cny_capital(fen, got, sizeof(got)) != 0)
		fail_msg("%lld fen refused", (long long)fen);
	if (strcmp(got, want) != 0)
		fail_msg("%lld fen: got %s, want %s", (long long)fen, got, want);
}

static void test_simple(void **state)
{
	(void)state;
	is(123456, "壹仟贰佰叁拾肆元伍角陆分");   /* every unit once */
	is(100, "壹元整");                        /* 整 after 元 */
	is(550, "伍元伍角");                      /* no 整 after 角 */
	is(1, "壹分");
	is(99, "玖角玖分");
}

static void test_zero_and_below_one_yuan(void **state)
{
	(void)state;
	is(0, "零元整");      /* nothing else to write */
	is(5, "伍分");        /* 0.05: no 零元, no 零角 before the fen */
	is(50, "伍角");       /* 0.50 */
}

static void test_tens(void **state)
{
	(void)state;
	is(1000, "壹拾元整");          /* 10: 拾 always with 壹 on a fapiao */
	is(11000, "壹佰壹拾元整");     /* 110: trailing zero not read */
	is(1000000, "壹万元整");       /* 10,000: zeros at the end, none written */
	is(10000000, "壹拾万元整");    /* 100,000: 壹拾 at the head of the 万 group */
}

static void test_internal_zeros(void **state)
{
	(void)state;
	is(140950, "壹仟肆佰零玖元伍角");   /* PBoC's example 1,409.50 */
	is(600714, "陆仟零柒元壹角肆分");   /* 6,007.14: two zeros, one 零 */
	is(1000500, "壹万零伍元整");        /* 10,005: zeros across the group */
	is(1640902, "壹万陆仟肆佰零玖元零贰分"); /* PBoC 16,409.02: 角 0 → 元零贰分 */
	is(32504, "叁佰贰拾伍元零肆分");     /* PBoC 325.04 */
	is(168032, "壹仟陆佰捌拾元叁角贰分"); /* units digit 0, jiao not: no 零 (allowed) */
	is(10700053, "壹拾万柒仟元伍角叁分"); /* 107,000.53: 万 digit 0, 仟 not: no 零 */
	is(110100000, "壹佰壹拾万壹仟元整");  /* 1,101,000: a zero at the end of the 万 group is not read */
	is(10010000, "壹拾万零壹佰元整");    /* 100,100: group below 1000 → 零 */
	is(10000010, "壹拾万元壹角");         /* 100,000.10: units 0, jiao not: no 零 */
	is(10005000000, "壹亿零伍万元整");    /* 100,050,000: 亿, 零, the 万 group */
	is(10000500000, "壹亿零伍仟元整");    /* 100,005,000: a zero 万 group, one 零 */
	is(10000000500, "壹亿零伍元整");      /* 100,000,005: a whole zero 万 group, one 零 */
	is(1001000001, "壹仟零壹万元零壹分"); /* 10,010,000.01 */
	is(100000000000, "壹拾亿元整");       /* 1,000,000,000.00 */
	is(100100010000, "壹拾亿零壹佰万零壹佰元整"); /* 1,001,000,100 */
	is(101000000000, "壹拾亿壹仟万元整");   /* 1,010,000,000: 仟 of 万 not 0: no 零 */
}

static void test_limits_and_sign(void **state)
{
	(void)state;
	/* the largest: 999,999,999,999.99 */
	is(BS_CNY_CAPITAL_MAX_FEN,
	   "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分");
	is(-BS_CNY_CAPITAL_MAX_FEN,
	   "负玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分");
	is(-10000, "负壹佰元整");  /* a credit note (red-letter fapiao) */
	char out[BS_CNY_CAPITAL_SIZE] = "x";
	/* 万亿 and above: refused, out empty */
	assert_int_equal(bs_cny_capital(BS_CNY_CAPITAL_MAX_FEN + 1, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(bs_cny_capital(INT64_MIN, out, sizeof(out)), -1);
	assert_int_equal(bs_cny_capital(INT64_MAX, out, sizeof(out)), -1);
	/* too small a buffer: refused, out empty, nothing written past it */
	char small[8] = "abcdefg";
	assert_int_equal(bs_cny_capital(123456, small, sizeof(small)), -1);
	assert_string_equal(small, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_zero_and_below_one_yuan),
		cmocka_unit_test(test_tens),
		cmocka_unit_test(test_internal_zeros),
		cmocka_unit_test(test_limits_and_sign),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
