/*
 * counters.c — allocation and clearing of the per-lcore counter banks.
 * The hand-over protocol itself is in counters.h (state word) and its two
 * sides in meter.c (worker) and export.c (control thread).
 */
#include "counters.h"

#include <string.h>

#include <rte_malloc.h>

void bs_counter_layout_init(struct bs_counter_layout *layout,
			    uint32_t n_tenant_slots, uint32_t n_pools)
{
	RTE_VERIFY(n_tenant_slots > 0 && n_pools > 0);
	layout->n_tenant_slots = n_tenant_slots;
	layout->n_pools = n_pools;
	layout->n_cells = n_tenant_slots * n_pools * 2u;
}

int bs_lcore_counters_init(struct bs_lcore_counters *ctr,
			   const struct bs_counter_layout *layout, int socket)
{
	memset(ctr, 0, sizeof(*ctr));
	for (unsigned b = 0; b < BS_BANKS_PER_LCORE; b++) {
		struct bs_bank *bank = &ctr->bank[b];
		bank->cells = rte_zmalloc_socket("bs_cells",
			(size_t)layout->n_cells * sizeof(struct bs_cell),
			RTE_CACHE_LINE_SIZE, socket);
		if (bank->cells == NULL) {
			bs_lcore_counters_free(ctr);
			return -1;
		}
		bank->state = BS_BANK_FREE;
		bank->interval_start = BS_INTERVAL_NONE;
	}
	ctr->cur = 0;
	ctr->open_start = BS_INTERVAL_NONE;
	return 0;
}

void bs_lcore_counters_free(struct bs_lcore_counters *ctr)
{
	for (unsigned b = 0; b < BS_BANKS_PER_LCORE; b++) {
		rte_free(ctr->bank[b].cells);
		ctr->bank[b].cells = NULL;
	}
}

void bs_bank_clear(struct bs_bank *bank, const struct bs_counter_layout *layout)
{
	RTE_VERIFY(bs_bank_state_load(bank) == BS_BANK_CLOSED);
	memset(bank->cells, 0, (size_t)layout->n_cells * sizeof(struct bs_cell));
	bank->interval_start = BS_INTERVAL_NONE;
	bank->map_version = 0;
	memset(&bank->malformed, 0, sizeof(bank->malformed));
	memset(&bank->non_ip, 0, sizeof(bank->non_ip));
	memset(&bank->rx, 0, sizeof(bank->rx));
	memset(&bank->late, 0, sizeof(bank->late));
	memset(bank->malformed_reason, 0, sizeof(bank->malformed_reason));
	/* Hand the bank back to the worker only after every zero is visible. */
	bs_bank_state_store(bank, BS_BANK_FREE);
}

struct bs_cell bs_cells_direction_total(const struct bs_cell *cells,
					const struct bs_counter_layout *layout,
					enum bs_direction dir)
{
	struct bs_cell sum = { 0, 0 };
	for (uint32_t c = (uint32_t)dir; c < layout->n_cells; c += 2) {
		sum.packets += cells[c].packets;
		sum.bytes += cells[c].bytes;
	}
	return sum;
}

struct bs_cell bs_cells_unattributed(const struct bs_cell *cells,
				     const struct bs_counter_layout *layout)
{
	struct bs_cell sum = { 0, 0 };
	for (uint32_t c = 0; c < layout->n_pools * 2u; c++) {   /* tenant 0's cells */
		sum.packets += cells[c].packets;
		sum.bytes += cells[c].bytes;
	}
	return sum;
}
