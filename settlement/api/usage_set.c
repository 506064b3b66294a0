/*
 * usage_set.c — a /v1/usage answer's samples from rows of usage_5m and
 * compacted days of usage_day (usage_set.h).
 */
#include "usage_set.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int usage_set_init(struct usage_set *set, size_t cap, int64_t from, int64_t step)
{
	assert(step == 300 || step == 3600 || step == 86400);
	assert(from % 300 == 0);
	*set = (struct usage_set){ .cap = cap, .from = from, .step = step };
	set->s = malloc(sizeof(*set->s) * (cap > 0 ? cap : 1));
	return set->s != NULL ? 0 : -1;
}

void usage_set_free(struct usage_set *set)
{
	free(set->s);
	set->s = NULL;
	set->n = set->cap = 0;
}

static int64_t bin_of(const struct usage_set *set, int64_t t)
{
	assert(t >= set->from);
	return set->from + (t - set->from) / set->step * set->step;
}

int usage_set_add(struct usage_set *set, int64_t t, int64_t pool, int dir,
		  const int64_t v[USAGE_MEASURES], int64_t buckets)
{
	if (t < set->from || (dir != 0 && dir != 1) || buckets < 1)
		return USAGE_SET_BAD;
	for (int m = 0; m < USAGE_MEASURES; m++)
		if (v[m] < 0)
			return USAGE_SET_BAD;
	if (set->n == set->cap)
		return USAGE_SET_FULL;
	struct usage_sample *s = &set->s[set->n++];
	*s = (struct usage_sample){ .t = bin_of(set, t), .pool = pool,
		.dir = dir, .buckets = buckets, .row = -1 };
	memcpy(s->v, v, sizeof(s->v));
	return USAGE_SET_OK;
}

int usage_set_add_row(struct usage_set *set, int64_t t, int64_t pool, int dir,
		      int row)
{
	if (t < set->from || (dir != 0 && dir != 1) || row < 0)
		return USAGE_SET_BAD;
	if (set->n == set->cap)
		return USAGE_SET_FULL;
	set->s[set->n++] = (struct usage_sample){ .t = bin_of(set, t),
		.pool = pool, .dir = dir, .row = row };
	return USAGE_SET_OK;
}

static int64_t be64(const unsigned char *p)
{
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x = x << 8 | p[i];
	return (int64_t)x;
}

int usage_set_add_run(struct usage_set *set, int64_t t, int64_t pool, int dir,
		      const unsigned char *const cols[USAGE_MEASURES], size_t n)
{
	if (t < set->from || t % 300 != 0 || (dir != 0 && dir != 1))
		return USAGE_SET_BAD;
	struct usage_sample *open = NULL;       /* this run's current bin */
	for (size_t k = 0; k < n; k++, t += 300) {
		int64_t v[USAGE_MEASURES];
		int gaps = 0;
		for (int m = 0; m < USAGE_MEASURES; m++) {
			v[m] = be64(cols[m] + 8 * k);
			if (v[m] == -1)
				gaps++;
			else if (v[m] < 0)
				return USAGE_SET_BAD;
		}
		if (gaps == USAGE_MEASURES)
			continue;
		if (gaps != 0)
			return USAGE_SET_BAD;
		int64_t bin = bin_of(set, t);
		if (open == NULL || open->t != bin) {
			if (set->n == set->cap)
				return USAGE_SET_FULL;
			open = &set->s[set->n++];
			*open = (struct usage_sample){ .t = bin, .pool = pool,
				.dir = dir, .row = -1 };
		}
		for (int m = 0; m < USAGE_MEASURES; m++)
			if (__builtin_add_overflow(open->v[m], v[m], &open->v[m]))
				return USAGE_SET_BAD;
		open->buckets++;
	}
	return USAGE_SET_OK;
}

static int sample_cmp(const void *x, const void *y)
{
	const struct usage_sample *a = x, *b = y;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	if (a->pool != b->pool)
		return a->pool < b->pool ? -1 : 1;
	return a->dir - b->dir;
}

/* A part's values here, read from its row when they are still there. */
static int resolve(struct usage_sample *s, usage_row_values *values, void *ctx)
{
	if (s->row < 0)
		return 0;
	if (values == NULL || values(ctx, s->row, s->v, &s->buckets) != 0 ||
	    s->buckets < 1)
		return -1;
	for (int m = 0; m < USAGE_MEASURES; m++)
		if (s->v[m] < 0)
			return -1;
	s->row = -1;
	return 0;
}

long usage_set_finish(struct usage_set *set, usage_row_values *values, void *ctx)
{
	if (set->n == 0)
		return 0;
	qsort(set->s, set->n, sizeof(*set->s), sample_cmp);
	size_t out = 0;
	for (size_t i = 1; i < set->n; i++) {
		struct usage_sample *o = &set->s[out], *x = &set->s[i];
		if (sample_cmp(o, x) != 0) {
			set->s[++out] = *x;
			continue;
		}
		if (resolve(o, values, ctx) != 0 || resolve(x, values, ctx) != 0)
			return USAGE_SET_BAD;
		for (int m = 0; m < USAGE_MEASURES; m++)
			if (__builtin_add_overflow(o->v[m], x->v[m], &o->v[m]))
				return USAGE_SET_BAD;
		if (__builtin_add_overflow(o->buckets, x->buckets, &o->buckets))
			return USAGE_SET_BAD;
	}
	set->n = out + 1;
	return (long)set->n;
}
