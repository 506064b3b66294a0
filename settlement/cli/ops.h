/*
 * ops.h — what the park operators' subcommands (pool, tenant, prefix,
 * plan, alloc, capacity, audit, prefixes) share: one database session in
 * one transaction per command, the park's time zone and the actor set on
 * it, SQL errors mapped to exit codes, option values parsed with the
 * option's name in every message, and output as a table or JSON.
 *
 * Flow of a command: parse options (bs_op_* parsers print usage errors) →
 * bs_op_open() → bs_op_query()... → bs_op_close(commit) → print. The
 * object commands (pool, tenant, prefix, plan, alloc) parse and start their
 * verbs with verb.h.
 */
#ifndef BS_CLI_OPS_H
#define BS_CLI_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "cli.h"
#include "parse_units.h"

#define BS_OP_VALUE_MAX 128

struct bs_op {
	const struct bs_cli *cli;
	char cmd[48];           /* "pool add", for messages */
	PGconn *conn;
	bool in_tx;
	bool json;
	int rc;                 /* the exit code of the first failure */
};

/* One sub-verb of an object command ("add", "list", ...). */
struct bs_op_verb {
	const char *name;
	const char *summary;
	int (*run)(const struct bs_cli *cli, int argc, char **argv);
};

/* Runs `bandsplit OBJECT VERB ...` for an object command (its verbs in
 * its struct bs_cli_command): prints the object's help for no verb or
 * --help, dispatches to the verb (argv[0] its name, getopt reset). */
int bs_op_dispatch(const struct bs_cli *cli,
		   const struct bs_cli_command *object, int argc, char **argv);

/* Serialisation failures and deadlocks (SQLSTATE 40001, 40P01) are
 * retried: the whole command (its one transaction) runs again, up to
 * BS_OP_ATTEMPTS times, with a growing random pause between attempts
 * (main.c). Until the last attempt such a failure is not printed:
 * bs_op_retry_wanted() tells main.c to run the command again. */
#define BS_OP_ATTEMPTS 10

/* Starts attempt n (1..BS_OP_ATTEMPTS) of a command. */
void bs_op_retry_begin(int attempt);

/* Did the attempt fail with 40001/40P01 (not printed) and may it be
 * retried? */
bool bs_op_retry_wanted(void);

/* Sets op up for cmd; nothing is opened yet. */
void bs_op_init(struct bs_op *op, const struct bs_cli *cli, const char *cmd);

/* Connects, sets the session TimeZone to the park's (park_settings), the
 * actor (bandsplit.actor = $BANDSPLIT_ACTOR, else the OS user) and begins
 * the command's transaction. Returns 0 or the exit code (printed). */
int bs_op_open(struct bs_op *op);

/* A parameterised statement in the command's transaction. On failure
 * prints "bandsplit <cmd>: <message>", sets op->rc (1 for SQLSTATE class
 * 23 and BS***: a rule refused it; 2 for class 22: a bad value; 3
 * otherwise) and returns NULL; the transaction is then rolled back by
 * bs_op_close. */
PGresult *bs_op_query(struct bs_op *op, const char *sql, int nparams,
		      const char *const *params);

/* bs_op_query, expecting exactly one row: zero rows prints
 * "<what> not found" and sets op->rc = 1. */
PGresult *bs_op_query_one(struct bs_op *op, const char *what, const char *sql,
			  int nparams, const char *const *params);

/* Sets a transaction-local setting (bandsplit.force, ...). */
int bs_op_set_local(struct bs_op *op, const char *name, const char *value);

/* Commits the command's transaction (if no failure so far) and keeps the
 * connection (session locks stay held); bs_op_close ends it. Returns
 * op->rc. */
int bs_op_commit(struct bs_op *op);

/* Commits (commit true and no failure so far) or rolls back, and closes the
 * connection. Returns op->rc (0 when committed); once closed, just that. */
int bs_op_close(struct bs_op *op, bool commit);

/* Prints a result: a table (one row per line), or with as_object one
 * "column: value" block per row; with op->json an array of objects (or one
 * object when as_object and one row). bigint/integer/boolean/json columns
 * become JSON numbers/booleans/JSON; NULL is null (shown "-" in tables). */
void bs_op_print(const struct bs_op *op, const PGresult *res, bool as_object);

/* Prints "bandsplit <cmd>: <message>" and sets op->rc = code. */
void bs_op_fail(struct bs_op *op, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Option value parsers: on a bad value they print
 * "bandsplit <cmd>: --option 'value': <why>" (plus a pointer to --help)
 * and return BS_EXIT_USAGE; 0 otherwise. Outputs are text ready to be SQL
 * parameters. */
int bs_op_parse_id(const struct bs_op *op, const char *option, const char *v,
		   char *out);
int bs_op_parse_rate(const struct bs_op *op, const char *option,
		     const char *v, char *out);
int bs_op_parse_money(const struct bs_op *op, const char *option,
		      const char *v, char *out);
int bs_op_parse_percent(const struct bs_op *op, const char *option,
			const char *v, char *out);
int bs_op_parse_time(const struct bs_op *op, const char *option,
		     const char *v, char *out);
int bs_op_parse_text(const struct bs_op *op, const char *option,
		     const char *v, size_t max_len);
/* v must be one of the NULL-terminated choices. */
int bs_op_parse_choice(const struct bs_op *op, const char *option,
		       const char *v, const char *const *choices);

/* The one positional argument left after getopt: an id (1..2^32-1) named
 * `what` in messages ("TENANT_ID"). */
int bs_op_one_id(const struct bs_op *op, int argc, char **argv,
		 const char *what, char *out);

/* True if w is one of the space-separated words. */
bool bs_op_word_in(const char *words, const char *w);

/* Usage errors for the common cases. */
int bs_op_usage(const struct bs_op *op, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int bs_op_bad_option(const struct bs_op *op, char **argv);

/* The operators' commands (main.c's table). */
extern const struct bs_cli_command bs_cmd_pool;
extern const struct bs_cli_command bs_cmd_tenant;
extern const struct bs_cli_command bs_cmd_prefix;
extern const struct bs_cli_command bs_cmd_plan;
extern const struct bs_cli_command bs_cmd_alloc;
extern const struct bs_cli_command bs_cmd_capacity;
extern const struct bs_cli_command bs_cmd_audit;
extern const struct bs_cli_command bs_cmd_prefixes;

#endif
