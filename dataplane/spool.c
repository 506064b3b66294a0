/*
 * spool.c — segments of records written to disk before they go to Kafka.
 *
 * A segment is written as "<name>.tmp" (created exclusively), fsync'd,
 * renamed to "<name>" and the directory fsync'd: after a crash a segment is
 * either whole or absent. Leftover "*.tmp" files are the remains of a crash
 * mid-write; opening the spool deletes them. Only "*.seg" files with a safe
 * name are segments; anything else in the directory is left alone.
 */
#include "spool.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SPOOL_DIR_MODE  0750
#define SPOOL_FILE_MODE 0640
#define SPOOL_PATH_MAX  4096
#define SEG_SUFFIX      ".seg"
#define TMP_SUFFIX      ".tmp"

struct bs_spool {
	char *dir;
	int dirfd;
	atomic_size_t depth;   /* read by telemetry, written by the owner */
};

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A segment name: [A-Za-z0-9._-], no leading dot, ends in ".seg". */
static bool segment_name_valid(const char *name)
{
	size_t len = strnlen(name, BS_SPOOL_NAME_MAX);
	if (len == 0 || len >= BS_SPOOL_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return len > strlen(SEG_SUFFIX) && has_suffix(name, SEG_SUFFIX);
}

static int check_name(const struct bs_spool *spool, const char *name,
		      char *err, size_t err_size)
{
	if (segment_name_valid(name))
		return 0;
	snprintf(err, err_size, "spool %s: invalid segment name '%.*s' (want "
		 "[A-Za-z0-9._-]{1,%d} ending in " SEG_SUFFIX ")", spool->dir,
		 BS_SPOOL_NAME_MAX, name, BS_SPOOL_NAME_MAX - 1);
	return -1;
}

static int sys_error(char *err, size_t err_size, const char *what,
		     const char *dir, const char *name)
{
	int e = errno;
	snprintf(err, err_size, "%s %s%s%s: %s", what, dir, name ? "/" : "",
		 name ? name : "", strerror(e));
	errno = e;
	return -1;
}

/* mkdir -p: creates every missing component of path. */
static int make_dirs(const char *path, char *err, size_t err_size)
{
	char buf[SPOOL_PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(buf)) {
		snprintf(err, err_size, "spool directory '%.64s': empty or "
			 "longer than %d bytes", path, SPOOL_PATH_MAX - 1);
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, SPOOL_DIR_MODE) < 0 && errno != EEXIST)
			return sys_error(err, err_size, "spool: mkdir", buf, NULL);
		buf[i] = saved;
	}
	return 0;
}

/* Deletes leftover temporaries and counts segments. */
static int scan(struct bs_spool *spool, bool remove_tmp, char ***names,
		size_t *count, char *err, size_t err_size)
{
	int fd = openat(spool->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sys_error(err, err_size, "spool: open", spool->dir, NULL);
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return sys_error(err, err_size, "spool: opendir", spool->dir, NULL);
	}

	size_t n = 0, cap = 0;
	char **list = NULL;
	bool removed = false;
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		if (remove_tmp && nm[0] != '.' && has_suffix(nm, TMP_SUFFIX)) {
			if (unlinkat(spool->dirfd, nm, 0) < 0) {
				rc = sys_error(err, err_size, "spool: unlink",
					       spool->dir, nm);
				break;
			}
			removed = true;
			continue;
		}
		if (!segment_name_valid(nm))
			continue;
		if (names != NULL) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				char **grown = realloc(list, cap * sizeof(*list));
				if (grown == NULL) {
					rc = sys_error(err, err_size,
						       "spool: list", spool->dir, NULL);
					break;
				}
				list = grown;
			}
			if ((list[n] = strdup(nm)) == NULL) {
				rc = sys_error(err, err_size, "spool: list",
					       spool->dir, NULL);
				break;
			}
		}
		n++;
		errno = 0;
	}
	if (rc == 0 && de == NULL && errno != 0)
		rc = sys_error(err, err_size, "spool: readdir", spool->dir, NULL);
	closedir(d);

	if (rc == 0 && removed && fsync(spool->dirfd) < 0)
		rc = sys_error(err, err_size, "spool: fsync", spool->dir, NULL);
	if (rc < 0) {
		if (names != NULL)
			bs_spool_list_free(list, n);
		return -1;
	}
	atomic_store(&spool->depth, n);
	*count = n;
	if (names != NULL)
		*names = list;
	return 0;
}

struct bs_spool *bs_spool_open(const char *dir, char *err, size_t err_size)
{
	if (make_dirs(dir, err, err_size) < 0)
		return NULL;
	struct bs_spool *spool = calloc(1, sizeof(*spool));
	if (spool == NULL || (spool->dir = strdup(dir)) == NULL) {
		free(spool);
		snprintf(err, err_size, "spool %s: out of memory", dir);
		return NULL;
	}
	spool->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (spool->dirfd < 0) {
		sys_error(err, err_size, "spool: open", dir, NULL);
		free(spool->dir);
		free(spool);
		return NULL;
	}
	size_t count;
	if (scan(spool, true, NULL, &count, err, err_size) < 0) {
		bs_spool_close(spool);
		return NULL;
	}
	return spool;
}

void bs_spool_close(struct bs_spool *spool)
{
	if (spool == NULL)
		return;
	close(spool->dirfd);
	free(spool->dir);
	free(spool);
}

void bs_spool_segment_name(char *name, int64_t interval_start,
			   const char *boot_id, uint64_t first_seq)
{
	assert(interval_start >= 0);
	assert(strlen(boot_id) <= 32 && strchr(boot_id, '/') == NULL);
	int n = snprintf(name, BS_SPOOL_NAME_MAX, "%012" PRId64 "-%s-%010"
			 PRIu64 SEG_SUFFIX, interval_start, boot_id, first_seq);
	assert(n > 0 && n < BS_SPOOL_NAME_MAX);
	(void)n;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

int bs_spool_write(struct bs_spool *spool, const char *name,
		   const char *data, size_t len, char *err, size_t err_size)
{
	if (check_name(spool, name, err, err_size) < 0)
		return -1;
	if (len > BS_SPOOL_MAX_SEGMENT) {
		snprintf(err, err_size, "spool %s/%s: segment of %zu bytes "
			 "exceeds %u", spool->dir, name, len, BS_SPOOL_MAX_SEGMENT);
		return -1;
	}
	char tmp[BS_SPOOL_NAME_MAX + sizeof(TMP_SUFFIX)];
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, name);

	int fd = openat(spool->dirfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
			SPOOL_FILE_MODE);
	if (fd < 0)
		return sys_error(err, err_size, "spool: create", spool->dir, tmp);
	if (write_all(fd, data, len) < 0) {
		sys_error(err, err_size, "spool: write", spool->dir, tmp);
		goto fail;
	}
	if (fsync(fd) < 0) {
		sys_error(err, err_size, "spool: fsync", spool->dir, tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		sys_error(err, err_size, "spool: close", spool->dir, tmp);
		goto fail;
	}
	fd = -1;

	struct stat st;
	bool replaced = fstatat(spool->dirfd, name, &st, 0) == 0;
	if (renameat(spool->dirfd, tmp, spool->dirfd, name) < 0) {
		sys_error(err, err_size, "spool: rename", spool->dir, tmp);
		goto fail;
	}
	if (!replaced)
		atomic_fetch_add(&spool->depth, 1);
	if (fsync(spool->dirfd) < 0)
		return sys_error(err, err_size, "spool: fsync", spool->dir, NULL);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(spool->dirfd, tmp, 0);
	return -1;
}

int bs_spool_read(struct bs_spool *spool, const char *name, char **data,
		  size_t *len, char *err, size_t err_size)
{
	if (check_name(spool, name, err, err_size) < 0)
		return -1;
	int fd = openat(spool->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sys_error(err, err_size, "spool: open", spool->dir, name);

	struct stat st;
	if (fstat(fd, &st) < 0) {
		sys_error(err, err_size, "spool: stat", spool->dir, name);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > BS_SPOOL_MAX_SEGMENT) {
		snprintf(err, err_size, "spool %s/%s: not a regular file of at "
			 "most %u bytes", spool->dir, name, BS_SPOOL_MAX_SEGMENT);
		close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	char *buf = malloc(size + 1);
	if (buf == NULL) {
		sys_error(err, err_size, "spool: read", spool->dir, name);
		close(fd);
		return -1;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				snprintf(err, err_size, "spool %s/%s: shrank "
					 "while reading", spool->dir, name);
			else
				sys_error(err, err_size, "spool: read",
					  spool->dir, name);
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[size] = '\0';
	*data = buf;
	*len = size;
	return 0;
}

int bs_spool_remove(struct bs_spool *spool, const char *name,
		    char *err, size_t err_size)
{
	if (check_name(spool, name, err, err_size) < 0)
		return -1;
	if (unlinkat(spool->dirfd, name, 0) < 0)
		return sys_error(err, err_size, "spool: unlink", spool->dir, name);
	/* A segment copied in by hand is only counted by the next list. */
	if (atomic_load(&spool->depth) > 0)
		atomic_fetch_sub(&spool->depth, 1);
	/* Not strictly needed (a segment that comes back is re-sent and
	 * ignored downstream as a duplicate), but keeps depth honest. */
	if (fsync(spool->dirfd) < 0)
		return sys_error(err, err_size, "spool: fsync", spool->dir, NULL);
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int bs_spool_list(struct bs_spool *spool, char ***names, size_t *count,
		  char *err, size_t err_size)
{
	char **list = NULL;
	size_t n = 0;
	if (scan(spool, false, &list, &n, err, err_size) < 0)
		return -1;
	if (n > 1)
		qsort(list, n, sizeof(*list), compare_names);
	*names = list;
	*count = n;
	return 0;
}

void bs_spool_list_free(char **names, size_t count)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

size_t bs_spool_depth(const struct bs_spool *spool)
{
	return atomic_load(&spool->depth);
}

int64_t bs_spool_written(const struct bs_spool *spool, const char *name)
{
	struct stat st;
	if (fstatat(spool->dirfd, name, &st, 0) != 0)
		return (int64_t)time(NULL);
	return (int64_t)st.st_mtime;
}
