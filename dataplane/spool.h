/*
 * spool.h — the on-disk spool of records not yet acknowledged by Kafka.
 *
 * A segment is one file holding the records of one closed interval, one
 * encoded record per line. It is written atomically (temporary file, fsync,
 * rename, fsync of the directory) before any of its records is produced, and
 * removed only when Kafka has acknowledged every record in it. After a crash
 * (kill -9 included) the segments still present are re-sent; the record
 * identity makes the re-sending harmless downstream.
 *
 * Segment names sort in the order they were written:
 *   "<interval_start:012>-<boot_id>-<first_seq:010>.seg"
 * Leftover temporary files are deleted on open.
 */
#ifndef BS_SPOOL_H
#define BS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define BS_SPOOL_NAME_MAX     96
#define BS_SPOOL_MAX_SEGMENT  (64u << 20)  /* bytes per segment */

struct bs_spool;

/* Opens (creating if needed, mode 0750) the spool directory. */
struct bs_spool *bs_spool_open(const char *dir, char *err, size_t err_size);
void bs_spool_close(struct bs_spool *spool);

/* Formats a segment name into name[BS_SPOOL_NAME_MAX]. */
void bs_spool_segment_name(char *name, int64_t interval_start,
			   const char *boot_id, uint64_t first_seq);

/* Durably writes a whole segment. Returns 0 or -1 with err. */
int bs_spool_write(struct bs_spool *spool, const char *name,
		   const char *data, size_t len, char *err, size_t err_size);

/* Reads a whole segment into a malloc'd buffer (*data, *len). */
int bs_spool_read(struct bs_spool *spool, const char *name, char **data,
		  size_t *len, char *err, size_t err_size);

/* Removes an acknowledged segment. */
int bs_spool_remove(struct bs_spool *spool, const char *name,
		    char *err, size_t err_size);

/* Lists the segments present, sorted by name, into a malloc'd array of
 * malloc'd names. Free with bs_spool_list_free. */
int bs_spool_list(struct bs_spool *spool, char ***names, size_t *count,
		  char *err, size_t err_size);
void bs_spool_list_free(char **names, size_t count);

/* When a segment's file was written (its mtime, Unix seconds; now if it
 * cannot be read): for the age of the oldest pending segment. */
int64_t bs_spool_written(const struct bs_spool *spool, const char *name);

/* Segments currently on disk (kept up to date by write/remove). */
size_t bs_spool_depth(const struct bs_spool *spool);

#endif
