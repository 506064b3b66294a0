/*
 * meter.h — the metering fast path: a burst of frames → per-lcore counters.
 *
 * bs_meter_burst() parses every frame (a frame of several segments by its
 * headers wherever they lie, counted with the length of the whole chain),
 * looks the tenant-side addresses up in
 * bulk, and adds each frame to the cell of (tenant, pool, direction) of the
 * bank of its interval. The worker loop (main.c) and the benchmark (bench/)
 * call the same function. It allocates nothing, takes no locks and does no
 * I/O; it waits only when its next bank is not yet free (backpressure from the
 * control thread, counted as a stall).
 *
 * Directions by port role: upstream → "in", tenant = destination;
 * downstream → "out", tenant = source; mirror → "in" for the destination's
 * tenant and "out" for the source's tenant when they match (a frame between
 * two tenants counts for both); when neither matches, once as unattributed
 * "in".
 */
#ifndef BS_METER_H
#define BS_METER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_mbuf.h>

#include "classify.h"
#include "config.h"
#include "counters.h"
#include "parse.h"

#define BS_MAX_BURST 256

/* A port as the fast path sees it: its role and pool of each outer VLAN. */
struct bs_meter_port {
	enum bs_port_role role;
	uint16_t port_id;
	bool sliced;          /* frames may be cut short: trust the IP length */
	uint16_t pool_of_vlan[BS_VLAN_COUNT];  /* dense pool index; [0] = untagged */
};

struct bs_meter {
	struct bs_lcore_counters *ctr;
	struct bs_counter_layout layout;
	enum bs_byte_measure measure;
	enum bs_clock clock;
	uint32_t interval_s;
	int ts_offset;                /* mbuf Rx-timestamp dynfield, -1 if none */
	uint64_t ts_to_ns;            /* its unit in ns */
	const int64_t *closed_upto;   /* control thread: intervals < this are out */
	uint64_t bank_start_ns;       /* open bank as [start, end) in ns */
	uint64_t bank_end_ns;
};

/* The headers of frame m for bs_parse_headers(): its first segment when
 * the frame is one segment or that segment holds every header; else
 * (headers may straddle segments) up to BS_PARSE_HDR_MAX bytes copied out
 * of the chain into buf. Sets *hdr_len; the frame's length is m->pkt_len. */
static __rte_noinline const uint8_t *bs_meter_chain_headers(const struct rte_mbuf *m,
							      uint8_t buf[BS_PARSE_HDR_MAX],
							      uint32_t *hdr_len)
{
	uint32_t len = RTE_MIN(m->pkt_len, BS_PARSE_HDR_MAX);
	*hdr_len = len;
	return rte_pktmbuf_read(m, 0, len, buf);
}

static inline const uint8_t *bs_meter_frame_headers(const struct rte_mbuf *m,
						    uint8_t buf[BS_PARSE_HDR_MAX],
						    uint32_t *hdr_len)
{
	uint32_t len = m->data_len;
	if (unlikely(len != m->pkt_len) && len < BS_PARSE_HDR_MAX)
		return bs_meter_chain_headers(m, buf, hdr_len);   /* out of line: rare */
	*hdr_len = len;
	return rte_pktmbuf_mtod(m, const uint8_t *);
}

/* Builds a port's VLAN → pool table from its configuration. */
void bs_meter_port_init(struct bs_meter_port *mport,
			const struct bs_meter_config *cfg,
			const struct bs_port_config *port, uint16_t port_id);

void bs_meter_init(struct bs_meter *meter, struct bs_lcore_counters *ctr,
		   const struct bs_counter_layout *layout,
		   const struct bs_meter_config *cfg, const int64_t *closed_upto);

/* Counts a burst. now_ns is the wall clock: the time of every frame in
 * system clock mode; in packet clock mode each frame's Rx timestamp is used
 * instead. */
void bs_meter_burst(struct bs_meter *meter, const struct bs_classifier *cls,
		    const struct bs_meter_port *mport, struct rte_mbuf **pkts,
		    uint16_t n, uint64_t now_ns);

/* System clock mode: closes the open bank once now_ns has left it (also
 * when no traffic comes). Opens the first bank if none is open. */
void bs_meter_tick(struct bs_meter *meter, const struct bs_classifier *cls,
		   uint64_t now_ns);

/* Closes the open bank (if any) and marks the worker finished. */
void bs_meter_finish(struct bs_meter *meter);

#endif
