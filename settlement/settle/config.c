/*
 * config.c — loads and validates bandsplit-settle's INI configuration.
 * common/conf.h's loader reads the file (lines, sections, repeated keys,
 * file:line errors); every value is parsed strictly here and an error names
 * the key.
 */
#include "config.h"

#include "conf.h"

#include <errno.h>
#include <stdarg.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct load_state {
	struct settle_config *cfg;
	char *err;
	size_t err_size;
	bool failed;
	char *msg;          /* loading a file: the refusal's message, for the
			     * loader; NULL for --set (err gets it all) */
	size_t msg_size;
};

void settle_config_defaults(struct settle_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->source, sizeof(cfg->source), "(defaults)");
	snprintf(cfg->group, sizeof(cfg->group), "bandsplit-settle");
	snprintf(cfg->topic, sizeof(cfg->topic), "%s", BS_TOPIC_USAGE);
	snprintf(cfg->dlq_topic, sizeof(cfg->dlq_topic), "%s", BS_TOPIC_DLQ);
	cfg->batch_records = 10000;
	cfg->batch_ms = 200;
	cfg->connections = 3;
	cfg->late_after_s = 3600;
	cfg->max_future_s = 86400;
	cfg->raw_retention_days = 0;
	cfg->gap_check_s = 60;
	cfg->gap_window_s = 2 * 86400;
	cfg->retry_max_s = 30;
	snprintf(cfg->metrics_listen, sizeof(cfg->metrics_listen), "127.0.0.1:9471");
	cfg->lock_timeout_ms = 10000;
	cfg->statement_timeout_ms = 300000;
	cfg->idle_in_transaction_timeout_ms = 60000;
}

void settle_config_free(struct settle_config *cfg)
{
	bs_kafka_props_free(&cfg->kafka);
}

__attribute__((format(printf, 4, 5)))
static int fail(struct load_state *st, const char *section, const char *key,
		const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!st->failed) {
		if (st->msg != NULL)
			snprintf(st->msg, st->msg_size, "%s", msg);
		else
			snprintf(st->err, st->err_size, "[%s] %s: %s", section,
				 key, msg);
	}
	st->failed = true;
	return 0;   /* tells inih to stop */
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;
	if (bs_conf_parse_u64(s, min, max, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Kafka topic names: 1..249 of [A-Za-z0-9._-]. */
static bool topic_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SETTLE_TOPIC_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int settle_key(struct load_state *st, const char *key, const char *value)
{
	struct settle_config *cfg = st->cfg;

	if (strcmp(key, "group") == 0) {
		if (value[0] == '\0' || bs_conf_copy_str(cfg->group, sizeof(cfg->group), value) < 0)
			return fail(st, "settle", key, "'%s' must be 1..%d characters",
				    value, SETTLE_GROUP_MAX);
		return 1;
	}
	struct { const char *name; char *dst; } topics[] = {
		{ "topic", cfg->topic },
		{ "dlq_topic", cfg->dlq_topic },
	};
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
		if (strcmp(key, topics[i].name) != 0)
			continue;
		if (!topic_valid(value))
			return fail(st, "settle", key, "'%s' is not a Kafka topic "
				    "name (1..249 of A-Z a-z 0-9 . _ -)", value);
		bs_conf_copy_str(topics[i].dst, SETTLE_TOPIC_MAX + 1, value);
		return 1;
	}
	if (strcmp(key, "metrics_listen") == 0) {
		const char *colon = strrchr(value, ':');
		uint32_t port;
		if (value[0] != '\0' && (colon == NULL || colon == value ||
		    parse_u32(colon + 1, 0, 65535, &port) < 0))
			return fail(st, "settle", key, "'%s' is not ADDRESS:PORT "
				    "(PORT 0 picks a free one; empty: no endpoint)",
				    value);
		if (bs_conf_copy_str(cfg->metrics_listen, sizeof(cfg->metrics_listen), value) < 0)
			return fail(st, "settle", key, "too long");
		return 1;
	}
	struct { const char *name; uint32_t min, max; uint32_t *dst; } nums[] = {
		{ "batch_records", 1, SETTLE_BATCH_MAX, &cfg->batch_records },
		{ "batch_ms", 1, 60000, &cfg->batch_ms },
		{ "connections", 1, SETTLE_LANES_MAX, &cfg->connections },
		{ "late_after_s", 0, 366u * 86400, &cfg->late_after_s },
		{ "max_future_s", 0, 366u * 86400, &cfg->max_future_s },
		{ "raw_retention_days", 0, 36600, &cfg->raw_retention_days },
		{ "gap_check_s", 0, 86400, &cfg->gap_check_s },
		{ "gap_window_s", 60, 31u * 86400, &cfg->gap_window_s },
		{ "retry_max_s", 1, 3600, &cfg->retry_max_s },
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i].name) != 0)
			continue;
		if (parse_u32(value, nums[i].min, nums[i].max, nums[i].dst) < 0)
			return fail(st, "settle", key, "'%s' is not a whole number "
				    "from %u to %u", value, nums[i].min, nums[i].max);
		return 1;
	}
	return fail(st, "settle", key, "unknown key");
}

static int postgres_key(struct load_state *st, const char *key, const char *value)
{
	if (strcmp(key, "conninfo") == 0) {
		if (bs_conf_copy_str(st->cfg->conninfo, sizeof(st->cfg->conninfo), value) < 0)
			return fail(st, "postgres", key, "longer than %zu bytes",
				    sizeof(st->cfg->conninfo) - 1);
		/* refused here, once, rather than at every connection attempt;
		 * libpq's message quotes the text, so it is not shown */
		PQconninfoOption *opts = value[0] != '\0'
			? PQconninfoParse(value, NULL) : NULL;
		if (value[0] != '\0' && opts == NULL)
			return fail(st, "postgres", key, "not a libpq connection "
				    "string or postgresql:// URI (its text is not "
				    "shown: it may hold a password)");
		PQconninfoFree(opts);
		return 1;
	}
	struct { const char *name; uint32_t *dst; } timeouts[] = {
		{ "lock_timeout_ms", &st->cfg->lock_timeout_ms },
		{ "statement_timeout_ms", &st->cfg->statement_timeout_ms },
		{ "idle_in_transaction_timeout_ms",
		  &st->cfg->idle_in_transaction_timeout_ms },
	};
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		if (strcmp(key, timeouts[i].name) != 0)
			continue;
		if (parse_u32(value, 0, 86400000, timeouts[i].dst) < 0)
			return fail(st, "postgres", key, "'%s' is not a whole number "
				    "of milliseconds from 0 (off) to 86400000", value);
		return 1;
	}
	return fail(st, "postgres", key, "unknown key (libpq parameters go in "
		    "conninfo, or in the PG* environment variables)");
}

static int kafka_key(struct load_state *st, const char *key, const char *value)
{
	struct settle_config *cfg = st->cfg;
	if (strcmp(key, "brokers") == 0) {
		if (bs_conf_copy_str(cfg->brokers, sizeof(cfg->brokers), value) < 0)
			return fail(st, "kafka", key, "too long");
		return 1;
	}
	if (strcmp(key, "bootstrap_file") == 0) {
		if (bs_conf_copy_str(cfg->bootstrap_file, sizeof(cfg->bootstrap_file), value) < 0)
			return fail(st, "kafka", key, "path too long");
		return 1;
	}
	static const char *const ours[] = { "bootstrap.servers", "group.id",
		"enable.auto.commit", "enable.auto.offset.store",
		"auto.offset.reset", "enable.partition.eof" };
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strcmp(key, ours[i]) == 0)
			return fail(st, "kafka", key, "set by bandsplit-settle "
				    "(brokers / [settle] group); remove it");
	char err[256];
	if (bs_kafka_props_set(&cfg->kafka, key, value, err, sizeof(err)) < 0)
		return fail(st, "kafka", key, "%s", err);
	return 1;
}

static int handler(void *user, const char *section, const char *key,
		   const char *value)
{
	struct load_state *st = user;
	if (st->failed)
		return 0;
	if (strcmp(section, "settle") == 0)
		return settle_key(st, key, value);
	if (strcmp(section, "postgres") == 0)
		return postgres_key(st, key, value);
	if (strcmp(section, "kafka") == 0)
		return kafka_key(st, key, value);
	return fail(st, section, key, "unknown section (settle, postgres, kafka)");
}

static int is_section(const char *section)
{
	return strcmp(section, "settle") == 0 || strcmp(section, "postgres") == 0 ||
	       strcmp(section, "kafka") == 0;
}

static int on_section(void *ctx, const char *section, int line, char *msg,
		      size_t msg_size)
{
	(void)ctx;
	(void)line;
	if (is_section(section))
		return 1;
	snprintf(msg, msg_size, "unknown section [%s] (settle, postgres, kafka)",
		 section);
	return 0;
}

static int on_key(void *ctx, const char *section, const char *key,
		  const char *value, char *msg, size_t msg_size)
{
	struct load_state *st = ctx;
	st->msg = msg;
	st->msg_size = msg_size;
	return handler(st, section, key, value);
}

int settle_config_load(const char *path, struct settle_config *cfg,
		       char *err, size_t err_size)
{
	struct load_state st = { .cfg = cfg, .err = err, .err_size = err_size };
	if (bs_conf_copy_str(cfg->source, sizeof(cfg->source), path) < 0) {
		snprintf(err, err_size, "config path too long");
		return -1;
	}
	const struct bs_conf_handlers h = { .ctx = &st, .section = on_section,
					    .key = on_key };
	return bs_conf_load(cfg->source, &h, err, err_size);
}

int settle_config_set(struct settle_config *cfg, const char *assignment,
		      char *err, size_t err_size)
{
	char buf[4096];
	if (bs_conf_copy_str(buf, sizeof(buf), assignment) < 0) {
		snprintf(err, err_size, "--set: too long");
		return -1;
	}
	char *eq = strchr(buf, '=');
	char *dot = strchr(buf, '.');
	if (eq == NULL || dot == NULL || dot > eq) {
		/* never echoed: what follows the key may be a secret
		 * ('kafka.sasl.password:hunter2') */
		size_t k = strspn(buf, "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
		snprintf(err, err_size, "'%.*s...': expected SECTION.KEY=VALUE "
			 "(the value is not shown)", (int)(k < 64 ? k : 64), buf);
		return -1;
	}
	*dot = '\0';
	*eq = '\0';
	struct load_state st = { .cfg = cfg, .err = err, .err_size = err_size };
	handler(&st, buf, dot + 1, eq + 1);
	return st.failed ? -1 : 0;
}

int settle_config_brokers(const struct settle_config *cfg, char *out,
			  size_t out_size, char *err, size_t err_size)
{
	if (cfg->brokers[0] != '\0' && cfg->bootstrap_file[0] != '\0') {
		snprintf(err, err_size, "%s: [kafka] brokers and bootstrap_file "
			 "exclude each other", cfg->source);
		return -1;
	}
	if (cfg->brokers[0] != '\0') {
		if (bs_conf_copy_str(out, out_size, cfg->brokers) < 0) {
			snprintf(err, err_size, "[kafka] brokers: too long");
			return -1;
		}
		return 0;
	}
	if (cfg->bootstrap_file[0] == '\0') {
		snprintf(err, err_size, "%s: [kafka] needs brokers (a real "
			 "cluster) or bootstrap_file (the file bandsplit-kafka "
			 "writes)", cfg->source);
		return -1;
	}
	FILE *f = fopen(cfg->bootstrap_file, "r");
	if (f == NULL) {
		snprintf(err, err_size, "[kafka] bootstrap_file %s: %s",
			 cfg->bootstrap_file, strerror(errno));
		return -1;
	}
	char *line = fgets(out, (int)out_size, f);
	fclose(f);
	if (line == NULL || out[0] == '\n' || out[0] == '\0') {
		snprintf(err, err_size, "[kafka] bootstrap_file %s: empty",
			 cfg->bootstrap_file);
		return -1;
	}
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}
