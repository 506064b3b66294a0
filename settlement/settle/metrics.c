/*
 * metrics.c — Prometheus text exposition of bandsplit-settle's metrics over
 * HTTP (libmicrohttpd, internal polling thread). See metrics.h.
 */
#include "metrics.h"
#include "promtext.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define RENDER_MAX (256 * 1024)

const double metrics_latency_bounds_s[METRICS_LATENCY_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

void settle_metrics_init(struct settle_metrics *m)
{
	memset(m, 0, sizeof(*m));   /* all-zero is a valid state for atomics here */
}

void settle_metrics_observe_batch(struct settle_metrics *m, uint64_t micros)
{
	int i = 0;
	while (i < METRICS_LATENCY_BUCKETS &&
	       (double)micros / 1e6 > metrics_latency_bounds_s[i])
		i++;
	atomic_fetch_add_explicit(&m->latency_le[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->latency_sum_us, micros, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->batches, 1, memory_order_relaxed);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

size_t settle_metrics_render(const struct settle_metrics *m, const char *group,
			     char *buf, size_t size)
{
	struct bs_prom_out o = { buf, size, 0, false };
	if (size > 0)
		buf[0] = '\0';

	bs_prom_emit(&o, "# HELP bandsplit_settle_records_total Kafka messages settled, "
	     "by outcome.\n# TYPE bandsplit_settle_records_total counter\n");
	bs_prom_emit(&o, "bandsplit_settle_records_total{type=\"usage\",outcome=\"inserted\"} %"
	     PRIu64 "\n", (uint64_t)LOAD(m->usage_inserted));
	bs_prom_emit(&o, "bandsplit_settle_records_total{type=\"usage\",outcome=\"duplicate\"} %"
	     PRIu64 "\n", (uint64_t)LOAD(m->usage_duplicate));
	bs_prom_emit(&o, "bandsplit_settle_records_total{type=\"summary\",outcome=\"inserted\"} %"
	     PRIu64 "\n", (uint64_t)LOAD(m->summaries_inserted));
	bs_prom_emit(&o, "bandsplit_settle_records_total{type=\"summary\",outcome=\"duplicate\"} %"
	     PRIu64 "\n", (uint64_t)LOAD(m->summaries_duplicate));
	bs_prom_gauge(&o, "bandsplit_settle_records_per_second",
	      "Usage and summary records settled per second, recent average.",
	      (int64_t)LOAD(m->records_per_s));
	bs_prom_counter(&o, "bandsplit_settle_late_records_total",
		"Usage records settled long after their interval (flagged late).",
		LOAD(m->usage_late));

	bs_prom_emit(&o, "# HELP bandsplit_settle_rejects_total Messages refused (sent to "
	     "the DLQ and rejected_records), by reason.\n"
	     "# TYPE bandsplit_settle_rejects_total counter\n");
	for (int r = 0; r < SETTLE_R_COUNT; r++)
		bs_prom_emit(&o, "bandsplit_settle_rejects_total{reason=\"%s\"} %" PRIu64 "\n",
		     settle_reason_name((enum settle_reason)r),
		     (uint64_t)LOAD(m->rejects[r]));
	bs_prom_counter(&o, "bandsplit_settle_dlq_failures_total",
		"DLQ deliveries that failed (the outbox row is published later).",
		LOAD(m->dlq_failed));
	bs_prom_counter(&o, "bandsplit_settle_dlq_published_total",
		"Rejected records published to the DLQ from the outbox.",
		LOAD(m->dlq_published));

	bs_prom_counter(&o, "bandsplit_settle_batch_retries_total",
		"Batch transactions rolled back and retried.", LOAD(m->batch_retries));
	bs_prom_counter(&o, "bandsplit_settle_fenced_total",
		"Batches refused because another consumer moved a stored offset.",
		LOAD(m->fenced));
	bs_prom_counter(&o, "bandsplit_settle_db_reconnects_total",
		"Connections to PostgreSQL made after the first.",
		LOAD(m->db_reconnects));
	bs_prom_gauge(&o, "bandsplit_settle_db_up", "1 when connected to PostgreSQL.",
	      LOAD(m->db_up));

	bs_prom_emit(&o, "# HELP bandsplit_settle_batch_seconds Time from sending a batch "
	     "transaction to its commit.\n"
	     "# TYPE bandsplit_settle_batch_seconds histogram\n");
	uint64_t cum = 0;
	for (int i = 0; i <= METRICS_LATENCY_BUCKETS; i++) {
		cum += LOAD(m->latency_le[i]);
		if (i < METRICS_LATENCY_BUCKETS)
			bs_prom_emit(&o, "bandsplit_settle_batch_seconds_bucket{le=\"%g\"} %"
			     PRIu64 "\n", metrics_latency_bounds_s[i], cum);
		else
			bs_prom_emit(&o, "bandsplit_settle_batch_seconds_bucket{le=\"+Inf\"} %"
			     PRIu64 "\n", cum);
	}
	bs_prom_emit(&o, "bandsplit_settle_batch_seconds_sum %.6f\n"
	     "bandsplit_settle_batch_seconds_count %" PRIu64 "\n",
	     (double)LOAD(m->latency_sum_us) / 1e6, cum);

	bs_prom_emit(&o, "# HELP bandsplit_settle_consumer_lag Messages in Kafka after the "
	     "stored offset, per assigned partition.\n"
	     "# TYPE bandsplit_settle_consumer_lag gauge\n");
	for (int p = 0; p < METRICS_MAX_PARTITIONS; p++)
		if (LOAD(m->part_status[p]) != PART_UNASSIGNED)
			bs_prom_emit(&o, "bandsplit_settle_consumer_lag{group=\"%s\",partition=\"%d\"} %"
			     PRId64 "\n", group, p, (int64_t)LOAD(m->lag[p]));
	bs_prom_emit(&o, "# HELP bandsplit_settle_partition_stopped 1 for a partition "
	     "stopped because Kafka no longer holds the stored offset.\n"
	     "# TYPE bandsplit_settle_partition_stopped gauge\n");
	for (int p = 0; p < METRICS_MAX_PARTITIONS; p++)
		if (LOAD(m->part_status[p]) != PART_UNASSIGNED)
			bs_prom_emit(&o, "bandsplit_settle_partition_stopped{partition=\"%d\"} %d\n",
			     p, LOAD(m->part_status[p]) == PART_STOPPED);
	bs_prom_gauge(&o, "bandsplit_settle_alarm", "1 when a partition is stopped and "
	      "needs an operator.", LOAD(m->alarm));

	if (LOAD(m->park_known)) {
		bs_prom_emit(&o, "# HELP bandsplit_settle_pool_capacity_bytes_per_second "
		     "Purchased capacity of each pool in force (pool.capacity_bps / 8).\n"
		     "# TYPE bandsplit_settle_pool_capacity_bytes_per_second gauge\n");
		unsigned n = LOAD(m->n_pools);
		for (unsigned i = 0; i < n && i < METRICS_MAX_POOLS; i++)
			bs_prom_emit(&o, "bandsplit_settle_pool_capacity_bytes_per_second{pool=\"%u\"} %.3f\n",
			     (unsigned)LOAD(m->pool_id[i]),
			     (double)LOAD(m->pool_capacity_bps[i]) / 8.0);
		bs_prom_gauge(&o, "bandsplit_settle_prefix_map_exported_version",
		      "Newest prefix-map version exported ('bandsplit prefixes export'; "
		      "0: none); a meter on a lower one is stale.",
		      (int64_t)LOAD(m->map_version_exported));
	}

	if (LOAD(m->gaps_known)) {
		bs_prom_emit(&o, "# HELP bandsplit_settle_gaps Open completeness gaps (bandsplit "
		     "gaps lists them), by kind.\n# TYPE bandsplit_settle_gaps gauge\n");
		for (int k = 0; k < STORE_GAP_KINDS; k++)
			bs_prom_emit(&o, "bandsplit_settle_gaps{kind=\"%s\"} %" PRIu64 "\n",
			     store_gap_kinds[k], (uint64_t)LOAD(m->gaps_open[k]));
	}
	return o.len;
}

struct settle_metrics_server {
	struct MHD_Daemon *daemon;
	struct settle_metrics *m;
	char group[256];
	uint16_t port;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	(void)version; (void)upload_data; (void)upload_size; (void)req_cls;
	struct settle_metrics_server *srv = cls;
	struct MHD_Response *resp;
	unsigned status;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static const char msg[] = "only GET\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") != 0) {
		static const char msg[] = "not found: try /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else {
		char *buf = malloc(RENDER_MAX);
		if (buf == NULL)
			return MHD_NO;
		size_t len = settle_metrics_render(srv->m, srv->group, buf, RENDER_MAX);
		resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
		status = MHD_HTTP_OK;
		if (resp != NULL)
			MHD_add_response_header(resp, "Content-Type",
						"text/plain; version=0.0.4");
	}
	if (resp == NULL)
		return MHD_NO;
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

struct settle_metrics_server *settle_metrics_start(struct settle_metrics *m,
	const char *group, const char *listen, char *err, size_t err_size)
{
	char host[128];
	const char *colon = strrchr(listen, ':');
	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
		snprintf(err, err_size, "metrics_listen '%s': not ADDRESS:PORT", listen);
		return NULL;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	int port = atoi(colon + 1);

	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		snprintf(err, err_size, "metrics_listen '%s': '%s' is not an IPv4 "
			 "address", listen, host);
		return NULL;
	}
	struct settle_metrics_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		snprintf(err, err_size, "metrics: out of memory");
		return NULL;
	}
	srv->m = m;
	snprintf(srv->group, sizeof(srv->group), "%s", group);
	srv->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD,
		(uint16_t)port, NULL, NULL, answer, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		snprintf(err, err_size, "metrics_listen '%s': cannot listen "
			 "(address in use?)", listen);
		free(srv);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon,
		MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info != NULL ? info->port : (uint16_t)port;
	return srv;
}

uint16_t settle_metrics_port(const struct settle_metrics_server *srv)
{
	return srv->port;
}

void settle_metrics_stop(struct settle_metrics_server *srv)
{
	if (srv == NULL)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
