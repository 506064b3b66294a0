/*
 * config.c — loads and validates bandsplit-api's INI configuration
 * (config/api.conf documents every key). common/conf.h reads the file and
 * reports "file:line: [section] key: message"; every value is parsed
 * strictly here.
 */
#include "config.h"

#include "conf.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The online CPUs, for the defaults of threads and db_pool_size. */
static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1u : n > 64 ? 64u : (unsigned)n;
}

/* Database workers (one pooled connection each) when the file does not
 * set db_pool_size: one per online CPU, at least 2, at most 16. PostgreSQL
 * works on the same CPUs, so more of them than CPUs only adds switching:
 * on 2 cores, 2 gave a day of usage a p99 of 48-53 ms where 4 gave 51-79
 * (README, "Performance (tenant API)"). */
static unsigned default_pool(void)
{
	unsigned n = online_cpus();
	return n < 2 ? 2u : n > 16 ? 16u : n;
}

/* HTTP threads when the file does not set threads: one per two online
 * CPUs, at least 1, at most 16. They only read requests and write
 * answers (the database work is the workers'): on 2 cores one thread
 * gave a lower p99 than two in 5 of 6 paired runs. */
static unsigned default_http_threads(void)
{
	unsigned n = online_cpus() / 2;
	return n < 1 ? 1u : n > 16 ? 16u : n;
}

void api_config_defaults(struct api_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->source, sizeof(cfg->source), "(defaults)");
	snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:8480");
	snprintf(cfg->access_log, sizeof(cfg->access_log), "-");
	snprintf(cfg->time_zone, sizeof(cfg->time_zone), "Asia/Shanghai");
	cfg->threads = default_http_threads();
	cfg->max_connections = 512;
	cfg->request_timeout_ms = 10000;
	cfg->max_range_days = 366;
	cfg->max_rows = 100000;
	cfg->rate_limit = 50;
	cfg->rate_burst = 100;
	cfg->cache_entries = 256;
	cfg->cache_max_bytes = 4u << 20;
	cfg->usage_day_check_s = 60;
	cfg->db_pool_size = default_pool();
	cfg->statement_timeout_ms = 5000;
}

__attribute__((format(printf, 3, 4)))
static int refuse(char *msg, size_t msg_size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msg_size, fmt, ap);
	va_end(ap);
	return 0;
}

static int str_key(char *dst, size_t size, const char *value, char *msg,
		   size_t msg_size)
{
	if (bs_conf_copy_str(dst, size, value) < 0)
		return refuse(msg, msg_size, "longer than %zu bytes", size - 1);
	return 1;
}

static int listen_key(struct api_config *cfg, const char *value, char *msg,
		      size_t msg_size)
{
	const char *colon = strrchr(value, ':');
	uint64_t port;
	if (colon == NULL || colon == value ||
	    bs_conf_parse_u64(colon + 1, 0, 65535, &port) < 0)
		return refuse(msg, msg_size, "'%s' is not ADDRESS:PORT (an IPv4 "
			      "address; PORT 0 picks a free one)", value);
	return str_key(cfg->listen, sizeof(cfg->listen), value, msg, msg_size);
}

static int api_key(struct api_config *cfg, const char *key, const char *value,
		   char *msg, size_t msg_size)
{
	if (strcmp(key, "listen") == 0)
		return listen_key(cfg, value, msg, msg_size);
	if (strcmp(key, "tls_cert") == 0)
		return str_key(cfg->tls_cert, sizeof(cfg->tls_cert), value, msg, msg_size);
	if (strcmp(key, "tls_key") == 0)
		return str_key(cfg->tls_key, sizeof(cfg->tls_key), value, msg, msg_size);
	if (strcmp(key, "access_log") == 0)
		return str_key(cfg->access_log, sizeof(cfg->access_log), value, msg,
			       msg_size);
	if (strcmp(key, "time_zone") == 0) {
		if (value[0] == '\0' || strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789/_+-") != strlen(value) ||
		    strstr(value, "..") != NULL)
			return refuse(msg, msg_size, "'%s' is not a time zone name "
				      "(Asia/Shanghai, UTC, ...)", value);
		return str_key(cfg->time_zone, sizeof(cfg->time_zone), value, msg,
			       msg_size);
	}
	struct { const char *name; uint32_t min, max; uint32_t *dst; } nums[] = {
		{ "threads", 1, API_THREADS_MAX, &cfg->threads },
		{ "max_connections", 1, 65536, &cfg->max_connections },
		{ "request_timeout_ms", 100, 600000, &cfg->request_timeout_ms },
		{ "max_range_days", 1, API_RANGE_DAYS_MAX, &cfg->max_range_days },
		{ "max_rows", 1, 10000000, &cfg->max_rows },
		{ "rate_limit", 0, 1000000, &cfg->rate_limit },
		{ "rate_burst", 1, 1000000, &cfg->rate_burst },
		{ "cache_entries", 0, 100000, &cfg->cache_entries },
		{ "cache_max_bytes", 1024, 1u << 30, &cfg->cache_max_bytes },
		{ "usage_day_check_s", 0, 86400, &cfg->usage_day_check_s },
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i].name) != 0)
			continue;
		uint64_t v;
		if (bs_conf_parse_u64(value, nums[i].min, nums[i].max, &v) < 0)
			return refuse(msg, msg_size, "'%s' is not a whole number "
				      "from %u to %u", value, nums[i].min, nums[i].max);
		*nums[i].dst = (uint32_t)v;
		return 1;
	}
	return refuse(msg, msg_size, "unknown key");
}

static int postgres_key(struct api_config *cfg, const char *key,
			const char *value, char *msg, size_t msg_size)
{
	if (strcmp(key, "conninfo") == 0) {
		if (bs_conf_copy_str(cfg->conninfo, sizeof(cfg->conninfo), value) < 0)
			return refuse(msg, msg_size, "longer than %zu bytes",
				      sizeof(cfg->conninfo) - 1);
		/* libpq's message would quote the text (a password): not shown */
		PQconninfoOption *opts = value[0] != '\0'
			? PQconninfoParse(value, NULL) : NULL;
		if (value[0] != '\0' && opts == NULL)
			return refuse(msg, msg_size, "not a libpq connection string "
				      "or postgresql:// URI (its text is not shown: "
				      "it may hold a password)");
		PQconninfoFree(opts);
		return 1;
	}
	struct { const char *name; uint32_t min, max; uint32_t *dst; } nums[] = {
		{ "db_pool_size", 1, API_POOL_MAX, &cfg->db_pool_size },
		{ "statement_timeout_ms", 1, 600000, &cfg->statement_timeout_ms },
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i].name) != 0)
			continue;
		uint64_t v;
		if (bs_conf_parse_u64(value, nums[i].min, nums[i].max, &v) < 0)
			return refuse(msg, msg_size, "'%s' is not a whole number "
				      "from %u to %u", value, nums[i].min, nums[i].max);
		*nums[i].dst = (uint32_t)v;
		return 1;
	}
	return refuse(msg, msg_size, "unknown key (libpq parameters go in "
		      "conninfo, or in the PG* environment variables)");
}

static int on_section(void *ctx, const char *name, int line, char *msg,
		      size_t msg_size)
{
	(void)ctx;
	(void)line;
	if (strcmp(name, "api") == 0 || strcmp(name, "postgres") == 0)
		return 1;
	return refuse(msg, msg_size, "unknown section [%s] (api, postgres)", name);
}

static int on_key(void *ctx, const char *section, const char *key,
		  const char *value, char *msg, size_t msg_size)
{
	struct api_config *cfg = ctx;
	if (strcmp(section, "api") == 0)
		return api_key(cfg, key, value, msg, msg_size);
	if (strcmp(section, "postgres") == 0)
		return postgres_key(cfg, key, value, msg, msg_size);
	return refuse(msg, msg_size, "unknown section (api, postgres)");
}

int api_config_load(const char *path, struct api_config *cfg, char *err,
		    size_t err_size)
{
	if (bs_conf_copy_str(cfg->source, sizeof(cfg->source), path) < 0) {
		snprintf(err, err_size, "config path too long");
		return -1;
	}
	const struct bs_conf_handlers h = { .ctx = cfg, .section = on_section,
					    .key = on_key };
	return bs_conf_load(cfg->source, &h, err, err_size);
}

int api_config_check(const struct api_config *cfg, char *err, size_t err_size)
{
	if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
		snprintf(err, err_size, "%s: [api] tls_cert and tls_key go together "
			 "(both set: HTTPS; both empty: HTTP)", cfg->source);
		return -1;
	}
	if (cfg->rate_limit > 0 && cfg->rate_burst < 1) {
		snprintf(err, err_size, "%s: [api] rate_burst must be at least 1",
			 cfg->source);
		return -1;
	}
	return 0;
}
