/*
 * batch.h — assembles the Kafka messages of one settlement transaction into
 * what store.c sends to PostgreSQL: the usage rows as one COPY stream in
 * PostgreSQL's binary COPY format (COPY usage_raw (...) FROM STDIN (FORMAT
 * binary)), the summaries, rejected messages and the batch's own rollup
 * sums as binary array parameters (INSERT ... SELECT FROM unnest($1, ...)).
 *
 * A batch holds usage rows, summary rows and rejected messages, and for
 * every Kafka partition it touched the first and last offset: the next
 * offset to store is last + 1. It also collects the distinct UTC days of
 * the intervals (the raw table's partitions must exist before the insert).
 * Limits are fixed at creation (max records, SETTLE_BATCH_MAX_DAYS days,
 * SETTLE_BATCH_MAX_PARTS partitions); adding beyond them returns
 * BATCH_FULL and the caller sends the batch first. Buffers are allocated
 * once at creation, sized for the limit; bs_pgarray grows only for text
 * longer than planned (rejected payloads). Pure: no I/O.
 */
#ifndef BS_SETTLE_BATCH_H
#define BS_SETTLE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define SETTLE_BATCH_MAX_DAYS   64
#define SETTLE_BATCH_MAX_PARTS  1024   /* partitions per batch */
#define SETTLE_PARTITION_MAX    65535  /* highest partition id accepted */
#define SETTLE_REJECT_PAYLOAD_MAX 65536 /* payload bytes kept in the table */
#define SETTLE_REJECT_ERROR_MAX 512

/* PostgreSQL type oids of the elements (pg_type.h). */
#define PG_OID_BOOL        16
#define PG_OID_BYTEA       17
#define PG_OID_INT8        20
#define PG_OID_INT2        21
#define PG_OID_INT4        23
#define PG_OID_TEXT        25
#define PG_OID_UUID        2950
#define PG_OID_TIMESTAMPTZ 1184
/* ... and of their arrays */
#define PG_OID_BOOL_ARRAY        1000
#define PG_OID_BYTEA_ARRAY       1001
#define PG_OID_INT4_ARRAY        1007
#define PG_OID_TEXT_ARRAY        1009
#define PG_OID_INT8_ARRAY        1016
#define PG_OID_TIMESTAMPTZ_ARRAY 1185
#define PG_OID_UUID_ARRAY        2951

/* One one-dimensional array in PostgreSQL's binary format, being built. */
struct bs_pgarray {
	uint32_t elem_oid;
	uint32_t count;
	bool has_null;
	char *buf;
	size_t len, cap;
};

int bs_pgarray_init(struct bs_pgarray *a, uint32_t elem_oid, size_t cap);
void bs_pgarray_free(struct bs_pgarray *a);
void bs_pgarray_reset(struct bs_pgarray *a);
/* Each add returns 0, or -1 if memory ran out. */
int bs_pgarray_add_i64(struct bs_pgarray *a, int64_t v);
int bs_pgarray_add_i32(struct bs_pgarray *a, int32_t v);
int bs_pgarray_add_bytes(struct bs_pgarray *a, const void *p, size_t n); /* text, bytea */
int bs_pgarray_add_uuid_hex(struct bs_pgarray *a, const char *hex32);
int bs_pgarray_add_unix_time(struct bs_pgarray *a, int64_t unix_s);       /* timestamptz */
int bs_pgarray_add_bool(struct bs_pgarray *a, bool v);
int bs_pgarray_add_i16(struct bs_pgarray *a, int16_t v);
/* a value in its binary field form (int32 length >= 0, then the bytes),
 * as a binary COPY stream carries it */
int bs_pgarray_add_field(struct bs_pgarray *a, const char *field);
int bs_pgarray_add_null(struct bs_pgarray *a);
/* Writes the header; returns the finished bytes (valid until the next add
 * or reset) and their length. */
const char *bs_pgarray_finish(struct bs_pgarray *a, int *len);

/* The columns of a usage row in the COPY stream, in this order (store.c
 * names them in its COPY statements). */
#define SETTLE_COPY_COLUMNS \
	"node_id, boot_id, seq, interval_start, interval_len, byte_measure," \
	" map_version, tenant_id, pool_id, direction, packets, bytes," \
	" policed_packets, policed_bytes, late"
#define SETTLE_COPY_NCOLS 15
/* Bytes of one row at most: field count, 15 lengths, the values. */
#define SETTLE_COPY_ROW_MAX (2 + SETTLE_COPY_NCOLS * 4 + BS_NODE_ID_MAX + 16 + \
			     9 * 8 + 4 + 5 + 3 + 1)
/* Bytes of a binary COPY stream besides its rows: header and trailer. */
#define SETTLE_COPY_FRAMING (19 + 2)
/* A replayed batch's identities (ARCHITECTURE.md: node_id, boot_id,
 * interval_start, tenant_id, pool_id, direction) go as seven binary array
 * parameters (settle_batch_identity_arrays): per node's interval — (node,
 * boot, interval) — its node_id, boot_id, interval_start and the first and
 * last (1-based) of its elements in the two arrays that follow; per
 * element a (tenant_id, pool_id) pair as tenant_id << 32 | pool_id (both
 * are uint32) and the set of its directions as a bit mask
 * (SETTLE_DIR_BIT_*). */
/* Per element too, the counts of its 'in' and of its 'out' record
 * (packets, bytes, policed packets, policed bytes; 0 for a direction not
 * in the batch): a stored row counts only if its counts are equal, so a
 * record stored with other counts (an identity conflict) keeps the batch
 * off the replay's fast path. */
enum {
	SETTLE_ID_NODE, SETTLE_ID_BOOT, SETTLE_ID_START, SETTLE_ID_FIRST,
	SETTLE_ID_LAST, SETTLE_ID_PAIR, SETTLE_ID_DIRS,
	SETTLE_ID_IN_COUNTS,                          /* 4 arrays */
	SETTLE_ID_OUT_COUNTS = SETTLE_ID_IN_COUNTS + 4, /* 4 arrays */
	SETTLE_ID_NCOLS = SETTLE_ID_OUT_COUNTS + 4
};
#define SETTLE_DIR_BIT_IN  1   /* direction 'in' */
#define SETTLE_DIR_BIT_OUT 2   /* direction 'out' */

enum {
	SUM_NODE, SUM_BOOT, SUM_START, SUM_LEN, SUM_MEASURE, SUM_MAP_VERSION,
	SUM_SEQ, SUM_RECORD_COUNT, SUM_FIRST_SEQ,
	SUM_IN_PACKETS, SUM_IN_BYTES, SUM_OUT_PACKETS, SUM_OUT_BYTES,
	SUM_UNATTR_PACKETS, SUM_UNATTR_BYTES, SUM_MALFORMED_PACKETS,
	SUM_MALFORMED_BYTES, SUM_NON_IP_PACKETS, SUM_NON_IP_BYTES,
	SUM_RX_PACKETS, SUM_RX_BYTES, SUM_LATE,
	/* v2 summaries only; NULL for v1 */
	SUM_LATE_PACKETS, SUM_LATE_BYTES, SUM_MAL_REASON,
	SUM_NCOLS = SUM_MAL_REASON + BS_RECORD_MAL_REASONS
};

enum {
	REJ_PARTITION, REJ_OFFSET, REJ_KEY, REJ_PAYLOAD, REJ_PAYLOAD_BYTES,
	REJ_REASON, REJ_ERROR, REJ_SHA256,
	REJ_NCOLS
};

/* The batch's own sums per (tenant, pool, direction, 5-minute bucket), for
 * the rollup when every record turns out new (store.c). */
enum {
	AGG_TENANT, AGG_POOL, AGG_DIR, AGG_BUCKET, AGG_FRAME_PACKETS,
	AGG_FRAME_BYTES, AGG_IP_PACKETS, AGG_IP_BYTES, AGG_POLICED_PACKETS,
	AGG_POLICED_BYTES, AGG_RECORDS, AGG_LATE,
	AGG_NCOLS
};
#define AGG_SUMS (AGG_NCOLS - AGG_FRAME_PACKETS)

struct settle_agg {
	uint32_t tenant, pool;
	enum bs_direction dir;
	int64_t bucket;          /* Unix seconds, multiple of 300 */
	uint32_t pos;            /* its place in the hash index */
	uint64_t sum[AGG_SUMS];
};

struct settle_id_key;

struct settle_batch_part {
	int32_t partition;
	int64_t first_offset;
	int64_t last_offset;
	uint32_t messages;
};

struct settle_batch {
	uint32_t max_records;
	uint32_t messages;           /* everything added */
	uint32_t usage_count, summary_count, reject_count;
	char *copy;                  /* the usage rows' COPY stream */
	size_t copy_len, copy_cap;   /* copy_cap: room for the trailer too */
	struct bs_record first;      /* the first usage record (head, usage) */
	int64_t start_min, start_max; /* the usage records' interval_start range */
	struct bs_pgarray summary[SUM_NCOLS];
	struct bs_pgarray reject[REJ_NCOLS];
	struct settle_batch_part parts[SETTLE_BATCH_MAX_PARTS];
	uint32_t nparts;
	int32_t days[SETTLE_BATCH_MAX_DAYS];   /* days since the epoch, UTC */
	uint32_t ndays;
	int32_t part_slot[SETTLE_PARTITION_MAX + 1]; /* partition → parts[] + 1 */
	struct settle_agg *agg;      /* max_records of them */
	struct settle_id_key *id_keys; /* max_records: settle_batch_identity_arrays' */
	struct bs_pgarray idcol[SETTLE_ID_NCOLS];
	bool id_conflict;            /* two copies of an identity, other counts */
	/* where each usage row and summary was read (Kafka partition, offset),
	 * in batch order: names the message of an identity conflict */
	struct bs_pgarray usage_src[2], summary_src[2];
	uint32_t nagg;
	uint32_t *agg_index;         /* open addressing: agg[] + 1, 0 = free */
	uint32_t agg_mask;
	bool agg_overflow;           /* a sum passed INT64_MAX: not usable */
	struct bs_pgarray aggcol[AGG_NCOLS];
};

enum settle_batch_add { BATCH_ADDED = 0, BATCH_FULL = 1, BATCH_ERROR = -1 };

struct settle_batch *settle_batch_new(uint32_t max_records);
void settle_batch_free(struct settle_batch *b);
void settle_batch_reset(struct settle_batch *b);

/* Adds a valid record read at (partition, offset); late: its interval
 * ended long before now (flagged in the tables). Offsets of a partition
 * must increase. BATCH_FULL: not added, send the batch first. */
enum settle_batch_add settle_batch_add_record(struct settle_batch *b,
	int32_t partition, int64_t offset, const struct bs_record *rec, bool late);

/* Adds a rejected message (payload cut to SETTLE_REJECT_PAYLOAD_MAX; the
 * SHA-256 of the whole of it kept too). */
enum settle_batch_add settle_batch_add_reject(struct settle_batch *b,
	int32_t partition, int64_t offset, const void *key, size_t key_len,
	const void *payload, size_t len, const char *reason, const char *error);

/* The usage rows' COPY stream (binary format: header, rows, trailer);
 * valid until the next add or reset. Requires usage_count > 0. */
const char *settle_batch_copy_data(struct settle_batch *b, size_t *len);

/* Writes the batch's distinct usage identities into idcol[] (see
 * SETTLE_ID_*) and returns their number (the bits set in all the masks; a
 * record twice in the batch counts once), or -1 if memory ran out. Nodes'
 * intervals and their pairs come in the order of usage_raw's identity
 * index (interval_start, boot_id, tenant_id, pool_id first): probed in
 * that order, one descent finds the pages of the next in the CPU's
 * caches. For checking a replayed batch with one index descent per
 * (node, boot, interval, tenant, pool) instead of one per record
 * (store.c). Sets id_conflict when two copies of an identity in the batch
 * have other counts. */
int64_t settle_batch_identity_arrays(struct settle_batch *b);

/* Writes the sums into aggcol[]; false when they cannot be used (a sum
 * overflowed): the server then sums the inserted rows itself. */
bool settle_batch_aggregates(struct settle_batch *b);

static inline bool settle_batch_empty(const struct settle_batch *b)
{
	return b->messages == 0;
}

/* UTC day of a Unix time (floor division). */
int32_t settle_day_of(int64_t unix_s);

#endif
