/*
 * export.c — delivery of closed intervals: the records close.c builds →
 * spool → Kafka (see export.h).
 *
 * Runs on the control thread only. Memory for the per-interval totals is
 * allocated at start-up; a closed interval's segment (its encoded records)
 * is allocated when it closes and freed when Kafka has acknowledged it.
 */
#include "export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_malloc.h>

#include <librdkafka/rdkafka_mock.h>

#include "close.h"
#include "kafka.h"
#include "log.h"
#include "record.h"
#include "spool.h"

#define RESEND_DELAY_MS 1000
#define MAX_LINE (BS_RECORD_MAX_BYTES + 1)

struct segment;

/* One record of a segment, the opaque of its Kafka message. */
struct seg_record {
	struct segment *seg;
	uint32_t offset, len;
	uint32_t tenant_id;
	uint8_t is_summary;
	uint8_t acked;
	uint64_t retry_at_ms;        /* != 0: delivery failed, re-send then */
};

struct segment {
	char name[BS_SPOOL_NAME_MAX];
	char node_id[BS_NODE_ID_MAX + 1];
	char *data;
	size_t len;
	uint32_t n_records;
	uint32_t n_unacked;
	struct seg_record *rec;
	int64_t written;             /* Unix s: when its spool file was written */
	struct segment *prev, *next;
};

struct bs_exporter {
	const struct bs_meter_config *cfg;
	struct bs_counter_layout layout;
	const struct bs_tenant_index *tidx;
	char boot_id[BS_BOOT_ID_LEN + 1];
	uint64_t next_seq;
	uint32_t read_bank[RTE_MAX_LCORE];  /* next bank to take, per worker */
	struct bs_interval_table tab;        /* intervals not yet closed */
	struct bs_interval_totals *open;     /* its totals (tab.t) */
	unsigned n_open;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	struct bs_spool *spool;
	struct segment *segments;            /* not yet fully acknowledged */
	unsigned n_failed;                   /* records waiting for a re-send */
	struct bs_export_stats st;
	bool fatal;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int make_boot_id(char *out)
{
	uint8_t raw[16];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* ---- Kafka ------------------------------------------------------------ */

static void segment_done(struct bs_exporter *exp, struct segment *seg)
{
	char err[256];
	if (bs_spool_remove(exp->spool, seg->name, err, sizeof(err)) < 0) {
		BS_ERROR("spool: %s", err);
		exp->st.spool_errors++;
	}
	if (seg->prev)
		seg->prev->next = seg->next;
	else
		exp->segments = seg->next;
	if (seg->next)
		seg->next->prev = seg->prev;
	free(seg->rec);
	free(seg->data);
	free(seg);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	(void)rk;
	struct bs_exporter *exp = opaque;
	struct seg_record *rec = msg->_private;
	RTE_VERIFY(rec != NULL && !rec->acked);
	struct segment *seg = rec->seg;
	if (msg->err) {
		if (exp->st.delivery_errors++ % 1000 == 0)
			BS_WARN("kafka: delivery of a record of %s failed (%s); it will be re-sent",
				seg->name, rd_kafka_err2str(msg->err));
		rec->retry_at_ms = now_ms() + RESEND_DELAY_MS;
		exp->n_failed++;
		return;
	}
	rec->acked = 1;
	exp->st.records_acked++;
	RTE_VERIFY(seg->n_unacked > 0);
	if (--seg->n_unacked == 0)
		segment_done(exp, seg);
}

/* Queues one record. With may_poll, waits (serving delivery reports) while
 * librdkafka's queue is full; without, a full queue defers the record to the
 * re-send pass, so the caller's walk over the segments stays valid. */
static void produce_record(struct bs_exporter *exp, struct seg_record *rec, bool may_poll)
{
	struct segment *seg = rec->seg;
	char key[BS_RECORD_KEY_MAX];
	int key_len = bs_record_key_of(rec->is_summary ? BS_RECORD_SUMMARY : BS_RECORD_USAGE,
				       rec->tenant_id, seg->node_id, key, sizeof(key));
	RTE_VERIFY(key_len > 0);
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(exp->rk,
			RD_KAFKA_V_RKT(exp->rkt),
			RD_KAFKA_V_KEY(key, (size_t)key_len),
			RD_KAFKA_V_VALUE(seg->data + rec->offset, rec->len),
			RD_KAFKA_V_OPAQUE(rec),
			RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || !may_poll) {
			/* Not retryable here (e.g. a fatal producer state):
			 * keep the record for a later re-send. */
			rec->retry_at_ms = now_ms() + RESEND_DELAY_MS;
			exp->n_failed++;
			return;
		}
		rd_kafka_poll(exp->rk, 10);
	}
	exp->st.records_produced++;
}

static void produce_segment(struct bs_exporter *exp, struct segment *seg)
{
	seg->next = exp->segments;
	seg->prev = NULL;
	if (exp->segments)
		exp->segments->prev = seg;
	exp->segments = seg;
	for (uint32_t i = 0; i < seg->n_records; i++)
		produce_record(exp, &seg->rec[i], true);
}

static rd_kafka_t *create_producer(const struct bs_meter_config *cfg, void *opaque,
				   char *err, size_t err_size)
{
	struct bs_kafka_props props = { 0 };
	const char *defaults[][2] = {
		{ "acks", "all" },
		{ "enable.idempotence", "true" },
		{ "linger.ms", "20" },
		{ "message.timeout.ms", "300000" },
		{ "queue.buffering.max.messages", "2000000" },
		{ "queue.buffering.max.kbytes", "2097151" },
		{ "client.id", "bandsplit-meter" },
	};
	for (size_t i = 0; i < RTE_DIM(defaults); i++)
		bs_kafka_props_set(&props, defaults[i][0], defaults[i][1], err, err_size);
	if (cfg->brokers[0] == '\0') {
		BS_WARN("kafka: no brokers configured: using an in-process embedded Kafka "
			"(records are kept only while this process runs)");
		bs_kafka_props_set(&props, "test.mock.num.brokers", "3", err, err_size);
	}
	for (size_t i = 0; i < cfg->kafka.count; i++)
		if (bs_kafka_props_set(&props, cfg->kafka.key[i], cfg->kafka.value[i], err, err_size) < 0) {
			bs_kafka_props_free(&props);
			return NULL;
		}
	rd_kafka_conf_t *conf = bs_kafka_conf_new(cfg->brokers, &props, err, err_size);
	bs_kafka_props_free(&props);
	if (!conf)
		return NULL;
	bs_kafka_conf_use_bs_log(conf);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, opaque);
	char errstr[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		snprintf(err, err_size, "kafka: %s", errstr);
		rd_kafka_conf_destroy(conf);
	} else if (cfg->brokers[0] == '\0') {
		bs_kafka_mock_nodelay(rd_kafka_handle_mock_cluster(rk));   /* as real brokers */
	}
	return rk;
}

/* ---- set-up ----------------------------------------------------------- */

struct bs_exporter *bs_exporter_open(const struct bs_meter_config *cfg,
				     const struct bs_counter_layout *layout,
				     const struct bs_tenant_index *tidx,
				     unsigned n_workers, char *err, size_t err_size)
{
	struct bs_exporter *exp = calloc(1, sizeof(*exp));
	if (!exp) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	exp->st.last_interval_start = INT64_MIN;
	exp->cfg = cfg;
	exp->layout = *layout;
	exp->tidx = tidx;
	exp->next_seq = 1;
	/* Each worker holds at most BS_BANKS_PER_LCORE banks of intervals not
	 * yet closed, and late banks join the oldest open interval. */
	exp->n_open = n_workers * BS_BANKS_PER_LCORE + 2;
	exp->open = calloc(exp->n_open, sizeof(*exp->open));
	if (!exp->open) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	if (make_boot_id(exp->boot_id) < 0) {
		snprintf(err, err_size, "getrandom: %s", strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i < exp->n_open; i++) {
		exp->open[i].cells = rte_zmalloc("bs_interval",
			(size_t)layout->n_cells * sizeof(struct bs_cell), RTE_CACHE_LINE_SIZE);
		if (!exp->open[i].cells) {
			snprintf(err, err_size, "out of DPDK memory for interval totals (%u cells); lower [meter] max_tenants",
				 layout->n_cells);
			goto fail;
		}
	}
	bs_interval_table_init(&exp->tab, layout, exp->open, exp->n_open);
	exp->spool = bs_spool_open(cfg->spool_dir, err, err_size);
	if (!exp->spool)
		goto fail;
	exp->rk = create_producer(cfg, exp, err, err_size);
	if (!exp->rk)
		goto fail;
	exp->rkt = rd_kafka_topic_new(exp->rk, cfg->topic, NULL);
	if (!exp->rkt) {
		snprintf(err, err_size, "kafka: topic '%s': %s", cfg->topic,
			 rd_kafka_err2str(rd_kafka_last_error()));
		goto fail;
	}
	return exp;
fail:
	bs_exporter_close(exp);
	return NULL;
}

/* Notes one record of the segment's text: where it is, and its Kafka key. */
static void seg_add_record(struct segment *seg, size_t offset, size_t len,
			   const struct bs_record *r)
{
	struct seg_record *rec = &seg->rec[seg->n_records++];
	rec->seg = seg;
	rec->offset = (uint32_t)offset;
	rec->len = (uint32_t)len;
	rec->is_summary = r->head.type == BS_RECORD_SUMMARY;
	rec->tenant_id = rec->is_summary ? 0 : r->usage.tenant_id;
}

/* Splits a segment's text into records and learns each one's key. */
static int index_segment(struct segment *seg, char *err, size_t err_size)
{
	uint32_t lines = 0;
	for (size_t i = 0; i < seg->len; i++)
		lines += seg->data[i] == '\n';
	seg->rec = calloc(lines ? lines : 1, sizeof(*seg->rec));
	if (!seg->rec) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	size_t pos = 0;
	unsigned lineno = 0;
	while (pos < seg->len) {
		char *nl = memchr(seg->data + pos, '\n', seg->len - pos);
		size_t end = nl ? (size_t)(nl - seg->data) : seg->len;
		lineno++;
		struct bs_record r;
		const char *reason;
		char why[256];
		if (bs_record_decode(seg->data + pos, end - pos, &r, &reason, why, sizeof(why)) < 0) {
			BS_ERROR("spool: %s:%u: unreadable record skipped: %s", seg->name, lineno, why);
		} else {
			seg_add_record(seg, pos, end - pos, &r);
			snprintf(seg->node_id, sizeof(seg->node_id), "%s", r.head.node_id);
		}
		pos = end + 1;
	}
	seg->n_unacked = seg->n_records;
	return 0;
}

int bs_exporter_recover(struct bs_exporter *exp, char *err, size_t err_size)
{
	char **names = NULL;
	size_t count = 0;
	if (bs_spool_list(exp->spool, &names, &count, err, err_size) < 0)
		return -1;
	uint64_t records = 0;
	for (size_t i = 0; i < count; i++) {
		struct segment *seg = calloc(1, sizeof(*seg));
		if (!seg) {
			snprintf(err, err_size, "out of memory");
			bs_spool_list_free(names, count);
			return -1;
		}
		snprintf(seg->name, sizeof(seg->name), "%s", names[i]);
		if (bs_spool_read(exp->spool, names[i], &seg->data, &seg->len, err, err_size) < 0 ||
		    index_segment(seg, err, err_size) < 0) {
			free(seg->data);
			free(seg);
			bs_spool_list_free(names, count);
			return -1;
		}
		records += seg->n_records;
		seg->written = bs_spool_written(exp->spool, seg->name);
		if (seg->n_records == 0) {   /* nothing readable left in it */
			if (bs_spool_remove(exp->spool, seg->name, err, err_size) < 0)
				BS_ERROR("spool: %s", err);
			free(seg->rec);
			free(seg->data);
			free(seg);
			continue;
		}
		produce_segment(exp, seg);
	}
	bs_spool_list_free(names, count);
	exp->st.records_recovered += records;
	if (count)
		BS_INFO("spool: re-sending %" PRIu64 " records of %zu segments left by an earlier run",
			records, count);
	return 0;
}

/* ---- interval close ---------------------------------------------------- */

/* A segment being written: its text grows as records are appended. */
struct seg_writer {
	struct segment *seg;
	size_t cap;
};

/* Appends one encoded record and its line break to the segment text (a
 * bs_record_sink). */
static int append_record(void *arg, const struct bs_record *r)
{
	struct seg_writer *w = arg;
	struct segment *seg = w->seg;
	size_t *cap = &w->cap;
	if (seg->len + MAX_LINE + 1 > *cap) {
		size_t new_cap = *cap * 2 + MAX_LINE * 16;
		char *p = realloc(seg->data, new_cap);
		if (!p)
			return -1;
		seg->data = p;
		*cap = new_cap;
	}
	int n = bs_record_encode(r, seg->data + seg->len, MAX_LINE);
	RTE_VERIFY(n > 0);
	seg_add_record(seg, seg->len, (size_t)n, r);
	seg->len += (size_t)n;
	seg->data[seg->len++] = '\n';
	return 0;
}

/* The closed interval's figures for the metrics: bytes per pool and
 * direction (every tenant's, unattributed included), malformed by reason.
 * Once per interval on the control thread, never per packet. */
static void interval_metrics(struct bs_exporter *exp, const struct bs_interval_totals *t,
			     const struct bs_summary *s)
{
	const struct bs_counter_layout *layout = &exp->layout;
	RTE_VERIFY(layout->n_pools <= BS_MAX_POOLS);
	memset(exp->st.last_pool_bytes, 0, sizeof(exp->st.last_pool_bytes));
	for (uint32_t ti = 0; ti < layout->n_tenant_slots; ti++)
		for (uint32_t p = 0; p < layout->n_pools; p++)
			for (int d = 0; d < 2; d++)
				exp->st.last_pool_bytes[p][d] +=
					t->cells[bs_cell_index(layout, ti, p, (enum bs_direction)d)].bytes;
	for (uint32_t p = 0; p < layout->n_pools; p++)
		for (int d = 0; d < 2; d++)
			exp->st.pool_bytes[p][d] += exp->st.last_pool_bytes[p][d];
	for (unsigned r = 0; r < BS_RECORD_MAL_REASONS; r++)
		exp->st.malformed_reason[r] += s->malformed_reason[r];
	exp->st.last_interval_start = t->start;
}

/* Turns the totals of one interval into a durable segment, then produces it. */
static int close_interval(struct bs_exporter *exp, struct bs_interval_totals *t)
{
	const struct bs_counter_layout *layout = &exp->layout;
	uint32_t n_usage = bs_interval_usage_count(t, layout);
	const struct bs_close_identity id = {
		.node_id = exp->cfg->node_id, .boot_id = exp->boot_id,
		.interval_s = exp->cfg->interval_s, .measure = exp->cfg->measure,
		.tidx = exp->tidx, .pool_id = exp->cfg->pool_id,
	};

	struct segment *seg = calloc(1, sizeof(*seg));
	if (!seg)
		return -1;
	struct seg_writer w = { seg, 0 };
	seg->rec = calloc(n_usage + 1, sizeof(*seg->rec));
	if (!seg->rec)
		goto oom;
	snprintf(seg->node_id, sizeof(seg->node_id), "%s", exp->cfg->node_id);
	uint64_t first_seq = exp->next_seq;
	struct bs_record sum;
	if (bs_interval_build(t, layout, &id, first_seq, append_record, &w, &sum) != 0)
		goto oom;
	RTE_VERIFY(seg->n_records == n_usage + 1);
	seg->n_unacked = seg->n_records;

	char err[512];
	bs_spool_segment_name(seg->name, t->start, exp->boot_id, first_seq);
	if (bs_spool_write(exp->spool, seg->name, seg->data, seg->len, err, sizeof(err)) < 0) {
		if (exp->st.spool_errors++ % 100 == 0)
			BS_ERROR("spool: %s (interval %" PRId64 " kept in memory, retrying)", err, t->start);
		free(seg->rec);
		free(seg->data);
		free(seg);
		return -1;
	}
	exp->next_seq = first_seq + seg->n_records;
	const struct bs_summary *s = &sum.summary;
	BS_INFO("interval %" PRId64 " closed: %" PRIu32 " records, in %" PRIu64 " packets %" PRIu64
		" bytes, out %" PRIu64 " packets %" PRIu64 " bytes, late %" PRIu64
		" packets, malformed %" PRIu64 " packets, map version %" PRIu64,
		t->start, n_usage, s->dir[BS_DIR_IN].packets, s->dir[BS_DIR_IN].bytes,
		s->dir[BS_DIR_OUT].packets, s->dir[BS_DIR_OUT].bytes, s->late.packets,
		s->malformed.packets, t->map_version);
	exp->st.unattributed_packets += s->unattributed.packets;
	exp->st.unattributed_bytes += s->unattributed.bytes;
	interval_metrics(exp, t, s);
	seg->written = (int64_t)time(NULL);
	produce_segment(exp, seg);

	/* The interval is out: forget it, and let no worker count into it. */
	bs_interval_forget(&exp->tab, t, exp->cfg->interval_s);
	exp->st.intervals_closed++;
	return 0;
oom:
	free(seg->rec);
	free(seg->data);
	free(seg);
	BS_ERROR("out of memory closing interval %" PRId64, t->start);
	return -1;
}

int bs_exporter_collect(struct bs_exporter *exp, struct bs_lcore_counters **ctrs,
			unsigned n_workers, bool final)
{
	/* 1. Watermarks first: every bank closed before a watermark was
	 *    published is visible to the drain below. */
	int64_t watermark = INT64_MAX;
	for (unsigned w = 0; w < n_workers; w++) {
		if (__atomic_load_n(&ctrs[w]->finished, __ATOMIC_ACQUIRE))
			continue;
		int64_t open = __atomic_load_n(&ctrs[w]->open_start, __ATOMIC_ACQUIRE);
		if (open < watermark)
			watermark = open;
	}
	if (final)
		watermark = INT64_MAX;

	/* 2. Take the closed banks of intervals before the watermark, in ring
	 *    order. A bank of a later interval stays with its worker until
	 *    every worker has left that interval: the interval totals then
	 *    never hold more than a few intervals, and a worker far ahead of
	 *    the others waits (backpressure) instead of piling up intervals. */
	for (unsigned w = 0; w < n_workers; w++) {
		struct bs_lcore_counters *ctr = ctrs[w];
		for (;;) {
			struct bs_bank *bank = &ctr->bank[exp->read_bank[w]];
			if (bs_bank_state_load(bank) != BS_BANK_CLOSED ||
			    bank->interval_start >= watermark)
				break;
			struct bs_merge_stats ms = { 0 };
			bs_interval_merge(&exp->tab, bank, &ms);
			exp->st.late_packets += ms.late_packets;
			exp->st.rx_packets += ms.rx_packets;
			exp->st.rx_bytes += ms.rx_bytes;
			exp->st.malformed_packets += ms.malformed_packets;
			exp->st.non_ip_packets += ms.non_ip_packets;
			bs_bank_clear(bank, &exp->layout);
			exp->read_bank[w] = (exp->read_bank[w] + 1) % BS_BANKS_PER_LCORE;
		}
	}

	/* 3. Close, oldest first, what no worker can still count into. */
	int closed = 0;
	struct bs_interval_totals *t;
	while ((t = bs_interval_oldest(&exp->tab)) != NULL && t->start < watermark) {
		if (close_interval(exp, t) < 0)
			return -1;
		closed++;
	}
	return closed;
}

static void after_poll(struct bs_exporter *exp);

void bs_exporter_poll(struct bs_exporter *exp, int timeout_ms)
{
	rd_kafka_poll(exp->rk, timeout_ms);
	after_poll(exp);
}

void bs_exporter_drain(struct bs_exporter *exp, int timeout_ms)
{
	/* unlike poll, flush sends what lingers in the queues at once */
	rd_kafka_flush(exp->rk, timeout_ms);
	after_poll(exp);
}

/* After delivery reports were served: a fatal producer error, and the
 * re-sending of records whose delivery failed. */
static void after_poll(struct bs_exporter *exp)
{
	char errstr[512];
	if (!exp->fatal && rd_kafka_fatal_error(exp->rk, errstr, sizeof(errstr))) {
		BS_ERROR("kafka: fatal producer error: %s; unacknowledged records stay in the spool", errstr);
		exp->fatal = true;
	}
	if (exp->n_failed == 0 || exp->fatal)
		return;
	uint64_t now = now_ms();
	for (struct segment *seg = exp->segments; seg; seg = seg->next) {
		for (uint32_t i = 0; i < seg->n_records; i++) {
			struct seg_record *rec = &seg->rec[i];
			if (rec->retry_at_ms == 0)
				continue;
			if (rec->retry_at_ms > now)
				continue;
			rec->retry_at_ms = 0;
			exp->n_failed--;
			exp->st.records_resent++;
			produce_record(exp, rec, false);
		}
	}
}

const int64_t *bs_exporter_closed_upto(const struct bs_exporter *exp)
{
	return &exp->tab.closed_upto;
}

const char *bs_exporter_boot_id(const struct bs_exporter *exp)
{
	return exp->boot_id;
}

bool bs_exporter_fatal(const struct bs_exporter *exp)
{
	return exp->fatal;
}

void bs_exporter_stats(const struct bs_exporter *exp, struct bs_export_stats *st)
{
	*st = exp->st;
	st->segments_pending = 0;
	st->records_pending = 0;
	st->oldest_segment_written = 0;
	for (const struct segment *seg = exp->segments; seg; seg = seg->next) {
		st->segments_pending++;
		st->records_pending += seg->n_unacked;
		if (st->oldest_segment_written == 0 || seg->written < st->oldest_segment_written)
			st->oldest_segment_written = seg->written;
	}
	st->spool_depth = exp->spool ? bs_spool_depth(exp->spool) : 0;
}

uint64_t bs_exporter_close(struct bs_exporter *exp)
{
	if (!exp)
		return 0;
	uint64_t unacked = 0;
	if (exp->rk) {
		rd_kafka_flush(exp->rk, 2000);
		/* Messages still queued are not lost: their segments stay in
		 * the spool. Purge so that no delivery report fires after the
		 * segments are freed. */
		rd_kafka_purge(exp->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(exp->rk, 0);
	}
	while (exp->segments) {
		struct segment *seg = exp->segments;
		unacked += seg->n_unacked;
		exp->segments = seg->next;
		free(seg->rec);
		free(seg->data);
		free(seg);
	}
	if (exp->rkt)
		rd_kafka_topic_destroy(exp->rkt);
	if (exp->rk)
		rd_kafka_destroy(exp->rk);
	if (exp->spool)
		bs_spool_close(exp->spool);
	for (unsigned i = 0; exp->open && i < exp->n_open; i++)
		rte_free(exp->open[i].cells);
	free(exp->open);
	free(exp);
	return unacked;
}
