/*
 * test_parse_units.c — the operator's unit parsers: rates, money, percent,
 * decimals, ids, prefixes and ISO 8601 times, accepted values with their
 * exact results and refused values with their messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "parse_units.h"

static uint64_t rate_ok(const char *s)
{
	uint64_t v = 0;
	char err[128] = "";
	if (bs_parse_rate(s, &v, err, sizeof(err)) != 0)
		fail_msg("rate '%s' refused: %s", s, err);
	return v;
}

static void rate_bad(const char *s, const char *msg_part)
{
	uint64_t v = 12345;
	char err[128] = "";
	assert_int_equal(bs_parse_rate(s, &v, err, sizeof(err)), -1);
	if (strstr(err, msg_part) == NULL)
		fail_msg("rate '%s': message '%s' lacks '%s'", s, err, msg_part);
	assert_int_equal(v, 12345);   /* untouched */
}

static void test_rates(void **state)
{
	(void)state;
	assert_int_equal(rate_ok("100M"), 100000000ULL);
	assert_int_equal(rate_ok("1G"), 1000000000ULL);
	assert_int_equal(rate_ok("2.5Gbit"), 2500000000ULL);
	assert_int_equal(rate_ok("2.5 Gbit/s"), 2500000000ULL);
	assert_int_equal(rate_ok("10 Mbps"), 10000000ULL);
	assert_int_equal(rate_ok("64k"), 64000ULL);
	assert_int_equal(rate_ok("64K"), 64000ULL);
	assert_int_equal(rate_ok("100m"), 100000000ULL);
	assert_int_equal(rate_ok("1500"), 1500ULL);
	assert_int_equal(rate_ok("1.000001M"), 1000001ULL);
	assert_int_equal(rate_ok("0.5k"), 500ULL);
	assert_int_equal(rate_ok("1.50000G"), 1500000000ULL);
	assert_int_equal(rate_ok("1T"), 1000000000000ULL);
	assert_int_equal(rate_ok("1000T"), 1000000000000000ULL);
	rate_bad("1001T", "limit");
	rate_bad("0", "above zero");
	rate_bad("0M", "above zero");
	rate_bad("-1M", "not a number");
	rate_bad("", "not a number");
	rate_bad("M", "not a number");
	rate_bad("1.M", "no digit after");
	rate_bad("1.0000001M", "whole number");
	rate_bad("0.5", "whole number");
	rate_bad("100X", "unknown unit");
	/* issue 10 item 16: bytes are 8 bits, b and B never confused */
	assert_int_equal(rate_ok("10MB/s"), 80000000ULL);
	assert_int_equal(rate_ok("10MBps"), 80000000ULL);
	assert_int_equal(rate_ok("10 MB"), 80000000ULL);
	assert_int_equal(rate_ok("100Mbytes"), 800000000ULL);
	assert_int_equal(rate_ok("1.5 GByte/s"), 12000000000ULL);
	assert_int_equal(rate_ok("10Mb"), 10000000ULL);
	assert_int_equal(rate_ok("10Mb/s"), 10000000ULL);
	assert_int_equal(rate_ok("10mbps"), 10000000ULL);
	assert_int_equal(rate_ok("10 MBIT/S"), 10000000ULL);
	assert_int_equal(rate_ok("125TB/s"),
			 1000000000000000ULL);
	rate_bad("126TB/s", "limit");
	rate_bad("10MBPS", "ambiguous unit 'BPS'");
	rate_bad("10MbPS", "ambiguous unit");
	rate_bad("10MB/S", "ambiguous unit");
	rate_bad("0.5B", "whole number of byte/s");
	rate_bad("10MiB/s", "unknown unit");
	rate_bad("1e9", "unknown unit");
	rate_bad("99999999999999999999", "too large");
}

static void test_money(void **state)
{
	(void)state;
	int64_t fen = -1;
	char err[128];
	assert_int_equal(bs_parse_money("12.34", &fen, err, sizeof(err)), 0);
	assert_int_equal(fen, 1234);
	assert_int_equal(bs_parse_money("12", &fen, err, sizeof(err)), 0);
	assert_int_equal(fen, 1200);
	assert_int_equal(bs_parse_money("0.5", &fen, err, sizeof(err)), 0);
	assert_int_equal(fen, 50);
	assert_int_equal(bs_parse_money("0.10", &fen, err, sizeof(err)), 0);
	assert_int_equal(fen, 10);
	assert_int_equal(bs_parse_money("0", &fen, err, sizeof(err)), 0);
	assert_int_equal(fen, 0);
	/* exact where a double is not: 0.29 * 100 = 28.999999999999996 */
	assert_int_equal(bs_parse_money("0.29", &fen, err, sizeof(err)), 0);
	assert_int_equal(fen, 29);
	assert_int_equal(bs_parse_money("1.1000", &fen, err, sizeof(err)), 0);
	assert_int_equal(fen, 110);
	assert_int_equal(bs_parse_money("1000000000000000", &fen, err,
					sizeof(err)), 0);
	assert_int_equal(fen, 100000000000000000LL);
	assert_int_equal(bs_parse_money("1000000000000000.01", &fen, err,
					sizeof(err)), -1);
	assert_string_equal(err, "too large");
	assert_int_equal(bs_parse_money("12.345", &fen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 2 decimals"));
	assert_int_equal(bs_parse_money("-1", &fen, err, sizeof(err)), -1);
	assert_string_equal(err, "must not be negative");
	assert_int_equal(bs_parse_money("1,234.56", &fen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unexpected ',234.56'"));
	assert_int_equal(bs_parse_money("12.34 CNY", &fen, err, sizeof(err)), -1);
	assert_int_equal(bs_parse_money(".5", &fen, err, sizeof(err)), -1);
	assert_string_equal(err, "not a number");
}

static void test_percent_and_decimal(void **state)
{
	(void)state;
	int bp = -1;
	char err[128];
	assert_int_equal(bs_parse_percent("6%", &bp, err, sizeof(err)), 0);
	assert_int_equal(bp, 600);
	assert_int_equal(bs_parse_percent("6", &bp, err, sizeof(err)), 0);
	assert_int_equal(bp, 600);
	assert_int_equal(bs_parse_percent("13.25%", &bp, err, sizeof(err)), 0);
	assert_int_equal(bp, 1325);
	assert_int_equal(bs_parse_percent("0%", &bp, err, sizeof(err)), 0);
	assert_int_equal(bp, 0);
	assert_int_equal(bs_parse_percent("100%", &bp, err, sizeof(err)), 0);
	assert_int_equal(bp, 10000);
	assert_int_equal(bs_parse_percent("100.01%", &bp, err, sizeof(err)), -1);
	assert_string_equal(err, "above 100%");
	assert_int_equal(bs_parse_percent("6.125%", &bp, err, sizeof(err)), -1);
	assert_int_equal(bs_parse_percent("6 %", &bp, err, sizeof(err)), -1);

	uint64_t v = 0;
	assert_int_equal(bs_parse_decimal("1.25", 4, 1000000, &v, err,
					  sizeof(err)), 0);
	assert_int_equal(v, 12500);
	assert_int_equal(bs_parse_decimal("100", 4, 1000000, &v, err,
					  sizeof(err)), 0);
	assert_int_equal(v, 1000000);
	assert_int_equal(bs_parse_decimal("100.0001", 4, 1000000, &v, err,
					  sizeof(err)), -1);
	assert_string_equal(err, "too large");
	assert_int_equal(bs_parse_decimal("1.00001", 4, 1000000, &v, err,
					  sizeof(err)), -1);
	assert_string_equal(err, "more than 4 decimals");
	assert_int_equal(bs_parse_decimal("0.0", 4, 1000000, &v, err,
					  sizeof(err)), -1);
	assert_string_equal(err, "must be above zero");
}

static void test_uint(void **state)
{
	(void)state;
	uint64_t v = 0;
	char err[128];
	assert_int_equal(bs_parse_uint("4294967295", 1, 4294967295ULL, &v, err,
				       sizeof(err)), 0);
	assert_int_equal(v, 4294967295ULL);
	assert_int_equal(bs_parse_uint("4294967296", 1, 4294967295ULL, &v, err,
				       sizeof(err)), -1);
	assert_string_equal(err, "out of range 1..4294967295");
	assert_int_equal(bs_parse_uint("0", 1, 10, &v, err, sizeof(err)), -1);
	assert_int_equal(bs_parse_uint("12a", 1, 100, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "not a whole number");
	assert_int_equal(bs_parse_uint("-3", 1, 100, &v, err, sizeof(err)), -1);
	assert_int_equal(bs_parse_uint("", 1, 100, &v, err, sizeof(err)), -1);
	assert_int_equal(bs_parse_uint("99999999999999999999999", 1, 100, &v, err,
				       sizeof(err)), -1);
}

static void prefix_ok(const char *s, const char *canon, int family)
{
	char out[64], err[160];
	int fam = 0;
	if (bs_parse_prefix(s, out, sizeof(out), &fam, err, sizeof(err)) != 0)
		fail_msg("prefix '%s' refused: %s", s, err);
	assert_string_equal(out, canon);
	assert_int_equal(fam, family);
}

static void prefix_bad(const char *s, const char *msg_part)
{
	char out[64], err[160] = "";
	int fam = 0;
	assert_int_equal(bs_parse_prefix(s, out, sizeof(out), &fam, err,
					 sizeof(err)), -1);
	if (strstr(err, msg_part) == NULL)
		fail_msg("prefix '%s': message '%s' lacks '%s'", s, err, msg_part);
}

static void test_prefixes(void **state)
{
	(void)state;
	prefix_ok("203.0.113.0/24", "203.0.113.0/24", 4);
	prefix_ok("192.0.2.10/32", "192.0.2.10/32", 4);
	prefix_ok("0.0.0.0/0", "0.0.0.0/0", 4);
	prefix_ok("2001:DB8:1000:0::/48", "2001:db8:1000::/48", 6);
	prefix_ok("2001:db8::1/128", "2001:db8::1/128", 6);
	prefix_bad("10.1.2.0/16", "host bits set below /16");
	prefix_bad("2001:db8::1/64", "host bits set below /64");
	prefix_bad("10.0.0.0", "expected address/length");
	prefix_bad("10.0.0.0/33", "prefix length '33'");
	prefix_bad("2001:db8::/129", "prefix length '129'");
	prefix_bad("10.0.0.0/", "prefix length ''");
	prefix_bad("10.0.0/24", "not an IPv4 address");
	prefix_bad("2001:db8:::/48", "not an IPv6 address");
	prefix_bad("/24", "not an IP address");
	prefix_bad("10.0.0.0/2x", "not a whole number");
}

static void time_ok(const char *s, const char *expect)
{
	char out[BS_TIME_TEXT_MAX], err[256];
	if (bs_parse_time(s, out, sizeof(out), err, sizeof(err)) != 0)
		fail_msg("time '%s' refused: %s", s, err);
	assert_string_equal(out, expect);
}

static void time_bad(const char *s, const char *msg_part)
{
	char out[BS_TIME_TEXT_MAX], err[256] = "";
	assert_int_equal(bs_parse_time(s, out, sizeof(out), err, sizeof(err)), -1);
	if (strstr(err, msg_part) == NULL)
		fail_msg("time '%s': message '%s' lacks '%s'", s, err, msg_part);
	assert_non_null(strstr(err, "ISO 8601"));
}

static void test_times(void **state)
{
	(void)state;
	time_ok("now", "now");
	time_ok("2026-11-01", "2026-11-01 00:00:00");
	time_ok("2026-11-01T08:00", "2026-11-01 08:00:00");
	time_ok("2026-11-01 08:00:59", "2026-11-01 08:00:59");
	time_ok("2026-11-01T08:00:00+08:00", "2026-11-01 08:00:00+08:00");
	time_ok("2026-11-01T08:00:00+0800", "2026-11-01 08:00:00+08:00");
	time_ok("2026-11-01T08:00:00-05", "2026-11-01 08:00:00-05:00");
	time_ok("2026-11-01T00:00:00Z", "2026-11-01 00:00:00+00:00");
	time_ok("2026-11-01T00:00:00.123456Z", "2026-11-01 00:00:00.123456+00:00");
	time_ok("2024-02-29", "2024-02-29 00:00:00");
	time_ok("2000-02-29", "2000-02-29 00:00:00");
	time_bad("2100-02-29", "no such day");
	time_bad("2026-02-29", "no such day");
	time_bad("2026-04-31", "no such day");
	time_bad("2026-13-01", "month out of range");
	time_bad("2026-00-10", "month out of range");
	time_bad("2026-11-01T24:00", "out of range");
	time_bad("2026-11-01T08:60", "out of range");
	time_bad("2026-11-01T08", "not a time HH:MM");
	time_bad("2026-11-01T08:00:00.1234567", "1 to 6 digits");
	time_bad("2026-11-01T08:00+16:00", "zone offset out of range");
	time_bad("2026-11-01T08:00+8", "not a zone offset");
	time_bad("2026-11-01x", "unexpected text");
	time_bad("tomorrow", "not a date");
	time_bad("1969-12-31", "year out of range");
	time_bad("26-11-01", "not a date");
	time_bad("", "not a date");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_money),
		cmocka_unit_test(test_percent_and_decimal),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
