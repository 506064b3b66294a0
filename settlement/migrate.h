/*
 * migrate.h — applies schemas/sql/NNNN_name.sql to a database, in order,
 * each file in one transaction, recorded in schema_migrations with the
 * SHA-256 of its text. A database that holds a migration this build does
 * not have (or one whose text changed) is refused, not touched. Running it
 * again when everything is applied changes nothing (it only makes sure the
 * raw-usage partitions for the coming week exist).
 */
#ifndef BS_MIGRATE_H
#define BS_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>

#define BS_MIGRATIONS_MAX 1000      /* versions 0001..0999 */
#define BS_MIGRATION_BYTES_MAX (4 * 1024 * 1024)

enum bs_migrate_result {
	BS_MIGRATE_OK = 0,        /* applied what was missing, or nothing */
	BS_MIGRATE_REFUSED = 1,   /* the database is ahead of or differs from the code */
	BS_MIGRATE_FAILED = 3,    /* I/O, SQL or connection failure */
};

/* The directory of the .sql files: explicit (--sql-dir) if not NULL, else
 * $BANDSPLIT_SQL_DIR, else, for a program run from its build tree, the
 * source tree's schemas/sql, else the installed data directory
 * (DATADIR/bandsplit/sql, compiled in). */
const char *bs_migrate_sql_dir(const char *explicit_dir);

/* Applies the missing migrations of sql_dir. Progress lines ("applied
 * 0002_rollups") go to out (may be NULL). With dry_run, reports what would
 * be applied and changes nothing. */
enum bs_migrate_result bs_migrate(PGconn *conn, const char *sql_dir,
				  bool dry_run, FILE *out, char *err,
				  size_t err_size);

/* Checks that the database has every migration of sql_dir and nothing
 * more (bandsplit-settle refuses to start otherwise). */
enum bs_migrate_result bs_migrate_check(PGconn *conn, const char *sql_dir,
					char *err, size_t err_size);

#endif
