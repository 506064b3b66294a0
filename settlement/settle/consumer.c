/*
 * consumer.c — the loop of bandsplit-settle: collect a batch from Kafka,
 * settle it in one PostgreSQL transaction, repeat. See consumer.h.
 *
 * Positions. PostgreSQL's kafka_offsets is the truth: on assignment and
 * after any failed batch ("resync") every partition is sought to the stored
 * next offset (or, when nothing was ever settled, to the earliest offset
 * Kafka holds), and each batch advances the stored offsets by
 * compare-and-set in the same transaction as its rows. Kafka's committed
 * offsets are never used.
 *
 * Lanes. The assigned partitions are shared among `connections` lanes
 * (partition % lanes), each with its own PostgreSQL connection, two
 * batches and a thread: the lane's thread settles the batch in flight
 * (store.c, blocking) while this thread decodes the next messages into the
 * other batch, and the other lanes' transactions run too. A lane has at
 * most one batch in flight; the next one is sent after the previous one's
 * outcome is known, with the offsets it stored as the expected ones. The
 * lane's connection is used by this thread only while nothing is in
 * flight (partitions, offsets, housekeeping).
 *
 * Failures. A batch that fails is rolled back whole and read again from
 * Kafka after a resync: connection loss / server restart (retried with
 * backoff, partitions paused meanwhile), a moved offset (another
 * instance), a DLQ delivery failure. When PostgreSQL refuses the data
 * itself (a constraint), the batch's messages are read again one per
 * transaction ("careful" offsets) and the one refused is remembered
 * ("poison") and rejected with reason db_refused when it is read again:
 * bad input never stalls the consumer.
 *
 * Kafka no longer holding the stored offset (retention overran a stopped
 * consumer) stops that partition with an error and the alarm metric; it is
 * never skipped.
 */
#include "consumer.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <librdkafka/rdkafka.h>

#include "batch.h"
#include "kafka.h"
#include "log.h"
#include "notify.h"
#include "store.h"
#include "validate.h"

#define CONSUME_CHUNK      1024      /* messages per rd_kafka_consume_batch_queue */
#define KAFKA_QUERY_MS     5000      /* watermark queries, seeks */
#define DLQ_FLUSH_STEP_MS  500
#define RETENTION_EVERY_S  3600
#define ERR_MAX            1024
#define WATERMARK_CONFIRMATIONS 4     /* answers before a partition stops */
#define POISON_MAX         64        /* messages PostgreSQL refused, remembered */
#define IDLE_WAIT_MS       100
#define DLQ_ROUND          256       /* outbox rows published per round */
#define DLQ_RECHECK_S      60        /* the outbox looked at anyway */
#define DLQ_MESSAGE_TIMEOUT "30000"  /* DLQ producer's message.timeout.ms */

struct part {
	bool assigned;
	bool stopped;              /* never fetched again by this process */
	int64_t db_next;           /* stored next_offset, STORE_OFFSET_NONE = NULL */
	int64_t settled_to;        /* db_next, or where it started when NULL */
	int64_t fetch_next;        /* next offset expected from Kafka */
	int64_t careful_until;     /* offsets <= this: one per transaction */
	bool eof;
};

/* What a lane's batch in flight needs once its outcome is known. */
struct flight {
	uint32_t nparts;
	int32_t partition[SETTLE_BATCH_MAX_PARTS];
	int64_t next[SETTLE_BATCH_MAX_PARTS];   /* last offset + 1 */
	uint32_t messages, usage_count, summary_count;
	uint64_t rejects[SETTLE_R_COUNT];
	bool single;                              /* one careful message */
	int32_t single_partition;
	int64_t single_offset;
	double t0;
};

/* A lane's thread: idle, settling the batch in flight, done with it. */
enum lane_work { WORK_IDLE, WORK_BUSY, WORK_DONE, WORK_EXIT };

struct lane {
	struct settle_store *store;        /* the thread's while busy */
	struct settle_batch *batch;        /* being collected */
	struct settle_batch *flying;       /* in flight: the thread's */
	double opened_t;                   /* its first message */
	bool in_flight;
	struct flight flight;
	int64_t expected[SETTLE_BATCH_MAX_PARTS];
	uint64_t batch_rejects[SETTLE_R_COUNT];
	/* the thread, and what it hands back (under mu) */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum lane_work work;
	enum store_rc rc;
	struct store_result result;
	char err[ERR_MAX];
};

/* One DLQ message of a publishing round: its delivery report. */
enum ack_state { ACK_WAITING, ACK_STORED, ACK_FAILED };
struct dlq_ack {
	enum ack_state state;
	int32_t partition;
	int64_t offset;
};

struct poison {
	int32_t partition;
	int64_t offset;
	char error[256];
};

struct consumer {
	const struct settle_config *cfg;
	const struct settle_options *opt;
	struct settle_metrics *m;
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;
	rd_kafka_t *dlq;
	struct lane lanes[SETTLE_LANES_MAX];
	uint32_t nlanes;
	struct part *parts;                    /* [SETTLE_PARTITION_MAX + 1] */
	int32_t *assigned;                     /* ids, nassigned of them */
	size_t nassigned;
	int32_t *pos_ids;                      /* position()'s, [SETTLE_PARTITION_MAX + 1] */
	int64_t *pos_next;
	bool resync_needed;
	bool assign_pending;                   /* rd_kafka_assign failed: resync assigns */
	bool connected_once;
	bool eof_seen;                         /* a partition reached its end */
	int fatal;                             /* exit code if != 0 */
	/* messages consumed but not yet added */
	rd_kafka_message_t *pending[CONSUME_CHUNK];
	size_t npending, pending_pos;
	struct poison poison[POISON_MAX];
	size_t npoison;
	struct settle_limits limits;
	int64_t horizon;
	uint64_t dlq_failures;                 /* delivery reports since flush */
	bool dlq_due;                          /* the outbox may hold rows to publish */
	double dlq_next_t;                     /* not before (after a failure) */
	unsigned dlq_backoff_ms;
	rd_kafka_t *dlq_reader;                /* looks for handed-over rows */
	int32_t dlq_nparts;                    /* partitions of the DLQ topic */
	struct dlq_ack dlq_acks[DLQ_ROUND];
	int32_t dlq_to[DLQ_ROUND];             /* each row's DLQ partition */
	int64_t dlq_ids[DLQ_ROUND];
	int32_t dlq_parts[DLQ_ROUND];
	int64_t dlq_offs[DLQ_ROUND];
	unsigned backoff_ms;
	/* statistics */
	uint64_t settled_records;              /* usage + summaries + rejects */
	uint64_t rate_mark_records;
	double rate_mark_t, next_tick_t, next_gaps_t, next_retention_t;
	double next_park_t;          /* obs: pool capacities for the metrics */
	double first_message_t, last_commit_t;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool stopping(const struct consumer *c)
{
	return *c->opt->stop || c->fatal != 0;
}

static void set_status(struct consumer *c, int32_t p, enum part_status st)
{
	if (p >= 0 && p < METRICS_MAX_PARTITIONS)
		atomic_store_explicit(&c->m->part_status[p], (int)st,
				      memory_order_relaxed);
}

/* ---- Kafka handles ---------------------------------------------------- */

static void dlq_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg,
			 void *opaque)
{
	(void)rk;
	struct consumer *c = opaque;
	struct dlq_ack *ack = msg->_private;
	if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		c->dlq_failures++;
		atomic_fetch_add(&c->m->dlq_failed, 1);
		BS_ERROR("DLQ %s: delivery failed: %s", c->cfg->dlq_topic,
			 rd_kafka_err2str(msg->err));
		if (ack != NULL)
			ack->state = ACK_FAILED;
		return;
	}
	if (ack != NULL) {
		ack->state = ACK_STORED;
		ack->partition = msg->partition;
		ack->offset = msg->offset;
	}
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *list, void *opaque);

/* Consumer-only librdkafka properties, left out of the DLQ producer's
 * configuration (librdkafka would warn about each). */
static bool consumer_only(const char *key)
{
	static const char *const keys[] = {
		"session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms",
		"group.instance.id", "group.protocol.type", "partition.assignment.strategy",
		"coordinator.query.interval.ms", "auto.commit.interval.ms",
		"queued.min.messages", "queued.max.messages.kbytes", "fetch.",
		"check.crcs", "isolation.level", "allow.auto.create.topics",
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t n = strlen(keys[i]);
		if (keys[i][n - 1] == '.' ? strncmp(key, keys[i], n) == 0
					  : strcmp(key, keys[i]) == 0)
			return true;
	}
	return false;
}

static rd_kafka_conf_t *base_conf(const struct settle_config *cfg, bool producer,
				  char *err, size_t err_size)
{
	char brokers[2048];
	if (settle_config_brokers(cfg, brokers, sizeof(brokers), err, err_size) < 0)
		return NULL;
	struct bs_kafka_props props = { 0 };
	for (size_t i = 0; i < cfg->kafka.count; i++) {
		if (producer && consumer_only(cfg->kafka.key[i]))
			continue;
		props.key[props.count] = cfg->kafka.key[i];   /* borrowed */
		props.value[props.count++] = cfg->kafka.value[i];
	}
	rd_kafka_conf_t *conf = bs_kafka_conf_new(brokers, &props, err, err_size);
	if (conf != NULL)
		bs_kafka_conf_use_bs_log(conf);
	return conf;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
		    char *err, size_t err_size)
{
	char why[256];
	if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
		snprintf(err, err_size, "kafka property '%s': %s", key, why);
		return -1;
	}
	return 0;
}

static int open_kafka(struct consumer *c, char *err, size_t err_size)
{
	char why[512];
	rd_kafka_conf_t *conf = base_conf(c->cfg, false, err, err_size);
	if (conf == NULL)
		return -1;
	if (conf_set(conf, "group.id", c->cfg->group, err, err_size) < 0 ||
	    conf_set(conf, "enable.auto.commit", "false", err, err_size) < 0 ||
	    conf_set(conf, "enable.auto.offset.store", "false", err, err_size) < 0 ||
	    conf_set(conf, "auto.offset.reset", "error", err, err_size) < 0 ||
	    conf_set(conf, "enable.partition.eof", "true", err, err_size) < 0) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	char strategy[256];
	size_t sz = sizeof(strategy);
	if (rd_kafka_conf_get(conf, "partition.assignment.strategy", strategy,
			      &sz) == RD_KAFKA_CONF_OK &&
	    strstr(strategy, "cooperative") != NULL) {
		snprintf(err, err_size, "kafka property 'partition.assignment."
			 "strategy': %s is not supported (eager strategies only: "
			 "range, roundrobin)", strategy);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	/* A deep prefetch queue: the consumer's batches are large, and with the
	 * defaults (100000 messages, 64 MiB) the fetchers idle between them;
	 * 1,000,000 usage messages take about 250 MiB. */
	static const char *const deep[][2] = {
		{ "queued.min.messages", "1000000" },
		{ "queued.max.messages.kbytes", "262144" },
	};
	for (size_t k = 0; k < sizeof(deep) / sizeof(deep[0]); k++) {
		bool user_set = false;
		for (size_t i = 0; i < c->cfg->kafka.count; i++)
			user_set = user_set || strcmp(c->cfg->kafka.key[i], deep[k][0]) == 0;
		if (!user_set && conf_set(conf, deep[k][0], deep[k][1], err,
					  err_size) < 0) {
			rd_kafka_conf_destroy(conf);
			return -1;
		}
	}
	rd_kafka_conf_set_rebalance_cb(conf, rebalance);
	rd_kafka_conf_set_opaque(conf, c);
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	if (c->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, err_size, "kafka consumer: %s", why);
		return -1;
	}
	rd_kafka_poll_set_consumer(c->rk);
	c->queue = rd_kafka_queue_get_consumer(c->rk);

	conf = base_conf(c->cfg, true, err, err_size);
	if (conf == NULL)
		return -1;
	bool timeout_set = false;
	for (size_t i = 0; i < c->cfg->kafka.count; i++)
		timeout_set = timeout_set ||
			strcmp(c->cfg->kafka.key[i], "message.timeout.ms") == 0;
	if (conf_set(conf, "acks", "all", err, err_size) < 0 ||
	    conf_set(conf, "enable.idempotence", "true", err, err_size) < 0 ||
	    (!timeout_set && conf_set(conf, "message.timeout.ms",
				      DLQ_MESSAGE_TIMEOUT, err, err_size) < 0)) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dlq_delivery);
	rd_kafka_conf_set_opaque(conf, c);
	c->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (c->dlq == NULL) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, err_size, "kafka DLQ producer: %s", why);
		return -1;
	}

	rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, c->cfg->topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, err_size, "kafka subscribe %s: %s", c->cfg->topic,
			 rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

/* ---- positions -------------------------------------------------------- */

static void finish_all(struct consumer *c);

static void reset_lane_batch(struct lane *l)
{
	settle_batch_reset(l->batch);
	memset(l->batch_rejects, 0, sizeof(l->batch_rejects));
	l->opened_t = 0;
}

/* Forgets what was consumed and not sent: it is read again after the next
 * positioning. */
static void drop_pending(struct consumer *c)
{
	for (size_t i = c->pending_pos; i < c->npending; i++)
		rd_kafka_message_destroy(c->pending[i]);
	c->npending = c->pending_pos = 0;
	for (uint32_t i = 0; i < c->nlanes; i++)
		reset_lane_batch(&c->lanes[i]);
}

static void stop_partition(struct consumer *c, int32_t p, const char *why)
{
	struct part *pt = &c->parts[p];
	if (pt->stopped)
		return;
	pt->stopped = true;
	set_status(c, p, PART_STOPPED);
	atomic_store(&c->m->alarm, 1);
	BS_ERROR("ALARM %s [%" PRId32 "]: %s. This partition is STOPPED: nothing "
		 "after the stored offset is settled or skipped until an operator "
		 "decides (restore the data, or move kafka_offsets.next_offset "
		 "for group %s on purpose) and restarts bandsplit-settle.",
		 c->cfg->topic, p, why, c->cfg->group);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, c->cfg->topic, p);
	rd_kafka_pause_partitions(c->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
}

static void backoff(struct consumer *c)
{
	unsigned cap = c->cfg->retry_max_s * 1000;
	c->backoff_ms = c->backoff_ms == 0 ? 100 : c->backoff_ms * 2;
	if (c->backoff_ms > cap)
		c->backoff_ms = cap;
	/* keep serving the group (rebalances) while waiting; partitions are
	 * paused, and anything still delivered is read again after resync */
	double until = now_s() + c->backoff_ms / 1000.0;
	while (!stopping(c) && now_s() < until) {
		rd_kafka_message_t *msgs[64];
		ssize_t n = rd_kafka_consume_batch_queue(c->queue, 100, msgs, 64);
		for (ssize_t i = 0; i < n; i++)
			rd_kafka_message_destroy(msgs[i]);
	}
}

/* After a lock timeout (SQLSTATE 55P03 in err): the lock may be held by
 * a frozen instance no server timeout ends (store.c); end it. */
static void after_lock_timeout(struct consumer *c, struct settle_store *st,
			       const char *err)
{
	if (strstr(err, "SQLSTATE 55P03") == NULL || !settle_store_connected(st))
		return;
	char why[ERR_MAX];
	int n = settle_store_end_frozen(st, why, sizeof(why));
	if (n > 0)
		BS_WARN("ended %d frozen bandsplit-settle session(s) (in a transaction, "
			"unchanged for longer than statement_timeout) holding the "
			"locks this instance waited for", n);
	else if (n < 0)
		BS_WARN("%s", why);
	(void)c;
}

/* Connects every lane that is not connected. */
static int ensure_connected(struct consumer *c, char *err, size_t err_size)
{
	bool connected = false;
	for (uint32_t i = 0; i < c->nlanes; i++) {
		struct settle_store *st = c->lanes[i].store;
		if (settle_store_connected(st))
			continue;
		atomic_store(&c->m->db_up, 0);
		assert(!c->lanes[i].in_flight);   /* finished before any reconnect */
		int rc = settle_store_connect(st, !c->connected_once, err, err_size);
		if (rc == -2) {
			BS_ERROR("%s", err);
			c->fatal = 1;
			return -1;
		}
		if (rc < 0)
			return -1;
		if (c->connected_once)
			atomic_fetch_add(&c->m->db_reconnects, 1);
		c->connected_once = true;
		connected = true;
	}
	atomic_store(&c->m->db_up, 1);
	if (connected) {
		if (settle_store_horizon(c->lanes[0].store, &c->horizon, err,
					 err_size) != STORE_OK)
			return -1;
		BS_INFO("connected to PostgreSQL (%u connection(s))", c->nlanes);
	}
	return 0;
}

/* Kafka's earliest and next offsets of partition p. A stored offset
 * outside them stops the partition, so such an answer is asked again a few
 * times before it is believed (a broker answering with an error must not
 * stop a partition). Returns 0, or -1 with err (retry later). */
static int watermarks(struct consumer *c, int32_t p, int64_t stored,
		      int64_t *lo, int64_t *hi, char *err, size_t err_size)
{
	for (int attempt = 0; attempt < WATERMARK_CONFIRMATIONS; attempt++) {
		if (attempt > 0)
			sleep_ms(500);
		rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c->rk,
			c->cfg->topic, p, lo, hi, KAFKA_QUERY_MS);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(err, err_size, "kafka %s [%" PRId32 "]: watermarks: %s",
				 c->cfg->topic, p, rd_kafka_err2str(e));
			return -1;
		}
		if (stored == STORE_OFFSET_NONE || (stored >= *lo && stored <= *hi))
			return 0;
		BS_WARN("kafka %s [%" PRId32 "]: holds %" PRId64 "..%" PRId64 ", "
			"PostgreSQL expects %" PRId64 " next; asking again",
			c->cfg->topic, p, *lo, *hi, stored);
	}
	return 0;
}

/* Sets list's offsets from PostgreSQL (and, for partitions never settled,
 * Kafka's earliest offset); stops the partitions whose stored offset Kafka
 * no longer holds. Returns 0, or -1 (retry later) with err. */
static int position(struct consumer *c, rd_kafka_topic_partition_list_t *list,
		    char *err, size_t err_size)
{
	if (ensure_connected(c, err, err_size) < 0)
		return -1;
	/* every partition of the list (Kafka allows far more than a batch
	 * touches), read from PostgreSQL in one statement */
	size_t n = (size_t)list->cnt;
	for (size_t i = 0; i < n; i++)
		c->pos_ids[i] = list->elems[i].partition;
	int64_t *next = c->pos_next;
	if (settle_store_load_offsets(c->lanes[0].store, c->pos_ids, n, next, err,
				      err_size) != STORE_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int32_t p = c->pos_ids[i];
		int64_t lo = -1, hi = -1;
		if (watermarks(c, p, next[i], &lo, &hi, err, err_size) < 0)
			return -1;
		struct part *pt = &c->parts[p];
		pt->db_next = next[i];
		int64_t start = next[i] == STORE_OFFSET_NONE ? lo : next[i];
		if (start < lo || start > hi) {
			char why[256];
			snprintf(why, sizeof(why), "PostgreSQL expects offset %" PRId64
				 " next, Kafka holds %" PRId64 "..%" PRId64
				 " (retention overran the consumer?)", start, lo, hi);
			stop_partition(c, p, why);
		}
		pt->settled_to = start;
		pt->fetch_next = start;
		pt->eof = false;
		list->elems[i].offset = start;
	}
	return 0;
}

/* READY=1 once the group has given this consumer its partitions (again
 * after each rebalance: the status names the count). */
static void notify_assigned(const struct consumer *c, int partitions)
{
	char status[160];
	snprintf(status, sizeof(status), "group %s: %d partition(s) of %s assigned",
		 c->cfg->group, partitions, c->cfg->topic);
	bs_notify_ready(status);
}

/* rd_kafka_assign, which the test hook BANDSPLIT_SETTLE_FAIL_ASSIGN=N
 * makes fail N times (a failed assignment cannot be provoked from outside
 * on demand). */
static rd_kafka_resp_err_t assign(struct consumer *c,
				  rd_kafka_topic_partition_list_t *run)
{
	static int fail_left = -1;
	if (fail_left < 0) {
		const char *v = getenv("BANDSPLIT_SETTLE_FAIL_ASSIGN");
		fail_left = v != NULL ? atoi(v) : 0;
	}
	if (fail_left > 0) {
		fail_left--;
		return RD_KAFKA_RESP_ERR__FAIL;
	}
	return rd_kafka_assign(c->rk, run);
}

/* Re-positions every assigned partition from PostgreSQL after a failure. */
static int resync(struct consumer *c)
{
	char err[ERR_MAX];
	finish_all(c);   /* their outcome moves the stored offsets */
	drop_pending(c);
	rd_kafka_topic_partition_list_t *list =
		rd_kafka_topic_partition_list_new((int)c->nassigned + 1);
	for (size_t i = 0; i < c->nassigned; i++)
		if (!c->parts[c->assigned[i]].stopped)
			rd_kafka_topic_partition_list_add(list, c->cfg->topic,
							  c->assigned[i]);
	rd_kafka_pause_partitions(c->rk, list);
	int rc = position(c, list, err, sizeof(err));
	if (rc == 0) {
		rd_kafka_topic_partition_list_t *run =
			rd_kafka_topic_partition_list_new(list->cnt + 1);
		for (int i = 0; i < list->cnt; i++)
			if (!c->parts[list->elems[i].partition].stopped)
				rd_kafka_topic_partition_list_add(run, c->cfg->topic,
					list->elems[i].partition)->offset =
					list->elems[i].offset;
		rd_kafka_error_t *e = NULL;
		if (c->assign_pending) {
			/* the rebalance's assign failed: assign, at these
			 * positions, instead of seeking */
			rd_kafka_resp_err_t ae = assign(c, run);
			if (ae != RD_KAFKA_RESP_ERR_NO_ERROR) {
				snprintf(err, sizeof(err), "kafka assign: %s",
					 rd_kafka_err2str(ae));
				rc = -1;
			} else {
				c->assign_pending = false;
				BS_INFO("assigned %d partition(s) of %s after a "
					"failed assignment", run->cnt, c->cfg->topic);
				notify_assigned(c, run->cnt);
			}
		} else if (run->cnt > 0) {
			e = rd_kafka_seek_partitions(c->rk, run, KAFKA_QUERY_MS);
		}
		if (e != NULL) {
			snprintf(err, sizeof(err), "kafka seek: %s",
				 rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
			rc = -1;
		}
		for (int i = 0; rc == 0 && i < run->cnt; i++) {
			if (run->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
				snprintf(err, sizeof(err), "kafka seek %s [%" PRId32
					 "]: %s", c->cfg->topic, run->elems[i].partition,
					 rd_kafka_err2str(run->elems[i].err));
				rc = -1;
			}
		}
		if (rc == 0)
			rd_kafka_resume_partitions(c->rk, run);
		rd_kafka_topic_partition_list_destroy(run);
	}
	rd_kafka_topic_partition_list_destroy(list);
	if (rc < 0) {
		if (!stopping(c))
			BS_WARN("resync: %s; retrying in %u ms", err,
				c->backoff_ms == 0 ? 100 : c->backoff_ms * 2);
		after_lock_timeout(c, c->lanes[0].store, err);
		return -1;
	}
	c->resync_needed = false;
	c->backoff_ms = 0;
	BS_INFO("positions read from PostgreSQL for %zu partition(s)", c->nassigned);
	return 0;
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *list, void *opaque)
{
	struct consumer *c = opaque;
	char why[ERR_MAX];

	/* batches in flight settle (the partitions were ours when they were
	 * read); the ones being collected belong to the old assignment */
	finish_all(c);
	drop_pending(c);
	for (size_t i = 0; i < c->nassigned; i++) {
		c->parts[c->assigned[i]].assigned = false;
		set_status(c, c->assigned[i], PART_UNASSIGNED);
	}
	c->nassigned = 0;

	if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		BS_INFO("partitions revoked (%d)", list->cnt);
		rd_kafka_assign(rk, NULL);
		return;
	}
	for (int i = 0; i < list->cnt; i++) {
		int32_t p = list->elems[i].partition;
		if (p < 0 || p > SETTLE_PARTITION_MAX) {
			BS_ERROR("kafka %s: partition %" PRId32 " beyond the limit %d; "
				 "not consumed", c->cfg->topic, p, SETTLE_PARTITION_MAX);
			continue;
		}
		struct part *pt = &c->parts[p];
		memset(pt, 0, sizeof(*pt));
		pt->assigned = true;
		pt->careful_until = -1;
		c->assigned[c->nassigned++] = p;
		set_status(c, p, PART_ACTIVE);
	}
	/* Without PostgreSQL there is no position: wait for it here, the
	 * group keeps the assignment meanwhile. */
	while (!stopping(c) && position(c, list, why, sizeof(why)) < 0) {
		if (stopping(c))
			break;
		BS_WARN("assignment: %s; retrying", why);
		after_lock_timeout(c, c->lanes[0].store, why);
		unsigned cap = c->cfg->retry_max_s * 1000;
		c->backoff_ms = c->backoff_ms == 0 ? 100
			: (c->backoff_ms * 2 > cap ? cap : c->backoff_ms * 2);
		for (unsigned t = 0; t < c->backoff_ms && !stopping(c); t += 100) {
			sleep_ms(100);
			bs_notify_watchdog();
		}
	}
	if (stopping(c)) {
		rd_kafka_assign(rk, NULL);
		return;
	}
	c->backoff_ms = 0;
	rd_kafka_topic_partition_list_t *run =
		rd_kafka_topic_partition_list_new(list->cnt + 1);
	for (int i = 0; i < list->cnt; i++) {
		int32_t p = list->elems[i].partition;
		if (p >= 0 && p <= SETTLE_PARTITION_MAX && !c->parts[p].stopped)
			rd_kafka_topic_partition_list_add(run, list->elems[i].topic,
				p)->offset = list->elems[i].offset;
	}
	rd_kafka_resp_err_t e = assign(c, run);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* remembered: the main loop's resync assigns them again */
		BS_ERROR("kafka assign of %d partition(s): %s; retrying", run->cnt,
			 rd_kafka_err2str(e));
		c->assign_pending = true;
		c->resync_needed = true;
	} else {
		BS_INFO("assigned %d partition(s) of %s, positions from PostgreSQL",
			run->cnt, c->cfg->topic);
		notify_assigned(c, run->cnt);
		c->assign_pending = false;
		c->resync_needed = false;
		c->dlq_due = true;   /* a previous owner may have left rows */
	}
	rd_kafka_topic_partition_list_destroy(run);
}

/* ---- one message ------------------------------------------------------ */

enum handled { H_NEXT, H_FULL, H_SEND_NOW };

static enum settle_batch_add add_reject(struct consumer *c, struct lane *l,
	const rd_kafka_message_t *msg, const char *reason, const char *error)
{
	enum settle_batch_add a = settle_batch_add_reject(l->batch, msg->partition,
		msg->offset, msg->key, msg->key_len, msg->payload, msg->len,
		reason, error);
	if (a == BATCH_ADDED) {
		/* to the DLQ once the batch is committed (publish_dlq) */
		l->batch_rejects[settle_reason_index(reason)]++;
		BS_DEBUG("%s [%" PRId32 "] offset %" PRId64 ": rejected (%s): %s",
			 c->cfg->topic, msg->partition, msg->offset, reason, error);
	}
	return a;
}

static void kafka_error(struct consumer *c, const rd_kafka_message_t *msg)
{
	int32_t p = msg->partition;
	bool ours = msg->rkt != NULL && p >= 0 && p <= SETTLE_PARTITION_MAX &&
		    c->parts[p].assigned;
	if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		if (ours && msg->offset == c->parts[p].fetch_next) {
			c->parts[p].eof = true;
			c->eof_seen = true;
		}
		return;
	}
	if (ours && (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
		     msg->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)) {
		char why[512];
		snprintf(why, sizeof(why), "Kafka no longer holds offset %" PRId64
			 " that PostgreSQL expects next (%s)", c->parts[p].fetch_next,
			 rd_kafka_message_errstr(msg));
		stop_partition(c, p, why);
		return;
	}
	BS_WARN("kafka: %s", rd_kafka_message_errstr(msg));
}

static struct lane *lane_of(struct consumer *c, int32_t partition)
{
	return &c->lanes[(uint32_t)partition % c->nlanes];
}

static const struct poison *poisoned(const struct consumer *c, int32_t p,
				     int64_t offset)
{
	for (size_t i = 0; i < c->npoison; i++)
		if (c->poison[i].partition == p && c->poison[i].offset == offset)
			return &c->poison[i];
	return NULL;
}

/* Takes one consumed message into its lane's batch. H_FULL: not taken
 * (the lane's batch must be sent first); otherwise the message is done
 * with and destroyed. */
static enum handled take(struct consumer *c, rd_kafka_message_t *msg)
{
	if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		kafka_error(c, msg);
		rd_kafka_message_destroy(msg);
		return H_NEXT;
	}
	int32_t p = msg->partition;
	if (p < 0 || p > SETTLE_PARTITION_MAX || !c->parts[p].assigned ||
	    c->parts[p].stopped || msg->offset < c->parts[p].fetch_next) {
		rd_kafka_message_destroy(msg);   /* stale: before a seek */
		return H_NEXT;
	}
	struct part *pt = &c->parts[p];
	struct lane *l = lane_of(c, p);
	bool careful = msg->offset <= pt->careful_until;
	if (careful && !settle_batch_empty(l->batch))
		return H_FULL;   /* alone in its own transaction */
	if (c->first_message_t == 0)
		c->first_message_t = now_s();

	struct bs_record rec;
	const char *reason = NULL;
	char error[256];
	enum settle_batch_add a;
	const struct poison *bad = poisoned(c, p, msg->offset);
	c->limits.now_s = wall_s();
	c->limits.horizon_s = c->horizon;
	if (bad != NULL) {
		a = add_reject(c, l, msg, settle_reason_name(SETTLE_R_DB_REFUSED),
			       bad->error);
	} else if (settle_validate(msg->payload, msg->len, &c->limits, &rec,
				   &reason, error, sizeof(error)) == 0) {
		bool late = rec.head.interval_start + rec.head.interval_len <
			    c->limits.now_s - (int64_t)c->cfg->late_after_s;
		a = settle_batch_add_record(l->batch, p, msg->offset, &rec, late);
	} else {
		a = add_reject(c, l, msg, reason, error);
	}
	if (a == BATCH_FULL)
		return H_FULL;
	if (a == BATCH_ERROR) {
		BS_ERROR("%s [%" PRId32 "] offset %" PRId64 ": out of memory "
			 "assembling the batch", c->cfg->topic, p, msg->offset);
		c->fatal = 3;
		rd_kafka_message_destroy(msg);
		return H_NEXT;
	}
	if (l->opened_t == 0)
		l->opened_t = now_s();
	pt->fetch_next = msg->offset + 1;
	pt->eof = false;
	rd_kafka_message_destroy(msg);
	return careful ? H_SEND_NOW : H_NEXT;
}

/* ---- one batch -------------------------------------------------------- */

static void committed(struct consumer *c, struct lane *l,
		      const struct store_result *r)
{
	const struct flight *f = &l->flight;
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct part *pt = &c->parts[f->partition[i]];
		pt->db_next = f->next[i];
		pt->settled_to = f->next[i];
	}
	struct settle_metrics *m = c->m;
	atomic_fetch_add(&m->usage_inserted, r->usage_inserted);
	atomic_fetch_add(&m->usage_duplicate, f->usage_count - r->usage_inserted);
	atomic_fetch_add(&m->usage_late, r->usage_late);
	atomic_fetch_add(&m->summaries_inserted, r->summaries_inserted);
	atomic_fetch_add(&m->summaries_duplicate, f->summary_count - r->summaries_inserted);
	uint64_t rejects = 0;
	for (int i = 0; i < SETTLE_R_COUNT; i++) {
		rejects += f->rejects[i];
		if (f->rejects[i] > 0)
			atomic_fetch_add(&m->rejects[i], f->rejects[i]);
	}
	if (r->conflicts > 0) {
		atomic_fetch_add(&m->rejects[SETTLE_R_IDENTITY_CONFLICT], r->conflicts);
		BS_ERROR("ALARM %s: %" PRIu64 " identity conflict(s): a record or "
			 "summary whose identity is stored with other counts, e.g. %s. "
			 "Kept in rejected_records (reason identity_conflict, both "
			 "values); the stored row stays. `bandsplit gaps` lists them.",
			 c->cfg->topic, r->conflicts, r->conflict_example);
	}
	if (rejects > 0 || r->conflicts > 0)
		c->dlq_due = true;   /* committed: the outbox has rows to publish */
	double t = now_s();
	settle_metrics_observe_batch(m, (uint64_t)((t - f->t0) * 1e6));
	c->settled_records += f->messages;
	c->last_commit_t = t;
	BS_DEBUG("lane %td: %u messages, %" PRIu64 " usage rows new of %u, %"
		 PRIu64 " summaries new, %u partitions, %.1f ms", l - c->lanes,
		 f->messages, r->usage_inserted, f->usage_count,
		 r->summaries_inserted, f->nparts, (t - f->t0) * 1000);
}

/* PostgreSQL refused the data of a lane's batch. */
static void refused(struct consumer *c, struct lane *l, const char *err)
{
	const struct flight *f = &l->flight;
	if (!f->single) {
		/* read these offsets again, one message per transaction */
		for (uint32_t i = 0; i < f->nparts; i++)
			c->parts[f->partition[i]].careful_until = f->next[i] - 1;
		BS_WARN("%s; settling the batch's %u messages one by one to find "
			"the refused one", err, f->messages);
		return;
	}
	BS_ERROR("%s [%" PRId32 "] offset %" PRId64 ": refused by PostgreSQL, "
		 "rejected (db_refused): %s", c->cfg->topic, f->single_partition,
		 f->single_offset, err);
	if (c->npoison == POISON_MAX) {
		memmove(c->poison, c->poison + 1, sizeof(c->poison[0]) * (POISON_MAX - 1));
		c->npoison--;
	}
	struct poison *x = &c->poison[c->npoison++];
	x->partition = f->single_partition;
	x->offset = f->single_offset;
	snprintf(x->error, sizeof(x->error), "%s", err);
}

/* A lane's thread: settles each batch handed to it, one at a time. */
static void *lane_main(void *arg)
{
	struct lane *l = arg;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (l->work != WORK_BUSY && l->work != WORK_EXIT)
			pthread_cond_wait(&l->cv, &l->mu);
		if (l->work == WORK_EXIT)
			break;
		pthread_mutex_unlock(&l->mu);
		struct store_result r;
		char err[ERR_MAX];
		enum store_rc rc = settle_store_settle(l->store, l->flying, l->expected,
						       &r, err, sizeof(err));
		pthread_mutex_lock(&l->mu);
		l->rc = rc;
		l->result = r;
		memcpy(l->err, err, sizeof(err));
		l->work = WORK_DONE;
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Waits for the outcome of the lane's batch in flight, if any. */
static void finish_lane(struct consumer *c, struct lane *l)
{
	if (!l->in_flight)
		return;
	char err[ERR_MAX];
	struct store_result r;
	pthread_mutex_lock(&l->mu);
	while (l->work == WORK_BUSY)
		pthread_cond_wait(&l->cv, &l->mu);
	assert(l->work == WORK_DONE);
	enum store_rc rc = l->rc;
	r = l->result;
	memcpy(err, l->err, sizeof(err));
	l->work = WORK_IDLE;
	pthread_mutex_unlock(&l->mu);
	l->in_flight = false;
	switch (rc) {
	case STORE_OK:
		committed(c, l, &r);
		c->backoff_ms = 0;
		return;
	case STORE_FENCED:
		atomic_fetch_add(&c->m->fenced, 1);
		BS_WARN("%s; re-reading positions from PostgreSQL", err);
		break;
	case STORE_DATA:
		refused(c, l, err);
		break;
	case STORE_RETRY:
		atomic_fetch_add(&c->m->batch_retries, 1);
		BS_ERROR("%s; rolled back, retrying from the stored offsets", err);
		after_lock_timeout(c, l->store, err);
		if (!settle_store_connected(l->store))
			atomic_store(&c->m->db_up, 0);
		break;
	}
	c->resync_needed = true;
}

static void finish_all(struct consumer *c)
{
	for (uint32_t i = 0; i < c->nlanes; i++)
		finish_lane(c, &c->lanes[i]);
}

static void send_lane(struct consumer *c, struct lane *l);

/* Before waiting for lane l's transaction: the idle lanes' batches go
 * first, so that every connection has work while this thread waits. */
static void send_idle_lanes(struct consumer *c, const struct lane *l)
{
	for (uint32_t i = 0; i < c->nlanes && !c->resync_needed; i++) {
		struct lane *o = &c->lanes[i];
		if (o != l && !o->in_flight && !settle_batch_empty(o->batch))
			send_lane(c, o);
	}
}

/* Sends the lane's batch (after the previous one's outcome). */
static void send_lane(struct consumer *c, struct lane *l)
{
	char err[ERR_MAX];
	struct settle_batch *b = l->batch;
	if (l->in_flight)
		send_idle_lanes(c, l);
	finish_lane(c, l);
	if (c->resync_needed || settle_batch_empty(b))
		return;
	struct flight *f = &l->flight;
	f->t0 = now_s();
	enum store_rc rc = settle_store_ensure_days(l->store, b, err, sizeof(err));
	if (rc != STORE_OK) {
		atomic_fetch_add(&c->m->batch_retries, 1);
		BS_ERROR("%s; retrying from the stored offsets", err);
		c->resync_needed = true;
		return;
	}
	for (uint32_t i = 0; i < b->nparts; i++)
		l->expected[i] = c->parts[b->parts[i].partition].db_next;
	/* what the outcome needs */
	f->nparts = b->nparts;
	for (uint32_t i = 0; i < b->nparts; i++) {
		f->partition[i] = b->parts[i].partition;
		f->next[i] = b->parts[i].last_offset + 1;
	}
	f->messages = b->messages;
	f->usage_count = b->usage_count;
	f->summary_count = b->summary_count;
	memcpy(f->rejects, l->batch_rejects, sizeof(f->rejects));
	f->single = b->messages == 1 && b->nparts == 1 &&
		    b->parts[0].last_offset <= c->parts[b->parts[0].partition].careful_until;
	f->single_partition = b->parts[0].partition;
	f->single_offset = b->parts[0].last_offset;
	/* the batch goes to the lane's thread; the other one is collected */
	l->batch = l->flying;
	l->flying = b;
	pthread_mutex_lock(&l->mu);
	assert(l->work == WORK_IDLE);
	l->work = WORK_BUSY;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	l->in_flight = true;
	reset_lane_batch(l);
}

/* Sends the batches that are full or have waited batch_ms. */
static void send_due(struct consumer *c, bool all)
{
	double t = now_s();
	for (uint32_t i = 0; i < c->nlanes && !c->resync_needed; i++) {
		struct lane *l = &c->lanes[i];
		if (settle_batch_empty(l->batch))
			continue;
		if (all || l->batch->messages >= l->batch->max_records ||
		    t - l->opened_t >= c->cfg->batch_ms / 1000.0)
			send_lane(c, l);
	}
}

/* Every partition read up to the end of what Kafka holds (as of its
 * last end-of-partition event), or stopped. */
static bool all_at_end(const struct consumer *c)
{
	for (size_t i = 0; i < c->nassigned; i++) {
		const struct part *pt = &c->parts[c->assigned[i]];
		if (!pt->eof && !pt->stopped)
			return false;
	}
	return true;
}

/* Reads what Kafka has (waiting at most until the oldest open batch is
 * due) and sends the batches that are ready. */
static void collect(struct consumer *c)
{
	while (c->pending_pos < c->npending && !c->resync_needed && !stopping(c)) {
		rd_kafka_message_t *msg = c->pending[c->pending_pos];
		int32_t p = msg->partition;
		enum handled h = take(c, msg);
		if (h == H_FULL) {
			send_lane(c, lane_of(c, p));
			continue;   /* the same message again */
		}
		c->pending_pos++;
		if (h == H_SEND_NOW)
			send_lane(c, lane_of(c, p));
	}
	if (c->resync_needed || stopping(c))
		return;
	c->npending = c->pending_pos = 0;
	/* nothing more to read: the open batches need not wait for batch_ms,
	 * and the outcomes in flight are what there is to wait for */
	bool at_end = c->eof_seen && all_at_end(c);
	c->eof_seen = false;
	send_due(c, at_end);
	if (at_end)
		finish_all(c);

	double wait = IDLE_WAIT_MS / 1000.0, t = now_s();
	for (uint32_t i = 0; i < c->nlanes; i++) {
		const struct lane *l = &c->lanes[i];
		if (!settle_batch_empty(l->batch)) {
			double due = l->opened_t + c->cfg->batch_ms / 1000.0 - t;
			if (due < wait)
				wait = due > 0 ? due : 0;
		}
	}
	/* what is there already; if nothing, wait for the first message only
	 * (a batch read with a timeout waits for a whole chunk: the tail of a
	 * stream would wait it out) */
	ssize_t n = rd_kafka_consume_batch_queue(c->queue, 0, c->pending,
						 CONSUME_CHUNK);
	if (n == 0) {
		rd_kafka_message_t *first = rd_kafka_consume_queue(c->queue,
								   (int)(wait * 1000));
		if (first != NULL) {
			c->pending[0] = first;
			n = rd_kafka_consume_batch_queue(c->queue, 0, c->pending + 1,
							 CONSUME_CHUNK - 1);
			n = n < 0 ? 1 : n + 1;
		}
	}
	if (n < 0) {
		BS_ERROR("kafka consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
		return;
	}
	c->npending = (size_t)n;
	c->pending_pos = 0;
	if (n == 0) {
		/* idle: everything out, and its outcome known */
		send_due(c, true);
		finish_all(c);
	}
}

/* ---- the DLQ ---------------------------------------------------------- */

/* An outbox row's DLQ key: "topic/partition/offset" of the rejected
 * message. */
static void row_key(const struct consumer *c, const struct store_dlq_row *r,
		    char *key, size_t size)
{
	snprintf(key, size, "%s/%" PRId32 "/%" PRId64, c->cfg->topic, r->partition,
		 r->offset);
}

/* Produces one outbox row to the DLQ: key "topic/partition/offset" (the
 * same on every attempt: a reader, or a compacted topic, keeps one), the
 * kept payload (at most 64 KiB: a message too large for the DLQ goes
 * truncated), the reject's reason, error, source, whole length and
 * SHA-256 in headers. Returns 0, or -1 (the ack will never come). */
static int produce_row(struct consumer *c, const struct store_dlq_row *r,
		       int32_t to, struct dlq_ack *ack)
{
	char key[SETTLE_TOPIC_MAX + 48], partition[16], offset[32], bytes[16];
	char digest[65] = "";
	row_key(c, r, key, sizeof(key));
	snprintf(partition, sizeof(partition), "%" PRId32, r->partition);
	snprintf(offset, sizeof(offset), "%" PRId64, r->offset);
	snprintf(bytes, sizeof(bytes), "%" PRId32, r->payload_bytes);
	for (int i = 0; r->sha256 != NULL && i < 32; i++)
		snprintf(digest + 2 * i, 3, "%02x", r->sha256[i]);
	bool truncated = (size_t)r->payload_bytes > r->payload_len;
	rd_kafka_headers_t *h = rd_kafka_headers_new(10);
	rd_kafka_header_add(h, "bandsplit-reject-reason", -1, r->reason, -1);
	rd_kafka_header_add(h, "bandsplit-reject-error", -1, r->error, -1);
	rd_kafka_header_add(h, "bandsplit-source-topic", -1, c->cfg->topic, -1);
	rd_kafka_header_add(h, "bandsplit-source-partition", -1, partition, -1);
	rd_kafka_header_add(h, "bandsplit-source-offset", -1, offset, -1);
	if (r->key != NULL)
		rd_kafka_header_add(h, "bandsplit-source-key", -1, r->key,
				    (ssize_t)r->key_len);
	rd_kafka_header_add(h, "bandsplit-payload-bytes", -1, bytes, -1);
	if (digest[0] != '\0')
		rd_kafka_header_add(h, "bandsplit-payload-sha256", -1, digest, -1);
	rd_kafka_header_add(h, "bandsplit-payload-truncated", -1,
			    truncated ? "true" : "false", -1);
	ack->state = ACK_WAITING;
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(c->dlq,
			RD_KAFKA_V_TOPIC(c->cfg->dlq_topic),
			RD_KAFKA_V_PARTITION(to),
			RD_KAFKA_V_VALUE((void *)r->payload, r->payload_len),
			RD_KAFKA_V_KEY(key, strlen(key)),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_HEADERS(h),
			RD_KAFKA_V_OPAQUE(ack),
			RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			return 0;   /* h now belongs to the message */
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || *c->opt->stop) {
			BS_ERROR("DLQ %s: %s", c->cfg->dlq_topic, rd_kafka_err2str(e));
			rd_kafka_headers_destroy(h);
			ack->state = ACK_FAILED;
			return -1;
		}
		rd_kafka_poll(c->dlq, 100);
	}
}

/* The DLQ topic's partition count (metadata), 0 if unknown. */
static int32_t dlq_partitions(struct consumer *c)
{
	if (c->dlq_nparts > 0)
		return c->dlq_nparts;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(c->dlq, c->cfg->dlq_topic, NULL);
	if (t == NULL)
		return 0;
	if (rd_kafka_metadata(c->dlq, 0, t, &md, KAFKA_QUERY_MS) ==
	    RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
	    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
		c->dlq_nparts = md->topics[0].partition_cnt;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	return c->dlq_nparts;
}

/* Rows handed over to the DLQ and never confirmed (a crash came in
 * between): each is looked for in its DLQ partition from the offset
 * recorded at the hand-over to the partition's end; found, its ack is set
 * (it is not produced again). Returns 0, or -1 (try again later). */
static int find_handed_over(struct consumer *c, const struct store_dlq_row *rows,
			    size_t n)
{
	char why[512];
	if (c->dlq_reader == NULL) {
		rd_kafka_conf_t *conf = base_conf(c->cfg, false, why, sizeof(why));
		char group[SETTLE_GROUP_MAX + 16];
		snprintf(group, sizeof(group), "%s.dlq-check", c->cfg->group);
		if (conf == NULL ||
		    conf_set(conf, "group.id", group, why, sizeof(why)) < 0 ||
		    conf_set(conf, "enable.auto.commit", "false", why, sizeof(why)) < 0 ||
		    conf_set(conf, "enable.partition.eof", "true", why, sizeof(why)) < 0) {
			if (conf != NULL)
				rd_kafka_conf_destroy(conf);
			BS_WARN("DLQ check: %s", why);
			return -1;
		}
		c->dlq_reader = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
		if (c->dlq_reader == NULL) {
			rd_kafka_conf_destroy(conf);
			BS_WARN("DLQ check: %s", why);
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (rows[i].dlq_partition < 0 || c->dlq_acks[i].state == ACK_STORED)
			continue;
		/* one partition at a time, every handed-over row of it */
		int32_t p = rows[i].dlq_partition;
		int64_t from = rows[i].dlq_scan_from, lo = -1, hi = -1;
		for (size_t j = i + 1; j < n; j++)
			if (rows[j].dlq_partition == p && rows[j].dlq_scan_from < from)
				from = rows[j].dlq_scan_from;
		if (rd_kafka_query_watermark_offsets(c->dlq_reader, c->cfg->dlq_topic, p,
				&lo, &hi, KAFKA_QUERY_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
			return -1;
		if (from < lo) {
			BS_WARN("DLQ %s [%" PRId32 "]: offsets %" PRId64 "..%" PRId64
				" are gone; rows handed over then are produced again",
				c->cfg->dlq_topic, p, from, lo - 1);
			from = lo;
		}
		rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(l, c->cfg->dlq_topic, p)->offset = from;
		rd_kafka_resp_err_t e = from < hi ? rd_kafka_assign(c->dlq_reader, l)
						  : RD_KAFKA_RESP_ERR_NO_ERROR;
		rd_kafka_topic_partition_list_destroy(l);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
			return -1;
		int64_t next = from;
		double until = now_s() + KAFKA_QUERY_MS / 1000.0;
		while (next < hi && now_s() < until) {
			rd_kafka_message_t *m = rd_kafka_consumer_poll(c->dlq_reader, 200);
			if (m == NULL)
				continue;
			if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->partition == p) {
				next = m->offset + 1;
				for (size_t j = i; j < n; j++) {
					char key[SETTLE_TOPIC_MAX + 48];
					row_key(c, &rows[j], key, sizeof(key));
					if (rows[j].dlq_partition == p && m->key_len == strlen(key) &&
					    memcmp(m->key, key, m->key_len) == 0) {
						c->dlq_acks[j].state = ACK_STORED;
						c->dlq_acks[j].partition = p;
						c->dlq_acks[j].offset = m->offset;
					}
				}
			}
			rd_kafka_message_destroy(m);
		}
		if (from < hi)
			rd_kafka_assign(c->dlq_reader, NULL);
		if (next < hi)
			return -1;   /* not read to the end: not known yet */
		/* what is not found was never stored: produced again */
		for (size_t j = i; j < n; j++)
			if (rows[j].dlq_partition == p && c->dlq_acks[j].state != ACK_STORED)
				c->dlq_acks[j].state = ACK_FAILED;
	}
	return 0;
}

/* Publishes the outbox: the committed rejects of the assigned partitions
 * not yet in the DLQ, a round at a time, each round's rows locked in
 * PostgreSQL until the DLQ's acknowledgements are recorded with them. A
 * reject therefore reaches the DLQ only after its batch committed, and a
 * batch read again (a retry, a restart) adds no copy. Runs on lane 0's
 * connection, between batches; a DLQ that fails is retried later with
 * backoff and never holds up the settlement. */
static void publish_dlq(struct consumer *c)
{
	double t = now_s();
	if (!c->dlq_due && t >= c->dlq_next_t + DLQ_RECHECK_S && c->nassigned > 0)
		c->dlq_due = true;
	if (!c->dlq_due || t < c->dlq_next_t || c->nassigned == 0 || c->resync_needed)
		return;
	struct lane *l = &c->lanes[0];
	finish_lane(c, l);
	if (c->resync_needed || !settle_store_connected(l->store))
		return;
	char err[ERR_MAX];
	for (;;) {
		const struct store_dlq_row *rows;
		size_t n;
		if (settle_store_dlq_claim(l->store, c->assigned, c->nassigned, DLQ_ROUND,
					   &rows, &n, err, sizeof(err)) != STORE_OK) {
			BS_WARN("%s; the DLQ outbox is published later", err);
			break;
		}
		/* 1. hand-over: the DLQ partition of each new row and its end
		 * offset, committed before anything is produced */
		int32_t nparts = dlq_partitions(c);
		size_t nnew = 0;
		bool ok = nparts > 0;
		for (size_t i = 0; ok && i < n; i++) {
			c->dlq_acks[i].state = ACK_WAITING;
			if (rows[i].dlq_partition >= 0) {
				c->dlq_to[i] = rows[i].dlq_partition;
				continue;
			}
			int32_t p = rows[i].partition % nparts;
			int64_t lo = -1, hi = -1;
			ok = rd_kafka_query_watermark_offsets(c->dlq, c->cfg->dlq_topic, p,
				&lo, &hi, KAFKA_QUERY_MS) == RD_KAFKA_RESP_ERR_NO_ERROR;
			c->dlq_to[i] = p;
			c->dlq_ids[nnew] = rows[i].id;
			c->dlq_parts[nnew] = p;
			c->dlq_offs[nnew++] = hi;
		}
		if (!ok)
			nnew = 0;   /* the transaction ends, nothing handed over */
		if (settle_store_dlq_handover(l->store, c->dlq_ids, c->dlq_parts,
					      c->dlq_offs, nnew, err, sizeof(err)) != STORE_OK ||
		    !ok) {
			BS_WARN("DLQ outbox: %s; published later", ok ? err
				: "the DLQ topic's partitions or offsets are unknown");
			settle_store_dlq_done(l->store, NULL, NULL, NULL, 0, err, sizeof(err));
			break;
		}
		/* 2. rows handed over before and never confirmed: in the DLQ? */
		bool redo = false;
		for (size_t i = 0; i < n; i++)
			redo = redo || rows[i].dlq_partition >= 0;
		if (redo && find_handed_over(c, rows, n) < 0) {
			BS_WARN("DLQ %s: could not look for the messages handed over "
				"before; published later", c->cfg->dlq_topic);
			settle_store_dlq_done(l->store, NULL, NULL, NULL, 0, err, sizeof(err));
			break;
		}
		/* 3. produce what is not stored */
		size_t produced = 0;
		for (size_t i = 0; i < n; i++)
			if (c->dlq_acks[i].state != ACK_STORED &&
			    produce_row(c, &rows[i], c->dlq_to[i], &c->dlq_acks[i]) == 0)
				produced++;
		/* every report in (message.timeout.ms bounds the wait) */
		while (rd_kafka_outq_len(c->dlq) > 0)
			rd_kafka_flush(c->dlq, 500);
		if (getenv("BANDSPLIT_SETTLE_DLQ_CRASH") != NULL && produced > 0) {
			/* test hook: die between the DLQ's acknowledgement and
			 * its confirmation in PostgreSQL */
			BS_ERROR("BANDSPLIT_SETTLE_DLQ_CRASH: exiting after %zu DLQ "
				 "message(s), before confirming them", produced);
			_exit(9);
		}
		size_t done = 0;
		for (size_t i = 0; i < n; i++) {
			if (c->dlq_acks[i].state != ACK_STORED)
				continue;
			c->dlq_ids[done] = rows[i].id;
			c->dlq_parts[done] = c->dlq_acks[i].partition;
			c->dlq_offs[done++] = c->dlq_acks[i].offset;
		}
		if (settle_store_dlq_done(l->store, c->dlq_ids, c->dlq_parts,
					  c->dlq_offs, done, err, sizeof(err)) != STORE_OK) {
			/* delivered, not confirmed: found in the DLQ next time */
			BS_WARN("%s; %zu DLQ message(s) confirmed later", err, done);
			break;
		}
		atomic_fetch_add(&c->m->dlq_published, done);
		if (done < n) {
			BS_WARN("DLQ %s: %zu of %zu message(s) not delivered (%zu "
				"produced); retried later", c->cfg->dlq_topic, n - done,
				n, produced);
			break;
		}
		if (n < DLQ_ROUND) {
			c->dlq_due = false;
			c->dlq_backoff_ms = 0;
			c->dlq_next_t = now_s();
			return;
		}
	}
	unsigned cap = c->cfg->retry_max_s * 1000;
	c->dlq_backoff_ms = c->dlq_backoff_ms == 0 ? 500
		: (c->dlq_backoff_ms * 2 > cap ? cap : c->dlq_backoff_ms * 2);
	c->dlq_next_t = now_s() + c->dlq_backoff_ms / 1000.0;
}

/* ---- housekeeping ----------------------------------------------------- */

static void update_lag(struct consumer *c)
{
	for (size_t i = 0; i < c->nassigned; i++) {
		int32_t p = c->assigned[i];
		if (p >= METRICS_MAX_PARTITIONS)
			continue;
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(c->rk, c->cfg->topic, p, &lo, &hi);
		int64_t lag = hi >= 0 ? hi - c->parts[p].settled_to : 0;
		atomic_store_explicit(&c->m->lag[p], lag < 0 ? 0 : lag,
				      memory_order_relaxed);
	}
}

/* The pools' purchased capacity and the newest exported map version, for
 * the metrics: every minute, on the idle lane's connection. */
static void refresh_park_metrics(struct consumer *c, struct lane *l, double t)
{
	uint32_t ids[METRICS_MAX_POOLS];
	int64_t caps[METRICS_MAX_POOLS], version = 0;
	size_t n = 0;
	char err[ERR_MAX];
	c->next_park_t = t + 60;
	if (settle_store_park_figures(l->store, ids, caps, METRICS_MAX_POOLS, &n,
				      &version, err, sizeof(err)) != STORE_OK) {
		BS_WARN("metrics: %s", err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		atomic_store(&c->m->pool_id[i], ids[i]);
		atomic_store(&c->m->pool_capacity_bps[i], caps[i]);
	}
	atomic_store(&c->m->n_pools, (unsigned)n);
	atomic_store(&c->m->map_version_exported, version);
	atomic_store(&c->m->park_known, 1);
}

static void housekeeping(struct consumer *c)
{
	double t = now_s();
	char err[ERR_MAX];
	if (t >= c->next_tick_t) {
		update_lag(c);
		if (c->rate_mark_t > 0 && t > c->rate_mark_t)
			atomic_store(&c->m->records_per_s, (uint64_t)(
				(c->settled_records - c->rate_mark_records) /
				(t - c->rate_mark_t)));
		c->rate_mark_t = t;
		c->rate_mark_records = c->settled_records;
		c->next_tick_t = t + 1;
	}
	bool gaps_due = c->cfg->gap_check_s > 0 && t >= c->next_gaps_t;
	bool retention_due = c->cfg->raw_retention_days > 0 && t >= c->next_retention_t;
	bool park_due = t >= c->next_park_t;
	if (!gaps_due && !retention_due && !park_due)
		return;
	struct lane *l = &c->lanes[0];   /* its connection, when idle */
	finish_lane(c, l);
	if (c->resync_needed || !settle_store_connected(l->store))
		return;
	if (park_due)
		refresh_park_metrics(c, l, t);
	if (gaps_due) {
		uint64_t open[STORE_GAP_KINDS];
		if (settle_store_refresh_gaps(l->store, c->cfg->gap_window_s, open,
					      err, sizeof(err)) == STORE_OK) {
			for (int k = 0; k < STORE_GAP_KINDS; k++)
				atomic_store(&c->m->gaps_open[k], open[k]);
			atomic_store(&c->m->gaps_known, 1);
		} else {
			BS_WARN("%s", err);
		}
		c->next_gaps_t = t + c->cfg->gap_check_s;
	}
	if (retention_due) {
		int dropped = 0;
		if (settle_store_retention(l->store, c->cfg->raw_retention_days,
					   &dropped, err, sizeof(err)) == STORE_OK &&
		    settle_store_horizon(l->store, &c->horizon, err, sizeof(err)) == STORE_OK) {
			if (dropped > 0)
				BS_INFO("raw retention: dropped %d daily partition(s) "
					"older than %" PRIu32 " days", dropped,
					c->cfg->raw_retention_days);
		} else {
			BS_WARN("%s", err);
		}
		c->next_retention_t = t + RETENTION_EVERY_S;
	}
}

/* Drain mode: every assigned partition settled up to Kafka's end. */
static bool drained(struct consumer *c)
{
	if (c->nassigned == 0 || c->pending_pos < c->npending || c->resync_needed ||
	    c->dlq_due)
		return false;
	for (uint32_t i = 0; i < c->nlanes; i++)
		if (!settle_batch_empty(c->lanes[i].batch) || c->lanes[i].in_flight)
			return false;
	for (size_t i = 0; i < c->nassigned; i++) {
		const struct part *pt = &c->parts[c->assigned[i]];
		if (pt->stopped)
			continue;
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(c->rk, c->cfg->topic, c->assigned[i],
					       &lo, &hi);
		bool at_end = pt->eof || (hi >= 0 && pt->settled_to >= hi);
		if (!at_end || pt->fetch_next != pt->settled_to)
			return false;
	}
	return true;
}

static void write_stats(const struct consumer *c, const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		BS_ERROR("--stats %s: %s", path, strerror(errno));
		return;
	}
	const struct settle_metrics *m = c->m;
	double secs = c->first_message_t > 0 && c->last_commit_t > c->first_message_t
		? c->last_commit_t - c->first_message_t : 0;
	fprintf(f, "{\"messages\": %" PRIu64 ", \"usage_inserted\": %" PRIu64
		", \"usage_duplicate\": %" PRIu64 ", \"summaries_inserted\": %" PRIu64
		", \"summaries_duplicate\": %" PRIu64 ", \"batches\": %" PRIu64
		", \"seconds\": %.3f, \"records_per_second\": %.0f}\n",
		c->settled_records, (uint64_t)m->usage_inserted,
		(uint64_t)m->usage_duplicate, (uint64_t)m->summaries_inserted,
		(uint64_t)m->summaries_duplicate, (uint64_t)m->batches, secs,
		secs > 0 ? c->settled_records / secs : 0.0);
	fclose(f);
}

int settle_run(const struct settle_config *cfg, struct settle_metrics *m,
	       const struct settle_options *opt)
{
	struct consumer c = { .cfg = cfg, .opt = opt, .m = m };
	char err[ERR_MAX];
	int rc = 0;

	c.limits.max_future_s = cfg->max_future_s;
	c.horizon = SETTLE_NO_HORIZON;
	c.parts = calloc(SETTLE_PARTITION_MAX + 1, sizeof(*c.parts));
	c.assigned = calloc(SETTLE_PARTITION_MAX + 1, sizeof(*c.assigned));
	c.pos_ids = calloc(SETTLE_PARTITION_MAX + 1, sizeof(*c.pos_ids));
	c.pos_next = calloc(SETTLE_PARTITION_MAX + 1, sizeof(*c.pos_next));
	c.nlanes = cfg->connections;
	bool lanes_ok = true;
	for (uint32_t i = 0; i < c.nlanes; i++) {
		struct lane *l = &c.lanes[i];
		l->batch = settle_batch_new(cfg->batch_records);
		l->flying = settle_batch_new(cfg->batch_records);
		l->store = settle_store_new(cfg, opt->sql_dir);
		lanes_ok = lanes_ok && l->batch != NULL && l->flying != NULL &&
			   l->store != NULL;
		if (!lanes_ok)
			break;
		pthread_mutex_init(&l->mu, NULL);
		pthread_cond_init(&l->cv, NULL);
		l->work = WORK_IDLE;
		l->started = pthread_create(&l->thread, NULL, lane_main, l) == 0;
		lanes_ok = l->started;
	}
	if (c.parts == NULL || c.assigned == NULL || c.pos_ids == NULL ||
	    c.pos_next == NULL || !lanes_ok) {
		BS_ERROR("out of memory");
		rc = 3;
		goto out;
	}
	/* PostgreSQL first: a schema that does not match is refused before
	 * joining the group. */
	while (!stopping(&c) && ensure_connected(&c, err, sizeof(err)) < 0) {
		if (c.fatal)
			break;
		BS_WARN("%s; retrying", err);
		unsigned cap = cfg->retry_max_s * 1000;
		c.backoff_ms = c.backoff_ms == 0 ? 200 : (c.backoff_ms * 2 > cap
			? cap : c.backoff_ms * 2);
		for (unsigned t = 0; t < c.backoff_ms && !stopping(&c); t += 100) {
			sleep_ms(100);
			bs_notify_watchdog();
		}
	}
	c.backoff_ms = 0;
	if (c.fatal != 0 || *opt->stop) {
		rc = c.fatal;
		goto out;
	}
	if (open_kafka(&c, err, sizeof(err)) < 0) {
		BS_ERROR("%s", err);
		rc = 3;
		goto out;
	}
	BS_INFO("consuming %s as group %s, batches of up to %" PRIu32 " records, "
		"%u connection(s)", cfg->topic, cfg->group, cfg->batch_records,
		c.nlanes);

	while (!stopping(&c)) {
		bs_notify_watchdog();
		if (c.resync_needed && resync(&c) < 0) {
			backoff(&c);
			continue;
		}
		collect(&c);
		if (stopping(&c))
			break;
		housekeeping(&c);
		publish_dlq(&c);
		if (opt->drain && drained(&c))
			break;
	}
	/* the batches in flight commit or roll back; those being collected
	 * are not written (read again by the next owner) */
	bs_notify_stopping();
	finish_all(&c);
	rc = c.fatal;
	if (rc == 0 && opt->drain) {
		for (size_t i = 0; i < c.nassigned; i++)
			if (c.parts[c.assigned[i]].stopped)
				rc = 1;
	}
	BS_INFO("stopping: %" PRIu64 " messages settled (%" PRIu64 " new usage "
		"rows, %" PRIu64 " duplicates)", c.settled_records,
		(uint64_t)m->usage_inserted, (uint64_t)m->usage_duplicate);
	if (opt->stats_path != NULL)
		write_stats(&c, opt->stats_path);
out:
	if (c.rk != NULL) {
		drop_pending(&c);
		rd_kafka_queue_destroy(c.queue);
		rd_kafka_consumer_close(c.rk);
		rd_kafka_destroy(c.rk);
	}
	if (c.dlq_reader != NULL) {
		rd_kafka_consumer_close(c.dlq_reader);
		rd_kafka_destroy(c.dlq_reader);
	}
	if (c.dlq != NULL) {
		rd_kafka_flush(c.dlq, 5000);
		rd_kafka_destroy(c.dlq);
	}
	for (uint32_t i = 0; i < c.nlanes; i++) {
		struct lane *l = &c.lanes[i];
		if (l->started) {
			/* idle: every batch in flight was finished above */
			pthread_mutex_lock(&l->mu);
			assert(l->work != WORK_BUSY);
			l->work = WORK_EXIT;
			pthread_cond_broadcast(&l->cv);
			pthread_mutex_unlock(&l->mu);
			pthread_join(l->thread, NULL);
			pthread_cond_destroy(&l->cv);
			pthread_mutex_destroy(&l->mu);
		}
		settle_store_free(l->store);
		settle_batch_free(l->batch);
		settle_batch_free(l->flying);
	}
	free(c.parts);
	free(c.assigned);
	free(c.pos_ids);
	free(c.pos_next);
	return rc;
}
