/*
 * counters.h — per-lcore counter banks and the interval hand-over between a
 * worker and the control thread.
 *
 * Each worker owns BS_BANKS_PER_LCORE banks, used as a ring. The worker
 * counts into its OPEN bank; when the interval changes it marks the bank
 * CLOSED (store-release) and opens the next FREE one. The control thread
 * reads CLOSED banks (load-acquire), adds them into the interval's totals,
 * zeroes them and marks them FREE again. No locks and no read-modify-write
 * atomics: each field has exactly one writer at a time, and ownership moves
 * with the state word. If the control thread falls behind, the worker waits
 * for a free bank (counted in `stalls`) rather than lose a count.
 *
 * Cells are indexed by (dense tenant index, dense pool index, direction).
 */
#ifndef BS_COUNTERS_H
#define BS_COUNTERS_H

#include <stdint.h>

#include <rte_common.h>

#include "record.h"

#define BS_BANKS_PER_LCORE 4
#define BS_INTERVAL_NONE   INT64_MIN

enum bs_bank_state { BS_BANK_FREE = 0, BS_BANK_OPEN = 1, BS_BANK_CLOSED = 2 };

struct bs_cell {
	uint64_t packets;
	uint64_t bytes;
};

struct bs_counter_layout {
	uint32_t n_tenant_slots;  /* dense tenant indices 0..n-1 */
	uint32_t n_pools;
	uint32_t n_cells;         /* n_tenant_slots * n_pools * 2 */
};

struct bs_bank {
	uint32_t state;               /* enum bs_bank_state; atomic load/store */
	int64_t interval_start;       /* Unix seconds */
	uint64_t map_version;         /* newest map counted in this bank */
	struct bs_cell malformed;
	struct bs_cell non_ip;
	struct bs_cell rx;
	struct bs_cell late;          /* older than the bank: counted here */
	uint64_t malformed_reason[8];
	struct bs_cell *cells;        /* layout.n_cells */
} __rte_cache_aligned;

struct bs_lcore_counters {
	struct bs_bank bank[BS_BANKS_PER_LCORE];
	uint32_t cur;                 /* worker-private: the OPEN bank */
	int64_t open_start;           /* published: interval of the OPEN bank */
	uint32_t finished;            /* published: worker closed its last bank */
	/* cumulative figures for telemetry; single writer (the worker) */
	uint64_t total_packets;
	uint64_t total_bytes;
	uint64_t stalls;
} __rte_cache_aligned;

void bs_counter_layout_init(struct bs_counter_layout *layout,
			    uint32_t n_tenant_slots, uint32_t n_pools);

static inline uint32_t bs_cell_index(const struct bs_counter_layout *layout,
				     uint32_t tenant_idx, uint32_t pool_idx,
				     enum bs_direction dir)
{
	return (tenant_idx * layout->n_pools + pool_idx) * 2u + (uint32_t)dir;
}

/* Totals derived from cells (a bank's or an interval's), not counted per
 * packet: Σ per direction, and Σ of tenant 0 (unattributed) over both. */
struct bs_cell bs_cells_direction_total(const struct bs_cell *cells,
					const struct bs_counter_layout *layout,
					enum bs_direction dir);
struct bs_cell bs_cells_unattributed(const struct bs_cell *cells,
				     const struct bs_counter_layout *layout);

/* Allocates the banks' cells (at start-up, never in the fast path). */
int bs_lcore_counters_init(struct bs_lcore_counters *ctr,
			   const struct bs_counter_layout *layout, int socket);
void bs_lcore_counters_free(struct bs_lcore_counters *ctr);

/* Zeroes a CLOSED bank's counts and hands it back to its worker (FREE). */
void bs_bank_clear(struct bs_bank *bank, const struct bs_counter_layout *layout);

static inline uint32_t bs_bank_state_load(const struct bs_bank *bank)
{
	return __atomic_load_n(&bank->state, __ATOMIC_ACQUIRE);
}

static inline void bs_bank_state_store(struct bs_bank *bank, uint32_t state)
{
	__atomic_store_n(&bank->state, state, __ATOMIC_RELEASE);
}

#endif
