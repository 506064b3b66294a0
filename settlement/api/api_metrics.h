/*
 * api_metrics.h — bandsplit-api's Prometheus metrics: requests by route
 * (the template) and status, a latency histogram per route, the database
 * pool's idle and busy connections and the statement cache. The names are
 * the ones the Grafana dashboard reads:
 *   bandsplit_api_requests_total{route,status}
 *   bandsplit_api_request_duration_seconds{route} (histogram)
 *   bandsplit_api_db_pool_connections{state="idle|busy"}
 * Counters are relaxed atomics: observing never takes a lock.
 */
#ifndef BS_API_METRICS_H
#define BS_API_METRICS_H

#include "routes.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define API_LATENCY_BUCKETS 12
#define API_STATUS_SLOTS 14

struct api_metrics {
	atomic_uint_least64_t requests[R_COUNT + 1][API_STATUS_SLOTS];
	atomic_uint_least64_t latency_le[R_COUNT + 1][API_LATENCY_BUCKETS + 1];
	atomic_uint_least64_t latency_sum_us[R_COUNT + 1];
};

void api_metrics_observe(struct api_metrics *m, enum api_route r, int status,
			 uint64_t micros);

struct api_metrics_extra {
	unsigned pool_idle, pool_busy;
	unsigned queue_depth;       /* requests waiting for a database worker */
	uint64_t cache_hits, cache_misses;
	unsigned cache_entries;
};

/* Prometheus text into a malloc'd buffer (*len bytes); NULL if out of
 * memory. */
char *api_metrics_render(const struct api_metrics *m,
			 const struct api_metrics_extra *x, size_t *len);

#endif
