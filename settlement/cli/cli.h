/*
 * cli.h — what every `bandsplit` subcommand shares: the table entry it
 * exports, the exit codes, the database connection and error helpers.
 *
 * A subcommand lives in its own file (cmd_<name>.c), exports one
 * `const struct bs_cli_command bs_cmd_<name>` and is listed in the table in
 * main.c. It parses its own options (getopt_long, optind reset by main) and
 * answers --help itself; or it is an object command (pool, tenant, ...)
 * and lists its verbs, each of which does that.
 */
#ifndef BS_CLI_H
#define BS_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>

enum bs_exit {
	BS_EXIT_OK = 0,
	BS_EXIT_REFUSED = 1,   /* the request was understood and refused */
	BS_EXIT_USAGE = 2,     /* bad command line */
	BS_EXIT_FAILURE = 3,   /* database, I/O or internal failure */
};

struct bs_cli {
	const char *prog;       /* "bandsplit" */
	const char *conninfo;   /* --db, else $BANDSPLIT_DB, else NULL (PG*) */
};

struct bs_op_verb;

struct bs_cli_command {
	const char *name;
	const char *summary;    /* one line for `bandsplit --help` */
	/* argv[0] is the subcommand name; returns an enum bs_exit. NULL for an
	 * object command, whose verbs bs_op_dispatch (ops.h) runs: */
	int (*run)(const struct bs_cli *cli, int argc, char **argv);
	const char *description;          /* for `bandsplit OBJECT --help` */
	const struct bs_op_verb *verbs;
	size_t nverbs;
};

/* Connects (session TimeZone UTC, so times without a zone are UTC);
 * prints the error and returns NULL on failure. */
PGconn *bs_cli_connect(const struct bs_cli *cli);

/* Prints "bandsplit <cmd>: <message>" and a pointer to --help on stderr;
 * returns BS_EXIT_USAGE. */
/* Prints "HEAD: MESSAGE" and, on a line of its own, tail (if not NULL) to
 * stderr; with --log-format json one JSON log object (level ERROR) holding
 * both instead. The other error printers below use it. */
void bs_cli_message(const char *head, const char *tail, const char *fmt,
		    va_list ap) __attribute__((format(printf, 3, 0)));

int bs_cli_usage_error(const struct bs_cli *cli, const char *cmd,
		       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prints "bandsplit <cmd>: <message>" on stderr and returns code. */
int bs_cli_fail(const struct bs_cli *cli, const char *cmd, int code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* An option's value stored once: a second --option, or a value that is
 * not valid UTF-8, is a usage error naming the option (printed; returns
 * BS_EXIT_USAGE); else *slot = value and 0. */
int bs_cli_once(const struct bs_cli *cli, const char *cmd, const char *option,
		const char **slot, const char *value);

/* The byte offset of the first invalid UTF-8 sequence of s (overlong forms,
 * surrogates and code points above U+10FFFF are invalid), or -1. */
long bs_cli_utf8_error(const char *s);

/* A --from/--to pair (either may be NULL: nothing to check): --to must be
 * after --from, compared in the session's (the park's) time zone. Prints
 * "<cmd>: --from 'F' and --to 'T': --to must be after --from" and returns
 * BS_EXIT_USAGE, or 0; BS_EXIT_FAILURE if the comparison failed. */
int bs_cli_check_range(const struct bs_cli *cli, PGconn *conn, const char *cmd,
		       const char *from, const char *to);

/* Validates a time argument with the server (timestamptz input) and
 * returns 0, or prints a usage error and returns BS_EXIT_USAGE. */
int bs_cli_check_time(const struct bs_cli *cli, PGconn *conn, const char *cmd,
		      const char *option, const char *value);

extern const struct bs_cli_command bs_cmd_migrate;
extern const struct bs_cli_command bs_cmd_gaps;
extern const struct bs_cli_command bs_cmd_usage;

#endif
