/*
 * gen_records.c — `bandsplit-gen --records`: a SIMULATED month of a
 * dataplane node's usage records, for the finance demo and tests.
 *
 * For every 5-minute interval (interval_len 300) of the range it emits what
 * a node would: one usage record per (tenant, pool, direction) that saw
 * traffic, then the interval's summary record whose totals are exactly the
 * sums of those records; seq is contiguous from 1 for the node's one boot.
 * The node id must start with "sim-" (default "sim-node-2") so that
 * simulated data is always recognisable as such in the database.
 *
 * The load: each tenant has a commit and a daytime peak (tens to hundreds
 * of Mbps); its rate follows a diurnal curve in the park's local time with
 * ±20 % noise; tenants whose peak is above their commit burst over it in
 * the evening. Out is a per-tenant share of in. Unattributed traffic
 * (tenant 0) runs on every pool. A few intervals (--missing) are node
 * outages: no record at all. All integer arithmetic from a splitmix64
 * stream: the same options and --seed give the same records.
 *
 * Ground truth: --truth FILE (CSV tenant,pool,direction,records,packets,
 * bytes: totals over the range), --truth-buckets FILE (the same per
 * bucket), and a summary on stdout.
 *
 * Kafka: the records go to bandsplit.usage.v1 keyed as the dataplane keys
 * them (tenant id; "node:<id>" for summaries), so one tenant's month lands
 * in one partition. The embedded Kafka keeps only ~5 MiB per partition: a
 * 30-day month is about 5.7 MB per tenant and pool, 5.2 MB of summaries and
 * ~5.6 MB per pool of unattributed records (all keyed "0"), more than one
 * partition holds, whatever the partition count — bandsplit-settle
 * must be consuming while this produces (it settles far faster than this
 * produces; --rate paces production if needed). The largest partition key's
 * volume is printed at the end.
 */
#include "gen_records.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "log.h"
#include "record.h"

#define PROG            "bandsplit-gen --records"
#define IV              300
#define MAX_TENANTS     1000
/* tenants plus one unattributed pseudo-tenant (id 0) per pool in use */
#define MAX_SERIES      (2 * MAX_TENANTS)
#define MAX_POOLS       64
#define MAX_MISSING     1000
#define MAX_RANGE_S     (32 * 86400)
#define MAX_RATE_MBPS   100000          /* 100 Gbit/s per tenant */
#define AVG_PACKET      900             /* bytes per packet, for the counts */

struct tenant {
	uint32_t id, pool;
	uint64_t commit_mbps, peak_mbps;
	uint32_t out_permille;          /* out = in × this / 1000 */
	uint64_t bytes[2], packets[2], records[2];
};

struct opts {
	const char *brokers, *bootstrap_file, *topic, *out, *truth, *truth_b;
	const char *node, *month, *tz;
	int64_t start, end;
	uint64_t seed, rate;
	uint32_t missing, n_auto, pools, unattributed_mbps;
	enum bs_byte_measure measure;
	struct tenant t[MAX_SERIES];
	size_t n_t;
};

static uint64_t delivery_errors;

/* An error line: "bandsplit-gen: ..." as before, or a JSON log object with
 * --log-format json. */
static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t n = strlen(msg);
	if (n > 0 && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	if (bs_log_is_json())
		BS_ERROR("%s", msg);
	else
		fprintf(stderr, PROG ": %s\n", msg);
}

static _Noreturn void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static _Noreturn void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (bs_log_is_json()) {
		char msg[1024];
		vsnprintf(msg, sizeof(msg), fmt, ap);
		BS_ERROR("%s (--records --help)", msg);
	} else {
		fprintf(stderr, PROG ": ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, " (--records --help)\n");
	}
	va_end(ap);
	exit(2);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s, uint64_t lo, uint64_t hi)   /* [lo, hi] */
{
	return lo + splitmix(s) % (hi - lo + 1);
}

static void help(void)
{
	printf(
"Usage: bandsplit-gen --records (--brokers B | --bootstrap-file F | --out FILE)\n"
"                     (--month YYYY-MM [--time-zone TZ] | --start T --end T)\n"
"                     [OPTIONS]\n"
"A SIMULATED month of one node's usage records (usage.v1, interval 300 s).\n"
"  --tenant ID:POOL:COMMIT[:PEAK]  a tenant on a pool, commit and evening\n"
"                         peak in Mbps (default 80 %% of COMMIT; PEAK > COMMIT\n"
"                         bursts over the commit); repeatable\n"
"  --tenants N --pools P  or N tenants (ids 1..N) on pools 1..P, profiles\n"
"                         from the seed (default 8 on 2)\n"
"  --unattributed MBPS    unattributed traffic per pool (default 2; 0 none)\n"
"  --missing N            node outages: N intervals with no record (default 3)\n"
"  --node ID              node id, must start with \"sim-\" (default sim-node-2)\n"
"  --measure frame|ip     byte measure of the records (default frame)\n"
"  --seed N               (default 1)\n"
"  --time-zone TZ         zone of --month and of the diurnal curve\n"
"                         (default Asia/Shanghai)\n"
"  --truth FILE           totals: tenant,pool,direction,records,packets,bytes\n"
"  --truth-buckets FILE   per bucket: tenant,pool,direction,bucket,packets,bytes\n"
"  --rate N               at most N messages per second (default: no limit)\n"
"  --topic T              default " BS_TOPIC_USAGE "\n"
"  --log-format FMT       log lines on stderr as 'text' (default) or 'json'\n"
"                         (one JSON object per line: ts, level, program, pid, msg)\n"
"The embedded Kafka keeps ~5 MiB per partition and a month is more than that\n"
"per tenant: run bandsplit-settle while this produces.\n");
}

static uint64_t num(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		usage_error("%s '%s': expected an integer %" PRIu64 "..%" PRIu64,
			    opt, s, lo, hi);
	return v;
}

static void add_tenant(struct opts *o, const char *spec)
{
	unsigned long id, pool;
	unsigned long long commit, peak = 0;
	int n = 0;
	if (o->n_t == MAX_TENANTS)
		usage_error("--tenant: more than %d tenants", MAX_TENANTS);
	if ((sscanf(spec, "%lu:%lu:%llu%n", &id, &pool, &commit, &n) != 3 ||
	     (spec[n] != '\0' &&
	      sscanf(spec + n, ":%llu%n", &peak, &n) != 1)) || id < 1 ||
	    id > UINT32_MAX || pool < 1 || pool > UINT32_MAX || commit < 1 ||
	    commit > MAX_RATE_MBPS || peak > MAX_RATE_MBPS)
		usage_error("--tenant '%s': expected ID:POOL:COMMIT_MBPS[:PEAK_MBPS]"
			    " (ids ≥ 1, rates 1..%d Mbps)", spec, MAX_RATE_MBPS);
	for (size_t i = 0; i < o->n_t; i++)
		if (o->t[i].id == id && o->t[i].pool == pool)
			usage_error("--tenant '%s': tenant %lu on pool %lu twice",
				    spec, id, pool);
	o->t[o->n_t++] = (struct tenant){ .id = (uint32_t)id,
		.pool = (uint32_t)pool, .commit_mbps = commit,
		.peak_mbps = peak ? peak : commit * 8 / 10 };
}

static int64_t local_midnight(const char *tz, int y, int m)
{
	setenv("TZ", tz, 1);
	tzset();
	struct tm t = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1,
			.tm_isdst = -1 };
	return (int64_t)mktime(&t);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_BR = 256, O_BF, O_OUT, O_TOPIC, O_MONTH, O_TZ, O_START, O_END,
	       O_TENANT, O_TENANTS, O_POOLS, O_UNATTR, O_MISSING, O_NODE,
	       O_MEASURE, O_SEED, O_TRUTH, O_TRUTHB, O_RATE, O_HELP, O_LOGFMT };
	static const struct option opts[] = {
		{ "brokers", 1, NULL, O_BR }, { "bootstrap-file", 1, NULL, O_BF },
		{ "out", 1, NULL, O_OUT }, { "topic", 1, NULL, O_TOPIC },
		{ "month", 1, NULL, O_MONTH }, { "time-zone", 1, NULL, O_TZ },
		{ "start", 1, NULL, O_START }, { "end", 1, NULL, O_END },
		{ "tenant", 1, NULL, O_TENANT }, { "tenants", 1, NULL, O_TENANTS },
		{ "pools", 1, NULL, O_POOLS }, { "unattributed", 1, NULL, O_UNATTR },
		{ "missing", 1, NULL, O_MISSING }, { "node", 1, NULL, O_NODE },
		{ "measure", 1, NULL, O_MEASURE }, { "seed", 1, NULL, O_SEED },
		{ "truth", 1, NULL, O_TRUTH }, { "truth-buckets", 1, NULL, O_TRUTHB },
		{ "rate", 1, NULL, O_RATE }, { "help", 0, NULL, O_HELP },
		{ "log-format", 1, NULL, O_LOGFMT },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct opts){ .topic = BS_TOPIC_USAGE, .node = "sim-node-2",
		.tz = "Asia/Shanghai", .seed = 1, .missing = 3, .n_auto = 8,
		.pools = 2, .unattributed_mbps = 2, .start = -1, .end = -1 };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_BR: o->brokers = optarg; break;
		case O_BF: o->bootstrap_file = optarg; break;
		case O_OUT: o->out = optarg; break;
		case O_TOPIC: o->topic = optarg; break;
		case O_MONTH: o->month = optarg; break;
		case O_TZ: o->tz = optarg; break;
		case O_START: o->start = (int64_t)num("--start", optarg, 0, INT32_MAX * 4ull); break;
		case O_END: o->end = (int64_t)num("--end", optarg, 0, INT32_MAX * 4ull); break;
		case O_TENANT: add_tenant(o, optarg); break;
		case O_TENANTS: o->n_auto = (uint32_t)num("--tenants", optarg, 1, MAX_TENANTS); break;
		case O_POOLS: o->pools = (uint32_t)num("--pools", optarg, 1, MAX_POOLS); break;
		case O_UNATTR: o->unattributed_mbps = (uint32_t)num("--unattributed", optarg, 0, MAX_RATE_MBPS); break;
		case O_MISSING: o->missing = (uint32_t)num("--missing", optarg, 0, MAX_MISSING); break;
		case O_NODE: o->node = optarg; break;
		case O_MEASURE:
			if (strcmp(optarg, "frame") == 0)
				o->measure = BS_MEASURE_FRAME;
			else if (strcmp(optarg, "ip") == 0)
				o->measure = BS_MEASURE_IP;
			else
				usage_error("--measure '%s': frame or ip", optarg);
			break;
		case O_SEED: o->seed = num("--seed", optarg, 0, UINT64_MAX); break;
		case O_TRUTH: o->truth = optarg; break;
		case O_TRUTHB: o->truth_b = optarg; break;
		case O_RATE: o->rate = num("--rate", optarg, 1, 10000000); break;
		case O_HELP: help(); exit(0);
		case O_LOGFMT:
			if (bs_log_format_option(PROG, optarg) < 0)
				exit(2);
			break;
		default: usage_error("unknown option or missing value: %s",
				     argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if ((o->brokers != NULL) + (o->bootstrap_file != NULL) + (o->out != NULL) != 1)
		usage_error("give exactly one of --brokers, --bootstrap-file, --out");
	if (strncmp(o->node, "sim-", 4) != 0 || !bs_node_id_valid(o->node))
		usage_error("--node '%s': must start with \"sim-\" (simulated data) "
			    "and be [A-Za-z0-9._-], at most %d bytes", o->node,
			    BS_NODE_ID_MAX);
	if (o->month != NULL) {
		int y, m;
		char extra;
		if (o->start >= 0 || o->end >= 0)
			usage_error("--month excludes --start/--end");
		if (sscanf(o->month, "%4d-%2d%c", &y, &m, &extra) != 2 || y < 1971 ||
		    y > 2200 || m < 1 || m > 12)
			usage_error("--month '%s': expected YYYY-MM", o->month);
		o->start = local_midnight(o->tz, y, m);
		o->end = local_midnight(o->tz, y + (m == 12), m % 12 + 1);
	} else {
		setenv("TZ", o->tz, 1);
		tzset();
	}
	if (o->start < 0 || o->end < 0)
		usage_error("give --month, or --start and --end");
	if (o->start % IV || o->end % IV)
		usage_error("range [%" PRId64 ", %" PRId64 "): not on 5-minute "
			    "boundaries (--time-zone '%s'?)", o->start, o->end, o->tz);
	if (o->end <= o->start || o->end - o->start > MAX_RANGE_S)
		usage_error("range [%" PRId64 ", %" PRId64 "): must be 300 s to 32 "
			    "days", o->start, o->end);
	uint64_t n_iv = (uint64_t)(o->end - o->start) / IV;
	if (o->missing >= n_iv)
		usage_error("--missing %u: the range has only %" PRIu64
			    " intervals", o->missing, n_iv);
}

/* Tenants' profiles: given ones keep their rates; the out share and (for
 * auto tenants) the rates come from the seed. */
static void make_profiles(struct opts *o, uint64_t *rng)
{
	if (o->n_t == 0) {
		for (uint32_t i = 1; i <= o->n_auto; i++) {
			uint64_t commit = 10 * rnd(rng, 1, 50);          /* 10..500 */
			/* every third bursts: its 95th lands above the
			 * commit; the others stay under it even at the
			 * evening peak with +20 % noise (0.8 × 1.2 < 1) */
			uint64_t peak_pm = i % 3 == 0 ? rnd(rng, 1200, 1800)
						      : rnd(rng, 400, 800);
			o->t[o->n_t++] = (struct tenant){ .id = i,
				.pool = 1 + (i - 1) % o->pools,
				.commit_mbps = commit,
				.peak_mbps = commit * peak_pm / 1000 };
		}
	}
	for (size_t i = 0; i < o->n_t; i++)
		o->t[i].out_permille = (uint32_t)rnd(rng, 150, 900);
}

/* Load in permille of the peak at a local hour: night trough, evening peak. */
static const uint16_t diurnal[24] = {
	350, 280, 230, 200, 200, 230, 300, 420, 560, 680, 760, 800,
	820, 820, 810, 800, 820, 860, 920, 980, 1000, 960, 780, 520,
};

struct sink {
	rd_kafka_t *rk;
	FILE *out;
	const char *topic;
	uint64_t messages, rate;
	struct timespec t0;
	uint64_t key_bytes[MAX_SERIES + 1];   /* per Kafka key; last: node */
};

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op)
{
	(void)rk; (void)op;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && delivery_errors++ < 5)
		complain("delivery failed: %s\n",
			rd_kafka_err2str(m->err));
}

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int emit(struct sink *s, const struct bs_record *rec, size_t key_slot)
{
	char json[BS_RECORD_MAX_BYTES], key[96];
	int n = bs_record_encode(rec, json, sizeof json);
	int kn = bs_record_key(rec, key, sizeof key);
	if (n < 0 || kn < 0) {
		complain("a record does not encode\n");
		return -1;
	}
	s->key_bytes[key_slot] += (uint64_t)n;
	s->messages++;
	if (s->out) {
		fprintf(s->out, "%s\n", json);
		return 0;
	}
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(s->rk,
			RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_KEY(key, (size_t)kn),
			RD_KAFKA_V_VALUE(json, (size_t)n),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			complain("produce: %s\n", rd_kafka_err2str(e));
			return -1;
		}
		rd_kafka_poll(s->rk, 50);
	}
	rd_kafka_poll(s->rk, 0);
	if (s->rate && s->messages % 100 == 0)
		while (since(&s->t0) < (double)s->messages / (double)s->rate)
			rd_kafka_poll(s->rk, 5);
	return 0;
}

static int open_sink(const struct opts *o, struct sink *s)
{
	*s = (struct sink){ .topic = o->topic, .rate = o->rate };
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
	if (o->out) {
		s->out = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w");
		if (!s->out) {
			complain("--out %s: %s\n", o->out, strerror(errno));
			return -1;
		}
		return 0;
	}
	char brokers[1024], err[512], why[256];
	if (o->bootstrap_file) {
		FILE *f = fopen(o->bootstrap_file, "r");
		if (!f || !fgets(brokers, sizeof brokers, f)) {
			complain("--bootstrap-file %s: cannot read it\n",
				o->bootstrap_file);
			if (f)
				fclose(f);
			return -1;
		}
		fclose(f);
		brokers[strcspn(brokers, "\r\n")] = '\0';
	} else {
		snprintf(brokers, sizeof brokers, "%s", o->brokers);
	}
	rd_kafka_conf_t *conf = bs_kafka_conf_new(brokers, NULL, err, sizeof err);
	if (!conf ||
	    rd_kafka_conf_set(conf, "acks", "all", why, sizeof why) ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", why, sizeof why) ||
	    rd_kafka_conf_set(conf, "linger.ms", "20", why, sizeof why) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "200000", why, sizeof why)) {
		complain("kafka config: %s\n", conf ? why : err);
		return -1;
	}
	bs_kafka_conf_use_bs_log(conf);
	rd_kafka_conf_set_dr_msg_cb(conf, delivered);
	s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
	if (!s->rk) {
		complain("%s\n", why);
		return -1;
	}
	if (bs_kafka_wait_topic(s->rk, o->topic, 30000, err, sizeof err) < 0) {
		complain("%s\n", err);
		return -1;
	}
	return 0;
}

static int close_sink(struct sink *s)
{
	if (s->out) {
		if (fflush(s->out) != 0 || (s->out != stdout && fclose(s->out) != 0)) {
			complain("writing the records: %s\n",
				strerror(errno));
			return -1;
		}
		return 0;
	}
	while (rd_kafka_outq_len(s->rk) > 0)
		rd_kafka_flush(s->rk, 1000);
	rd_kafka_destroy(s->rk);
	return delivery_errors ? -1 : 0;
}

/* The bytes of one (tenant, direction) in the interval starting at t; 0
 * means no traffic (no record). */
static uint64_t interval_bytes(uint64_t peak_mbps, uint32_t dir_permille,
			       int64_t t, uint64_t *rng)
{
	time_t tt = (time_t)t;
	struct tm lt;
	localtime_r(&tt, &lt);
	uint64_t noise = rnd(rng, 800, 1200);          /* ±20 % */
	uint64_t bps = peak_mbps * 1000000 / 1000 * diurnal[lt.tm_hour] / 1000
		       * noise / 1000 * dir_permille;
	if (rnd(rng, 0, 999) < 2)                      /* quiet interval */
		return 0;
	return bps * IV / 8;
}

int gen_records_main(int argc, char **argv)
{
	static struct opts o;
	bs_log_init("bandsplit-gen");
	parse_args(argc, argv, &o);
	uint64_t rng = o.seed ^ 0x5eed5eed5eed5eedull;
	make_profiles(&o, &rng);

	uint64_t n_iv = (uint64_t)(o.end - o.start) / IV;
	bool *missing = calloc(n_iv, sizeof *missing);
	for (uint32_t k = 0; k < o.missing;) {
		uint64_t i = rnd(&rng, 0, n_iv - 1);
		if (!missing[i]) {
			missing[i] = true;
			k++;
		}
	}
	char boot[BS_BOOT_ID_LEN + 1];
	uint64_t b1 = splitmix(&rng), b2 = splitmix(&rng);
	snprintf(boot, sizeof boot, "%016" PRIx64 "%016" PRIx64, b1, b2);

	FILE *tb = NULL;
	if (o.truth_b && !(tb = fopen(o.truth_b, "w"))) {
		complain("--truth-buckets %s: %s\n", o.truth_b,
			strerror(errno));
		return 3;
	}
	if (tb)
		fprintf(tb, "tenant,pool,direction,bucket,packets,bytes\n");

	/* The unattributed traffic: one pseudo-tenant 0 per pool in use. */
	uint32_t pools[MAX_POOLS + MAX_TENANTS];
	size_t n_pools = 0;
	for (size_t i = 0; i < o.n_t; i++) {
		bool seen = false;
		for (size_t j = 0; j < n_pools; j++)
			seen = seen || pools[j] == o.t[i].pool;
		if (!seen)
			pools[n_pools++] = o.t[i].pool;
	}
	size_t n_real = o.n_t;
	if (o.unattributed_mbps > 0)
		for (size_t j = 0; j < n_pools; j++)
			o.t[o.n_t++] = (struct tenant){ .id = 0, .pool = pools[j],
				.commit_mbps = o.unattributed_mbps,
				.peak_mbps = o.unattributed_mbps,
				.out_permille = 500 };

	/* Usage records are keyed by tenant id: series of one tenant on several
	 * pools, and the unattributed ones, share a partition. */
	static size_t key_of[MAX_SERIES];
	for (size_t k = 0; k < o.n_t; k++) {
		key_of[k] = k;
		for (size_t j = 0; j < k && key_of[k] == k; j++)
			if (o.t[j].id == o.t[k].id)
				key_of[k] = j;
	}

	struct sink s;
	if (open_sink(&o, &s) < 0)
		return 3;
	uint64_t seq = 1, summaries = 0, usage = 0;
	struct bs_record rec;
	for (uint64_t i = 0; i < n_iv; i++) {
		int64_t t = o.start + (int64_t)(i * IV);
		uint64_t counts[MAX_SERIES][2];
		for (size_t k = 0; k < o.n_t; k++) {       /* drawn even if missing */
			counts[k][0] = interval_bytes(o.t[k].peak_mbps, 1000, t, &rng);
			counts[k][1] = interval_bytes(o.t[k].peak_mbps,
						      o.t[k].out_permille, t, &rng);
		}
		if (missing[i])
			continue;
		struct bs_summary sum = { 0 };
		uint64_t first = seq;
		for (size_t k = 0; k < o.n_t; k++) {
			for (int d = 0; d < 2; d++) {
				uint64_t bytes = counts[k][d];
				if (bytes == 0)
					continue;
				uint64_t packets = bytes / AVG_PACKET + 1;
				memset(&rec, 0, sizeof rec);
				rec.head = (struct bs_record_head){
					.type = BS_RECORD_USAGE, .seq = seq++,
					.interval_start = t, .interval_len = IV,
					.measure = o.measure, .map_version = 1 };
				snprintf(rec.head.node_id, sizeof rec.head.node_id,
					 "%s", o.node);
				memcpy(rec.head.boot_id, boot, sizeof boot);
				rec.usage.tenant_id = o.t[k].id;
				rec.usage.pool_id = o.t[k].pool;
				rec.usage.direction = d ? BS_DIR_OUT : BS_DIR_IN;
				rec.usage.counts = (struct bs_counts){ packets, bytes };
				if (emit(&s, &rec, key_of[k]) < 0)
					return 3;
				usage++;
				sum.record_count++;
				sum.dir[d].packets += packets;
				sum.dir[d].bytes += bytes;
				if (o.t[k].id == 0) {
					sum.unattributed.packets += packets;
					sum.unattributed.bytes += bytes;
				}
				o.t[k].bytes[d] += bytes;
				o.t[k].packets[d] += packets;
				o.t[k].records[d]++;
				if (tb)
					fprintf(tb, "%u,%u,%s,%" PRId64 ",%" PRIu64
						",%" PRIu64 "\n", o.t[k].id,
						o.t[k].pool, d ? "out" : "in", t,
						packets, bytes);
			}
		}
		sum.first_seq = sum.record_count ? first : 0;
		sum.rx.packets = sum.dir[0].packets + sum.dir[1].packets;
		sum.rx.bytes = sum.dir[0].bytes + sum.dir[1].bytes;
		memset(&rec, 0, sizeof rec);
		rec.head = (struct bs_record_head){ .type = BS_RECORD_SUMMARY,
			.seq = seq++, .interval_start = t, .interval_len = IV,
			.measure = o.measure, .map_version = 1 };
		snprintf(rec.head.node_id, sizeof rec.head.node_id, "%s", o.node);
		memcpy(rec.head.boot_id, boot, sizeof boot);
		rec.summary = sum;
		if (emit(&s, &rec, MAX_SERIES) < 0)
			return 3;
		summaries++;
	}
	if (close_sink(&s) < 0)
		return 3;
	if (tb && fclose(tb) != 0)
		return 3;

	FILE *tf = NULL;
	if (o.truth && !(tf = fopen(o.truth, "w"))) {
		complain("--truth %s: %s\n", o.truth, strerror(errno));
		return 3;
	}
	if (tf) {
		fprintf(tf, "tenant,pool,direction,records,packets,bytes\n");
		for (size_t k = 0; k < o.n_t; k++)
			for (int d = 0; d < 2; d++)
				fprintf(tf, "%u,%u,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64
					"\n", o.t[k].id, o.t[k].pool,
					d ? "out" : "in", o.t[k].records[d],
					o.t[k].packets[d], o.t[k].bytes[d]);
		if (fclose(tf) != 0)
			return 3;
	}

	FILE *info = o.out && strcmp(o.out, "-") == 0 ? stderr : stdout;
	uint64_t largest = 0;
	for (size_t k = 0; k < MAX_SERIES + 1; k++)
		largest = s.key_bytes[k] > largest ? s.key_bytes[k] : largest;
	fprintf(info, "SIMULATED usage of node %s (boot %s): [%" PRId64 ", %" PRId64
		"), %" PRIu64 " intervals of 300 s, %" PRIu64 " usage records, %"
		PRIu64 " summaries, seq 1..%" PRIu64 "\n", o.node, boot, o.start,
		o.end, n_iv, usage, summaries, seq - 1);
	for (size_t k = 0; k < n_real; k++)
		fprintf(info, "  tenant %u pool %u: commit %" PRIu64 " Mbps, peak %"
			PRIu64 " Mbps%s, out %u‰ of in\n", o.t[k].id, o.t[k].pool,
			o.t[k].commit_mbps, o.t[k].peak_mbps,
			o.t[k].peak_mbps > o.t[k].commit_mbps ? " (bursts over its commit)"
							       : "",
			o.t[k].out_permille);
	fprintf(info, "  missing intervals (node outage):");
	for (uint64_t i = 0; i < n_iv; i++)
		if (missing[i])
			fprintf(info, " %" PRId64, o.start + (int64_t)(i * IV));
	fprintf(info, "\n  largest partition key: %" PRIu64 " bytes (the embedded "
		"Kafka keeps ~5 MiB per partition: settle while producing)\n",
		largest);
	free(missing);
	return 0;
}
