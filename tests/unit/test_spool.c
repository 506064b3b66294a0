/*
 * test_spool.c — the on-disk spool: write/read/list/remove, name order,
 * depth, cleanup of leftover temporaries, refused names, clear errors, and
 * the durability order of a write (write → fsync(file) → rename →
 * fsync(directory)), seen through the system calls themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool.h"

#define BOOT_A "0123456789abcdef0123456789abcdef"
#define BOOT_B "fedcba9876543210fedcba9876543210"

struct fixture {
	char root[64];      /* mkdtemp'd */
	char dir[128];      /* root/spool/nested: does not exist yet */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->root, "/tmp/test_spool_XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/spool/nested", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- a trace of the spool's system calls ---------------------------------
 * This executable defines write(), fsync() and renameat() itself, so the
 * spool's calls (linked into it) come here instead of to the C library's
 * (an in-process LD_PRELOAD). Each passes straight to the kernel through
 * syscall(); while tracing is on it also records "write PATH", "fsync PATH"
 * or "rename OLD NEW", with each descriptor's path read back from
 * /proc/self/fd. The C library's own writes (cmocka's output) use its
 * internal entry points and are not seen. */
#define TRACE_MAX 64
static bool tracing;
static size_t trace_n;
static char trace[TRACE_MAX][600];

static void fd_path(int fd, char *buf, size_t size)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, size - 1);
	buf[n < 0 ? 0 : (size_t)n] = '\0';
}

static void trace_add(const char *what, const char *a, const char *b)
{
	if (!tracing || trace_n >= TRACE_MAX)
		return;
	snprintf(trace[trace_n++], sizeof(trace[0]), "%s %s%s%s", what, a,
		 b ? " " : "", b ? b : "");
}

ssize_t write(int fd, const void *buf, size_t count)
{
	ssize_t n = syscall(SYS_write, fd, buf, count);
	if (tracing && n >= 0) {
		char path[256];
		fd_path(fd, path, sizeof(path));
		/* consecutive writes to one file are one entry */
		char entry[300];
		snprintf(entry, sizeof(entry), "write %s", path);
		if (trace_n == 0 || strcmp(trace[trace_n - 1], entry) != 0)
			trace_add("write", path, NULL);
	}
	return n;
}

int fsync(int fd)
{
	if (tracing) {
		char path[256];
		fd_path(fd, path, sizeof(path));
		trace_add("fsync", path, NULL);
	}
	return (int)syscall(SYS_fsync, fd);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	if (tracing) {
		char od[256], nd[256], o[300], n[300];
		fd_path(olddirfd, od, sizeof(od));
		fd_path(newdirfd, nd, sizeof(nd));
		snprintf(o, sizeof(o), "%s/%s", od, oldpath);
		snprintf(n, sizeof(n), "%s/%s", nd, newpath);
		trace_add("rename", o, n);
	}
	return (int)syscall(SYS_renameat, olddirfd, oldpath, newdirfd, newpath);
}

static bool file_exists(const char *dir, const char *name)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void touch(const char *dir, const char *name, const char *content)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

static void test_segment_name(void **state)
{
	(void)state;
	char name[BS_SPOOL_NAME_MAX];
	bs_spool_segment_name(name, 1700000000, BOOT_A, 17);
	assert_string_equal(name, "001700000000-" BOOT_A "-0000000017.seg");
	bs_spool_segment_name(name, 0, BOOT_B, 0);
	assert_string_equal(name, "000000000000-" BOOT_B "-0000000000.seg");
}

static void test_write_read_list_remove(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct bs_spool *sp = bs_spool_open(f->dir, err, sizeof(err));
	if (sp == NULL)
		fail_msg("open: %s", err);
	assert_int_equal(bs_spool_depth(sp), 0);

	/* Written out of order: the list comes back in name order, which is
	 * interval order. */
	static const struct { int64_t start; const char *boot; uint64_t seq; }
	segs[] = {
		{ 1700000020, BOOT_A, 31 },
		{ 1700000000, BOOT_A, 1 },
		{ 1700000010, BOOT_A, 17 },
		{ 999999990, BOOT_B, 5 },
	};
	char name[BS_SPOOL_NAME_MAX], data[128];
	for (size_t i = 0; i < 4; i++) {
		bs_spool_segment_name(name, segs[i].start, segs[i].boot,
				      segs[i].seq);
		int n = snprintf(data, sizeof(data), "{\"seq\":%" PRIu64 "}\n"
				 "{\"seq\":%" PRIu64 "}\n", segs[i].seq,
				 segs[i].seq + 1);
		if (bs_spool_write(sp, name, data, (size_t)n, err, sizeof(err)))
			fail_msg("write: %s", err);
		assert_int_equal(bs_spool_depth(sp), i + 1);
		/* the segment's temporary is gone once it is written */
		char tmpname[BS_SPOOL_NAME_MAX + 8];
		snprintf(tmpname, sizeof(tmpname), "%s.tmp", name);
		assert_true(file_exists(f->dir, name));
		assert_false(file_exists(f->dir, tmpname));
	}

	char **names;
	size_t count;
	assert_int_equal(bs_spool_list(sp, &names, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 4);
	assert_string_equal(names[0], "000999999990-" BOOT_B "-0000000005.seg");
	assert_string_equal(names[1], "001700000000-" BOOT_A "-0000000001.seg");
	assert_string_equal(names[2], "001700000010-" BOOT_A "-0000000017.seg");
	assert_string_equal(names[3], "001700000020-" BOOT_A "-0000000031.seg");

	char *got;
	size_t len;
	assert_int_equal(bs_spool_read(sp, names[2], &got, &len, err,
				       sizeof(err)), 0);
	assert_int_equal(len, strlen("{\"seq\":17}\n{\"seq\":18}\n"));
	assert_string_equal(got, "{\"seq\":17}\n{\"seq\":18}\n");
	free(got);

	assert_int_equal(bs_spool_remove(sp, names[1], err, sizeof(err)), 0);
	assert_int_equal(bs_spool_depth(sp), 3);
	assert_false(file_exists(f->dir, names[1]));
	/* Removing it again says which file is missing. */
	assert_int_equal(bs_spool_remove(sp, names[1], err, sizeof(err)), -1);
	assert_non_null(strstr(err, names[1]));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_int_equal(bs_spool_depth(sp), 3);
	assert_int_equal(bs_spool_read(sp, names[1], &got, &len, err,
				       sizeof(err)), -1);
	assert_non_null(strstr(err, names[1]));
	bs_spool_list_free(names, count);

	/* Rewriting an existing segment replaces it and is counted once. */
	bs_spool_segment_name(name, 1700000020, BOOT_A, 31);
	assert_int_equal(bs_spool_write(sp, name, "new\n", 4, err, sizeof(err)), 0);
	assert_int_equal(bs_spool_depth(sp), 3);
	assert_int_equal(bs_spool_read(sp, name, &got, &len, err, sizeof(err)), 0);
	assert_string_equal(got, "new\n");
	free(got);

	/* Empty segments are legal (an interval with no traffic). */
	bs_spool_segment_name(name, 1700000030, BOOT_A, 33);
	assert_int_equal(bs_spool_write(sp, name, "", 0, err, sizeof(err)), 0);
	assert_int_equal(bs_spool_read(sp, name, &got, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 0);
	free(got);
	assert_int_equal(bs_spool_depth(sp), 4);
	bs_spool_close(sp);

	/* Reopening counts what is on disk. */
	sp = bs_spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	assert_int_equal(bs_spool_depth(sp), 4);
	bs_spool_close(sp);
}

static void test_open_removes_leftover_tmp(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct bs_spool *sp = bs_spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	char name[BS_SPOOL_NAME_MAX];
	bs_spool_segment_name(name, 1700000000, BOOT_A, 1);
	assert_int_equal(bs_spool_write(sp, name, "a\n", 2, err, sizeof(err)), 0);
	bs_spool_close(sp);

	/* A crash mid-write leaves a temporary; other files are not ours. */
	char tmp[BS_SPOOL_NAME_MAX + 8];
	bs_spool_segment_name(name, 1700000010, BOOT_A, 2);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	touch(f->dir, tmp, "half a rec");
	touch(f->dir, "README", "operator notes");
	touch(f->dir, "bad name.seg", "x");

	sp = bs_spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	assert_false(file_exists(f->dir, tmp));
	assert_true(file_exists(f->dir, "README"));
	assert_int_equal(bs_spool_depth(sp), 1);

	char **names;
	size_t count;
	assert_int_equal(bs_spool_list(sp, &names, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 1);
	bs_spool_segment_name(name, 1700000000, BOOT_A, 1);
	assert_string_equal(names[0], name);
	bs_spool_list_free(names, count);

	/* The temporary name is free again: the same segment can be written. */
	bs_spool_segment_name(name, 1700000010, BOOT_A, 2);
	assert_int_equal(bs_spool_write(sp, name, "b\n", 2, err, sizeof(err)), 0);
	assert_int_equal(bs_spool_depth(sp), 2);
	bs_spool_close(sp);
}

static void test_list_resyncs_depth(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct bs_spool *sp = bs_spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	/* A segment copied in by an operator is seen by the next list. */
	touch(f->dir, "001700000000-" BOOT_B "-0000000001.seg", "x\n");
	assert_int_equal(bs_spool_depth(sp), 0);
	char **names;
	size_t count;
	assert_int_equal(bs_spool_list(sp, &names, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bs_spool_depth(sp), 1);
	bs_spool_list_free(names, count);
	bs_spool_close(sp);
}

static void test_bad_names_refused(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct bs_spool *sp = bs_spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	static const char *const bad[] = {
		"", "../escape.seg", "a/b.seg", ".hidden.seg", "noext",
		"x.tmp", ".seg", "sp ace.seg",
		"0123456789012345678901234567890123456789012345678901234567890"
		"12345678901234567890123456789012345.seg",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (bs_spool_write(sp, bad[i], "x", 1, err, sizeof(err)) != -1)
			fail_msg("accepted name '%s'", bad[i]);
		assert_non_null(strstr(err, "invalid segment name"));
		char *data;
		size_t len;
		assert_int_equal(bs_spool_read(sp, bad[i], &data, &len, err,
					       sizeof(err)), -1);
		assert_int_equal(bs_spool_remove(sp, bad[i], err, sizeof(err)), -1);
	}
	assert_int_equal(bs_spool_depth(sp), 0);
	char **names;
	size_t count;
	assert_int_equal(bs_spool_list(sp, &names, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 0);
	bs_spool_list_free(names, count);
	bs_spool_close(sp);
}

static void test_open_fails_clearly(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", path[256];
	/* Tests run as root, so permissions cannot make it fail: a directory
	 * under a regular file can never be created. */
	touch(f->root, "plainfile", "x");
	snprintf(path, sizeof(path), "%s/plainfile/spool", f->root);
	assert_null(bs_spool_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "plainfile"));
	assert_non_null(strstr(err, strerror(ENOTDIR)));

	/* The spool path itself a regular file. */
	snprintf(path, sizeof(path), "%s/plainfile", f->root);
	assert_null(bs_spool_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, strerror(ENOTDIR)));

	assert_null(bs_spool_open("", err, sizeof(err)));
}

static void test_write_failure_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct bs_spool *sp = bs_spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	char name[BS_SPOOL_NAME_MAX], tmp[BS_SPOOL_NAME_MAX + 8];
	bs_spool_segment_name(name, 1700000000, BOOT_A, 1);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);

	/* The temporary is taken (by a directory, which even root cannot
	 * open for writing): the write fails, names the file, counts nothing. */
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", f->dir, tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(bs_spool_write(sp, name, "a\n", 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, tmp));
	assert_non_null(strstr(err, strerror(EEXIST)));
	assert_false(file_exists(f->dir, name));
	assert_int_equal(bs_spool_depth(sp), 0);
	rmdir(path);

	/* Over the size limit. */
	assert_int_equal(bs_spool_write(sp, name, "a", BS_SPOOL_MAX_SEGMENT + 1u,
					err, sizeof(err)), -1);
	assert_non_null(strstr(err, name));
	assert_false(file_exists(f->dir, name));
	assert_false(file_exists(f->dir, tmp));
	bs_spool_close(sp);
}

static void test_large_segment(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct bs_spool *sp = bs_spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	size_t len = 3u << 20;
	char *data = malloc(len);
	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + i % 26);
	char name[BS_SPOOL_NAME_MAX];
	bs_spool_segment_name(name, 1700000000, BOOT_A, 1);
	assert_int_equal(bs_spool_write(sp, name, data, len, err, sizeof(err)), 0);
	char *got;
	size_t got_len;
	assert_int_equal(bs_spool_read(sp, name, &got, &got_len, err,
				       sizeof(err)), 0);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
	free(data);
	bs_spool_close(sp);
}

/* A segment is durable before bs_spool_write returns, in this order: its
 * bytes written to the temporary, the temporary fsync'd, renamed to the
 * segment's name, and the directory fsync'd (which makes the rename itself
 * durable). Leaving out either fsync, or moving it, fails this test. */
static void test_write_is_durable_in_order(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct bs_spool *sp = bs_spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	char real[PATH_MAX], name[BS_SPOOL_NAME_MAX];
	assert_non_null(realpath(f->dir, real));
	bs_spool_segment_name(name, 1700000000, BOOT_A, 1);

	trace_n = 0;
	tracing = true;
	int rc = bs_spool_write(sp, name, "{\"seq\":1}\n", 11, err, sizeof(err));
	tracing = false;
	if (rc != 0)
		fail_msg("write: %s", err);

	char want[4][600];
	snprintf(want[0], sizeof(want[0]), "write %s/%s.tmp", real, name);
	snprintf(want[1], sizeof(want[1]), "fsync %s/%s.tmp", real, name);
	snprintf(want[2], sizeof(want[2]), "rename %s/%s.tmp %s/%s", real, name,
		 real, name);
	snprintf(want[3], sizeof(want[3]), "fsync %s", real);
	bool same = trace_n == 4;
	for (size_t i = 0; same && i < 4; i++)
		same = strcmp(trace[i], want[i]) == 0;
	for (size_t i = 0; !same && i < trace_n; i++)
		print_message("  trace %zu: %s\n", i, trace[i]);
	assert_int_equal(trace_n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(trace[i], want[i]);
	bs_spool_close(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_segment_name),
		cmocka_unit_test_setup_teardown(test_write_read_list_remove,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_removes_leftover_tmp,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_resyncs_depth,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails_clearly,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_leaves_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_segment,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_is_durable_in_order,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
