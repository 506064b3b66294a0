/*
 * cli.c — helpers shared by the bandsplit subcommands (see cli.h).
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"

void bs_cli_message(const char *head, const char *tail, const char *fmt,
		    va_list ap)
{
	if (bs_log_is_json()) {
		char msg[4096];
		vsnprintf(msg, sizeof(msg), fmt, ap);
		BS_ERROR("%s: %s%s%s", head, msg, tail != NULL ? " " : "",
			 tail != NULL ? tail : "");
		return;
	}
	fprintf(stderr, "%s: ", head);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (tail != NULL)
		fprintf(stderr, "%s\n", tail);
}

/* bs_cli_message with a va_list of its own. */
__attribute__((format(printf, 3, 4)))
static void message(const char *head, const char *tail, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bs_cli_message(head, tail, fmt, ap);
	va_end(ap);
}

PGconn *bs_cli_connect(const struct bs_cli *cli)
{
	char err[BS_DB_ERR_MAX];
	PGconn *conn = bs_db_connect(cli->conninfo, cli->prog, err, sizeof(err));
	if (conn == NULL) {
		message(cli->prog, NULL, "%s", err);
		return NULL;
	}
	/* Times without an offset are the park's (park_settings, default
	 * Asia/Shanghai) in every command; UTC before the first migration.
	 * Plain statements, no DO block: PL/pgSQL loaded and compiled in the
	 * new backend would cost ~10 ms of every command (a statement's whole
	 * budget is 100 ms). */
	PGresult *res = bs_db_query(conn, "set time zone",
				    "SELECT pg_catalog.to_regclass('park_settings') IS NOT NULL",
				    0, NULL, err, sizeof(err));
	bool migrated = res != NULL && PQgetvalue(res, 0, 0)[0] == 't';
	if (res == NULL ||
	    bs_db_exec(conn, "set time zone", migrated
		       ? "SELECT pg_catalog.set_config('TimeZone', coalesce("
			 "(SELECT time_zone FROM park_settings LIMIT 1), 'UTC'), false)"
		       : "SET TimeZone = 'UTC'", 0, NULL, err, sizeof(err)) < 0) {
		PQclear(res);
		message(cli->prog, NULL, "%s", err);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

int bs_cli_usage_error(const struct bs_cli *cli, const char *cmd,
		       const char *fmt, ...)
{
	va_list ap;
	char head[128], tail[160];
	snprintf(head, sizeof(head), "%s %s", cli->prog, cmd);
	snprintf(tail, sizeof(tail), "Try '%s %s --help'.", cli->prog, cmd);
	va_start(ap, fmt);
	bs_cli_message(head, tail, fmt, ap);
	va_end(ap);
	return BS_EXIT_USAGE;
}

int bs_cli_fail(const struct bs_cli *cli, const char *cmd, int code,
		const char *fmt, ...)
{
	va_list ap;
	char head[128];
	snprintf(head, sizeof(head), "%s %s", cli->prog, cmd);
	va_start(ap, fmt);
	bs_cli_message(head, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int bs_cli_check_time(const struct bs_cli *cli, PGconn *conn, const char *cmd,
		      const char *option, const char *value)
{
	const char *params[1] = { value };
	PGresult *res = PQexecParams(conn, "SELECT $1::timestamptz", 1, NULL,
				     params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	char state[6];   /* copied: res is cleared below */
	snprintf(state, sizeof(state), "%s", bs_db_sqlstate(res));
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", ok ? "" : PQresultErrorField(res,
		 PG_DIAG_MESSAGE_PRIMARY) != NULL ? PQresultErrorField(res,
		 PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));
	PQclear(res);
	if (ok)
		return 0;
	if (strncmp(state, "22", 2) == 0)
		return bs_cli_usage_error(cli, cmd, "%s '%s': not a time (%s); "
					  "use e.g. 2026-11-01 or "
					  "2026-11-01T08:00:00+08:00", option,
					  value, msg);
	return bs_cli_fail(cli, cmd, BS_EXIT_FAILURE, "%s: %s", option, msg);
}

int bs_cli_check_range(const struct bs_cli *cli, PGconn *conn, const char *cmd,
		       const char *from, const char *to)
{
	if (from == NULL || to == NULL)
		return 0;
	const char *params[2] = { from, to };
	PGresult *res = PQexecParams(conn, "SELECT $2::timestamptz >"
				     " $1::timestamptz", 2, NULL, params, NULL,
				     NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	bool after = ok && PQgetvalue(res, 0, 0)[0] == 't';
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", ok ? "" : PQerrorMessage(conn));
	PQclear(res);
	if (!ok)
		return bs_cli_fail(cli, cmd, BS_EXIT_FAILURE, "--from/--to: %s", msg);
	if (!after)
		return bs_cli_usage_error(cli, cmd, "--from '%s' and --to '%s': --to "
					  "must be after --from", from, to);
	return 0;
}

long bs_cli_utf8_error(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *start = p;
	while (*p) {
		unsigned c = *p;
		int n;
		unsigned min, cp;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1; min = 0x80; cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; min = 0x800; cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3; min = 0x10000; cp = c & 0x07;
		} else {
			return (long)(p - start);
		}
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return (long)(p - start);
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (long)(p - start);
		p += n + 1;
	}
	return -1;
}

int bs_cli_once(const struct bs_cli *cli, const char *cmd, const char *option,
		const char **slot, const char *value)
{
	if (*slot != NULL)
		return bs_cli_usage_error(cli, cmd, "%s given more than once "
					  "('%s', then '%s')", option, *slot, value);
	long bad = bs_cli_utf8_error(value);
	if (bad >= 0)
		return bs_cli_usage_error(cli, cmd, "%s: not valid UTF-8 (byte %ld)",
					  option, bad + 1);
	*slot = value;
	return 0;
}
