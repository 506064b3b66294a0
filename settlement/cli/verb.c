/*
 * verb.c — what the object commands' verbs share: reading an object's
 * option table, starting a verb, and the show / end / list verbs that
 * differ only by their SQL. See verb.h.
 */
#include "verb.h"

#include <assert.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTS 24
enum { OPT_FIRST = 256, OPT_JSON = OPT_FIRST + MAX_OPTS, OPT_HELP };

#define AT(args, off, type) ((type *)((char *)(args) + (off)))
#define CAT(args, off, type) ((const type *)((const char *)(args) + (off)))

static bool converts(enum bs_opt_kind kind)
{
	return kind == BS_OPT_ID || kind == BS_OPT_TIME || kind == BS_OPT_RATE ||
	       kind == BS_OPT_MONEY || kind == BS_OPT_PERCENT;
}

static bool given(const struct bs_verb_opt *o, const void *args)
{
	switch (o->kind) {
	case BS_OPT_FLAG: return *CAT(args, o->given, bool);
	case BS_OPT_LIST: return *CAT(args, o->value, int) > 0;
	default: return *CAT(args, o->given, const char *) != NULL;
	}
}

static int parse_currency(const struct bs_op *op, const char *option,
			  const char *v)
{
	bool ok = strlen(v) == 3;
	for (const char *p = v; ok && *p; p++)
		ok = *p >= 'A' && *p <= 'Z';
	return ok ? 0 : bs_op_usage(op, "%s '%s': an ISO 4217 code like CNY",
				    option, v);
}

/* The kind's own check of a given option, then the option's. */
static int check_value(const struct bs_op *op, const struct bs_verb_opt *o,
		       void *args)
{
	char option[64];
	snprintf(option, sizeof(option), "--%s", o->name);
	const char *v = o->kind == BS_OPT_FLAG || o->kind == BS_OPT_LIST
		? NULL : *AT(args, o->given, const char *);
	char *out = converts(o->kind) ? AT(args, o->value, char) : NULL;
	int rc = 0;
	switch (o->kind) {
	case BS_OPT_FLAG: case BS_OPT_LIST: break;
	case BS_OPT_TEXT:
		if (o->max > 0)
			rc = bs_op_parse_text(op, option, v, o->max);
		break;
	case BS_OPT_ID: rc = bs_op_parse_id(op, option, v, out); break;
	case BS_OPT_TIME: rc = bs_op_parse_time(op, option, v, out); break;
	case BS_OPT_RATE: rc = bs_op_parse_rate(op, option, v, out); break;
	case BS_OPT_MONEY: rc = bs_op_parse_money(op, option, v, out); break;
	case BS_OPT_PERCENT: rc = bs_op_parse_percent(op, option, v, out); break;
	case BS_OPT_CHOICE:
		rc = bs_op_parse_choice(op, option, v, o->choices);
		break;
	case BS_OPT_CURRENCY: rc = parse_currency(op, option, v); break;
	}
	if (rc == 0 && o->check != NULL)
		rc = o->check(op, args);
	return rc;
}

/* Reads the options into args; --help stops there (*help set, nothing
 * checked). Returns 0 or an exit code. */
static int parse_options(struct bs_op *op, const struct bs_object *obj,
			 const char *allowed, int argc, char **argv,
			 void *args, bool *help)
{
	struct option table[MAX_OPTS + 3];
	assert(obj->nopts <= MAX_OPTS);
	for (size_t i = 0; i < obj->nopts; i++)
		table[i] = (struct option){ obj->opts[i].name,
			obj->opts[i].kind == BS_OPT_FLAG ? no_argument
							 : required_argument,
			NULL, OPT_FIRST + (int)i };
	table[obj->nopts] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	table[obj->nopts + 1] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	table[obj->nopts + 2] = (struct option){ NULL, 0, NULL, 0 };

	memset(args, 0, obj->args_size);
	*help = false;
	int c;
	while ((c = getopt_long(argc, argv, "", table, NULL)) != -1) {
		if (c == '?' || c == ':')
			return bs_op_bad_option(op, argv);
		if (c == OPT_HELP) {
			*help = true;
			return 0;
		}
		if (c == OPT_JSON) {
			op->json = true;
			continue;
		}
		const struct bs_verb_opt *o = &obj->opts[c - OPT_FIRST];
		if (!bs_op_word_in(allowed, o->name))
			return bs_op_usage(op, "--%s does not apply here", o->name);
		if (o->kind != BS_OPT_FLAG) {
			long bad = bs_cli_utf8_error(optarg);
			if (bad >= 0)
				return bs_op_usage(op, "--%s: not valid UTF-8 (byte "
						   "%ld)", o->name, bad + 1);
		}
		/* a repeated option is an error, not "the last one wins"
		 * (LIST options are the repeatable ones) */
		if (o->kind != BS_OPT_LIST && given(o, args))
			return bs_op_usage(op, "--%s given more than once", o->name);
		if (o->kind == BS_OPT_FLAG) {
			*AT(args, o->given, bool) = true;
		} else if (o->kind == BS_OPT_LIST) {
			int *n = AT(args, o->value, int);
			if ((size_t)*n == o->max)
				return bs_op_usage(op, "%s", o->too_many);
			AT(args, o->given, const char *)[(*n)++] = optarg;
		} else {
			*AT(args, o->given, const char *) = optarg;
		}
	}
	for (size_t i = 0; i < obj->nopts; i++) {
		int rc = given(&obj->opts[i], args)
			? check_value(op, &obj->opts[i], args) : 0;
		if (rc != 0)
			return rc;
	}
	return obj->check != NULL ? obj->check(op, args) : 0;
}

/* Is the flag option `name` of the object given? (false if it has none) */
static bool flag_given(const struct bs_object *obj, const void *args,
		       const char *name)
{
	for (size_t i = 0; i < obj->nopts; i++)
		if (obj->opts[i].kind == BS_OPT_FLAG &&
		    strcmp(obj->opts[i].name, name) == 0)
			return given(&obj->opts[i], args);
	return false;
}

/* --from and --to, when the object has both and both are given: --to
 * after --from (in the session's time zone: the database compares). */
static int check_range(const struct bs_op *op, const struct bs_object *obj,
		       const void *args)
{
	const struct bs_verb_opt *from = NULL, *to = NULL;
	for (size_t i = 0; i < obj->nopts; i++) {
		if (strcmp(obj->opts[i].name, "from") == 0)
			from = &obj->opts[i];
		else if (strcmp(obj->opts[i].name, "to") == 0)
			to = &obj->opts[i];
	}
	if (from == NULL || to == NULL || !given(from, args) || !given(to, args))
		return 0;
	return bs_cli_check_range(op->cli, op->conn, op->cmd,
				  CAT(args, from->value, char),
				  CAT(args, to->value, char));
}

/* Is every option of `names` given (all) or one of them (!all)? */
static bool given_of(const struct bs_object *obj, const void *args,
		     const char *names, bool all)
{
	for (size_t i = 0; i < obj->nopts; i++)
		if (bs_op_word_in(names, obj->opts[i].name) &&
		    given(&obj->opts[i], args) != all)
			return !all;
	return all;
}

/* What the verb asks of its options together, once each one is checked. */
static int check_verb(const struct bs_op *op, const struct bs_object *obj,
		      const struct bs_verb *verb, void *args)
{
	if (bs_op_word_in(verb->allowed, "at") && bs_op_word_in(verb->allowed, "all") &&
	    given_of(obj, args, "at all", true))
		return bs_op_usage(op, "--at and --all exclude each other");
	if (verb->required != NULL && !given_of(obj, args, verb->required, true))
		return bs_op_usage(op, "%s", verb->required_msg);
	if (verb->some_of != NULL && !given_of(obj, args, verb->some_of, false))
		return bs_op_usage(op, "%s", verb->some_of_msg);
	return verb->check != NULL ? verb->check(op, args) : 0;
}

int bs_verb_start(struct bs_op *op, const struct bs_cli *cli,
		  const struct bs_object *obj, const struct bs_verb *verb,
		  int argc, char **argv, void *args, char *id)
{
	char cmd[sizeof(op->cmd)];
	snprintf(cmd, sizeof(cmd), "%s %s", obj->name, verb->name);
	bs_op_init(op, cli, cmd);
	bool help;
	int rc = parse_options(op, obj, verb->allowed, argc, argv, args, &help);
	if (rc != 0)
		return rc;
	if (help) {
		fputs(verb->help, stdout);
		return BS_EXIT_OK;
	}
	if (verb->id_name != NULL)
		rc = bs_op_one_id(op, argc, argv, verb->id_name, id);
	else if (optind < argc)
		rc = bs_op_usage(op, "unexpected argument '%s'", argv[optind]);
	if (rc == 0)
		rc = check_verb(op, obj, verb, args);
	if (rc == 0 && bs_op_open(op) != 0)
		rc = bs_op_close(op, false);
	/* --force and --purge are transaction settings the schema's rules
	 * read (capacity guard, history guard: 0011, 0018). */
	if (rc == 0)
		rc = check_range(op, obj, args);
	if (rc == 0 && flag_given(obj, args, "force"))
		rc = bs_op_set_local(op, "bandsplit.force", "on");
	if (rc == 0 && flag_given(obj, args, "purge"))
		rc = bs_op_set_local(op, "bandsplit.purge", "on");
	if (rc != 0)
		bs_op_close(op, false);
	return rc != 0 ? rc : BS_VERB_GO;
}

const char *bs_verb_param(const struct bs_object *obj, const void *args,
			  const char *name)
{
	for (size_t i = 0; i < obj->nopts; i++) {
		const struct bs_verb_opt *o = &obj->opts[i];
		if (strcmp(o->name, name) != 0)
			continue;
		assert(o->kind != BS_OPT_LIST);
		if (!given(o, args))
			return NULL;
		if (o->kind == BS_OPT_FLAG)
			return "all";
		return converts(o->kind) ? CAT(args, o->value, char)
					 : *CAT(args, o->given, const char *);
	}
	assert(!"no such option");
	return NULL;
}

int bs_verb_finish(struct bs_op *op, PGresult *res, bool as_object)
{
	int rc = bs_op_close(op, true);
	if (rc == 0 && res != NULL)
		bs_op_print(op, res, as_object);
	PQclear(res);
	return rc;
}

/* The args of a verb run here: as big as the object needs. */
static void *new_args(const struct bs_object *obj)
{
	void *args = malloc(obj->args_size);
	if (args == NULL) {
		perror("malloc");
		exit(BS_EXIT_FAILURE);
	}
	return args;
}

int bs_verb_show(const struct bs_cli *cli, int argc, char **argv,
		 const struct bs_object *obj, const struct bs_verb *verb,
		 const char *what, const char *sql)
{
	struct bs_op op;
	char id[BS_OP_VALUE_MAX];
	void *args = new_args(obj);
	int rc = bs_verb_start(&op, cli, obj, verb, argc, argv, args, id);
	free(args);
	if (rc != BS_VERB_GO)
		return rc;
	const char *params[1] = { id };
	return bs_verb_finish(&op, bs_op_query_one(&op, what, sql, 1, params),
			      true);
}

int bs_verb_end(const struct bs_cli *cli, int argc, char **argv,
		const struct bs_object *obj, const struct bs_verb *verb,
		const char *what, const char *sql, const char *purge_sql)
{
	struct bs_op op;
	char id[BS_OP_VALUE_MAX], at[BS_OP_VALUE_MAX];
	void *args = new_args(obj);
	int rc = bs_verb_start(&op, cli, obj, verb, argc, argv, args, id);
	const char *at_v = rc == BS_VERB_GO ? bs_verb_param(obj, args, "at") : NULL;
	snprintf(at, sizeof(at), "%s", at_v != NULL ? at_v : "now");
	bool purge = rc == BS_VERB_GO && purge_sql != NULL &&
		     flag_given(obj, args, "purge");
	free(args);
	if (rc != BS_VERB_GO)
		return rc;
	const char *params[2] = { id, at };
	if (purge) {
		/* a row starting at or after --at: removed (the schema allows it
		 * only if it never took effect) */
		PGresult *gone = bs_op_query(&op, purge_sql, 2, params);
		bool removed = gone != NULL && PQntuples(gone) == 1;
		if (removed)
			return bs_verb_finish(&op, gone, true);
		PQclear(gone);
	}
	return bs_verb_finish(&op, bs_op_query_one(&op, what, sql, 2, params),
			      true);
}

int bs_verb_list(const struct bs_cli *cli, int argc, char **argv,
		 const struct bs_object *obj, const struct bs_verb *verb,
		 const char *const *filters, const char *sql)
{
	enum { MAX_FILTERS = 8 };
	struct bs_op op;
	void *args = new_args(obj);
	int rc = bs_verb_start(&op, cli, obj, verb, argc, argv, args, NULL);
	if (rc != BS_VERB_GO) {
		free(args);
		return rc;
	}
	const char *params[MAX_FILTERS + 2];
	int n = 0;
	for (; filters[n] != NULL; n++) {
		assert(n < MAX_FILTERS);
		params[n] = bs_verb_param(obj, args, filters[n]);
	}
	params[n++] = bs_verb_param(obj, args, "at");
	params[n++] = bs_verb_param(obj, args, "all");
	PGresult *res = bs_op_query(&op, sql, n, params);
	free(args);
	return bs_verb_finish(&op, res, false);
}
