/*
 * tzspan.c — the UTC offsets of many sorted times with few localtime_r
 * calls. See tzspan.h.
 */
#include "tzspan.h"

#include <assert.h>
#include <time.h>

int32_t api_tz_offset_at(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (localtime_r(&tt, &tm) == NULL)
		return 0;
	return (int32_t)tm.tm_gmtoff;
}

/* Fills offsets (lo, hi), those at lo and hi being known. Depth: log2 n. */
static size_t fill(const int64_t *times, int32_t *offsets, size_t lo, size_t hi)
{
	assert(lo < hi && times[lo] <= times[hi]);
	if (hi - lo < 2)
		return 0;
	if (offsets[lo] == offsets[hi] && times[hi] - times[lo] <= API_TZ_SPAN_S) {
		for (size_t i = lo + 1; i < hi; i++)
			offsets[i] = offsets[lo];
		return 0;
	}
	size_t mid = lo + (hi - lo) / 2;
	offsets[mid] = api_tz_offset_at(times[mid]);
	return 1 + fill(times, offsets, lo, mid) + fill(times, offsets, mid, hi);
}

size_t api_tz_offsets(const int64_t *times, size_t n, int32_t *offsets)
{
	if (n == 0)
		return 0;
	offsets[0] = api_tz_offset_at(times[0]);
	if (n == 1)
		return 1;
	offsets[n - 1] = api_tz_offset_at(times[n - 1]);
	return 2 + fill(times, offsets, 0, n - 1);
}
