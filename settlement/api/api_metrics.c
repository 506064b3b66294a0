/*
 * api_metrics.c — bandsplit-api's Prometheus text exposition. See
 * api_metrics.h.
 */
#include "api_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const double bounds_s[API_LATENCY_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};
/* the statuses counted; the last slot counts any other */
static const int statuses[API_STATUS_SLOTS - 1] = {
	200, 304, 400, 401, 404, 405, 408, 413, 422, 429, 500, 502, 503,
};

static int status_slot(int status)
{
	for (int i = 0; i < API_STATUS_SLOTS - 1; i++)
		if (statuses[i] == status)
			return i;
	return API_STATUS_SLOTS - 1;
}

void api_metrics_observe(struct api_metrics *m, enum api_route r, int status,
			 uint64_t micros)
{
	int b = 0;
	while (b < API_LATENCY_BUCKETS && (double)micros / 1e6 > bounds_s[b])
		b++;
	atomic_fetch_add_explicit(&m->requests[r][status_slot(status)], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&m->latency_le[r][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->latency_sum_us[r], micros,
				  memory_order_relaxed);
}

#define LOAD(x) ((uint64_t)atomic_load_explicit(&(x), memory_order_relaxed))

char *api_metrics_render(const struct api_metrics *m,
			 const struct api_metrics_extra *x, size_t *len)
{
	char *buf = NULL;
	FILE *o = open_memstream(&buf, len);
	if (o == NULL)
		return NULL;
	fputs("# HELP bandsplit_api_requests_total HTTP requests answered, by "
	      "route (its template) and status.\n"
	      "# TYPE bandsplit_api_requests_total counter\n", o);
	for (int r = 0; r <= R_COUNT; r++)
		for (int s = 0; s < API_STATUS_SLOTS; s++) {
			uint64_t v = LOAD(m->requests[r][s]);
			if (v == 0 && !(s == 0 && r < R_COUNT))
				continue;
			if (s < API_STATUS_SLOTS - 1)
				fprintf(o, "bandsplit_api_requests_total{route=\"%s\","
					"status=\"%d\"} %" PRIu64 "\n",
					api_route_label((enum api_route)r), statuses[s], v);
			else
				fprintf(o, "bandsplit_api_requests_total{route=\"%s\","
					"status=\"other\"} %" PRIu64 "\n",
					api_route_label((enum api_route)r), v);
		}
	fputs("# HELP bandsplit_api_request_duration_seconds Time from a "
	      "request's arrival to its response, by route.\n"
	      "# TYPE bandsplit_api_request_duration_seconds histogram\n", o);
	for (int r = 0; r <= R_COUNT; r++) {
		const char *label = api_route_label((enum api_route)r);
		uint64_t cum = 0;
		for (int b = 0; b <= API_LATENCY_BUCKETS; b++) {
			cum += LOAD(m->latency_le[r][b]);
			if (b < API_LATENCY_BUCKETS)
				fprintf(o, "bandsplit_api_request_duration_seconds_bucket"
					"{route=\"%s\",le=\"%g\"} %" PRIu64 "\n",
					label, bounds_s[b], cum);
			else
				fprintf(o, "bandsplit_api_request_duration_seconds_bucket"
					"{route=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
					label, cum);
		}
		fprintf(o, "bandsplit_api_request_duration_seconds_sum{route=\"%s\"} "
			"%.6f\nbandsplit_api_request_duration_seconds_count"
			"{route=\"%s\"} %" PRIu64 "\n", label,
			(double)LOAD(m->latency_sum_us[r]) / 1e6, label, cum);
	}
	fprintf(o, "# HELP bandsplit_api_db_pool_connections PostgreSQL "
		"connections of the pool, by state.\n"
		"# TYPE bandsplit_api_db_pool_connections gauge\n"
		"bandsplit_api_db_pool_connections{state=\"idle\"} %u\n"
		"bandsplit_api_db_pool_connections{state=\"busy\"} %u\n",
		x->pool_idle, x->pool_busy);
	fprintf(o, "# HELP bandsplit_api_queue_depth Requests waiting for a "
		"database worker.\n"
		"# TYPE bandsplit_api_queue_depth gauge\n"
		"bandsplit_api_queue_depth %u\n", x->queue_depth);
	fprintf(o, "# HELP bandsplit_api_statement_cache_hits_total Closed "
		"statements served from the cache.\n"
		"# TYPE bandsplit_api_statement_cache_hits_total counter\n"
		"bandsplit_api_statement_cache_hits_total %" PRIu64 "\n"
		"# HELP bandsplit_api_statement_cache_misses_total Statement "
		"requests the cache did not hold.\n"
		"# TYPE bandsplit_api_statement_cache_misses_total counter\n"
		"bandsplit_api_statement_cache_misses_total %" PRIu64 "\n"
		"# HELP bandsplit_api_statement_cache_entries Statements held.\n"
		"# TYPE bandsplit_api_statement_cache_entries gauge\n"
		"bandsplit_api_statement_cache_entries %u\n",
		x->cache_hits, x->cache_misses, x->cache_entries);
	if (fclose(o) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
