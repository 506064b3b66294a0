/*
 * test_api_params.c — bandsplit-api's request-parameter parsers
 * (settlement/api/params.c): times (RFC 3339 and dates in the park's zone),
 * steps, directions, periods, invoice numbers, ids, formats and the Accept
 * header; accepted values with their exact results, refused values with
 * their messages (and never more than a bounded echo of the input).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "params.h"

static int64_t time_ok(const char *s)
{
	int64_t v = 0;
	char err[256] = "";
	if (api_parse_time(s, &v, err, sizeof(err)) != 0)
		fail_msg("time '%s' refused: %s", s, err);
	return v;
}

static void time_bad(const char *s, const char *part)
{
	int64_t v = 777;
	char err[256] = "";
	assert_int_equal(api_parse_time(s, &v, err, sizeof(err)), -1);
	if (strstr(err, part) == NULL)
		fail_msg("time '%s': message '%s' lacks '%s'", s, err, part);
	assert_int_equal(v, 777);
}

static void test_times(void **state)
{
	(void)state;
	/* 2026-11-01T00:00:00Z = 1793491200 */
	assert_int_equal(time_ok("2026-11-01T00:00:00Z"), 1793491200);
	assert_int_equal(time_ok("2026-11-01t00:00:00z"), 1793491200);
	assert_int_equal(time_ok("2026-11-01T08:00:00+08:00"), 1793491200);
	assert_int_equal(time_ok("2026-11-01T08:00:00 08:00"), 1793491200);
	assert_int_equal(time_ok("2026-10-31T19:30:00-04:30"), 1793491200);
	assert_int_equal(time_ok("2026-11-01T00:00:00.999Z"), 1793491200);
	assert_int_equal(time_ok("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(time_ok("2024-02-29T00:00:00Z"), 1709164800);
	/* a date: midnight in TZ (Asia/Shanghai, +08:00, set in main) */
	assert_int_equal(time_ok("2026-11-01"), 1793491200 - 8 * 3600);
	time_bad("", "expected an RFC 3339 time");
	time_bad("2026-11-01T00:00:00", "the offset is required");
	time_bad("2026-11-01T00:00Z", "expected");
	time_bad("2026-13-01", "expected");
	time_bad("2026-02-29", "expected");
	time_bad("2026-04-31T00:00:00Z", "expected");
	time_bad("2026-11-01T24:00:00Z", "expected");
	time_bad("2026-11-01T23:60:00Z", "expected");
	time_bad("2026-11-01T23:59:60Z", "expected");
	time_bad("2026-11-01T00:00:00+24:00", "expected");
	time_bad("2026-11-01T00:00:00+08:00x", "expected");
	time_bad("2026-11-01T00:00:00.Z", "expected");
	time_bad("2026-11-01T00:00:00.1234567890Z", "expected");
	time_bad("1969-12-31T23:59:59Z", "expected");
	time_bad("+026-11-01", "expected");
	time_bad("2026-11-01 00:00:00Z", "expected");
	time_bad("2026-11-0", "expected");
	/* the echo is bounded and printable */
	char longer[300];
	memset(longer, 'A', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	char err[512];
	int64_t v;
	assert_int_equal(api_parse_time(longer, &v, err, sizeof(err)), -1);
	assert_true(strlen(err) < API_PARAM_ECHO_MAX + 200);
	assert_non_null(strstr(err, "...'"));
	assert_int_equal(api_parse_time("2026\x01-11-01", &v, err, sizeof(err)), -1);
	assert_null(strchr(err, '\x01'));
}

static void test_step_direction(void **state)
{
	(void)state;
	int s = 0;
	enum api_direction d;
	char err[256];
	assert_int_equal(api_parse_step("5m", &s, err, sizeof(err)), 0);
	assert_int_equal(s, 300);
	assert_int_equal(api_parse_step("1h", &s, err, sizeof(err)), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(api_parse_step("1d", &s, err, sizeof(err)), 0);
	assert_int_equal(s, 86400);
	assert_int_equal(api_parse_step("5M", &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected 5m, 1h or 1d"));
	assert_int_equal(api_parse_step("15m", &s, err, sizeof(err)), -1);
	assert_int_equal(api_parse_step("", &s, err, sizeof(err)), -1);
	assert_int_equal(api_parse_direction("in", &d, err, sizeof(err)), 0);
	assert_int_equal(d, API_DIR_IN);
	assert_int_equal(api_parse_direction("out", &d, err, sizeof(err)), 0);
	assert_int_equal(d, API_DIR_OUT);
	assert_int_equal(api_parse_direction("both", &d, err, sizeof(err)), 0);
	assert_int_equal(d, API_DIR_BOTH);
	assert_int_equal(api_parse_direction("In", &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected in, out or both"));
}

static void test_period(void **state)
{
	(void)state;
	char p[8], err[256];
	assert_int_equal(api_parse_period("2026-11", p, err, sizeof(err)), 0);
	assert_string_equal(p, "2026-11");
	assert_int_equal(api_parse_period("2026-13", p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no such month"));
	assert_int_equal(api_parse_period("2026-00", p, err, sizeof(err)), -1);
	assert_int_equal(api_parse_period("1999-12", p, err, sizeof(err)), -1);
	assert_int_equal(api_parse_period("2026-1", p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected a month YYYY-MM"));
	assert_int_equal(api_parse_period("2026-11-01", p, err, sizeof(err)), -1);
	assert_int_equal(api_parse_period("2026/11", p, err, sizeof(err)), -1);
	assert_int_equal(api_parse_period("", p, err, sizeof(err)), -1);
}

static void test_numbers_ids(void **state)
{
	(void)state;
	char err[256];
	int64_t id = 0;
	assert_int_equal(api_parse_invoice_number("2026-000001", err, sizeof(err)), 0);
	assert_int_equal(api_parse_invoice_number("CN-2026-000123", err, sizeof(err)), 0);
	assert_int_equal(api_parse_invoice_number("DN-2026-999999", err, sizeof(err)), 0);
	assert_int_equal(api_parse_invoice_number("2026-000000", err, sizeof(err)), -1);
	assert_int_equal(api_parse_invoice_number("XN-2026-000001", err, sizeof(err)), -1);
	assert_int_equal(api_parse_invoice_number("2026-0000001", err, sizeof(err)), -1);
	assert_int_equal(api_parse_invoice_number("2026-00001", err, sizeof(err)), -1);
	assert_int_equal(api_parse_invoice_number("1999-000001", err, sizeof(err)), -1);
	assert_int_equal(api_parse_invoice_number("2026-000001'--", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected an invoice number"));
	assert_null(strstr(err, "'--"));     /* quotes in the echo replaced */
	assert_int_equal(api_parse_id("42", &id, err, sizeof(err)), 0);
	assert_int_equal(id, 42);
	assert_int_equal(api_parse_id("9007199254740992", &id, err, sizeof(err)), 0);
	assert_int_equal(api_parse_id("9007199254740993", &id, err, sizeof(err)), -1);
	assert_int_equal(api_parse_id("0", &id, err, sizeof(err)), -1);
	assert_int_equal(api_parse_id("042", &id, err, sizeof(err)), -1);
	assert_int_equal(api_parse_id("-1", &id, err, sizeof(err)), -1);
	assert_int_equal(api_parse_id("1e3", &id, err, sizeof(err)), -1);
	assert_int_equal(api_parse_id("", &id, err, sizeof(err)), -1);
}

static void test_formats(void **state)
{
	(void)state;
	char err[256];
	enum api_format f;
	unsigned all = API_FMT_BIT(API_FMT_JSON) | API_FMT_BIT(API_FMT_CSV) |
		       API_FMT_BIT(API_FMT_HTML) | API_FMT_BIT(API_FMT_PDF);
	unsigned jc = API_FMT_BIT(API_FMT_JSON) | API_FMT_BIT(API_FMT_CSV);
	assert_int_equal(api_parse_format("pdf", all, &f, err, sizeof(err)), 0);
	assert_int_equal(f, API_FMT_PDF);
	assert_int_equal(api_parse_format("pdf", jc, &f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected json, csv here"));
	assert_int_equal(api_parse_format("JSON", all, &f, err, sizeof(err)), -1);
	assert_int_equal(api_format_from_accept(NULL, all), API_FMT_JSON);
	assert_int_equal(api_format_from_accept("text/csv", all), API_FMT_CSV);
	assert_int_equal(api_format_from_accept("application/pdf", jc), API_FMT_JSON);
	assert_int_equal(api_format_from_accept("text/html;q=0.5, application/pdf", all),
			 API_FMT_PDF);
	assert_int_equal(api_format_from_accept("text/html;q=0.9, application/pdf;q=0.1", all),
			 API_FMT_HTML);
	assert_int_equal(api_format_from_accept("text/csv;q=0, */*", all), API_FMT_JSON);
	assert_int_equal(api_format_from_accept("TEXT/CSV", all), API_FMT_CSV);
	assert_int_equal(api_format_from_accept(" text/csv ; q=1 ", all), API_FMT_CSV);
	assert_int_equal(api_format_from_accept("text/csv;q=x", all), API_FMT_JSON);
	assert_int_equal(api_format_from_accept(",,;;,", all), API_FMT_JSON);
	assert_string_equal(api_format_media_type(API_FMT_PDF), "application/pdf");
	enum api_lang l;
	assert_int_equal(api_parse_lang("zh", &l, err, sizeof(err)), 0);
	assert_int_equal(l, API_LANG_ZH);
	assert_int_equal(api_parse_lang("fr", &l, err, sizeof(err)), -1);
}

/* Accept-Encoding: gzip only where the header takes it, q honoured;
 * "*" only when gzip is not named. */
static void test_accept_gzip(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"gzip", "GZip", "x-gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.5",
		" gzip ; q=1 ", "gzip;q=0.001", "*", "deflate, *;q=0.1",
		"gzip;q=0, gzip", "identity, gzip;level=1",
	};
	static const char *const no[] = {
		"", "identity", "deflate, br", "gzip;q=0", "gzip;q=0.000",
		"gzip;q=0, *", "*;q=0", "x-gzip;q=0, *;q=1", "gzip;q=x", "gzipx",
		"gzi", "xgzip", ",,;;,", "gzip;q=-1", "g zip",
	};
	assert_false(api_accepts_gzip(NULL));
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!api_accepts_gzip(yes[i]))
			fail_msg("'%s' takes gzip", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (api_accepts_gzip(no[i]))
			fail_msg("'%s' does not take gzip", no[i]);
	/* a header over API_ACCEPT_MAX is not read at all */
	char big[API_ACCEPT_MAX + 8];
	memset(big, ' ', sizeof(big));
	memcpy(big + sizeof(big) - 6, "gzip", 5);
	assert_false(api_accepts_gzip(big));
	big[API_ACCEPT_MAX - 4] = '\0';
	memcpy(big + API_ACCEPT_MAX - 8, "gzip", 4);
	assert_true(api_accepts_gzip(big));
}

int main(void)
{
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_step_direction),
		cmocka_unit_test(test_period),
		cmocka_unit_test(test_numbers_ids),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_accept_gzip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
