/*
 * telemetry.h — live figures through DPDK telemetry (dpdk-telemetry.py,
 * /bandsplit/stats). The control thread publishes a snapshot once a second;
 * the telemetry thread only reads it.
 */
#ifndef BS_TELEMETRY_H
#define BS_TELEMETRY_H

#include <stdint.h>

struct bs_telemetry_snapshot {
	uint64_t rx_packets, rx_bytes;
	uint64_t pps, bps;                  /* over the last second */
	uint64_t rx_missed;                 /* NIC drops (rte_eth_stats.imissed) */
	uint64_t unattributed_packets, malformed_packets, non_ip_packets;
	uint64_t intervals_closed, records_acked, records_pending, spool_depth;
	uint64_t delivery_errors, late_packets, worker_stalls;
	uint64_t map_version, map_v4_prefixes, map_v6_prefixes, map_reloads,
		 map_reload_failures;
	int64_t open_interval;
};

int bs_telemetry_register(void);
void bs_telemetry_publish(const struct bs_telemetry_snapshot *snap);

#endif
