/*
 * cmd_statement.c — `bandsplit statement --tenant T --period YYYY-MM
 * [--format csv|json|html|pdf] [--lang zh|en] [--out FILE]` (the tenant's
 * usage statement, settlement/statement/statement.c, in one read-only
 * repeatable-read transaction) and `bandsplit statement verify FILE.csv`
 * (the digest recomputed from a CSV statement).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "outfile.h"
#include "statement.h"

#define CMD "statement"
#define VERIFY_MAX_BYTES ((size_t)512 << 20)

static const char help[] =
"Usage: bandsplit statement --tenant ID --period YYYY-MM [--format FORMAT]\n"
"                           [--lang zh|en] [--out FILE]\n"
"       bandsplit statement --all --period YYYY-MM --out-dir DIR [--format F]\n"
"                           [--lang zh|en]\n"
"       bandsplit statement verify FILE.csv\n"
"\n"
"A tenant's usage statement for a month (the park's time zone): every\n"
"5-minute bucket of each allocation (in, out and billable bytes, rate,\n"
"marks: billed sample, dropped top sample, gap), daily and monthly\n"
"volumes, per segment the commit, the 95th percentile and the charges (the\n"
"invoice's lines when the month is closed; rated now and marked NOT FINAL\n"
"when it is open), the invoice number and notes, and the SHA-256 digest\n"
"of the samples (form bandsplit-samples-v1, stored with the invoice at\n"
"close).\n"
"\n"
"  --tenant ID        the tenant (its id)\n"
"  --period YYYY-MM   the month\n"
"  --format FORMAT    csv (default; every bucket, verifiable), json (every\n"
"                     bucket), html (one self-contained page: charts,\n"
"                     tables, marked buckets), pdf (the HTML printed by\n"
"                     headless chromium)\n"
"  --lang zh|en       labels, numbers and dates (default en)\n"
"  --out FILE         write to FILE (default: standard output)\n"
"  --all --out-dir DIR  every tenant with an allocation in the month, in one\n"
"                     transaction: DIR/statement-TENANT-YYYY-MM.FORMAT\n"
"\n"
"verify FILE.csv: checks each bucket line's billable bytes and rate, then\n"
"recomputes the digest from the bucket lines and compares it with the one\n"
"stored at close (open period: the one the statement states).\n"
"Exit status: 0 ok / match, 1 not found / mismatch (the line is named),\n"
"2 usage error / malformed CSV, 3 failure.\n";

static int verify(const struct bs_cli *cli, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(help, stdout);
		return BS_EXIT_OK;
	}
	if (argc != 2)
		return bs_cli_usage_error(cli, CMD " verify", "expected one FILE.csv");
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		return bs_cli_usage_error(cli, CMD " verify", "%s: %s", argv[1],
					  strerror(errno));
	size_t cap = 1 << 20, len = 0, n;
	char *buf = malloc(cap);
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *b = cap < VERIFY_MAX_BYTES ? realloc(buf, cap * 2) : NULL;
			if (!b) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = b;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		return bs_cli_fail(cli, CMD " verify", BS_EXIT_USAGE, "%s: larger than "
				   "%zu MiB or out of memory", argv[1], VERIFY_MAX_BYTES >> 20);
	char msg[512];
	int rc = bs_statement_verify_csv(buf, len, msg, sizeof msg);
	free(buf);
	if (rc == 0) {
		printf("%s: %s\n", argv[1], msg);
		return BS_EXIT_OK;
	}
	fprintf(stderr, "%s %s verify: %s: %s\n", cli->prog, CMD, argv[1], msg);
	return rc == 1 ? BS_EXIT_REFUSED : BS_EXIT_USAGE;
}

/* --all: every tenant with an allocation in the month, one transaction. */
static int run_all(const struct bs_cli *cli, PGconn *conn, const char *period,
		   enum bs_doc_format fmt, enum bs_doc_lang lg, const char *dir)
{
	char date[16];
	snprintf(date, sizeof date, "%s-01", period);
	const char *p[1] = { date };
	PGresult *res = PQexecParams(conn, "SELECT DISTINCT a.tenant_id FROM allocation a,"
		" park_settings s WHERE a.valid && tstzrange("
		" ($1::date)::timestamp AT TIME ZONE s.time_zone,"
		" ($1::date + interval '1 month')::timestamp AT TIME ZONE s.time_zone)"
		" ORDER BY 1", 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "%s %s: %s", cli->prog, CMD, PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(conn);
		return BS_EXIT_FAILURE;
	}
	int rc = 0, n = PQntuples(res);
	for (int i = 0; i < n && rc == 0; i++) {
		int64_t t = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		char path[4096], tmp[4200], err[1024] = "";
		snprintf(path, sizeof path, "%s/statement-%" PRId64 "-%s.%s", dir, t,
			 period, bs_doc_format_name(fmt));
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		FILE *f = fopen(tmp, "wb");
		if (!f) {
			fprintf(stderr, "%s %s: --out-dir: %s: %s\n", cli->prog, CMD, tmp,
				strerror(errno));
			rc = BS_EXIT_FAILURE;
			break;
		}
		int r = bs_statement_write(conn, t, period, fmt, lg, f, err, sizeof err);
		if (fclose(f) != 0 && r == 0) {
			snprintf(err, sizeof err, "%s: %s", tmp, strerror(errno));
			r = 3;
		}
		if (r == 0 && rename(tmp, path) != 0) {
			snprintf(err, sizeof err, "%s: %s", path, strerror(errno));
			r = 3;
		}
		if (r != 0) {
			unlink(tmp);
			fprintf(stderr, "%s %s: tenant %" PRId64 ": %s\n", cli->prog, CMD, t, err);
			rc = r == 1 ? BS_EXIT_REFUSED : BS_EXIT_FAILURE;
		}
	}
	PQclear(res);
	PQclear(PQexec(conn, "COMMIT"));
	PQfinish(conn);
	if (rc == 0)
		printf("%d statement(s) written to %s\n", n, dir);
	return rc;
}

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return verify(cli, argc - 1, argv + 1);
	enum { OPT_TENANT = 256, OPT_PERIOD, OPT_FORMAT, OPT_LANG, OPT_OUT, OPT_HELP,
	       OPT_ALL, OPT_OUT_DIR };
	static const struct option options[] = {
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "period", required_argument, NULL, OPT_PERIOD },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "lang", required_argument, NULL, OPT_LANG },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "out-dir", required_argument, NULL, OPT_OUT_DIR },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false;
	const char *out_dir = NULL;
	const char *tenant = NULL, *period = NULL, *format = NULL, *lang = NULL,
		   *outp = NULL;
	int c, rc;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_TENANT: rc = bs_cli_once(cli, CMD, "--tenant", &tenant, optarg); break;
		case OPT_PERIOD: rc = bs_cli_once(cli, CMD, "--period", &period, optarg); break;
		case OPT_FORMAT: rc = bs_cli_once(cli, CMD, "--format", &format, optarg); break;
		case OPT_LANG: rc = bs_cli_once(cli, CMD, "--lang", &lang, optarg); break;
		case OPT_OUT: rc = bs_cli_once(cli, CMD, "--out", &outp, optarg); break;
		case OPT_OUT_DIR: rc = bs_cli_once(cli, CMD, "--out-dir", &out_dir, optarg); break;
		case OPT_ALL: all = true; rc = 0; break;
		case OPT_HELP:
			fputs(help, stdout);
			return BS_EXIT_OK;
		default:
			return bs_cli_usage_error(cli, CMD, "unknown option '%s'",
						  argv[optind - 1]);
		}
		if (rc != 0)
			return rc;
	}
	if (optind < argc)
		return bs_cli_usage_error(cli, CMD, "unexpected argument '%s'", argv[optind]);
	if (all && (tenant || outp || !out_dir))
		return bs_cli_usage_error(cli, CMD, "--all takes --out-dir DIR, and "
					  "neither --tenant nor --out");
	if (!all && out_dir)
		return bs_cli_usage_error(cli, CMD, "--out-dir goes with --all");
	if (all)
		tenant = "1";   /* checked per tenant below */
	if (!tenant)
		return bs_cli_usage_error(cli, CMD, "--tenant is required (a tenant id)");
	if (!period)
		return bs_cli_usage_error(cli, CMD, "--period is required (YYYY-MM)");
	char *end;
	errno = 0;
	long long tid = strtoll(tenant, &end, 10);
	if (errno || *end || end == tenant || tid < 1 || tid > 4294967295LL)
		return bs_cli_usage_error(cli, CMD, "--tenant '%s': expected a tenant "
					  "id (1 .. 4294967295)", tenant);
	enum bs_doc_format fmt = BS_DOC_CSV;
	enum bs_doc_lang lg = BS_LANG_EN;
	if (format && bs_doc_format_parse(format, &fmt) != 0)
		return bs_cli_usage_error(cli, CMD, "--format '%s': expected csv, "
					  "json, html or pdf", format);
	if (lang && bs_doc_lang_parse(lang, &lg) != 0)
		return bs_cli_usage_error(cli, CMD, "--lang '%s': expected zh or en", lang);
	/* the period's shape is checked before connecting */
	bool shape = strlen(period) == 7 && period[4] == '-';
	for (int i = 0; shape && i < 7; i++)
		shape = i == 4 || (period[i] >= '0' && period[i] <= '9');
	int mon = shape ? atoi(period + 5) : 0, yr = shape ? atoi(period) : 0;
	if (!shape || mon < 1 || mon > 12 || yr < 2000)
		return bs_cli_usage_error(cli, CMD, "--period '%s': expected YYYY-MM "
					  "(a month from 2000-01), like 2026-11", period);

	PGconn *conn = bs_cli_connect(cli);
	if (!conn)
		return BS_EXIT_FAILURE;
	char err[1024] = "";
	PGresult *res = PQexec(conn, "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ");
	bool begun = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!begun) {
		fprintf(stderr, "%s %s: BEGIN: %s", cli->prog, CMD, PQerrorMessage(conn));
		PQfinish(conn);
		return BS_EXIT_FAILURE;
	}
	if (all)
		return run_all(cli, conn, period, fmt, lg, out_dir);
	struct bs_outfile of;
	FILE *out = stdout;
	if (outp) {
		if (bs_outfile_open(&of, outp) != 0) {
			PQfinish(conn);
			return bs_cli_fail(cli, CMD, BS_EXIT_FAILURE, "--out '%s': %s",
					   outp, strerror(errno));
		}
		out = of.f;
	}
	rc = bs_statement_write(conn, (int64_t)tid, period, fmt, lg, out, err, sizeof err);
	res = PQexec(conn, "COMMIT");
	PQclear(res);
	PQfinish(conn);
	if (outp) {
		if (rc != 0) {
			bs_outfile_abort(&of);
		} else if (bs_outfile_commit(&of) != 0) {
			snprintf(err, sizeof err, "--out '%s': %s", outp, strerror(errno));
			rc = 3;
		}
	} else if (fflush(stdout) != 0 && rc == 0) {
		snprintf(err, sizeof err, "writing standard output: %s", strerror(errno));
		rc = 3;
	}
	if (rc == 0)
		return BS_EXIT_OK;
	/* an unknown tenant is a bad --tenant */
	if (rc == 1 && strstr(err, "no such tenant"))
		rc = 2;
	fprintf(stderr, "%s %s: %s\n", cli->prog, CMD, err);
	return rc == 1 ? BS_EXIT_REFUSED : rc == 2 ? BS_EXIT_USAGE : BS_EXIT_FAILURE;
}

const struct bs_cli_command bs_cmd_statement = {
	.name = "statement",
	.summary = "a tenant's usage statement (csv/json/html/pdf, zh/en); verify a CSV",
	.run = run,
};
