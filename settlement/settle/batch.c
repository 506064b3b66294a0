/*
 * batch.c — Kafka messages → one transaction's data: the usage rows as a
 * binary COPY stream, summaries, rejects and the rollup sums as binary
 * array parameters. See batch.h. Both carry each value in the same binary
 * field form (the field_* writers below). PostgreSQL's binary array format
 * (array_send): int32 ndim, int32 has-null flag, uint32 element type, then
 * per dimension int32 size and int32 lower bound, then per element int32
 * length (-1 for NULL) and the element's binary form; all integers
 * big-endian.
 */
#include "batch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#define ARRAY_HEADER 20
#define PG_EPOCH_UNIX INT64_C(946684800)   /* 2000-01-01T00:00:00Z */

static void put_be32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static void put_be64(char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint64_t get_be64(const char *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* --- binary fields ----------------------------------------------------- */

/* One value in PostgreSQL's binary wire form, as an array element and a
 * binary COPY field both carry it: int32 length, then the value. Each
 * writes at p and returns the byte after it. */
#define FIELD_I64 12
#define FIELD_I32 8
#define FIELD_I16 6
#define FIELD_UUID 20
#define FIELD_BOOL 5

static char *field_i64(char *p, int64_t v)
{
	put_be32(p, 8);
	put_be64(p + 4, (uint64_t)v);
	return p + FIELD_I64;
}

static char *field_i32(char *p, int32_t v)
{
	put_be32(p, 4);
	put_be32(p + 4, (uint32_t)v);
	return p + FIELD_I32;
}

static char *field_i16(char *p, int16_t v)
{
	put_be32(p, 2);
	p[4] = (char)((uint16_t)v >> 8);
	p[5] = (char)v;
	return p + FIELD_I16;
}

static char *field_text(char *p, const void *text, size_t n)
{
	assert(n <= INT32_MAX);
	put_be32(p, (uint32_t)n);
	if (n > 0)
		memcpy(p + 4, text, n);
	return p + 4 + n;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* a uuid from the record's 32 lowercase hex digits */
static char *field_uuid_hex(char *p, const char *hex32)
{
	put_be32(p, 16);
	for (int i = 0; i < 16; i++) {
		int hi = hex_value(hex32[2 * i]), lo = hex_value(hex32[2 * i + 1]);
		assert(hi >= 0 && lo >= 0);   /* bs_record_decode checked it */
		p[4 + i] = (char)((hi << 4) | lo);
	}
	return p + FIELD_UUID;
}

/* a timestamptz: microseconds since 2000-01-01; |unix_s| < 2^42 by the
 * record's range checks, so this cannot overflow */
static char *field_unix_time(char *p, int64_t unix_s)
{
	assert(unix_s > -(INT64_C(1) << 42) && unix_s < (INT64_C(1) << 42));
	return field_i64(p, (unix_s - PG_EPOCH_UNIX) * 1000000);
}

static char *field_bool(char *p, bool v)
{
	put_be32(p, 1);
	p[4] = v ? 1 : 0;
	return p + FIELD_BOOL;
}

int bs_pgarray_init(struct bs_pgarray *a, uint32_t elem_oid, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->elem_oid = elem_oid;
	a->cap = cap < 64 ? 64 : cap;
	a->buf = malloc(a->cap);
	if (a->buf == NULL)
		return -1;
	bs_pgarray_reset(a);
	return 0;
}

void bs_pgarray_free(struct bs_pgarray *a)
{
	free(a->buf);
	a->buf = NULL;
	a->cap = a->len = 0;
}

void bs_pgarray_reset(struct bs_pgarray *a)
{
	a->len = ARRAY_HEADER;
	a->count = 0;
	a->has_null = false;
}

/* Room for n more bytes; grows (doubling) only past the planned size. */
static int reserve(struct bs_pgarray *a, size_t n)
{
	if (a->len + n <= a->cap)
		return 0;
	size_t cap = a->cap;
	while (cap < a->len + n)
		cap *= 2;
	char *p = realloc(a->buf, cap);
	if (p == NULL)
		return -1;
	a->buf = p;
	a->cap = cap;
	return 0;
}

/* Counts the element a field writer just put at the end of the array. */
static int added(struct bs_pgarray *a, const char *end)
{
	assert(end > a->buf + a->len && end <= a->buf + a->cap);
	a->len = (size_t)(end - a->buf);
	a->count++;
	return 0;
}

int bs_pgarray_add_i64(struct bs_pgarray *a, int64_t v)
{
	assert(a->elem_oid == PG_OID_INT8);
	if (reserve(a, FIELD_I64) < 0)
		return -1;
	return added(a, field_i64(a->buf + a->len, v));
}

int bs_pgarray_add_i32(struct bs_pgarray *a, int32_t v)
{
	assert(a->elem_oid == PG_OID_INT4);
	if (reserve(a, FIELD_I32) < 0)
		return -1;
	return added(a, field_i32(a->buf + a->len, v));
}

int bs_pgarray_add_bytes(struct bs_pgarray *a, const void *p, size_t n)
{
	assert(a->elem_oid == PG_OID_TEXT || a->elem_oid == PG_OID_BYTEA);
	assert(n <= INT32_MAX);
	if (reserve(a, 4 + n) < 0)
		return -1;
	return added(a, field_text(a->buf + a->len, p, n));
}

int bs_pgarray_add_field(struct bs_pgarray *a, const char *field)
{
	uint32_t n = get_be32(field);
	assert(n <= INT32_MAX);   /* not a NULL */
	if (reserve(a, 4 + (size_t)n) < 0)
		return -1;
	memcpy(a->buf + a->len, field, 4 + (size_t)n);
	return added(a, a->buf + a->len + 4 + n);
}

int bs_pgarray_add_i16(struct bs_pgarray *a, int16_t v)
{
	assert(a->elem_oid == PG_OID_INT2);
	if (reserve(a, FIELD_I16) < 0)
		return -1;
	return added(a, field_i16(a->buf + a->len, v));
}

int bs_pgarray_add_uuid_hex(struct bs_pgarray *a, const char *hex32)
{
	assert(a->elem_oid == PG_OID_UUID);
	if (reserve(a, FIELD_UUID) < 0)
		return -1;
	return added(a, field_uuid_hex(a->buf + a->len, hex32));
}

int bs_pgarray_add_unix_time(struct bs_pgarray *a, int64_t unix_s)
{
	assert(a->elem_oid == PG_OID_TIMESTAMPTZ);
	if (reserve(a, FIELD_I64) < 0)
		return -1;
	return added(a, field_unix_time(a->buf + a->len, unix_s));
}

int bs_pgarray_add_bool(struct bs_pgarray *a, bool v)
{
	assert(a->elem_oid == PG_OID_BOOL);
	if (reserve(a, FIELD_BOOL) < 0)
		return -1;
	return added(a, field_bool(a->buf + a->len, v));
}

int bs_pgarray_add_null(struct bs_pgarray *a)
{
	if (reserve(a, 4) < 0)
		return -1;
	put_be32(a->buf + a->len, UINT32_MAX);   /* -1 */
	a->len += 4;
	a->count++;
	a->has_null = true;
	return 0;
}

const char *bs_pgarray_finish(struct bs_pgarray *a, int *len)
{
	assert(a->len <= INT32_MAX);
	put_be32(a->buf, 1);                       /* ndim */
	put_be32(a->buf + 4, a->has_null ? 1 : 0);
	put_be32(a->buf + 8, a->elem_oid);
	put_be32(a->buf + 12, a->count);           /* dimension size */
	put_be32(a->buf + 16, 1);                  /* lower bound */
	*len = (int)a->len;
	return a->buf;
}

/* --- the batch -------------------------------------------------------- */

/* The binary COPY header: signature, flags, header extension length. */
static const char COPY_HEADER[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
#define COPY_TRAILER 2                     /* int16 -1 */
static_assert(sizeof(COPY_HEADER) + COPY_TRAILER == SETTLE_COPY_FRAMING, "batch.h");

/* One usage row's identity, for sorting and grouping a replayed batch:
 * interval_start and boot_id side by side as they stand in the COPY row,
 * big-endian (for the values the schema allows, times after 2000, their
 * byte order is the index's order), its node_id field (int32 length,
 * bytes) in the COPY stream, tenant_id << 32 | pool_id and its
 * direction's bit. */
#define ID_START_BOOT (8 + 16)
struct settle_id_key {
	unsigned char start_boot[ID_START_BOOT];
	const char *node;
	uint64_t tenant_pool;
	unsigned dir_bit;
	int64_t counts[4];   /* packets, bytes, policed packets, policed bytes */
};

static uint32_t summary_oid(int col)
{
	switch (col) {
	case SUM_NODE: case SUM_MEASURE: return PG_OID_TEXT;
	case SUM_BOOT: return PG_OID_UUID;
	case SUM_START: return PG_OID_TIMESTAMPTZ;
	case SUM_LEN: case SUM_RECORD_COUNT: return PG_OID_INT4;
	case SUM_LATE: return PG_OID_BOOL;
	default: return PG_OID_INT8;
	}
}

static const uint32_t reject_oids[REJ_NCOLS] = {
	[REJ_PARTITION] = PG_OID_INT4, [REJ_OFFSET] = PG_OID_INT8,
	[REJ_KEY] = PG_OID_BYTEA, [REJ_PAYLOAD] = PG_OID_BYTEA,
	[REJ_PAYLOAD_BYTES] = PG_OID_INT4, [REJ_REASON] = PG_OID_TEXT,
	[REJ_ERROR] = PG_OID_TEXT, [REJ_SHA256] = PG_OID_BYTEA,
};

/* Planned bytes per element: the 4-byte length plus the typical value. */
static size_t planned(uint32_t oid)
{
	switch (oid) {
	case PG_OID_INT8: case PG_OID_TIMESTAMPTZ: return 12;
	case PG_OID_INT4: return 8;
	case PG_OID_BOOL: return 5;
	case PG_OID_UUID: return 20;
	default: return 4 + 24;
	}
}

static const uint32_t agg_oids[AGG_NCOLS] = {
	[AGG_TENANT] = PG_OID_INT8, [AGG_POOL] = PG_OID_INT8,
	[AGG_DIR] = PG_OID_TEXT, [AGG_BUCKET] = PG_OID_TIMESTAMPTZ,
	[AGG_FRAME_PACKETS] = PG_OID_INT8, [AGG_FRAME_BYTES] = PG_OID_INT8,
	[AGG_IP_PACKETS] = PG_OID_INT8, [AGG_IP_BYTES] = PG_OID_INT8,
	[AGG_POLICED_PACKETS] = PG_OID_INT8, [AGG_POLICED_BYTES] = PG_OID_INT8,
	[AGG_RECORDS] = PG_OID_INT8, [AGG_LATE] = PG_OID_INT8,
};

void settle_batch_free(struct settle_batch *b)
{
	if (b == NULL)
		return;
	for (int i = 0; i < AGG_NCOLS; i++)
		bs_pgarray_free(&b->aggcol[i]);
	free(b->agg);
	free(b->agg_index);
	free(b->id_keys);
	for (int i = 0; i < SETTLE_ID_NCOLS; i++)
		bs_pgarray_free(&b->idcol[i]);
	free(b->copy);
	for (int i = 0; i < SUM_NCOLS; i++)
		bs_pgarray_free(&b->summary[i]);
	for (int i = 0; i < REJ_NCOLS; i++)
		bs_pgarray_free(&b->reject[i]);
	for (int i = 0; i < 2; i++) {
		bs_pgarray_free(&b->usage_src[i]);
		bs_pgarray_free(&b->summary_src[i]);
	}
	free(b);
}

struct settle_batch *settle_batch_new(uint32_t max_records)
{
	assert(max_records >= 1);
	struct settle_batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->max_records = max_records;
	int rc = 0;
	b->copy_cap = sizeof(COPY_HEADER) + (size_t)max_records * SETTLE_COPY_ROW_MAX +
		      COPY_TRAILER;
	b->copy = malloc(b->copy_cap);
	if (b->copy == NULL)
		rc = -1;
	else
		memcpy(b->copy, COPY_HEADER, sizeof(COPY_HEADER));
	/* summaries: one per node and interval, far fewer than usage rows */
	for (int i = 0; i < SUM_NCOLS; i++)
		rc |= bs_pgarray_init(&b->summary[i], summary_oid(i),
				      ARRAY_HEADER + (max_records / 8 + 1) *
				      planned(summary_oid(i)));
	for (int i = 0; i < REJ_NCOLS; i++)
		rc |= bs_pgarray_init(&b->reject[i], reject_oids[i], 4096);
	for (int i = 0; i < AGG_NCOLS; i++)
		rc |= bs_pgarray_init(&b->aggcol[i], agg_oids[i],
				      ARRAY_HEADER + max_records * planned(agg_oids[i]));
	uint32_t slots = 1;
	while (slots < 2 * max_records)
		slots *= 2;
	b->agg_mask = slots - 1;
	b->agg = calloc(max_records, sizeof(*b->agg));
	b->agg_index = calloc(slots, sizeof(*b->agg_index));
	b->id_keys = calloc(max_records, sizeof(*b->id_keys));
	static const uint32_t id_oids[SETTLE_ID_NCOLS] = {
		PG_OID_TEXT, PG_OID_UUID, PG_OID_TIMESTAMPTZ, PG_OID_INT4,
		PG_OID_INT4, PG_OID_INT8, PG_OID_INT2,
		PG_OID_INT8, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8,
		PG_OID_INT8, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8,
	};
	static const size_t id_elem[SETTLE_ID_NCOLS] = {
		4 + BS_NODE_ID_MAX, 4 + 16, 4 + 8, 4 + 4, 4 + 4, 4 + 8, 4 + 2,
		12, 12, 12, 12, 12, 12, 12, 12,
	};
	for (int i = 0; i < 2; i++) {
		uint32_t oid = i == 0 ? PG_OID_INT4 : PG_OID_INT8;
		rc |= bs_pgarray_init(&b->usage_src[i], oid, ARRAY_HEADER +
				      (size_t)max_records * planned(oid));
		rc |= bs_pgarray_init(&b->summary_src[i], oid, ARRAY_HEADER +
				      (max_records / 8 + 1) * planned(oid));
	}
	for (int i = 0; i < SETTLE_ID_NCOLS; i++)   /* room for one row a record */
		rc |= bs_pgarray_init(&b->idcol[i], id_oids[i],
				      ARRAY_HEADER + (size_t)max_records * id_elem[i]);
	if (b->agg == NULL || b->agg_index == NULL || b->id_keys == NULL)
		rc = -1;
	if (rc != 0) {
		settle_batch_free(b);
		return NULL;
	}
	memset(b->part_slot, 0, sizeof(b->part_slot));
	settle_batch_reset(b);
	return b;
}

void settle_batch_reset(struct settle_batch *b)
{
	b->copy_len = sizeof(COPY_HEADER);
	for (int i = 0; i < SUM_NCOLS; i++)
		bs_pgarray_reset(&b->summary[i]);
	for (int i = 0; i < REJ_NCOLS; i++)
		bs_pgarray_reset(&b->reject[i]);
	for (int i = 0; i < 2; i++) {
		bs_pgarray_reset(&b->usage_src[i]);
		bs_pgarray_reset(&b->summary_src[i]);
	}
	b->id_conflict = false;
	for (uint32_t i = 0; i < b->nparts; i++)
		b->part_slot[b->parts[i].partition] = 0;
	b->nparts = 0;
	for (uint32_t i = 0; i < b->nagg; i++)
		b->agg_index[b->agg[i].pos] = 0;
	b->nagg = 0;
	b->agg_overflow = false;
	b->ndays = 0;
	b->messages = b->usage_count = b->summary_count = b->reject_count = 0;
}

int32_t settle_day_of(int64_t unix_s)
{
	int64_t d = unix_s / 86400;
	if (unix_s % 86400 < 0)
		d--;
	return (int32_t)d;
}

/* Checks that (partition, offset, day) fit; does not change the batch. */
static enum settle_batch_add fits(const struct settle_batch *b, int32_t partition,
				  bool has_day, int32_t day)
{
	if (partition < 0 || partition > SETTLE_PARTITION_MAX)
		return BATCH_ERROR;
	if (b->messages >= b->max_records)
		return BATCH_FULL;
	if (b->part_slot[partition] == 0 && b->nparts == SETTLE_BATCH_MAX_PARTS)
		return BATCH_FULL;
	if (has_day) {
		bool known = false;
		for (uint32_t i = 0; i < b->ndays && !known; i++)
			known = b->days[i] == day;
		if (!known && b->ndays == SETTLE_BATCH_MAX_DAYS)
			return BATCH_FULL;
	}
	return BATCH_ADDED;
}

static void note(struct settle_batch *b, int32_t partition, int64_t offset,
		 bool has_day, int32_t day)
{
	int32_t slot = b->part_slot[partition];
	if (slot == 0) {
		struct settle_batch_part *p = &b->parts[b->nparts++];
		p->partition = partition;
		p->first_offset = offset;
		p->last_offset = offset;
		p->messages = 1;
		b->part_slot[partition] = (int32_t)b->nparts;
	} else {
		struct settle_batch_part *p = &b->parts[slot - 1];
		assert(offset > p->last_offset);
		p->last_offset = offset;
		p->messages++;
	}
	if (has_day) {
		bool known = false;
		for (uint32_t i = 0; i < b->ndays && !known; i++)
			known = b->days[i] == day;
		if (!known)
			b->days[b->ndays++] = day;
	}
	b->messages++;
}

static void add_sum(struct settle_batch *b, uint64_t *sum, uint64_t x)
{
	if (x > (uint64_t)INT64_MAX - *sum)
		b->agg_overflow = true;
	else
		*sum += x;
}

/* Adds a usage record to its (tenant, pool, direction, bucket) sums. */
static void aggregate(struct settle_batch *b, const struct bs_record *rec, bool late)
{
	const struct bs_usage *u = &rec->usage;
	int64_t bucket = rec->head.interval_start - rec->head.interval_start % 300;
	uint64_t h = ((uint64_t)u->tenant_id * UINT64_C(0x9e3779b97f4a7c15)) ^
		     ((uint64_t)u->pool_id * UINT64_C(0xc2b2ae3d27d4eb4f)) ^
		     ((uint64_t)bucket * UINT64_C(0x165667b19e3779f9)) ^ u->direction;
	h ^= h >> 29;
	uint32_t pos = (uint32_t)h & b->agg_mask;
	struct settle_agg *a = NULL;
	for (;;) {
		uint32_t slot = b->agg_index[pos];
		if (slot == 0) {
			assert(b->nagg < b->max_records);
			a = &b->agg[b->nagg++];
			memset(a, 0, sizeof(*a));
			a->tenant = u->tenant_id;
			a->pool = u->pool_id;
			a->dir = u->direction;
			a->bucket = bucket;
			a->pos = pos;
			b->agg_index[pos] = b->nagg;
			break;
		}
		a = &b->agg[slot - 1];
		if (a->tenant == u->tenant_id && a->pool == u->pool_id &&
		    a->dir == u->direction && a->bucket == bucket)
			break;
		pos = (pos + 1) & b->agg_mask;
	}
	int m = rec->head.measure == BS_MEASURE_IP ? 2 : 0;
	add_sum(b, &a->sum[AGG_FRAME_PACKETS - AGG_FRAME_PACKETS + m], u->counts.packets);
	add_sum(b, &a->sum[AGG_FRAME_BYTES - AGG_FRAME_PACKETS + m], u->counts.bytes);
	add_sum(b, &a->sum[AGG_POLICED_PACKETS - AGG_FRAME_PACKETS], u->policed.packets);
	add_sum(b, &a->sum[AGG_POLICED_BYTES - AGG_FRAME_PACKETS], u->policed.bytes);
	a->sum[AGG_RECORDS - AGG_FRAME_PACKETS]++;
	a->sum[AGG_LATE - AGG_FRAME_PACKETS] += late;
}

bool settle_batch_aggregates(struct settle_batch *b)
{
	if (b->agg_overflow)
		return false;
	for (int i = 0; i < AGG_NCOLS; i++)
		bs_pgarray_reset(&b->aggcol[i]);
	int rc = 0;
	for (uint32_t i = 0; i < b->nagg; i++) {
		const struct settle_agg *a = &b->agg[i];
		const char *dir = bs_direction_name(a->dir);
		rc |= bs_pgarray_add_i64(&b->aggcol[AGG_TENANT], a->tenant);
		rc |= bs_pgarray_add_i64(&b->aggcol[AGG_POOL], a->pool);
		rc |= bs_pgarray_add_bytes(&b->aggcol[AGG_DIR], dir, strlen(dir));
		rc |= bs_pgarray_add_unix_time(&b->aggcol[AGG_BUCKET], a->bucket);
		for (int k = 0; k < AGG_SUMS; k++)
			rc |= bs_pgarray_add_i64(&b->aggcol[AGG_FRAME_PACKETS + k],
						 (int64_t)a->sum[k]);
	}
	return rc == 0;
}

static int add_usage(struct settle_batch *b, const struct bs_record *rec, bool late)
{
	const struct bs_record_head *h = &rec->head;
	const struct bs_usage *u = &rec->usage;
	size_t node_len = strnlen(h->node_id, BS_NODE_ID_MAX + 1);
	assert(node_len <= BS_NODE_ID_MAX);   /* bs_record_decode checked it */
	assert(b->copy_len + SETTLE_COPY_ROW_MAX + COPY_TRAILER <= b->copy_cap);
	char *start = b->copy + b->copy_len, *p = start;
	p[0] = 0;
	p[1] = SETTLE_COPY_NCOLS;
	p += 2;
	p = field_text(p, h->node_id, node_len);
	p = field_uuid_hex(p, h->boot_id);
	p = field_i64(p, (int64_t)h->seq);
	p = field_unix_time(p, h->interval_start);
	p = field_i32(p, (int32_t)h->interval_len);
	const char *measure = bs_measure_name(h->measure);
	p = field_text(p, measure, strlen(measure));
	p = field_i64(p, (int64_t)h->map_version);
	p = field_i64(p, (int64_t)u->tenant_id);
	p = field_i64(p, (int64_t)u->pool_id);
	p = u->direction == BS_DIR_OUT ? field_text(p, "out", 3) : field_text(p, "in", 2);
	p = field_i64(p, (int64_t)u->counts.packets);
	p = field_i64(p, (int64_t)u->counts.bytes);
	p = field_i64(p, (int64_t)u->policed.packets);
	p = field_i64(p, (int64_t)u->policed.bytes);
	p = field_bool(p, late);
	assert((size_t)(p - start) <= SETTLE_COPY_ROW_MAX);
	b->copy_len += (size_t)(p - start);
	if (b->usage_count == 0) {
		b->first = *rec;
		b->start_min = b->start_max = h->interval_start;
	} else if (h->interval_start < b->start_min) {
		b->start_min = h->interval_start;
	} else if (h->interval_start > b->start_max) {
		b->start_max = h->interval_start;
	}
	aggregate(b, rec, late);
	b->usage_count++;
	return 0;
}

const char *settle_batch_copy_data(struct settle_batch *b, size_t *len)
{
	assert(b->usage_count > 0);
	assert(b->copy_len + COPY_TRAILER <= b->copy_cap);
	b->copy[b->copy_len] = (char)0xff;      /* int16 -1: end of data */
	b->copy[b->copy_len + 1] = (char)0xff;
	*len = b->copy_len + COPY_TRAILER;
	return b->copy;
}

/* The fields of a COPY row (SETTLE_COPY_COLUMNS) that make up its
 * identity. */
enum { F_NODE = 0, F_BOOT = 1, F_START = 3, F_TENANT = 7, F_POOL = 8, F_DIR = 9,
       F_PACKETS = 10, F_POLICED_BYTES = 13 };

/* a text field (int32 length, bytes) against another, as COLLATE "C" */
static int cmp_text_field(const char *a, const char *b)
{
	uint32_t na = get_be32(a), nb = get_be32(b);
	int c = memcmp(a + 4, b + 4, na < nb ? na : nb);
	return c != 0 ? c : (na > nb) - (na < nb);
}

/* interval_start, boot_id, node_id, tenant_id, pool_id, direction: the
 * index's order but for node_id (in practice one per boot_id); a node's
 * interval, and copies of a record, end up side by side */
static int cmp_id_key(const void *pa, const void *pb)
{
	const struct settle_id_key *a = pa, *b = pb;
	int c = memcmp(a->start_boot, b->start_boot, ID_START_BOOT);
	if (c == 0)
		c = cmp_text_field(a->node, b->node);
	if (c == 0)
		c = (a->tenant_pool > b->tenant_pool) - (a->tenant_pool < b->tenant_pool);
	if (c == 0)
		c = (a->dir_bit > b->dir_bit) - (a->dir_bit < b->dir_bit);
	return c;
}

static unsigned dir_bit(const char *field)
{
	uint32_t n = get_be32(field);
	if (n == 2 && memcmp(field + 4, "in", 2) == 0)
		return SETTLE_DIR_BIT_IN;
	assert(n == 3 && memcmp(field + 4, "out", 3) == 0);   /* add_usage wrote it */
	return SETTLE_DIR_BIT_OUT;
}

static bool same_interval(const struct settle_id_key *a, const struct settle_id_key *b)
{
	return memcmp(a->start_boot, b->start_boot, ID_START_BOOT) == 0 &&
	       cmp_text_field(a->node, b->node) == 0;
}

/* The last element's counts of x's direction (an int8 element is its
 * 4-byte length and 8 bytes). */
static void set_counts(struct bs_pgarray *c, const struct settle_id_key *x)
{
	int first = x->dir_bit == SETTLE_DIR_BIT_OUT ? SETTLE_ID_OUT_COUNTS
						     : SETTLE_ID_IN_COUNTS;
	for (int i = 0; i < 4; i++) {
		struct bs_pgarray *a = &c[first + i];
		assert(a->count > 0 && a->len >= 12);
		put_be64(a->buf + a->len - 8, (uint64_t)x->counts[i]);
	}
}

int64_t settle_batch_identity_arrays(struct settle_batch *b)
{
	b->id_conflict = false;
	size_t len;
	const char *in = settle_batch_copy_data(b, &len);
	const char *p = in + sizeof(COPY_HEADER);
	for (uint32_t row = 0; row < b->usage_count; row++) {
		struct settle_id_key *k = &b->id_keys[row];
		assert(p[0] == 0 && p[1] == SETTLE_COPY_NCOLS);
		p += 2;
		uint64_t tenant = 0, pool = 0;
		for (int f = 0; f < SETTLE_COPY_NCOLS; f++) {
			uint32_t n = get_be32(p);
			assert(n <= BS_NODE_ID_MAX);   /* no NULLs, short fields */
			switch (f) {
			case F_NODE: k->node = p; break;
			case F_BOOT: assert(n == 16); memcpy(k->start_boot + 8, p + 4, 16); break;
			case F_START: assert(n == 8); memcpy(k->start_boot, p + 4, 8); break;
			case F_TENANT: assert(n == 8); tenant = get_be64(p + 4); break;
			case F_POOL: assert(n == 8); pool = get_be64(p + 4); break;
			case F_DIR: k->dir_bit = dir_bit(p); break;
			default:
				if (f >= F_PACKETS && f <= F_POLICED_BYTES) {
					assert(n == 8);
					k->counts[f - F_PACKETS] = (int64_t)get_be64(p + 4);
				}
				break;
			}
			p += 4 + n;
		}
		assert(tenant <= UINT32_MAX && pool <= UINT32_MAX);   /* uint32 in bs_record */
		k->tenant_pool = tenant << 32 | pool;
	}
	assert(p == in + len - COPY_TRAILER);
	qsort(b->id_keys, b->usage_count, sizeof(b->id_keys[0]), cmp_id_key);

	struct bs_pgarray *c = b->idcol;
	for (int i = 0; i < SETTLE_ID_NCOLS; i++)
		bs_pgarray_reset(&c[i]);
	int rc = 0;
	int64_t n = 0;
	char field[4 + 16];
	const struct settle_id_key *k = b->id_keys, *end = k + b->usage_count;
	for (const struct settle_id_key *x = k; x < end; x++) {
		bool same_pair = x > k && same_interval(x, x - 1) &&
				 x->tenant_pool == x[-1].tenant_pool;
		if (same_pair) {
			/* another direction of the pair, or a copy */
			if (x->dir_bit != x[-1].dir_bit) {
				char *last = c[SETTLE_ID_DIRS].buf + c[SETTLE_ID_DIRS].len - 1;
				*last = (char)(*last | (char)x->dir_bit);
				set_counts(c, x);
				n++;
			} else if (memcmp(x->counts, x[-1].counts, sizeof(x->counts)) != 0) {
				b->id_conflict = true;
			}
			continue;
		}
		if (x == k || !same_interval(x, x - 1)) {
			/* a node's interval: its pairs run from here */
			rc |= bs_pgarray_add_field(&c[SETTLE_ID_NODE], x->node);
			put_be32(field, 16);
			memcpy(field + 4, x->start_boot + 8, 16);
			rc |= bs_pgarray_add_field(&c[SETTLE_ID_BOOT], field);
			put_be32(field, 8);
			memcpy(field + 4, x->start_boot, 8);
			rc |= bs_pgarray_add_field(&c[SETTLE_ID_START], field);
			rc |= bs_pgarray_add_i32(&c[SETTLE_ID_FIRST],
						 (int32_t)c[SETTLE_ID_PAIR].count + 1);
			if (x > k)
				rc |= bs_pgarray_add_i32(&c[SETTLE_ID_LAST],
							 (int32_t)c[SETTLE_ID_PAIR].count);
		}
		rc |= bs_pgarray_add_i64(&c[SETTLE_ID_PAIR], (int64_t)x->tenant_pool);
		rc |= bs_pgarray_add_i16(&c[SETTLE_ID_DIRS], (int16_t)x->dir_bit);
		for (int i = 0; i < 8; i++)
			rc |= bs_pgarray_add_i64(&c[SETTLE_ID_IN_COUNTS + i], 0);
		if (rc == 0)
			set_counts(c, x);
		n++;
	}
	if (b->usage_count > 0)
		rc |= bs_pgarray_add_i32(&c[SETTLE_ID_LAST], (int32_t)c[SETTLE_ID_PAIR].count);
	if (rc != 0)
		return -1;
	assert(c[SETTLE_ID_NODE].count == c[SETTLE_ID_LAST].count &&
	       c[SETTLE_ID_PAIR].count == c[SETTLE_ID_DIRS].count);
	assert(n >= 0 && n <= b->usage_count);
	return n;
}

static int add_summary(struct settle_batch *b, const struct bs_record *rec, bool late)
{
	const struct bs_record_head *h = &rec->head;
	const struct bs_summary *s = &rec->summary;
	const char *measure = bs_measure_name(h->measure);
	struct bs_pgarray *c = b->summary;
	const struct bs_counts *counts[] = {
		&s->dir[BS_DIR_IN], &s->dir[BS_DIR_OUT], &s->unattributed,
		&s->malformed, &s->non_ip, &s->rx,
	};
	int rc = bs_pgarray_add_bytes(&c[SUM_NODE], h->node_id, strlen(h->node_id));
	rc |= bs_pgarray_add_uuid_hex(&c[SUM_BOOT], h->boot_id);
	rc |= bs_pgarray_add_unix_time(&c[SUM_START], h->interval_start);
	rc |= bs_pgarray_add_i32(&c[SUM_LEN], (int32_t)h->interval_len);
	rc |= bs_pgarray_add_bytes(&c[SUM_MEASURE], measure, strlen(measure));
	rc |= bs_pgarray_add_i64(&c[SUM_MAP_VERSION], (int64_t)h->map_version);
	rc |= bs_pgarray_add_i64(&c[SUM_SEQ], (int64_t)h->seq);
	rc |= bs_pgarray_add_i32(&c[SUM_RECORD_COUNT], (int32_t)s->record_count);
	rc |= bs_pgarray_add_i64(&c[SUM_FIRST_SEQ], (int64_t)s->first_seq);
	for (int i = 0; i < 6; i++) {
		rc |= bs_pgarray_add_i64(&c[SUM_IN_PACKETS + 2 * i],
					 (int64_t)counts[i]->packets);
		rc |= bs_pgarray_add_i64(&c[SUM_IN_BYTES + 2 * i],
					 (int64_t)counts[i]->bytes);
	}
	rc |= bs_pgarray_add_bool(&c[SUM_LATE], late);
	/* v1 summaries do not say: NULL, not 0 */
	bool v1 = h->version == 1;
	rc |= v1 ? bs_pgarray_add_null(&c[SUM_LATE_PACKETS])
		 : bs_pgarray_add_i64(&c[SUM_LATE_PACKETS], (int64_t)s->late.packets);
	rc |= v1 ? bs_pgarray_add_null(&c[SUM_LATE_BYTES])
		 : bs_pgarray_add_i64(&c[SUM_LATE_BYTES], (int64_t)s->late.bytes);
	for (int i = 0; i < BS_RECORD_MAL_REASONS; i++)
		rc |= v1 ? bs_pgarray_add_null(&c[SUM_MAL_REASON + i])
			 : bs_pgarray_add_i64(&c[SUM_MAL_REASON + i],
					      (int64_t)s->malformed_reason[i]);
	b->summary_count++;
	return rc;
}

enum settle_batch_add settle_batch_add_record(struct settle_batch *b,
	int32_t partition, int64_t offset, const struct bs_record *rec, bool late)
{
	int32_t day = settle_day_of(rec->head.interval_start);
	enum settle_batch_add f = fits(b, partition, true, day);
	if (f != BATCH_ADDED)
		return f;
	bool usage = rec->head.type == BS_RECORD_USAGE;
	int rc = usage ? add_usage(b, rec, late) : add_summary(b, rec, late);
	struct bs_pgarray *src = usage ? b->usage_src : b->summary_src;
	rc |= bs_pgarray_add_i32(&src[0], partition);
	rc |= bs_pgarray_add_i64(&src[1], offset);
	if (rc != 0)
		return BATCH_ERROR;
	note(b, partition, offset, true, day);
	return BATCH_ADDED;
}

enum settle_batch_add settle_batch_add_reject(struct settle_batch *b,
	int32_t partition, int64_t offset, const void *key, size_t key_len,
	const void *payload, size_t len, const char *reason, const char *error)
{
	enum settle_batch_add f = fits(b, partition, false, 0);
	if (f != BATCH_ADDED)
		return f;
	struct bs_pgarray *c = b->reject;
	size_t kept = len < SETTLE_REJECT_PAYLOAD_MAX ? len : SETTLE_REJECT_PAYLOAD_MAX;
	size_t key_kept = key_len < 1024 ? key_len : 1024;
	/* the error may quote the message: keep it printable ASCII, which
	 * is valid text in any server encoding */
	char clean[SETTLE_REJECT_ERROR_MAX];
	size_t error_len = strnlen(error, SETTLE_REJECT_ERROR_MAX - 1);
	for (size_t i = 0; i < error_len; i++)
		clean[i] = error[i] >= 0x20 && error[i] < 0x7f ? error[i] : '?';
	int rc = bs_pgarray_add_i32(&c[REJ_PARTITION], partition);
	rc |= bs_pgarray_add_i64(&c[REJ_OFFSET], offset);
	rc |= key != NULL ? bs_pgarray_add_bytes(&c[REJ_KEY], key, key_kept)
			  : bs_pgarray_add_null(&c[REJ_KEY]);
	rc |= bs_pgarray_add_bytes(&c[REJ_PAYLOAD], payload != NULL ? payload : "", kept);
	rc |= bs_pgarray_add_i32(&c[REJ_PAYLOAD_BYTES], len > INT32_MAX ? INT32_MAX
				 : (int32_t)len);
	rc |= bs_pgarray_add_bytes(&c[REJ_REASON], reason, strlen(reason));
	rc |= bs_pgarray_add_bytes(&c[REJ_ERROR], clean, error_len);
	unsigned char digest[SHA256_DIGEST_LENGTH];
	SHA256(payload != NULL ? payload : (const void *)"", len, digest);
	rc |= bs_pgarray_add_bytes(&c[REJ_SHA256], digest, sizeof(digest));
	if (rc != 0)
		return BATCH_ERROR;
	b->reject_count++;
	note(b, partition, offset, false, 0);
	return BATCH_ADDED;
}
