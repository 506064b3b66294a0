/*
 * test_copyrows.c — the binary COPY readers of settlement/copyrows.h on
 * streams built here byte by byte as PostgreSQL sends them (the header
 * with the first row, then one CopyData message a row, the trailer
 * alone): three 8-byte fields (the close's rollup rows, a statement's
 * samples) and a compacted day (usage_day: two 8-byte fields and 288
 * buckets). Another shape, a cut row, bytes after the trailer: -1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "copyrows.h"

struct buf {
	unsigned char b[8192];
	size_t n;
};

static void be32(struct buf *m, uint32_t v)
{
	for (int i = 3; i >= 0; i--)
		m->b[m->n++] = (unsigned char)(v >> (8 * i));
}

static void be64(struct buf *m, int64_t v)
{
	for (int i = 7; i >= 0; i--)
		m->b[m->n++] = (unsigned char)((uint64_t)v >> (8 * i));
}

static void header(struct buf *m)
{
	memcpy(m->b + m->n, BS_COPY_SIGNATURE, BS_COPY_SIGNATURE_LEN);
	m->n += BS_COPY_SIGNATURE_LEN;
	be32(m, 0);      /* flags */
	be32(m, 4);      /* an extension area of 4 bytes, skipped */
	be32(m, 0xdeadbeef);
}

static void row3(struct buf *m, int64_t a, int64_t b, int64_t c)
{
	m->b[m->n++] = 0;
	m->b[m->n++] = 3;
	be32(m, 8); be64(m, a);
	be32(m, 8); be64(m, b);
	be32(m, 8); be64(m, c);
}

static void rowday(struct buf *m, int64_t key, int64_t day, int64_t first)
{
	m->b[m->n++] = 0;
	m->b[m->n++] = 3;
	be32(m, 8); be64(m, key);
	be32(m, 8); be64(m, day);
	be32(m, 8 * BS_COPY_DAY_SLOTS);
	for (int i = 0; i < BS_COPY_DAY_SLOTS; i++)
		be64(m, i % 7 == 3 ? -1 : first + i);
}

static void trailer(struct buf *m)
{
	m->b[m->n++] = 0xff;
	m->b[m->n++] = 0xff;
}

static int next3(struct bs_copy3 *c, const struct buf *m, size_t *at, int64_t v[3])
{
	const unsigned char *p = m->b + *at;
	int r = bs_copy3_next(c, &p, m->b + m->n, v);
	*at = (size_t)(p - m->b);
	return r;
}

static void test_rows(void **state)
{
	(void)state;
	struct bs_copy3 c = { 0 };
	struct buf m1 = { .n = 0 }, m2 = { .n = 0 }, m3 = { .n = 0 };
	header(&m1);
	row3(&m1, 1, -2, INT64_MAX);
	row3(&m2, INT64_MIN, 0, 42);
	trailer(&m3);
	int64_t v[3];
	size_t at = 0;
	assert_int_equal(next3(&c, &m1, &at, v), 1);
	assert_true(c.header);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], -2);
	assert_int_equal(v[2], INT64_MAX);
	assert_int_equal(next3(&c, &m1, &at, v), 0);
	assert_int_equal(at, m1.n);
	at = 0;
	assert_int_equal(next3(&c, &m2, &at, v), 1);
	assert_int_equal(v[0], INT64_MIN);
	assert_int_equal(v[2], 42);
	assert_int_equal(next3(&c, &m2, &at, v), 0);
	at = 0;
	assert_false(c.trailer);
	assert_int_equal(next3(&c, &m3, &at, v), 0);
	assert_true(c.trailer);
	/* anything after the trailer */
	at = 0;
	assert_int_equal(next3(&c, &m2, &at, v), -1);
}

static void test_rows_refused(void **state)
{
	(void)state;
	int64_t v[3];
	size_t at;
	/* no signature */
	struct bs_copy3 c = { 0 };
	struct buf m = { .n = 0 };
	row3(&m, 1, 2, 3);
	at = 0;
	assert_int_equal(next3(&c, &m, &at, v), -1);
	/* a cut row */
	struct bs_copy3 c2 = { 0 };
	struct buf m2 = { .n = 0 };
	header(&m2);
	row3(&m2, 1, 2, 3);
	m2.n -= 1;
	at = 0;
	assert_int_equal(next3(&c2, &m2, &at, v), -1);
	/* a field of 4 bytes */
	struct bs_copy3 c3 = { 0 };
	struct buf m3 = { .n = 0 };
	header(&m3);
	row3(&m3, 1, 2, 3);
	m3.b[BS_COPY_SIGNATURE_LEN + 12 + 2 + 3] = 4;
	at = 0;
	assert_int_equal(next3(&c3, &m3, &at, v), -1);
	/* a compacted day is not a row of three fields */
	struct bs_copy3 c4 = { 0 };
	static struct buf m4;
	m4.n = 0;
	header(&m4);
	rowday(&m4, 1, 2, 3);
	at = 0;
	assert_int_equal(next3(&c4, &m4, &at, v), -1);
}

static void test_days(void **state)
{
	(void)state;
	struct bs_copy3 c = { 0 };
	static struct buf m1, m2, m3;
	m1.n = m2.n = m3.n = 0;
	header(&m1);
	rowday(&m1, 77, 1793491200, 1000);
	rowday(&m2, -5, -1 - 1793491200, 0);
	trailer(&m3);
	int64_t v[2];
	const unsigned char *slots, *p = m1.b;
	assert_int_equal(bs_copyday_next(&c, &p, m1.b + m1.n, v, &slots), 1);
	assert_int_equal(v[0], 77);
	assert_int_equal(v[1], 1793491200);
	assert_ptr_equal(p, m1.b + m1.n);
	for (int i = 0; i < BS_COPY_DAY_SLOTS; i++)
		assert_int_equal((int64_t)bs_copy_be64(slots + 8 * i),
				 i % 7 == 3 ? -1 : 1000 + i);
	assert_int_equal(bs_copyday_next(&c, &p, m1.b + m1.n, v, &slots), 0);
	p = m2.b;
	assert_int_equal(bs_copyday_next(&c, &p, m2.b + m2.n, v, &slots), 1);
	assert_int_equal(v[0], -5);
	assert_int_equal(v[1], -1 - 1793491200);
	p = m3.b;
	assert_int_equal(bs_copyday_next(&c, &p, m3.b + m3.n, v, &slots), 0);
	assert_true(c.trailer);
	/* a day of 287 buckets, and a row of three 8-byte fields */
	struct bs_copy3 c2 = { 0 };
	static struct buf m4;
	m4.n = 0;
	header(&m4);
	rowday(&m4, 1, 2, 3);
	size_t len_at = BS_COPY_SIGNATURE_LEN + 12 + 2 + 24;
	m4.b[len_at + 2] = (8 * 287) >> 8;
	m4.b[len_at + 3] = (8 * 287) & 0xff;
	m4.n -= 8;
	p = m4.b;
	assert_int_equal(bs_copyday_next(&c2, &p, m4.b + m4.n, v, &slots), -1);
	struct bs_copy3 c3 = { 0 };
	static struct buf m5;
	m5.n = 0;
	header(&m5);
	row3(&m5, 1, 2, 3);
	p = m5.b;
	assert_int_equal(bs_copyday_next(&c3, &p, m5.b + m5.n, v, &slots), -1);
	/* the same with as many bytes after it as a day has: still refused
	 * (the third field says 8 bytes, not a day's) */
	struct bs_copy3 c4 = { 0 };
	memset(m5.b + m5.n, 0, BS_COPY_DAY_ROW_LEN - BS_COPY3_ROW_LEN);
	m5.n += BS_COPY_DAY_ROW_LEN - BS_COPY3_ROW_LEN;
	p = m5.b;
	assert_int_equal(bs_copyday_next(&c4, &p, m5.b + m5.n, v, &slots), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_rows_refused),
		cmocka_unit_test(test_days),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
