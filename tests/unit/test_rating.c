/*
 * test_rating.c — golden cases of the rating rules (settlement/rating.h),
 * each with its arithmetic written out: months of 28, 30 and 31 days, a DST
 * month, an allocation starting mid-month, a plan change mid-month (between
 * two 5-minute boundaries), overage, missing buckets, ties at the billed
 * rank, volume tiers crossing boundaries, each direction rule, lines and
 * VAT exactly on half a fen, amounts at and over the 64-bit limit, invoice
 * totals, carrier cost, and refused input.
 *
 * Periods (epoch seconds, computed from the zone database):
 *   Asia/Shanghai (+08:00, no DST):
 *     2026-02-01T00:00+08:00 = 1769875200   2026-03-01 = 1772294400
 *       → February 2026: 2,419,200 s = 28 d, 8,064 buckets
 *     2026-11-01T00:00+08:00 = 1793462400   2026-12-01 = 1796054400
 *       → November 2026: 2,592,000 s = 30 d, 8,640 buckets
 *     2027-01-01T00:00+08:00 = 1798732800
 *       → December 2026: 2,678,400 s = 31 d, 8,928 buckets
 *   Europe/Berlin (CET +01:00 → CEST +02:00 on 2026-03-29):
 *     2026-03-01T00:00+01:00 = 2026-02-28T23:00Z = 1772319600
 *     2026-04-01T00:00+02:00 = 2026-03-31T22:00Z = 1774994400
 *       → March 2026: 2,674,800 s = 31 d − 1 h, 8,916 buckets
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rating.h"

#define FEB26  INT64_C(1769875200)
#define MAR26  INT64_C(1772294400)
#define NOV26  INT64_C(1793462400)
#define DEC26  INT64_C(1796054400)
#define JAN27  INT64_C(1798732800)
#define BER_MAR INT64_C(1772319600)
#define BER_APR INT64_C(1774994400)
#define MBPS   INT64_C(1000000)

static struct bs_rating_scratch scratch;
static struct bs_sample S[BS_RATING_MAX_BUCKETS + 8];
static struct bs_charge_line L[16];

static struct bs_plan_version version(enum bs_plan_kind kind, int32_t ver,
				      int64_t from, int64_t to)
{
	struct bs_plan_version v = {
		.plan_id = 7, .version = ver, .kind = kind,
		.direction = BS_RULE_MAX, .vat_bp = 600,
		.valid = { from, to },
	};
	if (kind != BS_PLAN_VOLUME)
		v.price_fen_per_mbps = 3000;          /* 30 yuan per Mbps-month */
	if (kind == BS_PLAN_BURSTABLE95)
		v.overage_fen_per_mbps = 5000;        /* 50 yuan per Mbps-month */
	return v;
}

static struct bs_rating_alloc alloc(int64_t from, int64_t to)
{
	return (struct bs_rating_alloc){
		.alloc_id = 42, .tenant_id = 3, .pool_id = 1,
		.committed_bps = 100 * MBPS, .valid = { from, to },
	};
}

/* Rates one allocation, failing the test on an error. */
static size_t rate(struct bs_interval period, const struct bs_rating_alloc *a,
		   const struct bs_plan_version *v, size_t nv,
		   const struct bs_sample *s, size_t ns)
{
	struct bs_rating_error err;
	size_t n = 99;
	int rc = bs_rating_rate_allocation(period, a, v, nv, s, ns,
					   BS_MEASURE_FRAME, &scratch, L, 16, &n,
					   &err);
	if (rc)
		fail_msg("rating refused (%d): %s", rc, err.msg);
	return n;
}

static void expect_refused(int rc, const struct bs_rating_error *err,
			   enum bs_rating_status st, const char *part)
{
	assert_int_equal(rc, st);
	assert_int_equal(err->status, st);
	if (strstr(err->msg, part) == NULL)
		fail_msg("message '%s' lacks '%s'", err->msg, part);
}

/* ---- months of 28, 30, 31 days and a DST month, burstable95 ------------
 *
 * Every bucket has a sample; bucket i (0-based) carries in = v_i × 10⁶
 * bytes and out = v_i × 5·10⁵ bytes, where v_i = (7919·i mod N) + 1 runs
 * through 1..N in scrambled order (7919 is prime, N is not a multiple).
 * The direction rule max takes in. Sorted ascending, rank k holds v = k:
 * billed_bytes = k·10⁶, at the bucket i with 7919·i ≡ k − 1 (mod N).
 * Σin = N(N+1)/2 · 10⁶.
 *
 * commit 100 Mbps × 3000 fen, whole month: 300,000 fen in every month.
 * p95 = k·10⁶·8/300 bit/s; overage = (p95 − 10⁸)/10⁶ Mbps × 5000 fen:
 *   Feb (N 8,064): k = ⌈7,660.8⌉ = 7,661, dropped 403
 *     p95 = 7,661·8·10⁶/300 = 204,293,333.33… → over 104.29333… Mbps
 *     × 5000 = 521,466.67 → 521,467
 *   Nov (N 8,640): k = 8,208 exactly, dropped 432
 *     p95 = 8,208·8·10⁶/300 = 218,880,000 → 118.88 × 5000 = 594,400
 *   Dec (N 8,928): k = ⌈8,481.6⌉ = 8,482, dropped 446
 *     p95 = 226,186,666.67 → 126.18666… × 5000 = 630,933.33 → 630,933
 *   Berlin March (N 8,916): k = ⌈8,470.2⌉ = 8,471, dropped 445
 *     p95 = 225,893,333.33 → 125.89333… × 5000 = 629,466.67 → 629,467
 */
static void month_case(int64_t start, int64_t end, int64_t n_expect,
		       int64_t k_expect, int64_t dropped, int64_t overage_fen)
{
	int64_t n = (end - start) / 300;
	assert_int_equal(n, n_expect);
	int64_t billed_i = -1;
	for (int64_t i = 0; i < n; i++) {
		int64_t v = (7919 * i) % n + 1;
		S[i] = (struct bs_sample){ start + 300 * i, v * MBPS, v * 500000 };
		if (v == k_expect)
			billed_i = i;
	}
	struct bs_plan_version v = version(BS_PLAN_BURSTABLE95, 1, start - 86400,
					   BS_RATING_OPEN);
	struct bs_rating_alloc a = alloc(start - 3600, BS_RATING_OPEN);
	size_t nl = rate((struct bs_interval){ start, end }, &a, &v, 1, S,
			 (size_t)n);
	assert_int_equal(nl, 2);
	assert_int_equal(L[0].charge, BS_CHARGE_COMMIT);
	assert_int_equal(L[0].amount_fen, 300000);
	assert_int_equal(L[1].charge, BS_CHARGE_OVERAGE);
	assert_int_equal(L[1].amount_fen, overage_fen);
	for (int j = 0; j < 2; j++) {
		const struct bs_p95 *p = &L[j].p95;
		assert_int_equal(p->n_buckets, n);
		assert_int_equal(p->gaps, 0);
		assert_int_equal(p->billed_rank, k_expect);
		assert_int_equal(p->dropped, dropped);
		assert_true(p->has_billed);
		assert_false(p->billed_is_gap);
		assert_int_equal(p->billed_bucket, start + 300 * billed_i);
		assert_int_equal(p->billed_bytes, k_expect * MBPS);
		assert_int_equal(p->billed_in_bytes, k_expect * MBPS);
		assert_int_equal(p->billed_out_bytes, k_expect * 500000);
		assert_int_equal(p->bytes_in, n * (n + 1) / 2 * MBPS);
		assert_int_equal(p->bytes_out, n * (n + 1) / 2 * 500000);
		assert_int_equal(L[j].window.from, start);
		assert_int_equal(L[j].window.to, end);
		assert_int_equal(L[j].window_s, end - start);
		assert_int_equal(L[j].period_s, end - start);
		assert_int_equal(L[j].first_bucket, start);
		assert_int_equal(L[j].commit_bps, 100 * MBPS);
		assert_int_equal(L[j].alloc_id, 42);
		assert_int_equal(L[j].plan_id, 7);
		assert_int_equal(L[j].plan_version, 1);
		assert_int_equal(L[j].vat_bp, 600);
		assert_int_equal(L[j].direction, BS_RULE_MAX);
		assert_int_equal(L[j].measure, BS_MEASURE_FRAME);
	}
}

static void test_month_28_days(void **state)
{
	(void)state;
	month_case(FEB26, MAR26, 8064, 7661, 403, 521467);
}

static void test_month_30_days(void **state)
{
	(void)state;
	month_case(NOV26, DEC26, 8640, 8208, 432, 594400);
}

static void test_month_31_days(void **state)
{
	(void)state;
	month_case(DEC26, JAN27, 8928, 8482, 446, 630933);
}

static void test_month_dst_berlin(void **state)
{
	(void)state;
	month_case(BER_MAR, BER_APR, 8916, 8471, 445, 629467);
}

/* ---- allocation starting mid-month -------------------------------------
 * November 2026; allocation from 2026-11-16T10:02:30+08:00 = 1794794550,
 * open. Active seconds 1796054400 − 1794794550 = 1,259,850. Its first
 * bucket starts at 1794794400 (10:00 local, before the allocation: it
 * belongs to it), so N = (1796054400 − 1794794400)/300 = 4,200.
 * flat: 100 Mbps × 3000 × 1,259,850/2,592,000 = 145,815.97… → 145,816.
 * Samples: one at 1794794100 (before: not counted), one of 5 MB in the
 * straddling bucket 1794794400 (counted), one of 7 MB at the last bucket
 * 1796054100; gaps = 4,200 − 2 = 4,198.
 */
static void test_alloc_mid_month(void **state)
{
	(void)state;
	S[0] = (struct bs_sample){ 1794794100, 1000000, 0 };
	S[1] = (struct bs_sample){ 1794794400, 5000000, 0 };
	S[2] = (struct bs_sample){ 1796054100, 7000000, 0 };
	S[3] = (struct bs_sample){ 1796054400, 9000000, 0 };  /* December */
	struct bs_plan_version v = version(BS_PLAN_FLAT, 1, FEB26, BS_RATING_OPEN);
	struct bs_rating_alloc a = alloc(1794794550, BS_RATING_OPEN);
	size_t nl = rate((struct bs_interval){ NOV26, DEC26 }, &a, &v, 1, S, 4);
	assert_int_equal(nl, 1);
	assert_int_equal(L[0].charge, BS_CHARGE_COMMIT);
	assert_int_equal(L[0].window.from, 1794794550);
	assert_int_equal(L[0].window_s, 1259850);
	assert_int_equal(L[0].first_bucket, 1794794400);
	assert_int_equal(L[0].p95.n_buckets, 4200);
	assert_int_equal(L[0].p95.gaps, 4198);
	assert_int_equal(L[0].p95.bytes_in, 12000000);
	assert_int_equal(L[0].amount_fen, 145816);
}

/* ---- plan change mid-month, between two 5-minute boundaries ------------
 * November 2026, burstable95, commit 100 Mbps. Version 1 (commit 3000,
 * overage 5000) until 2026-11-11T00:02:00+08:00 = 1794326520, version 2
 * (commit 4000, overage 6000) from then on.
 *   segment 1 [1793462400, 1794326520): 864,120 s; buckets 1793462400 ..
 *     1794326400 (the bucket starting 00:00 local, in force: version 1):
 *     N1 = (1794326700 − 1793462400)/300 = 2,881, k = ⌈2,736.95⌉ = 2,737
 *     commit 100 × 3000 × 864,120/2,592,000 = 100,013.89 → 100,014
 *   segment 2 [1794326520, 1796054400): 1,727,880 s; buckets from
 *     1794326700: N2 = 1,727,700/300 = 5,759, k = ⌈5,471.05⌉ = 5,472
 *     commit 100 × 4000 × 1,727,880/2,592,000 = 266,648.15 → 266,648
 * Samples: segment 1's buckets 10⁷ bytes (266,666 bit/s, under the commit:
 * overage 0), except the straddling bucket 1794326400 with 10¹² bytes (one
 * of the 144 dropped); segment 2's buckets 4.5·10⁹ bytes = 120 Mbps:
 *     overage 20 Mbps × 6000 × 1,727,880/2,592,000 = 79,994.44 → 79,994
 * Σin segment 1 = 2,880 × 10⁷ + 10¹² = 1,028,800,000,000.
 */
static void test_plan_change_mid_month(void **state)
{
	(void)state;
	size_t n = 0;
	for (int64_t b = NOV26; b < DEC26; b += 300, n++) {
		int64_t bytes = b < 1794326520 ? 10000000 : 4500000000;
		if (b == 1794326400)
			bytes = 1000000000000;
		S[n] = (struct bs_sample){ b, bytes, 0 };
	}
	struct bs_plan_version v[2] = {
		version(BS_PLAN_BURSTABLE95, 1, FEB26, 1794326520),
		version(BS_PLAN_BURSTABLE95, 2, 1794326520, BS_RATING_OPEN),
	};
	v[1].price_fen_per_mbps = 4000;
	v[1].overage_fen_per_mbps = 6000;
	struct bs_rating_alloc a = alloc(FEB26, BS_RATING_OPEN);
	size_t nl = rate((struct bs_interval){ NOV26, DEC26 }, &a, v, 2, S, n);
	assert_int_equal(nl, 4);
	assert_int_equal(L[0].plan_version, 1);
	assert_int_equal(L[0].window_s, 864120);
	assert_int_equal(L[0].p95.n_buckets, 2881);
	assert_int_equal(L[0].p95.billed_rank, 2737);
	assert_int_equal(L[0].p95.billed_bytes, 10000000);
	assert_int_equal(L[0].p95.bytes_in, 1028800000000);
	assert_int_equal(L[0].amount_fen, 100014);
	assert_int_equal(L[1].charge, BS_CHARGE_OVERAGE);
	assert_int_equal(L[1].amount_fen, 0);
	assert_int_equal(L[2].plan_version, 2);
	assert_int_equal(L[2].window.from, 1794326520);
	assert_int_equal(L[2].window_s, 1727880);
	assert_int_equal(L[2].first_bucket, 1794326700);
	assert_int_equal(L[2].p95.n_buckets, 5759);
	assert_int_equal(L[2].p95.billed_rank, 5472);
	assert_int_equal(L[2].p95.billed_bytes, 4500000000);
	assert_int_equal(L[2].amount_fen, 266648);
	assert_int_equal(L[3].unit_price_fen, 6000);
	assert_int_equal(L[3].amount_fen, 79994);
}

/* ---- an allocation changed mid-bucket ------------------------------------
 * `alloc change` at 2026-11-11T00:02:00+08:00 = 1794326520: allocation A
 * [Feb, 1794326520) and B [1794326520, ∞), same tenant and pool, flat.
 * The bucket 1794326400 (00:00 local) straddles the change; A is in force
 * at its start, so it is A's only:
 *   A: buckets 1793462400 .. 1794326400: N = 864,300/300 = 2,881
 *   B: buckets from 1794326700: N = 1,727,700/300 = 5,759
 *   2,881 + 5,759 = 8,640: no bucket twice. Unmarked, B would count it too
 *   (N = 5,760). A sample of 7·10⁶ bytes in it is in A's Σin only.
 * B's proration is by its exact seconds: 100 × 3000 × 1,727,880/2,592,000
 * = 199,986.11 → 199,986. bs_rating_mark_changes flags B only; an
 * allocation starting mid-bucket with nothing before it is not flagged,
 * nor one whose predecessor ended a bucket earlier; a predecessor ending
 * inside the same bucket (a gap of a minute) still owns it.
 */
static void test_alloc_change_mid_bucket(void **state)
{
	(void)state;
	struct bs_interval nov = { NOV26, DEC26 };
	struct bs_plan_version v = version(BS_PLAN_FLAT, 1, FEB26, BS_RATING_OPEN);
	struct bs_rating_alloc ab[2] = { alloc(FEB26, 1794326520),
					 alloc(1794326520, BS_RATING_OPEN) };
	ab[1].alloc_id = 43;
	bs_rating_mark_changes(ab, 2);
	assert_false(ab[0].first_bucket_elsewhere);
	assert_true(ab[1].first_bucket_elsewhere);
	S[0] = (struct bs_sample){ 1794326400, 7000000, 0 };
	rate(nov, &ab[0], &v, 1, S, 1);
	assert_int_equal(L[0].p95.n_buckets, 2881);
	assert_int_equal(L[0].p95.bytes_in, 7000000);
	rate(nov, &ab[1], &v, 1, S, 1);
	assert_int_equal(L[0].first_bucket, 1794326700);
	assert_int_equal(L[0].p95.n_buckets, 5759);
	assert_int_equal(L[0].p95.bytes_in, 0);
	assert_int_equal(L[0].amount_fen, 199986);
	ab[1].first_bucket_elsewhere = false;
	rate(nov, &ab[1], &v, 1, S, 1);
	assert_int_equal(L[0].p95.n_buckets, 5760);

	struct bs_rating_alloc other[3] = {
		alloc(1794794550, BS_RATING_OPEN),               /* alone */
		alloc(NOV26, NOV26 + 60),                        /* ends 00:01 */
		alloc(NOV26 + 180, DEC26),                       /* starts 00:03 */
	};
	other[0].pool_id = 9;
	bs_rating_mark_changes(other, 3);
	assert_false(other[0].first_bucket_elsewhere);
	assert_false(other[1].first_bucket_elsewhere);
	assert_true(other[2].first_bucket_elsewhere);
	other[1].valid.to = NOV26 - 300 + 60;   /* ended in the bucket before */
	other[1].valid.from = NOV26 - 300;
	bs_rating_mark_changes(other, 3);
	assert_false(other[2].first_bucket_elsewhere);
}

/* ---- missing buckets ----------------------------------------------------
 * Allocation [Nov, Nov + 30,000 s): N = 100 buckets, k = 95, dropped 5.
 * Samples at buckets 3, 13, …, 93 (10 of them); bucket 3 + 10j carries
 * (10 − j)·10⁶ bytes. Sorted: 90 gaps (0), then 1·10⁶ … 10·10⁶; rank 95 is
 * the 5th present value, 5·10⁶, at j = 5: bucket 53.
 * flat: 100 × 3000 × 30,000/2,592,000 = 3,472.22 → 3,472.
 * Then only buckets 0, 1, 2 present: rank 95 falls among the 97 gaps, all
 * 0, ordered by time: the 95th gap is bucket 97 (gaps are 3..99).
 */
static void test_missing_buckets(void **state)
{
	(void)state;
	for (int j = 0; j < 10; j++)
		S[j] = (struct bs_sample){ NOV26 + 300 * (3 + 10 * j),
					   (10 - j) * MBPS, 0 };
	struct bs_plan_version v = version(BS_PLAN_FLAT, 1, FEB26, BS_RATING_OPEN);
	struct bs_rating_alloc a = alloc(NOV26, NOV26 + 30000);
	size_t nl = rate((struct bs_interval){ NOV26, DEC26 }, &a, &v, 1, S, 10);
	assert_int_equal(nl, 1);
	assert_int_equal(L[0].p95.n_buckets, 100);
	assert_int_equal(L[0].p95.gaps, 90);
	assert_int_equal(L[0].p95.billed_rank, 95);
	assert_int_equal(L[0].p95.dropped, 5);
	assert_int_equal(L[0].p95.billed_bytes, 5 * MBPS);
	assert_int_equal(L[0].p95.billed_bucket, NOV26 + 300 * 53);
	assert_false(L[0].p95.billed_is_gap);
	assert_int_equal(L[0].amount_fen, 3472);

	for (int j = 0; j < 3; j++)
		S[j] = (struct bs_sample){ NOV26 + 300 * j, MBPS, MBPS };
	nl = rate((struct bs_interval){ NOV26, DEC26 }, &a, &v, 1, S, 3);
	assert_int_equal(L[0].p95.gaps, 97);
	assert_int_equal(L[0].p95.billed_bytes, 0);
	assert_true(L[0].p95.billed_is_gap);
	assert_int_equal(L[0].p95.billed_bucket, NOV26 + 300 * 97);
}

/* ---- ties at the billed rank --------------------------------------------
 * N = 20 (allocation of 6,000 s), k = ⌈19⌉ = 19. Ties are ordered by
 * bucket start. All 20 buckets 7·10⁶: the billed bucket is the 19th,
 * index 18. Then even buckets 2·10⁶, odd 1·10⁶: sorted, ten 1·10⁶ (odd
 * indices) then ten 2·10⁶ (indices 0, 2, …, 18); rank 19 is the 9th of
 * those: index 16.
 */
static void test_ties(void **state)
{
	(void)state;
	struct bs_plan_version v = version(BS_PLAN_FLAT, 1, FEB26, BS_RATING_OPEN);
	struct bs_rating_alloc a = alloc(NOV26, NOV26 + 6000);
	struct bs_interval nov = { NOV26, DEC26 };
	for (int i = 0; i < 20; i++)
		S[i] = (struct bs_sample){ NOV26 + 300 * i, 7 * MBPS, 0 };
	rate(nov, &a, &v, 1, S, 20);
	assert_int_equal(L[0].p95.billed_rank, 19);
	assert_int_equal(L[0].p95.billed_bucket, NOV26 + 300 * 18);
	for (int i = 0; i < 20; i++)
		S[i].in_bytes = i % 2 ? MBPS : 2 * MBPS;
	rate(nov, &a, &v, 1, S, 20);
	assert_int_equal(L[0].p95.billed_bytes, 2 * MBPS);
	assert_int_equal(L[0].p95.billed_bucket, NOV26 + 300 * 16);
}

/* ---- each direction rule on the 95th ------------------------------------
 * N = 20, k = 19. Bucket i: in = (i + 1)·10⁶, out = (20 − i)·10⁶.
 *   in:  1..20 ascending by time → rank 19 = 19·10⁶ at i = 18
 *   out: 20..1 → rank 19 = 19·10⁶ at i = 1
 *   max: max(i + 1, 20 − i) = 20, 19, …, 11, 11, …, 20; sorted the two
 *        20s are last, i = 0 before i = 19: rank 19 = 20·10⁶ at i = 0
 *   sum: 21·10⁶ everywhere → rank 19 at i = 18
 */
static void test_direction_rules_p95(void **state)
{
	(void)state;
	static const struct { enum bs_dir_rule r; int64_t bytes; int idx; } c[] = {
		{ BS_RULE_IN, 19, 18 }, { BS_RULE_OUT, 19, 1 },
		{ BS_RULE_MAX, 20, 0 }, { BS_RULE_SUM, 21, 18 },
	};
	for (int i = 0; i < 20; i++)
		S[i] = (struct bs_sample){ NOV26 + 300 * i, (i + 1) * MBPS,
					   (20 - i) * MBPS };
	struct bs_rating_alloc a = alloc(NOV26, NOV26 + 6000);
	for (size_t j = 0; j < sizeof c / sizeof c[0]; j++) {
		struct bs_plan_version v = version(BS_PLAN_BURSTABLE95, 1, FEB26,
						   BS_RATING_OPEN);
		v.direction = c[j].r;
		rate((struct bs_interval){ NOV26, DEC26 }, &a, &v, 1, S, 20);
		assert_int_equal(L[0].direction, c[j].r);
		assert_int_equal(L[1].p95.billed_bytes, c[j].bytes * MBPS);
		assert_int_equal(L[1].p95.billed_bucket, NOV26 + 300 * c[j].idx);
	}
}

/* ---- volume: tiers crossing boundaries, direction rule on totals -------
 * Tiers: [0, 100) GB at 50 fen, [100, 1000) GB at 30, [1000, ∞) at 10.
 *   V = 150.5 GB:  100 × 50 + 50.5 × 30 = 5,000 + 1,515 = 6,515
 *   V = 1,200 GB:  100 × 50 + 900 × 30 + 200 × 10 = 34,000
 *   V = 100 GB exactly: 5,000;  V = 10¹¹ + 1 bytes: 5,000 + 3·10⁻⁸ → 5,000
 *   V = 16,667 bytes at one tier of 30,000 fen/GB: 0.50001 → 1 (half-up);
 *   V = 16,666 bytes: 0.49998 → 0
 * Not prorated: the allocation covers 6,000 s of November.
 * Direction rule on the window's totals, not per bucket: buckets (in, out)
 * = (100 GB, 0), (0, 80 GB), (0, 80 GB): Σin 100, Σout 160 GB.
 *   max → 160 GB (not Σ per-bucket max = 260): 100 × 50 + 60 × 30 = 6,800
 *   in → 100 GB: 5,000;  out → 160 GB: 6,800;  sum → 260 GB: 9,800
 */
static void test_volume_tiers(void **state)
{
	(void)state;
	struct bs_plan_version v = version(BS_PLAN_VOLUME, 1, FEB26, BS_RATING_OPEN);
	v.n_tiers = 3;
	v.tier_from_gb[0] = 0;    v.tier_fen_per_gb[0] = 50;
	v.tier_from_gb[1] = 100;  v.tier_fen_per_gb[1] = 30;
	v.tier_from_gb[2] = 1000; v.tier_fen_per_gb[2] = 10;
	struct bs_rating_alloc a = alloc(NOV26, NOV26 + 6000);
	struct bs_interval nov = { NOV26, DEC26 };
	static const struct { int64_t in; int64_t fen; } c[] = {
		{ INT64_C(150500000000), 6515 }, { INT64_C(1200000000000), 34000 },
		{ INT64_C(100000000000), 5000 }, { INT64_C(100000000001), 5000 },
	};
	for (size_t j = 0; j < sizeof c / sizeof c[0]; j++) {
		S[0] = (struct bs_sample){ NOV26 + 600, c[j].in, 1000 };
		size_t nl = rate(nov, &a, &v, 1, S, 1);
		assert_int_equal(nl, 1);
		assert_int_equal(L[0].charge, BS_CHARGE_VOLUME);
		assert_int_equal(L[0].quantity, c[j].in);
		assert_int_equal(L[0].amount_fen, c[j].fen);
	}

	struct bs_plan_version one = v;
	one.n_tiers = 1;
	one.tier_fen_per_gb[0] = 30000;
	S[0] = (struct bs_sample){ NOV26, 16667, 0 };
	rate(nov, &a, &one, 1, S, 1);
	assert_int_equal(L[0].amount_fen, 1);
	S[0].in_bytes = 16666;
	rate(nov, &a, &one, 1, S, 1);
	assert_int_equal(L[0].amount_fen, 0);

	S[0] = (struct bs_sample){ NOV26, 100 * INT64_C(1000000000), 0 };
	S[1] = (struct bs_sample){ NOV26 + 300, 0, 80 * INT64_C(1000000000) };
	S[2] = (struct bs_sample){ NOV26 + 600, 0, 80 * INT64_C(1000000000) };
	static const struct { enum bs_dir_rule r; int64_t gb; int64_t fen; } d[] = {
		{ BS_RULE_MAX, 160, 6800 }, { BS_RULE_IN, 100, 5000 },
		{ BS_RULE_OUT, 160, 6800 }, { BS_RULE_SUM, 260, 9800 },
	};
	for (size_t j = 0; j < sizeof d / sizeof d[0]; j++) {
		v.direction = d[j].r;
		rate(nov, &a, &v, 1, S, 3);
		assert_int_equal(L[0].quantity, d[j].gb * INT64_C(1000000000));
		assert_int_equal(L[0].amount_fen, d[j].fen);
		assert_int_equal(L[0].p95.bytes_in, 100 * INT64_C(1000000000));
		assert_int_equal(L[0].p95.bytes_out, 160 * INT64_C(1000000000));
	}
}

/* ---- half a fen ---------------------------------------------------------
 * flat, whole November, price 1 fen per Mbps-month:
 *   commit 500,000 bit/s = 0.5 Mbps × 1 = 0.5 fen → 1 (half-up)
 *   1,500,000 → 1.5 → 2;  2,500,000 → 2.5 → 3 (not 2: no banker's rounding)
 *   499,999 → 0.499999 → 0
 * VAT 6%: base 25 → 1.5 → 2; base 75 → 4.5 → 5; base 8 → 0.48 → 0.
 */
static void test_half_fen(void **state)
{
	(void)state;
	static const struct { int64_t commit; int64_t fen; } c[] = {
		{ 500000, 1 }, { 1500000, 2 }, { 2500000, 3 }, { 499999, 0 },
	};
	struct bs_plan_version v = version(BS_PLAN_FLAT, 1, FEB26, BS_RATING_OPEN);
	v.price_fen_per_mbps = 1;
	for (size_t j = 0; j < sizeof c / sizeof c[0]; j++) {
		struct bs_rating_alloc a = alloc(NOV26, DEC26);
		a.committed_bps = c[j].commit;
		rate((struct bs_interval){ NOV26, DEC26 }, &a, &v, 1, S, 0);
		assert_int_equal(L[0].amount_fen, c[j].fen);
	}
	static const struct { int64_t base; int64_t vat; } t[] = {
		{ 25, 2 }, { 75, 5 }, { 8, 0 },
	};
	for (size_t j = 0; j < sizeof t / sizeof t[0]; j++) {
		struct bs_line_amount la = { t[j].base, 600 };
		struct bs_vat_group g[2];
		size_t ng;
		int64_t sub, vat, tot;
		struct bs_rating_error err;
		assert_int_equal(bs_rating_invoice_totals(&la, 1, g, 2, &ng, &sub,
							  &vat, &tot, &err), 0);
		assert_int_equal(vat, t[j].vat);
		assert_int_equal(tot, t[j].base + t[j].vat);
	}
}

/* ---- the 64-bit limit ---------------------------------------------------
 * flat, whole November, commit INT64_MAX bit/s × 1,000,000 fen per Mbps
 * = INT64_MAX fen exactly (9,223,372,036,854,775,807): accepted.
 * 1,000,001 fen: 9,223,381,260,226,812,661.8… → refused (ERANGE).
 * × INT64_MAX fen: the numerator passes 2^128 → refused, not wrapped.
 * commit 2^62 bit/s × 2^45 fen × 2^21 s (an allocation of 2,097,152 s):
 * the numerator is exactly 2^128, which wrapped would be 0 fen; the
 * amount is 2^128/(10⁶ × 2,592,000) ≈ 1.3·10²⁶ fen → refused.
 * burstable95 with a sample of INT64_MAX bytes, overage INT64_MAX fen:
 * refused. Direction rule sum with in = out = INT64_MAX: refused.
 * Invoice: two lines of 2^62 fen (Σ = 2^63 > INT64_MAX): refused;
 * INT64_MAX at 0% is a valid total, at 6% its VAT overflows: refused.
 */
static void test_64bit_limit(void **state)
{
	(void)state;
	struct bs_interval nov = { NOV26, DEC26 };
	struct bs_plan_version v = version(BS_PLAN_FLAT, 1, FEB26, BS_RATING_OPEN);
	struct bs_rating_alloc a = alloc(NOV26, DEC26);
	a.committed_bps = INT64_MAX;
	v.price_fen_per_mbps = 1000000;
	rate(nov, &a, &v, 1, S, 0);
	assert_int_equal(L[0].amount_fen, INT64_MAX);

	struct bs_rating_error err;
	size_t n = 5;
	v.price_fen_per_mbps = 1000001;
	int rc = bs_rating_rate_allocation(nov, &a, &v, 1, S, 0, BS_MEASURE_FRAME,
					   &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_ERANGE, "commit line exceeds the 64-bit");
	assert_int_equal(n, 0);
	v.price_fen_per_mbps = INT64_MAX;
	rc = bs_rating_rate_allocation(nov, &a, &v, 1, S, 0, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_ERANGE, "commit line exceeds the 64-bit");
	struct bs_rating_alloc wrap = alloc(NOV26, NOV26 + (INT64_C(1) << 21));
	wrap.committed_bps = INT64_C(1) << 62;
	v.price_fen_per_mbps = INT64_C(1) << 45;
	rc = bs_rating_rate_allocation(nov, &wrap, &v, 1, S, 0, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_ERANGE, "commit line exceeds the 64-bit");

	struct bs_plan_version b = version(BS_PLAN_BURSTABLE95, 1, FEB26,
					   BS_RATING_OPEN);
	b.overage_fen_per_mbps = INT64_MAX;
	struct bs_rating_alloc small = alloc(NOV26, NOV26 + 300);
	S[0] = (struct bs_sample){ NOV26, INT64_MAX, 0 };
	rc = bs_rating_rate_allocation(nov, &small, &b, 1, S, 1, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_ERANGE, "overage line exceeds the 64-bit");
	assert_int_equal(n, 0);

	b = version(BS_PLAN_BURSTABLE95, 1, FEB26, BS_RATING_OPEN);
	b.direction = BS_RULE_SUM;
	S[0] = (struct bs_sample){ NOV26, INT64_MAX, INT64_MAX };
	rc = bs_rating_rate_allocation(nov, &small, &b, 1, S, 1, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_ERANGE, "exceed the 64-bit limit");

	struct bs_line_amount two[2] = { { INT64_C(1) << 62, 600 },
					 { INT64_C(1) << 62, 600 } };
	struct bs_vat_group g[4];
	size_t ng;
	int64_t sub, vat, tot;
	rc = bs_rating_invoice_totals(two, 2, g, 4, &ng, &sub, &vat, &tot, &err);
	expect_refused(rc, &err, BS_RATING_ERANGE, "exceeds the 64-bit limit");
	struct bs_line_amount max0 = { INT64_MAX, 0 };
	assert_int_equal(bs_rating_invoice_totals(&max0, 1, g, 4, &ng, &sub, &vat,
						  &tot, &err), 0);
	assert_int_equal(tot, INT64_MAX);
	struct bs_line_amount max6 = { INT64_MAX, 600 };
	rc = bs_rating_invoice_totals(&max6, 1, g, 4, &ng, &sub, &vat, &tot, &err);
	expect_refused(rc, &err, BS_RATING_ERANGE, "total exceeds");
}

/* ---- invoice totals: VAT per rate ---------------------------------------
 * Lines (fen, bp): (300,000, 600), (1,000, 900), (594,400, 600), (0, 0).
 * Groups ascending: 0 bp: base 0, VAT 0; 600: base 894,400 × 6% =
 * 53,664; 900: base 1,000 × 9% = 90. Subtotal 895,400, VAT 53,754,
 * total 949,154. Per rate, not per line: (1, 600) × 3 lines = base 3 ×
 * 6% = 0.18 → 0, the same as rounding each (0.06 → 0); (9, 600) × 3 =
 * base 27 → 1.62 → 2, where per line 0.54 → 1 each would give 3.
 */
static void test_invoice_totals(void **state)
{
	(void)state;
	struct bs_line_amount in[] = { { 300000, 600 }, { 1000, 900 },
				       { 594400, 600 }, { 0, 0 } };
	struct bs_vat_group g[4];
	size_t ng;
	int64_t sub, vat, tot;
	struct bs_rating_error err;
	assert_int_equal(bs_rating_invoice_totals(in, 4, g, 4, &ng, &sub, &vat,
						  &tot, &err), 0);
	assert_int_equal(ng, 3);
	assert_int_equal(g[0].vat_bp, 0);
	assert_int_equal(g[0].base_fen, 0);
	assert_int_equal(g[1].vat_bp, 600);
	assert_int_equal(g[1].base_fen, 894400);
	assert_int_equal(g[1].vat_fen, 53664);
	assert_int_equal(g[2].vat_bp, 900);
	assert_int_equal(g[2].vat_fen, 90);
	assert_int_equal(sub, 895400);
	assert_int_equal(vat, 53754);
	assert_int_equal(tot, 949154);

	struct bs_line_amount nine[3] = { { 9, 600 }, { 9, 600 }, { 9, 600 } };
	assert_int_equal(bs_rating_invoice_totals(nine, 3, g, 4, &ng, &sub, &vat,
						  &tot, &err), 0);
	assert_int_equal(vat, 2);
	int rc = bs_rating_invoice_totals(in, 4, g, 2, &ng, &sub, &vat, &tot, &err);
	expect_refused(rc, &err, BS_RATING_ECAPACITY, "VAT rates");
}

/* ---- carrier cost -------------------------------------------------------
 * flat: fee 10,000,000 fen, pool valid from 1794794550 (mid-November):
 *   10⁷ × 1,259,850/2,592,000 = 4,860,532.41 → 4,860,532
 * p95: every November bucket 3.75·10⁹ bytes = 100 Mbps, price 2000 fen:
 *   floor 200 Mbps: max(100, 200) × 2000 = 400,000 (floor applied)
 *   floor 50 Mbps: 100 × 2000 = 200,000
 * A pool valid only in October costs 0 with an empty window.
 */
static void test_carrier_cost(void **state)
{
	(void)state;
	struct bs_interval nov = { NOV26, DEC26 };
	struct bs_carrier_cost cc;
	struct bs_rating_error err;
	struct bs_pool_contract c = {
		.pool_id = 1, .valid = { 1794794550, BS_RATING_OPEN },
		.model = BS_COST_FLAT, .direction = BS_RULE_MAX,
		.monthly_fee_fen = 10000000,
	};
	assert_int_equal(bs_rating_carrier_cost(nov, &c, S, 0, &scratch, &cc,
						&err), 0);
	assert_int_equal(cc.window_s, 1259850);
	assert_int_equal(cc.amount_fen, 4860532);

	size_t n = 0;
	for (int64_t t = NOV26; t < DEC26; t += 300)
		S[n++] = (struct bs_sample){ t, 1000, 3750000000 };
	c = (struct bs_pool_contract){
		.pool_id = 2, .valid = { FEB26, BS_RATING_OPEN },
		.model = BS_COST_P95, .direction = BS_RULE_MAX,
		.price_fen_per_mbps = 2000, .commit_floor_bps = 200 * MBPS,
	};
	assert_int_equal(bs_rating_carrier_cost(nov, &c, S, n, &scratch, &cc,
						&err), 0);
	assert_int_equal(cc.p95.n_buckets, 8640);
	assert_int_equal(cc.p95.billed_bytes, 3750000000);
	assert_true(cc.floor_applied);
	assert_int_equal(cc.amount_fen, 400000);
	c.commit_floor_bps = 50 * MBPS;
	assert_int_equal(bs_rating_carrier_cost(nov, &c, S, n, &scratch, &cc,
						&err), 0);
	assert_false(cc.floor_applied);
	assert_int_equal(cc.amount_fen, 200000);

	c.valid = (struct bs_interval){ NOV26 - 86400 * 31, NOV26 };
	assert_int_equal(bs_rating_carrier_cost(nov, &c, S, n, &scratch, &cc,
						&err), 0);
	assert_int_equal(cc.window_s, 0);
	assert_int_equal(cc.p95.n_buckets, 0);
	assert_int_equal(cc.amount_fen, 0);
}

/* ---- segments: holes, short segments, inactive allocations --------------
 * Versions [Feb, Nov + 100), [Nov + 100, Nov + 200), [Nov + 200, ∞):
 * segment 2 has no bucket start in it (N = 0, no billed sample), yet its
 * 100 s are charged: flat 100 × 3000 × 100/2,592,000 = 11.57 → 12.
 * Segment 1 (100 s) owns bucket Nov (N = 1); segment 3 the other 8,639.
 * A version ending at Nov + 1000 and the next starting at Nov + 1300:
 * a hole; refused with ENOVERSION naming the instant Nov + 1000.
 */
static void test_segments(void **state)
{
	(void)state;
	struct bs_interval nov = { NOV26, DEC26 };
	struct bs_plan_version v[3] = {
		version(BS_PLAN_FLAT, 1, FEB26, NOV26 + 100),
		version(BS_PLAN_FLAT, 2, NOV26 + 100, NOV26 + 200),
		version(BS_PLAN_FLAT, 3, NOV26 + 200, BS_RATING_OPEN),
	};
	struct bs_rating_alloc a = alloc(FEB26, BS_RATING_OPEN);
	S[0] = (struct bs_sample){ NOV26, 5, 0 };
	size_t nl = rate(nov, &a, v, 3, S, 1);
	assert_int_equal(nl, 3);
	assert_int_equal(L[0].p95.n_buckets, 1);
	assert_int_equal(L[0].p95.bytes_in, 5);
	assert_int_equal(L[1].p95.n_buckets, 0);
	assert_false(L[1].p95.has_billed);
	assert_int_equal(L[1].p95.billed_rank, 0);
	assert_int_equal(L[1].amount_fen, 12);
	assert_int_equal(L[2].p95.n_buckets, 8639);
	assert_int_equal(L[2].first_bucket, NOV26 + 300);

	struct bs_segment segs[4];
	size_t ns = 9;
	struct bs_rating_error err;
	struct bs_plan_version hole[2] = {
		version(BS_PLAN_FLAT, 1, FEB26, NOV26 + 1000),
		version(BS_PLAN_FLAT, 2, NOV26 + 1300, BS_RATING_OPEN),
	};
	int rc = bs_rating_segments(nov, a.valid, hole, 2, segs, 4, &ns, &err);
	expect_refused(rc, &err, BS_RATING_ENOVERSION, "1793463400");
	assert_int_equal(ns, 0);
	rc = bs_rating_segments(nov, a.valid, hole, 1, segs, 4, &ns, &err);
	expect_refused(rc, &err, BS_RATING_ENOVERSION, "no version in force");

	/* Not active in November: no segment, no line. */
	struct bs_rating_alloc oct = alloc(FEB26, NOV26);
	assert_int_equal(rate(nov, &oct, v, 3, S, 1), 0);
	/* Ends mid-bucket: the bucket it ends in is its last. */
	struct bs_rating_alloc part = alloc(NOV26, NOV26 + 450);
	struct bs_plan_version all = version(BS_PLAN_FLAT, 1, FEB26, BS_RATING_OPEN);
	rate(nov, &part, &all, 1, S, 0);
	assert_int_equal(L[0].p95.n_buckets, 2);
}

/* ---- refused input --------------------------------------------------- */
static void test_refused_input(void **state)
{
	(void)state;
	struct bs_interval nov = { NOV26, DEC26 };
	struct bs_plan_version v = version(BS_PLAN_FLAT, 1, FEB26, BS_RATING_OPEN);
	struct bs_rating_alloc a = alloc(NOV26, DEC26);
	struct bs_rating_error err;
	size_t n;
	int rc;

	S[0] = (struct bs_sample){ NOV26 + 600, 1, 1 };
	S[1] = (struct bs_sample){ NOV26 + 300, 1, 1 };
	rc = bs_rating_rate_allocation(nov, &a, &v, 1, S, 2, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_EINVAL, "sorted");
	S[1] = (struct bs_sample){ NOV26 + 601, 1, 1 };
	rc = bs_rating_rate_allocation(nov, &a, &v, 1, S, 2, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_EINVAL, "multiple of 300");
	S[1] = (struct bs_sample){ NOV26 + 900, -1, 1 };
	rc = bs_rating_rate_allocation(nov, &a, &v, 1, S, 2, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_EINVAL, "negative bytes");

	rc = bs_rating_rate_allocation((struct bs_interval){ NOV26, NOV26 + 40 * 86400 },
				       &a, &v, 1, S, 0, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_EINVAL, "period");
	struct bs_plan_version bad = v;
	bad.vat_bp = 10001;
	rc = bs_rating_rate_allocation(nov, &a, &bad, 1, S, 0, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_EINVAL, "vat_bp 10001");
	bad = version(BS_PLAN_VOLUME, 1, FEB26, BS_RATING_OPEN);
	bad.n_tiers = 2;
	bad.tier_from_gb[1] = 0;
	rc = bs_rating_rate_allocation(nov, &a, &bad, 1, S, 0, BS_MEASURE_FRAME,
				       &scratch, L, 16, &n, &err);
	expect_refused(rc, &err, BS_RATING_EINVAL, "strictly ascending");
	struct bs_plan_version two[2] = {
		version(BS_PLAN_BURSTABLE95, 1, FEB26, NOV26 + 86400),
		version(BS_PLAN_BURSTABLE95, 2, NOV26 + 86400, BS_RATING_OPEN),
	};
	rc = bs_rating_rate_allocation(nov, &a, two, 2, S, 0, BS_MEASURE_FRAME,
				       &scratch, L, 3, &n, &err);
	expect_refused(rc, &err, BS_RATING_ECAPACITY, "more than 3 lines");
	assert_int_equal(n, 0);
}

/* ---- the billed sample = the rank-k element of a full sort --------------
 * The library selects the k-th element without sorting; here, for sizes
 * 1..40, 100, 8,640 and 9,217 (the limit) and patterns that trouble
 * selection (all equal, ascending, descending, organ pipe, two values,
 * random, random with gaps), the billed bucket and bytes must be those of
 * a plain sort by (bytes, bucket) done in the test.
 */
struct pair { int64_t v, b; };
static int pair_cmp(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	if (a->v != b->v)
		return a->v < b->v ? -1 : 1;
	return (a->b > b->b) - (a->b < b->b);
}

static void test_p95_selection(void **state)
{
	(void)state;
	static struct pair sorted[BS_RATING_MAX_BUCKETS];
	static const int64_t sizes[] = { 1, 2, 3, 5, 17, 19, 20, 21, 33, 40, 100,
					 8640, BS_RATING_MAX_BUCKETS };
	uint64_t x = 12345;
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		int64_t n = sizes[si];
		for (int pattern = 0; pattern < 7; pattern++) {
			size_t ns = 0;
			for (int64_t i = 0; i < n; i++) {
				x = x * 6364136223846793005ULL + 1442695040888963407ULL;
				int64_t v = 0;
				switch (pattern) {
				case 0: v = 5; break;
				case 1: v = i; break;
				case 2: v = n - i; break;
				case 3: v = i < n / 2 ? i : n - i; break;
				case 4: v = (int64_t)(x >> 63); break;
				default: v = (int64_t)(x >> 44); break;
				}
				if (pattern == 6 && (x >> 20) % 3 == 0)
					continue;       /* a gap */
				S[ns++] = (struct bs_sample){ NOV26 + 300 * i, v, 0 };
			}
			size_t j = 0;
			for (int64_t i = 0; i < n; i++) {
				int64_t b = NOV26 + 300 * i;
				bool have = j < ns && S[j].bucket == b;
				sorted[i] = (struct pair){ have ? S[j].in_bytes : 0, b };
				j += have;
			}
			qsort(sorted, (size_t)n, sizeof sorted[0], pair_cmp);
			struct bs_p95 p;
			struct bs_rating_error err;
			assert_int_equal(bs_rating_p95(S, ns, NOV26, n, BS_RULE_IN,
						       &scratch, &p, &err), 0);
			int64_t k = (95 * n + 99) / 100;
			assert_int_equal(p.billed_rank, k);
			if (p.billed_bucket != sorted[k - 1].b ||
			    p.billed_bytes != sorted[k - 1].v)
				fail_msg("n %lld pattern %d: billed %lld@%lld, sort says "
					 "%lld@%lld", (long long)n, pattern,
					 (long long)p.billed_bytes,
					 (long long)p.billed_bucket,
					 (long long)sorted[k - 1].v,
					 (long long)sorted[k - 1].b);
		}
	}
}

/* ---- names --------------------------------------------------------------- */
static void test_names(void **state)
{
	(void)state;
	enum bs_plan_kind k;
	enum bs_dir_rule r;
	enum bs_cost_model m;
	assert_int_equal(bs_plan_kind_parse("burstable95", &k), 0);
	assert_int_equal(k, BS_PLAN_BURSTABLE95);
	assert_string_equal(bs_plan_kind_name(k), "burstable95");
	assert_int_equal(bs_dir_rule_parse("sum", &r), 0);
	assert_int_equal(r, BS_RULE_SUM);
	assert_string_equal(bs_dir_rule_name(BS_RULE_OUT), "out");
	assert_int_equal(bs_cost_model_parse("p95", &m), 0);
	assert_int_equal(m, BS_COST_P95);
	assert_string_equal(bs_charge_name(BS_CHARGE_OVERAGE), "overage");
	assert_int_equal(bs_dir_rule_parse("MAX", &r), -1);
	assert_int_equal(bs_plan_kind_parse(NULL, &k), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_month_28_days),
		cmocka_unit_test(test_month_30_days),
		cmocka_unit_test(test_month_31_days),
		cmocka_unit_test(test_month_dst_berlin),
		cmocka_unit_test(test_alloc_mid_month),
		cmocka_unit_test(test_plan_change_mid_month),
		cmocka_unit_test(test_alloc_change_mid_bucket),
		cmocka_unit_test(test_missing_buckets),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_direction_rules_p95),
		cmocka_unit_test(test_volume_tiers),
		cmocka_unit_test(test_half_fen),
		cmocka_unit_test(test_64bit_limit),
		cmocka_unit_test(test_invoice_totals),
		cmocka_unit_test(test_carrier_cost),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_refused_input),
		cmocka_unit_test(test_p95_selection),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
