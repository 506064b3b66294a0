/*
 * config.h — bandsplit-settle's configuration (INI, see config/settle.conf).
 *
 * Sections: [settle] (consumer group, topics, batching, completeness,
 * retention, metrics), [postgres] (conninfo; empty = the PG* environment)
 * and [kafka] (brokers or the embedded cluster's bootstrap file; every
 * other key goes verbatim to librdkafka). Values are parsed strictly and an
 * error names the file, the line and the key.
 */
#ifndef BS_SETTLE_CONFIG_H
#define BS_SETTLE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka.h"

#define SETTLE_BATCH_MAX     100000   /* records per transaction */
#define SETTLE_GROUP_MAX     255
#define SETTLE_TOPIC_MAX     249
#define SETTLE_LANES_MAX     8

struct settle_config {
	char source[4096];               /* the file read, for messages */
	char group[SETTLE_GROUP_MAX + 1];
	char topic[SETTLE_TOPIC_MAX + 1];
	char dlq_topic[SETTLE_TOPIC_MAX + 1];
	uint32_t batch_records;          /* 1..SETTLE_BATCH_MAX */
	uint32_t batch_ms;               /* longest wait to fill a batch */
	uint32_t connections;            /* PostgreSQL connections ("lanes"): each
					    settles its own share of the
					    partitions, in parallel */
	uint32_t late_after_s;           /* interval end older than this: late */
	uint32_t max_future_s;           /* interval start later than now + this: refused */
	uint32_t raw_retention_days;     /* 0: keep raw partitions forever */
	uint32_t gap_check_s;            /* 0: no periodic completeness check */
	uint32_t gap_window_s;           /* the check covers now - window .. now */
	uint32_t retry_max_s;            /* backoff cap for PostgreSQL / Kafka */
	char metrics_listen[128];        /* "ADDR:PORT", "" = no endpoint */
	char conninfo[2048];             /* "" = PG* environment */
	/* per session of the consumer (SET at connect), milliseconds, 0 = off:
	 * a frozen instance cannot hold its batch's row locks for ever, and
	 * its successor does not wait for them for ever */
	uint32_t lock_timeout_ms;
	uint32_t statement_timeout_ms;
	uint32_t idle_in_transaction_timeout_ms;
	char brokers[2048];
	char bootstrap_file[4096];
	struct bs_kafka_props kafka;     /* other [kafka] keys */
};

void settle_config_defaults(struct settle_config *cfg);

/* Reads path over the defaults. Returns 0, or -1 with err
 * "path:line: [section] key: message". */
int settle_config_load(const char *path, struct settle_config *cfg,
		       char *err, size_t err_size);

/* Parses "key=value" given on the command line (--set section.key=value)
 * as if it were in the file. */
int settle_config_set(struct settle_config *cfg, const char *assignment,
		      char *err, size_t err_size);

/* The bootstrap servers: brokers, or the first line of bootstrap_file.
 * Returns 0 or -1 with err. */
int settle_config_brokers(const struct settle_config *cfg, char *out,
			  size_t out_size, char *err, size_t err_size);

void settle_config_free(struct settle_config *cfg);

#endif
