/*
 * cmd_migrate.c — `bandsplit migrate`: bring the database schema up to the
 * code's migrations (schemas/sql), or check that it is.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "db.h"
#include "migrate.h"

static void help(FILE *out)
{
	fprintf(out,
"Usage: bandsplit migrate [--sql-dir DIR] [--dry-run | --check]\n"
"\n"
"Applies the SQL migrations NNNN_name.sql that the database lacks, in\n"
"order, each in one transaction, recorded in schema_migrations with its\n"
"SHA-256. Refuses (exit 1) a database that has a migration this bandsplit\n"
"does not have, or one whose text changed. Running it again applies\n"
"nothing; it also creates the raw-usage partitions of the coming week.\n"
"\n"
"The migrations run as the role bandsplit_owner, which owns every object;\n"
"then schemas/sql/grants.sql gives bandsplit_settle, bandsplit_cli (and\n"
"later bandsplit_api) their rights, on every run. Run by a role that may\n"
"create roles (CREATEROLE, e.g. the database's owner), it creates the\n"
"missing roles and hands the owner the schema's objects; run by\n"
"bandsplit_owner or a member of it, it checks that they exist; anyone\n"
"else is refused (exit 1).\n"
"\n"
"Options:\n"
"  --sql-dir DIR   the migrations (default: $BANDSPLIT_SQL_DIR; else, when\n"
"                  run from its build tree, the schemas/sql it was built\n"
"                  from; else the installed copy,\n"
"                  " BS_SQL_DIR_INSTALLED ")\n"
"  --dry-run       list what would be applied, change nothing\n"
"  --check         exit 0 if the schema is up to date, 1 otherwise\n"
"  --help          show this help\n");
}

static int run(const struct bs_cli *cli, int argc, char **argv)
{
	enum { OPT_SQL_DIR = 256, OPT_DRY_RUN, OPT_CHECK, OPT_HELP };
	static const struct option options[] = {
		{ "sql-dir", required_argument, NULL, OPT_SQL_DIR },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *sql_dir = NULL;
	bool dry_run = false, check = false;
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_SQL_DIR: { int once = bs_cli_once(cli, "migrate", "--sql-dir", &sql_dir, optarg);
			if (once != 0) return once; } break;
		case OPT_DRY_RUN: dry_run = true; break;
		case OPT_CHECK: check = true; break;
		case OPT_HELP: help(stdout); return BS_EXIT_OK;
		default:
			return bs_cli_usage_error(cli, "migrate", "unknown or "
				"incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bs_cli_usage_error(cli, "migrate", "unexpected argument '%s'",
					  argv[optind]);
	if (dry_run && check)
		return bs_cli_usage_error(cli, "migrate", "--dry-run and --check "
					  "exclude each other");

	PGconn *conn = bs_cli_connect(cli);
	if (conn == NULL)
		return BS_EXIT_FAILURE;
	char err[BS_DB_ERR_MAX];
	const char *dir = bs_migrate_sql_dir(sql_dir);
	enum bs_migrate_result rc = check
		? bs_migrate_check(conn, dir, err, sizeof(err))
		: bs_migrate(conn, dir, dry_run, stdout, err, sizeof(err));
	PQfinish(conn);
	switch (rc) {
	case BS_MIGRATE_OK:
		if (check)
			printf("schema up to date\n");
		return BS_EXIT_OK;
	case BS_MIGRATE_REFUSED:
		return bs_cli_fail(cli, "migrate", BS_EXIT_REFUSED, "%s", err);
	case BS_MIGRATE_FAILED:
		break;
	}
	return bs_cli_fail(cli, "migrate", BS_EXIT_FAILURE, "%s", err);
}

const struct bs_cli_command bs_cmd_migrate = {
	.name = "migrate",
	.summary = "apply the SQL migrations the database lacks",
	.run = run,
};
