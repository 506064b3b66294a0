/*
 * usage_gen.h — a deterministic stream of usage records with known totals,
 * for the settlement's integration tests (produce_usage) and benchmark
 * (bench/settle_bench): the same options give the same records.
 *
 * For each interval, each node emits `per_node` usage records (distinct
 * (tenant, pool, direction) of that interval) with seq first_seq.., then
 * its summary record (the next seq) whose totals are exactly their sums.
 * Nodes take turns, one interval at a time.
 */
#ifndef BS_USAGE_GEN_H
#define BS_USAGE_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

struct usage_gen_opts {
	uint64_t records;       /* usage records to emit (summaries extra) */
	uint32_t nodes;         /* 1..64 */
	uint32_t tenants;       /* tenant ids 1..tenants */
	uint32_t pools;         /* pool ids 1..pools */
	uint32_t per_node;      /* usage records per node and interval */
	uint32_t interval_len;  /* seconds, divides 300 */
	int64_t start;          /* first interval_start, multiple of interval_len */
	uint64_t seed;
};

struct usage_gen {
	struct usage_gen_opts o;
	uint64_t emitted;       /* usage records so far */
	uint64_t interval;      /* index of the current interval */
	uint32_t node;          /* current node */
	uint32_t k;             /* usage records emitted for it this interval */
	uint64_t seq[64];       /* next seq per node */
	char boot[64][BS_BOOT_ID_LEN + 1];
	struct bs_summary sum;  /* being accumulated for (interval, node) */
	uint32_t perm_offset;   /* varies the tenant choice per interval */
};

/* Checks and applies the options; start 0 means "ending about now". */
int usage_gen_init(struct usage_gen *g, const struct usage_gen_opts *o,
		   char *err, size_t err_size);

/* The next record; false once `records` usage records (and the summary of
 * the last interval) were emitted. */
bool usage_gen_next(struct usage_gen *g, struct bs_record *rec);

#endif
