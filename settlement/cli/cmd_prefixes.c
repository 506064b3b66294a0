/*
 * cmd_prefixes.c — `bandsplit prefixes export|exports|stale`: the
 * dataplane's prefix-map file (format: common/prefix_map.h,
 * config/prefixes.map) written from the prefixes in force at an instant,
 * and the record of which map version was in force when.
 *
 * export, in one transaction: take the next map version from
 * prefix_map_version_seq, read the prefixes valid at the instant, write
 * them to a temporary file beside the target and fsync it, record the
 * export (prefix_map_export, audited), commit, then rename the file over
 * the target and fsync the directory. A failure before the rename leaves
 * the old file and the database as they were; --notify sends SIGHUP to the
 * pid in PIDFILE (bandsplit-meter's [meter] pidfile) after the rename.
 *
 * Exports are serialised by a session advisory lock taken before the
 * version and held until after the rename, so the file's version only
 * grows; a target file holding a higher version than ours (written some
 * other way) is never replaced: the export is refused before it commits.
 * --notify's pid must be a running bandsplit-meter (/proc/PID/exe or
 * /proc/PID/comm), checked before anything is installed and again before
 * the signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "prefix_map.h"

#define PIDFILE_MAX 64

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Writes the map into tmp_path and fsyncs it. Returns 0 or -1 (printed). */
static int write_map(struct bs_op *op, const char *tmp_path, const char *version,
		     const char *map_at, const char *exported_at,
		     const PGresult *rows, int v4, int v6, int tenants)
{
	int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		bs_op_fail(op, BS_EXIT_FAILURE, "%s: %s", tmp_path, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		bs_op_fail(op, BS_EXIT_FAILURE, "%s: %s", tmp_path, strerror(errno));
		close(fd);
		unlink(tmp_path);
		return -1;
	}
	static char buf[1 << 20];
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	char comment[512];
	snprintf(comment, sizeof(comment), "prefix map written by 'bandsplit "
		 "prefixes export'; do not edit, export again.\nThe prefixes in "
		 "force at %s, exported %s.\n%d IPv4 and %d IPv6 prefixes of %d "
		 "tenants.", map_at, exported_at, v4, v6, tenants);
	bs_prefix_map_write_head(f, comment, strtoull(version, NULL, 10));
	int n = PQntuples(rows);
	for (int r = 0; r < n; r++) {
		char why[256];
		if (bs_prefix_map_write_text(f, PQgetvalue(rows, r, 0),
				(uint32_t)strtoul(PQgetvalue(rows, r, 1), NULL, 10),
				why, sizeof(why)) != 0) {
			bs_op_fail(op, BS_EXIT_FAILURE, "prefix %s: %s",
				   PQgetvalue(rows, r, 0), why);
			fclose(f);
			unlink(tmp_path);
			return -1;
		}
	}
	int rc = 0;
	if (fflush(f) != 0 || ferror(f) || fsync(fd) != 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc < 0) {
		bs_op_fail(op, BS_EXIT_FAILURE, "%s: write: %s", tmp_path,
			   strerror(errno));
		unlink(tmp_path);
	}
	return rc;
}

static int fsync_dir_of(const char *path)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* The version line of an existing map file: 0 if the file does not
 * exist, -1 (why set) if it cannot be read or has none in its first lines. */
static long long file_version(const char *path, char *why, size_t why_size)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[256];
	long long v = -1;
	for (int i = 0; i < 32 && v < 0 && fgets(line, sizeof(line), f) != NULL; i++)
		if (strncmp(line, "version ", 8) == 0)
			v = strtoll(line + 8, NULL, 10);
	fclose(f);
	if (v < 0)
		snprintf(why, why_size, "%s: no 'version' line: not a prefix map "
			 "(refusing to replace it)", path);
	return v;
}

/* Is pid a running bandsplit-meter? Its executable's name (/proc/PID/exe,
 * "(deleted)" allowed after an upgrade), else its command name
 * (/proc/PID/comm) when the executable cannot be read. why says what it
 * is otherwise. */
static bool is_meter(pid_t pid, char *why, size_t why_size)
{
	static const char NAME[] = "bandsplit-meter";
	char path[64], exe[PATH_MAX], comm[64] = "";
	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	if (n >= 0) {
		exe[n] = '\0';
		const char *slash = strrchr(exe, '/');
		const char *base = slash != NULL ? slash + 1 : exe;
		if (strncmp(base, NAME, sizeof(NAME) - 1) == 0 &&
		    (base[sizeof(NAME) - 1] == '\0' || base[sizeof(NAME) - 1] == ' '))
			return true;
	}
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(why, why_size, "pid %ld is not running", (long)pid);
		return false;
	}
	if (fgets(comm, sizeof(comm), f) == NULL)
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, NAME) == 0)
		return true;
	snprintf(why, why_size, "pid %ld is '%s' (%s), not a running %s",
		 (long)pid, comm, n >= 0 ? exe : "executable unknown", NAME);
	return false;
}

/* The pid in pidfile, checked to be a running bandsplit-meter. Returns it,
 * or 0 with why set. */
static pid_t meter_pid(const char *pidfile, char *why, size_t why_size)
{
	char text[PIDFILE_MAX + 1];
	FILE *f = fopen(pidfile, "r");
	if (f == NULL) {
		snprintf(why, why_size, "%s: %s", pidfile, strerror(errno));
		return 0;
	}
	size_t n = fread(text, 1, PIDFILE_MAX, f);
	fclose(f);
	text[n] = '\0';
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	uint64_t pid;
	char err[128];
	if (bs_parse_uint(text, 2, INT_MAX, &pid, err, sizeof(err)) < 0) {
		snprintf(why, why_size, "%s: '%s' is not a process id (%s)", pidfile,
			 text, err);
		return 0;
	}
	char what[PATH_MAX + 128];
	if (!is_meter((pid_t)pid, what, sizeof(what))) {
		snprintf(why, why_size, "%s: %s", pidfile, what);
		return 0;
	}
	return (pid_t)pid;
}

/* Sends SIGHUP to the pid in pidfile, a running bandsplit-meter. Returns 0
 * or -1 with why set. */
static int notify(const char *pidfile, char *why, size_t why_size)
{
	pid_t pid = meter_pid(pidfile, why, why_size);
	if (pid == 0)
		return -1;
	if (kill(pid, SIGHUP) != 0) {
		snprintf(why, why_size, "SIGHUP to pid %ld (from %s): %s",
			 (long)pid, pidfile, strerror(errno));
		return -1;
	}
	snprintf(why, why_size, "SIGHUP sent to pid %ld", (long)pid);
	return 0;
}

/* Refuses (op failed, -1) when the file at out holds a higher version
 * than ours, or is not a map. */
static int older_than_file(struct bs_op *op, const char *out, const char *ours)
{
	char why[PATH_MAX + 128];
	long long theirs = file_version(out, why, sizeof(why));
	if (theirs < 0) {
		bs_op_fail(op, BS_EXIT_REFUSED, "%s", why);
		return -1;
	}
	if (theirs > strtoll(ours, NULL, 10)) {
		bs_op_fail(op, BS_EXIT_REFUSED, "%s holds map version %lld, newer than "
			   "this export's %s: not replaced", out, theirs, ours);
		return -1;
	}
	return 0;
}

static int export_map(const struct bs_cli *cli, int argc, char **argv)
{
	enum { OPT_OUT = 256, OPT_AT, OPT_NOTIFY, OPT_JSON, OPT_HELP };
	static const struct option options[] = {
		{ "out", required_argument, NULL, OPT_OUT },
		{ "at", required_argument, NULL, OPT_AT },
		{ "notify", required_argument, NULL, OPT_NOTIFY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct bs_op op;
	const char *out = NULL, *at = NULL, *pidfile = NULL;
	char at_v[BS_OP_VALUE_MAX];
	int c;

	bs_op_init(&op, cli, "prefixes export");
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_OUT: { int once = bs_cli_once(cli, "prefixes export", "--out", &out, optarg);
			if (once != 0) return once; } break;
		case OPT_AT: { int once = bs_cli_once(cli, "prefixes export", "--at", &at, optarg);
			if (once != 0) return once; } break;
		case OPT_NOTIFY: { int once = bs_cli_once(cli, "prefixes export", "--notify", &pidfile, optarg);
			if (once != 0) return once; } break;
		case OPT_JSON: op.json = true; break;
		case OPT_HELP:
			printf(
"Usage: bandsplit prefixes export --out FILE [--at TIME] [--notify PIDFILE]\n"
"                                 [--json]\n"
"\n"
"Writes the dataplane's prefix map (config/prefixes.map format) of the\n"
"prefixes in force at TIME (default now) to FILE, atomically: a temporary\n"
"file beside it, fsync, rename. The map's version is the next of the\n"
"database's map versions, so versions only grow; the export is recorded\n"
"(bandsplit prefixes exports) and audited. Concurrent exports run one\n"
"after the other; a FILE holding a higher version is never replaced (exit\n"
"1). --notify sends SIGHUP to the process whose id PIDFILE holds\n"
"(bandsplit-meter's pidfile) so that it reloads the map; that process must\n"
"be a running bandsplit-meter, else nothing is exported (exit 1). Usage\n"
"records carry the map version they were counted\n"
"with; 'bandsplit prefixes stale' lists records counted with a map older\n"
"than the one in force.\n");
			return BS_EXIT_OK;
		default:
			return bs_op_bad_option(&op, argv);
		}
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (out == NULL)
		return bs_op_usage(&op, "--out FILE is required");
	if (strlen(out) + 32 >= PATH_MAX)
		return bs_op_usage(&op, "--out '%s': path too long", out);
	struct stat st;
	if (stat(out, &st) == 0 && !S_ISREG(st.st_mode))
		return bs_op_usage(&op, "--out '%s': not a regular file", out);
	if (at != NULL && bs_op_parse_time(&op, "--at", at, at_v) != 0)
		return BS_EXIT_USAGE;
	if (pidfile != NULL && access(pidfile, R_OK) != 0)
		return bs_op_usage(&op, "--notify '%s': %s", pidfile, strerror(errno));
	char why_not[PATH_MAX + 256];
	if (pidfile != NULL && meter_pid(pidfile, why_not, sizeof(why_not)) == 0)
		return bs_cli_fail(cli, "prefixes export", BS_EXIT_REFUSED, "--notify "
				   "'%s': %s: nothing exported", pidfile, why_not);

	double t0 = now_ms();
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	/* held until the connection closes, after the rename */
	PQclear(bs_op_query(&op, "SELECT pg_advisory_lock(hashtext("
			    "'bandsplit.prefix_map.export'))", 0, NULL));
	const char *p_at[1] = { at != NULL ? at_v : "now" };
	PGresult *head = op.rc != 0 ? NULL : bs_op_query(&op, "SELECT nextval('prefix_map_version_seq')"
		"::text, bs_iso($1::timestamptz), bs_iso(clock_timestamp()),"
		" $1::timestamptz::text", 1, p_at);
	PGresult *rows = head != NULL ? bs_op_query(&op, "SELECT prefix::text,"
		" tenant_id::text, family(prefix) FROM prefix"
		" WHERE valid @> $1::timestamptz ORDER BY family(prefix), prefix",
		1, p_at) : NULL;
	PGresult *counts = rows != NULL ? bs_op_query(&op, "SELECT"
		" count(*) FILTER (WHERE family(prefix) = 4)::integer,"
		" count(*) FILTER (WHERE family(prefix) = 6)::integer,"
		" count(DISTINCT tenant_id)::integer FROM prefix"
		" WHERE valid @> $1::timestamptz", 1, p_at) : NULL;
	char tmp_path[PATH_MAX];
	snprintf(tmp_path, sizeof(tmp_path), "%s.tmp.%ld", out, (long)getpid());
	bool written = false;
	int v4 = 0, v6 = 0, tenants = 0;
	if (counts != NULL) {
		v4 = atoi(PQgetvalue(counts, 0, 0));
		v6 = atoi(PQgetvalue(counts, 0, 1));
		tenants = atoi(PQgetvalue(counts, 0, 2));
		if ((unsigned)v4 > BS_MAP_MAX_V4 || (unsigned)v6 > BS_MAP_MAX_V6)
			bs_op_fail(&op, BS_EXIT_REFUSED, "%d IPv4 / %d IPv6 prefixes "
				   "exceed the dataplane's limits (%u / %u)", v4, v6,
				   BS_MAP_MAX_V4, BS_MAP_MAX_V6);
		else if (older_than_file(&op, out, PQgetvalue(head, 0, 0)) == 0 &&
			 write_map(&op, tmp_path, PQgetvalue(head, 0, 0),
				   PQgetvalue(head, 0, 1), PQgetvalue(head, 0, 2),
				   rows, v4, v6, tenants) == 0)
			written = true;
	}
	if (written) {
		char abs_out[PATH_MAX], dir[PATH_MAX], copy[PATH_MAX];
		snprintf(copy, sizeof(copy), "%s", out);
		const char *base = basename(copy);
		char copy2[PATH_MAX];
		snprintf(copy2, sizeof(copy2), "%s", out);
		if (realpath(dirname(copy2), dir) == NULL)
			snprintf(dir, sizeof(dir), ".");
		snprintf(abs_out, sizeof(abs_out), "%s/%s", dir, base);
		char nv4[16], nv6[16], nt[16];
		snprintf(nv4, sizeof(nv4), "%d", v4);
		snprintf(nv6, sizeof(nv6), "%d", v6);
		snprintf(nt, sizeof(nt), "%d", tenants);
		const char *rec[6] = { PQgetvalue(head, 0, 0), PQgetvalue(head, 0, 3),
				       abs_out, nv4, nv6, nt };
		PQclear(bs_op_query(&op, "INSERT INTO prefix_map_export (version,"
			" map_at, path, v4_prefixes, v6_prefixes, tenants) VALUES"
			" ($1::bigint, $2::timestamptz, $3, $4::integer, $5::integer,"
			" $6::integer)", 6, rec));
	}
	int rc = bs_op_commit(&op);
	if (written && rc != 0)
		unlink(tmp_path);
	if (rc == 0 && written && rename(tmp_path, out) != 0) {
		bs_op_fail(&op, BS_EXIT_FAILURE, "rename %s to %s: %s (map version "
			   "%s is recorded but not installed; export again)",
			   tmp_path, out, strerror(errno), PQgetvalue(head, 0, 0));
		unlink(tmp_path);
		rc = op.rc;
	}
	if (rc == 0 && fsync_dir_of(out) != 0)
		fprintf(stderr, "%s prefixes export: warning: fsync of the directory "
			"of %s: %s\n", cli->prog, out, strerror(errno));
	double ms = now_ms() - t0;
	char why[256] = "";
	if (rc == 0 && pidfile != NULL && notify(pidfile, why, sizeof(why)) != 0) {
		bs_op_fail(&op, BS_EXIT_FAILURE, "map version %s written to %s, but "
			   "--notify failed: %s", PQgetvalue(head, 0, 0), out, why);
		rc = op.rc;
	}
	bs_op_close(&op, false);   /* releases the export lock */
	if (rc == 0 && op.json)
		printf("{\"version\": %s, \"path\": \"%s\", \"map_at\": \"%s\", "
		       "\"v4_prefixes\": %d, \"v6_prefixes\": %d, \"tenants\": %d, "
		       "\"notified\": %s, \"ms\": %.1f}\n", PQgetvalue(head, 0, 0),
		       out, PQgetvalue(head, 0, 1), v4, v6, tenants,
		       pidfile != NULL ? "true" : "false", ms);
	else if (rc == 0)
		printf("prefix map version %s written to %s: %d IPv4 and %d IPv6 "
		       "prefixes of %d tenants, in force at %s (%.1f ms)%s%s\n",
		       PQgetvalue(head, 0, 0), out, v4, v6, tenants,
		       PQgetvalue(head, 0, 1), ms, pidfile != NULL ? "; " : "", why);
	PQclear(head);
	PQclear(rows);
	PQclear(counts);
	return rc;
}

static int exports(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	bs_op_init(&op, cli, "prefixes exports");
	static const struct option options[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *limit = NULL;
	uint64_t n;
	char err[128];
	int c;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c == 'l') {
			int once = bs_cli_once(cli, "prefixes exports", "--limit",
					       &limit, optarg);
			if (once != 0)
				return once;
		} else if (c == 'j') {
			op.json = true;
		} else if (c == 'h') {
			printf("Usage: bandsplit prefixes exports [--limit N] [--json]\n\n"
			       "The latest N (default 20) map exports, newest first.\n");
			return BS_EXIT_OK;
		} else {
			return bs_op_bad_option(&op, argv);
		}
	}
	if (limit == NULL)
		limit = "20";
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (bs_parse_uint(limit, 1, 100000, &n, err, sizeof(err)) < 0)
		return bs_op_usage(&op, "--limit '%s': %s", limit, err);
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	const char *params[1] = { limit };
	PGresult *res = bs_op_query(&op, "SELECT version, bs_iso(map_at) AS map_at,"
		" bs_iso(exported_at) AS exported_at, v4_prefixes, v6_prefixes,"
		" tenants, path FROM prefix_map_export ORDER BY version DESC"
		" LIMIT $1::integer", 1, params);
	int rc = bs_op_close(&op, true);
	if (rc == 0)
		bs_op_print(&op, res, false);
	PQclear(res);
	return rc;
}

static int stale(const struct bs_cli *cli, int argc, char **argv)
{
	struct bs_op op;
	bs_op_init(&op, cli, "prefixes stale");
	enum { OPT_FROM = 256, OPT_TO, OPT_JSON, OPT_HELP };
	static const struct option options[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL;
	char from_v[BS_OP_VALUE_MAX], to_v[BS_OP_VALUE_MAX];
	int c, rc = 0;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_FROM: { int once = bs_cli_once(cli, "prefixes stale", "--from", &from, optarg);
			if (once != 0) return once; } break;
		case OPT_TO: { int once = bs_cli_once(cli, "prefixes stale", "--to", &to, optarg);
			if (once != 0) return once; } break;
		case OPT_JSON: op.json = true; break;
		case OPT_HELP:
			printf(
"Usage: bandsplit prefixes stale [--from TIME] [--to TIME] [--json]\n"
"\n"
"Per dataplane node and map version: the usage records of intervals\n"
"starting in [--from, --to) that were attributed with a map older than the\n"
"one in force at their interval's start (the latest export, 10 s grace\n"
"for the reload): the node did not reload, or reloaded another file.\n");
			return BS_EXIT_OK;
		default:
			return bs_op_bad_option(&op, argv);
		}
	}
	if (optind < argc)
		return bs_op_usage(&op, "unexpected argument '%s'", argv[optind]);
	if (from) rc = bs_op_parse_time(&op, "--from", from, from_v);
	if (!rc && to) rc = bs_op_parse_time(&op, "--to", to, to_v);
	if (rc != 0)
		return rc;
	if (bs_op_open(&op) != 0)
		return bs_op_close(&op, false);
	rc = bs_cli_check_range(cli, op.conn, op.cmd, from ? from_v : NULL,
				to ? to_v : NULL);
	if (rc != 0) {
		bs_op_close(&op, false);
		return rc;
	}
	const char *params[2] = { from ? from_v : NULL, to ? to_v : NULL };
	PGresult *res = bs_op_query(&op, "SELECT node_id AS node, map_version,"
		" max(version_in_force) AS version_in_force, count(*) AS records,"
		" bs_iso(min(interval_start)) AS first_interval,"
		" bs_iso(max(interval_start)) AS last_interval"
		" FROM usage_stale_map"
		" WHERE interval_start >= coalesce($1::timestamptz, '-infinity')"
		" AND interval_start < coalesce($2::timestamptz, 'infinity')"
		" GROUP BY node_id, map_version ORDER BY node_id, map_version",
		2, params);
	rc = bs_op_close(&op, true);
	if (rc == 0)
		bs_op_print(&op, res, false);
	PQclear(res);
	return rc;
}

static const struct bs_op_verb VERBS[] = {
	{ "export", "write the dataplane's prefix map (atomically, versioned)",
	  export_map },
	{ "exports", "the latest map exports", exports },
	{ "stale", "usage records counted with an outdated map", stale },
};

const struct bs_cli_command bs_cmd_prefixes = {
	.name = "prefixes",
	.summary = "the dataplane's prefix map: export, exports, stale",
	.description = "The dataplane's prefix map: "
		"export it from the prefixes in force, and check that usage was "
		"counted with the map in force.",
	.verbs = VERBS,
	.nverbs = sizeof(VERBS) / sizeof(VERBS[0]),
};
