/*
 * telemetry.c — the /bandsplit/stats telemetry command (see telemetry.h).
 * A seqlock-free design: the snapshot is copied under a mutex that only the
 * control thread and the telemetry thread take, never a worker.
 */
#include "telemetry.h"

#include <pthread.h>
#include <string.h>

#include <rte_telemetry.h>

static pthread_mutex_t snapshot_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bs_telemetry_snapshot snapshot;

void bs_telemetry_publish(const struct bs_telemetry_snapshot *snap)
{
	pthread_mutex_lock(&snapshot_lock);
	snapshot = *snap;
	pthread_mutex_unlock(&snapshot_lock);
}

static int stats_cmd(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	struct bs_telemetry_snapshot s;
	pthread_mutex_lock(&snapshot_lock);
	s = snapshot;
	pthread_mutex_unlock(&snapshot_lock);
	rte_tel_data_start_dict(d);
#define U(name) rte_tel_data_add_dict_u64(d, #name, s.name)
	U(rx_packets); U(rx_bytes); U(pps); U(bps); U(rx_missed);
	U(unattributed_packets); U(malformed_packets); U(non_ip_packets);
	U(intervals_closed); U(records_acked); U(records_pending); U(spool_depth);
	U(delivery_errors); U(late_packets); U(worker_stalls);
	U(map_version); U(map_v4_prefixes); U(map_v6_prefixes); U(map_reloads);
	U(map_reload_failures);
#undef U
	rte_tel_data_add_dict_int(d, "open_interval", (int)s.open_interval);
	return 0;
}

int bs_telemetry_register(void)
{
	return rte_telemetry_register_cmd("/bandsplit/stats", stats_cmd,
		"bandsplit-meter live figures: packets, bytes, unattributed, malformed, "
		"rx missed, records pending, spool depth. No parameters");
}
