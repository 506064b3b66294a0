/*
 * main.c — `bandsplit`, the operator and finance CLI on the settlement
 * database. Global options, then a subcommand from the table below; each
 * subcommand is its own file (cmd_*.c).
 *
 * Exit codes: 0 ok, 1 refused, 2 usage error, 3 failure.
 */
#include <assert.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "ops.h"
#include "finance_cmds.h"

/* apidb: the tenants' API tokens (cmd_token.c) */
extern const struct bs_cli_command bs_cmd_token;

#ifndef BS_VERSION
#define BS_VERSION "0"
#endif

extern const struct bs_cli_command bs_cmd_statement;   /* cmd_statement.c */
extern const struct bs_cli_command bs_cmd_rollup;      /* cmd_rollup.c */

static const struct bs_cli_command *const commands[] = {
	&bs_cmd_migrate,
	&bs_cmd_usage,
	&bs_cmd_rollup,
	&bs_cmd_gaps,
	&bs_cmd_pool,
	&bs_cmd_tenant,
	&bs_cmd_prefix,
	&bs_cmd_plan,
	&bs_cmd_alloc,
	&bs_cmd_capacity,
	&bs_cmd_audit,
	&bs_cmd_prefixes,
	&bs_cmd_park,
	&bs_cmd_close,
	&bs_cmd_invoice,
	&bs_cmd_ledger,
	&bs_cmd_reconcile,
	&bs_cmd_statement,
	&bs_cmd_token,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
"Usage: %s [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
"\n"
"The bandsplit operator and finance CLI, on the settlement database.\n"
"\n"
"Global options:\n"
"  --db CONNINFO   libpq connection string or postgresql:// URI (default:\n"
"                  $BANDSPLIT_DB, else the PG* environment variables)\n"
"  --verbose       log debug messages\n"
"  --log-format FMT  log lines on stderr as 'text' (default) or 'json'\n"
"                  (one JSON object per line: ts, level, program, pid, msg)\n"
"  --help          show this help\n"
"  --version       show the version\n"
"\n"
"Commands:\n", prog);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out,
"\n"
"'%s COMMAND --help' describes a command. Times are ISO 8601; without an\n"
"offset they are in the park's time zone (default Asia/Shanghai).\n"
"\n"
"Exit status: 0 ok, 1 refused, 2 usage error, 3 failure.\n", prog);
}

/* Runs a command; one that failed with a serialisation failure or a
 * deadlock (ops.h: nothing committed, nothing printed) runs again after a
 * random pause that grows with the attempts (5 ms .. ~0.6 s). */
static int run_with_retries(const struct bs_cli *cli,
			    const struct bs_cli_command *cmd, int argc,
			    char **argv)
{
	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	for (int attempt = 1;; attempt++) {
		bs_op_retry_begin(attempt);
		optind = 0;   /* glibc: re-initialise for the subcommand */
		opterr = 0;
		int rc = cmd->run == NULL ? bs_op_dispatch(cli, cmd, argc, argv)
					  : cmd->run(cli, argc, argv);
		if (!bs_op_retry_wanted())
			return rc;
		assert(attempt < BS_OP_ATTEMPTS);
		long max_us = 5000L << (attempt < 7 ? attempt : 7);
		usleep((useconds_t)(max_us / 2 + random() % (max_us / 2)));
	}
}

int main(int argc, char **argv)
{
	struct bs_cli cli = { .prog = "bandsplit", .conninfo = getenv("BANDSPLIT_DB") };
	enum { OPT_DB = 256, OPT_VERBOSE, OPT_HELP, OPT_VERSION, OPT_LOG_FORMAT };
	static const struct option options[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ NULL, 0, NULL, 0 },
	};

	/* Large blocks from the heap, and kept there once freed: a block
	 * above glibc's default threshold is a fresh mmap, every page of it a
	 * page fault on first touch (about 25 us each on these VMs), and the
	 * statement's output buffer would pay for pages its query results had
	 * just freed. A short-lived command: nothing is given back anyway. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	bs_log_init(cli.prog);
	opterr = 0;
	int c;
	/* "+": stop at the subcommand; its options are its own. */
	while ((c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		switch (c) {
		case OPT_DB: cli.conninfo = optarg; break;
		case OPT_VERBOSE: bs_log_set_level(BS_LOG_DEBUG); break;
		case OPT_HELP: usage(stdout, cli.prog); return BS_EXIT_OK;
		case OPT_VERSION: printf("bandsplit %s\n", BS_VERSION); return BS_EXIT_OK;
		case OPT_LOG_FORMAT:
			if (bs_log_format_option(cli.prog, optarg) < 0)
				return BS_EXIT_USAGE;
			break;
		default:
			fprintf(stderr, "%s: unknown or incomplete option '%s'\n"
				"Try '%s --help'.\n", cli.prog, argv[optind - 1],
				cli.prog);
			return BS_EXIT_USAGE;
		}
	}
	if (cli.conninfo != NULL && cli.conninfo[0] == '\0')
		cli.conninfo = NULL;
	if (optind >= argc) {
		usage(stderr, cli.prog);
		return BS_EXIT_USAGE;
	}
	const char *name = argv[optind];
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i]->name, name) == 0) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;
			return run_with_retries(&cli, commands[i], sub_argc, sub_argv);
		}
	}
	fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", cli.prog,
		name, cli.prog);
	return BS_EXIT_USAGE;
}
