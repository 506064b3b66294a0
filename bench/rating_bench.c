/*
 * rating_bench.c — how long the rating library takes for N month-long
 * allocations (burstable95, every 5-minute bucket of a 30-day month present,
 * pseudo-random bytes), the pure part of `bandsplit close`. Prints the
 * seconds and the allocations per second. Usage: rating_bench [N] (1000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rating.h"

static struct bs_rating_scratch scratch;

int main(int argc, char **argv)
{
	long n_allocs = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	if (n_allocs < 1 || n_allocs > 10000000) {
		fprintf(stderr, "rating_bench: N must be 1..10000000\n");
		return 2;
	}
	const struct bs_interval nov = { 1793462400, 1796054400 };
	size_t n = (size_t)(nov.to - nov.from) / 300;
	struct bs_sample *s = calloc(n, sizeof *s);
	uint64_t x = 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		s[i] = (struct bs_sample){ nov.from + 300 * (int64_t)i,
					   (int64_t)(x >> 31), (int64_t)(x >> 33) };
	}
	struct bs_plan_version v = { .plan_id = 1, .version = 1,
		.kind = BS_PLAN_BURSTABLE95, .valid = { 0, BS_RATING_OPEN },
		.price_fen_per_mbps = 3000, .overage_fen_per_mbps = 5000,
		.vat_bp = 600 };
	struct bs_charge_line lines[4];
	struct bs_rating_error err;
	int64_t total = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long t = 0; t < n_allocs; t++) {
		struct bs_rating_alloc a = { .alloc_id = t, .tenant_id = t,
			.pool_id = 1, .committed_bps = 100000000,
			.valid = { 0, BS_RATING_OPEN } };
		size_t k;
		if (bs_rating_rate_allocation(nov, &a, &v, 1, s, n, BS_MEASURE_FRAME,
					      &scratch, lines, 4, &k, &err)) {
			fprintf(stderr, "rating_bench: %s\n", err.msg);
			return 3;
		}
		total += lines[0].amount_fen + lines[1].amount_fen;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) +
		      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%ld allocations × %zu buckets: %.3f s, %.0f allocations/s "
	       "(Σ %lld fen)\n", n_allocs, n, secs, (double)n_allocs / secs,
	       (long long)total);
	free(s);
	return 0;
}
