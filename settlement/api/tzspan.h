/*
 * tzspan.h — the UTC offsets of many sorted times with few localtime_r
 * calls (bandsplit-api's usage answers print every sample time in the
 * park's zone).
 *
 * glibc's localtime_r is slow for times after a zone's last listed
 * transition: it parses the zone's TZ rule again on every call, under a
 * global lock. A day of 5-minute samples called it 288 times a request.
 * api_tz_offsets looks up the offsets at the two ends of a run of times;
 * when they are equal and the run spans at most API_TZ_SPAN_S, every time
 * in the run gets that offset (no zone changes its offset and back within
 * a week); otherwise the run is halved. A time printed with the offset
 * beside it names its instant whatever the offset, so a wrong guess could
 * only change how a time near a transition is written, never which instant
 * it is; test_tzspan checks the offsets against localtime_r for every
 * 5 minutes of several years in zones with DST, half-hour DST and
 * Morocco's month-long Ramadan change.
 */
#ifndef BANDSPLIT_API_TZSPAN_H
#define BANDSPLIT_API_TZSPAN_H

#include <stddef.h>
#include <stdint.h>

#define API_TZ_SPAN_S (7 * 86400)

/* tm_gmtoff of t in the process's zone (localtime_r). */
int32_t api_tz_offset_at(int64_t t);

/* offsets[i] = api_tz_offset_at(times[i]) for times sorted ascending
 * (duplicates allowed), with O(transitions · log n + span / a week)
 * lookups. Returns the number of lookups made. */
size_t api_tz_offsets(const int64_t *times, size_t n, int32_t *offsets);

#endif
