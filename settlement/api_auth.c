/*
 * api_auth.c — the tenants' API tokens: shape, generation, SHA-256, and a
 * request's transaction bound to the token's tenant. See api_auth.h.
 */
#include "api_auth.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "db.h"

static const char BASE32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char BASE64URL[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bool in_alphabet(char c, const char *alphabet)
{
	return c != '\0' && strchr(alphabet, c) != NULL;
}

bool bs_api_token_wellformed(const char *token)
{
	if (token == NULL || strnlen(token, BS_API_TOKEN_LEN + 1) != BS_API_TOKEN_LEN)
		return false;
	if (memcmp(token, "bst_", 4) != 0 || token[4 + BS_API_TOKEN_PREFIX_LEN] != '_')
		return false;
	for (size_t i = 4; i < 4 + BS_API_TOKEN_PREFIX_LEN; i++)
		if (!in_alphabet(token[i], BASE32))
			return false;
	for (size_t i = 5 + BS_API_TOKEN_PREFIX_LEN; i < BS_API_TOKEN_LEN; i++)
		if (!in_alphabet(token[i], BASE64URL))
			return false;
	return true;
}

void bs_api_token_from_bytes(const unsigned char prefix_bytes[5],
			     const unsigned char secret_bytes[32],
			     char out[BS_API_TOKEN_LEN + 1])
{
	size_t n = 0;
	memcpy(out, "bst_", 4);
	n = 4;
	/* 5 bytes = 40 bits = 8 base32 digits */
	uint64_t bits = 0;
	for (int i = 0; i < 5; i++)
		bits = bits << 8 | prefix_bytes[i];
	for (int i = 7; i >= 0; i--)
		out[n++] = BASE32[(bits >> (5 * i)) & 31];
	out[n++] = '_';
	/* 32 bytes = 256 bits = 43 base64url digits (the last one 4 bits) */
	uint32_t acc = 0;
	int nbits = 0;
	for (int i = 0; i < 32; i++) {
		acc = acc << 8 | secret_bytes[i];
		nbits += 8;
		while (nbits >= 6) {
			nbits -= 6;
			out[n++] = BASE64URL[(acc >> nbits) & 63];
		}
		acc &= (1u << nbits) - 1;
	}
	if (nbits > 0)
		out[n++] = BASE64URL[(acc << (6 - nbits)) & 63];
	assert(n == BS_API_TOKEN_LEN);
	out[n] = '\0';
}

/* len bytes from getrandom(2), retried on EINTR and short reads. */
static int random_bytes(unsigned char *buf, size_t len, char *err, size_t err_size)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = getrandom(buf + got, len - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, err_size, "getrandom: %s", strerror(errno));
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

int bs_api_token_generate(char *out, size_t out_size, char *err, size_t err_size)
{
	assert(out_size >= BS_API_TOKEN_LEN + 1);
	unsigned char rnd[37];
	if (random_bytes(rnd, sizeof(rnd), err, err_size) < 0)
		return -1;
	char token[BS_API_TOKEN_LEN + 1];
	bs_api_token_from_bytes(rnd, rnd + 5, token);
	snprintf(out, out_size, "%s", token);
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(token, sizeof(token));
	assert(bs_api_token_wellformed(out));
	return 0;
}

int bs_api_token_hash_hex(const char *s, char hex[BS_API_TOKEN_HASH_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	if (EVP_Digest(s, strlen(s), md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != 32)
		return -1;
	static const char digits[] = "0123456789abcdef";
	for (unsigned int i = 0; i < md_len; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[BS_API_TOKEN_HASH_HEX_LEN] = '\0';
	return 0;
}

void bs_api_token_prefix(const char *token, char prefix[BS_API_TOKEN_PREFIX_LEN + 1])
{
	assert(bs_api_token_wellformed(token));
	memcpy(prefix, token + 4, BS_API_TOKEN_PREFIX_LEN);
	prefix[BS_API_TOKEN_PREFIX_LEN] = '\0';
}

/* The token check: BEGIN (when the caller has not) and one statement, sent
 * in one round trip (libpq pipeline mode) with one Sync at the end; the
 * server skips what follows a failure up to the Sync. */
static const char SQL_BEGIN[] = "BEGIN ISOLATION LEVEL REPEATABLE READ";
/* One statement, three steps in an order its data fixes: h sets the
 * transaction's token hash (SET LOCAL); l, reading h's row, looks the
 * tenant up and records the token's use (bs_api_touch() writes
 * last_used_at, once a minute per token, unless the transaction is
 * read-only); then, for l's row and only when a tenant was found, the
 * transaction becomes READ ONLY (transaction_read_only, local: what SET
 * TRANSACTION READ ONLY sets). A transaction whose token is not valid
 * stays as it was. $1 the token's SHA-256 (hex). */
static const char SQL_AUTH[] =
	"WITH h AS MATERIALIZED (SELECT pg_catalog.set_config("
	"                'bandsplit.token_hash', $1, true) AS hash), "
	"     l AS MATERIALIZED (SELECT public.bs_api_tenant() AS tenant, "
	"                public.bs_api_touch() AS touched FROM h) "
	"SELECT l.tenant, (SELECT pg_catalog.set_config('transaction_read_only', "
	"                'on', true) WHERE l.tenant IS NOT NULL) FROM l";
/* their names once prepared (bs_api_auth_prepare) */
static const char STMT_BEGIN[] = "bs_api_begin";
static const char STMT_AUTH[] = "bs_api_auth";

int bs_api_auth_prepare(PGconn *conn, char *err, size_t err_size)
{
	const char *const names[] = { STMT_BEGIN, STMT_AUTH };
	const char *const sql[] = { SQL_BEGIN, SQL_AUTH };
	for (int i = 0; i < 2; i++) {
		PGresult *r = PQprepare(conn, names[i], sql[i], 0, NULL);
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			bs_db_format_error(conn, r, names[i], err, err_size);
		PQclear(r);
		if (!ok)
			return -1;
	}
	return 0;
}

/* begin: BEGIN first; prepared: by bs_api_auth_prepare's names. */
static int auth_pipeline(PGconn *conn, const char *token, bool begin,
			 bool prepared, int64_t *tenant_id, char *err,
			 size_t err_size)
{
	assert(conn != NULL && tenant_id != NULL);
	if (!bs_api_token_wellformed(token)) {
		snprintf(err, err_size, "token not well-formed");
		return 1;
	}
	char hex[BS_API_TOKEN_HASH_HEX_LEN + 1];
	if (bs_api_token_hash_hex(token, hex) < 0) {
		snprintf(err, err_size, "SHA-256 failed");
		return 3;
	}
	const char *params[1] = { hex };
	static const char *const what[] = { "begin", "token check" };
	const int first = begin ? 0 : 1, count = 2, auth = 1;
	int rc = 3;
	bool failed = false, found = false, synced = false;
	long long id = 0;
	err[0] = '\0';
	if (PQenterPipelineMode(conn) != 1) {
		bs_db_format_error(conn, NULL, "pipeline mode", err, err_size);
		goto out;
	}
	for (int i = first; i < count; i++) {
		int n = i == auth ? 1 : 0;
		const char *const *p = i == auth ? params : NULL;
		int sent = !prepared
			? PQsendQueryParams(conn, i == auth ? SQL_AUTH : SQL_BEGIN, n,
					    NULL, p, NULL, NULL, 0)
			: PQsendQueryPrepared(conn, i == auth ? STMT_AUTH : STMT_BEGIN,
					      n, p, NULL, NULL, 0);
		if (sent != 1) {
			bs_db_format_error(conn, NULL, what[i], err, err_size);
			goto drain;
		}
	}
	if (PQpipelineSync(conn) != 1) {
		bs_db_format_error(conn, NULL, "pipeline sync", err, err_size);
		goto drain;
	}
	synced = true;
	/* one result (then NULL) per statement, PGRES_PIPELINE_ABORTED for
	 * one skipped after a failure; then the Sync's own result */
	for (int i = first; i < count; i++) {
		PGresult *res = PQgetResult(conn);
		if (res == NULL) {              /* the connection is gone */
			if (!failed)
				bs_db_format_error(conn, NULL, what[i], err, err_size);
			failed = true;
			break;
		}
		ExecStatusType st = PQresultStatus(res);
		bool ok = st == (i == auth ? PGRES_TUPLES_OK : PGRES_COMMAND_OK);
		if (!ok && !failed && st != PGRES_PIPELINE_ABORTED) {
			bs_db_format_error(conn, res, what[i], err, err_size);
			failed = true;
		}
		if (ok && i == auth && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
			char *end = NULL;
			errno = 0;
			id = strtoll(PQgetvalue(res, 0, 0), &end, 10);
			found = errno == 0 && end != NULL && *end == '\0' && id > 0;
			if (!found && !failed) {
				snprintf(err, err_size, "token lookup: unexpected tenant id");
				failed = true;
			}
		}
		PQclear(res);
		while ((res = PQgetResult(conn)) != NULL)   /* the NULL after it */
			PQclear(res);
		if (PQstatus(conn) != CONNECTION_OK)
			break;
	}
drain:
	/* up to the Sync, then out of pipeline mode. Not when the statements
	 * could not all be sent (no Sync to wait for) or the connection is
	 * lost: the connection stays in pipeline mode, fails the caller's
	 * ROLLBACK and is reset (pool.c; PQreset ends pipeline mode). */
	if (synced)
		bs_db_pipeline_end(conn);
	if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF && !failed && err[0] == '\0') {
		snprintf(err, err_size, "token check: pipeline not ended");
		failed = true;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		if (err[0] == '\0')
			bs_db_format_error(conn, NULL, "token check", err, err_size);
		rc = 2;
	} else if (failed || err[0] != '\0') {
		rc = 3;
	} else if (!found) {
		snprintf(err, err_size, "token not valid (unknown, revoked or expired)");
		rc = 1;
	} else {
		*tenant_id = (int64_t)id;
		rc = 0;
	}
out:
	explicit_bzero(hex, sizeof(hex));
	return rc;
}

int bs_api_auth_begin(PGconn *conn, const char *token, int64_t *tenant_id,
		      char *err, size_t err_size)
{
	int rc = auth_pipeline(conn, token, false, false, tenant_id, err, err_size);
	return rc == 2 ? 3 : rc;
}

int bs_api_auth_open(PGconn *conn, const char *token, int64_t *tenant_id,
		     char *err, size_t err_size)
{
	return auth_pipeline(conn, token, true, true, tenant_id, err, err_size);
}
