/*
 * rating.c — the billing rules of rating.h: segments, the 95th percentile,
 * charge lines, invoice VAT and carrier cost, in exact integers (64-bit
 * inputs, checked unsigned __int128 products, one half-up rounding per
 * figure). Pure: no I/O, no allocation.
 */
#include "rating.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

#define U128_MAX (~(u128)0)
#define MBPS     1000000          /* bit/s per Mbps */
#define GB       1000000000       /* bytes per GB */

static int fail(struct bs_rating_error *err, enum bs_rating_status st,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct bs_rating_error *err, enum bs_rating_status st,
		const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->status = st;
	}
	return (int)st;
}

static int ok(struct bs_rating_error *err)
{
	if (err) {
		err->status = BS_RATING_OK;
		err->msg[0] = '\0';
	}
	return BS_RATING_OK;
}

/* ---- exact arithmetic --------------------------------------------------- */

/* a × b into *out; false if it overflows 128 bits. */
static bool mul128(u128 a, u128 b, u128 *out)
{
	if (a != 0 && b > U128_MAX / a)
		return false;
	*out = a * b;
	return true;
}

static bool add128(u128 a, u128 b, u128 *out)
{
	if (b > U128_MAX - a)
		return false;
	*out = a + b;
	return true;
}

/* x × y × z, false on overflow. */
static bool mul3(u128 x, u128 y, u128 z, u128 *out)
{
	u128 t;
	return mul128(x, y, &t) && mul128(t, z, out);
}

int bs_rating_round_half_up(u128 num, u128 den, const char *what,
			    int64_t *out, struct bs_rating_error *err)
{
	assert(den > 0);
	u128 q = num / den;
	u128 r = num % den;
	if (r >= den - r)          /* 2r ≥ den, without overflowing 2r */
		q += 1;
	if (q > (u128)INT64_MAX)
		return fail(err, BS_RATING_ERANGE,
			    "%s exceeds the 64-bit limit (%lld fen)", what,
			    (long long)INT64_MAX);
	*out = (int64_t)q;
	return ok(err);
}

/* An amount that overflowed 128 bits in its numerator, whose denominator
 * is below 2^64: the amount is above 2^64, so over the limit. */
static int too_big(struct bs_rating_error *err, const char *what)
{
	return fail(err, BS_RATING_ERANGE,
		    "%s exceeds the 64-bit limit (%lld fen)", what,
		    (long long)INT64_MAX);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q -= 1;
	return q;
}

static int64_t bucket_floor(int64_t t)
{
	return floor_div(t, BS_RATING_BUCKET_S) * BS_RATING_BUCKET_S;
}

/* The first bucket start ≥ t. */
static int64_t bucket_ceil(int64_t t)
{
	int64_t f = bucket_floor(t);
	return f == t ? f : f + BS_RATING_BUCKET_S;
}

int64_t bs_rating_billed_rank(int64_t n)
{
	assert(n >= 0 && n <= INT64_MAX / 95 - 99);
	return (95 * n + 99) / 100;
}

void bs_rating_bucket_span(struct bs_interval w, int64_t *first, int64_t *n)
{
	assert(w.to != BS_RATING_OPEN);
	*first = bucket_floor(w.from);
	if (w.to <= w.from) {
		*n = 0;
		return;
	}
	*n = (bucket_ceil(w.to) - *first) / BS_RATING_BUCKET_S;
}

/* ---- names -------------------------------------------------------------- */

static const char *const kind_names[] = { "flat", "burstable95", "volume" };
static const char *const rule_names[] = { "max", "in", "out", "sum" };
static const char *const charge_names[] = { "commit", "overage", "volume" };
static const char *const model_names[] = { "flat", "p95" };

const char *bs_plan_kind_name(enum bs_plan_kind k)
{
	return (unsigned)k < 3 ? kind_names[k] : "?";
}

const char *bs_dir_rule_name(enum bs_dir_rule r)
{
	return (unsigned)r < 4 ? rule_names[r] : "?";
}

const char *bs_charge_name(enum bs_charge c)
{
	return (unsigned)c < 3 ? charge_names[c] : "?";
}

const char *bs_cost_model_name(enum bs_cost_model m)
{
	return (unsigned)m < 2 ? model_names[m] : "?";
}

static int parse_name(const char *s, const char *const *names, int n)
{
	for (int i = 0; s && i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int bs_plan_kind_parse(const char *s, enum bs_plan_kind *k)
{
	int i = parse_name(s, kind_names, 3);
	if (i < 0)
		return -1;
	*k = (enum bs_plan_kind)i;
	return 0;
}

int bs_dir_rule_parse(const char *s, enum bs_dir_rule *r)
{
	int i = parse_name(s, rule_names, 4);
	if (i < 0)
		return -1;
	*r = (enum bs_dir_rule)i;
	return 0;
}

int bs_cost_model_parse(const char *s, enum bs_cost_model *m)
{
	int i = parse_name(s, model_names, 2);
	if (i < 0)
		return -1;
	*m = (enum bs_cost_model)i;
	return 0;
}

/* ---- the 95th percentile ------------------------------------------------ */

/* The billable bytes of one sample by `rule` (u128: in + out may pass
 * INT64_MAX; the caller checks). */
static u128 billable(enum bs_dir_rule rule, int64_t in, int64_t out)
{
	switch (rule) {
	case BS_RULE_IN:  return (u128)in;
	case BS_RULE_OUT: return (u128)out;
	case BS_RULE_SUM: return (u128)in + (u128)out;
	case BS_RULE_MAX: break;
	}
	return (u128)(in > out ? in : out);
}

static int check_samples(const struct bs_sample *s, size_t n,
			 struct bs_rating_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i].bucket % BS_RATING_BUCKET_S != 0)
			return fail(err, BS_RATING_EINVAL,
				    "sample %zu: bucket %lld is not a multiple of %d s",
				    i, (long long)s[i].bucket, BS_RATING_BUCKET_S);
		if (i > 0 && s[i].bucket <= s[i - 1].bucket)
			return fail(err, BS_RATING_EINVAL,
				    "sample %zu: bucket %lld not after the previous "
				    "(%lld): samples must be sorted, one per bucket",
				    i, (long long)s[i].bucket,
				    (long long)s[i - 1].bucket);
		if (s[i].in_bytes < 0 || s[i].out_bytes < 0)
			return fail(err, BS_RATING_EINVAL,
				    "sample %zu (bucket %lld): negative bytes",
				    i, (long long)s[i].bucket);
	}
	return ok(err);
}

typedef __typeof__(((struct bs_rating_scratch *)0)->rank[0]) rank_entry;

/* Ascending by value, ties by bucket (earlier first): a total order, as
 * buckets are distinct. */
static bool rank_less(const rank_entry *a, const rank_entry *b)
{
	return a->value < b->value || (a->value == b->value && a->bucket < b->bucket);
}

static int rank_cmp(const void *a, const void *b)
{
	return rank_less(a, b) ? -1 : rank_less(b, a) ? 1 : 0;
}

static void rank_swap(rank_entry *a, rank_entry *b)
{
	rank_entry t = *a;
	*a = *b;
	*b = t;
}

/* Puts the k-th smallest (0-based) of e[0..n) at e[k]: quickselect with a
 * median-of-three pivot, Hoare partition, O(n) expected; after 64 rounds
 * (never in practice) it sorts what is left, so the worst case stays
 * O(n log n). The result is the same element a full sort would put there,
 * the order being total. */
static void select_kth(rank_entry *e, size_t n, size_t k)
{
	size_t lo = 0, hi = n;
	for (int rounds = 0; hi - lo > 16; rounds++) {
		if (rounds == 64) {
			qsort(e + lo, hi - lo, sizeof *e, rank_cmp);
			return;
		}
		size_t mid = lo + (hi - lo) / 2;
		if (rank_less(&e[mid], &e[lo]))
			rank_swap(&e[mid], &e[lo]);
		if (rank_less(&e[hi - 1], &e[lo]))
			rank_swap(&e[hi - 1], &e[lo]);
		if (rank_less(&e[hi - 1], &e[mid]))
			rank_swap(&e[hi - 1], &e[mid]);
		rank_entry pivot = e[mid];   /* neither the least nor the greatest */
		size_t i = lo, j = hi - 1;
		for (;;) {
			while (rank_less(&e[i], &pivot))
				i++;
			while (rank_less(&pivot, &e[j]))
				j--;
			if (i >= j)
				break;
			rank_swap(&e[i], &e[j]);
			i++;
			j--;
		}
		/* e[lo..j] ≤ pivot ≤ e[j+1..hi), both parts non-empty */
		assert(j >= lo && j + 1 < hi);
		if (k <= j)
			hi = j + 1;
		else
			lo = j + 1;
	}
	for (size_t i = lo + 1; i < hi; i++)        /* insertion sort */
		for (size_t j = i; j > lo && rank_less(&e[j], &e[j - 1]); j--)
			rank_swap(&e[j], &e[j - 1]);
}

/* The first sample with bucket ≥ t (binary search). */
static size_t lower_bound(const struct bs_sample *s, size_t n, int64_t t)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s[mid].bucket < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bs_rating_p95(const struct bs_sample *samples, size_t n_samples,
		  int64_t first_bucket, int64_t n_buckets, enum bs_dir_rule rule,
		  struct bs_rating_scratch *scratch, struct bs_p95 *out,
		  struct bs_rating_error *err)
{
	memset(out, 0, sizeof *out);
	if ((unsigned)rule > BS_RULE_SUM)
		return fail(err, BS_RATING_EINVAL, "direction rule %d unknown",
			    (int)rule);
	if (n_buckets < 0 || n_buckets > BS_RATING_MAX_BUCKETS)
		return fail(err, BS_RATING_EINVAL,
			    "window of %lld buckets (limit %d)",
			    (long long)n_buckets, BS_RATING_MAX_BUCKETS);
	if (first_bucket % BS_RATING_BUCKET_S != 0)
		return fail(err, BS_RATING_EINVAL,
			    "first bucket %lld is not a multiple of %d s",
			    (long long)first_bucket, BS_RATING_BUCKET_S);
	int rc = check_samples(samples, n_samples, err);
	if (rc)
		return rc;

	u128 sum_in = 0, sum_out = 0;
	size_t j = lower_bound(samples, n_samples, first_bucket);
	for (int64_t i = 0; i < n_buckets; i++) {
		int64_t b = first_bucket + i * BS_RATING_BUCKET_S;
		int64_t in = 0, outb = 0;
		if (j < n_samples && samples[j].bucket == b) {
			in = samples[j].in_bytes;
			outb = samples[j].out_bytes;
			j++;
		} else {
			out->gaps++;
		}
		u128 v = billable(rule, in, outb);
		if (v > (u128)INT64_MAX)
			return fail(err, BS_RATING_ERANGE,
				    "bucket %lld: in + out bytes exceed the 64-bit limit",
				    (long long)b);
		sum_in += (u128)in;      /* ≤ 9217 × 2^63: no overflow */
		sum_out += (u128)outb;
		scratch->rank[i].value = (int64_t)v;
		scratch->rank[i].bucket = b;
	}
	if (sum_in > (u128)INT64_MAX || sum_out > (u128)INT64_MAX)
		return fail(err, BS_RATING_ERANGE,
			    "window's byte total exceeds the 64-bit limit");
	out->n_buckets = n_buckets;
	out->bytes_in = (int64_t)sum_in;
	out->bytes_out = (int64_t)sum_out;
	out->billed_rank = bs_rating_billed_rank(n_buckets);
	out->dropped = n_buckets - out->billed_rank;
	if (n_buckets == 0)
		return ok(err);

	select_kth(scratch->rank, (size_t)n_buckets, (size_t)out->billed_rank - 1);
	int64_t b = scratch->rank[out->billed_rank - 1].bucket;
	size_t k = lower_bound(samples, n_samples, b);
	out->has_billed = true;
	out->billed_bucket = b;
	out->billed_bytes = scratch->rank[out->billed_rank - 1].value;
	if (k < n_samples && samples[k].bucket == b) {
		out->billed_in_bytes = samples[k].in_bytes;
		out->billed_out_bytes = samples[k].out_bytes;
	} else {
		out->billed_is_gap = true;
	}
	return ok(err);
}

/* ---- segments ----------------------------------------------------------- */

static int check_period(struct bs_interval p, struct bs_rating_error *err)
{
	if (p.to == BS_RATING_OPEN || p.from >= p.to ||
	    p.to - p.from > BS_RATING_MAX_PERIOD_S)
		return fail(err, BS_RATING_EINVAL,
			    "period [%lld, %lld): must be 1 s to %d s long",
			    (long long)p.from, (long long)p.to,
			    BS_RATING_MAX_PERIOD_S);
	return ok(err);
}

static struct bs_interval intersect(struct bs_interval a, struct bs_interval b)
{
	struct bs_interval r = {
		.from = a.from > b.from ? a.from : b.from,
		.to = a.to < b.to ? a.to : b.to,
	};
	if (r.to < r.from)
		r.to = r.from;
	return r;
}

int bs_rating_segments(struct bs_interval period, struct bs_interval alloc_valid,
		       const struct bs_plan_version *versions, size_t n_versions,
		       struct bs_segment *segs, size_t cap, size_t *n,
		       struct bs_rating_error *err)
{
	*n = 0;
	int rc = check_period(period, err);
	if (rc)
		return rc;
	if (alloc_valid.from >= alloc_valid.to)
		return fail(err, BS_RATING_EINVAL,
			    "allocation validity [%lld, %lld) is empty",
			    (long long)alloc_valid.from, (long long)alloc_valid.to);
	for (size_t i = 0; i < n_versions; i++) {
		const struct bs_plan_version *v = &versions[i];
		if (v->valid.from >= v->valid.to)
			return fail(err, BS_RATING_EINVAL,
				    "plan %lld version %d: empty validity",
				    (long long)v->plan_id, v->version);
		if (i > 0 && v->plan_id != versions[0].plan_id)
			return fail(err, BS_RATING_EINVAL,
				    "plan versions of two plans (%lld, %lld)",
				    (long long)versions[0].plan_id,
				    (long long)v->plan_id);
		if (i > 0 && v->valid.from < versions[i - 1].valid.to)
			return fail(err, BS_RATING_EINVAL,
				    "plan %lld version %d: overlaps or precedes "
				    "version %d (versions sorted, not overlapping)",
				    (long long)v->plan_id, v->version,
				    versions[i - 1].version);
	}

	struct bs_interval w = intersect(period, alloc_valid);
	if (w.from >= w.to)
		return ok(err);

	int64_t cursor = w.from;
	for (size_t i = 0; i < n_versions && cursor < w.to; i++) {
		const struct bs_plan_version *v = &versions[i];
		if (v->valid.to <= cursor)
			continue;
		if (v->valid.from > cursor)
			break;     /* a hole at cursor */
		if (*n == cap)
			return fail(err, BS_RATING_ECAPACITY,
				    "more than %zu segments", cap);
		struct bs_segment *s = &segs[(*n)++];
		s->window.from = cursor;
		s->window.to = v->valid.to < w.to ? v->valid.to : w.to;
		s->version_index = i;
		cursor = s->window.to;
	}
	if (cursor < w.to) {
		int64_t plan = n_versions ? versions[0].plan_id : 0;
		*n = 0;
		return fail(err, BS_RATING_ENOVERSION,
			    "plan %lld has no version in force at %lld (epoch s)",
			    (long long)plan, (long long)cursor);
	}

	/* Buckets: each bucket overlapping w goes to the segment in force at
	 * its start; one beginning before w goes to the first. */
	int64_t first_w, n_w;
	bs_rating_bucket_span(w, &first_w, &n_w);
	int64_t end_w = first_w + n_w * BS_RATING_BUCKET_S;
	for (size_t i = 0; i < *n; i++) {
		struct bs_segment *s = &segs[i];
		int64_t b0 = i == 0 ? first_w : bucket_ceil(s->window.from);
		int64_t b1 = i + 1 == *n ? end_w : bucket_ceil(s->window.to);
		s->first_bucket = b0;
		s->n_buckets = (b1 - b0) / BS_RATING_BUCKET_S;
		assert(s->n_buckets >= 0);
	}
	return ok(err);
}

/* ---- lines -------------------------------------------------------------- */

static int check_version(const struct bs_plan_version *v,
			 struct bs_rating_error *err)
{
	if ((unsigned)v->kind > BS_PLAN_VOLUME || (unsigned)v->direction > BS_RULE_SUM)
		return fail(err, BS_RATING_EINVAL,
			    "plan %lld version %d: unknown kind or direction rule",
			    (long long)v->plan_id, v->version);
	if (v->vat_bp < 0 || v->vat_bp > 10000)
		return fail(err, BS_RATING_EINVAL,
			    "plan %lld version %d: vat_bp %d outside 0..10000",
			    (long long)v->plan_id, v->version, v->vat_bp);
	if (v->price_fen_per_mbps < 0 || v->overage_fen_per_mbps < 0)
		return fail(err, BS_RATING_EINVAL,
			    "plan %lld version %d: negative price",
			    (long long)v->plan_id, v->version);
	if (v->kind != BS_PLAN_VOLUME)
		return ok(err);
	if (v->n_tiers < 1 || v->n_tiers > BS_RATING_MAX_TIERS)
		return fail(err, BS_RATING_EINVAL,
			    "plan %lld version %d: %u tiers (1..%d)",
			    (long long)v->plan_id, v->version, v->n_tiers,
			    BS_RATING_MAX_TIERS);
	if (v->tier_from_gb[0] != 0)
		return fail(err, BS_RATING_EINVAL,
			    "plan %lld version %d: tier_from_gb[0] must be 0",
			    (long long)v->plan_id, v->version);
	for (uint32_t i = 0; i < v->n_tiers; i++) {
		if (v->tier_fen_per_gb[i] < 0)
			return fail(err, BS_RATING_EINVAL,
				    "plan %lld version %d: tier %u negative price",
				    (long long)v->plan_id, v->version, i);
		if (i > 0 && v->tier_from_gb[i] <= v->tier_from_gb[i - 1])
			return fail(err, BS_RATING_EINVAL,
				    "plan %lld version %d: tier_from_gb not "
				    "strictly ascending at %u",
				    (long long)v->plan_id, v->version, i);
	}
	return ok(err);
}

/* Σ over tiers of price_i × bytes of v inside tier i, over 10⁹. */
static int volume_amount(const struct bs_plan_version *pv, u128 v,
			 int64_t *amount, struct bs_rating_error *err)
{
	u128 num = 0;
	for (uint32_t i = 0; i < pv->n_tiers; i++) {
		u128 lo = (u128)pv->tier_from_gb[i] * GB;
		if (v <= lo)
			break;
		u128 hi = i + 1 < pv->n_tiers ? (u128)pv->tier_from_gb[i + 1] * GB
					      : U128_MAX;
		u128 part = (v < hi ? v : hi) - lo;
		u128 t;
		if (!mul128(part, (u128)pv->tier_fen_per_gb[i], &t) ||
		    !add128(num, t, &num))
			return too_big(err, "volume line");
	}
	return bs_rating_round_half_up(num, GB, "volume line", amount, err);
}

int bs_rating_rate_segment(struct bs_interval period,
			   const struct bs_rating_alloc *alloc,
			   const struct bs_segment *seg,
			   const struct bs_plan_version *version,
			   const struct bs_sample *samples, size_t n_samples,
			   enum bs_byte_measure measure,
			   struct bs_rating_scratch *scratch,
			   struct bs_charge_line lines[2], size_t *n,
			   struct bs_rating_error *err)
{
	*n = 0;
	int rc = check_period(period, err);
	if (!rc)
		rc = check_version(version, err);
	if (rc)
		return rc;
	if (alloc->committed_bps <= 0)
		return fail(err, BS_RATING_EINVAL,
			    "allocation %lld: committed_bps %lld must be > 0",
			    (long long)alloc->alloc_id,
			    (long long)alloc->committed_bps);
	if (seg->window.from < period.from || seg->window.to > period.to ||
	    seg->window.from >= seg->window.to)
		return fail(err, BS_RATING_EINVAL,
			    "segment [%lld, %lld) not inside the period",
			    (long long)seg->window.from, (long long)seg->window.to);

	struct bs_charge_line *l = &lines[0];
	memset(l, 0, sizeof *l);
	l->alloc_id = alloc->alloc_id;
	l->tenant_id = alloc->tenant_id;
	l->pool_id = alloc->pool_id;
	l->plan_id = version->plan_id;
	l->plan_version = version->version;
	l->plan_kind = version->kind;
	l->direction = version->direction;
	l->measure = measure;
	l->window = seg->window;
	l->window_s = seg->window.to - seg->window.from;
	l->period_s = period.to - period.from;
	l->first_bucket = seg->first_bucket;
	l->commit_bps = alloc->committed_bps;
	l->vat_bp = version->vat_bp;
	rc = bs_rating_p95(samples, n_samples, seg->first_bucket, seg->n_buckets,
			   version->direction, scratch, &l->p95, err);
	if (rc)
		return rc;

	/* Month-priced: × window_s / period_s, Mbps = 10⁶ bit/s. */
	u128 den_commit = (u128)MBPS * (u128)l->period_s;
	u128 num;
	if (version->kind == BS_PLAN_VOLUME) {
		l->charge = BS_CHARGE_VOLUME;
		u128 v = billable(version->direction, l->p95.bytes_in,
				  l->p95.bytes_out);
		if (v > (u128)INT64_MAX)
			return fail(err, BS_RATING_ERANGE,
				    "allocation %lld: billed volume exceeds the "
				    "64-bit limit", (long long)alloc->alloc_id);
		l->quantity = (int64_t)v;
		rc = volume_amount(version, v, &l->amount_fen, err);
		if (rc)
			return rc;
		*n = 1;
		return ok(err);
	}

	l->charge = BS_CHARGE_COMMIT;
	l->unit_price_fen = version->price_fen_per_mbps;
	if (!mul3((u128)alloc->committed_bps, (u128)version->price_fen_per_mbps,
		  (u128)l->window_s, &num))
		return too_big(err, "commit line");
	rc = bs_rating_round_half_up(num, den_commit, "commit line",
				     &l->amount_fen, err);
	if (rc)
		return rc;
	*n = 1;
	if (version->kind == BS_PLAN_FLAT)
		return ok(err);

	/* Overage: max(0, bytes×8/300 − commit) Mbps; × 300 to stay exact. */
	struct bs_charge_line *o = &lines[1];
	*o = *l;
	o->charge = BS_CHARGE_OVERAGE;
	o->unit_price_fen = version->overage_fen_per_mbps;
	u128 bits = (u128)l->p95.billed_bytes * 8;
	u128 floor_bits = (u128)alloc->committed_bps * BS_RATING_BUCKET_S;
	u128 excess = bits > floor_bits ? bits - floor_bits : 0;
	if (!mul3(excess, (u128)version->overage_fen_per_mbps, (u128)l->window_s,
		  &num)) {
		*n = 0;
		return too_big(err, "overage line");
	}
	rc = bs_rating_round_half_up(num, den_commit * BS_RATING_BUCKET_S,
				     "overage line", &o->amount_fen, err);
	if (rc) {
		*n = 0;
		return rc;
	}
	*n = 2;
	return ok(err);
}

int bs_rating_rate_allocation(struct bs_interval period,
			      const struct bs_rating_alloc *alloc,
			      const struct bs_plan_version *versions,
			      size_t n_versions,
			      const struct bs_sample *samples, size_t n_samples,
			      enum bs_byte_measure measure,
			      struct bs_rating_scratch *scratch,
			      struct bs_charge_line *lines, size_t cap, size_t *n,
			      struct bs_rating_error *err)
{
	struct bs_segment segs[BS_RATING_MAX_SEGMENTS];
	size_t n_segs;
	*n = 0;
	int rc = bs_rating_segments(period, alloc->valid, versions, n_versions,
				    segs, BS_RATING_MAX_SEGMENTS, &n_segs, err);
	if (rc)
		return rc;
	if (n_segs > 0 && alloc->first_bucket_elsewhere &&
	    segs[0].first_bucket < alloc->valid.from && segs[0].n_buckets > 0) {
		segs[0].first_bucket += BS_RATING_BUCKET_S;
		segs[0].n_buckets -= 1;
	}
	for (size_t i = 0; i < n_segs; i++) {
		struct bs_charge_line two[2];
		size_t k;
		rc = bs_rating_rate_segment(period, alloc, &segs[i],
					    &versions[segs[i].version_index],
					    samples, n_samples, measure, scratch,
					    two, &k, err);
		if (rc) {
			*n = 0;
			return rc;
		}
		if (*n + k > cap) {
			*n = 0;
			return fail(err, BS_RATING_ECAPACITY,
				    "allocation %lld: more than %zu lines",
				    (long long)alloc->alloc_id, cap);
		}
		memcpy(&lines[*n], two, k * sizeof two[0]);
		*n += k;
	}
	return ok(err);
}

void bs_rating_mark_changes(struct bs_rating_alloc *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t b = bucket_floor(a[i].valid.from);
		a[i].first_bucket_elsewhere = false;
		for (size_t j = 0; b != a[i].valid.from && j < n; j++)
			if (j != i && a[j].tenant_id == a[i].tenant_id &&
			    a[j].pool_id == a[i].pool_id &&
			    a[j].valid.from <= b && b < a[j].valid.to)
				a[i].first_bucket_elsewhere = true;
	}
}

/* ---- invoice totals ----------------------------------------------------- */

int bs_rating_invoice_totals(const struct bs_line_amount *lines, size_t n_lines,
			     struct bs_vat_group *groups, size_t cap,
			     size_t *n_groups, int64_t *subtotal_fen,
			     int64_t *vat_fen, int64_t *total_fen,
			     struct bs_rating_error *err)
{
	*n_groups = 0;
	*subtotal_fen = *vat_fen = *total_fen = 0;
	size_t ng = 0;
	for (size_t i = 0; i < n_lines; i++) {
		const struct bs_line_amount *l = &lines[i];
		if (l->amount_fen < 0 || l->vat_bp < 0 || l->vat_bp > 10000)
			return fail(err, BS_RATING_EINVAL,
				    "line %zu: amount %lld fen or vat_bp %d out of "
				    "range (amount ≥ 0, vat_bp 0..10000)", i,
				    (long long)l->amount_fen, l->vat_bp);
		size_t g = 0;
		while (g < ng && groups[g].vat_bp < l->vat_bp)
			g++;
		if (g == ng || groups[g].vat_bp != l->vat_bp) {
			if (ng == cap)
				return fail(err, BS_RATING_ECAPACITY,
					    "more than %zu VAT rates", cap);
			memmove(&groups[g + 1], &groups[g],
				(ng - g) * sizeof groups[0]);
			groups[g] = (struct bs_vat_group){ .vat_bp = l->vat_bp };
			ng++;
		}
		if (l->amount_fen > INT64_MAX - groups[g].base_fen)
			return fail(err, BS_RATING_ERANGE,
				    "invoice: Σ lines at %d bp exceeds the 64-bit "
				    "limit", l->vat_bp);
		groups[g].base_fen += l->amount_fen;
	}
	u128 sub = 0, vat = 0;
	for (size_t g = 0; g < ng; g++) {
		int rc = bs_rating_round_half_up(
			(u128)groups[g].base_fen * (u128)groups[g].vat_bp, 10000,
			"VAT", &groups[g].vat_fen, err);
		if (rc)
			return rc;
		sub += (u128)groups[g].base_fen;
		vat += (u128)groups[g].vat_fen;
	}
	if (sub > (u128)INT64_MAX)
		return fail(err, BS_RATING_ERANGE,
			    "invoice subtotal exceeds the 64-bit limit");
	if (sub + vat > (u128)INT64_MAX)
		return fail(err, BS_RATING_ERANGE,
			    "invoice total exceeds the 64-bit limit");
	*n_groups = ng;
	*subtotal_fen = (int64_t)sub;
	*vat_fen = (int64_t)vat;
	*total_fen = (int64_t)(sub + vat);
	return ok(err);
}

/* ---- carrier cost ------------------------------------------------------- */

int bs_rating_carrier_cost(struct bs_interval period,
			   const struct bs_pool_contract *c,
			   const struct bs_sample *samples, size_t n_samples,
			   struct bs_rating_scratch *scratch,
			   struct bs_carrier_cost *out, struct bs_rating_error *err)
{
	memset(out, 0, sizeof *out);
	int rc = check_period(period, err);
	if (rc)
		return rc;
	if ((unsigned)c->model > BS_COST_P95 || (unsigned)c->direction > BS_RULE_SUM)
		return fail(err, BS_RATING_EINVAL,
			    "pool %lld: unknown cost model or direction rule",
			    (long long)c->pool_id);
	if (c->monthly_fee_fen < 0 || c->price_fen_per_mbps < 0 ||
	    c->commit_floor_bps < 0)
		return fail(err, BS_RATING_EINVAL,
			    "pool %lld: negative fee, price or commit floor",
			    (long long)c->pool_id);
	if (c->valid.from >= c->valid.to)
		return fail(err, BS_RATING_EINVAL, "pool %lld: empty validity",
			    (long long)c->pool_id);
	out->pool_id = c->pool_id;
	out->model = c->model;
	out->period_s = period.to - period.from;
	out->commit_floor_bps = c->commit_floor_bps;
	out->window = intersect(period, c->valid);
	out->window_s = out->window.to - out->window.from;
	int64_t nb;
	bs_rating_bucket_span(out->window, &out->first_bucket, &nb);
	rc = bs_rating_p95(samples, n_samples, out->first_bucket, nb,
			   c->direction, scratch, &out->p95, err);
	if (rc)
		return rc;
	if (out->window_s == 0)
		return ok(err);

	u128 num;
	if (c->model == BS_COST_FLAT) {
		if (!mul128((u128)c->monthly_fee_fen, (u128)out->window_s, &num))
			return too_big(err, "carrier cost");
		return bs_rating_round_half_up(num, (u128)out->period_s,
					       "carrier cost", &out->amount_fen,
					       err);
	}
	u128 bits = (u128)out->p95.billed_bytes * 8;
	u128 floor_bits = (u128)c->commit_floor_bps * BS_RATING_BUCKET_S;
	out->floor_applied = floor_bits > bits;
	u128 m = out->floor_applied ? floor_bits : bits;
	if (!mul3(m, (u128)c->price_fen_per_mbps, (u128)out->window_s, &num))
		return too_big(err, "carrier cost");
	return bs_rating_round_half_up(
		num, (u128)MBPS * BS_RATING_BUCKET_S * (u128)out->period_s,
		"carrier cost", &out->amount_fen, err);
}
