/*
 * metrics.c — bandsplit-meter's Prometheus text exposition (see metrics.h).
 *
 * Names follow Prometheus conventions: base units (bytes, seconds), counters
 * end in _total, rates are bytes_per_second (not bits: the base unit), and
 * every family has # HELP and # TYPE lines. Series per pool carry pool="id"
 * and direction="in|out"; per port port="device name".
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "names.h"
#include "promtext.h"
#include "record.h"

#define RENDER_MAX (256 * 1024)

/* A label value with \, " and newline escaped as the text format wants. */
static void label_value(char *dst, size_t size, const char *src)
{
	size_t j = 0;
	for (size_t i = 0; src[i] != '\0' && j + 3 < size; i++) {
		char c = src[i];
		if (c == '\\' || c == '"') {
			dst[j++] = '\\';
			dst[j++] = c;
		} else if (c == '\n') {
			dst[j++] = '\\';
			dst[j++] = 'n';
		} else {
			dst[j++] = c;
		}
	}
	dst[j] = '\0';
}

static void render_pools(struct bs_prom_out *o, const struct bs_meter_config *cfg,
			 const struct bs_export_stats *e)
{
	bs_prom_family(o, "bandsplit_meter_pool_bytes_per_second", "gauge",
	       "Bytes per second per pool and direction over the last closed interval "
	       "(tenants and unattributed; the byte measure of the configuration).");
	if (e->last_interval_start != INT64_MIN)
		for (uint32_t p = 0; p < cfg->n_pools; p++)
			for (int d = 0; d < 2; d++)
				bs_prom_emit(o, "bandsplit_meter_pool_bytes_per_second{pool=\"%" PRIu32
				     "\",direction=\"%s\"} %.3f\n", cfg->pool_id[p],
				     bs_direction_name((enum bs_direction)d),
				     (double)e->last_pool_bytes[p][d] / (double)cfg->interval_s);
	bs_prom_family(o, "bandsplit_meter_pool_bytes_total", "counter",
	       "Bytes per pool and direction in the intervals closed since start.");
	for (uint32_t p = 0; p < cfg->n_pools; p++)
		for (int d = 0; d < 2; d++)
			bs_prom_emit(o, "bandsplit_meter_pool_bytes_total{pool=\"%" PRIu32
			     "\",direction=\"%s\"} %" PRIu64 "\n", cfg->pool_id[p],
			     bs_direction_name((enum bs_direction)d), e->pool_bytes[p][d]);
	if (e->last_interval_start != INT64_MIN)
		bs_prom_gauge(o, "bandsplit_meter_last_interval_start_timestamp_seconds",
		      "Start (Unix time) of the newest interval closed.",
		      e->last_interval_start);
	bs_prom_gauge(o, "bandsplit_meter_interval_seconds", "Length of an interval.",
	      (int64_t)cfg->interval_s);
}

static void render_packets(struct bs_prom_out *o, const struct bs_telemetry_snapshot *t,
			   const struct bs_export_stats *e)
{
	bs_prom_counter(o, "bandsplit_meter_received_packets_total",
		"Frames received on every port (all of them: attributed, "
		"unattributed, malformed, non-IP).", t->rx_packets);
	bs_prom_counter(o, "bandsplit_meter_received_bytes_total",
		"Bytes of the frames received, as received (pkt_len, whatever the "
		"byte measure).",
		t->rx_bytes);
	bs_prom_gauge(o, "bandsplit_meter_received_bytes_per_second",
	      "Bytes received over the last second (frames, as received).",
	      (int64_t)(t->bps / 8));
	bs_prom_counter(o, "bandsplit_meter_unattributed_packets_total",
		"Packets of no tenant, in the intervals closed.", e->unattributed_packets);
	bs_prom_counter(o, "bandsplit_meter_unattributed_bytes_total",
		"Bytes of no tenant, in the intervals closed.", e->unattributed_bytes);
	bs_prom_family(o, "bandsplit_meter_malformed_packets_total", "counter",
	       "Frames that failed parsing, by reason, in the intervals closed.");
	for (unsigned r = 0; r < BS_RECORD_MAL_REASONS; r++)
		bs_prom_emit(o, "bandsplit_meter_malformed_packets_total{reason=\"%s\"} %" PRIu64 "\n",
		     bs_record_malformed_reason_name(r), e->malformed_reason[r]);
	bs_prom_counter(o, "bandsplit_meter_non_ip_packets_total",
		"Well-formed frames of another EtherType (ARP, LLDP, ...).", t->non_ip_packets);
	bs_prom_counter(o, "bandsplit_meter_late_packets_total",
		"Packets counted in a later interval than their own (already closed).",
		t->late_packets);
	bs_prom_counter(o, "bandsplit_meter_worker_stalls_total",
		"Times a worker waited for the control thread to free a counter bank.",
		t->worker_stalls);
}

static void render_delivery(struct bs_prom_out *o, const struct bs_metrics_snapshot *s)
{
	const struct bs_telemetry_snapshot *t = &s->t;
	bs_prom_counter(o, "bandsplit_meter_intervals_closed_total", "Intervals closed.",
		t->intervals_closed);
	bs_prom_counter(o, "bandsplit_meter_records_acked_total",
		"Usage records and summaries acknowledged by Kafka.", t->records_acked);
	bs_prom_gauge(o, "bandsplit_meter_records_pending",
	      "Records produced and not yet acknowledged by Kafka.",
	      (int64_t)t->records_pending);
	bs_prom_counter(o, "bandsplit_meter_delivery_errors_total",
		"Kafka deliveries that failed (the record is re-sent).", t->delivery_errors);
	bs_prom_counter(o, "bandsplit_meter_spool_errors_total",
		"Spool writes or removals that failed.", s->e.spool_errors);
	bs_prom_gauge(o, "bandsplit_meter_spool_segments",
	      "Segments in the spool (intervals not yet fully acknowledged).",
	      (int64_t)t->spool_depth);
	int64_t age = s->e.oldest_segment_written > 0 && s->now > s->e.oldest_segment_written
		? s->now - s->e.oldest_segment_written : 0;
	bs_prom_gauge(o, "bandsplit_meter_spool_oldest_segment_age_seconds",
	      "Age of the oldest segment still waiting for Kafka (0: none).", age);
}

static void render_map(struct bs_prom_out *o, const struct bs_telemetry_snapshot *t)
{
	bs_prom_gauge(o, "bandsplit_meter_map_version", "Version of the prefix map in force.",
	      (int64_t)t->map_version);
	bs_prom_family(o, "bandsplit_meter_map_prefixes", "gauge",
	       "Prefixes in the map in force, by family.");
	bs_prom_emit(o, "bandsplit_meter_map_prefixes{family=\"ipv4\"} %" PRIu64 "\n"
	     "bandsplit_meter_map_prefixes{family=\"ipv6\"} %" PRIu64 "\n",
	     t->map_v4_prefixes, t->map_v6_prefixes);
	bs_prom_family(o, "bandsplit_meter_map_reloads_total", "counter",
	       "Prefix map reloads (SIGHUP), by result.");
	bs_prom_emit(o, "bandsplit_meter_map_reloads_total{result=\"ok\"} %" PRIu64 "\n"
	     "bandsplit_meter_map_reloads_total{result=\"failed\"} %" PRIu64 "\n",
	     t->map_reloads, t->map_reload_failures);
}

size_t bs_metrics_render(const struct bs_meter_config *cfg,
			 const struct bs_metrics_snapshot *snap, char *buf, size_t size)
{
	struct bs_prom_out o = { buf, size, 0, false };
	if (size > 0)
		buf[0] = '\0';
	char node[2 * BS_NODE_ID_MAX + 2], boot[2 * sizeof(snap->boot_id)];
	label_value(node, sizeof(node), cfg->node_id);
	label_value(boot, sizeof(boot), snap->boot_id);
	bs_prom_family(&o, "bandsplit_meter_info", "gauge",
	       "1, labelled with the node id, this run's boot id and the byte measure.");
	bs_prom_emit(&o, "bandsplit_meter_info{node_id=\"%s\",boot_id=\"%s\",byte_measure=\"%s\"} 1\n",
	     node, boot, bs_measure_name(cfg->measure));
	render_packets(&o, &snap->t, &snap->e);
	render_pools(&o, cfg, &snap->e);
	render_delivery(&o, snap);
	render_map(&o, &snap->t);
	bs_prom_family(&o, "bandsplit_meter_rx_missed_packets_total", "counter",
	       "Packets the NIC dropped for want of a receive descriptor "
	       "(rte_eth_stats.imissed), per port.");
	for (uint32_t p = 0; p < cfg->n_ports && p < BS_MAX_PORTS; p++) {
		char port[2 * sizeof(cfg->port[p].name)];
		label_value(port, sizeof(port), cfg->port[p].name);
		bs_prom_emit(&o, "bandsplit_meter_rx_missed_packets_total{port=\"%s\"} %" PRIu64 "\n",
		     port, snap->port_rx_missed[p]);
	}
	bs_prom_gauge(&o, "bandsplit_meter_snapshot_timestamp_seconds",
	      "When the control thread last published these figures (Unix time).",
	      snap->now);
	return o.len;
}

/* ---- the endpoint ------------------------------------------------------ */

static pthread_mutex_t snapshot_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bs_metrics_snapshot snapshot;
static const struct bs_meter_config *server_cfg;
static struct MHD_Daemon *daemon_handle;

void bs_metrics_publish(const struct bs_metrics_snapshot *snap)
{
	pthread_mutex_lock(&snapshot_lock);
	snapshot = *snap;
	pthread_mutex_unlock(&snapshot_lock);
}

static struct MHD_Response *static_response(const char *msg)
{
	return MHD_create_response_from_buffer(strlen(msg), (void *)(uintptr_t)msg,
					       MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	(void)cls; (void)version; (void)upload_data; (void)upload_size; (void)req_cls;
	struct MHD_Response *resp;
	unsigned status;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		resp = static_response("only GET\n");
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") != 0) {
		resp = static_response("not found: try /metrics\n");
		status = MHD_HTTP_NOT_FOUND;
	} else {
		struct bs_metrics_snapshot *s = malloc(sizeof(*s));
		char *buf = malloc(RENDER_MAX);
		if (s == NULL || buf == NULL) {
			free(s);
			free(buf);
			return MHD_NO;
		}
		pthread_mutex_lock(&snapshot_lock);
		*s = snapshot;
		pthread_mutex_unlock(&snapshot_lock);
		size_t len = bs_metrics_render(server_cfg, s, buf, RENDER_MAX);
		free(s);
		resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
		status = MHD_HTTP_OK;
		if (resp == NULL)
			free(buf);
		else
			MHD_add_response_header(resp, "Content-Type",
						"text/plain; version=0.0.4");
	}
	if (resp == NULL)
		return MHD_NO;
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

int bs_metrics_start(const struct bs_meter_config *cfg, uint16_t *port,
		     char *err, size_t err_size)
{
	const char *listen = cfg->metrics_listen;
	char host[64];
	const char *colon = strrchr(listen, ':');
	char *end = NULL;
	long p = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host) ||
	    end == colon + 1 || *end != '\0' || p < 0 || p > 65535) {
		snprintf(err, err_size, "metrics_listen '%s': not ADDRESS:PORT", listen);
		return -1;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)p);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		snprintf(err, err_size, "metrics_listen '%s': '%s' is not an IPv4 address",
			 listen, host);
		return -1;
	}
	server_cfg = cfg;
	daemon_handle = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)p,
		NULL, NULL, answer, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
		MHD_OPTION_END);
	if (daemon_handle == NULL) {
		snprintf(err, err_size, "metrics_listen '%s': cannot listen (address in use?)",
			 listen);
		return -1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_handle,
		MHD_DAEMON_INFO_BIND_PORT);
	*port = info != NULL ? info->port : (uint16_t)p;
	return 0;
}

void bs_metrics_stop(void)
{
	if (daemon_handle != NULL)
		MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
}
