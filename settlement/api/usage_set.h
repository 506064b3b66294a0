/*
 * usage_set.h — the samples of one /v1/usage answer, assembled from the two
 * forms PostgreSQL returns them in: rows of usage_5m (one a bucket, or
 * already summed per bin of the step) for days that are not compacted, and
 * compacted days of usage_day (a run of 5-minute buckets per (pool,
 * direction) as big-endian int8, -1 for a bucket without a row). Each
 * bucket goes to its bin of the step, counted from the answer's `from`;
 * the samples are then sorted by (time, pool, direction) and the parts of a
 * bin that came from different days or forms are added up. Pure: no
 * database, no allocation after init.
 */
#ifndef BS_API_USAGE_SET_H
#define BS_API_USAGE_SET_H

#include <stddef.h>
#include <stdint.h>

/* The measures of a sample, in the answer's order. */
enum { USAGE_FRAME_BYTES, USAGE_IP_BYTES, USAGE_FRAME_PACKETS,
       USAGE_IP_PACKETS, USAGE_MEASURES };

struct usage_sample {
	int64_t t;                      /* the bin's start, epoch seconds */
	int64_t pool;
	int64_t v[USAGE_MEASURES];
	int64_t buckets;                /* 5-minute buckets with a row */
	int dir;                        /* 0 in, 1 out */
	int row;                        /* >= 0: v and buckets are the caller's
					 * row's (usage_set_add_row), not here */
};

/* A row's measures and buckets, for a row that has to be added to
 * another part: 0, or -1 when the row's values are not a sample's. */
typedef int usage_row_values(void *ctx, int row, int64_t v[USAGE_MEASURES],
			     int64_t *buckets);

struct usage_set {
	struct usage_sample *s;
	size_t n, cap;
	int64_t from;                   /* the first bin's start */
	int64_t step;                   /* seconds, a multiple of 300 */
};

enum usage_set_rc {
	USAGE_SET_OK = 0,
	USAGE_SET_FULL = -1,            /* more than cap parts */
	USAGE_SET_BAD = -2,             /* a value out of its domain */
};

/* cap parts; from on a 5-minute boundary; step 300, 3600 or 86400.
 * -1 when out of memory. */
int usage_set_init(struct usage_set *set, size_t cap, int64_t from, int64_t step);
void usage_set_free(struct usage_set *set);

/* One row of usage_5m or one bin's sums of them: t the bucket's start (or
 * the bin's), buckets the rows summed (1 for a row). */
int usage_set_add(struct usage_set *set, int64_t t, int64_t pool, int dir,
		  const int64_t v[USAGE_MEASURES], int64_t buckets);

/* The same, the values left in the caller's row (read back through
 * usage_set_finish's resolver only when the row is one part of several of
 * a sample): a sample of one row keeps its row's text as it is. */
int usage_set_add_row(struct usage_set *set, int64_t t, int64_t pool, int dir,
		      int row);

/* A run of n compacted buckets starting at t (a 5-minute boundary, >=
 * from): cols[m] holds n big-endian int8 of measure m. A bucket whose
 * frame bytes are -1 is a gap (all four -1) and adds nothing; any other
 * negative value, or a gap in one measure only, is USAGE_SET_BAD. */
int usage_set_add_run(struct usage_set *set, int64_t t, int64_t pool, int dir,
		      const unsigned char *const cols[USAGE_MEASURES], size_t n);

/* Sorts by (t, pool, dir) and adds up the parts of each sample, reading
 * the values of a usage_set_add_row part through values(ctx, ...) when it
 * has to be added up; returns the samples (set->n). USAGE_SET_BAD (as a
 * negative) when a sum overflows or values fails. */
long usage_set_finish(struct usage_set *set, usage_row_values *values, void *ctx);

#endif
