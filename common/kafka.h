/*
 * kafka.h — one way to configure librdkafka for every bandsplit program.
 *
 * A program's config holds "brokers" and any number of librdkafka
 * properties (the [kafka] section: every key other than the bandsplit ones
 * is passed through verbatim). Errors name the property. Values of
 * properties that look secret (sasl.password, ssl.key.password, ...) are
 * never logged.
 */
#ifndef BS_KAFKA_H
#define BS_KAFKA_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

#define BS_TOPIC_USAGE "bandsplit.usage.v1"
#define BS_TOPIC_DLQ   "bandsplit.usage.dlq"
#define BS_KAFKA_MAX_PROPS 64

struct bs_kafka_props {
	size_t count;
	char *key[BS_KAFKA_MAX_PROPS];
	char *value[BS_KAFKA_MAX_PROPS];
};

/* Adds (copies) one property; replaces an earlier value of the same key.
 * Returns 0, or -1 when the table is full (err says so). */
int bs_kafka_props_set(struct bs_kafka_props *props, const char *key,
		       const char *value, char *err, size_t err_size);
void bs_kafka_props_free(struct bs_kafka_props *props);

/* Builds an rd_kafka_conf_t with bootstrap.servers = brokers and props
 * applied on top; returns NULL with err naming the property on failure. */
rd_kafka_conf_t *bs_kafka_conf_new(const char *brokers,
				   const struct bs_kafka_props *props,
				   char *err, size_t err_size);

/* Routes librdkafka's own log lines into bs_log. */
void bs_kafka_conf_use_bs_log(rd_kafka_conf_t *conf);

/* Polls the cluster's metadata until topic exists with at least one
 * partition. Returns 0, or -1 with err after timeout_ms. Never creates it. */
int bs_kafka_wait_topic(rd_kafka_t *rk, const char *topic, int timeout_ms,
			char *err, size_t err_size);

/* librdkafka's mock brokers (the embedded Kafka) do not set TCP_NODELAY,
 * as real brokers do: without it a small response written behind an
 * unacked one waits for the client's delayed ACK (40 ms on Linux). Sets it
 * on every socket of this process whose local port is one of the cluster's
 * brokers: their listening sockets, which Linux hands the option down to
 * the connections they accept, and the connections accepted already.
 * Returns the listening sockets set. */
struct rd_kafka_mock_cluster_s;
int bs_kafka_mock_nodelay(struct rd_kafka_mock_cluster_s *mcluster);

#endif
