/*
 * bandsplit-usage — reads the usage records back from Kafka and prints the
 * totals: per (tenant, pool, direction), or per interval as well.
 *
 * For the README's demo and for tests: it reads every partition from the
 * beginning with a plain consumer (manual assignment, no group membership,
 * no commits), drops second deliveries of the same record identity, and can
 * verify the dataplane's promises (--check): per (node, boot, interval) the
 * usage records add up to the summary, the summary counts them, and seq
 * numbers per (node, boot) are contiguous from 1.
 *
 * It stops once every partition has reached its end and nothing new came
 * for --idle-ms, or, with --expect-summaries N, as soon as N summaries were
 * seen and every partition is at its end.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "bs_version.h"
#include "log.h"
#include "record.h"

#define PROGRAM "bandsplit-usage"

#define EXIT_CHECK   1   /* --check found problems, or summaries missing */
#define EXIT_USAGE   2   /* bad command line */
#define EXIT_RUNTIME 3   /* Kafka, files, memory, timeout, interrupted */

#define DEFAULT_IDLE_MS      3000
#define METADATA_TIMEOUT_MS  10000
#define POLL_MS              100
#define MAX_SOURCES          (1u << 20)   /* distinct (node, boot) pairs */
#define HTAB_MAX_SLOTS       (1u << 27)   /* per table; ~94M entries */
#define MAX_PRINTED_PROBLEMS 200

enum format { FORMAT_TABLE, FORMAT_TSV, FORMAT_JSON };
enum group_by { BY_TENANT, BY_INTERVAL };

struct options {
	const char *brokers;
	const char *topic;
	long idle_ms;
	long timeout_ms;          /* 0: none */
	long expect_summaries;    /* 0: not asked */
	enum format format;
	enum group_by by;
	bool dedup;
	bool check;
	const char *stats_path;
	bool verbose;
	struct bs_kafka_props props;
};

/* ---- an open-addressing hash table of fixed-size entries -------------
 * An entry starts with its key (ksize bytes, a multiple of 8, padding
 * zeroed by the caller). Linear probing, grows at 70% load. Pointers into
 * it are valid until the next insertion. */

struct htab {
	unsigned char *slots;
	unsigned char *used;
	size_t esize, ksize;
	size_t cap;               /* power of two, or 0 before the first insert */
	size_t count;
	const char *what;         /* for error messages */
};

static void htab_init(struct htab *t, size_t esize, size_t ksize, const char *what)
{
	assert(ksize % 8 == 0 && ksize <= esize);
	*t = (struct htab){ .esize = esize, .ksize = ksize, .what = what };
}

static uint64_t hash_key(const void *key, size_t ksize)
{
	const unsigned char *p = key;
	uint64_t h = 0x9e3779b97f4a7c15u ^ ksize;
	for (size_t i = 0; i < ksize; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h ^= w;
		h *= 0xff51afd7ed558ccdu;
		h ^= h >> 32;
	}
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53u;
	h ^= h >> 32;
	return h;
}

static bool htab_grow(struct htab *t)
{
	size_t ncap = t->cap == 0 ? 1024 : t->cap * 2;
	if (ncap > HTAB_MAX_SLOTS) {
		BS_ERROR("too many %s: more than %zu", t->what,
			 (size_t)HTAB_MAX_SLOTS / 10 * 7);
		return false;
	}
	unsigned char *slots = calloc(ncap, t->esize);
	unsigned char *used = calloc(ncap, 1);
	if (slots == NULL || used == NULL) {
		BS_ERROR("out of memory for %zu %s", t->count, t->what);
		free(slots);
		free(used);
		return false;
	}
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->used[i])
			continue;
		const unsigned char *e = t->slots + i * t->esize;
		size_t j = hash_key(e, t->ksize) & (ncap - 1);
		while (used[j])
			j = (j + 1) & (ncap - 1);
		memcpy(slots + j * t->esize, e, t->esize);
		used[j] = 1;
	}
	free(t->slots);
	free(t->used);
	t->slots = slots;
	t->used = used;
	t->cap = ncap;
	return true;
}

/* Finds the entry of key, or inserts a zeroed one holding key. Returns NULL
 * only when the table cannot grow (logged). */
static void *htab_upsert(struct htab *t, const void *key, bool *inserted)
{
	if ((t->count + 1) * 10 > t->cap * 7 && !htab_grow(t))
		return NULL;
	size_t i = hash_key(key, t->ksize) & (t->cap - 1);
	for (;;) {
		unsigned char *e = t->slots + i * t->esize;
		if (!t->used[i]) {
			memcpy(e, key, t->ksize);
			t->used[i] = 1;
			t->count++;
			*inserted = true;
			return e;
		}
		if (memcmp(e, key, t->ksize) == 0) {
			*inserted = false;
			return e;
		}
		i = (i + 1) & (t->cap - 1);
	}
}

static void *htab_at(const struct htab *t, size_t i)
{
	return t->used[i] ? t->slots + i * t->esize : NULL;
}

static void htab_free(struct htab *t)
{
	free(t->slots);
	free(t->used);
	t->slots = t->used = NULL;
	t->cap = t->count = 0;
}

/* ---- what is tracked ------------------------------------------------- */

/* A (node_id, boot_id) pair: the source of one seq sequence. */
struct source_key {
	char node_id[BS_NODE_ID_MAX + 1];
	char boot_id[BS_BOOT_ID_LEN + 1];
	char pad[7];
};
struct source_entry {
	struct source_key key;
	uint32_t index;
};
struct source {
	char node_id_buf[BS_NODE_ID_MAX + 1];
	char boot_id[BS_BOOT_ID_LEN + 1];
	uint64_t *seqs;           /* of distinct records, unsorted */
	size_t seq_count, seq_cap;
};

/* Identity of a usage record, the source standing for (node, boot). */
struct usage_key {
	int64_t interval_start;
	uint32_t source;
	uint32_t tenant_id;
	uint32_t pool_id;
	uint32_t direction;
};
struct usage_entry {
	struct usage_key key;
	uint64_t fingerprint;     /* of the content, to see conflicting copies */
};

/* One (node, boot, interval): its summary and what its usage records sum to. */
struct interval_key {
	int64_t interval_start;
	uint32_t source;
	uint32_t pad;
};
struct interval_entry {
	struct interval_key key;
	bool has_summary;
	uint64_t summary_seq;
	struct bs_summary summary;
	uint32_t usage_count;
	uint64_t min_usage_seq, max_usage_seq;
	struct bs_counts usage_dir[BS_DIR_COUNT];
	struct bs_counts usage_unattributed;
};

/* A row of the output. interval_start is 0 with --by tenant. */
struct total_key {
	int64_t interval_start;
	uint32_t tenant_id;
	uint32_t pool_id;
	uint32_t direction;
	uint32_t pad;
};
struct total_entry {
	struct total_key key;
	uint64_t packets;
	uint64_t bytes;
};

static_assert(offsetof(struct source_entry, key) == 0, "key first");
static_assert(sizeof(struct source_key) % 8 == 0, "key size");
static_assert(sizeof(struct usage_key) == 24, "no padding in the key");
static_assert(sizeof(struct interval_key) == 16, "no padding in the key");
static_assert(sizeof(struct total_key) == 24, "no padding in the key");

struct stats {
	uint64_t records;         /* messages read, every kind */
	uint64_t usage;           /* distinct usage records */
	uint64_t summaries;       /* distinct summaries */
	uint64_t duplicates;      /* second copies of an identity */
	uint64_t conflicts;       /* ... whose content differs from the first */
	uint64_t rejected;        /* undecodable messages */
	uint64_t check_failures;
};

struct state {
	const struct options *opt;
	struct htab sources;      /* source_entry */
	struct source *source;    /* by index */
	uint32_t source_count, source_cap;
	struct htab usage;        /* usage_entry */
	struct htab intervals;    /* interval_entry */
	struct htab totals;       /* total_entry */
	struct stats stats;
	uint64_t printed_problems;
};

/* ---- command line ---------------------------------------------------- */

static void usage_text(FILE *out)
{
	fprintf(out,
"Usage: " PROGRAM " --brokers HOST:PORT[,...] [OPTIONS]\n"
"\n"
"Reads bandsplit usage records from Kafka (every partition, from the\n"
"beginning, no consumer group commits) and prints the totals.\n"
"\n"
"Options:\n"
"  --brokers LIST        bootstrap servers (required)\n"
"  --topic NAME          topic to read (default " BS_TOPIC_USAGE ")\n"
"  --from-beginning      start at the oldest message of every partition\n"
"                        (the default, and the only mode)\n"
"  --idle-ms N           stop when every partition has reached its end and\n"
"                        no message came for N ms (default %d)\n"
"  --expect-summaries N  stop as soon as N distinct summaries were seen and\n"
"                        every partition is at its end; exit %d if fewer\n"
"                        were seen when reading stops\n"
"  --timeout-ms N        give up after N ms in all (default: no limit);\n"
"                        prints what was read, exits %d\n"
"  --format FMT          table (default), tsv or json\n"
"  --by KEY              tenant (default): totals per (tenant, pool,\n"
"                        direction); interval: per (interval_start, tenant,\n"
"                        pool, direction)\n"
"  --dedup               drop second copies of a record identity (default)\n"
"  --no-dedup            count every copy in the totals (duplicates are\n"
"                        still counted in the stats)\n"
"  --check               verify per (node, boot, interval) that the usage\n"
"                        records sum to the summary per direction, that\n"
"                        record_count and first_seq match them and the\n"
"                        summary's seq follows them, and that seq per\n"
"                        (node, boot) is contiguous from 1 across usage\n"
"                        records and summaries; problems go to\n"
"                        stderr; exit %d if any\n"
"  --stats FILE          write key=value lines: records, usage, summaries,\n"
"                        duplicates, conflicts, rejected, check_failures\n"
"  -X KEY=VALUE          librdkafka property (repeatable), e.g. for SASL\n"
"  --verbose             log debug messages\n"
"  --log-format FMT      log lines on stderr as 'text' (default) or 'json'\n"
"                        (one JSON object per line: ts, level, program, pid, msg)\n"
"  --help                show this help\n"
"  --version             show the version\n"
"\n"
"Identities: a usage record is (node_id, boot_id, interval_start,\n"
"tenant_id, pool_id, direction); a summary is (node_id, boot_id,\n"
"interval_start). 'records' counts every message; 'usage' and 'summaries'\n"
"count distinct identities; 'duplicates' the further copies ('conflicts'\n"
"those of them whose counts differ from the first copy); 'rejected' the\n"
"messages the decoder refused (each reported with topic, partition,\n"
"offset and the reason).\n"
"\n"
"TSV output: a header line, then rows sorted numerically:\n"
"  [interval_start] tenant_id pool_id direction packets bytes (TAB-separated)\n"
"(interval_start only with --by interval; Unix seconds; direction in|out).\n"
"\n"
"Exit status: 0 ok; %d --check problems or too few summaries; %d bad\n"
"arguments; %d Kafka or file error, timeout or interrupted.\n",
		DEFAULT_IDLE_MS, EXIT_CHECK, EXIT_RUNTIME, EXIT_CHECK,
		EXIT_CHECK, EXIT_USAGE, EXIT_RUNTIME);
}

static long parse_ms(const char *opt, const char *s, long min, long max)
{
	errno = 0;
	char *end = NULL;
	long v = (s[0] >= '0' && s[0] <= '9') ? strtol(s, &end, 10) : -1;
	if (v < 0 || errno != 0 || *end != '\0' || v < min || v > max) {
		fprintf(stderr, PROGRAM ": %s '%s': must be an integer %ld..%ld\n",
			opt, s, min, max);
		return -1;
	}
	return v;
}

/* Returns 0 to run, 1 after --help, EXIT_USAGE on bad arguments. */
static int parse_args(int argc, char **argv, struct options *opt)
{
	enum { OPT_BROKERS = 256, OPT_TOPIC, OPT_FROM_BEGINNING, OPT_IDLE_MS,
	       OPT_EXPECT, OPT_TIMEOUT, OPT_FORMAT, OPT_BY, OPT_DEDUP,
	       OPT_NO_DEDUP, OPT_CHECK, OPT_STATS, OPT_VERBOSE, OPT_HELP, OPT_VERSION,
	       OPT_LOG_FORMAT };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, OPT_BROKERS },
		{ "topic", required_argument, NULL, OPT_TOPIC },
		{ "from-beginning", no_argument, NULL, OPT_FROM_BEGINNING },
		{ "idle-ms", required_argument, NULL, OPT_IDLE_MS },
		{ "expect-summaries", required_argument, NULL, OPT_EXPECT },
		{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "by", required_argument, NULL, OPT_BY },
		{ "dedup", no_argument, NULL, OPT_DEDUP },
		{ "no-dedup", no_argument, NULL, OPT_NO_DEDUP },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];

	opt->topic = BS_TOPIC_USAGE;
	opt->idle_ms = DEFAULT_IDLE_MS;
	opt->format = FORMAT_TABLE;
	opt->by = BY_TENANT;
	opt->dedup = true;

	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":X:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BROKERS: opt->brokers = optarg; break;
		case OPT_TOPIC:   opt->topic = optarg; break;
		case OPT_FROM_BEGINNING: break;
		case OPT_IDLE_MS:
			if ((opt->idle_ms = parse_ms("--idle-ms", optarg, 0, 86400000)) < 0)
				return EXIT_USAGE;
			break;
		case OPT_TIMEOUT:
			if ((opt->timeout_ms = parse_ms("--timeout-ms", optarg, 1,
							86400000)) < 0)
				return EXIT_USAGE;
			break;
		case OPT_EXPECT:
			if ((opt->expect_summaries = parse_ms("--expect-summaries", optarg,
							      1, LONG_MAX)) < 0)
				return EXIT_USAGE;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "table") == 0)
				opt->format = FORMAT_TABLE;
			else if (strcmp(optarg, "tsv") == 0)
				opt->format = FORMAT_TSV;
			else if (strcmp(optarg, "json") == 0)
				opt->format = FORMAT_JSON;
			else {
				fprintf(stderr, PROGRAM ": --format '%s': must be table, "
					"tsv or json\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_BY:
			if (strcmp(optarg, "tenant") == 0)
				opt->by = BY_TENANT;
			else if (strcmp(optarg, "interval") == 0)
				opt->by = BY_INTERVAL;
			else {
				fprintf(stderr, PROGRAM ": --by '%s': must be tenant or "
					"interval\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_DEDUP:    opt->dedup = true; break;
		case OPT_NO_DEDUP: opt->dedup = false; break;
		case OPT_CHECK:    opt->check = true; break;
		case OPT_STATS:    opt->stats_path = optarg; break;
		case OPT_VERBOSE:  opt->verbose = true; break;
		case 'X': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg) {
				fprintf(stderr, PROGRAM ": -X '%s': expected KEY=VALUE\n",
					optarg);
				return EXIT_USAGE;
			}
			*eq = '\0';
			if (bs_kafka_props_set(&opt->props, optarg, eq + 1, err,
					       sizeof(err)) != 0) {
				fprintf(stderr, PROGRAM ": -X %s: %s\n", optarg, err);
				return EXIT_USAGE;
			}
			break;
		}
		case OPT_HELP: usage_text(stdout); return 1;
		case OPT_VERSION: printf("bandsplit-usage %s\n", BS_PACKAGE_VERSION); return 1;
		case OPT_LOG_FORMAT:
			if (bs_log_format_option(PROGRAM, optarg) < 0)
				return EXIT_USAGE;
			break;
		case ':':
			fprintf(stderr, PROGRAM ": option '%s' needs a value\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, PROGRAM ": unknown option '%s' (try --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROGRAM ": unexpected argument '%s' (try --help)\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (opt->brokers == NULL || opt->brokers[0] == '\0') {
		fprintf(stderr, PROGRAM ": --brokers is required (try --help)\n");
		return EXIT_USAGE;
	}
	return 0;
}

/* ---- accounting ------------------------------------------------------ */

static void problem(struct state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct state *st, const char *fmt, ...)
{
	st->stats.check_failures++;
	if (st->printed_problems++ >= MAX_PRINTED_PROBLEMS)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "check: %s\n", line);
}

/* Interns (node_id, boot_id); returns its index or -1 (logged). */
static int64_t source_index(struct state *st, const struct bs_record_head *h)
{
	struct source_key key;
	memset(&key, 0, sizeof(key));
	snprintf(key.node_id, sizeof(key.node_id), "%s", h->node_id);
	snprintf(key.boot_id, sizeof(key.boot_id), "%s", h->boot_id);
	bool inserted;
	struct source_entry *e = htab_upsert(&st->sources, &key, &inserted);
	if (e == NULL)
		return -1;
	if (!inserted)
		return e->index;
	if (st->source_count == MAX_SOURCES) {
		BS_ERROR("more than %u distinct (node_id, boot_id) pairs", MAX_SOURCES);
		return -1;
	}
	if (st->source_count == st->source_cap) {
		uint32_t ncap = st->source_cap == 0 ? 16 : st->source_cap * 2;
		struct source *n = realloc(st->source, ncap * sizeof(*n));
		if (n == NULL) {
			BS_ERROR("out of memory for sources");
			return -1;
		}
		st->source = n;
		st->source_cap = ncap;
	}
	struct source *s = &st->source[st->source_count];
	memset(s, 0, sizeof(*s));
	snprintf(s->node_id_buf, sizeof(s->node_id_buf), "%s", h->node_id);
	snprintf(s->boot_id, sizeof(s->boot_id), "%s", h->boot_id);
	e->index = st->source_count++;
	return e->index;
}

static int source_add_seq(struct source *s, uint64_t seq)
{
	if (s->seq_count == s->seq_cap) {
		size_t ncap = s->seq_cap == 0 ? 64 : s->seq_cap * 2;
		uint64_t *n = realloc(s->seqs, ncap * sizeof(*n));
		if (n == NULL) {
			BS_ERROR("out of memory for seq numbers");
			return -1;
		}
		s->seqs = n;
		s->seq_cap = ncap;
	}
	s->seqs[s->seq_count++] = seq;
	return 0;
}

static struct interval_entry *interval_of(struct state *st, uint32_t source,
					  int64_t interval_start)
{
	struct interval_key key = { .interval_start = interval_start,
				    .source = source };
	bool inserted;
	return htab_upsert(&st->intervals, &key, &inserted);
}

static int add_total(struct state *st, const struct bs_record *rec)
{
	struct total_key key = {
		.interval_start = st->opt->by == BY_INTERVAL ? rec->head.interval_start : 0,
		.tenant_id = rec->usage.tenant_id,
		.pool_id = rec->usage.pool_id,
		.direction = (uint32_t)rec->usage.direction,
	};
	bool inserted;
	struct total_entry *t = htab_upsert(&st->totals, &key, &inserted);
	if (t == NULL)
		return -1;
	t->packets += rec->usage.counts.packets;
	t->bytes += rec->usage.counts.bytes;
	return 0;
}

static uint64_t usage_fingerprint(const struct bs_record *rec)
{
	uint64_t v[6] = { rec->head.seq, rec->usage.counts.packets,
			  rec->usage.counts.bytes, rec->usage.policed.packets,
			  rec->usage.policed.bytes, rec->head.interval_len };
	return hash_key(v, sizeof(v));
}

static bool summary_equal(const struct bs_summary *a, const struct bs_summary *b)
{
	const struct bs_counts *ca[] = { &a->dir[0], &a->dir[1], &a->unattributed,
					 &a->malformed, &a->non_ip, &a->rx, &a->late };
	const struct bs_counts *cb[] = { &b->dir[0], &b->dir[1], &b->unattributed,
					 &b->malformed, &b->non_ip, &b->rx, &b->late };
	if (a->record_count != b->record_count || a->first_seq != b->first_seq ||
	    memcmp(a->malformed_reason, b->malformed_reason, sizeof(a->malformed_reason)) != 0)
		return false;
	for (size_t i = 0; i < sizeof(ca) / sizeof(ca[0]); i++)
		if (ca[i]->packets != cb[i]->packets || ca[i]->bytes != cb[i]->bytes)
			return false;
	return true;
}

static void counts_add(struct bs_counts *sum, const struct bs_counts *c)
{
	sum->packets += c->packets;
	sum->bytes += c->bytes;
}

static int account_usage(struct state *st, const struct bs_record *rec,
			 uint32_t source)
{
	struct usage_key key = {
		.interval_start = rec->head.interval_start,
		.source = source,
		.tenant_id = rec->usage.tenant_id,
		.pool_id = rec->usage.pool_id,
		.direction = (uint32_t)rec->usage.direction,
	};
	bool inserted;
	struct usage_entry *e = htab_upsert(&st->usage, &key, &inserted);
	if (e == NULL)
		return -1;
	uint64_t fp = usage_fingerprint(rec);
	if (!inserted) {
		st->stats.duplicates++;
		if (e->fingerprint != fp) {
			st->stats.conflicts++;
			if (st->opt->check)
				problem(st, "node %s boot %s interval %" PRId64 " tenant %" PRIu32
				" pool %" PRIu32 " %s: a second copy (seq %" PRIu64
				") differs from the first", rec->head.node_id,
				rec->head.boot_id, rec->head.interval_start,
				rec->usage.tenant_id, rec->usage.pool_id,
				bs_direction_name(rec->usage.direction), rec->head.seq);
		}
		return st->opt->dedup ? 0 : add_total(st, rec);
	}
	e->fingerprint = fp;
	st->stats.usage++;

	struct interval_entry *iv = interval_of(st, source, rec->head.interval_start);
	if (iv == NULL)
		return -1;
	if (iv->usage_count == 0 || rec->head.seq < iv->min_usage_seq)
		iv->min_usage_seq = rec->head.seq;
	if (rec->head.seq > iv->max_usage_seq)
		iv->max_usage_seq = rec->head.seq;
	iv->usage_count++;
	counts_add(&iv->usage_dir[rec->usage.direction], &rec->usage.counts);
	if (rec->usage.tenant_id == 0)
		counts_add(&iv->usage_unattributed, &rec->usage.counts);
	if (source_add_seq(&st->source[source], rec->head.seq) != 0)
		return -1;
	return add_total(st, rec);
}

static int account_summary(struct state *st, const struct bs_record *rec,
			   uint32_t source)
{
	struct interval_entry *iv = interval_of(st, source, rec->head.interval_start);
	if (iv == NULL)
		return -1;
	if (iv->has_summary) {
		st->stats.duplicates++;
		if (iv->summary_seq != rec->head.seq ||
		    !summary_equal(&iv->summary, &rec->summary)) {
			st->stats.conflicts++;
			if (st->opt->check)
				problem(st, "node %s boot %s interval %" PRId64 ": a second "
				"summary (seq %" PRIu64 ") differs from the first "
				"(seq %" PRIu64 ")", rec->head.node_id,
				rec->head.boot_id, rec->head.interval_start,
				rec->head.seq, iv->summary_seq);
		}
		return 0;
	}
	iv->has_summary = true;
	iv->summary_seq = rec->head.seq;
	iv->summary = rec->summary;
	st->stats.summaries++;
	return source_add_seq(&st->source[source], rec->head.seq);
}

/* Decodes and accounts one message. Returns -1 only on a fatal error. */
static int handle_message(struct state *st, const rd_kafka_message_t *m)
{
	st->stats.records++;
	struct bs_record rec;
	const char *reason = "parse";
	char err[256] = "empty message";
	if (m->payload == NULL ||
	    bs_record_decode(m->payload, m->len, &rec, &reason, err, sizeof(err)) != 0) {
		st->stats.rejected++;
		fprintf(stderr, PROGRAM ": %s [%" PRId32 "] @%" PRId64 ": rejected "
			"(%s): %s\n", rd_kafka_topic_name(m->rkt), m->partition,
			m->offset, reason, err);
		return 0;
	}
	int64_t source = source_index(st, &rec.head);
	if (source < 0)
		return -1;
	return rec.head.type == BS_RECORD_USAGE
		? account_usage(st, &rec, (uint32_t)source)
		: account_summary(st, &rec, (uint32_t)source);
}

/* ---- checks ---------------------------------------------------------- */

static void check_interval(struct state *st, const struct interval_entry *iv)
{
	const struct source *src = &st->source[iv->key.source];
	const char *node = src->node_id_buf, *boot = src->boot_id;
	int64_t at = iv->key.interval_start;
	if (!iv->has_summary) {
		problem(st, "node %s boot %s interval %" PRId64 ": %" PRIu32
			" usage records but no summary", node, boot, at, iv->usage_count);
		return;
	}
	const struct bs_summary *s = &iv->summary;
	for (int d = 0; d < BS_DIR_COUNT; d++) {
		const char *dn = bs_direction_name((enum bs_direction)d);
		if (iv->usage_dir[d].packets != s->dir[d].packets)
			problem(st, "node %s boot %s interval %" PRId64 ": %s packets: "
				"usage records sum to %" PRIu64 ", summary says %" PRIu64,
				node, boot, at, dn, iv->usage_dir[d].packets,
				s->dir[d].packets);
		if (iv->usage_dir[d].bytes != s->dir[d].bytes)
			problem(st, "node %s boot %s interval %" PRId64 ": %s bytes: "
				"usage records sum to %" PRIu64 ", summary says %" PRIu64,
				node, boot, at, dn, iv->usage_dir[d].bytes,
				s->dir[d].bytes);
	}
	if (iv->usage_unattributed.packets != s->unattributed.packets ||
	    iv->usage_unattributed.bytes != s->unattributed.bytes)
		problem(st, "node %s boot %s interval %" PRId64 ": unattributed: usage "
			"records of tenant 0 sum to %" PRIu64 " packets %" PRIu64
			" bytes, summary says %" PRIu64 " packets %" PRIu64 " bytes",
			node, boot, at, iv->usage_unattributed.packets,
			iv->usage_unattributed.bytes, s->unattributed.packets,
			s->unattributed.bytes);
	if (iv->usage_count != s->record_count) {
		problem(st, "node %s boot %s interval %" PRId64 ": record_count: "
			"%" PRIu32 " usage records seen, summary says %" PRIu32,
			node, boot, at, iv->usage_count, s->record_count);
		return;
	}
	if (s->record_count > 0 &&
	    (iv->min_usage_seq != s->first_seq ||
	     iv->max_usage_seq != s->first_seq + s->record_count - 1))
		problem(st, "node %s boot %s interval %" PRId64 ": usage seqs "
			"%" PRIu64 "..%" PRIu64 ", summary says first_seq %" PRIu64
			" record_count %" PRIu32, node, boot, at, iv->min_usage_seq,
			iv->max_usage_seq, s->first_seq, s->record_count);
	/* The summary comes right after its usage records. */
	if (s->record_count > 0 && iv->summary_seq != s->first_seq + s->record_count)
		problem(st, "node %s boot %s interval %" PRId64 ": summary seq %"
			PRIu64 " does not follow its usage records (%" PRIu64 "..%"
			PRIu64 ")", node, boot, at, iv->summary_seq, s->first_seq,
			s->first_seq + s->record_count - 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void check_seqs(struct state *st, struct source *src)
{
	if (src->seq_count == 0)
		return;
	qsort(src->seqs, src->seq_count, sizeof(src->seqs[0]), cmp_u64);
	uint64_t expect = 1;
	for (size_t i = 0; i < src->seq_count; i++) {
		uint64_t seq = src->seqs[i];
		if (seq < expect) {
			problem(st, "node %s boot %s: seq %" PRIu64 " used by two "
				"different records", src->node_id_buf, src->boot_id, seq);
			continue;
		}
		if (seq == expect + 1)
			problem(st, "node %s boot %s: seq %" PRIu64 " missing",
				src->node_id_buf, src->boot_id, expect);
		else if (seq > expect)
			problem(st, "node %s boot %s: seq %" PRIu64 "..%" PRIu64
				" missing", src->node_id_buf, src->boot_id, expect,
				seq - 1);
		expect = seq + 1;
	}
}

static void run_checks(struct state *st)
{
	for (size_t i = 0; i < st->intervals.cap; i++) {
		const struct interval_entry *iv = htab_at(&st->intervals, i);
		if (iv != NULL)
			check_interval(st, iv);
	}
	for (uint32_t i = 0; i < st->source_count; i++)
		check_seqs(st, &st->source[i]);
	if (st->printed_problems > MAX_PRINTED_PROBLEMS)
		fprintf(stderr, "check: ... and %" PRIu64 " more problems\n",
			st->printed_problems - MAX_PRINTED_PROBLEMS);
}

/* ---- output ---------------------------------------------------------- */

static int cmp_total(const void *a, const void *b)
{
	const struct total_key *x = *(const struct total_key *const *)a;
	const struct total_key *y = *(const struct total_key *const *)b;
	if (x->interval_start != y->interval_start)
		return x->interval_start < y->interval_start ? -1 : 1;
	if (x->tenant_id != y->tenant_id)
		return x->tenant_id < y->tenant_id ? -1 : 1;
	if (x->pool_id != y->pool_id)
		return x->pool_id < y->pool_id ? -1 : 1;
	return (x->direction > y->direction) - (x->direction < y->direction);
}

/* The output rows, sorted; NULL on allocation failure (logged). */
static struct total_entry **sorted_totals(const struct state *st)
{
	struct total_entry **rows = malloc((st->totals.count + 1) * sizeof(*rows));
	if (rows == NULL) {
		BS_ERROR("out of memory for %zu output rows", st->totals.count);
		return NULL;
	}
	size_t n = 0;
	for (size_t i = 0; i < st->totals.cap; i++) {
		struct total_entry *t = htab_at(&st->totals, i);
		if (t != NULL)
			rows[n++] = t;
	}
	assert(n == st->totals.count);
	qsort(rows, n, sizeof(rows[0]), cmp_total);
	return rows;
}

/* SI units, as billing counts them (GB = 10^9 bytes). */
static void humanise(uint64_t bytes, char *buf, size_t size)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
	if (bytes < 1000) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return;
	}
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1000.0 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1000.0;
		u++;
	}
	snprintf(buf, size, "%.2f %s", v, unit[u]);
}

static void utc_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%" PRId64, t);
}

static void print_tsv(const struct options *opt, struct total_entry **rows, size_t n)
{
	bool by_interval = opt->by == BY_INTERVAL;
	printf("%stenant_id\tpool_id\tdirection\tpackets\tbytes\n",
	       by_interval ? "interval_start\t" : "");
	for (size_t i = 0; i < n; i++) {
		const struct total_entry *t = rows[i];
		if (by_interval)
			printf("%" PRId64 "\t", t->key.interval_start);
		printf("%" PRIu32 "\t%" PRIu32 "\t%s\t%" PRIu64 "\t%" PRIu64 "\n",
		       t->key.tenant_id, t->key.pool_id,
		       bs_direction_name((enum bs_direction)t->key.direction),
		       t->packets, t->bytes);
	}
}

static void print_json(const struct state *st, struct total_entry **rows, size_t n)
{
	bool by_interval = st->opt->by == BY_INTERVAL;
	const struct stats *s = &st->stats;
	printf("{\"topic\":\"%s\",\"by\":\"%s\",\"dedup\":%s,\"stats\":{"
	       "\"records\":%" PRIu64 ",\"usage\":%" PRIu64 ",\"summaries\":%" PRIu64
	       ",\"duplicates\":%" PRIu64 ",\"conflicts\":%" PRIu64
	       ",\"rejected\":%" PRIu64 ",\"check_failures\":%" PRIu64 "},\"rows\":[",
	       st->opt->topic, by_interval ? "interval" : "tenant",
	       st->opt->dedup ? "true" : "false", s->records, s->usage, s->summaries,
	       s->duplicates, s->conflicts, s->rejected, s->check_failures);
	for (size_t i = 0; i < n; i++) {
		const struct total_entry *t = rows[i];
		printf("%s\n{", i == 0 ? "" : ",");
		if (by_interval)
			printf("\"interval_start\":%" PRId64 ",", t->key.interval_start);
		printf("\"tenant_id\":%" PRIu32 ",\"pool_id\":%" PRIu32
		       ",\"direction\":\"%s\",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
		       t->key.tenant_id, t->key.pool_id,
		       bs_direction_name((enum bs_direction)t->key.direction),
		       t->packets, t->bytes);
	}
	printf("]}\n");
}

#define TABLE_COLS 7

static void print_table(const struct state *st, struct total_entry **rows, size_t n)
{
	bool by_interval = st->opt->by == BY_INTERVAL;
	static const char *const head[TABLE_COLS] = {
		"interval (UTC)", "tenant", "pool", "dir", "packets", "bytes", "" };
	/* Numbers are right-aligned; the last column (bytes, humanised) has
	 * no header of its own. */
	static const bool right[TABLE_COLS] = { false, true, true, false, true,
						true, true };
	int first = by_interval ? 0 : 1;
	size_t width[TABLE_COLS];
	for (int c = 0; c < TABLE_COLS; c++)
		width[c] = strlen(head[c]);
	char cell[TABLE_COLS][64];
	uint64_t total_packets[BS_DIR_COUNT] = { 0 }, total_bytes[BS_DIR_COUNT] = { 0 };

	/* Two passes: widths, then printing. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			for (int c = first; c < TABLE_COLS - 1; c++)
				printf("%s%*s", c == first ? "" : "  ",
				       right[c] ? (int)width[c] : -(int)width[c], head[c]);
			printf("\n");
		}
		for (size_t i = 0; i < n; i++) {
			const struct total_entry *t = rows[i];
			utc_time(t->key.interval_start, cell[0], sizeof(cell[0]));
			snprintf(cell[1], sizeof(cell[1]), "%" PRIu32, t->key.tenant_id);
			snprintf(cell[2], sizeof(cell[2]), "%" PRIu32, t->key.pool_id);
			snprintf(cell[3], sizeof(cell[3]), "%s",
				 bs_direction_name((enum bs_direction)t->key.direction));
			snprintf(cell[4], sizeof(cell[4]), "%" PRIu64, t->packets);
			snprintf(cell[5], sizeof(cell[5]), "%" PRIu64, t->bytes);
			humanise(t->bytes, cell[6], sizeof(cell[6]));
			for (int c = 0; c < TABLE_COLS; c++) {
				if (pass == 0 && strlen(cell[c]) > width[c])
					width[c] = strlen(cell[c]);
			}
			if (pass == 0) {
				total_packets[t->key.direction] += t->packets;
				total_bytes[t->key.direction] += t->bytes;
				continue;
			}
			for (int c = first; c < TABLE_COLS; c++)
				printf("%s%*s", c == first ? "" : "  ",
				       right[c] ? (int)width[c] : -(int)width[c], cell[c]);
			printf("\n");
		}
	}
	for (int d = 0; d < BS_DIR_COUNT; d++) {
		char human[32];
		humanise(total_bytes[d], human, sizeof(human));
		printf("total %-3s %" PRIu64 " packets, %" PRIu64 " bytes (%s)\n",
		       bs_direction_name((enum bs_direction)d), total_packets[d],
		       total_bytes[d], human);
	}
	const struct stats *s = &st->stats;
	printf("records %" PRIu64 ": usage %" PRIu64 ", summaries %" PRIu64
	       ", duplicates %" PRIu64 ", rejected %" PRIu64 "\n",
	       s->records, s->usage, s->summaries, s->duplicates, s->rejected);
}

static int write_stats(const char *path, const struct stats *s)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		BS_ERROR("--stats %s: path too long", path);
		return -1;
	}
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		BS_ERROR("--stats %s: cannot create: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(f, "records=%" PRIu64 "\nusage=%" PRIu64 "\nsummaries=%" PRIu64
		"\nduplicates=%" PRIu64 "\nconflicts=%" PRIu64 "\nrejected=%" PRIu64
		"\ncheck_failures=%" PRIu64 "\n", s->records, s->usage, s->summaries,
		s->duplicates, s->conflicts, s->rejected, s->check_failures);
	bool ok = !ferror(f);
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		BS_ERROR("--stats %s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ---- Kafka ----------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rd_kafka_t *consumer_new(const struct options *opt)
{
	char err[512];
	char group[64];
	/* A group id is required by the consumer API; nothing joins or
	 * commits with it (manual assignment, auto commit off). */
	snprintf(group, sizeof(group), PROGRAM "-%ld", (long)getpid());
	const char *const fixed[][2] = {
		{ "enable.partition.eof", "true" },
		{ "enable.auto.commit", "false" },
		{ "enable.auto.offset.store", "false" },
		{ "auto.offset.reset", "earliest" },
		{ "group.id", group },
	};
	/* The user's -X properties first; the ones this program relies on
	 * win over them. */
	struct bs_kafka_props props = { 0 };
	bool ok = bs_kafka_props_set(&props, "client.id", PROGRAM, err,
				     sizeof(err)) == 0;
	for (size_t i = 0; ok && i < opt->props.count; i++)
		ok = bs_kafka_props_set(&props, opt->props.key[i], opt->props.value[i],
					err, sizeof(err)) == 0;
	for (size_t i = 0; ok && i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ok = bs_kafka_props_set(&props, fixed[i][0], fixed[i][1], err,
					sizeof(err)) == 0;
	rd_kafka_conf_t *conf = ok ? bs_kafka_conf_new(opt->brokers, &props, err,
						       sizeof(err))
				   : NULL;
	bs_kafka_props_free(&props);
	if (conf == NULL) {
		BS_ERROR("%s", err);
		return NULL;
	}
	bs_kafka_conf_use_bs_log(conf);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (rk == NULL) {
		BS_ERROR("cannot create the Kafka consumer: %s", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* Assigns every partition of the topic from the beginning; returns the
 * partition count, or -1 (logged). */
static int assign_all(rd_kafka_t *rk, const char *topic)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rkt == NULL) {
		BS_ERROR("topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	const struct rd_kafka_metadata *md = NULL;
	int64_t deadline = now_ms() + METADATA_TIMEOUT_MS;
	rd_kafka_resp_err_t err;
	int parts = -1;
	for (;;) {
		err = rd_kafka_metadata(rk, 0, rkt, &md, METADATA_TIMEOUT_MS);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
		    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    md->topics[0].partition_cnt > 0) {
			parts = md->topics[0].partition_cnt;
			break;
		}
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			err = md->topic_cnt == 1 ? md->topics[0].err
						 : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
			rd_kafka_metadata_destroy(md);
			md = NULL;
		}
		if (now_ms() >= deadline || interrupted)
			break;
		usleep(200 * 1000);
	}
	if (parts < 0) {
		BS_ERROR("topic %s: no metadata from %s: %s", topic, "the brokers",
			 rd_kafka_err2str(err));
		rd_kafka_topic_destroy(rkt);
		return -1;
	}
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
	for (int i = 0; i < parts; i++) {
		int32_t id = md->topics[0].partitions[i].id;
		rd_kafka_topic_partition_list_add(list, topic, id)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	err = rd_kafka_assign(rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		BS_ERROR("topic %s: assign: %s", topic, rd_kafka_err2str(err));
		return -1;
	}
	BS_DEBUG("topic %s: reading %d partitions from the beginning", topic, parts);
	return parts;
}

enum read_end { READ_DONE, READ_TIMEOUT, READ_INTERRUPTED, READ_FAILED };

/* Reads until the stop condition. at_eof has one flag per partition id. */
static enum read_end read_all(struct state *st, rd_kafka_t *rk, int parts)
{
	const struct options *opt = st->opt;
	bool *at_eof = calloc((size_t)parts, sizeof(*at_eof));
	if (at_eof == NULL) {
		BS_ERROR("out of memory");
		return READ_FAILED;
	}
	int eof_count = 0;
	int64_t start = now_ms(), last_message = start;
	enum read_end end = READ_DONE;

	for (;;) {
		if (interrupted) {
			end = READ_INTERRUPTED;
			break;
		}
		int64_t now = now_ms();
		if (eof_count == parts) {
			if (opt->expect_summaries > 0 &&
			    st->stats.summaries >= (uint64_t)opt->expect_summaries)
				break;
			if (now - last_message >= opt->idle_ms)
				break;
		}
		if (opt->timeout_ms > 0 && now - start >= opt->timeout_ms) {
			end = READ_TIMEOUT;
			break;
		}
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, POLL_MS);
		if (m == NULL)
			continue;
		bool known = m->partition >= 0 && m->partition < parts;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (known && !at_eof[m->partition]) {
				at_eof[m->partition] = true;
				eof_count++;
			}
		} else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			BS_WARN("%s [%" PRId32 "]: %s",
				m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : opt->topic,
				m->partition, rd_kafka_message_errstr(m));
		} else {
			if (known && at_eof[m->partition]) {
				at_eof[m->partition] = false;
				eof_count--;
			}
			last_message = now_ms();
			if (handle_message(st, m) != 0) {
				rd_kafka_message_destroy(m);
				end = READ_FAILED;
				break;
			}
		}
		rd_kafka_message_destroy(m);
	}
	free(at_eof);
	return end;
}

/* ---- main ------------------------------------------------------------ */

static void state_init(struct state *st, const struct options *opt)
{
	memset(st, 0, sizeof(*st));
	st->opt = opt;
	htab_init(&st->sources, sizeof(struct source_entry), sizeof(struct source_key),
		  "(node_id, boot_id) pairs");
	htab_init(&st->usage, sizeof(struct usage_entry), sizeof(struct usage_key),
		  "usage record identities");
	htab_init(&st->intervals, sizeof(struct interval_entry),
		  sizeof(struct interval_key), "(node, boot, interval) triples");
	htab_init(&st->totals, sizeof(struct total_entry), sizeof(struct total_key),
		  "output rows");
}

static void state_free(struct state *st)
{
	for (uint32_t i = 0; i < st->source_count; i++)
		free(st->source[i].seqs);
	free(st->source);
	htab_free(&st->sources);
	htab_free(&st->usage);
	htab_free(&st->intervals);
	htab_free(&st->totals);
}

static int report(struct state *st)
{
	struct total_entry **rows = sorted_totals(st);
	if (rows == NULL)
		return -1;
	switch (st->opt->format) {
	case FORMAT_TSV:   print_tsv(st->opt, rows, st->totals.count); break;
	case FORMAT_JSON:  print_json(st, rows, st->totals.count); break;
	case FORMAT_TABLE: print_table(st, rows, st->totals.count); break;
	}
	free(rows);
	if (fflush(stdout) != 0) {
		BS_ERROR("stdout: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bs_log_init(PROGRAM);
	struct options opt;
	memset(&opt, 0, sizeof(opt));
	int rc = parse_args(argc, argv, &opt);
	if (rc != 0) {
		bs_kafka_props_free(&opt.props);
		return rc == 1 ? 0 : EXIT_USAGE;
	}
	if (opt.verbose)
		bs_log_set_level(BS_LOG_DEBUG);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct state st;
	state_init(&st, &opt);
	int status = EXIT_RUNTIME;
	rd_kafka_t *rk = consumer_new(&opt);
	if (rk == NULL)
		goto out;
	int parts = assign_all(rk, opt.topic);
	if (parts < 0)
		goto out;
	enum read_end end = read_all(&st, rk, parts);
	if (end == READ_FAILED)
		goto out;
	if (end == READ_TIMEOUT)
		BS_ERROR("--timeout-ms %ld reached before reading finished; the "
			 "totals below are incomplete", opt.timeout_ms);
	if (end == READ_INTERRUPTED)
		BS_ERROR("interrupted; the totals below are incomplete");

	if (opt.check)
		run_checks(&st);
	if (report(&st) != 0)
		goto out;
	const struct stats *s = &st.stats;
	BS_INFO("%s: %" PRIu64 " records: %" PRIu64 " usage, %" PRIu64 " summaries, %"
		PRIu64 " duplicates (%" PRIu64 " conflicting), %" PRIu64 " rejected%s",
		opt.topic, s->records, s->usage, s->summaries, s->duplicates,
		s->conflicts, s->rejected, opt.check ? "" : " (not checked)");
	if (opt.stats_path != NULL && write_stats(opt.stats_path, s) != 0)
		goto out;

	if (end != READ_DONE) {
		status = EXIT_RUNTIME;
	} else if (opt.check && s->check_failures > 0) {
		BS_ERROR("check: %" PRIu64 " problems", s->check_failures);
		status = EXIT_CHECK;
	} else if (opt.expect_summaries > 0 &&
		   s->summaries < (uint64_t)opt.expect_summaries) {
		BS_ERROR("--expect-summaries %ld: only %" PRIu64 " summaries seen",
			 opt.expect_summaries, s->summaries);
		status = EXIT_CHECK;
	} else {
		status = 0;
	}
out:
	if (rk != NULL) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
	state_free(&st);
	bs_kafka_props_free(&opt.props);
	return status;
}
