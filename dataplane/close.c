/*
 * close.c — the interval close (see close.h): banks → interval totals →
 * usage records and the node summary.
 */
#include "close.h"

#include <stdio.h>
#include <string.h>

#include <rte_debug.h>

#include "parse.h"

/* The summary's malformed reasons are the parser's, in its order. */
_Static_assert(BS_MAL_REASON_COUNT - 1 == BS_RECORD_MAL_REASONS,
	       "record.h's malformed reasons follow parse.h's");
_Static_assert(BS_MAL_REASON_COUNT <= 8, "bs_bank.malformed_reason[8]");

void bs_interval_table_init(struct bs_interval_table *tab,
			    const struct bs_counter_layout *layout,
			    struct bs_interval_totals *t, unsigned n)
{
	tab->layout = *layout;
	tab->closed_upto = BS_INTERVAL_NONE;
	tab->n = n;
	tab->t = t;
	for (unsigned i = 0; i < n; i++) {
		struct bs_cell *cells = t[i].cells;
		memset(&t[i], 0, sizeof(t[i]));
		t[i].cells = cells;
	}
}

static struct bs_interval_totals *totals_for(struct bs_interval_table *tab, int64_t start)
{
	struct bs_interval_totals *free_slot = NULL;
	for (unsigned i = 0; i < tab->n; i++) {
		struct bs_interval_totals *t = &tab->t[i];
		if (t->used && t->start == start)
			return t;
		if (!t->used && !free_slot)
			free_slot = t;
	}
	/* Workers hold at most BS_BANKS_PER_LCORE banks each, all of
	 * intervals not yet closed; the table is sized well above that. */
	RTE_VERIFY(free_slot != NULL);
	free_slot->used = true;
	free_slot->start = start;
	return free_slot;
}

static void add_cell(struct bs_cell *dst, const struct bs_cell *src)
{
	dst->packets += src->packets;
	dst->bytes += src->bytes;
}

void bs_interval_merge(struct bs_interval_table *tab, const struct bs_bank *bank,
		       struct bs_merge_stats *st)
{
	int64_t start = bank->interval_start;
	RTE_VERIFY(start != BS_INTERVAL_NONE);
	bool late = start < tab->closed_upto;
	if (late)   /* its interval is already out: count it in the next one */
		start = tab->closed_upto;
	struct bs_interval_totals *t = totals_for(tab, start);
	const struct bs_cell *src = bank->cells;
	struct bs_cell *dst = t->cells;
	for (uint32_t c = 0; c < tab->layout.n_cells; c++) {
		dst[c].packets += src[c].packets;
		dst[c].bytes += src[c].bytes;
	}
	add_cell(&t->malformed, &bank->malformed);
	add_cell(&t->non_ip, &bank->non_ip);
	add_cell(&t->rx, &bank->rx);
	/* A late bank is late as a whole; its own late frames are part of
	 * it and must not count twice. */
	add_cell(&t->late, late ? &bank->rx : &bank->late);
	for (unsigned r = 0; r < BS_RECORD_MAL_REASONS; r++)
		t->malformed_reason[r] += bank->malformed_reason[r + 1];
	if (bank->map_version > t->map_version)
		t->map_version = bank->map_version;
	st->late_packets += late ? bank->rx.packets : bank->late.packets;
	st->rx_packets += bank->rx.packets;
	st->rx_bytes += bank->rx.bytes;
	st->malformed_packets += bank->malformed.packets;
	st->non_ip_packets += bank->non_ip.packets;
}

struct bs_interval_totals *bs_interval_oldest(struct bs_interval_table *tab)
{
	struct bs_interval_totals *oldest = NULL;
	for (unsigned i = 0; i < tab->n; i++) {
		struct bs_interval_totals *t = &tab->t[i];
		if (t->used && (!oldest || t->start < oldest->start))
			oldest = t;
	}
	return oldest;
}

uint32_t bs_interval_usage_count(const struct bs_interval_totals *t,
				 const struct bs_counter_layout *layout)
{
	uint32_t n = 0;
	for (uint32_t c = 0; c < layout->n_cells; c++)
		n += t->cells[c].packets != 0;
	return n;
}

static void head_for(const struct bs_close_identity *id, const struct bs_interval_totals *t,
		     enum bs_record_type type, struct bs_record *r)
{
	memset(r, 0, sizeof(*r));
	r->head.type = type;
	r->head.version = BS_SCHEMA_VERSION;
	snprintf(r->head.node_id, sizeof(r->head.node_id), "%s", id->node_id);
	memcpy(r->head.boot_id, id->boot_id, BS_BOOT_ID_LEN);
	r->head.interval_start = t->start;
	r->head.interval_len = id->interval_s;
	r->head.measure = id->measure;
	r->head.map_version = t->map_version;
}

int bs_interval_build(const struct bs_interval_totals *t,
		      const struct bs_counter_layout *layout,
		      const struct bs_close_identity *id, uint64_t first_seq,
		      bs_record_sink sink, void *arg, struct bs_record *summary)
{
	struct bs_record r;
	uint32_t n_usage = 0;
	/* The summary's totals are the sums of the records it vouches for:
	 * a consumer missing a record sees the difference. */
	struct bs_counts dir[BS_DIR_COUNT] = { { 0, 0 }, { 0, 0 } };
	struct bs_counts unattributed = { 0, 0 };

	head_for(id, t, BS_RECORD_USAGE, &r);
	for (uint32_t c = 0; c < layout->n_cells; c++) {
		const struct bs_cell *cell = &t->cells[c];
		if (!cell->packets)
			continue;
		uint32_t tenant_idx = c / (layout->n_pools * 2u);
		uint32_t pool_idx = (c / 2u) % layout->n_pools;
		RTE_VERIFY(tenant_idx < id->tidx->count);
		RTE_VERIFY(bs_cell_index(layout, tenant_idx, pool_idx, (enum bs_direction)(c & 1u)) == c);
		r.head.seq = first_seq + n_usage;
		r.usage.tenant_id = id->tidx->tenant_id[tenant_idx];
		r.usage.pool_id = id->pool_id[pool_idx];
		r.usage.direction = (enum bs_direction)(c & 1u);
		r.usage.counts = (struct bs_counts){ cell->packets, cell->bytes };
		dir[r.usage.direction].packets += cell->packets;
		dir[r.usage.direction].bytes += cell->bytes;
		if (tenant_idx == 0) {
			unattributed.packets += cell->packets;
			unattributed.bytes += cell->bytes;
		}
		int rc = sink(arg, &r);
		if (rc != 0)
			return rc;
		n_usage++;
	}

	head_for(id, t, BS_RECORD_SUMMARY, &r);
	struct bs_summary *s = &r.summary;
	r.head.seq = first_seq + n_usage;
	s->record_count = n_usage;
	s->first_seq = n_usage ? first_seq : 0;
	s->dir[BS_DIR_IN] = dir[BS_DIR_IN];
	s->dir[BS_DIR_OUT] = dir[BS_DIR_OUT];
	s->unattributed = unattributed;
	s->malformed = (struct bs_counts){ t->malformed.packets, t->malformed.bytes };
	s->non_ip = (struct bs_counts){ t->non_ip.packets, t->non_ip.bytes };
	s->rx = (struct bs_counts){ t->rx.packets, t->rx.bytes };
	s->late = (struct bs_counts){ t->late.packets, t->late.bytes };
	memcpy(s->malformed_reason, t->malformed_reason, sizeof(s->malformed_reason));
	if (summary)
		*summary = r;
	return sink(arg, &r);
}

void bs_interval_forget(struct bs_interval_table *tab, struct bs_interval_totals *t,
			uint32_t interval_s)
{
	int64_t end = t->start + (int64_t)interval_s;
	memset(t->cells, 0, (size_t)tab->layout.n_cells * sizeof(struct bs_cell));
	struct bs_cell *cells = t->cells;
	memset(t, 0, sizeof(*t));
	t->cells = cells;
	if (end > tab->closed_upto)   /* workers read it: publish */
		__atomic_store_n(&tab->closed_upto, end, __ATOMIC_RELEASE);
}
