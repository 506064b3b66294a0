/*
 * config.h — bandsplit-api's configuration (config/api.conf, INI through
 * common/conf.h; every key is documented in that file). A bad file is
 * refused with "file:line: [section] key: why" and the program exits 2.
 */
#ifndef BS_API_CONFIG_H
#define BS_API_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_POOL_MAX 256
#define API_THREADS_MAX 256
#define API_RANGE_DAYS_MAX 366

struct api_config {
	char source[4096];            /* the file loaded, for messages */
	/* [api] */
	char listen[128];             /* ADDRESS:PORT; PORT 0 picks one */
	char tls_cert[4096];          /* PEM files; TLS when both are set */
	char tls_key[4096];
	char access_log[4096];        /* a file, "-" (stderr) or "" (off) */
	char time_zone[65];           /* dates without an offset, and output */
	uint32_t threads;             /* libmicrohttpd's thread pool */
	uint32_t max_connections;     /* open HTTP connections at once */
	uint32_t request_timeout_ms;  /* waiting for a DB connection, and the
				       * idle time of an HTTP connection */
	uint32_t max_range_days;      /* /v1/usage: to - from at most this */
	uint32_t max_rows;            /* rows of any one answer */
	uint32_t rate_limit;          /* requests per second per tenant */
	uint32_t rate_burst;          /* the token bucket's size */
	uint32_t cache_entries;       /* closed statements kept (LRU) */
	uint32_t cache_max_bytes;     /* largest document cached */
	uint32_t usage_day_check_s;   /* /v1/usage: how often the last
				       * compacted day is looked up again */
	/* [postgres] */
	char conninfo[4096];
	uint32_t db_pool_size;
	uint32_t statement_timeout_ms;
};

void api_config_defaults(struct api_config *cfg);

/* Returns 0, or -1 with err "file:line: [section] key: message". */
int api_config_load(const char *path, struct api_config *cfg, char *err,
		    size_t err_size);

/* Checks across keys (tls_cert without tls_key, ...). 0 or -1 with err. */
int api_config_check(const struct api_config *cfg, char *err, size_t err_size);

#endif
