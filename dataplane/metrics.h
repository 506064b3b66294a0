/*
 * metrics.h — bandsplit-meter's Prometheus endpoint: the text exposition
 * format at http://<metrics_listen>/metrics, served by libmicrohttpd on its
 * own thread. The figures are the ones DPDK telemetry shows
 * (/bandsplit/stats) plus the per-pool, per-reason and per-port detail: the
 * control loop publishes a snapshot once a second (bs_metrics_publish), the
 * HTTP thread only copies it out under a mutex no worker ever takes. Nothing
 * here runs on the per-packet path.
 */
#ifndef BS_METER_METRICS_H
#define BS_METER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "export.h"
#include "telemetry.h"

struct bs_metrics_snapshot {
	struct bs_telemetry_snapshot t;
	struct bs_export_stats e;
	uint64_t port_rx_missed[BS_MAX_PORTS];   /* rte_eth_stats.imissed, per cfg port */
	int64_t now;                             /* Unix s of the snapshot */
	char boot_id[40];
};

/* Renders the text format of snap (for the ports, pools and node of cfg)
 * into buf; returns the length. Output that does not fit is cut at a line
 * boundary. Pure. */
size_t bs_metrics_render(const struct bs_meter_config *cfg,
			 const struct bs_metrics_snapshot *snap, char *buf, size_t size);

/* Starts the endpoint on cfg->metrics_listen ("ADDR:PORT", IPv4; port 0 =
 * any free one). Returns 0 (and the port bound in *port) or -1 with err. */
int bs_metrics_start(const struct bs_meter_config *cfg, uint16_t *port,
		     char *err, size_t err_size);

/* Replaces the snapshot the endpoint serves (control thread). */
void bs_metrics_publish(const struct bs_metrics_snapshot *snap);

void bs_metrics_stop(void);

#endif
