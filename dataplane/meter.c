/*
 * meter.c — the metering fast path (see meter.h) and the worker's side of
 * the bank hand-over (see counters.h).
 */
#include "meter.h"

#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_mbuf_dyn.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include "parse.h"

#define BS_NS_PER_S UINT64_C(1000000000)
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 4   /* frames whose headers are fetched ahead of the parser */
#endif

void bs_meter_port_init(struct bs_meter_port *mport,
			const struct bs_meter_config *cfg,
			const struct bs_port_config *port, uint16_t port_id)
{
	int def = bs_config_pool_index(cfg, port->pool_id);
	RTE_VERIFY(def >= 0);
	mport->role = port->role;
	mport->port_id = port_id;
	mport->sliced = port->sliced;
	for (unsigned v = 0; v < BS_VLAN_COUNT; v++)
		mport->pool_of_vlan[v] = (uint16_t)def;
	for (unsigned i = 0; i < port->n_vlan_pools; i++) {
		int idx = bs_config_pool_index(cfg, port->vlan_pool_id[i]);
		RTE_VERIFY(idx >= 0);
		mport->pool_of_vlan[port->vlan_vid[i]] = (uint16_t)idx;
	}
}

void bs_meter_init(struct bs_meter *meter, struct bs_lcore_counters *ctr,
		   const struct bs_counter_layout *layout,
		   const struct bs_meter_config *cfg, const int64_t *closed_upto)
{
	memset(meter, 0, sizeof(*meter));
	meter->ctr = ctr;
	meter->layout = *layout;
	meter->measure = cfg->measure;
	meter->clock = cfg->clock;
	meter->interval_s = cfg->interval_s;
	meter->closed_upto = closed_upto;
	meter->ts_offset = -1;
	if (cfg->clock == BS_CLOCK_PACKET) {
		/* net_pcap fills this field although it advertises no offload. */
		meter->ts_offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
		meter->ts_to_ns = cfg->timestamp_unit_ns;
	}
}

/* Opens the bank after the current one for the interval holding ts_ns,
 * never for an interval the control thread has already closed. */
static void open_next_bank(struct bs_meter *meter, uint64_t ts_ns, uint64_t map_version)
{
	struct bs_lcore_counters *ctr = meter->ctr;
	struct bs_bank *bank = &ctr->bank[ctr->cur];
	if (bs_bank_state_load(bank) == BS_BANK_OPEN) {
		bs_bank_state_store(bank, BS_BANK_CLOSED);
		ctr->cur = (ctr->cur + 1) % BS_BANKS_PER_LCORE;
		bank = &ctr->bank[ctr->cur];
	}
	if (unlikely(bs_bank_state_load(bank) != BS_BANK_FREE)) {
		ctr->stalls++;
		while (bs_bank_state_load(bank) != BS_BANK_FREE)
			rte_pause();
	}
	int64_t start = (int64_t)(ts_ns / BS_NS_PER_S);
	start -= start % (int64_t)meter->interval_s;
	int64_t floor = __atomic_load_n(meter->closed_upto, __ATOMIC_ACQUIRE);
	if (start < floor)
		start = floor;
	bank->interval_start = start;
	bank->map_version = map_version;
	meter->bank_start_ns = (uint64_t)start * BS_NS_PER_S;
	meter->bank_end_ns = meter->bank_start_ns + (uint64_t)meter->interval_s * BS_NS_PER_S;
	bs_bank_state_store(bank, BS_BANK_OPEN);
	__atomic_store_n(&ctr->open_start, start, __ATOMIC_RELEASE);
}

/* The bank a frame stamped ts_ns counts in. Frames older than the open bank
 * (reordered capture, clock step) count in it, as late. */
static inline struct bs_bank *bank_for(struct bs_meter *meter, uint64_t ts_ns,
				       uint64_t map_version)
{
	struct bs_lcore_counters *ctr = meter->ctr;
	if (unlikely(ts_ns >= meter->bank_end_ns || meter->bank_end_ns == 0))
		open_next_bank(meter, ts_ns, map_version);
	return &ctr->bank[ctr->cur];
}

/* The frames received into one bank during a burst, kept in registers and
 * added to the bank (and to the worker's running total) once, when the
 * burst ends or the bank changes. Per-direction and unattributed totals are
 * not counted at all: they are sums of the cells (counters.h). */
static inline void flush_rx(struct bs_lcore_counters *ctr, struct bs_bank *bank,
			    struct bs_cell *rx)
{
	bank->rx.packets += rx->packets;
	bank->rx.bytes += rx->bytes;
	ctr->total_packets += rx->packets;
	ctr->total_bytes += rx->bytes;
	rx->packets = 0;
	rx->bytes = 0;
}

static inline void count(struct bs_bank *bank, const struct bs_counter_layout *layout,
			 uint32_t tenant_idx, uint32_t pool_idx,
			 enum bs_direction dir, uint32_t bytes)
{
	RTE_ASSERT(tenant_idx < layout->n_tenant_slots);
	struct bs_cell *cell = &bank->cells[bs_cell_index(layout, tenant_idx, pool_idx, dir)];
	cell->packets++;
	cell->bytes += bytes;
}

/* Where a frame's lookups went: positions in the v4/v6 lookup arrays. */
struct lookup_slots {
	uint16_t in;     /* tenant of the destination ("in") */
	uint16_t out;    /* tenant of the source ("out") */
};

#define NO_SLOT 0xffffu
#define V6_SLOT_BASE (2u * BS_MAX_BURST)

static inline uint32_t lookup_result(const uint64_t *idx4, const uint64_t *idx6,
				     uint16_t slot)
{
	RTE_ASSERT(slot != NO_SLOT);
	return (uint32_t)(slot >= V6_SLOT_BASE ? idx6[slot - V6_SLOT_BASE] : idx4[slot]);
}

/* The counting loop, specialised by the compiler for each port role and
 * clock (both constant at every call site). */
static inline __attribute__((always_inline)) void
count_frames(struct bs_meter *meter, uint64_t map_version,
	     const struct bs_meter_port *mport, struct rte_mbuf **pkts,
	     const struct bs_frame *frame, const struct lookup_slots *slot,
	     const uint64_t *idx, const uint64_t *idx6, uint16_t n,
	     uint64_t now_ns, const enum bs_port_role role, const int packet_clock)
{
	const struct bs_counter_layout *layout = &meter->layout;
	const int ip_measure = meter->measure == BS_MEASURE_IP;
	struct bs_cell rx = { 0, 0 };
	struct bs_bank *bank = NULL;
	uint64_t ts_ns = now_ns;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		const struct bs_frame *f = &frame[i];
		if (packet_clock)   /* net_pcap fills the field, not the flag */
			ts_ns = *RTE_MBUF_DYNFIELD(m, meter->ts_offset, const uint64_t *) * meter->ts_to_ns;
		if (unlikely(bank == NULL || ts_ns >= meter->bank_end_ns)) {
			if (bank)
				flush_rx(meter->ctr, bank, &rx);
			bank = bank_for(meter, ts_ns, map_version);
			if (bank->map_version < map_version)
				bank->map_version = map_version;
		}
		if (packet_clock && unlikely(ts_ns < meter->bank_start_ns)) {
			bank->late.packets++;
			bank->late.bytes += m->pkt_len;
		}
		rx.packets++;
		rx.bytes += m->pkt_len;

		if (unlikely(f->kind >= BS_FRAME_NON_IP)) {
			struct bs_cell *c = f->kind == BS_FRAME_NON_IP ? &bank->non_ip : &bank->malformed;
			c->packets++;
			c->bytes += m->pkt_len;
			if (f->kind == BS_FRAME_MALFORMED)
				bank->malformed_reason[f->reason & 7]++;
			continue;
		}
		const uint32_t bytes = ip_measure ? f->ip_len : m->pkt_len + f->missing;
		const uint32_t pool = mport->pool_of_vlan[f->vlan_outer];
		if (role == BS_ROLE_UPSTREAM) {
			count(bank, layout, lookup_result(idx, idx6, slot[i].in), pool, BS_DIR_IN, bytes);
		} else if (role == BS_ROLE_DOWNSTREAM) {
			count(bank, layout, lookup_result(idx, idx6, slot[i].out), pool, BS_DIR_OUT, bytes);
		} else {
			uint32_t t_in = lookup_result(idx, idx6, slot[i].in);
			uint32_t t_out = lookup_result(idx, idx6, slot[i].out);
			if (t_in)
				count(bank, layout, t_in, pool, BS_DIR_IN, bytes);
			if (t_out)
				count(bank, layout, t_out, pool, BS_DIR_OUT, bytes);
			if (!t_in && !t_out)
				count(bank, layout, 0, pool, BS_DIR_IN, bytes);
		}
	}
	if (bank)
		flush_rx(meter->ctr, bank, &rx);
}

void bs_meter_burst(struct bs_meter *meter, const struct bs_classifier *cls,
		    const struct bs_meter_port *mport, struct rte_mbuf **pkts,
		    uint16_t n, uint64_t now_ns)
{
	struct bs_frame frame[BS_MAX_BURST];
	struct lookup_slots slot[BS_MAX_BURST];
	uint32_t ip4[2 * BS_MAX_BURST];
	uint8_t ip6[2 * BS_MAX_BURST][16];
	uint64_t idx[2 * BS_MAX_BURST];   /* IPv4 lookup results */
	uint64_t idx6[2 * BS_MAX_BURST];  /* IPv6 lookup results */
	uint8_t chain_hdr[BS_PARSE_HDR_MAX];  /* headers of a multi-segment frame */
	unsigned n4 = 0, n6 = 0;
	const int want_in = mport->role != BS_ROLE_DOWNSTREAM;
	const int want_out = mport->role != BS_ROLE_UPSTREAM;
	const bool sliced = mport->sliced;

	RTE_ASSERT(n <= BS_MAX_BURST);

	/* 1. Parse, and queue the tenant-side addresses for lookup. The
	 *    burst's mbuf headers are fetched at once, each frame's first
	 *    line PREFETCH_AHEAD frames before the parser reaches it: when
	 *    the receive path left them cold, their misses overlap. */
	for (uint16_t i = 0; i < n; i++)
		rte_prefetch0(pkts[i]);
	for (uint16_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], const void *));
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + PREFETCH_AHEAD], const void *));
		struct bs_frame *f = &frame[i];
		/* chain_hdr is reused by the next frame: the addresses
		 * are copied out below. */
		uint32_t hdr_len;
		const uint8_t *hdr = bs_meter_frame_headers(m, chain_hdr, &hdr_len);
		RTE_ASSERT(hdr_len == m->pkt_len || hdr_len >= BS_PARSE_HDR_MAX);
		bs_parse_headers(hdr, hdr_len, m->pkt_len, sliced, f);
		slot[i].in = NO_SLOT;
		slot[i].out = NO_SLOT;
		if (f->kind == BS_FRAME_IPV4) {
			if (want_in) {
				slot[i].in = (uint16_t)n4;
				ip4[n4++] = f->dst4;
			}
			if (want_out) {
				slot[i].out = (uint16_t)n4;
				ip4[n4++] = f->src4;
			}
		} else if (f->kind == BS_FRAME_IPV6) {
			if (want_in) {
				slot[i].in = (uint16_t)(V6_SLOT_BASE + n6);
				memcpy(ip6[n6++], f->dst6, 16);
			}
			if (want_out) {
				slot[i].out = (uint16_t)(V6_SLOT_BASE + n6);
				memcpy(ip6[n6++], f->src6, 16);
			}
		}
	}

	/* 2. Longest-prefix match, in bulk. */
	if (n4)
		bs_classify_v4(cls, ip4, idx, n4);
	if (n6)
		bs_classify_v6(cls, ip6, idx6, n6);

	/* 3. Count each frame in the bank of its interval. */
	const int packet_clock = meter->ts_offset >= 0;
	const uint64_t v = cls->version;
	switch (mport->role) {
	case BS_ROLE_UPSTREAM:
		if (packet_clock)
			count_frames(meter, v, mport, pkts, frame, slot, idx, idx6, n, now_ns, BS_ROLE_UPSTREAM, 1);
		else
			count_frames(meter, v, mport, pkts, frame, slot, idx, idx6, n, now_ns, BS_ROLE_UPSTREAM, 0);
		break;
	case BS_ROLE_DOWNSTREAM:
		if (packet_clock)
			count_frames(meter, v, mport, pkts, frame, slot, idx, idx6, n, now_ns, BS_ROLE_DOWNSTREAM, 1);
		else
			count_frames(meter, v, mport, pkts, frame, slot, idx, idx6, n, now_ns, BS_ROLE_DOWNSTREAM, 0);
		break;
	default:
		count_frames(meter, v, mport, pkts, frame, slot, idx, idx6, n, now_ns, BS_ROLE_MIRROR, packet_clock);
		break;
	}
}

void bs_meter_tick(struct bs_meter *meter, const struct bs_classifier *cls,
		   uint64_t now_ns)
{
	if (meter->bank_end_ns == 0 || now_ns >= meter->bank_end_ns)
		open_next_bank(meter, now_ns, cls->version);
}

void bs_meter_finish(struct bs_meter *meter)
{
	struct bs_lcore_counters *ctr = meter->ctr;
	struct bs_bank *bank = &ctr->bank[ctr->cur];
	if (bs_bank_state_load(bank) == BS_BANK_OPEN)
		bs_bank_state_store(bank, BS_BANK_CLOSED);
	__atomic_store_n(&ctr->finished, 1, __ATOMIC_RELEASE);
}
