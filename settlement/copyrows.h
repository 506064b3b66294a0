/*
 * copyrows.h — reads a binary COPY (FORMAT binary) whose rows are three
 * 8-byte fields each (int8 or timestamptz), or two and a compacted day's
 * buckets, one CopyData message at a time as PQgetCopyData hands them out:
 * the month close's usage streams (finance/close.c) and a statement's
 * samples (statement/statement.c).
 * Inline: the close calls it for every row of a month (17 million).
 */
#ifndef BS_COPYROWS_H
#define BS_COPYROWS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Where a stream is: its header read, its trailer read. Zero it first. */
struct bs_copy3 {
	bool header;
	bool trailer;
};

#define BS_COPY_SIGNATURE "PGCOPY\n\377\r\n"
#define BS_COPY_SIGNATURE_LEN 11
#define BS_COPY3_ROW_LEN (2 + 3 * (4 + 8))   /* field count, 3 × (length, value) */

static inline uint64_t bs_copy_be64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap64(v);
}

static inline uint32_t bs_copy_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Takes the stream's header at the start of its first message: 1 when
 * the message [*p, end) has rows (or the trailer) left, 0 when it is used
 * up, -1 when the header is not PostgreSQL's. */
static inline int bs_copy_header(struct bs_copy3 *c, const unsigned char **p,
				 const unsigned char *end)
{
	const unsigned char *q = *p;
	if (!c->header) {
		if (end - q < BS_COPY_SIGNATURE_LEN + 8 ||
		    memcmp(q, BS_COPY_SIGNATURE, BS_COPY_SIGNATURE_LEN) != 0)
			return -1;
		uint32_t ext = bs_copy_be32(q + BS_COPY_SIGNATURE_LEN + 4);
		q += BS_COPY_SIGNATURE_LEN + 8;
		if ((uint64_t)(end - q) < ext)
			return -1;
		*p = q + ext;
		c->header = true;
	}
	return *p == end ? 0 : 1;
}

/* Takes the trailer when [*p, end) is exactly it: 0, else -1. */
static inline int bs_copy_trailer(struct bs_copy3 *c, const unsigned char **p,
				  const unsigned char *end)
{
	const unsigned char *q = *p;
	if (!c->trailer && end - q == 2 && q[0] == 0xff && q[1] == 0xff) {
		c->trailer = true;
		*p = end;
		return 0;
	}
	return -1;
}

/* The next row of the message [*p, end): 1 with v[0..2] set and *p past
 * the row; 0 when the message is used up (the stream's header and trailer
 * are taken on the way); -1 when it holds anything else (no signature,
 * another row shape, bytes after the trailer). */
static inline int bs_copy3_next(struct bs_copy3 *c, const unsigned char **p,
				const unsigned char *end, int64_t v[3])
{
	int h = bs_copy_header(c, p, end);
	if (h <= 0)
		return h;
	const unsigned char *q = *p;
	if (!c->trailer && end - q >= BS_COPY3_ROW_LEN && q[0] == 0 && q[1] == 3 &&
	    bs_copy_be32(q + 2) == 8 && bs_copy_be32(q + 14) == 8 &&
	    bs_copy_be32(q + 26) == 8) {
		v[0] = (int64_t)bs_copy_be64(q + 6);
		v[1] = (int64_t)bs_copy_be64(q + 18);
		v[2] = (int64_t)bs_copy_be64(q + 30);
		*p = q + BS_COPY3_ROW_LEN;
		return 1;
	}
	return bs_copy_trailer(c, p, end);
}

/* A compacted day's row (usage_day, 0029): two 8-byte fields, then the
 * day's BS_COPY_DAY_SLOTS buckets as big-endian int8 (one bytea). */
#define BS_COPY_DAY_SLOTS 288
#define BS_COPY_DAY_ROW_LEN (2 + 2 * (4 + 8) + 4 + 8 * BS_COPY_DAY_SLOTS)

/* The next such row, as bs_copy3_next: v[0..1] set and *slots pointing
 * at its BS_COPY_DAY_SLOTS values (read them with bs_copy_be64). */
static inline int bs_copyday_next(struct bs_copy3 *c, const unsigned char **p,
				  const unsigned char *end, int64_t v[2],
				  const unsigned char **slots)
{
	int h = bs_copy_header(c, p, end);
	if (h <= 0)
		return h;
	const unsigned char *q = *p;
	if (!c->trailer && end - q >= BS_COPY_DAY_ROW_LEN && q[0] == 0 && q[1] == 3 &&
	    bs_copy_be32(q + 2) == 8 && bs_copy_be32(q + 14) == 8 &&
	    bs_copy_be32(q + 26) == 8 * BS_COPY_DAY_SLOTS) {
		v[0] = (int64_t)bs_copy_be64(q + 6);
		v[1] = (int64_t)bs_copy_be64(q + 18);
		*slots = q + 30;
		*p = q + BS_COPY_DAY_ROW_LEN;
		return 1;
	}
	return bs_copy_trailer(c, p, end);
}

/* Seconds since 1970 of a binary timestamptz (microseconds since
 * 2000-01-01 UTC), rounded half to even as date_part(...)::bigint does. */
static inline int64_t bs_copy_timestamp_epoch(int64_t us)
{
	int64_t q = us / 1000000, r = us % 1000000;
	if (r < 0) {
		q--;
		r += 1000000;
	}
	if (r > 500000 || (r == 500000 && (q & 1)))
		q++;
	return q + 946684800;
}

#endif
