/*
 * verb.h — the shapes the park model's object commands (pool, tenant,
 * prefix, plan, alloc) share, written once: an object's options as a
 * table, the start of every verb (options, --help, its one id argument),
 * and the verbs that differ only by their SQL: show one row by id, end
 * one row at --at, list with --at / --all.
 *
 * An object describes its options once (struct bs_verb_opt[]: name, kind,
 * where the value goes in the object's own args struct); each verb names
 * the options it takes. A verb that does more than the shapes here starts
 * with bs_verb_start() (which leaves op open) and goes on with ops.h's
 * helpers.
 */
#ifndef BS_CLI_VERB_H
#define BS_CLI_VERB_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "ops.h"

#define BS_STR_(x) #x
#define BS_STR(x) BS_STR_(x)

/* How an option's value is checked and where it goes. Values are checked
 * after all options are read, in the order of the object's table; the
 * converting kinds (ID ... PERCENT) leave an SQL parameter at `value`. */
enum bs_opt_kind {
	BS_OPT_FLAG,     /* no value: sets the bool at `given` */
	BS_OPT_TEXT,     /* kept as given; when max > 0, bs_op_parse_text */
	BS_OPT_ID,       /* bs_op_parse_id */
	BS_OPT_TIME,     /* bs_op_parse_time */
	BS_OPT_RATE,     /* bs_op_parse_rate */
	BS_OPT_MONEY,    /* bs_op_parse_money */
	BS_OPT_PERCENT,  /* bs_op_parse_percent */
	BS_OPT_CHOICE,   /* one of `choices`, kept as given */
	BS_OPT_CURRENCY, /* an ISO 4217 code (three capitals), kept as given */
	BS_OPT_LIST,     /* repeatable: appended to the const char *[max] at
			  * `given`, counted in the int at `value` */
};

struct bs_verb_opt {
	const char *name;            /* the long option, without "--" */
	enum bs_opt_kind kind;
	size_t given;                /* offsetof the const char * (see kind) */
	size_t value;                /* offsetof the char[BS_OP_VALUE_MAX] */
	size_t max;                  /* TEXT: most bytes; LIST: most values */
	const char *const *choices;  /* CHOICE: NULL-terminated */
	const char *too_many;        /* LIST: the message past max */
	/* Checks (and converts) further, once the kind's check passed; only
	 * for an option given. Returns 0 or an exit code (printed). */
	int (*check)(const struct bs_op *op, void *args);
};

/* An object command: its options (besides --json and --help, which every
 * verb takes) and the size of its args struct. */
struct bs_object {
	const char *name;                  /* "pool" */
	const struct bs_verb_opt *opts;
	size_t nopts;
	size_t args_size;
	/* Checks across options, after each option's own; may be NULL. */
	int (*check)(const struct bs_op *op, void *args);
};

/* One verb of an object. */
struct bs_verb {
	const char *name;       /* "show" */
	const char *allowed;    /* the object's options it takes, space-separated */
	const char *id_name;    /* its one argument, an id ("POOL_ID"), or NULL:
				 * no argument */
	const char *help;       /* printed as it is for --help */
	/* Options that must all be given (space-separated), and the usage
	 * error when one is not; NULL: none. */
	const char *required, *required_msg;
	/* Options of which at least one must be given, and the usage error
	 * when none is; NULL: none. */
	const char *some_of, *some_of_msg;
	/* Checks further, after those; may be NULL. */
	int (*check)(const struct bs_op *op, void *args);
};

/* bs_verb_start's "go on": not an exit code. */
#define BS_VERB_GO (-1)

/* Starts a verb: op for "<object> <verb>", options into args (cleared
 * first; one not in verb->allowed is a usage error), --help answered, the
 * id argument parsed into id (or any argument refused), --at with --all
 * refused, the verb's required / some_of / check applied, op's
 * connection opened, and the flags --force / --purge (when the object has
 * them and they are given) set as bandsplit.force / bandsplit.purge. Returns BS_VERB_GO or the exit code to return
 * (printed; 0 after --help). */
int bs_verb_start(struct bs_op *op, const struct bs_cli *cli,
		  const struct bs_object *obj, const struct bs_verb *verb,
		  int argc, char **argv, void *args, char *id);

/* The SQL parameter of option `name` in args: its converted value for the
 * converting kinds, else the text given, "all" for a flag set; NULL when
 * not given. */
const char *bs_verb_param(const struct bs_object *obj, const void *args,
			  const char *name);

/* Closes op (committing if all went well), prints res if so, frees it and
 * returns the exit code. */
int bs_verb_finish(struct bs_op *op, PGresult *res, bool as_object);

/* `OBJECT show ID`: sql ($1 the id) must return one row; none is "<what>
 * not found". */
int bs_verb_show(const struct bs_cli *cli, int argc, char **argv,
		 const struct bs_object *obj, const struct bs_verb *verb,
		 const char *what, const char *sql);

/* `OBJECT end ID [--at TIME] [--force] [--purge]`: sql ($1 the id, $2
 * --at or "now") must return the one row ended; none is "<what> not
 * found". With --purge (purge_sql not NULL), purge_sql ($1, $2) first
 * deletes the row if it starts at or after $2 (returning it); the schema
 * (0018) refuses that for a row that took effect. --force and --purge set
 * bandsplit.force / bandsplit.purge (bs_verb_start). */
int bs_verb_end(const struct bs_cli *cli, int argc, char **argv,
		const struct bs_object *obj, const struct bs_verb *verb,
		const char *what, const char *sql, const char *purge_sql);

/* `OBJECT list [filters] [--at TIME | --all]`: sql gets the NULL-terminated
 * filters' parameters as $1..$n (NULL when not given), then --at as
 * $n+1 and --all as $n+2 (see BS_IN_FORCE). */
int bs_verb_list(const struct bs_cli *cli, int argc, char **argv,
		 const struct bs_object *obj, const struct bs_verb *verb,
		 const char *const *filters, const char *sql);

/* The row `alias` (with a `valid` range) is in force at $AT, or with $ALL
 * whenever, or by default has not ended yet. */
#define BS_IN_FORCE(alias, at, all) \
	" CASE WHEN $" #at "::timestamptz IS NOT NULL" \
	"  THEN " alias ".valid @> $" #at "::timestamptz" \
	"      WHEN $" #all "::text IS NOT NULL THEN true" \
	"      ELSE upper_inf(" alias ".valid) OR upper(" alias ".valid) > now() END"

#endif
