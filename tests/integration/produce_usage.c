/*
 * produce_usage.c — the settlement tests' producer: a deterministic stream
 * of usage and summary records (usage_gen.c) into bandsplit.usage.v1, with
 * the ground truth written alongside, optionally every record sent again
 * (--repeat, the dataplane re-sending its spool), salted with malformed
 * messages (--malformed-permille) whose expected reject reasons are
 * written too, or with records left out (--skip, for the gap check).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "log.h"
#include "record.h"
#include "usage_gen.h"

#define MAX_SKIPS 16

struct opts {
	struct usage_gen_opts gen;
	const char *brokers, *bootstrap_file, *topic, *truth, *rejects;
	unsigned repeat;
	unsigned malformed_permille;
	uint64_t rate;              /* messages per second, 0 = as fast as possible */
	uint64_t skip[MAX_SKIPS];
	size_t nskip;
};

static uint64_t delivery_errors;

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk; (void)opaque;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (delivery_errors++ < 5)
			fprintf(stderr, "produce_usage: delivery failed: %s\n",
				rd_kafka_err2str(m->err));
	}
}

static void help(void)
{
	printf(
"Usage: produce_usage (--bootstrap-file F | --brokers B) [OPTIONS]\n"
"  --records N            usage records (default 200000); summaries extra\n"
"  --nodes N --tenants N --pools N --per-node N --interval S --start T\n"
"  --seed N               generator parameters (defaults 4 200 2 50 10 now 1)\n"
"  --repeat N             send the whole stream N times (default 1)\n"
"  --malformed-permille N add a malformed message after about N of every\n"
"                         1000 records, cycling through the reject reasons\n"
"  --skip I               leave out usage record number I (0-based; repeatable)\n"
"  --truth FILE           CSV of the usage records sent (once each):\n"
"                         tenant,pool,direction,interval_start,packets,bytes,\n"
"                         policed_packets,policed_bytes,node_id,boot_id,seq\n"
"  --rejects FILE         the reason of each malformed message, one a line\n"
"  --rate N               at most N messages per second (default: no limit)\n"
"  --topic T              default bandsplit.usage.v1\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_BF = 256, O_BR, O_REC, O_NODES, O_TEN, O_POOLS, O_PER, O_INT,
	       O_START, O_SEED, O_REP, O_MAL, O_SKIP, O_TRUTH, O_REJ, O_TOPIC, O_RATE, O_HELP };
	static const struct option opts[] = {
		{ "bootstrap-file", 1, NULL, O_BF }, { "brokers", 1, NULL, O_BR },
		{ "records", 1, NULL, O_REC }, { "nodes", 1, NULL, O_NODES },
		{ "tenants", 1, NULL, O_TEN }, { "pools", 1, NULL, O_POOLS },
		{ "per-node", 1, NULL, O_PER }, { "interval", 1, NULL, O_INT },
		{ "start", 1, NULL, O_START }, { "seed", 1, NULL, O_SEED },
		{ "repeat", 1, NULL, O_REP }, { "malformed-permille", 1, NULL, O_MAL },
		{ "skip", 1, NULL, O_SKIP }, { "truth", 1, NULL, O_TRUTH },
		{ "rejects", 1, NULL, O_REJ }, { "topic", 1, NULL, O_TOPIC },
		{ "rate", 1, NULL, O_RATE },
		{ "help", 0, NULL, O_HELP }, { NULL, 0, NULL, 0 },
	};
	o->gen = (struct usage_gen_opts){ .records = 200000, .nodes = 4,
		.tenants = 200, .pools = 2, .per_node = 50, .interval_len = 10,
		.seed = 1 };
	o->topic = BS_TOPIC_USAGE;
	o->repeat = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned long long v = optarg != NULL ? strtoull(optarg, NULL, 10) : 0;
		switch (c) {
		case O_BF: o->bootstrap_file = optarg; break;
		case O_BR: o->brokers = optarg; break;
		case O_REC: o->gen.records = v; break;
		case O_NODES: o->gen.nodes = (uint32_t)v; break;
		case O_TEN: o->gen.tenants = (uint32_t)v; break;
		case O_POOLS: o->gen.pools = (uint32_t)v; break;
		case O_PER: o->gen.per_node = (uint32_t)v; break;
		case O_INT: o->gen.interval_len = (uint32_t)v; break;
		case O_START: o->gen.start = (int64_t)v; break;
		case O_SEED: o->gen.seed = v; break;
		case O_REP: o->repeat = (unsigned)v; break;
		case O_MAL: o->malformed_permille = (unsigned)v; break;
		case O_SKIP:
			if (o->nskip == MAX_SKIPS)
				return -1;
			o->skip[o->nskip++] = v;
			break;
		case O_TRUTH: o->truth = optarg; break;
		case O_REJ: o->rejects = optarg; break;
		case O_TOPIC: o->topic = optarg; break;
		case O_RATE: o->rate = v; break;
		case O_HELP: help(); exit(0);
		default: return -1;
		}
	}
	if ((o->brokers == NULL) == (o->bootstrap_file == NULL) || o->repeat < 1 ||
	    o->malformed_permille > 500)
		return -1;
	return 0;
}

/* Replaces the first occurrence of from by to in s (capacity size). */
static void replace(char *s, size_t size, const char *from, const char *to)
{
	char *p = strstr(s, from);
	if (p == NULL)
		return;
	size_t lf = strlen(from), lt = strlen(to), rest = strlen(p + lf);
	if (strlen(s) - lf + lt + 1 > size)
		return;
	memmove(p + lt, p + lf, rest + 1);
	memcpy(p, to, lt);
}

/* Turns the JSON of a valid usage record into a malformed message of kind
 * n (cycling); returns the reason bandsplit-settle must give. */
static const char *malform(char *json, size_t size, unsigned n,
			   const struct bs_record *rec)
{
	char from[64], to[64];
	switch (n % 9) {
	case 0:
		json[strlen(json) / 2] = '\0';
		return "parse";
	case 1:
		replace(json, size, "bandsplit.usage.v2", "bandsplit.usage.v3");
		return "schema_version";
	case 2:
		replace(json, size, "\"map_version\":1,", "");
		return "missing_field";
	case 3:
		replace(json, size, "{", "{\"colour\":\"blue\",");
		return "unknown_field";
	case 4:
		snprintf(from, sizeof(from), "\"bytes\":%" PRIu64 ",", rec->usage.counts.bytes);
		snprintf(to, sizeof(to), "\"bytes\":\"%" PRIu64 "\",", rec->usage.counts.bytes);
		replace(json, size, from, to);
		return "type";
	case 5:
		snprintf(from, sizeof(from), "\"packets\":%" PRIu64 ",", rec->usage.counts.packets);
		replace(json, size, from, "\"packets\":-1,");
		return "range";
	case 6:
		snprintf(from, sizeof(from), "\"interval_start\":%" PRId64 ",",
			 rec->head.interval_start);
		snprintf(to, sizeof(to), "\"interval_start\":%" PRId64 ",",
			 rec->head.interval_start + 1);
		replace(json, size, from, to);
		return "unaligned";
	case 7: {
		size_t len = strlen(json);
		if (size > BS_RECORD_MAX_BYTES + 16) {
			memmove(json + BS_RECORD_MAX_BYTES, json, len + 1);
			memset(json, ' ', BS_RECORD_MAX_BYTES);
		}
		return "too_large";
	}
	default:
		snprintf(from, sizeof(from), "\"interval_start\":%" PRId64 ",",
			 rec->head.interval_start);
		snprintf(to, sizeof(to), "\"interval_start\":%" PRId64 ",",
			 rec->head.interval_start + INT64_C(10) * 365 * 86400);
		replace(json, size, from, to);
		return "future";
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps so that n messages take at least n / rate seconds since t0. */
static void pace(uint64_t n, uint64_t rate, double t0, rd_kafka_t *rk)
{
	if (rate == 0 || n % 100 != 0)
		return;
	double due = t0 + (double)n / (double)rate;
	while (now_s() < due)
		rd_kafka_poll(rk, 5);
}

static int produce(rd_kafka_t *rk, const char *topic, const char *key,
		   size_t key_len, const char *value, size_t len)
{
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(rk,
			RD_KAFKA_V_TOPIC(topic),
			RD_KAFKA_V_KEY(key, key_len),
			RD_KAFKA_V_VALUE((void *)value, len),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			return 0;
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			fprintf(stderr, "produce_usage: %s\n", rd_kafka_err2str(e));
			return -1;
		}
		rd_kafka_poll(rk, 50);
	}
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	char err[512];
	bs_log_init("produce_usage");
	if (parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, "produce_usage: bad arguments (--help)\n");
		return 2;
	}
	char brokers[1024];
	if (o.bootstrap_file != NULL) {
		FILE *f = fopen(o.bootstrap_file, "r");
		if (f == NULL || fgets(brokers, sizeof(brokers), f) == NULL) {
			fprintf(stderr, "produce_usage: cannot read %s\n", o.bootstrap_file);
			return 2;
		}
		fclose(f);
		brokers[strcspn(brokers, "\r\n")] = '\0';
	} else {
		snprintf(brokers, sizeof(brokers), "%s", o.brokers);
	}
	rd_kafka_conf_t *conf = bs_kafka_conf_new(brokers, NULL, err, sizeof(err));
	char why[256];
	if (conf == NULL ||
	    rd_kafka_conf_set(conf, "acks", "all", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "linger.ms", "20", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "batch.num.messages", "10000", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "1048576", why, sizeof(why))) {
		fprintf(stderr, "produce_usage: kafka config: %s %s\n", err, why);
		return 3;
	}
	bs_kafka_conf_use_bs_log(conf);
	rd_kafka_conf_set_dr_msg_cb(conf, delivered);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (rk == NULL) {
		fprintf(stderr, "produce_usage: %s\n", why);
		return 3;
	}
	FILE *truth = o.truth != NULL ? fopen(o.truth, "w") : NULL;
	FILE *rejects = o.rejects != NULL ? fopen(o.rejects, "w") : NULL;
	if ((o.truth != NULL && truth == NULL) || (o.rejects != NULL && rejects == NULL)) {
		fprintf(stderr, "produce_usage: cannot write the truth files\n");
		return 3;
	}

	uint64_t usage = 0, summaries = 0, malformed = 0, skipped = 0;
	double t0 = now_s();
	for (unsigned pass = 0; pass < o.repeat; pass++) {
		struct usage_gen g;
		if (usage_gen_init(&g, &o.gen, err, sizeof(err)) < 0) {
			fprintf(stderr, "produce_usage: %s\n", err);
			return 2;
		}
		o.gen.start = g.o.start;   /* the same stream on every pass */
		struct bs_record rec;
		uint64_t index = 0, mal_n = 0;
		char json[BS_RECORD_MAX_BYTES * 2 + 64], key[96];
		while (usage_gen_next(&g, &rec)) {
			bool is_usage = rec.head.type == BS_RECORD_USAGE;
			bool skip = false;
			for (size_t i = 0; is_usage && i < o.nskip; i++)
				skip = skip || o.skip[i] == index;
			if (is_usage)
				index++;
			if (skip) {
				skipped += pass == 0;
				continue;
			}
			int n = bs_record_encode(&rec, json, sizeof(json));
			int kn = bs_record_key(&rec, key, sizeof(key));
			if (n < 0 || kn < 0 || produce(rk, o.topic, key, (size_t)kn,
						      json, (size_t)n) < 0)
				return 3;
			if (is_usage) {
				usage++;
				if (pass == 0 && truth != NULL)
					fprintf(truth, "%" PRIu32 ",%" PRIu32 ",%s,%" PRId64 ",%"
						PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
						",%s,%s,%" PRIu64 "\n",
						rec.usage.tenant_id, rec.usage.pool_id,
						bs_direction_name(rec.usage.direction),
						rec.head.interval_start, rec.usage.counts.packets,
						rec.usage.counts.bytes, rec.usage.policed.packets,
						rec.usage.policed.bytes, rec.head.node_id,
						rec.head.boot_id, rec.head.seq);
			} else {
				summaries++;
			}
			if (pass == 0 && is_usage && o.malformed_permille > 0 &&
			    (index * 7919) % 1000 < o.malformed_permille) {
				const char *reason = malform(json, sizeof(json), (unsigned)mal_n++,
							     &rec);
				if (produce(rk, o.topic, key, (size_t)kn, json, strlen(json)) < 0)
					return 3;
				malformed++;
				if (rejects != NULL)
					fprintf(rejects, "%s\n", reason);
			}
			rd_kafka_poll(rk, 0);
			pace(usage + summaries + malformed, o.rate, t0, rk);
		}
	}
	while (rd_kafka_outq_len(rk) > 0)
		rd_kafka_flush(rk, 1000);
	if (truth != NULL)
		fclose(truth);
	if (rejects != NULL)
		fclose(rejects);
	rd_kafka_destroy(rk);
	printf("produced %" PRIu64 " usage, %" PRIu64 " summaries, %" PRIu64
	       " malformed, %" PRIu64 " skipped; start %" PRId64 "\n", usage,
	       summaries, malformed, skipped, o.gen.start);
	if (delivery_errors > 0) {
		fprintf(stderr, "produce_usage: %" PRIu64 " deliveries failed\n",
			delivery_errors);
		return 1;
	}
	return 0;
}
