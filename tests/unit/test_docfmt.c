/*
 * test_docfmt.c — the documents' formatting: golden strings for money
 * (negative, zero, large), integers, bytes and rates (rounding half-up at
 * the unit boundaries), UTC times, dates and times in a zone across a DST
 * change, a zone's offsets against localtime_r (every 5 minutes of
 * 2019-2027 and windows from every hour of 2026 in six zones) and its
 * lookups, HTML escaping, the buffer, and the label table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "docfmt.h"

#define EQ(call, want) do { \
	char d_[BS_DOC_NUM_MAX * 2]; \
	size_t n_ = (call); \
	assert_string_equal(d_, want); \
	assert_int_equal(n_, strlen(want)); \
} while (0)
/* the macro's calls write into d_ */
#define D d_, sizeof d_

static void test_money(void **state)
{
	(void)state;
	EQ(bs_doc_fmt_money(D, 123456, BS_LANG_EN), "CNY 1,234.56");
	EQ(bs_doc_fmt_money(D, 123456, BS_LANG_ZH), "¥1,234.56");
	EQ(bs_doc_fmt_money(D, 0, BS_LANG_ZH), "¥0.00");
	EQ(bs_doc_fmt_money(D, 5, BS_LANG_EN), "CNY 0.05");
	EQ(bs_doc_fmt_money(D, 100, BS_LANG_EN), "CNY 1.00");
	EQ(bs_doc_fmt_money(D, -123456, BS_LANG_ZH), "-¥1,234.56");
	EQ(bs_doc_fmt_money(D, -7, BS_LANG_EN), "-CNY 0.07");
	EQ(bs_doc_fmt_money(D, 99999999999, BS_LANG_EN), "CNY 999,999,999.99");
	EQ(bs_doc_fmt_money(D, INT64_MIN, BS_LANG_EN),
	   "-CNY 92,233,720,368,547,758.08");
	EQ(bs_doc_fmt_money(D, INT64_MAX, BS_LANG_ZH),
	   "¥92,233,720,368,547,758.07");
}

static void test_int(void **state)
{
	(void)state;
	EQ(bs_doc_fmt_int(D, 0), "0");
	EQ(bs_doc_fmt_int(D, 999), "999");
	EQ(bs_doc_fmt_int(D, 1000), "1,000");
	EQ(bs_doc_fmt_int(D, -1234567), "-1,234,567");
	EQ(bs_doc_fmt_int(D, INT64_MIN), "-9,223,372,036,854,775,808");
	char small[5];
	assert_int_equal(bs_doc_fmt_int(small, sizeof small, 1234567), 4);
	assert_string_equal(small, "1,23");   /* truncated, terminated */
}

static void test_bytes_and_rates(void **state)
{
	(void)state;
	EQ(bs_doc_fmt_bytes(D, 0), "0 B");
	EQ(bs_doc_fmt_bytes(D, 999), "999 B");
	EQ(bs_doc_fmt_bytes(D, 1000), "1.00 kB");
	EQ(bs_doc_fmt_bytes(D, 1234), "1.23 kB");
	EQ(bs_doc_fmt_bytes(D, 1235), "1.24 kB");      /* half up */
	EQ(bs_doc_fmt_bytes(D, 999994), "999.99 kB");
	EQ(bs_doc_fmt_bytes(D, 999995), "1.00 MB");    /* rounds into MB */
	EQ(bs_doc_fmt_bytes(D, 1234567890123), "1.23 TB");
	EQ(bs_doc_fmt_bytes(D, -1500), "-1.50 kB");
	EQ(bs_doc_fmt_bytes(D, INT64_MAX), "9.22 EB");
	/* 37,500,000 bytes in 5 minutes = 1 Mbps */
	EQ(bs_doc_fmt_bucket_mbps(D, 37500000), "1.000 Mbps");
	EQ(bs_doc_fmt_bucket_mbps(D, 0), "0.000 Mbps");
	EQ(bs_doc_fmt_bucket_mbps(D, 18750), "0.001 Mbps");  /* 0.0005 → up */
	EQ(bs_doc_fmt_bucket_mbps(D, 18749), "0.000 Mbps");
	EQ(bs_doc_fmt_mbps(D, 1234567891, 1), "1,234.568 Mbps");
	EQ(bs_doc_fmt_mbps(D, 100000000, 3), "33.333 Mbps");
	EQ(bs_doc_fmt_mbps(D, 200000000, 3), "66.667 Mbps");
}

static void test_utc_and_civil(void **state)
{
	(void)state;
	struct bs_buf b;
	bs_buf_init(&b);
	bs_buf_utc(&b, 0);
	bs_buf_putc(&b, ' ');
	bs_buf_utc(&b, 1793462400);       /* 2026-10-31T16:00:00Z */
	bs_buf_putc(&b, ' ');
	bs_buf_utc(&b, 951782400);        /* 2000-02-29 */
	bs_buf_putc(&b, ' ');
	bs_buf_i64(&b, INT64_MIN);
	bs_buf_putc(&b, ' ');
	bs_buf_i64(&b, 0);
	assert_false(b.failed);
	assert_string_equal(b.p, "1970-01-01T00:00:00Z 2026-10-31T16:00:00Z "
			    "2000-02-29T00:00:00Z -9223372036854775808 0");
	bs_buf_free(&b);
	assert_int_equal(bs_doc_civil_to_epoch(2026, 11, 1, 0, 0, 0), 1793491200);
	struct bs_doc_civil c;
	bs_doc_civil(-1, 0, &c);
	assert_int_equal(c.year, 1969);
	assert_int_equal(c.month, 12);
	assert_int_equal(c.day, 31);
	assert_int_equal(c.second, 59);
}

static void test_zone_shanghai(void **state)
{
	(void)state;
	struct bs_doc_zone z;
	char err[128];
	int64_t from = 1793462400;       /* 2026-11-01 00:00 +08:00 */
	assert_int_equal(bs_doc_zone_load(&z, "Asia/Shanghai", from,
					  from + 30 * 86400, err, sizeof err), 0);
	assert_int_equal(z.n, 1);
	EQ(bs_doc_fmt_datetime(D, &z, from, BS_LANG_EN), "2026-11-01 00:00 +08:00");
	EQ(bs_doc_fmt_datetime(D, &z, from, BS_LANG_ZH),
	   "2026年11月1日 00:00 (UTC+08:00)");
	EQ(bs_doc_fmt_date(D, &z, from + 86400 * 29 + 3600, BS_LANG_ZH), "2026年11月30日");
	EQ(bs_doc_fmt_date(D, &z, from - 1, BS_LANG_EN), "2026-10-31");
	EQ(bs_doc_fmt_hhmm(D, &z, from + 300), "00:05");
}

static void test_zone_dst(void **state)
{
	(void)state;
	struct bs_doc_zone z;
	char err[128];
	/* March 2026 in New York: EST → EDT at 2026-03-08 07:00:00Z */
	int64_t from = bs_doc_civil_to_epoch(2026, 3, 1, 5, 0, 0);
	assert_int_equal(bs_doc_zone_load(&z, "America/New_York", from,
					  from + 31 * 86400, err, sizeof err), 0);
	assert_int_equal(z.n, 2);
	assert_int_equal(z.start[1], 1772953200);
	assert_int_equal(z.offset_s[0], -5 * 3600);
	assert_int_equal(z.offset_s[1], -4 * 3600);
	EQ(bs_doc_fmt_datetime(D, &z, 1772953199, BS_LANG_EN), "2026-03-08 01:59 -05:00");
	EQ(bs_doc_fmt_datetime(D, &z, 1772953200, BS_LANG_EN), "2026-03-08 03:00 -04:00");
	EQ(bs_doc_fmt_datetime(D, &z, 1772953200, BS_LANG_ZH),
	   "2026年3月8日 03:00 (UTC-04:00)");
	/* November: back to EST at 2026-11-01 06:00:00Z (01:00 twice) */
	from = bs_doc_civil_to_epoch(2026, 11, 1, 4, 0, 0);
	assert_int_equal(bs_doc_zone_load(&z, "America/New_York", from,
					  from + 30 * 86400, err, sizeof err), 0);
	assert_int_equal(z.n, 2);
	EQ(bs_doc_fmt_datetime(D, &z, 1793512799, BS_LANG_EN), "2026-11-01 01:59 -04:00");
	EQ(bs_doc_fmt_datetime(D, &z, 1793512800, BS_LANG_EN), "2026-11-01 01:00 -05:00");
	/* half-hour offsets */
	assert_int_equal(bs_doc_zone_load(&z, "Asia/Kathmandu", from,
					  from + 86400, err, sizeof err), 0);
	EQ(bs_doc_fmt_offset(D, z.offset_s[0]), "+05:45");
	/* the TZ variable is left as it was */
	assert_null(getenv("TZ"));
}

/* --- the zone's offsets against localtime_r itself ---------------------
 * Zones with DST (Europe/Berlin, America/New_York, Australia/Sydney),
 * half-hour DST (Australia/Lord_Howe), a month-long change each year
 * (Africa/Casablanca: Ramadan) and none (Asia/Shanghai). */
static const char *const zones[] = { "Europe/Berlin", "America/New_York",
	"Australia/Sydney", "Australia/Lord_Howe", "Africa/Casablanca",
	"Asia/Shanghai" };

static int32_t localtime_offset(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	assert_non_null(localtime_r(&tt, &tm));
	return (int32_t)tm.tm_gmtoff;
}

/* Loads zone (TZ already set to it) for [from, from + len) and compares
 * its offset with localtime_r's every step seconds. Returns the load's
 * lookups. */
static unsigned check_zone(const char *zone, int64_t from, int64_t len,
			   int64_t step)
{
	struct bs_doc_zone z;
	char err[128];
	assert_int_equal(bs_doc_zone_load(&z, zone, from, from + len, err,
					  sizeof err), 0);
	for (int64_t t = from; t < from + len; t += step) {
		int32_t want = localtime_offset(t);
		if (bs_doc_zone_offset(&z, t) != want)
			fail_msg("%s loaded for [%lld, +%lld): time %lld: offset %d, "
				 "localtime_r says %d", zone, (long long)from,
				 (long long)len, (long long)t,
				 bs_doc_zone_offset(&z, t), want);
	}
	return z.lookups;
}

static void set_tz(const char *zone)
{
	setenv("TZ", zone, 1);
	tzset();
}

/* 2019-2027, a year at a time, every 5 minutes; a handful of lookups a
 * week, not one per hour */
static void test_zone_years(void **state)
{
	(void)state;
	const int64_t y2019 = 1546300800, year = 365 * 86400;
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		set_tz(zones[i]);
		for (int64_t from = y2019; from < y2019 + 9 * year; from += year)
			assert_true(check_zone(zones[i], from, year, 300) < 200);
	}
	unsetenv("TZ");
	tzset();
}

/* A day (5 minutes) and a month (an hour) from every hour of 2026, and
 * 75 days in Casablanca (halves of 37.5 days, longer than its Ramadan
 * change, with equal ends): each holds a change somewhere. */
static void test_zone_windows(void **state)
{
	(void)state;
	const int64_t y2026 = 1767225600;
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		set_tz(zones[i]);
		for (int64_t t = y2026; t < y2026 + 365 * 86400; t += 3600) {
			check_zone(zones[i], t, 86400, 300);
			if ((t - y2026) % 86400 == 0)
				check_zone(zones[i], t, 31 * 86400, 3600);
			if ((t - y2026) % 86400 == 0 && strcmp(zones[i], "Africa/Casablanca") == 0)
				check_zone(zones[i], t, 75 * 86400, 3600);
		}
	}
	unsetenv("TZ");
	tzset();
}

/* Where nothing changes: a day is its two ends, a month a few halves. */
static void test_zone_few_lookups(void **state)
{
	(void)state;
	struct bs_doc_zone z;
	char err[128];
	const int64_t nov = 1793462400;
	assert_int_equal(bs_doc_zone_load(&z, "Asia/Shanghai", nov, nov + 86400,
					  err, sizeof err), 0);
	assert_int_equal(z.lookups, 2);
	assert_int_equal(bs_doc_zone_load(&z, "Asia/Shanghai", nov, nov + 1,
					  err, sizeof err), 0);
	assert_int_equal(z.lookups, 1);
	assert_int_equal(bs_doc_zone_load(&z, "Asia/Shanghai", nov,
					  nov + 30 * 86400, err, sizeof err), 0);
	assert_true(z.lookups <= 10);
	assert_int_equal(z.n, 1);
}

static void test_zone_refused(void **state)
{
	(void)state;
	struct bs_doc_zone z;
	char err[128];
	assert_int_equal(bs_doc_zone_load(&z, "Mars/Olympus", 0, 86400, err,
					  sizeof err), -1);
	assert_non_null(strstr(err, "Mars/Olympus"));
	assert_int_equal(bs_doc_zone_load(&z, "../etc/passwd", 0, 86400, err,
					  sizeof err), -1);
	assert_int_equal(bs_doc_zone_load(&z, "UTC", 86400, 0, err,
					  sizeof err), -1);
	assert_non_null(strstr(err, "range"));
}

static void test_html_and_buf(void **state)
{
	(void)state;
	struct bs_buf b;
	bs_buf_init(&b);
	bs_buf_html(&b, "a<b>&\"c\"'d' 租户");
	assert_string_equal(b.p, "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39; 租户");
	b.len = 0;
	bs_buf_printf(&b, "%s-%d", "x", 42);
	assert_string_equal(b.p, "x-42");
	/* growth past the first block */
	for (int i = 0; i < 10000; i++)
		bs_buf_puts(&b, "0123456789");
	assert_int_equal(b.len, 4 + 100000);
	assert_false(b.failed);
	bs_buf_free(&b);
	/* the CSS repeats table headers and sets A4 */
	assert_non_null(strstr(bs_doc_print_css(), "size:A4"));
	assert_non_null(strstr(bs_doc_print_css(), "table-header-group"));
}

static void test_labels_and_enums(void **state)
{
	(void)state;
	assert_string_equal(bs_doc_label(BS_L_STATEMENT_TITLE, BS_LANG_ZH), "用量对账单");
	assert_string_equal(bs_doc_label(BS_L_BILLABLE_BW, BS_LANG_ZH), "计费带宽");
	assert_string_equal(bs_doc_label(BS_L_P95, BS_LANG_ZH), "第95百分位");
	assert_string_equal(bs_doc_label(BS_L_P95, BS_LANG_EN), "95th percentile");
	for (int l = 0; l < BS_L_COUNT_; l++) {
		assert_string_not_equal(bs_doc_label(l, BS_LANG_EN), "?");
		assert_string_not_equal(bs_doc_label(l, BS_LANG_ZH), "?");
	}
	enum bs_doc_format f;
	enum bs_doc_lang g;
	assert_int_equal(bs_doc_format_parse("pdf", &f), 0);
	assert_int_equal(f, BS_DOC_PDF);
	assert_int_equal(bs_doc_format_parse("PDF", &f), -1);
	assert_int_equal(bs_doc_lang_parse("zh", &g), 0);
	assert_int_equal(g, BS_LANG_ZH);
	assert_int_equal(bs_doc_lang_parse("fr", &g), -1);
}

static void test_pdf_errors(void **state)
{
	(void)state;
	char err[512];
	setenv("BS_CHROMIUM", "/nonexistent/chromium", 1);
	FILE *f = fopen("docfmt_test.html", "w");
	assert_non_null(f);
	fputs("<p>x</p>", f);
	fclose(f);
	assert_int_equal(bs_doc_html_to_pdf("docfmt_test.html", "docfmt_test.pdf",
					    err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot run /nonexistent/chromium"));
	assert_int_equal(bs_doc_html_to_pdf("no-such.html", "x.pdf", err,
					    sizeof err), -1);
	assert_non_null(strstr(err, "no-such.html"));
	/* a "chromium" that hangs is killed at the time limit */
	setenv("BS_CHROMIUM", "sleep", 1);   /* sleep --headless … fails fast */
	assert_int_equal(bs_doc_html_to_pdf("docfmt_test.html", "docfmt_test.pdf",
					    err, sizeof err), -1);
	assert_non_null(strstr(err, "failed"));
	unsetenv("BS_CHROMIUM");
	remove("docfmt_test.html");
}

/* The browser chosen: $BS_CHROMIUM, else chromium-headless-shell when an
 * executable of that name is on $PATH, else chromium. */
static void test_pdf_browser(void **state)
{
	(void)state;
	char dir[] = "/tmp/docfmt-path-XXXXXX", shell[64];
	assert_non_null(mkdtemp(dir));
	snprintf(shell, sizeof shell, "%s/chromium-headless-shell", dir);
	const char *old = getenv("PATH");
	char *saved = old ? strdup(old) : NULL;
	unsetenv("BS_CHROMIUM");
	setenv("PATH", dir, 1);
	assert_string_equal(bs_doc_pdf_browser(), "chromium");
	FILE *f = fopen(shell, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(shell, 0644), 0);   /* not executable: not taken */
	assert_string_equal(bs_doc_pdf_browser(), "chromium");
	assert_int_equal(chmod(shell, 0755), 0);
	setenv("PATH", "/nonexistent::", 1);       /* empty entries skipped */
	assert_string_equal(bs_doc_pdf_browser(), "chromium");
	char path[256];
	snprintf(path, sizeof path, "/nonexistent:%s", dir);
	setenv("PATH", path, 1);
	assert_string_equal(bs_doc_pdf_browser(), "chromium-headless-shell");
	setenv("BS_CHROMIUM", "/opt/my/chrome", 1);
	assert_string_equal(bs_doc_pdf_browser(), "/opt/my/chrome");
	unsetenv("BS_CHROMIUM");
	if (saved) {
		setenv("PATH", saved, 1);
		free(saved);
	}
	remove(shell);
	rmdir(dir);
}

/* A headless shell that crashes in --single-process mode (as one did,
 * SIGTRAP, with two PDFs printed at once) is run again without it. */
static void test_pdf_shell_retry(void **state)
{
	(void)state;
	char dir[] = "/tmp/docfmt-shell-XXXXXX", shell[96], html[96], pdf[96];
	assert_non_null(mkdtemp(dir));
	snprintf(shell, sizeof shell, "%s/fake-headless-shell", dir);
	snprintf(html, sizeof html, "%s/p.html", dir);
	snprintf(pdf, sizeof pdf, "%s/p.pdf", dir);
	FILE *f = fopen(shell, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\n"
	      "for a in \"$@\"; do case $a in\n"
	      "  --single-process) echo crash >>\"$(dirname \"$0\")/runs\"; kill -TRAP $$;;\n"
	      "  --print-to-pdf=*) out=${a#--print-to-pdf=};;\n"
	      "esac; done\n"
	      "echo ok >>\"$(dirname \"$0\")/runs\"\n"
	      "printf '%%PDF-1.4 fake\\n' >\"$out\"\n", f);
	fclose(f);
	assert_int_equal(chmod(shell, 0755), 0);
	f = fopen(html, "w");
	assert_non_null(f);
	fputs("<p>x</p>", f);
	fclose(f);
	setenv("BS_CHROMIUM", shell, 1);
	char err[512] = "";
	int rc = bs_doc_html_to_pdf(html, pdf, err, sizeof err);
	unsetenv("BS_CHROMIUM");
	if (rc != 0)
		fail_msg("the shell was not run again: %s", err);
	char runs[64] = "", path[128];
	snprintf(path, sizeof path, "%s/runs", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	size_t got = fread(runs, 1, sizeof runs - 1, f);
	fclose(f);
	runs[got] = '\0';
	assert_string_equal(runs, "crash\nok\n");
	remove(path);
	remove(pdf);
	remove(html);
	remove(shell);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_money),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_bytes_and_rates),
		cmocka_unit_test(test_utc_and_civil),
		cmocka_unit_test(test_zone_shanghai),
		cmocka_unit_test(test_zone_dst),
		cmocka_unit_test(test_zone_years),
		cmocka_unit_test(test_zone_windows),
		cmocka_unit_test(test_zone_few_lookups),
		cmocka_unit_test(test_zone_refused),
		cmocka_unit_test(test_html_and_buf),
		cmocka_unit_test(test_labels_and_enums),
		cmocka_unit_test(test_pdf_errors),
		cmocka_unit_test(test_pdf_browser),
		cmocka_unit_test(test_pdf_shell_retry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
