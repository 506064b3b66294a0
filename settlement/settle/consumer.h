/*
 * consumer.h — bandsplit-settle's main loop: a Kafka consumer group member
 * on the usage topic whose position of record is PostgreSQL's
 * kafka_offsets, settling one batch per transaction (store.h).
 */
#ifndef BS_SETTLE_CONSUMER_H
#define BS_SETTLE_CONSUMER_H

#include <signal.h>
#include <stdbool.h>

#include "config.h"
#include "metrics.h"

struct settle_options {
	const char *sql_dir;
	bool drain;                    /* exit once every assigned partition is
					  settled up to its end */
	const char *stats_path;        /* write a JSON summary there at exit */
	volatile sig_atomic_t *stop;   /* set by SIGTERM / SIGINT */
};

/* Runs until *stop (or, with drain, until caught up). Returns the exit
 * code: 0 ok, 1 refused (schema mismatch; or drain ended with a stopped
 * partition), 3 failure. */
int settle_run(const struct settle_config *cfg, struct settle_metrics *m,
	       const struct settle_options *opt);

#endif
