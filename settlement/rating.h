/*
 * rating.h — the billing rules of the architecture ("Billing semantics"),
 * as pure code: from a period, an allocation, its plan's versions and the
 * 5-minute byte samples of one (tenant, pool), the charge lines of an
 * invoice with their evidence; the VAT and totals of an invoice; and a
 * pool's carrier cost. No I/O, no allocation: the caller passes every
 * output array and the one scratch area (struct bs_rating_scratch).
 *
 * API stability: this interface is what `bandsplit close` builds on. Any
 * change to it is announced here, under "Changes", and in the commit.
 * Changes: 5d9f611 added BS_RATING_MAX_SEGMENTS (the segments
 * bs_rating_rate_allocation handles). Then, additive: the field
 * bs_rating_alloc.first_bucket_elsewhere (last; 0/false keeps the earlier
 * behaviour) and bs_rating_mark_changes(), which sets it: an `alloc change`
 * splits an allocation into two rows, and the bucket straddling the change
 * must count once, for the row in force at the bucket's start.
 *
 * ------------------------------------------------------------------------
 * The rules, as implemented (the ones the architecture leaves open are
 * marked "chosen"):
 *
 * Times are UTC epoch seconds; every interval is half-open [from, to); an
 * open upper bound (a validity still in force) is BS_RATING_OPEN. The
 * caller converts the park's calendar month (local midnight to local
 * midnight) to the period [start, end); a period is 1 s .. 32 days long.
 *
 * Buckets: 5-minute buckets aligned to the epoch (start % 300 == 0). The
 * active window W of an allocation = period ∩ allocation validity. Its
 * buckets are every bucket that overlaps W (a bucket straddling W's start
 * or end counts). Segments: W ∩ each plan version's validity, in time
 * order; the versions must cover W without a hole (else
 * BS_RATING_ENOVERSION naming the first uncovered instant). Each bucket of
 * W belongs to exactly one segment: the one in force at the bucket's start;
 * a bucket beginning before W belongs to the first segment. A segment
 * shorter than 5 minutes may own no bucket (N = 0).
 * Across allocations: an allocation of the same tenant and pool in force
 * at that first bucket's start (the earlier row of an `alloc change`, which
 * ends where this one begins, mid-bucket) keeps the bucket: the rule "the
 * one in force at the bucket's start" holds across the rows, so no bucket
 * counts twice. bs_rating_mark_changes() finds those allocations.
 *
 * A bucket's sample: in and out bytes (each 0..INT64_MAX), the caller's sum
 * over every dataplane node of the rollups for (tenant, pool, direction,
 * bucket) in the park's byte measure. A bucket with no sample is a gap and
 * counts as 0 (in = out = 0). The billable sample by the plan version's
 * direction rule: max(in, out), in, out, or in + out (refused if the sum
 * exceeds INT64_MAX).
 *
 * 95th percentile (nearest rank) over a segment's N buckets: billed rank
 * k = ⌈0.95·N⌉ = ⌈95·N/100⌉, samples dropped = N − k. Ascending order is by
 * billable bytes, ties by bucket start (earlier first) — chosen, so the
 * billed bucket named in the evidence is deterministic. N = 0: k = 0, no
 * billed bucket, p95 = 0. The p95 rate is billed_bytes × 8 / 300 bit/s,
 * kept exact.
 *
 * Lines (one per segment and charge kind), each rounded half-up to the fen
 * once, from an exact rational:
 *   flat:         COMMIT  = commit_bps/10⁶ × price × secs/period_secs
 *   burstable95:  COMMIT  as flat, and always (chosen: even when 0, so the
 *                 p95 evidence is on an invoice line)
 *                 OVERAGE = max(0, p95_bps − commit_bps)/10⁶ × overage
 *                           × secs/period_secs
 *   volume:       VOLUME  = Σ over tiers of price_i × (GB of V inside tier i),
 *                 V = the direction rule applied to the segment's byte
 *                 totals (max(Σin, Σout), Σin, Σout, Σin + Σout), GB = 10⁹
 *                 bytes, tier i = [from_gb[i], from_gb[i+1]) (last: open);
 *                 not prorated. Tiers restart in each segment.
 * where secs = the segment's exact seconds, period_secs = the period's.
 * Every line carries the segment's percentile evidence, whatever the kind.
 *
 * Invoice totals: per VAT rate (ascending), vat = round-half-up(Σ line
 * amounts at that rate × rate_bp / 10000); subtotal = Σ lines; total =
 * subtotal + Σ vat. Line amounts are ≥ 0 (a credit/debit note is the
 * difference of two invoices' figures, made by the caller).
 *
 * Carrier cost of a pool: window = period ∩ pool validity, buckets as
 * above; the pool's sample per bucket = every tenant's bytes + the
 * unattributed bytes on the pool (summed by the caller), billable by the
 * contract's direction rule (the park's contracts use max).
 *   flat: monthly_fee × secs/period_secs
 *   p95:  price × max(p95_bps, commit_floor_bps)/10⁶ × secs/period_secs
 *
 * Half-up: a non-negative x/d rounds to ⌊(2x + d) / 2d⌋ (…​.5 fen goes up).
 * Arithmetic: 64-bit inputs, unsigned __int128 products, every step checked.
 * An amount or total that would exceed INT64_MAX fen is refused with
 * BS_RATING_ERANGE and a message naming it, never wrapped. (A product that
 * overflows 128 bits implies an amount far above INT64_MAX, so refusing it
 * is exact.) No floating point anywhere.
 * ------------------------------------------------------------------------
 */
#ifndef BS_RATING_H
#define BS_RATING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"   /* enum bs_byte_measure */

#define BS_RATING_BUCKET_S        300
#define BS_RATING_OPEN            INT64_MAX           /* open upper bound */
#define BS_RATING_MAX_PERIOD_S    (32 * 86400)        /* longest period */
/* Buckets a window of at most BS_RATING_MAX_PERIOD_S can overlap. */
#define BS_RATING_MAX_BUCKETS     (BS_RATING_MAX_PERIOD_S / BS_RATING_BUCKET_S + 1)
#define BS_RATING_MAX_TIERS       32
/* Segments bs_rating_rate_allocation handles in one period (plan versions
 * changing more often than that are refused with ECAPACITY; use
 * bs_rating_segments with a larger array and bs_rating_rate_segment). */
#define BS_RATING_MAX_SEGMENTS    64
#define BS_RATING_MSG_MAX         256

/* Return codes (0 = ok). */
enum bs_rating_status {
	BS_RATING_OK = 0,
	BS_RATING_EINVAL = 1,      /* bad input: field named in the message */
	BS_RATING_ERANGE = 2,      /* an amount or byte figure over INT64_MAX */
	BS_RATING_ENOVERSION = 3,  /* no plan version in force at an instant */
	BS_RATING_ECAPACITY = 4,   /* an output array is too small */
};

struct bs_rating_error {
	enum bs_rating_status status;
	char msg[BS_RATING_MSG_MAX];   /* "" when ok */
};

/* [from, to) in UTC epoch seconds; to = BS_RATING_OPEN while in force. */
struct bs_interval {
	int64_t from;
	int64_t to;
};

enum bs_plan_kind { BS_PLAN_FLAT = 0, BS_PLAN_BURSTABLE95 = 1, BS_PLAN_VOLUME = 2 };
enum bs_dir_rule  { BS_RULE_MAX = 0, BS_RULE_IN = 1, BS_RULE_OUT = 2, BS_RULE_SUM = 3 };
enum bs_charge    { BS_CHARGE_COMMIT = 0, BS_CHARGE_OVERAGE = 1, BS_CHARGE_VOLUME = 2 };
enum bs_cost_model { BS_COST_FLAT = 0, BS_COST_P95 = 1 };

/* One row of plan_version. Prices ≥ 0. flat: price_fen_per_mbps;
 * burstable95: price_fen_per_mbps and overage_fen_per_mbps; volume: tiers
 * (n_tiers 1..32, tier_from_gb[0] = 0, strictly ascending). */
struct bs_plan_version {
	int64_t plan_id;
	int32_t version;
	enum bs_plan_kind kind;
	enum bs_dir_rule direction;
	int32_t vat_bp;                 /* 0..10000 */
	struct bs_interval valid;
	int64_t price_fen_per_mbps;     /* per Mbps-month */
	int64_t overage_fen_per_mbps;   /* per Mbps-month above the commit */
	uint32_t n_tiers;
	int64_t tier_from_gb[BS_RATING_MAX_TIERS];
	int64_t tier_fen_per_gb[BS_RATING_MAX_TIERS];
};

struct bs_rating_alloc {
	int64_t alloc_id;
	int64_t tenant_id;
	int64_t pool_id;
	int64_t committed_bps;          /* > 0 */
	struct bs_interval valid;
	/* The bucket containing valid.from (when valid.from is not on a
	 * 5-minute boundary) belongs to another allocation of the same tenant
	 * and pool, in force at that bucket's start: this one starts at the
	 * next bucket. Set by bs_rating_mark_changes(); applied by
	 * bs_rating_rate_allocation (callers of bs_rating_segments apply it
	 * themselves: drop segs[0]'s first bucket). */
	bool first_bucket_elsewhere;
};

/* One bucket's sample, summed over nodes. Arrays of samples are sorted by
 * bucket, strictly ascending (one entry per bucket); they may extend
 * beyond the window (entries outside it are ignored). */
struct bs_sample {
	int64_t bucket;                 /* start, multiple of 300 */
	int64_t in_bytes;               /* 0..INT64_MAX */
	int64_t out_bytes;
};

/* A segment: the month ∩ the allocation's validity ∩ one plan version. */
struct bs_segment {
	struct bs_interval window;      /* exact seconds, for proration */
	int64_t first_bucket;           /* start of its first bucket */
	int64_t n_buckets;              /* N (may be 0) */
	size_t version_index;           /* into the caller's versions array */
};

/* The 95th-percentile evidence of a window's buckets. */
struct bs_p95 {
	int64_t n_buckets;              /* N */
	int64_t gaps;                   /* buckets without a sample */
	int64_t billed_rank;            /* ⌈0.95·N⌉ (1-based; 0 when N = 0) */
	int64_t dropped;                /* N − billed_rank */
	bool has_billed;                /* false when N = 0 */
	bool billed_is_gap;             /* the billed bucket had no sample */
	int64_t billed_bucket;          /* its start (0 when !has_billed) */
	int64_t billed_in_bytes;        /* its in and out bytes */
	int64_t billed_out_bytes;
	int64_t billed_bytes;           /* billable, by the direction rule;
	                                   p95 = billed_bytes × 8 / 300 bit/s */
	int64_t bytes_in;               /* Σ over the window's buckets */
	int64_t bytes_out;
};

/* One invoice line and its evidence. */
struct bs_charge_line {
	enum bs_charge charge;
	int64_t alloc_id;
	int64_t tenant_id;
	int64_t pool_id;
	int64_t plan_id;
	int32_t plan_version;
	enum bs_plan_kind plan_kind;
	enum bs_dir_rule direction;
	enum bs_byte_measure measure;
	struct bs_interval window;      /* the segment's exact seconds */
	int64_t window_s;               /* window.to − window.from */
	int64_t period_s;               /* the period's seconds */
	int64_t first_bucket;           /* the segment's buckets: first start, */
	struct bs_p95 p95;              /* N, gaps, rank, billed sample, totals */
	int64_t commit_bps;
	/* COMMIT/OVERAGE: price per Mbps-month used; VOLUME: 0 (see tiers) */
	int64_t unit_price_fen;
	/* VOLUME: the billed bytes V (the direction rule on the totals; ERANGE
	 * if over INT64_MAX); COMMIT and OVERAGE: 0 (the overage is
	 * max(0, p95.billed_bytes × 8 / 300 − commit_bps) bit/s). */
	int64_t quantity;
	int32_t vat_bp;
	int64_t amount_fen;             /* rounded half-up once */
};

/* Scratch for one percentile: the caller allocates it once (~150 KiB,
 * e.g. on the heap) and reuses it for every call. */
struct bs_rating_scratch {
	struct {
		int64_t value;
		int64_t bucket;
	} rank[BS_RATING_MAX_BUCKETS];
};

/* A pool's carrier contract for the period. */
struct bs_pool_contract {
	int64_t pool_id;
	struct bs_interval valid;
	enum bs_cost_model model;
	enum bs_dir_rule direction;     /* BS_RULE_MAX for the park's carriers */
	int64_t monthly_fee_fen;        /* flat */
	int64_t price_fen_per_mbps;     /* p95 */
	int64_t commit_floor_bps;       /* p95 */
};

struct bs_carrier_cost {
	int64_t pool_id;
	enum bs_cost_model model;
	struct bs_interval window;      /* period ∩ pool validity */
	int64_t window_s;
	int64_t period_s;
	int64_t first_bucket;
	struct bs_p95 p95;              /* also filled for flat (evidence) */
	int64_t commit_floor_bps;
	bool floor_applied;             /* p95: the floor exceeded the 95th */
	int64_t amount_fen;
};

struct bs_vat_group {
	int32_t vat_bp;
	int64_t base_fen;               /* Σ line amounts at this rate */
	int64_t vat_fen;                /* round-half-up(base × rate) */
};

/* An invoice line as the totals need it. */
struct bs_line_amount {
	int64_t amount_fen;             /* ≥ 0 */
	int32_t vat_bp;                 /* 0..10000 */
};

/* ---- building blocks ------------------------------------------------- */

/* ⌈95·n/100⌉ (n ≥ 0). */
int64_t bs_rating_billed_rank(int64_t n);

/* The buckets overlapping [w.from, w.to): first bucket start and count.
 * An empty window gives *n = 0. w.to must be finite. */
void bs_rating_bucket_span(struct bs_interval w, int64_t *first, int64_t *n);

/* Rounds num/den (den > 0) half-up into *out; BS_RATING_ERANGE (message
 * names `what`) if the result exceeds INT64_MAX. */
int bs_rating_round_half_up(unsigned __int128 num, unsigned __int128 den,
			    const char *what, int64_t *out,
			    struct bs_rating_error *err);

/* The 95th-percentile evidence over the n_buckets buckets from first_bucket
 * of `samples` (sorted, strictly ascending, any range), by `rule`.
 * n_buckets ≤ BS_RATING_MAX_BUCKETS. */
int bs_rating_p95(const struct bs_sample *samples, size_t n_samples,
		  int64_t first_bucket, int64_t n_buckets, enum bs_dir_rule rule,
		  struct bs_rating_scratch *scratch, struct bs_p95 *out,
		  struct bs_rating_error *err);

/* ---- rating ------------------------------------------------------------ */

/* The segments of an allocation in a period. versions: the plan's
 * versions, any number, sorted by valid.from, not overlapping (those not
 * meeting the window are skipped). Writes up to cap segments; *n = 0 when
 * the allocation is not active in the period. Errors: EINVAL (bad period,
 * validity or order), ENOVERSION (a hole), ECAPACITY. */
int bs_rating_segments(struct bs_interval period, struct bs_interval alloc_valid,
		       const struct bs_plan_version *versions, size_t n_versions,
		       struct bs_segment *segs, size_t cap, size_t *n,
		       struct bs_rating_error *err);

/* The lines of one segment (1 for flat and volume, 2 for burstable95:
 * COMMIT then OVERAGE), written to lines[0..*n). lines has room for 2. */
int bs_rating_rate_segment(struct bs_interval period,
			   const struct bs_rating_alloc *alloc,
			   const struct bs_segment *seg,
			   const struct bs_plan_version *version,
			   const struct bs_sample *samples, size_t n_samples,
			   enum bs_byte_measure measure,
			   struct bs_rating_scratch *scratch,
			   struct bs_charge_line lines[2], size_t *n,
			   struct bs_rating_error *err);

/* Segments then lines of one allocation: every line in time order, up to
 * cap; *n = 0 if it is not active in the period. */
int bs_rating_rate_allocation(struct bs_interval period,
			      const struct bs_rating_alloc *alloc,
			      const struct bs_plan_version *versions,
			      size_t n_versions,
			      const struct bs_sample *samples, size_t n_samples,
			      enum bs_byte_measure measure,
			      struct bs_rating_scratch *scratch,
			      struct bs_charge_line *lines, size_t cap, size_t *n,
			      struct bs_rating_error *err);

/* Sets first_bucket_elsewhere on each of allocs[0..n) (any tenants and
 * pools, any order) whose first bucket starts before it while another
 * allocation of the same tenant and pool is in force. O(n²) comparisons. */
void bs_rating_mark_changes(struct bs_rating_alloc *allocs, size_t n);

/* An invoice's VAT groups (ascending rate, up to cap), subtotal, VAT and
 * total. ERANGE if any sum exceeds INT64_MAX. */
int bs_rating_invoice_totals(const struct bs_line_amount *lines, size_t n_lines,
			     struct bs_vat_group *groups, size_t cap,
			     size_t *n_groups, int64_t *subtotal_fen,
			     int64_t *vat_fen, int64_t *total_fen,
			     struct bs_rating_error *err);

/* A pool's carrier cost in a period; samples: the pool's per-bucket sums
 * (every tenant + unattributed). A pool not valid in the period costs 0
 * with an empty window. */
int bs_rating_carrier_cost(struct bs_interval period,
			   const struct bs_pool_contract *contract,
			   const struct bs_sample *samples, size_t n_samples,
			   struct bs_rating_scratch *scratch,
			   struct bs_carrier_cost *out, struct bs_rating_error *err);

/* Names: "flat"/"burstable95"/"volume", "max"/"in"/"out"/"sum",
 * "commit"/"overage"/"volume", "flat"/"p95"; and the parsers (0 or -1). */
const char *bs_plan_kind_name(enum bs_plan_kind k);
const char *bs_dir_rule_name(enum bs_dir_rule r);
const char *bs_charge_name(enum bs_charge c);
const char *bs_cost_model_name(enum bs_cost_model m);
int bs_plan_kind_parse(const char *s, enum bs_plan_kind *k);
int bs_dir_rule_parse(const char *s, enum bs_dir_rule *r);
int bs_cost_model_parse(const char *s, enum bs_cost_model *m);

#endif
