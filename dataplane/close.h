/*
 * close.h — the interval close, pure: the workers' closed banks summed into
 * per-interval totals, and a closed interval turned into its usage records
 * and node summary. No I/O, no allocation, no DPDK runtime: export.c
 * delivers what this builds (spool, then Kafka), and the unit tests
 * (tests/unit/test_close.c) call it directly.
 *
 * A bank of an interval that is already closed (a worker that fell behind,
 * a reordered capture) is counted in the oldest interval still open, as
 * late. Usage records come in cell order, one per (tenant, pool, direction)
 * with traffic, seq contiguous from first_seq; the summary follows with the
 * sums of those records, so Σ records = summary by construction.
 */
#ifndef BS_CLOSE_H
#define BS_CLOSE_H

#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "counters.h"
#include "record.h"

/* Totals of one interval, summed over the workers' banks. */
struct bs_interval_totals {
	bool used;
	int64_t start;
	uint64_t map_version;
	struct bs_cell malformed, non_ip, rx, late;
	uint64_t malformed_reason[BS_RECORD_MAL_REASONS];
	struct bs_cell *cells;        /* layout.n_cells, owned by the caller */
};

/* The intervals not yet closed. */
struct bs_interval_table {
	struct bs_counter_layout layout;
	int64_t closed_upto;          /* intervals before this are out (published
				       * to the workers by the owner, atomically) */
	unsigned n;                   /* size of t[] */
	struct bs_interval_totals *t;
};

/* What one merged bank added, for telemetry. */
struct bs_merge_stats {
	uint64_t late_packets;
	uint64_t rx_packets, rx_bytes, malformed_packets, non_ip_packets;
};

/* What an interval's records carry besides its totals. */
struct bs_close_identity {
	const char *node_id;
	const char *boot_id;          /* BS_BOOT_ID_LEN hex digits */
	uint32_t interval_s;
	enum bs_byte_measure measure;
	const struct bs_tenant_index *tidx;   /* dense tenant index → id */
	const uint32_t *pool_id;              /* dense pool index → id */
};

/* Sets up an empty table over n totals whose cells the caller allocated
 * (zeroed, layout->n_cells each). */
void bs_interval_table_init(struct bs_interval_table *tab,
			    const struct bs_counter_layout *layout,
			    struct bs_interval_totals *t, unsigned n);

/* Adds a closed bank into the totals of its interval (or of closed_upto's,
 * as late). The table is sized so that a slot is always free. */
void bs_interval_merge(struct bs_interval_table *tab, const struct bs_bank *bank,
		       struct bs_merge_stats *st);

/* The oldest interval open, or NULL. */
struct bs_interval_totals *bs_interval_oldest(struct bs_interval_table *tab);

/* Usage records with traffic in t (what the summary's record_count says). */
uint32_t bs_interval_usage_count(const struct bs_interval_totals *t,
				 const struct bs_counter_layout *layout);

/* Called for each record built, in order; non-zero stops the build and is
 * returned by it. */
typedef int (*bs_record_sink)(void *arg, const struct bs_record *rec);

/* Builds the interval's usage records (seq first_seq, first_seq + 1, ...)
 * then its summary, and hands each to sink. Returns 0, or the sink's
 * non-zero value. *summary (if not NULL) receives the summary record. */
int bs_interval_build(const struct bs_interval_totals *t,
		      const struct bs_counter_layout *layout,
		      const struct bs_close_identity *id, uint64_t first_seq,
		      bs_record_sink sink, void *arg, struct bs_record *summary);

/* Forgets a closed interval, zeroing its cells, and moves closed_upto past
 * it (the caller publishes the new value). */
void bs_interval_forget(struct bs_interval_table *tab, struct bs_interval_totals *t,
			uint32_t interval_s);

#endif
