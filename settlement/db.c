/*
 * db.c — libpq helpers: connect, parameterised statements, errors that name
 * the statement and the SQLSTATE. See db.h.
 */
#include "db.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* libpq error text ends with a newline; drop it and any trailing spaces. */
static void chomp_copy(char *dst, size_t dst_size, const char *src)
{
	snprintf(dst, dst_size, "%s", src != NULL ? src : "");
	size_t n = strlen(dst);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
		dst[--n] = '\0';
}

/* libpq's message about a conninfo it could not parse quotes pieces of it
 * ("missing "=" after "hunter2" ..."): every quoted piece is hidden. */
static void hide_quoted(char *msg)
{
	char out[BS_DB_ERR_MAX];
	size_t n = 0;
	bool quoted = false;
	for (const char *p = msg; *p != '\0' && n + 4 < sizeof(out); p++) {
		if (*p == '"') {
			quoted = !quoted;
			out[n++] = '"';
			if (quoted) {
				memcpy(out + n, "***", 3);
				n += 3;
			}
		} else if (!quoted) {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	snprintf(msg, BS_DB_ERR_MAX, "%s", out);
}

/* Hides, in a libpq message about conninfo, the values of every parameter
 * that is not known to be safe (password, sslpassword, sslkey, ...) and of
 * PGPASSWORD, then any conninfo or URI secrets left (bs_log_redact). */
static void scrub_message(char *msg, const char *conninfo)
{
	PQconninfoOption *opts = NULL;
	if (conninfo != NULL && conninfo[0] != '\0')
		opts = PQconninfoParse(conninfo, NULL);
	static const char *const safe[] = { "host", "hostaddr", "port", "dbname",
		"user", "application_name", "fallback_application_name",
		"connect_timeout", "sslmode", "target_session_attrs" };
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
		bool is_safe = false;
		for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
			is_safe = is_safe || strcmp(o->keyword, safe[i]) == 0;
		if (!is_safe && o->val != NULL && o->val[0] != '\0')
			bs_log_scrub(msg, BS_DB_ERR_MAX, o->val);
	}
	PQconninfoFree(opts);
	bs_log_scrub(msg, BS_DB_ERR_MAX, getenv("PGPASSWORD"));
	char clean[BS_DB_ERR_MAX];
	bs_log_redact(msg, clean, sizeof(clean));
	snprintf(msg, BS_DB_ERR_MAX, "%s", clean);
}

PGconn *bs_db_connect(const char *conninfo, const char *app, char *err,
		      size_t err_size)
{
	if (conninfo != NULL && conninfo[0] != '\0') {
		char *why = NULL;
		PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
		if (opts == NULL) {
			char msg[BS_DB_ERR_MAX];
			chomp_copy(msg, sizeof(msg), why != NULL ? why : "out of memory");
			PQfreemem(why);
			hide_quoted(msg);
			snprintf(err, err_size, "postgres connect: malformed conninfo "
				 "(its text is not shown): %s", msg);
			return NULL;
		}
		PQconninfoFree(opts);
	}

	const char *keys[3];
	const char *vals[3];
	int n = 0;

	keys[n] = "fallback_application_name";
	vals[n++] = app;
	if (conninfo != NULL && conninfo[0] != '\0') {
		keys[n] = "dbname";   /* expanded: a conninfo string or URI */
		vals[n++] = conninfo;
	}
	keys[n] = NULL;
	vals[n] = NULL;

	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL) {
		snprintf(err, err_size, "postgres: out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char where[256], msg[BS_DB_ERR_MAX];
		bs_log_redact(conninfo != NULL && conninfo[0] != '\0'
			      ? conninfo : "(PG* environment)", where, sizeof(where));
		chomp_copy(msg, sizeof(msg), PQerrorMessage(conn));
		scrub_message(msg, conninfo);
		snprintf(err, err_size, "postgres connect %s: %s", where, msg);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

const char *bs_db_sqlstate(const PGresult *res)
{
	const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s != NULL ? s : "";
}

void bs_db_format_error(PGconn *conn, const PGresult *res, const char *what,
			char *err, size_t err_size)
{
	char msg[BS_DB_ERR_MAX];
	const char *state = bs_db_sqlstate(res);
	const char *primary = res != NULL
		? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res != NULL
		? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;

	if (primary != NULL)
		chomp_copy(msg, sizeof(msg), primary);
	else if (res != NULL && PQresultErrorMessage(res)[0] != '\0')
		chomp_copy(msg, sizeof(msg), PQresultErrorMessage(res));
	else {
		/* a connection-level message: may quote connection strings */
		char raw[BS_DB_ERR_MAX];
		chomp_copy(raw, sizeof(raw), conn != NULL ? PQerrorMessage(conn)
			   : "no connection");
		bs_log_redact(raw, msg, sizeof(msg));
	}
	if (msg[0] == '\0' && res != NULL)
		snprintf(msg, sizeof(msg), "unexpected result %s",
			 PQresStatus(PQresultStatus(res)));
	if (state[0] != '\0' && detail != NULL)
		snprintf(err, err_size, "%s: SQLSTATE %s: %s (%s)", what, state,
			 msg, detail);
	else if (state[0] != '\0')
		snprintf(err, err_size, "%s: SQLSTATE %s: %s", what, state, msg);
	else
		snprintf(err, err_size, "%s: %s", what, msg);
}

PGresult *bs_db_query(PGconn *conn, const char *what, const char *sql,
		      int nparams, const char *const *params, char *err,
		      size_t err_size)
{
	assert(conn != NULL && sql != NULL && nparams >= 0);
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL,
				     NULL, 0);
	ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	bs_db_format_error(conn, res, what, err, err_size);
	PQclear(res);
	return NULL;
}

int bs_db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
	       const char *const *params, char *err, size_t err_size)
{
	PGresult *res = bs_db_query(conn, what, sql, nparams, params, err,
				    err_size);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

bool bs_db_error_transient(PGconn *conn, const char *sqlstate)
{
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		return true;
	if (sqlstate == NULL || sqlstate[0] == '\0')
		return false;
	static const char *const states[] = {
		"40001",   /* serialization_failure */
		"40P01",   /* deadlock_detected */
		"55P03",   /* lock_not_available */
		"57P01",   /* admin_shutdown */
		"57P02",   /* crash_shutdown */
		"57P03",   /* cannot_connect_now */
		"57014",   /* query_canceled (statement_timeout) */
	};
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0)
		return true;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(sqlstate, states[i]) == 0)
			return true;
	return false;
}

bool bs_db_error_data(const char *sqlstate)
{
	return sqlstate != NULL && (strncmp(sqlstate, "22", 2) == 0 ||
				    strncmp(sqlstate, "23", 2) == 0);
}

void bs_db_rollback_quiet(PGconn *conn)
{
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		return;
	PQclear(PQexec(conn, "ROLLBACK"));
}

bool bs_db_pipeline_end(PGconn *conn)
{
	for (int guard = 0; guard < 16 && PQstatus(conn) == CONNECTION_OK &&
	     PQpipelineStatus(conn) != PQ_PIPELINE_OFF; guard++) {
		PGresult *res = PQgetResult(conn);
		ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_EMPTY_QUERY;
		PQclear(res);
		if (res == NULL || st == PGRES_PIPELINE_SYNC)
			PQexitPipelineMode(conn);
	}
	return PQpipelineStatus(conn) == PQ_PIPELINE_OFF;
}
