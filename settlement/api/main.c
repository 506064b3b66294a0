/*
 * main.c — bandsplit-api: the tenants' HTTP API (usage, statements,
 * invoices, notes, allocations), with isolation enforced by PostgreSQL's
 * row-level security on the role bandsplit_api.
 *
 *   bandsplit-api -c config/api.conf [--log-format text|json]
 *   bandsplit-api --routes          the route table (method, template,
 *                                   statuses, query parameters)
 *   bandsplit-api -c FILE --check   validate the configuration only
 *
 * Start-up: configuration (a bad file: exit 2 naming file:line), the
 * database pool (all of db_pool_size connections, or exit 1), the HTTP
 * server; then it tells systemd it is ready and feeds the watchdog from
 * this thread until SIGTERM or SIGINT, when it stops accepting, finishes
 * the requests in flight and exits 0.
 */
#include "api.h"

#include "docfmt.h"
#include "log.h"
#include "notify.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fputs("Usage: bandsplit-api -c FILE [--log-format text|json] [--check]\n"
	      "       bandsplit-api --routes\n"
	      "The tenants' HTTP API of bandsplit (see config/api.conf for every "
	      "key,\nschemas/openapi.yaml for the endpoints).\n"
	      "  -c, --config FILE     the configuration (INI)\n"
	      "      --check           validate the configuration and exit\n"
	      BS_LOG_FORMAT_HELP
	      "      --routes          print each route: method, path template, "
	      "statuses,\n"
	      "                        query parameters (tab-separated) and exit\n"
	      "  -h, --help            this help\n"
	      "  -V, --version         the version\n"
	      "Exit: 0 stopped by SIGTERM/SIGINT, 1 cannot start, 2 bad usage or "
	      "configuration.\n", out);
}

/* The park's time zone, for dates without an offset (params.c's mktime);
 * refused here as the answers' zone loads (docfmt.h) would refuse it. */
static int set_time_zone(const char *zone, char *err, size_t err_size)
{
	struct bs_doc_zone z;
	char why[160];
	if (bs_doc_zone_load(&z, zone, 0, 86400, why, sizeof(why)) < 0) {
		snprintf(err, err_size, "[api] time_zone: %s", why);
		return -1;
	}
	setenv("TZ", zone, 1);
	tzset();
	return 0;
}

static FILE *open_access_log(const char *path, char *err, size_t err_size)
{
	if (path[0] == '\0')
		return NULL;
	if (strcmp(path, "-") == 0)
		return stderr;
	FILE *f = fopen(path, "a");
	if (f == NULL)
		snprintf(err, err_size, "[api] access_log %s: %s", path, strerror(errno));
	return f;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "log-format", required_argument, NULL, 'L' },
		{ "routes", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	bool check = false;
	int c;
	bs_log_init("bandsplit-api");
	/* Responses of 100 KB-1 MB (a day of usage, a cached statement) are
	 * allocated and freed by every request. With glibc's defaults each
	 * one is an mmap, page faults, an mremap and an munmap (a TLB
	 * shootdown on every core), and a freed arena top is madvised away:
	 * half of the API's CPU time for a day of usage (perf, README,
	 * Performance (tenant API)). Served from the threads' arenas and kept
	 * there, the memory is reused instead (bounded by the largest
	 * responses in flight). */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'k': check = true; break;
		case 'L':
			if (bs_log_format_option("bandsplit-api", optarg) < 0)
				return 2;
			break;
		case 'r': api_routes_print(stdout); return 0;
		case 'h': usage(stdout); return 0;
		case 'V': printf("bandsplit-api %s\n", BS_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (config == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	static struct api_config cfg;
	char err[4096];
	api_config_defaults(&cfg);
	if (api_config_load(config, &cfg, err, sizeof(err)) < 0 ||
	    api_config_check(&cfg, err, sizeof(err)) < 0 ||
	    set_time_zone(cfg.time_zone, err, sizeof(err)) < 0) {
		BS_ERROR("%s", err);
		return 2;
	}
	if (check) {
		printf("%s: ok\n", config);
		return 0;
	}

	/* SIGTERM and SIGINT are taken by sigtimedwait below, in this thread
	 * only: blocked before any other thread starts */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	static struct api_server srv;
	srv.cfg = &cfg;
	pthread_mutex_init(&srv.log_lock, NULL);
	int rc = 1;
	srv.access_log = open_access_log(cfg.access_log, err, sizeof(err));
	if (srv.access_log == NULL && cfg.access_log[0] != '\0') {
		BS_ERROR("%s", err);
		return 1;
	}
	srv.cache = api_cache_new(cfg.cache_entries, cfg.cache_max_bytes);
	srv.rate = api_ratelimit_new(cfg.rate_limit, cfg.rate_burst);
	if (srv.cache == NULL || srv.rate == NULL) {
		BS_ERROR("out of memory");
		goto out;
	}
	srv.pool = api_pool_open(cfg.conninfo, cfg.db_pool_size, api_db_setup,
				 &cfg, err, sizeof(err));
	if (srv.pool == NULL) {
		BS_ERROR("database: %s", err);
		goto out;
	}
	uint16_t port;
	if (api_server_start(&srv, &port, err, sizeof(err)) < 0) {
		BS_ERROR("%s", err);
		goto out;
	}
	const char *colon = strrchr(cfg.listen, ':');
	BS_INFO("listening on %.*s:%u (%s; %u threads, %u database connections)",
		(int)(colon - cfg.listen), cfg.listen, port,
		cfg.tls_cert[0] ? "https" : "http", cfg.threads, cfg.db_pool_size);
	char status[160];
	snprintf(status, sizeof(status), "listening on %.*s:%u",
		 (int)(colon - cfg.listen), cfg.listen, port);
	bs_notify_ready(status);

	for (;;) {
		struct timespec tick = { 1, 0 };
		int sig = sigtimedwait(&stop, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			BS_INFO("signal %d: stopping", sig);
			break;
		}
		bs_notify_watchdog();
	}
	bs_notify_stopping();
	srv.stopping = 1;
	api_server_stop(&srv);
	rc = 0;
out:
	api_pool_close(srv.pool);
	api_cache_free(srv.cache);
	api_ratelimit_free(srv.rate);
	if (srv.access_log != NULL && srv.access_log != stderr)
		fclose(srv.access_log);
	pthread_mutex_destroy(&srv.log_lock);
	return rc;
}
