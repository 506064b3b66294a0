/*
 * metrics.h — bandsplit-settle's Prometheus metrics: counters and gauges the
 * consumer thread updates with relaxed atomics, rendered as the text
 * exposition format by an HTTP endpoint (libmicrohttpd, its own thread) at
 * /metrics.
 */
#ifndef BS_SETTLE_METRICS_H
#define BS_SETTLE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "validate.h"

#define METRICS_MAX_PARTITIONS 1024   /* partitions shown (ids 0..1023) */
#define METRICS_LATENCY_BUCKETS 12
#define METRICS_MAX_POOLS 256         /* pools shown (by pool id) */

enum part_status { PART_UNASSIGNED = 0, PART_ACTIVE = 1, PART_STOPPED = 2 };

struct settle_metrics {
	atomic_uint_fast64_t usage_inserted, usage_duplicate, usage_late;
	atomic_uint_fast64_t summaries_inserted, summaries_duplicate;
	atomic_uint_fast64_t rejects[SETTLE_R_COUNT];
	atomic_uint_fast64_t dlq_failed;
	atomic_uint_fast64_t dlq_published;
	atomic_uint_fast64_t batches, batch_retries, fenced, db_reconnects;
	atomic_uint_fast64_t latency_le[METRICS_LATENCY_BUCKETS + 1]; /* +Inf last */
	atomic_uint_fast64_t latency_sum_us;
	atomic_uint_fast64_t records_per_s;      /* over the last few seconds */
	atomic_int_fast64_t lag[METRICS_MAX_PARTITIONS];
	atomic_int part_status[METRICS_MAX_PARTITIONS];
	atomic_uint_fast64_t gaps_open[STORE_GAP_KINDS];
	atomic_int gaps_known;     /* a completeness check has run */
	atomic_int db_up;
	atomic_int alarm;          /* a partition stopped: operator needed */
	/* the park (obs), refreshed every minute from the database */
	atomic_int park_known;
	atomic_uint n_pools;
	atomic_uint pool_id[METRICS_MAX_POOLS];
	atomic_int_fast64_t pool_capacity_bps[METRICS_MAX_POOLS];
	atomic_int_fast64_t map_version_exported;
};

extern const double metrics_latency_bounds_s[METRICS_LATENCY_BUCKETS];

void settle_metrics_init(struct settle_metrics *m);
void settle_metrics_observe_batch(struct settle_metrics *m, uint64_t micros);

/* Renders the text format into buf; returns the length (truncated output
 * ends at a line boundary if buf is too small). Pure. */
size_t settle_metrics_render(const struct settle_metrics *m, const char *group,
			     char *buf, size_t size);

struct settle_metrics_server;
/* listen "ADDR:PORT" (PORT 0: any free port). Returns NULL with err. */
struct settle_metrics_server *settle_metrics_start(struct settle_metrics *m,
	const char *group, const char *listen, char *err, size_t err_size);
uint16_t settle_metrics_port(const struct settle_metrics_server *srv);
void settle_metrics_stop(struct settle_metrics_server *srv);

#endif
