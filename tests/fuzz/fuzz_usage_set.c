/*
 * fuzz_usage_set.c — libFuzzer target: the assembly of /v1/usage samples
 * (settlement/api/usage_set.c) from rows and compacted runs as PostgreSQL
 * returns them. The first bytes choose the step and `from`; the rest is a
 * list of parts: a row left in the result (values read back through the
 * resolver), a summed row, or a run of big-endian int8 buckets (any bytes:
 * gaps, negative values, overflow). Beyond memory safety it checks what
 * billing rests on: unless a part is refused, the answer is sorted with
 * one sample per (time, pool, direction), every sample's time is its bin
 * of the step, and no bucket or byte is lost or counted twice (the
 * buckets and frame bytes out are the ones in).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usage_set.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARTS_MAX 16
#define T0 1794441600            /* 2026-11-12T00:00:00Z */

static int64_t row_v[PARTS_MAX][USAGE_MEASURES], row_buckets[PARTS_MAX];

static int values(void *ctx, int row, int64_t v[USAGE_MEASURES], int64_t *buckets)
{
	(void)ctx;
	if (row < 0 || row >= PARTS_MAX)
		abort();
	memcpy(v, row_v[row], sizeof(row_v[row]));
	*buckets = row_buckets[row];
	return 0;
}

static uint64_t take(const uint8_t **p, const uint8_t *end, int n)
{
	uint64_t x = 0;
	for (int i = 0; i < n && *p < end; i++)
		x = x << 8 | *(*p)++;
	return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 1 << 14)
		return 0;
	const int64_t steps[] = { 300, 3600, 86400 };
	const int64_t step = steps[data[0] % 3];
	const int64_t from = T0 + 300 * (int64_t)data[1];
	const uint8_t *p = data + 2, *end = data + size;
	struct usage_set set;
	if (usage_set_init(&set, PARTS_MAX * 288, from, step) < 0)
		return 0;
	__int128 bytes_in = 0, buckets_in = 0;
	int rows = 0, refused = 0;
	static unsigned char run[USAGE_MEASURES][288 * 8];
	for (int part = 0; part < PARTS_MAX && p < end && !refused; part++) {
		uint8_t op = (uint8_t)take(&p, end, 1);
		int64_t t = from + 300 * (int64_t)take(&p, end, 2) - 300 * (op >> 7);
		int64_t pool = (int64_t)take(&p, end, 1) % 3;
		int dir = (op >> 2) & 1;
		int rc;
		if ((op & 3) == 2) {                    /* a run */
			size_t n = take(&p, end, 2) % 289;
			for (size_t k = 0; k < n; k++) {
				int64_t v = (int64_t)take(&p, end, 1) - 2;  /* -2 .. 253 */
				if (take(&p, end, 1) & 1)
					v = (int64_t)take(&p, end, 8);
				for (int m = 0; m < USAGE_MEASURES; m++)
					for (int b = 0; b < 8; b++)
						run[m][8 * k + b] = (uint8_t)((uint64_t)v >> (56 - 8 * b));
			}
			const unsigned char *cols[USAGE_MEASURES] = { run[0], run[1], run[2], run[3] };
			rc = usage_set_add_run(&set, t, pool, dir, cols, n);
			if (rc == USAGE_SET_OK)
				for (size_t k = 0; k < n; k++) {
					int64_t v = 0;
					for (int b = 0; b < 8; b++)
						v = (int64_t)((uint64_t)v << 8 | run[0][8 * k + b]);
					if (v != -1) {
						bytes_in += v;
						buckets_in++;
					}
				}
		} else {                                /* a row: left or summed */
			int64_t v[USAGE_MEASURES], buckets = (int64_t)take(&p, end, 1) % 13;
			for (int m = 0; m < USAGE_MEASURES; m++)
				v[m] = (int64_t)take(&p, end, (op & 8) ? 8 : 2);
			if ((op & 3) == 0 && buckets > 0) {
				memcpy(row_v[rows], v, sizeof(v));
				row_buckets[rows] = buckets;
				rc = usage_set_add_row(&set, t, pool, dir, rows++);
			} else {
				rc = usage_set_add(&set, t, pool, dir, v, buckets);
			}
			if (rc == USAGE_SET_OK) {
				bytes_in += v[USAGE_FRAME_BYTES];
				buckets_in += buckets;
			}
		}
		refused = rc != USAGE_SET_OK;
	}
	long n = refused ? -1 : usage_set_finish(&set, values, NULL);
	if (n >= 0) {
		__int128 bytes_out = 0, buckets_out = 0;
		for (long i = 0; i < n; i++) {
			const struct usage_sample *s = &set.s[i];
			if ((s->t - from) % step != 0 || s->t < from)
				abort();
			if (i > 0) {
				const struct usage_sample *o = &set.s[i - 1];
				if (o->t > s->t || (o->t == s->t && (o->pool > s->pool ||
				    (o->pool == s->pool && o->dir >= s->dir))))
					abort();
			}
			int64_t v[USAGE_MEASURES], b = s->buckets;
			memcpy(v, s->v, sizeof(v));
			if (s->row >= 0)
				values(NULL, s->row, v, &b);
			bytes_out += v[USAGE_FRAME_BYTES];
			buckets_out += b;
		}
		if (bytes_out != bytes_in || buckets_out != buckets_in)
			abort();
	}
	usage_set_free(&set);
	return 0;
}
