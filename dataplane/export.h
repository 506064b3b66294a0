/*
 * export.h — the control thread's side of metering: interval close, records,
 * spool, Kafka. The close itself (totals, records, summary) is close.c's;
 * this is its driver and the delivery.
 *
 * bs_exporter_collect() takes the banks the workers have closed, adds them
 * into per-interval totals, and closes every interval that no worker can
 * still count into: it turns the interval into one usage record per
 * (tenant, pool, direction) with traffic plus one node summary, writes them
 * to the spool as one segment (durably), and only then produces them to
 * Kafka. A segment leaves the spool when Kafka has acknowledged all of its
 * records. On start, segments left by an earlier run are produced again.
 */
#ifndef BS_EXPORT_H
#define BS_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "classify.h"
#include "config.h"
#include "counters.h"

struct bs_export_stats {
	uint64_t intervals_closed;
	uint64_t records_produced;      /* includes re-sends */
	uint64_t records_acked;
	uint64_t records_resent;        /* after a delivery error */
	uint64_t records_recovered;     /* from an earlier run's spool */
	uint64_t delivery_errors;
	uint64_t late_packets;          /* counted in a later interval */
	uint64_t segments_pending;
	uint64_t records_pending;       /* produced, not yet acknowledged */
	uint64_t spool_depth;
	uint64_t spool_errors;
	uint64_t rx_packets, rx_bytes, unattributed_packets, unattributed_bytes,
		 malformed_packets, non_ip_packets;
	/* for metrics, from the intervals closed so far */
	uint64_t malformed_reason[BS_RECORD_MAL_REASONS];
	int64_t last_interval_start;    /* newest interval closed; INT64_MIN: none */
	uint64_t last_pool_bytes[BS_MAX_POOLS][2];  /* its bytes per dense pool, direction */
	uint64_t pool_bytes[BS_MAX_POOLS][2];       /* all closed intervals' */
	int64_t oldest_segment_written;  /* Unix s the oldest pending segment was
					  * written (its file's age); 0: none */
};

struct bs_exporter;

struct bs_exporter *bs_exporter_open(const struct bs_meter_config *cfg,
				     const struct bs_counter_layout *layout,
				     const struct bs_tenant_index *tidx,
				     unsigned n_workers, char *err, size_t err_size);

/* Produces again every record of the segments an earlier run left. */
int bs_exporter_recover(struct bs_exporter *exp, char *err, size_t err_size);

/* Takes closed banks from the workers' counters and closes the intervals no
 * worker can still count into (all of them when `final`). Returns the
 * number of intervals closed, or -1 on a spool error (the interval stays
 * open and is retried on the next call). */
int bs_exporter_collect(struct bs_exporter *exp, struct bs_lcore_counters **ctrs,
			unsigned n_workers, bool final);

/* Serves Kafka delivery reports and re-sends failed records. */
void bs_exporter_poll(struct bs_exporter *exp, int timeout_ms);

/* The same, but first sends every queued record without waiting for
 * linger.ms (rd_kafka_flush); for the end of a run. */
void bs_exporter_drain(struct bs_exporter *exp, int timeout_ms);

/* Intervals before this are closed: workers never open a bank below it. */
const int64_t *bs_exporter_closed_upto(const struct bs_exporter *exp);

const char *bs_exporter_boot_id(const struct bs_exporter *exp);
void bs_exporter_stats(const struct bs_exporter *exp, struct bs_export_stats *st);
bool bs_exporter_fatal(const struct bs_exporter *exp);

/* Flushes and frees. Returns the records still unacknowledged (they stay in
 * the spool for the next run). */
uint64_t bs_exporter_close(struct bs_exporter *exp);

#endif
