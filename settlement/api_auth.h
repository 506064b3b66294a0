/*
 * api_auth.h — the tenants' API tokens: their shape, how they are made and
 * hashed, and how a request's transaction is bound to the token's tenant.
 *
 * A token is "bst_" + an 8-character public prefix (lowercase base32, 40
 * random bits: it names the token in `bandsplit token list` and `revoke`)
 * + "_" + a 43-character base64url secret (256 random bits), 56 characters
 * in all. Only the SHA-256 of the whole token is stored (api_token_hash,
 * migration 0026, readable by nobody but bandsplit_owner); the token itself
 * is printed once by `bandsplit token create` and never logged.
 *
 * Row-level security (migration 0027) binds the API role's reads to the
 * token: every policy is tenant_id = (SELECT bs_api_tenant()), and
 * bs_api_tenant() reads the hash this module sets for the transaction.
 * The lookup is by hash in the database (an index on a SHA-256 of 256
 * random bits: its timing tells nothing about a stored value); no secret
 * is compared in C.
 */
#ifndef BS_API_AUTH_H
#define BS_API_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#define BS_API_TOKEN_LEN 56          /* "bst_" + 8 + "_" + 43 */
#define BS_API_TOKEN_PREFIX_LEN 8
#define BS_API_TOKEN_SECRET_LEN 43
#define BS_API_TOKEN_HASH_HEX_LEN 64

/* Inside an open transaction on the API role's connection: hashes token
 * (SHA-256, hex), SET LOCAL bandsplit.token_hash via set_config($1,true),
 * and returns the tenant the token belongs to (valid, unrevoked,
 * unexpired) via SELECT bs_api_tenant(); records last_used_at.
 * Returns 0 ok (*tenant_id set), 1 token not valid (→ 401), 3 failure.
 *
 * The caller opens the transaction with
 *     BEGIN ISOLATION LEVEL REPEATABLE READ
 * (not READ ONLY: last_used_at is written here, at most once a minute per
 * token); on success this function then makes the transaction READ ONLY
 * (transaction_read_only, as SET TRANSACTION READ ONLY sets it), so the
 * handler's reads that follow run in
 * a read-only repeatable-read snapshot. In a transaction already READ
 * ONLY the tenant is still found, only last_used_at is not written. On 1
 * or 3 the caller rolls back. err never contains the token.
 *
 * It is one statement (the hash set, the lookup, READ ONLY when the token
 * is found: in that order), one round trip. */
int bs_api_auth_begin(PGconn *conn, const char *token, int64_t *tenant_id,
		      char *err, size_t err_size);

/* Prepares on conn (once per session) the statements of bs_api_auth_open.
 * Returns 0, or -1 with err set. */
int bs_api_auth_prepare(PGconn *conn, char *err, size_t err_size);

/* BEGIN ISOLATION LEVEL REPEATABLE READ and bs_api_auth_begin's statement
 * in one round trip (libpq pipeline mode, one Sync), as prepared on conn
 * by bs_api_auth_prepare: the request's transaction opened and bound to
 * the token. Returns 0 ok (*tenant_id set), 1 token not valid,
 * 2 the connection was found lost (nothing of the transaction can have
 * committed: the caller may reconnect and call again), 3 failure (the
 * transaction, if open, is aborted: the caller rolls back). */
int bs_api_auth_open(PGconn *conn, const char *token, int64_t *tenant_id,
		     char *err, size_t err_size);

/* Shape check only: "bst_", 8 of [a-z2-7], "_", 43 of [A-Za-z0-9_-],
 * nothing else. NULL is not well-formed. */
bool bs_api_token_wellformed(const char *token);

/* A new token from the kernel's random source (getrandom(2)) into out
 * (out_size >= BS_API_TOKEN_LEN + 1). Returns 0, or -1 with err set. */
int bs_api_token_generate(char *out, size_t out_size, char *err,
			  size_t err_size);

/* The token built from given random bytes (5 for the prefix, 32 for the
 * secret): what bs_api_token_generate does after reading them; for tests. */
void bs_api_token_from_bytes(const unsigned char prefix_bytes[5],
			     const unsigned char secret_bytes[32],
			     char out[BS_API_TOKEN_LEN + 1]);

/* Lowercase hex SHA-256 of the string s (without its NUL) into hex.
 * Returns 0, or -1 if the digest could not be computed. */
int bs_api_token_hash_hex(const char *s, char hex[BS_API_TOKEN_HASH_HEX_LEN + 1]);

/* The public prefix of a well-formed token (8 characters + NUL). */
void bs_api_token_prefix(const char *token,
			 char prefix[BS_API_TOKEN_PREFIX_LEN + 1]);

#endif
