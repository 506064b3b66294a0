/*
 * db.h — small libpq helpers shared by bandsplit (the CLI) and
 * bandsplit-settle: connecting, running parameterised statements, and
 * turning a failure into one line that names the SQLSTATE.
 *
 * Every function that can fail writes a message into err (never a
 * password: connection strings go through bs_log_redact) and returns -1 or
 * NULL. Nothing here retries; callers decide (bs_db_error_transient() tells
 * them which errors are worth a retry).
 */
#ifndef BS_DB_H
#define BS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

#define BS_DB_ERR_MAX 1024
#define BS_SQLSTATE_FENCE "BSF01"   /* bs_offsets_advance: offset moved */

/* Connects with a libpq conninfo string ("host=... dbname=..." or a
 * postgresql:// URI); NULL or "" means the PG* environment variables only.
 * application_name is set to app unless the conninfo names one. */
PGconn *bs_db_connect(const char *conninfo, const char *app, char *err,
		      size_t err_size);

/* Runs sql with text parameters (params may be NULL when nparams is 0; a
 * NULL element is SQL NULL). Returns the result (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK; the caller PQclear()s it) or NULL with err set to
 * "<what>: SQLSTATE <code>: <message>". what names the statement for the
 * operator ("migrate 0002_rollups"). */
PGresult *bs_db_query(PGconn *conn, const char *what, const char *sql,
		      int nparams, const char *const *params, char *err,
		      size_t err_size);

/* bs_db_query without a result to look at. Returns 0 or -1. */
int bs_db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
	       const char *const *params, char *err, size_t err_size);

/* Formats a failed result (or, with res NULL, the connection's error) as
 * "<what>: SQLSTATE <code>: <message> (<detail>)". */
void bs_db_format_error(PGconn *conn, const PGresult *res, const char *what,
			char *err, size_t err_size);

/* The SQLSTATE of a failed result, "" if none. */
const char *bs_db_sqlstate(const PGresult *res);

/* True for failures that a later retry of the same work may not meet:
 * connection loss (class 08, or conn is CONNECTION_BAD), serialization
 * failure, deadlock, admin/crash shutdown, server starting up, out of
 * resources. */
bool bs_db_error_transient(PGconn *conn, const char *sqlstate);

/* True for data errors (classes 22 and 23): the same rows will fail again. */
bool bs_db_error_data(const char *sqlstate);

/* ROLLBACK, ignoring errors (for cleanup paths). */
void bs_db_rollback_quiet(PGconn *conn);

/* Ends a pipeline whose Sync was sent: reads its results up to the Sync
 * (at most 16), then leaves pipeline mode. Returns whether the connection
 * is out of pipeline mode; it stays in it when the connection is lost (a
 * pooled connection then fails its next command and is reset). */
bool bs_db_pipeline_end(PGconn *conn);

#endif
