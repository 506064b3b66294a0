/*
 * test_close.c — the interval close (dataplane/close.c): workers' banks
 * merged into interval totals (a late bank into the oldest open interval,
 * counted late once), the usage records and the node summary built from
 * them (tenant, pool and direction of each cell, contiguous seqs, malformed
 * reasons in the record's order), Σ usage records = summary on random
 * banks, and every record built accepted by the strict decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "close.h"
#include "parse.h"

#define BOOT "00112233445566778899aabbccddeeff"
#define INTERVAL 10
#define MAX_RECORDS 4096

static uint32_t tenant_ids[] = { 0, 1001, 1002, 4000000000u };
static const uint32_t pool_ids[] = { 1, 5, 9 };

struct fixture {
	struct bs_counter_layout layout;
	struct bs_tenant_index tidx;
	struct bs_interval_totals totals[6];
	struct bs_interval_table tab;
	struct bs_close_identity id;
};

/* What a build handed to its sink. */
struct sink {
	struct bs_record rec[MAX_RECORDS];
	unsigned n;
	unsigned fail_at;     /* != 0: refuse the record with this number (1-based) */
};

static int collect(void *arg, const struct bs_record *r)
{
	struct sink *s = arg;
	if (s->fail_at && s->n + 1 == s->fail_at)
		return -7;
	assert_true(s->n < MAX_RECORDS);
	s->rec[s->n++] = *r;
	/* every record the close builds is one the settlement accepts */
	char buf[BS_RECORD_MAX_BYTES];
	int len = bs_record_encode(r, buf, sizeof(buf));
	assert_true(len > 0);
	struct bs_record back;
	const char *reason;
	char err[256];
	if (bs_record_decode(buf, (size_t)len, &back, &reason, err, sizeof(err)) != 0)
		fail_msg("built record refused (%s): %s", err, buf);
	return 0;
}

static void fixture_init(struct fixture *f, uint32_t n_pools)
{
	memset(f, 0, sizeof(*f));
	bs_counter_layout_init(&f->layout, 4, n_pools);
	f->tidx.count = 4;
	f->tidx.tenant_id = tenant_ids;
	for (unsigned i = 0; i < 6; i++) {
		f->totals[i].cells = calloc(f->layout.n_cells, sizeof(struct bs_cell));
		assert_non_null(f->totals[i].cells);
	}
	bs_interval_table_init(&f->tab, &f->layout, f->totals, 6);
	f->id = (struct bs_close_identity){ .node_id = "node-t", .boot_id = BOOT,
		.interval_s = INTERVAL, .measure = BS_MEASURE_FRAME,
		.tidx = &f->tidx, .pool_id = pool_ids };
}

static void fixture_free(struct fixture *f)
{
	for (unsigned i = 0; i < 6; i++)
		free(f->totals[i].cells);
}

static struct bs_bank *bank_new(const struct fixture *f, int64_t start)
{
	struct bs_bank *b = calloc(1, sizeof(*b));
	assert_non_null(b);
	b->cells = calloc(f->layout.n_cells, sizeof(struct bs_cell));
	assert_non_null(b->cells);
	b->interval_start = start;
	return b;
}

static void bank_free(struct bs_bank *b)
{
	free(b->cells);
	free(b);
}

static void put(const struct fixture *f, struct bs_bank *b, uint32_t tenant,
		uint32_t pool, enum bs_direction dir, uint64_t packets, uint64_t bytes)
{
	struct bs_cell *c = &b->cells[bs_cell_index(&f->layout, tenant, pool, dir)];
	c->packets += packets;
	c->bytes += bytes;
	b->rx.packets += packets;
	b->rx.bytes += bytes;
}

static void test_merge_and_build(void **state)
{
	(void)state;
	static struct fixture f;
	static struct sink s;
	fixture_init(&f, 3);
	memset(&s, 0, sizeof(s));

	/* two workers' banks of interval 1000 */
	struct bs_bank *a = bank_new(&f, 1000), *b = bank_new(&f, 1000);
	a->map_version = 4;
	b->map_version = 6;
	put(&f, a, 1, 0, BS_DIR_IN, 10, 6400);
	put(&f, b, 1, 0, BS_DIR_IN, 5, 300);        /* same cell: summed */
	put(&f, a, 2, 2, BS_DIR_OUT, 3, 200);
	put(&f, b, 0, 1, BS_DIR_IN, 4, 256);        /* unattributed */
	put(&f, b, 3, 1, BS_DIR_OUT, 1, 1500);
	a->malformed = (struct bs_cell){ 3, 180 };
	a->rx.packets += 3; a->rx.bytes += 180;
	a->malformed_reason[BS_MAL_SHORT_IP] = 2;
	a->malformed_reason[BS_MAL_BAD_LENGTH] = 1;
	b->non_ip = (struct bs_cell){ 2, 120 };
	b->rx.packets += 2; b->rx.bytes += 120;
	b->late = (struct bs_cell){ 4, 700 };       /* older frames counted here */

	struct bs_merge_stats st = { 0 };
	bs_interval_merge(&f.tab, a, &st);
	bs_interval_merge(&f.tab, b, &st);
	assert_int_equal(st.rx_packets, 28);
	assert_int_equal(st.late_packets, 4);
	assert_int_equal(st.malformed_packets, 3);
	assert_int_equal(st.non_ip_packets, 2);

	struct bs_interval_totals *t = bs_interval_oldest(&f.tab);
	assert_non_null(t);
	assert_int_equal(t->start, 1000);
	assert_int_equal(bs_interval_usage_count(t, &f.layout), 4);

	struct bs_record sum;
	assert_int_equal(bs_interval_build(t, &f.layout, &f.id, 41, collect, &s, &sum), 0);
	assert_int_equal(s.n, 5);
	/* usage records in cell order: tenant index, pool index, direction */
	static const struct { uint32_t tenant, pool; enum bs_direction dir; uint64_t p, b; } want[] = {
		{ 0, 5, BS_DIR_IN, 4, 256 },
		{ 1001, 1, BS_DIR_IN, 15, 6700 },
		{ 1002, 9, BS_DIR_OUT, 3, 200 },
		{ 4000000000u, 5, BS_DIR_OUT, 1, 1500 },
	};
	for (unsigned i = 0; i < 4; i++) {
		const struct bs_record *r = &s.rec[i];
		assert_int_equal(r->head.type, BS_RECORD_USAGE);
		assert_int_equal(r->head.seq, 41 + i);
		assert_int_equal(r->head.interval_start, 1000);
		assert_int_equal(r->head.interval_len, INTERVAL);
		assert_int_equal(r->head.map_version, 6);
		assert_string_equal(r->head.node_id, "node-t");
		assert_memory_equal(r->head.boot_id, BOOT, BS_BOOT_ID_LEN);
		assert_int_equal(r->usage.tenant_id, want[i].tenant);
		assert_int_equal(r->usage.pool_id, want[i].pool);
		assert_int_equal(r->usage.direction, want[i].dir);
		assert_int_equal(r->usage.counts.packets, want[i].p);
		assert_int_equal(r->usage.counts.bytes, want[i].b);
	}
	const struct bs_record *r = &s.rec[4];
	assert_memory_equal(r, &sum, sizeof(sum));
	assert_int_equal(r->head.type, BS_RECORD_SUMMARY);
	assert_int_equal(r->head.seq, 45);
	assert_int_equal(r->summary.record_count, 4);
	assert_int_equal(r->summary.first_seq, 41);
	assert_int_equal(r->summary.dir[BS_DIR_IN].packets, 19);
	assert_int_equal(r->summary.dir[BS_DIR_IN].bytes, 6956);
	assert_int_equal(r->summary.dir[BS_DIR_OUT].packets, 4);
	assert_int_equal(r->summary.dir[BS_DIR_OUT].bytes, 1700);
	assert_int_equal(r->summary.unattributed.packets, 4);
	assert_int_equal(r->summary.unattributed.bytes, 256);
	assert_int_equal(r->summary.malformed.packets, 3);
	assert_int_equal(r->summary.malformed.bytes, 180);
	assert_int_equal(r->summary.non_ip.packets, 2);
	assert_int_equal(r->summary.rx.packets, 28);
	assert_int_equal(r->summary.rx.bytes, 8956);
	assert_int_equal(r->summary.late.packets, 4);
	assert_int_equal(r->summary.late.bytes, 700);
	/* reasons in the record's order, which names them as the parser does */
	for (unsigned i = 0; i < BS_RECORD_MAL_REASONS; i++)
		assert_string_equal(bs_record_malformed_reason_name(i),
				    bs_malformed_reason_name((enum bs_malformed_reason)(i + 1)));
	assert_int_equal(r->summary.malformed_reason[BS_MAL_SHORT_IP - 1], 2);
	assert_int_equal(r->summary.malformed_reason[BS_MAL_BAD_LENGTH - 1], 1);

	/* forgotten: the next interval is the oldest, closed_upto moved on */
	bs_interval_forget(&f.tab, t, INTERVAL);
	assert_null(bs_interval_oldest(&f.tab));
	assert_int_equal(f.tab.closed_upto, 1010);
	for (uint32_t c = 0; c < f.layout.n_cells; c++)
		assert_int_equal(f.totals[0].cells[c].packets + f.totals[1].cells[c].packets, 0);
	bank_free(a);
	bank_free(b);
	fixture_free(&f);
}

/* A bank of a closed interval joins the oldest open one, late as a whole
 * (its own late frames not counted twice). */
static void test_late_bank(void **state)
{
	(void)state;
	static struct fixture f;
	static struct sink s;
	fixture_init(&f, 1);
	memset(&s, 0, sizeof(s));
	struct bs_merge_stats st = { 0 };

	struct bs_bank *first = bank_new(&f, 1000);
	put(&f, first, 1, 0, BS_DIR_IN, 1, 100);
	bs_interval_merge(&f.tab, first, &st);
	bs_interval_forget(&f.tab, bs_interval_oldest(&f.tab), INTERVAL);

	struct bs_bank *late = bank_new(&f, 990);
	put(&f, late, 2, 0, BS_DIR_IN, 7, 700);
	late->late = (struct bs_cell){ 2, 200 };
	struct bs_bank *now = bank_new(&f, 1010);
	put(&f, now, 2, 0, BS_DIR_IN, 1, 50);
	now->late = (struct bs_cell){ 1, 50 };
	bs_interval_merge(&f.tab, late, &st);
	bs_interval_merge(&f.tab, now, &st);
	assert_int_equal(st.late_packets, 7 + 1);

	struct bs_interval_totals *t = bs_interval_oldest(&f.tab);
	assert_int_equal(t->start, 1010);
	assert_int_equal(bs_interval_build(t, &f.layout, &f.id, 1, collect, &s, NULL), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.rec[0].usage.tenant_id, 1002);
	assert_int_equal(s.rec[0].usage.counts.packets, 8);
	assert_int_equal(s.rec[1].summary.late.packets, 8);
	assert_int_equal(s.rec[1].summary.late.bytes, 750);
	assert_int_equal(s.rec[1].summary.rx.packets, 8);
	bank_free(first);
	bank_free(late);
	bank_free(now);
	fixture_free(&f);
}

/* No IP traffic: the summary alone, record_count 0 and first_seq 0; a sink
 * refusing a record stops the build with its value. */
static void test_empty_interval_and_sink_error(void **state)
{
	(void)state;
	static struct fixture f;
	static struct sink s;
	fixture_init(&f, 2);
	memset(&s, 0, sizeof(s));
	struct bs_merge_stats st = { 0 };
	struct bs_bank *b = bank_new(&f, 2000);
	b->non_ip = (struct bs_cell){ 3, 180 };
	b->rx = b->non_ip;
	bs_interval_merge(&f.tab, b, &st);
	struct bs_interval_totals *t = bs_interval_oldest(&f.tab);
	assert_int_equal(bs_interval_build(t, &f.layout, &f.id, 9, collect, &s, NULL), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.rec[0].head.type, BS_RECORD_SUMMARY);
	assert_int_equal(s.rec[0].head.seq, 9);
	assert_int_equal(s.rec[0].summary.record_count, 0);
	assert_int_equal(s.rec[0].summary.first_seq, 0);
	assert_int_equal(s.rec[0].summary.non_ip.packets, 3);

	put(&f, b, 1, 1, BS_DIR_OUT, 1, 60);
	bs_interval_merge(&f.tab, b, &st);
	memset(&s, 0, sizeof(s));
	s.fail_at = 2;   /* the summary */
	assert_int_equal(bs_interval_build(t, &f.layout, &f.id, 9, collect, &s, NULL), -7);
	assert_int_equal(s.n, 1);
	bank_free(b);
	fixture_free(&f);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % n;
}

/* Random banks of three workers over a few intervals, closed oldest first:
 * every summary is the sum of its usage records, and all the summaries
 * together hold every frame the banks counted. */
static void test_records_sum_to_summary(void **state)
{
	(void)state;
	static struct fixture f;
	static struct sink s;
	for (int round = 0; round < 200; round++) {
		fixture_init(&f, 1 + (uint32_t)rnd(3));
		struct bs_merge_stats st = { 0 };
		uint64_t bank_rx = 0, bank_rx_bytes = 0;
		for (int k = 0; k < 6; k++) {
			struct bs_bank *b = bank_new(&f, 1000 + INTERVAL * (int64_t)rnd(3));
			for (int c = 0; c < 8; c++)
				put(&f, b, (uint32_t)rnd(4), (uint32_t)rnd(f.layout.n_pools),
				    (enum bs_direction)rnd(2), 1 + rnd(1000), rnd(1u << 20));
			b->malformed = (struct bs_cell){ rnd(5), rnd(500) };
			b->malformed_reason[1 + rnd(6)] += b->malformed.packets;
			b->rx.packets += b->malformed.packets;
			b->rx.bytes += b->malformed.bytes;
			bank_rx += b->rx.packets;
			bank_rx_bytes += b->rx.bytes;
			bs_interval_merge(&f.tab, b, &st);
			bank_free(b);
		}
		uint64_t seq = 1, rx = 0, rx_bytes = 0;
		struct bs_interval_totals *t;
		while ((t = bs_interval_oldest(&f.tab)) != NULL) {
			memset(&s, 0, sizeof(s));
			assert_int_equal(bs_interval_build(t, &f.layout, &f.id, seq, collect, &s, NULL), 0);
			const struct bs_summary *sm = &s.rec[s.n - 1].summary;
			struct bs_counts dir[2] = { { 0, 0 }, { 0, 0 } }, un = { 0, 0 };
			for (unsigned i = 0; i + 1 < s.n; i++) {
				const struct bs_usage *u = &s.rec[i].usage;
				assert_int_equal(s.rec[i].head.seq, seq + i);
				dir[u->direction].packets += u->counts.packets;
				dir[u->direction].bytes += u->counts.bytes;
				if (u->tenant_id == 0) {
					un.packets += u->counts.packets;
					un.bytes += u->counts.bytes;
				}
			}
			assert_int_equal(sm->record_count, s.n - 1);
			for (int d = 0; d < 2; d++) {
				assert_int_equal(sm->dir[d].packets, dir[d].packets);
				assert_int_equal(sm->dir[d].bytes, dir[d].bytes);
			}
			assert_int_equal(sm->unattributed.packets, un.packets);
			assert_int_equal(sm->unattributed.bytes, un.bytes);
			rx += sm->rx.packets;
			rx_bytes += sm->rx.bytes;
			seq += s.n;
			bs_interval_forget(&f.tab, t, INTERVAL);
		}
		assert_int_equal(rx, bank_rx);
		assert_int_equal(rx_bytes, bank_rx_bytes);
		assert_int_equal(st.rx_packets, bank_rx);
		fixture_free(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_and_build),
		cmocka_unit_test(test_late_bank),
		cmocka_unit_test(test_empty_interval_and_sink_error),
		cmocka_unit_test(test_records_sum_to_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
