/*
 * api_auth_probe.c — bs_api_auth_begin (settlement/api_auth.h) as the API
 * will call it, for test_api_rls.sh: reads a token from stdin (never from
 * argv), connects with the conninfo of argv[1] (the API role), begins a
 * repeatable-read transaction, authenticates, and prints
 *     "<rc> <tenant, -1 if none> <invoices visible> <transaction_read_only>"
 * then commits; a second transaction on the same connection, without
 * authenticating, prints "reuse <invoices visible>". Exit 0 unless the
 * probe itself failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "api_auth.h"

static const char *one(PGconn *conn, const char *sql)
{
	static char buf[64];
	PGresult *res = PQexec(conn, sql);
	snprintf(buf, sizeof(buf), "%s", PQresultStatus(res) == PGRES_TUPLES_OK &&
		 PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?");
	PQclear(res);
	return buf;
}

static int exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: api_auth_probe CONNINFO < token\n");
		return 2;
	}
	char token[256] = "";
	if (fgets(token, sizeof(token), stdin) != NULL)
		token[strcspn(token, "\n")] = '\0';
	PGconn *conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 3;
	}
	if (exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ") < 0)
		return 3;
	int64_t tenant = 0;
	char err[256];
	int rc = bs_api_auth_begin(conn, token, &tenant, err, sizeof(err));
	char count[64];
	snprintf(count, sizeof(count), "%s", one(conn, "SELECT count(*) FROM invoice"));
	printf("%d %lld %s %s\n", rc, rc == 0 ? (long long)tenant : -1LL, count,
	       one(conn, "SHOW transaction_read_only"));
	if (rc != 0)
		fprintf(stderr, "auth: %s\n", err);
	exec_ok(conn, rc == 0 ? "COMMIT" : "ROLLBACK");
	exec_ok(conn, "BEGIN");
	printf("reuse %s\n", one(conn, "SELECT count(*) FROM invoice"));
	exec_ok(conn, "COMMIT");
	explicit_bzero(token, sizeof(token));
	PQfinish(conn);
	return 0;
}
