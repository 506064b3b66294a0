/*
 * main.c — bandsplit-settle: consumes bandsplit.usage.v1 into PostgreSQL
 * exactly once (see consumer.c), serves Prometheus metrics, stops cleanly
 * on SIGTERM / SIGINT (the batch in flight commits or rolls back; exit 0).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "consumer.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"

#ifndef BS_VERSION
#define BS_VERSION "0"
#endif

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
"Usage: bandsplit-settle [-c FILE] [OPTIONS]\n"
"\n"
"Consumes usage records from Kafka (a consumer group on bandsplit.usage.v1)\n"
"into PostgreSQL exactly once: raw records, 5-minute rollups, node\n"
"summaries and the Kafka offsets in one transaction per batch. Refused\n"
"records go to bandsplit.usage.dlq and the rejected_records table.\n"
"\n"
"Options:\n"
"  -c, --config FILE     configuration (see config/settle.conf); without it,\n"
"                        defaults, --set and the PG* environment\n"
"  --set SECTION.KEY=V   override one configuration key (repeatable), e.g.\n"
"                        --set kafka.bootstrap_file=/run/kafka.bootstrap\n"
"  --sql-dir DIR         migrations the database must match (default as for\n"
"                        'bandsplit migrate')\n"
"  --drain               exit 0 once every assigned partition is settled up\n"
"                        to the end of what Kafka holds (1 if one is stopped)\n"
"  --stats FILE          write a JSON summary (messages, rows, seconds,\n"
"                        records/s from the first message) to FILE at exit\n"
"  -v, --verbose         log debug messages\n"
BS_LOG_FORMAT_HELP
"  -h, --help            show this help\n"
"  --version             show the version\n"
"\n"
"Metrics: http://<metrics_listen>/metrics (Prometheus text format).\n"
"Exit status: 0 stopped cleanly (or drained), 1 refused (the database\n"
"schema does not match this build; or --drain ended with a stopped\n"
"partition), 2 bad arguments or configuration, 3 failure.\n");
}

int main(int argc, char **argv)
{
	enum { OPT_SET = 256, OPT_SQL_DIR, OPT_DRAIN, OPT_STATS, OPT_VERSION,
	       OPT_LOG_FORMAT };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, OPT_SET },
		{ "sql-dir", required_argument, NULL, OPT_SQL_DIR },
		{ "drain", no_argument, NULL, OPT_DRAIN },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ NULL, 0, NULL, 0 },
	};
	static struct settle_config cfg;
	static struct settle_metrics metrics;
	struct settle_options opt = { .stop = &stop_requested };
	const char *config_path = NULL, *sql_dir = NULL;
	const char *sets[64];
	int nsets = 0, c;
	char err[1024];

	bs_log_init("bandsplit-settle");
	while ((c = getopt_long(argc, argv, "c:vh", options, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case OPT_SET:
			if (nsets == 64) {
				fprintf(stderr, "bandsplit-settle: too many --set\n");
				return 2;
			}
			sets[nsets++] = optarg;
			break;
		case OPT_SQL_DIR: sql_dir = optarg; break;
		case OPT_DRAIN: opt.drain = true; break;
		case OPT_STATS: opt.stats_path = optarg; break;
		case 'v': bs_log_set_level(BS_LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("bandsplit-settle %s\n", BS_VERSION); return 0;
		case OPT_LOG_FORMAT:
			if (bs_log_format_option("bandsplit-settle", optarg) < 0)
				return 2;
			break;
		default:
			fprintf(stderr, "Try 'bandsplit-settle --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bandsplit-settle: unexpected argument '%s'\n"
			"Try 'bandsplit-settle --help'.\n", argv[optind]);
		return 2;
	}
	settle_config_defaults(&cfg);
	if (config_path != NULL && settle_config_load(config_path, &cfg, err,
						      sizeof(err)) < 0) {
		BS_ERROR("%s", err);
		settle_config_free(&cfg);
		return 2;
	}
	for (int i = 0; i < nsets; i++) {
		if (settle_config_set(&cfg, sets[i], err, sizeof(err)) < 0) {
			BS_ERROR("--set %s", err);
			settle_config_free(&cfg);
			return 2;
		}
	}
	char brokers[2048];
	if (settle_config_brokers(&cfg, brokers, sizeof(brokers), err, sizeof(err)) < 0) {
		BS_ERROR("%s", err);
		settle_config_free(&cfg);
		return 2;
	}
	opt.sql_dir = bs_migrate_sql_dir(sql_dir);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	settle_metrics_init(&metrics);
	struct settle_metrics_server *srv = NULL;
	if (cfg.metrics_listen[0] != '\0') {
		srv = settle_metrics_start(&metrics, cfg.group, cfg.metrics_listen,
					   err, sizeof(err));
		if (srv == NULL) {
			BS_ERROR("%s", err);
			settle_config_free(&cfg);
			return 3;
		}
		BS_INFO("metrics on http://%.*s:%u/metrics",
			(int)(strrchr(cfg.metrics_listen, ':') - cfg.metrics_listen),
			cfg.metrics_listen, settle_metrics_port(srv));
	}
	int rc = settle_run(&cfg, &metrics, &opt);
	settle_metrics_stop(srv);
	settle_config_free(&cfg);
	BS_INFO("exit %d", rc);
	return rc;
}
