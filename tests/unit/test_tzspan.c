/*
 * test_tzspan.c — api_tz_offsets (settlement/api/tzspan.c) against
 * localtime_r itself: every 5 minutes of 2019–2027 in zones with DST
 * (Europe/Berlin, America/New_York, Australia/Sydney), half-hour DST
 * (Australia/Lord_Howe), a month-long change each year (Africa/Casablanca:
 * Ramadan), none (Asia/Shanghai); also day- and month-long runs at the
 * transitions, hourly runs, duplicates, one time, none; and the lookups
 * stay few where nothing changes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tzspan.h"

static const char *const zones[] = { "Europe/Berlin", "America/New_York",
	"Australia/Sydney", "Australia/Lord_Howe", "Africa/Casablanca",
	"Asia/Shanghai" };

static void set_zone(const char *z)
{
	setenv("TZ", z, 1);
	tzset();
}

/* times[0..n) from t0 by step; every offset must be localtime_r's. */
static size_t check_run(int64_t t0, int64_t step, size_t n, const char *zone)
{
	int64_t *times = malloc(n * sizeof(*times));
	int32_t *offs = malloc(n * sizeof(*offs));
	assert_non_null(times);
	assert_non_null(offs);
	for (size_t i = 0; i < n; i++)
		times[i] = t0 + (int64_t)i * step;
	size_t lookups = api_tz_offsets(times, n, offs);
	for (size_t i = 0; i < n; i++) {
		int32_t want = api_tz_offset_at(times[i]);
		if (offs[i] != want)
			fail_msg("%s: time %lld: offset %d, localtime_r says %d",
				 zone, (long long)times[i], offs[i], want);
	}
	free(times);
	free(offs);
	return lookups;
}

static void test_years_every_5_minutes(void **state)
{
	(void)state;
	const int64_t from = 1546300800;             /* 2019-01-01 UTC */
	const int64_t to = 1830297600;               /* 2028-01-01 UTC */
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		set_zone(zones[z]);
		size_t lookups = check_run(from, 300, (size_t)((to - from) / 300), zones[z]);
		/* a handful per week, not one per time */
		assert_true(lookups < (size_t)((to - from) / 300) / 50);
	}
}

/* Day-long and month-long runs starting at every hour of a year: each
 * contains a transition somewhere. */
static void test_runs_across_transitions(void **state)
{
	(void)state;
	const int64_t y2026 = 1767225600;            /* 2026-01-01 UTC */
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		set_zone(zones[z]);
		for (int64_t t = y2026; t < y2026 + 365 * 86400; t += 3600) {
			check_run(t, 300, 288, zones[z]);              /* a day, 5m */
			if ((t - y2026) % 86400 == 0)
				check_run(t, 3600, 24 * 31, zones[z]); /* a month, 1h */
			/* 75 days, 1h: halves of 37.5 days, longer than
			 * Casablanca's Ramadan change, with equal ends */
			if ((t - y2026) % 86400 == 0 && z == 4)
				check_run(t, 3600, 24 * 75, zones[z]);
		}
	}
}

static void test_no_change_few_lookups(void **state)
{
	(void)state;
	set_zone("Asia/Shanghai");
	assert_int_equal(check_run(1793462400, 300, 288, "Asia/Shanghai"), 2);
	assert_int_equal(check_run(1793462400, 300, 1, "Asia/Shanghai"), 1);
	assert_int_equal(api_tz_offsets(NULL, 0, NULL), 0);
}

static void test_duplicates(void **state)
{
	(void)state;
	set_zone("Europe/Berlin");
	/* 2026-03-29 01:00 UTC: Berlin goes from +01:00 to +02:00; in and
	 * out samples share their times */
	int64_t times[40];
	int32_t offs[40];
	for (int i = 0; i < 40; i++)
		times[i] = 1774746000 - 10 * 300 + (i / 2) * 300;
	api_tz_offsets(times, 40, offs);
	for (int i = 0; i < 40; i++)
		assert_int_equal(offs[i], api_tz_offset_at(times[i]));
	assert_int_equal(offs[0], 3600);
	assert_int_equal(offs[39], 7200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_years_every_5_minutes),
		cmocka_unit_test(test_runs_across_transitions),
		cmocka_unit_test(test_no_change_few_lookups),
		cmocka_unit_test(test_duplicates),
	};
	return cmocka_run_group_tests_name("api_tzspan", tests, NULL, NULL);
}
