/*
 * test_settle_batch.c — batch assembly (settlement/settle/batch.c): the
 * binary array and COPY formats PostgreSQL receives, per-partition offset ranges,
 * distinct days, the limits that make a batch full, rejects (payload cut,
 * error made printable), reset, and a replayed batch's identity arrays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"

static uint32_t be32(const char *p)
{
	const uint8_t *u = (const uint8_t *)p;
	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint64_t be64(const char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Element i of a finished array: its bytes and length (-1 for NULL). */
static const char *element(const struct bs_pgarray *a, uint32_t i, int32_t *len)
{
	const char *p = a->buf + 20;
	for (uint32_t k = 0; k < i; k++) {
		int32_t l = (int32_t)be32(p);
		p += 4 + (l < 0 ? 0 : l);
	}
	*len = (int32_t)be32(p);
	return p + 4;
}

/* Field col of row i of a finished binary COPY stream of ncols columns
 * (header, then per row an int16 field count and the fields; -1 ends it). */
static const char *stream_field(const char *data, size_t len, int ncols,
				uint32_t i, int col, int32_t *flen)
{
	assert_true(len >= 19 + 2);
	assert_memory_equal(data, "PGCOPY\n\377\r\n\0", 11);
	const char *p = data + 19;
	for (uint32_t row = 0; row <= i; row++) {
		assert_int_equal((uint8_t)p[0] << 8 | (uint8_t)p[1], ncols);
		p += 2;
		for (int k = 0; k < ncols; k++) {
			int32_t l = (int32_t)be32(p);
			if (row == i && k == col) {
				*flen = l;
				return p + 4;
			}
			p += 4 + (l < 0 ? 0 : l);
		}
	}
	return NULL;
}

/* ... of the usage rows' stream */
static const char *copy_field(const char *data, size_t len, uint32_t i,
			      int col, int32_t *flen)
{
	return stream_field(data, len, SETTLE_COPY_NCOLS, i, col, flen);
}

static void test_array_format(void **state)
{
	(void)state;
	struct bs_pgarray a;
	assert_int_equal(bs_pgarray_init(&a, PG_OID_INT8, 16), 0);
	assert_int_equal(bs_pgarray_add_i64(&a, -2), 0);
	assert_int_equal(bs_pgarray_add_null(&a), 0);
	for (int i = 0; i < 100; i++)   /* grows past the planned size */
		assert_int_equal(bs_pgarray_add_i64(&a, i), 0);
	int len;
	const char *p = bs_pgarray_finish(&a, &len);
	assert_int_equal(len, 20 + 12 + 4 + 100 * 12);
	assert_int_equal(be32(p), 1);               /* one dimension */
	assert_int_equal(be32(p + 4), 1);           /* has a NULL */
	assert_int_equal(be32(p + 8), PG_OID_INT8);
	assert_int_equal(be32(p + 12), 102);        /* elements */
	assert_int_equal(be32(p + 16), 1);          /* lower bound */
	int32_t l;
	const char *e = element(&a, 0, &l);
	assert_int_equal(l, 8);
	assert_int_equal((int64_t)be64(e), -2);
	element(&a, 1, &l);
	assert_int_equal(l, -1);
	e = element(&a, 101, &l);
	assert_int_equal(be64(e), 99);
	bs_pgarray_reset(&a);
	p = bs_pgarray_finish(&a, &len);
	assert_int_equal(len, 20);
	assert_int_equal(be32(p + 4), 0);
	assert_int_equal(be32(p + 12), 0);
	bs_pgarray_free(&a);

	struct bs_pgarray t, u;
	assert_int_equal(bs_pgarray_init(&t, PG_OID_TIMESTAMPTZ, 64), 0);
	assert_int_equal(bs_pgarray_add_unix_time(&t, 946684800), 0);  /* 2000-01-01 */
	assert_int_equal(bs_pgarray_add_unix_time(&t, 946684801), 0);
	bs_pgarray_finish(&t, &len);
	assert_int_equal(be64(element(&t, 0, &l)), 0);
	assert_int_equal(be64(element(&t, 1, &l)), 1000000);
	assert_int_equal(bs_pgarray_init(&u, PG_OID_UUID, 64), 0);
	assert_int_equal(bs_pgarray_add_uuid_hex(&u, "00ff0123456789abcdef0123456789ab"), 0);
	bs_pgarray_finish(&u, &len);
	const char *b = element(&u, 0, &l);
	assert_int_equal(l, 16);
	assert_int_equal((uint8_t)b[0], 0x00);
	assert_int_equal((uint8_t)b[1], 0xff);
	assert_int_equal((uint8_t)b[15], 0xab);
	bs_pgarray_free(&t);
	bs_pgarray_free(&u);
}

static struct bs_record usage(int64_t start, uint32_t tenant)
{
	struct bs_record r;
	memset(&r, 0, sizeof(r));
	r.head.type = BS_RECORD_USAGE;
	strcpy(r.head.node_id, "n1");
	strcpy(r.head.boot_id, "0123456789abcdef0123456789abcdef");
	r.head.seq = 1;
	r.head.interval_start = start;
	r.head.interval_len = 10;
	r.usage.tenant_id = tenant;
	r.usage.direction = BS_DIR_IN;
	r.usage.counts.bytes = 1000;
	return r;
}

static void test_batch_parts_and_days(void **state)
{
	(void)state;
	struct settle_batch *b = settle_batch_new(100);
	assert_non_null(b);
	assert_true(settle_batch_empty(b));
	struct bs_record r = usage(86400 * 3 + 10, 5);
	assert_int_equal(settle_batch_add_record(b, 7, 100, &r, false), BATCH_ADDED);
	assert_int_equal(settle_batch_add_record(b, 2, 50, &r, false), BATCH_ADDED);
	r = usage(86400 * 4, 6);
	assert_int_equal(settle_batch_add_record(b, 7, 104, &r, false), BATCH_ADDED);
	assert_int_equal(settle_batch_add_reject(b, 2, 51, "k", 1, "{", 1, "parse",
						 "invalid"), BATCH_ADDED);
	struct bs_record s = usage(86400 * 3, 0);
	s.head.type = BS_RECORD_SUMMARY;
	s.summary.record_count = 2;
	s.summary.first_seq = 1;
	assert_int_equal(settle_batch_add_record(b, 9, 0, &s, false), BATCH_ADDED);

	assert_int_equal(b->messages, 5);
	assert_int_equal(b->usage_count, 3);
	assert_int_equal(b->summary_count, 1);
	assert_int_equal(b->reject_count, 1);
	assert_int_equal(b->nparts, 3);
	assert_int_equal(b->parts[0].partition, 7);
	assert_int_equal(b->parts[0].first_offset, 100);
	assert_int_equal(b->parts[0].last_offset, 104);
	assert_int_equal(b->parts[0].messages, 2);
	assert_int_equal(b->parts[1].partition, 2);
	assert_int_equal(b->parts[1].last_offset, 51);
	assert_int_equal(b->parts[2].partition, 9);
	assert_int_equal(b->ndays, 2);   /* days 3 and 4; the reject has none */
	assert_int_equal(b->days[0], 3);
	assert_int_equal(b->days[1], 4);

	int len;
	int32_t l;
	/* the usage rows' COPY stream: 15 fields a row, the trailer last */
	size_t clen;
	const char *copy = settle_batch_copy_data(b, &clen);
	assert_int_equal((uint8_t)copy[clen - 2], 0xff);
	assert_int_equal((uint8_t)copy[clen - 1], 0xff);
	assert_int_equal(be64(copy_field(copy, clen, 2, 7, &l)), 6);   /* tenant */
	assert_int_equal(l, 8);
	const char *dir = copy_field(copy, clen, 0, 9, &l);
	assert_int_equal(l, 2);
	assert_memory_equal(dir, "in", 2);
	const char *node = copy_field(copy, clen, 1, 0, &l);
	assert_int_equal(l, 2);
	assert_memory_equal(node, "n1", 2);
	const char *boot = copy_field(copy, clen, 1, 1, &l);
	assert_int_equal(l, 16);
	assert_int_equal((uint8_t)boot[0], 0x01);
	assert_int_equal((uint8_t)boot[15], 0xef);
	/* interval_start: microseconds since 2000-01-01 */
	assert_int_equal((int64_t)be64(copy_field(copy, clen, 2, 3, &l)),
			 (86400 * 4 - INT64_C(946684800)) * 1000000);
	assert_int_equal(be32(copy_field(copy, clen, 0, 4, &l)), 10);  /* len */
	assert_int_equal(l, 4);
	const char *measure = copy_field(copy, clen, 0, 5, &l);
	assert_int_equal(l, 5);
	assert_memory_equal(measure, "frame", 5);
	assert_int_equal(be64(copy_field(copy, clen, 0, 11, &l)), 1000); /* bytes */
	const char *late = copy_field(copy, clen, 0, 14, &l);
	assert_int_equal(l, 1);
	assert_int_equal(late[0], 0);
	bs_pgarray_finish(&b->summary[SUM_RECORD_COUNT], &len);
	assert_int_equal(be32(element(&b->summary[SUM_RECORD_COUNT], 0, &l)), 2);

	settle_batch_reset(b);
	assert_true(settle_batch_empty(b));
	assert_int_equal(b->nparts, 0);
	/* after a reset a partition starts a new range */
	assert_int_equal(settle_batch_add_record(b, 7, 3, &r, false), BATCH_ADDED);
	assert_int_equal(b->nparts, 1);
	assert_int_equal(b->parts[0].first_offset, 3);
	settle_batch_free(b);
}

static void test_batch_limits(void **state)
{
	(void)state;
	struct settle_batch *b = settle_batch_new(3);
	struct bs_record r = usage(0, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(settle_batch_add_record(b, 0, i, &r, false), BATCH_ADDED);
	assert_int_equal(settle_batch_add_record(b, 0, 3, &r, false), BATCH_FULL);
	assert_int_equal(settle_batch_add_reject(b, 0, 3, NULL, 0, "x", 1, "parse",
						 "e"), BATCH_FULL);
	assert_int_equal(b->messages, 3);
	settle_batch_free(b);

	b = settle_batch_new(1000);
	for (int d = 0; d < SETTLE_BATCH_MAX_DAYS; d++) {
		r = usage((int64_t)d * 86400, 1);
		assert_int_equal(settle_batch_add_record(b, 0, d, &r, false), BATCH_ADDED);
	}
	r = usage((int64_t)SETTLE_BATCH_MAX_DAYS * 86400, 1);
	assert_int_equal(settle_batch_add_record(b, 0, 1000, &r, false), BATCH_FULL);
	r = usage(0, 1);   /* a known day still fits */
	assert_int_equal(settle_batch_add_record(b, 0, 1000, &r, false), BATCH_ADDED);
	assert_int_equal(settle_batch_add_record(b, SETTLE_PARTITION_MAX + 1, 0, &r, false),
			 BATCH_ERROR);
	assert_int_equal(settle_batch_add_record(b, -1, 0, &r, false), BATCH_ERROR);
	settle_batch_free(b);

	b = settle_batch_new(SETTLE_BATCH_MAX_PARTS + 10);
	r = usage(0, 1);
	for (int p = 0; p < SETTLE_BATCH_MAX_PARTS; p++)
		assert_int_equal(settle_batch_add_record(b, p, 0, &r, false), BATCH_ADDED);
	assert_int_equal(settle_batch_add_record(b, SETTLE_BATCH_MAX_PARTS, 0, &r, false),
			 BATCH_FULL);
	assert_int_equal(settle_batch_add_record(b, 0, 1, &r, false), BATCH_ADDED);
	settle_batch_free(b);
}

static void test_reject_payload(void **state)
{
	(void)state;
	struct settle_batch *b = settle_batch_new(10);
	size_t big = SETTLE_REJECT_PAYLOAD_MAX + 100;
	char *payload = malloc(big);
	memset(payload, 'x', big);
	assert_int_equal(settle_batch_add_reject(b, 1, 9, NULL, 0, payload, big,
		"too_large", "caf\xc3\xa9\n"), BATCH_ADDED);
	int len;
	int32_t l;
	bs_pgarray_finish(&b->reject[REJ_PAYLOAD], &len);
	element(&b->reject[REJ_PAYLOAD], 0, &l);
	assert_int_equal(l, SETTLE_REJECT_PAYLOAD_MAX);
	bs_pgarray_finish(&b->reject[REJ_PAYLOAD_BYTES], &len);
	assert_int_equal(be32(element(&b->reject[REJ_PAYLOAD_BYTES], 0, &l)), big);
	bs_pgarray_finish(&b->reject[REJ_KEY], &len);
	element(&b->reject[REJ_KEY], 0, &l);
	assert_int_equal(l, -1);    /* no key: NULL */
	bs_pgarray_finish(&b->reject[REJ_ERROR], &len);
	const char *e = element(&b->reject[REJ_ERROR], 0, &l);
	assert_int_equal(l, 6);
	assert_memory_equal(e, "caf???", 6);
	assert_int_equal(b->ndays, 0);
	/* the SHA-256 of the whole message (FIPS 180-2's "abc" vector) */
	assert_int_equal(settle_batch_add_reject(b, 1, 10, NULL, 0, "abc", 3,
		"parse", "x"), BATCH_ADDED);
	bs_pgarray_finish(&b->reject[REJ_SHA256], &len);
	const char *d = element(&b->reject[REJ_SHA256], 1, &l);
	assert_int_equal(l, 32);
	static const unsigned char abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde,
		0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	assert_memory_equal(d, abc, 32);
	free(payload);
	settle_batch_free(b);
}

static void test_aggregates(void **state)
{
	(void)state;
	struct settle_batch *b = settle_batch_new(10);
	struct bs_record r1 = usage(600, 5), r2 = usage(890, 5), r3 = usage(900, 5),
			 r4 = usage(600, 6);
	r2.usage.counts.packets = 3;
	r2.head.measure = BS_MEASURE_IP;
	assert_int_equal(settle_batch_add_record(b, 0, 0, &r1, true), BATCH_ADDED);
	assert_int_equal(settle_batch_add_record(b, 0, 1, &r2, false), BATCH_ADDED);
	assert_int_equal(settle_batch_add_record(b, 0, 2, &r3, false), BATCH_ADDED);
	assert_int_equal(settle_batch_add_record(b, 0, 3, &r4, false), BATCH_ADDED);
	assert_true(settle_batch_aggregates(b));
	/* buckets 600 (r1, r2: same tenant, pool, direction), 900 (r3); and
	 * tenant 6 */
	assert_int_equal(b->nagg, 3);
	int len;
	int32_t l;
	bs_pgarray_finish(&b->aggcol[AGG_BUCKET], &len);
	bs_pgarray_finish(&b->aggcol[AGG_RECORDS], &len);
	bs_pgarray_finish(&b->aggcol[AGG_FRAME_BYTES], &len);
	bs_pgarray_finish(&b->aggcol[AGG_IP_PACKETS], &len);
	bs_pgarray_finish(&b->aggcol[AGG_LATE], &len);
	assert_int_equal(be64(element(&b->aggcol[AGG_BUCKET], 0, &l)),
			 (uint64_t)(600 - 946684800) * 1000000);
	assert_int_equal(be64(element(&b->aggcol[AGG_RECORDS], 0, &l)), 2);
	assert_int_equal(be64(element(&b->aggcol[AGG_FRAME_BYTES], 0, &l)), 1000);
	assert_int_equal(be64(element(&b->aggcol[AGG_IP_PACKETS], 0, &l)), 3);
	assert_int_equal(be64(element(&b->aggcol[AGG_LATE], 0, &l)), 1);
	assert_int_equal(be64(element(&b->aggcol[AGG_RECORDS], 1, &l)), 1);

	/* a sum beyond INT64_MAX: not usable, the server sums the rows */
	settle_batch_reset(b);
	assert_int_equal(b->nagg, 0);
	r1.usage.counts.bytes = UINT64_C(1) << 61;
	for (int i = 0; i < 3; i++)
		assert_int_equal(settle_batch_add_record(b, 0, i, &r1, false), BATCH_ADDED);
	assert_true(settle_batch_aggregates(b));   /* 3 x 2^61 < 2^63 */
	assert_int_equal(settle_batch_add_record(b, 0, 3, &r1, false), BATCH_ADDED);
	assert_false(settle_batch_aggregates(b));
	settle_batch_reset(b);
	assert_int_equal(settle_batch_add_record(b, 0, 4, &r1, false), BATCH_ADDED);
	assert_true(settle_batch_aggregates(b));
	settle_batch_free(b);
}

/* Element i of a finished array as an integer (int2, int4 or int8). */
static int64_t int_elem(const struct bs_pgarray *a, uint32_t i)
{
	int32_t l;
	const char *e = element(a, i, &l);
	if (l == 2)
		return (int16_t)((uint8_t)e[0] << 8 | (uint8_t)e[1]);
	if (l == 4)
		return (int32_t)be32(e);
	assert_int_equal(l, 8);
	return (int64_t)be64(e);
}

/* The identity arrays of a replayed batch: per node's interval, in index
 * order, its (tenant << 32 | pool) pairs and their directions' bits; a
 * record twice in the batch counts once. */
static void test_identity_arrays(void **state)
{
	(void)state;
	struct settle_batch *b = settle_batch_new(200);
	struct bs_record a = usage(1000, 5), out = usage(1000, 5), other_node = usage(1000, 5),
			 earlier = usage(990, 7), lower = usage(1000, 4);
	out.usage.direction = BS_DIR_OUT;
	a.usage.counts.packets = 3;
	out.usage.counts.packets = 4;
	out.usage.counts.bytes = 4000;
	out.usage.policed.packets = 1;
	out.usage.policed.bytes = 70;
	strcpy(other_node.head.node_id, "n0");
	lower.usage.direction = BS_DIR_OUT;
	lower.usage.pool_id = 9;
	const struct bs_record *recs[] = { &a, &out, &other_node, &a, &earlier, &lower };
	for (int i = 0; i < 6; i++)
		assert_int_equal(settle_batch_add_record(b, 0, i, recs[i], false), BATCH_ADDED);
	assert_int_equal(settle_batch_identity_arrays(b), 5);
	struct bs_pgarray *c = b->idcol;
	int len;
	for (int i = 0; i < SETTLE_ID_NCOLS; i++)
		bs_pgarray_finish(&c[i], &len);
	/* interval 990 of n1; at 1000, n0 (tenant 5), then n1: tenant 4 pool
	 * 9, tenant 5 in both directions */
	assert_int_equal(c[SETTLE_ID_NODE].count, 3);
	static const struct { int64_t start; const char *node; int first, last; } rows[] = {
		{ 990, "n1", 1, 1 }, { 1000, "n0", 2, 2 }, { 1000, "n1", 3, 4 },
	};
	int32_t l;
	for (uint32_t i = 0; i < 3; i++) {
		const char *f = element(&c[SETTLE_ID_NODE], i, &l);
		assert_int_equal(l, 2);
		assert_memory_equal(f, rows[i].node, 2);
		f = element(&c[SETTLE_ID_BOOT], i, &l);
		assert_int_equal(l, 16);
		assert_int_equal((uint8_t)f[0], 0x01);
		assert_int_equal((uint8_t)f[15], 0xef);
		assert_int_equal(int_elem(&c[SETTLE_ID_START], i),
				 (rows[i].start - INT64_C(946684800)) * 1000000);
		assert_int_equal(int_elem(&c[SETTLE_ID_FIRST], i), rows[i].first);
		assert_int_equal(int_elem(&c[SETTLE_ID_LAST], i), rows[i].last);
	}
	static const struct { uint64_t pair; int dirs; } elems[] = {
		{ UINT64_C(7) << 32, SETTLE_DIR_BIT_IN },
		{ UINT64_C(5) << 32, SETTLE_DIR_BIT_IN },
		{ UINT64_C(4) << 32 | 9, SETTLE_DIR_BIT_OUT },
		{ UINT64_C(5) << 32, SETTLE_DIR_BIT_IN | SETTLE_DIR_BIT_OUT },
	};
	assert_int_equal(c[SETTLE_ID_PAIR].count, 4);
	assert_int_equal(c[SETTLE_ID_DIRS].count, 4);
	assert_int_equal(be32(c[SETTLE_ID_DIRS].buf + 8), PG_OID_INT2);
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal((uint64_t)int_elem(&c[SETTLE_ID_PAIR], i), elems[i].pair);
		assert_int_equal(int_elem(&c[SETTLE_ID_DIRS], i), elems[i].dirs);
	}
	/* each element's counts per direction (tenant 5 of n1: a in, out out) */
	static const int64_t in5[4] = { 3, 1000, 0, 0 }, out5[4] = { 4, 4000, 1, 70 };
	for (int k = 0; k < 4; k++) {
		assert_int_equal(int_elem(&c[SETTLE_ID_IN_COUNTS + k], 3), in5[k]);
		assert_int_equal(int_elem(&c[SETTLE_ID_OUT_COUNTS + k], 3), out5[k]);
		assert_int_equal(int_elem(&c[SETTLE_ID_OUT_COUNTS + k], 1), 0);
	}
	assert_false(b->id_conflict);   /* a twice, the same counts */

	/* a copy of a with other counts: an identity conflict in the batch */
	struct bs_record a2 = a;
	a2.usage.counts.bytes = 999999;
	assert_int_equal(settle_batch_add_record(b, 0, 10, &a2, false), BATCH_ADDED);
	assert_int_equal(settle_batch_identity_arrays(b), 5);
	assert_true(b->id_conflict);

	/* a new batch starts afresh */
	settle_batch_reset(b);
	struct bs_record big = usage(2000, UINT32_MAX);
	big.usage.pool_id = UINT32_MAX;
	assert_int_equal(settle_batch_add_record(b, 0, 9, &big, false), BATCH_ADDED);
	assert_int_equal(settle_batch_identity_arrays(b), 1);
	for (int i = 0; i < SETTLE_ID_NCOLS; i++)
		bs_pgarray_finish(&c[i], &len);
	assert_int_equal(c[SETTLE_ID_NODE].count, 1);
	assert_int_equal(c[SETTLE_ID_PAIR].count, 1);
	assert_int_equal((uint64_t)int_elem(&c[SETTLE_ID_PAIR], 0), UINT64_MAX);
	assert_int_equal(int_elem(&c[SETTLE_ID_LAST], 0), 1);
	settle_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_array_format),
		cmocka_unit_test(test_batch_parts_and_days),
		cmocka_unit_test(test_batch_limits),
		cmocka_unit_test(test_reject_payload),
		cmocka_unit_test(test_aggregates),
		cmocka_unit_test(test_identity_arrays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
