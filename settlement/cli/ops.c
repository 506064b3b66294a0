/*
 * ops.c — the session, error mapping, option parsing and output shared by
 * the park operators' subcommands. See ops.h.
 */
#include "ops.h"
#include "log.h"

#include <assert.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "db.h"

/* PostgreSQL type OIDs (pg_type.h is a server header). */
enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23,
       OID_JSON = 114, OID_JSONB = 3802 };

#define TABLE_MAX_COLS 40

/* The command's attempt (see BS_OP_ATTEMPTS) and whether it asked for
 * another. */
static int g_attempt = 1;
static bool g_retry;

void bs_op_retry_begin(int attempt)
{
	assert(attempt >= 1 && attempt <= BS_OP_ATTEMPTS);
	g_attempt = attempt;
	g_retry = false;
}

bool bs_op_retry_wanted(void)
{
	return g_retry;
}

int bs_op_dispatch(const struct bs_cli *cli,
		   const struct bs_cli_command *cmd, int argc, char **argv)
{
	const char *object = cmd->name;
	const struct bs_op_verb *verbs = cmd->verbs;
	size_t nverbs = cmd->nverbs;
	bool help = argc < 2 || strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0;
	if (help) {
		FILE *out = argc < 2 ? stderr : stdout;
		fprintf(out, "Usage: %s %s VERB [OPTIONS]\n\n%s\n\nVerbs:\n",
			cli->prog, object, cmd->description);
		for (size_t i = 0; i < nverbs; i++)
			fprintf(out, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
		fprintf(out, "\n'%s %s VERB --help' describes a verb. Every verb "
			"takes --json.\nExit status: 0 ok, 1 refused by a rule, 2 "
			"usage error, 3 failure.\n", cli->prog, object);
		return argc < 2 ? BS_EXIT_USAGE : BS_EXIT_OK;
	}
	for (size_t i = 0; i < nverbs; i++) {
		if (strcmp(verbs[i].name, argv[1]) == 0) {
			optind = 0;   /* glibc: re-initialise getopt */
			opterr = 0;
			return verbs[i].run(cli, argc - 1, argv + 1);
		}
	}
	return bs_cli_usage_error(cli, object, "unknown verb '%s'", argv[1]);
}

void bs_op_init(struct bs_op *op, const struct bs_cli *cli, const char *cmd)
{
	memset(op, 0, sizeof(*op));
	op->cli = cli;
	snprintf(op->cmd, sizeof(op->cmd), "%s", cmd);
}

void bs_op_fail(struct bs_op *op, int code, const char *fmt, ...)
{
	va_list ap;
	char head[128];
	snprintf(head, sizeof(head), "%s %s", op->cli->prog, op->cmd);
	va_start(ap, fmt);
	bs_cli_message(head, NULL, fmt, ap);
	va_end(ap);
	if (op->rc == 0)
		op->rc = code;
}

int bs_op_usage(const struct bs_op *op, const char *fmt, ...)
{
	va_list ap;
	char head[128], tail[160];
	snprintf(head, sizeof(head), "%s %s", op->cli->prog, op->cmd);
	snprintf(tail, sizeof(tail), "Try '%s %s --help'.", op->cli->prog, op->cmd);
	va_start(ap, fmt);
	bs_cli_message(head, tail, fmt, ap);
	va_end(ap);
	return BS_EXIT_USAGE;
}

int bs_op_bad_option(const struct bs_op *op, char **argv)
{
	return bs_op_usage(op, "unknown option, or option without its value: "
			   "'%s'", argv[optind - 1]);
}

static const char *actor_name(void)
{
	const char *a = getenv("BANDSPLIT_ACTOR");
	if (a != NULL && a[0] != '\0')
		return a;
	a = getenv("USER");
	if (a != NULL && a[0] != '\0')
		return a;
	struct passwd *pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_name : "";
}

int bs_op_open(struct bs_op *op)
{
	assert(op->conn == NULL);
	op->conn = bs_cli_connect(op->cli);
	if (op->conn == NULL) {
		op->rc = BS_EXIT_FAILURE;
		return op->rc;
	}
	PGresult *res = bs_op_query(op, "BEGIN", 0, NULL);
	if (res == NULL)
		return op->rc;
	PQclear(res);
	op->in_tx = true;
	const char *actor = actor_name();
	const char *params[1] = { actor };
	/* bs_cli_connect already put the session in the park's time zone. */
	res = bs_op_query(op, "SELECT set_config('bandsplit.actor', $1, true)"
			  " FROM park_settings", 1, params);
	if (res == NULL)
		return op->rc;
	if (PQntuples(res) != 1)
		bs_op_fail(op, BS_EXIT_FAILURE, "park_settings has no row: run "
			   "'%s migrate'", op->cli->prog);
	PQclear(res);
	return op->rc;
}

/* Friendlier words for the exclusion constraints of 0011. */
static const char *constraint_words(const char *name)
{
	static const struct { const char *name, *words; } table[] = {
		{ "prefix_no_overlap", "the prefix overlaps address space "
		  "already owned during that time" },
		{ "allocation_no_overlap", "the tenant already has an allocation "
		  "on this pool during that time" },
		{ "plan_version_no_overlap", "the plan already has a version in "
		  "force during that time" },
		{ "tenant_name_fold_unique", "another tenant has this name, up to "
		  "case, compatibility forms and invisible characters" },
	};
	for (size_t i = 0; name != NULL && i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].words;
	return NULL;
}

static void report_sql_error(struct bs_op *op, const PGresult *res)
{
	const char *state = bs_db_sqlstate(res);
	bool transient = strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0;
	if (transient && g_attempt < BS_OP_ATTEMPTS) {
		/* the whole transaction runs again (main.c) */
		g_retry = true;
		if (op->rc == 0)
			op->rc = BS_EXIT_FAILURE;
		return;
	}
	const char *primary = res != NULL
		? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res != NULL
		? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res != NULL
		? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *words = constraint_words(res != NULL
		? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL);
	int code = BS_EXIT_FAILURE;
	const char *kind = "failed";
	if (strncmp(state, "23", 2) == 0 || strncmp(state, "BS", 2) == 0) {
		code = BS_EXIT_REFUSED;
		kind = "refused";
	} else if (strncmp(state, "22", 2) == 0) {
		code = BS_EXIT_USAGE;
		kind = "bad value";
	}
	if (primary != NULL && strstr(primary, "range lower bound must be less") != NULL)
		words = "--to must not be before --from (or --at)";
	char msg[BS_DB_ERR_MAX];
	if (primary == NULL) {
		bs_db_format_error(op->conn, res, "postgres", msg, sizeof(msg));
		primary = msg;
	}
	char tries[48] = "";
	if (transient)
		snprintf(tries, sizeof(tries), " (after %d attempts)", g_attempt);
	bs_op_fail(op, code, "%s: %s%s%s%s%s%s [SQLSTATE %s]%s", kind,
		   words != NULL ? words : primary,
		   words != NULL ? " (" : "", words != NULL ? primary : "",
		   words != NULL ? ")" : "",
		   detail != NULL ? "; " : "", detail != NULL ? detail : "",
		   state[0] ? state : "none", tries);
	if (hint != NULL && bs_log_is_json())
		BS_INFO("%s %s: hint: %s", op->cli->prog, op->cmd, hint);
	else if (hint != NULL)
		fprintf(stderr, "hint: %s\n", hint);
}

PGresult *bs_op_query(struct bs_op *op, const char *sql, int nparams,
		      const char *const *params)
{
	assert(op->conn != NULL);
	if (op->rc != 0)
		return NULL;
	PGresult *res = PQexecParams(op->conn, sql, nparams, NULL, params, NULL,
				     NULL, 0);
	ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	report_sql_error(op, res);
	PQclear(res);
	return NULL;
}

PGresult *bs_op_query_one(struct bs_op *op, const char *what, const char *sql,
			  int nparams, const char *const *params)
{
	PGresult *res = bs_op_query(op, sql, nparams, params);
	if (res != NULL && PQntuples(res) != 1) {
		bs_op_fail(op, BS_EXIT_REFUSED, "%s not found", what);
		PQclear(res);
		return NULL;
	}
	return res;
}

int bs_op_set_local(struct bs_op *op, const char *name, const char *value)
{
	const char *params[2] = { name, value };
	PGresult *res = bs_op_query(op, "SELECT set_config($1, $2, true)", 2,
				    params);
	PQclear(res);
	return op->rc;
}

int bs_op_commit(struct bs_op *op)
{
	assert(op->conn != NULL && op->in_tx);
	if (op->rc == 0) {
		PGresult *res = bs_op_query(op, "COMMIT", 0, NULL);
		PQclear(res);
	} else {
		bs_db_rollback_quiet(op->conn);
	}
	op->in_tx = false;
	return op->rc;
}

int bs_op_close(struct bs_op *op, bool commit)
{
	if (op->conn != NULL) {
		if (op->in_tx && commit && op->rc == 0) {
			PGresult *res = bs_op_query(op, "COMMIT", 0, NULL);
			PQclear(res);
		} else if (op->in_tx) {
			bs_db_rollback_quiet(op->conn);
		}
		op->in_tx = false;
		PQfinish(op->conn);
		op->conn = NULL;
	}
	return op->rc;
}

static json_object *json_value(const PGresult *res, int r, int c)
{
	if (PQgetisnull(res, r, c))
		return NULL;
	const char *v = PQgetvalue(res, r, c);
	switch (PQftype(res, c)) {
	case OID_BOOL:
		return json_object_new_boolean(v[0] == 't');
	case OID_INT2: case OID_INT4: case OID_INT8:
		return json_object_new_int64(strtoll(v, NULL, 10));
	case OID_JSON: case OID_JSONB: {
		json_object *o = json_tokener_parse(v);
		return o != NULL ? o : json_object_new_string(v);
	}
	default:
		return json_object_new_string(v);
	}
}

static json_object *json_row(const PGresult *res, int r)
{
	json_object *o = json_object_new_object();
	for (int c = 0; c < PQnfields(res); c++)
		json_object_object_add(o, PQfname(res, c), json_value(res, r, c));
	return o;
}

static void print_json(const PGresult *res, bool as_object)
{
	json_object *top;
	if (as_object && PQntuples(res) == 1) {
		top = json_row(res, 0);
	} else {
		top = json_object_new_array();
		for (int r = 0; r < PQntuples(res); r++)
			json_object_array_add(top, json_row(res, r));
	}
	printf("%s\n", json_object_to_json_string_ext(top,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(top);
}

static const char *cell(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? "-" : PQgetvalue(res, r, c);
}

static bool numeric_type(Oid t)
{
	return t == OID_INT2 || t == OID_INT4 || t == OID_INT8;
}

static void print_table(const PGresult *res)
{
	int ncols = PQnfields(res);
	assert(ncols <= TABLE_MAX_COLS);
	int width[TABLE_MAX_COLS];
	for (int c = 0; c < ncols; c++) {
		width[c] = (int)strlen(PQfname(res, c));
		for (int r = 0; r < PQntuples(res); r++) {
			int w = (int)strlen(cell(res, r, c));
			if (w > width[c])
				width[c] = w;
		}
	}
	for (int c = 0; c < ncols; c++) {
		char name[64];
		snprintf(name, sizeof(name), "%s", PQfname(res, c));
		for (char *p = name; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		if (c + 1 < ncols)
			printf("%-*s  ", width[c], name);
		else
			printf("%s\n", name);
	}
	for (int r = 0; r < PQntuples(res); r++)
		for (int c = 0; c < ncols; c++) {
			bool last = c + 1 == ncols;
			if (numeric_type(PQftype(res, c)))
				printf(last ? "%*s\n" : "%*s  ", width[c], cell(res, r, c));
			else if (last)
				printf("%s\n", cell(res, r, c));
			else
				printf("%-*s  ", width[c], cell(res, r, c));
		}
	if (PQntuples(res) == 0)
		printf("(none)\n");
}

static void print_blocks(const PGresult *res)
{
	int ncols = PQnfields(res);
	int w = 0;
	for (int c = 0; c < ncols; c++)
		if ((int)strlen(PQfname(res, c)) > w)
			w = (int)strlen(PQfname(res, c));
	for (int r = 0; r < PQntuples(res); r++) {
		if (r > 0)
			putchar('\n');
		for (int c = 0; c < ncols; c++)
			printf("%-*s  %s\n", w + 1, PQfname(res, c), cell(res, r, c));
	}
}

void bs_op_print(const struct bs_op *op, const PGresult *res, bool as_object)
{
	if (op->json)
		print_json(res, as_object);
	else if (as_object)
		print_blocks(res);
	else
		print_table(res);
}

static int bad_value(const struct bs_op *op, const char *option,
		     const char *v, const char *why)
{
	return bs_op_usage(op, "%s '%s': %s", option, v, why);
}

int bs_op_parse_id(const struct bs_op *op, const char *option, const char *v,
		   char *out)
{
	uint64_t id;
	char err[128];
	if (bs_parse_uint(v, 1, 4294967295ULL, &id, err, sizeof(err)) < 0)
		return bad_value(op, option, v, err);
	snprintf(out, BS_OP_VALUE_MAX, "%llu", (unsigned long long)id);
	return 0;
}

int bs_op_parse_rate(const struct bs_op *op, const char *option,
		     const char *v, char *out)
{
	uint64_t bps;
	char err[128];
	if (bs_parse_rate(v, &bps, err, sizeof(err)) < 0)
		return bad_value(op, option, v, err);
	snprintf(out, BS_OP_VALUE_MAX, "%llu", (unsigned long long)bps);
	return 0;
}

int bs_op_parse_money(const struct bs_op *op, const char *option,
		      const char *v, char *out)
{
	int64_t fen;
	char err[128];
	if (bs_parse_money(v, &fen, err, sizeof(err)) < 0)
		return bad_value(op, option, v, err);
	snprintf(out, BS_OP_VALUE_MAX, "%lld", (long long)fen);
	return 0;
}

int bs_op_parse_percent(const struct bs_op *op, const char *option,
			const char *v, char *out)
{
	int bp;
	char err[128];
	if (bs_parse_percent(v, &bp, err, sizeof(err)) < 0)
		return bad_value(op, option, v, err);
	snprintf(out, BS_OP_VALUE_MAX, "%d", bp);
	return 0;
}

int bs_op_parse_time(const struct bs_op *op, const char *option,
		     const char *v, char *out)
{
	char err[256];
	if (bs_parse_time(v, out, BS_OP_VALUE_MAX, err, sizeof(err)) < 0)
		return bad_value(op, option, v, err);
	return 0;
}

int bs_op_parse_text(const struct bs_op *op, const char *option,
		     const char *v, size_t max_len)
{
	size_t n = strlen(v);
	if (n == 0)
		return bad_value(op, option, v, "must not be empty");
	if (n > max_len) {
		char why[64];
		snprintf(why, sizeof(why), "longer than %zu bytes", max_len);
		return bad_value(op, option, v, why);
	}
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return bad_value(op, option, v, "contains a control "
					 "character");
	return 0;
}

int bs_op_parse_choice(const struct bs_op *op, const char *option,
		       const char *v, const char *const *choices)
{
	char why[256] = "must be one of:";
	for (size_t i = 0; choices[i] != NULL; i++) {
		if (strcmp(v, choices[i]) == 0)
			return 0;
		size_t n = strlen(why);
		snprintf(why + n, sizeof(why) - n, " %s", choices[i]);
	}
	return bad_value(op, option, v, why);
}

int bs_op_one_id(const struct bs_op *op, int argc, char **argv,
		 const char *what, char *out)
{
	if (optind >= argc)
		return bs_op_usage(op, "missing %s", what);
	if (optind + 1 < argc)
		return bs_op_usage(op, "unexpected argument '%s'", argv[optind + 1]);
	return bs_op_parse_id(op, what, argv[optind], out);
}

bool bs_op_word_in(const char *words, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = words; (p = strstr(p, w)) != NULL; p += n)
		if ((p == words || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}
