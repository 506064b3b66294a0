/*
 * cmd_token.c — `bandsplit token create|list|revoke`: the tenants' API
 * tokens (api_auth.h, migration 0026).
 *
 * create makes the token here (getrandom), hands the database only its
 * public prefix and its SHA-256 (bs_api_token_create), and prints the
 * token once, on stdout, after the commit; it is never sent to the
 * server, logged, or taken from or put on a command line. list shows what
 * api_token holds (never a hash: the hashes are the owner's only).
 * revoke takes the prefix, never the token.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api_auth.h"
#include "ops.h"
#include "verb.h"

#define EXPIRES_DAYS_MAX 1826   /* 5 years: the schema's limit */

struct token_args {
	const char *tenant, *expires, *label;
	bool all;
	char tenant_v[BS_OP_VALUE_MAX];
	char expires_v[BS_OP_VALUE_MAX];
};

/* --expires: "Nd" (days from now, 1..1826) or a time (ISO 8601; a date
 * alone is midnight in the park's time zone). expires_v holds either
 * "+N" or the time. */
static int check_expires(const struct bs_op *op, void *args)
{
	struct token_args *a = args;
	size_t n = strlen(a->expires);
	if (n >= 2 && n <= 5 && a->expires[n - 1] == 'd' &&
	    strspn(a->expires, "0123456789") == n - 1) {
		long days = strtol(a->expires, NULL, 10);
		if (days < 1 || days > EXPIRES_DAYS_MAX)
			return bs_op_usage(op, "--expires '%s': 1d .. %dd", a->expires,
					   EXPIRES_DAYS_MAX);
		snprintf(a->expires_v, sizeof(a->expires_v), "+%ld", days);
		return 0;
	}
	return bs_op_parse_time(op, "--expires", a->expires, a->expires_v);
}

#define A(field) offsetof(struct token_args, field)
static const struct bs_verb_opt OPTS[] = {
	{ "tenant", BS_OPT_ID, A(tenant), A(tenant_v) },
	{ "expires", BS_OPT_TEXT, A(expires), .check = check_expires },
	{ "label", BS_OPT_TEXT, A(label), .max = 100 },
	{ "all", BS_OPT_FLAG, A(all) },
};
#undef A

static const struct bs_object TOKEN = {
	"token", OPTS, sizeof(OPTS) / sizeof(OPTS[0]), sizeof(struct token_args),
	NULL,
};

/* The token, once: alone on a line (JSON with --json). The rest of what
 * was created goes to stderr, so that `T=$(bandsplit token create ...)`
 * holds the token only. */
static void print_created(const struct bs_op *op, const char *token,
			  const PGresult *res)
{
	const char *prefix = PQgetvalue(res, 0, 0), *tenant = PQgetvalue(res, 0, 1);
	const char *expires = PQgetvalue(res, 0, 2);
	if (op->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "token", json_object_new_string(token));
		json_object_object_add(o, "prefix", json_object_new_string(prefix));
		json_object_object_add(o, "tenant_id",
				       json_object_new_int64(strtoll(tenant, NULL, 10)));
		json_object_object_add(o, "expires_at", json_object_new_string(expires));
		/* json-c keeps a copy: wipe it before it is freed */
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		printf("%s\n", s);
		explicit_bzero((char *)s, strlen(s));
		json_object_put(o);
	} else {
		printf("%s\n", token);
	}
	fflush(stdout);
	fprintf(stderr, "%s %s: token %s for tenant %s, expires %s; shown this "
		"once: only its hash is stored\n", op->cli->prog, op->cmd, prefix,
		tenant, expires);
}

static int create(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "create", "tenant expires label", NULL,
"Usage: bandsplit token create --tenant TENANT_ID [--expires DAYSd|TIME]\n"
"                              [--label TEXT] [--json]\n"
"\n"
"Creates an API token for the tenant and prints it once, alone on stdout\n"
"(with --json: {token, prefix, tenant_id, expires_at}); only its SHA-256 is\n"
"stored, it cannot be shown again. --expires: days from now (90d) or a time\n"
"(2027-01-01: midnight in the park's time zone); default 365d, at most\n"
"1826d. --label: what it is for (shown by 'token list'). A tenant has at\n"
"most 20 live tokens. Audited.\n",
		.required = "tenant", .required_msg = "--tenant is required" };
	struct bs_op op;
	static struct token_args a;
	int rc = bs_verb_start(&op, cli, &TOKEN, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	char token[BS_API_TOKEN_LEN + 1], hex[BS_API_TOKEN_HASH_HEX_LEN + 1];
	char prefix[BS_API_TOKEN_PREFIX_LEN + 1], err[256];
	if (bs_api_token_generate(token, sizeof(token), err, sizeof(err)) < 0 ||
	    bs_api_token_hash_hex(token, hex) < 0) {
		bs_op_fail(&op, BS_EXIT_FAILURE, "%s", err);
		return bs_op_close(&op, false);
	}
	bs_api_token_prefix(token, prefix);
	const char *expires = a.expires != NULL ? a.expires_v : "+365";
	const char *p[5] = { a.tenant_v, prefix, hex, a.label, expires };
	PGresult *id = bs_op_query(&op, "SELECT bs_api_token_create($1::bigint, $2,"
		" decode($3, 'hex'), $4, CASE WHEN left($5, 1) = '+'"
		"  THEN now() + substr($5, 2)::integer * interval '1 day'"
		"  ELSE $5::timestamptz END)", 5, p);
	explicit_bzero(hex, sizeof(hex));
	PGresult *res = NULL;
	if (id != NULL) {
		const char *q[1] = { PQgetvalue(id, 0, 0) };
		res = bs_op_query_one(&op, "the new token", "SELECT a.prefix,"
			" a.tenant_id, bs_iso(a.expires_at) FROM api_token a"
			" WHERE a.token_id = $1::bigint", 1, q);
	}
	PQclear(id);
	rc = bs_op_close(&op, true);
	if (rc == 0 && res != NULL)
		print_created(&op, token, res);
	explicit_bzero(token, sizeof(token));
	PQclear(res);
	return rc;
}

static int list(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "list", "tenant all", NULL,
"Usage: bandsplit token list [--tenant TENANT_ID] [--all] [--json]\n"
"\n"
"Lists API tokens: prefix, tenant, label, status (live, expired,\n"
"revoked), created (and by whom), expires, revoked, last used (to the\n"
"minute). Without --all only live ones. Never a token or its hash.\n" };
	struct bs_op op;
	static struct token_args a;
	int rc = bs_verb_start(&op, cli, &TOKEN, &verb, argc, argv, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	const char *p[2] = { bs_verb_param(&TOKEN, &a, "tenant"),
			     bs_verb_param(&TOKEN, &a, "all") };
	return bs_verb_finish(&op, bs_op_query(&op,
		"SELECT a.prefix, a.tenant_id, a.label,"
		" CASE WHEN a.revoked_at IS NOT NULL THEN 'revoked'"
		"      WHEN a.expires_at <= now() THEN 'expired' ELSE 'live' END AS status,"
		" bs_iso(a.created_at) AS created, a.created_by,"
		" bs_iso(a.expires_at) AS expires, bs_iso(a.revoked_at) AS revoked,"
		" bs_iso(a.last_used_at) AS last_used"
		" FROM api_token a"
		" WHERE ($1::bigint IS NULL OR a.tenant_id = $1::bigint)"
		"   AND ($2::text IS NOT NULL OR (a.revoked_at IS NULL AND a.expires_at > now()))"
		" ORDER BY a.tenant_id, a.created_at, a.prefix", 2, p), false);
}

/* The PREFIX argument: 8 of [a-z2-7], "bst_" in front allowed. A whole
 * token is refused: on a command line it would end up in the shell's
 * history and in ps. */
static int parse_prefix(const struct bs_op *op, const char *v, char *out)
{
	if (strncmp(v, "bst_", 4) == 0)
		v += 4;
	size_t n = strlen(v);
	if (n > BS_API_TOKEN_PREFIX_LEN)
		return bs_op_usage(op, "give the token's 8-character prefix, not the "
				   "token (a token on a command line ends up in "
				   "shell history)");
	if (n != BS_API_TOKEN_PREFIX_LEN ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyz234567") != n)
		return bs_op_usage(op, "PREFIX '%s': 8 characters of a-z and 2-7 "
				   "(see 'token list')", v);
	memcpy(out, v, n + 1);
	return 0;
}

static int revoke(const struct bs_cli *cli, int argc, char **argv)
{
	static const struct bs_verb verb = { "revoke", "", NULL,
"Usage: bandsplit token revoke PREFIX [--json]\n"
"\n"
"Revokes the API token with that prefix (see 'token list') now: the API\n"
"refuses it from its next request. Final; the token stays listed.\n"
"Audited. Exit 1 if there is no such token; revoking a revoked token\n"
"changes nothing and says when it was revoked.\n" };
	/* the one positional argument is taken out before the options */
	enum { ARGS_MAX = 16 };
	char *rest[ARGS_MAX + 1];
	const char *word = NULL;
	int n = 0;
	for (int i = 0; i < argc && n < ARGS_MAX; i++) {
		if (i > 0 && word == NULL && argv[i][0] != '-')
			word = argv[i];
		else
			rest[n++] = argv[i];
	}
	rest[n] = NULL;
	struct bs_op op;
	static struct token_args a;
	int rc = bs_verb_start(&op, cli, &TOKEN, &verb, n, rest, &a, NULL);
	if (rc != BS_VERB_GO)
		return rc;
	char prefix[BS_API_TOKEN_PREFIX_LEN + 1];
	if (word == NULL)
		rc = bs_op_usage(&op, "PREFIX is required");
	else
		rc = parse_prefix(&op, word, prefix);
	if (rc != 0) {
		bs_op_close(&op, false);
		return rc;
	}
	const char *p[1] = { prefix };
	return bs_verb_finish(&op, bs_op_query_one(&op, "token",
		"SELECT a.prefix, a.tenant_id, a.label,"
		" CASE WHEN r.already THEN 'already revoked' ELSE 'revoked' END AS status,"
		" bs_iso(r.revoked_at) AS revoked"
		" FROM bs_api_token_revoke($1) r JOIN api_token a ON a.prefix = $1"
		" WHERE r.revoked_at IS NOT NULL", 1, p), true);
}

static const struct bs_op_verb VERBS[] = {
	{ "create", "create a tenant's API token (printed once)", create },
	{ "list", "list API tokens (never the token or its hash)", list },
	{ "revoke", "revoke an API token by its prefix", revoke },
};

const struct bs_cli_command bs_cmd_token = {
	.name = "token",
	.summary = "the tenants' API tokens: create, list, revoke",
	.description = "The tenants' API tokens (bandsplit-api): created for a "
		"tenant and printed once, listed by prefix and label, revoked. "
		"Only their SHA-256 is stored.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
