/*
 * migrate.c — schemas/sql/NNNN_name.sql applied in order, each in one
 * transaction, recorded in schema_migrations. See migrate.h.
 *
 * The checksum is the SHA-256 of the file's bytes, computed by the server
 * (sha256() of a binary bytea parameter) so that the CLI links no crypto.
 * Concurrent runs are serialised by a session advisory lock. The
 * migrations run as bandsplit_owner (roles.h), and after them, on every
 * run, the roles' rights: GRANTS_FILE of the same directory.
 */
#include "migrate.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bs_version.h"
#include "db.h"
#include "log.h"
#include "roles.h"

#ifndef BS_SQL_DIR_SOURCE
#define BS_SQL_DIR_SOURCE ""
#endif
#ifndef BS_SQL_DIR_INSTALLED
#define BS_SQL_DIR_INSTALLED ""
#endif

#define NAME_MAX_LEN 120
#define GRANTS_FILE "grants.sql"
#define CHECKSUM_LEN 64

struct migration {
	int version;
	char name[NAME_MAX_LEN + 1];    /* "0002_rollups_and_summaries" */
	char *text;
	size_t len;
	char checksum[CHECKSUM_LEN + 1];
	bool applied;
};

struct migration_set {
	struct migration *m;
	size_t count;
};

static bool is_dir(const char *path)
{
	struct stat st;
	return path != NULL && path[0] != '\0' && stat(path, &st) == 0 &&
	       S_ISDIR(st.st_mode);
}

/* True when this program runs from the build tree it was built in (the
 * tests, a developer): there the source tree's migrations are the ones
 * that match it. An installed program uses the installed copy, even when
 * the source tree it was built from is still on the machine. */
static bool running_from_build_tree(void)
{
	char exe[PATH_MAX], root[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0 || realpath(BS_BUILD_ROOT, root) == NULL)
		return false;
	exe[n] = '\0';
	size_t len = strlen(root);
	return len > 1 && strncmp(exe, root, len) == 0 && exe[len] == '/';
}

const char *bs_migrate_sql_dir(const char *explicit_dir)
{
	if (explicit_dir != NULL)
		return explicit_dir;
	const char *env = getenv("BANDSPLIT_SQL_DIR");
	if (env != NULL && env[0] != '\0')
		return env;
	if (running_from_build_tree() && is_dir(BS_SQL_DIR_SOURCE))
		return BS_SQL_DIR_SOURCE;
	return BS_SQL_DIR_INSTALLED;
}

/* "NNNN_[a-z0-9_]+.sql" → version, name without ".sql". Returns false for
 * any other name. */
static bool parse_file_name(const char *file, int *version, char *name)
{
	size_t len = strlen(file);
	if (len < 10 || len - 4 > NAME_MAX_LEN || strcmp(file + len - 4, ".sql") != 0)
		return false;
	for (int i = 0; i < 4; i++)
		if (file[i] < '0' || file[i] > '9')
			return false;
	if (file[4] != '_')
		return false;
	for (size_t i = 5; i < len - 4; i++) {
		char c = file[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	*version = (file[0] - '0') * 1000 + (file[1] - '0') * 100 +
		   (file[2] - '0') * 10 + (file[3] - '0');
	memcpy(name, file, len - 4);
	name[len - 4] = '\0';
	return *version >= 1 && *version < BS_MIGRATIONS_MAX;
}

static int read_file(const char *path, char **text, size_t *len, char *err,
		     size_t err_size)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = malloc(BS_MIGRATION_BYTES_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, err_size, "%s: out of memory", path);
		return -1;
	}
	size_t n = fread(buf, 1, BS_MIGRATION_BYTES_MAX + 1, f);
	bool bad = ferror(f);
	fclose(f);
	if (bad || n > BS_MIGRATION_BYTES_MAX || n == 0) {
		snprintf(err, err_size, "%s: %s", path, bad ? "read error"
			 : n == 0 ? "empty file" : "larger than 4 MiB");
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		snprintf(err, err_size, "%s: contains a NUL byte", path);
		free(buf);
		return -1;
	}
	*text = buf;
	*len = n;
	return 0;
}

static int by_version(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

static void set_free(struct migration_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		free(set->m[i].text);
	free(set->m);
	set->m = NULL;
	set->count = 0;
}

/* Reads every NNNN_name.sql of dir, sorted by version. Other .sql names
 * and duplicate versions are errors; other files are ignored. */
static int load_dir(const char *dir, struct migration_set *set, char *err,
		    size_t err_size)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		snprintf(err, err_size, "migrations directory '%s': %s (use "
			 "--sql-dir or BANDSPLIT_SQL_DIR)", dir, strerror(errno));
		return -1;
	}
	set->m = calloc(BS_MIGRATIONS_MAX, sizeof(*set->m));
	set->count = 0;
	if (set->m == NULL) {
		closedir(d);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0 ||
		    strcmp(e->d_name, GRANTS_FILE) == 0)
			continue;
		struct migration *m = &set->m[set->count];
		if (!parse_file_name(e->d_name, &m->version, m->name)) {
			snprintf(err, err_size, "%s/%s: not a migration name "
				 "(NNNN_lowercase_words.sql)", dir, e->d_name);
			rc = -1;
			break;
		}
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (read_file(path, &m->text, &m->len, err, err_size) < 0) {
			rc = -1;
			break;
		}
		set->count++;
		if (set->count == BS_MIGRATIONS_MAX - 1) {
			snprintf(err, err_size, "%s: too many migrations", dir);
			rc = -1;
		}
	}
	closedir(d);
	if (rc == 0 && set->count == 0) {
		snprintf(err, err_size, "migrations directory '%s': no NNNN_name.sql "
			 "files", dir);
		rc = -1;
	}
	if (rc == 0) {
		qsort(set->m, set->count, sizeof(*set->m), by_version);
		for (size_t i = 1; i < set->count; i++) {
			if (set->m[i].version == set->m[i - 1].version) {
				snprintf(err, err_size, "%s: %s and %s have the same "
					 "version", dir, set->m[i - 1].name,
					 set->m[i].name);
				rc = -1;
			}
		}
	}
	if (rc != 0)
		set_free(set);
	return rc;
}

static int checksum(PGconn *conn, struct migration *m, char *err, size_t err_size)
{
	const char *params[1] = { m->text };
	int lengths[1] = { (int)m->len };
	int formats[1] = { 1 };
	PGresult *res = PQexecParams(conn, "SELECT encode(sha256($1::bytea), 'hex')",
				     1, NULL, params, lengths, formats, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		bs_db_format_error(conn, res, "migration checksum", err, err_size);
		PQclear(res);
		return -1;
	}
	snprintf(m->checksum, sizeof(m->checksum), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static const char CREATE_TABLE[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY CHECK (version BETWEEN 1 AND 999),"
	" name text NOT NULL UNIQUE,"
	" checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
	" applied_at timestamptz NOT NULL DEFAULT now())";

/* Compares the database's schema_migrations with set: marks the applied
 * ones; refuses unknown, renamed or changed ones, and a gap (a missing
 * file older than an applied one). has_table false: nothing applied. */
static enum bs_migrate_result compare(PGconn *conn, struct migration_set *set,
				      bool has_table, char *err, size_t err_size)
{
	if (!has_table)
		return BS_MIGRATE_OK;
	PGresult *res = bs_db_query(conn, "read schema_migrations",
		"SELECT version, name, checksum FROM schema_migrations "
		"ORDER BY version", 0, NULL, err, err_size);
	if (res == NULL)
		return BS_MIGRATE_FAILED;
	enum bs_migrate_result rc = BS_MIGRATE_OK;
	int max_applied = 0;
	for (int r = 0; r < PQntuples(res) && rc == BS_MIGRATE_OK; r++) {
		int version = atoi(PQgetvalue(res, r, 0));
		const char *name = PQgetvalue(res, r, 1);
		const char *sum = PQgetvalue(res, r, 2);
		struct migration *m = NULL;
		for (size_t i = 0; i < set->count && m == NULL; i++)
			if (set->m[i].version == version)
				m = &set->m[i];
		if (m == NULL) {
			snprintf(err, err_size, "the database has migration %s, "
				 "which this bandsplit does not have: it is newer "
				 "than this program; refusing to touch it", name);
			rc = BS_MIGRATE_REFUSED;
		} else if (strcmp(m->name, name) != 0) {
			snprintf(err, err_size, "migration %04d is '%s' in the "
				 "database but '%s' here; refusing", version, name,
				 m->name);
			rc = BS_MIGRATE_REFUSED;
		} else if (strcmp(m->checksum, sum) != 0) {
			snprintf(err, err_size, "migration %s changed after it "
				 "was applied (sha256 %.12s... in the database, "
				 "%.12s... here); refusing", name, sum, m->checksum);
			rc = BS_MIGRATE_REFUSED;
		} else {
			m->applied = true;
			if (version > max_applied)
				max_applied = version;
		}
	}
	PQclear(res);
	for (size_t i = 0; i < set->count && rc == BS_MIGRATE_OK; i++) {
		if (!set->m[i].applied && set->m[i].version < max_applied) {
			snprintf(err, err_size, "migration %s is missing from the "
				 "database but a later one is applied; refusing "
				 "to apply it out of order", set->m[i].name);
			rc = BS_MIGRATE_REFUSED;
		}
	}
	return rc;
}

static int table_exists(PGconn *conn, bool *exists, char *err, size_t err_size)
{
	PGresult *res = bs_db_query(conn, "look for schema_migrations",
		"SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL,
		err, err_size);
	if (res == NULL)
		return -1;
	*exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}

static enum bs_migrate_result apply_one(PGconn *conn, const struct migration *m,
					char *err, size_t err_size)
{
	char version[16];
	snprintf(version, sizeof(version), "%d", m->version);
	const char *params[3] = { version, m->name, m->checksum };

	if (bs_db_exec(conn, m->name, "BEGIN", 0, NULL, err, err_size) < 0)
		return BS_MIGRATE_FAILED;
	/* The simple query protocol runs every statement of the file, inside
	 * the transaction begun above. */
	PGresult *res = PQexec(conn, m->text);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char what[NAME_MAX_LEN + 32];
		snprintf(what, sizeof(what), "migration %s", m->name);
		bs_db_format_error(conn, res, what, err, err_size);
		PQclear(res);
		bs_db_rollback_quiet(conn);
		return BS_MIGRATE_FAILED;
	}
	PQclear(res);
	if (bs_db_exec(conn, m->name, "INSERT INTO schema_migrations "
		       "(version, name, checksum) VALUES ($1, $2, $3)", 3,
		       params, err, err_size) < 0 ||
	    bs_db_exec(conn, m->name, "COMMIT", 0, NULL, err, err_size) < 0) {
		bs_db_rollback_quiet(conn);
		return BS_MIGRATE_FAILED;
	}
	return BS_MIGRATE_OK;
}

/* The roles' rights (GRANTS_FILE), in one transaction: idempotent, run
 * after the migrations on every run. */
static enum bs_migrate_result apply_grants(PGconn *conn, const char *sql_dir,
					   char *err, size_t err_size)
{
	char path[4096];
	char *text;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", sql_dir, GRANTS_FILE);
	if (read_file(path, &text, &len, err, err_size) < 0)
		return BS_MIGRATE_FAILED;
	enum bs_migrate_result rc = BS_MIGRATE_OK;
	if (bs_db_exec(conn, GRANTS_FILE, "BEGIN", 0, NULL, err, err_size) < 0) {
		free(text);
		return BS_MIGRATE_FAILED;
	}
	PGresult *res = PQexec(conn, text);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		bs_db_format_error(conn, res, path, err, err_size);
		rc = BS_MIGRATE_FAILED;
	}
	PQclear(res);
	free(text);
	if (rc != BS_MIGRATE_OK ||
	    bs_db_exec(conn, GRANTS_FILE, "COMMIT", 0, NULL, err, err_size) < 0) {
		bs_db_rollback_quiet(conn);
		return BS_MIGRATE_FAILED;
	}
	return BS_MIGRATE_OK;
}

static int lock(PGconn *conn, bool take, char *err, size_t err_size)
{
	return bs_db_exec(conn, "migration lock", take
		? "SELECT pg_advisory_lock(hashtext('bandsplit.migrate'))"
		: "SELECT pg_advisory_unlock(hashtext('bandsplit.migrate'))",
		0, NULL, err, err_size);
}

/* Loads the files, checksums them, compares with the database. */
static enum bs_migrate_result prepare(PGconn *conn, const char *sql_dir,
				      struct migration_set *set, bool *has_table,
				      char *err, size_t err_size)
{
	if (load_dir(sql_dir, set, err, err_size) < 0)
		return BS_MIGRATE_FAILED;
	for (size_t i = 0; i < set->count; i++)
		if (checksum(conn, &set->m[i], err, err_size) < 0)
			return BS_MIGRATE_FAILED;
	if (table_exists(conn, has_table, err, err_size) < 0)
		return BS_MIGRATE_FAILED;
	return compare(conn, set, *has_table, err, err_size);
}

enum bs_migrate_result bs_migrate(PGconn *conn, const char *sql_dir,
				  bool dry_run, FILE *out, char *err,
				  size_t err_size)
{
	struct migration_set set = { 0 };
	bool has_table = false;
	enum bs_migrate_result rc;

	if (lock(conn, true, err, err_size) < 0)
		return BS_MIGRATE_FAILED;
	rc = BS_MIGRATE_OK;
	if (!dry_run) {
		int r = bs_roles_assume_owner(conn, out, err, err_size);
		rc = r == 0 ? BS_MIGRATE_OK : r == 1 ? BS_MIGRATE_REFUSED
			: BS_MIGRATE_FAILED;
	}
	if (rc == BS_MIGRATE_OK)
		rc = prepare(conn, sql_dir, &set, &has_table, err, err_size);
	if (rc == BS_MIGRATE_OK && !has_table && !dry_run &&
	    bs_db_exec(conn, "create schema_migrations", CREATE_TABLE, 0, NULL,
		       err, err_size) < 0)
		rc = BS_MIGRATE_FAILED;

	size_t applied = 0;
	for (size_t i = 0; i < set.count && rc == BS_MIGRATE_OK; i++) {
		const struct migration *m = &set.m[i];
		if (m->applied)
			continue;
		if (!dry_run)
			rc = apply_one(conn, m, err, err_size);
		if (rc == BS_MIGRATE_OK) {
			applied++;
			if (out != NULL)
				fprintf(out, "%s %s\n", dry_run ? "would apply"
					: "applied", m->name);
		}
	}
	if (rc == BS_MIGRATE_OK && applied == 0 && out != NULL)
		fprintf(out, "schema up to date (%zu migrations)\n", set.count);
	if (rc == BS_MIGRATE_OK && !dry_run)
		rc = apply_grants(conn, sql_dir, err, err_size);
	/* Raw-usage partitions ahead of need: idempotent, outside the
	 * migrations so that a re-run keeps creating the coming days. */
	if (rc == BS_MIGRATE_OK && !dry_run &&
	    bs_db_exec(conn, "create usage_raw partitions",
		       "SELECT bs_usage_raw_ensure_partitions(now() - interval "
		       "'1 day', now() + interval '7 days')", 0, NULL, err,
		       err_size) < 0)
		rc = BS_MIGRATE_FAILED;

	if (!dry_run)
		bs_roles_reset(conn);
	char unlock_err[BS_DB_ERR_MAX];
	if (lock(conn, false, unlock_err, sizeof(unlock_err)) < 0 &&
	    rc == BS_MIGRATE_OK) {
		snprintf(err, err_size, "%s", unlock_err);
		rc = BS_MIGRATE_FAILED;
	}
	set_free(&set);
	return rc;
}

enum bs_migrate_result bs_migrate_check(PGconn *conn, const char *sql_dir,
					char *err, size_t err_size)
{
	struct migration_set set = { 0 };
	bool has_table = false;
	enum bs_migrate_result rc = prepare(conn, sql_dir, &set, &has_table, err,
					    err_size);
	for (size_t i = 0; i < set.count && rc == BS_MIGRATE_OK; i++) {
		if (!set.m[i].applied) {
			snprintf(err, err_size, "the database lacks migration %s: "
				 "run 'bandsplit migrate' first", set.m[i].name);
			rc = BS_MIGRATE_REFUSED;
		}
	}
	set_free(&set);
	return rc;
}
