/*
 * close.c — `bandsplit close`: one month of rating and issuing, in one
 * transaction. See close.h.
 *
 * Flow: one close at a time (a transaction advisory lock; a second close
 * says it waits, then finds the period closed); the park's time zone and
 * billing measure give the period [start, end) as epoch seconds; a closed
 * period is not closed again (only --adjust goes on). Then the pools,
 * allocations and plan versions of the period are read, and the period's
 * rollups streamed once (binary COPY, three fields a row; two connections
 * in the close's exported snapshot, half the table's blocks each) into dense
 * per-(tenant, pool) and per-pool
 * arrays of 5-minute samples — usage_5m is already summed over nodes. Each
 * allocation is rated by bs_rating_rate_allocation, each pool's carrier cost
 * by bs_rating_carrier_cost; the lines and bills are copied into the
 * session's staging tables, and bs_close_issue() (0024) writes the
 * documents and the ledger, while two threads hash each document's samples
 * (the statement digest, recorded by bs_close_record_digests(), 0025).
 * --dry-run does all of it and rolls back.
 */
#include "close.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "copyrows.h"
#include "db.h"
#include "rating.h"
#include "sampledigest.h"

/* Limits of one close (refused above, with the figure). */
#define MAX_ALLOCS    200000
#define MAX_POOLS     4096
#define MAX_VERSIONS  100000
#define MAX_TENANTS   1000000
#define NAME_MAX_LEN  100

struct pool_row {
	int64_t pool_id;
	char name[NAME_MAX_LEN + 1];
	char carrier[NAME_MAX_LEN + 1];
	char currency[4];
	struct bs_pool_contract contract;
	size_t cube;                  /* its row of samples in the pool cube */
	int64_t unattributed;         /* bytes of tenant 0, both directions */
};

struct alloc_row {
	struct bs_rating_alloc a;
	int64_t plan_id;
	char currency[4];
	char plan_name[NAME_MAX_LEN + 1];
	size_t pool;                  /* index in pools */
	size_t pair;                  /* its row in the pair cube */
	size_t first_version, n_versions;
};

/* Dense samples: rows × n buckets of in, out and presence. */
struct cube {
	size_t rows, n;
	int64_t *in, *out;
	uint8_t *present;
};

/* (tenant, pool) → pair row, open addressing. */
struct pair_map {
	size_t cap;                   /* a power of two */
	uint64_t *keys;               /* tenant << 32 | pool, +1; 0 = empty */
	size_t *rows;
};

struct close_state {
	struct bs_op *op;
	struct bs_close_report *report;
	const struct bs_close_request *req;
	char period_date[16];         /* "2026-11-01" */
	char time_zone[80];
	char measure[8];
	enum bs_byte_measure bmeasure;
	struct bs_interval period;
	int64_t first_bucket, n_buckets;
	struct pool_row *pools;
	size_t n_pools;
	struct alloc_row *allocs;
	size_t n_allocs;
	struct bs_plan_version *versions;
	int64_t *version_plan;        /* plan id per version */
	size_t n_versions;
	int64_t *tenants;             /* every tenant id, ascending */
	size_t n_tenants;
	struct pair_map map;
	uint64_t last_key;            /* the last rollup's pair (0: none) … */
	size_t last_pair, last_pool;  /* … its pair row and pool index */
	struct cube pairs, pool_cube;
	struct bs_sample *samples;    /* one row's present buckets */
	struct bs_rating_scratch *scratch;
	char *copybuf;
	size_t copylen;
};

int bs_close_parse_period(const char *s, char *why, size_t why_len)
{
	bool shape = strlen(s) == 7 && s[4] == '-';
	for (int i = 0; shape && i < 7; i++)
		shape = i == 4 || isdigit((unsigned char)s[i]);
	if (!shape) {
		snprintf(why, why_len, "expected YYYY-MM, like 2026-11");
		return -1;
	}
	int year = atoi(s), month = atoi(s + 5);
	if (year < 2000 || year > 9999) {
		snprintf(why, why_len, "year %d outside 2000..9999", year);
		return -1;
	}
	if (month < 1 || month > 12) {
		snprintf(why, why_len, "month %02d does not exist (01..12)", month);
		return -1;
	}
	return 0;
}

static int64_t to_i64(const PGresult *res, int r, int c)
{
	return strtoll(PQgetvalue(res, r, c), NULL, 10);
}

static void copy_name(char *dst, const PGresult *res, int r, int c)
{
	snprintf(dst, NAME_MAX_LEN + 1, "%s", PQgetvalue(res, r, c));
}

static void *xcalloc(struct bs_op *op, size_t n, size_t size)
{
	void *p = n > 0 ? calloc(n, size) : NULL;
	if (n > 0 && p == NULL)
		bs_op_fail(op, BS_EXIT_FAILURE, "out of memory (%zu × %zu bytes)",
			   n, size);
	return p;
}

/* "{0,1000}" → values; returns the count or -1. */
static int parse_array(const char *s, int64_t *out, int cap)
{
	int n = 0;
	if (*s++ != '{')
		return -1;
	while (*s && *s != '}') {
		if (n == cap)
			return -1;
		char *end;
		out[n++] = strtoll(s, &end, 10);
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* ---- the period and the model ------------------------------------------ */

static int load_settings(struct close_state *st)
{
	const char *params[1] = { st->period_date };
	PGresult *res = bs_op_query(st->op,
		"SELECT s.time_zone, s.billing_measure,"
		" date_part('epoch', ($1::date)::timestamp AT TIME ZONE s.time_zone)::bigint,"
		" date_part('epoch', ($1::date + 1 * interval '1 month')::timestamp"
		"   AT TIME ZONE s.time_zone)::bigint"
		" FROM park_settings s", 1, params);
	if (res == NULL)
		return st->op->rc;
	snprintf(st->time_zone, sizeof(st->time_zone), "%s", PQgetvalue(res, 0, 0));
	snprintf(st->measure, sizeof(st->measure), "%s", PQgetvalue(res, 0, 1));
	st->bmeasure = strcmp(st->measure, "ip") == 0 ? BS_MEASURE_IP
						      : BS_MEASURE_FRAME;
	st->period.from = to_i64(res, 0, 2);
	st->period.to = to_i64(res, 0, 3);
	PQclear(res);
	bs_rating_bucket_span(st->period, &st->first_bucket, &st->n_buckets);
	assert(st->n_buckets > 0 && st->n_buckets <= BS_RATING_MAX_BUCKETS);
	return 0;
}

#define PERIOD_RANGE "tstzrange(timestamptz 'epoch' + $1::bigint * interval '1 second'," \
		     " timestamptz 'epoch' + $2::bigint * interval '1 second')"
#define EPOCH(x) "date_part('epoch', " x ")::bigint"
#define EPOCH_OR_OPEN(x) "coalesce(" EPOCH(x) ", 9223372036854775807)"

static int load_pools(struct close_state *st, const char *const *pp)
{
	PGresult *res = bs_op_query(st->op,
		"SELECT pool_id, name, carrier, currency, cost_model,"
		" coalesce(monthly_fee_fen, 0), coalesce(price_fen_per_mbps, 0),"
		" coalesce(commit_floor_bps, 0), " EPOCH("lower(valid)") ", "
		EPOCH_OR_OPEN("upper(valid)")
		" FROM pool WHERE valid && " PERIOD_RANGE " ORDER BY pool_id", 2, pp);
	if (res == NULL)
		return st->op->rc;
	st->n_pools = (size_t)PQntuples(res);
	if (st->n_pools > MAX_POOLS) {
		bs_op_fail(st->op, BS_EXIT_REFUSED, "%zu pools in the period; at "
			   "most %d", st->n_pools, MAX_POOLS);
		PQclear(res);
		return st->op->rc;
	}
	st->pools = xcalloc(st->op, st->n_pools, sizeof(*st->pools));
	for (size_t i = 0; st->pools != NULL && i < st->n_pools; i++) {
		struct pool_row *p = &st->pools[i];
		int r = (int)i;
		p->pool_id = to_i64(res, r, 0);
		copy_name(p->name, res, r, 1);
		copy_name(p->carrier, res, r, 2);
		snprintf(p->currency, sizeof(p->currency), "%s", PQgetvalue(res, r, 3));
		p->contract.pool_id = p->pool_id;
		bs_cost_model_parse(PQgetvalue(res, r, 4), &p->contract.model);
		p->contract.direction = BS_RULE_MAX;
		p->contract.monthly_fee_fen = to_i64(res, r, 5);
		p->contract.price_fen_per_mbps = to_i64(res, r, 6);
		p->contract.commit_floor_bps = to_i64(res, r, 7);
		p->contract.valid.from = to_i64(res, r, 8);
		p->contract.valid.to = to_i64(res, r, 9);
		p->cube = i;
	}
	PQclear(res);
	return st->op->rc;
}

static size_t pool_index(const struct close_state *st, int64_t pool_id)
{
	size_t lo = 0, hi = st->n_pools;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (st->pools[mid].pool_id < pool_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < st->n_pools && st->pools[lo].pool_id == pool_id ? lo : SIZE_MAX;
}

static int load_versions(struct close_state *st, const char *const *pp)
{
	PGresult *res = bs_op_query(st->op,
		"SELECT v.plan_id, v.version, v.kind, v.direction, v.vat_bp, "
		EPOCH("lower(v.valid)") ", " EPOCH_OR_OPEN("upper(v.valid)") ","
		" coalesce(v.price_fen_per_mbps, 0), coalesce(v.overage_fen_per_mbps, 0),"
		" coalesce(v.tier_from_gb, '{}'), coalesce(v.tier_fen_per_gb, '{}')"
		" FROM plan_version v WHERE v.plan_id IN (SELECT a.plan_id FROM"
		" allocation a WHERE a.valid && " PERIOD_RANGE ")"
		" ORDER BY v.plan_id, lower(v.valid)", 2, pp);
	if (res == NULL)
		return st->op->rc;
	st->n_versions = (size_t)PQntuples(res);
	if (st->n_versions > MAX_VERSIONS) {
		bs_op_fail(st->op, BS_EXIT_REFUSED, "%zu plan versions; at most %d",
			   st->n_versions, MAX_VERSIONS);
		PQclear(res);
		return st->op->rc;
	}
	st->versions = xcalloc(st->op, st->n_versions, sizeof(*st->versions));
	st->version_plan = xcalloc(st->op, st->n_versions, sizeof(int64_t));
	for (size_t i = 0; st->op->rc == 0 && i < st->n_versions; i++) {
		struct bs_plan_version *v = &st->versions[i];
		int r = (int)i;
		v->plan_id = st->version_plan[i] = to_i64(res, r, 0);
		v->version = (int32_t)to_i64(res, r, 1);
		bs_plan_kind_parse(PQgetvalue(res, r, 2), &v->kind);
		bs_dir_rule_parse(PQgetvalue(res, r, 3), &v->direction);
		v->vat_bp = (int32_t)to_i64(res, r, 4);
		v->valid.from = to_i64(res, r, 5);
		v->valid.to = to_i64(res, r, 6);
		v->price_fen_per_mbps = to_i64(res, r, 7);
		v->overage_fen_per_mbps = to_i64(res, r, 8);
		int nf = parse_array(PQgetvalue(res, r, 9), v->tier_from_gb,
				     BS_RATING_MAX_TIERS);
		int np = parse_array(PQgetvalue(res, r, 10), v->tier_fen_per_gb,
				     BS_RATING_MAX_TIERS);
		if (nf < 0 || nf != np)
			bs_op_fail(st->op, BS_EXIT_FAILURE, "plan %" PRId64 " version"
				   " %d: unreadable tiers", v->plan_id, v->version);
		v->n_tiers = (uint32_t)(nf < 0 ? 0 : nf);
	}
	PQclear(res);
	return st->op->rc;
}

static int pair_find(const struct pair_map *m, uint64_t key, size_t *slot)
{
	/* The product's high half folded in: its low bits depend on the
	 * pool alone (the tenant is key's high half), and every pair of a
	 * pool probing from one slot made each lookup a long walk. */
	uint64_t h = key * 0x9E3779B97F4A7C15ULL;
	size_t i = (size_t)(h ^ h >> 32) & (m->cap - 1);
	while (m->keys[i] != 0 && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	*slot = i;
	return m->keys[i] == key;
}

static uint64_t pair_key(int64_t tenant, int64_t pool)
{
	return ((uint64_t)tenant << 32 | (uint64_t)pool) + 1;
}

/* A cube's array: zeroed anonymous memory in transparent huge pages where
 * the kernel gives them (madvise mode): the month's cube is hundreds of MB
 * written in the rows' order, bucket after bucket of every pair, and in
 * 4 KB pages its first writes were ~75,000 page faults and as many TLB
 * misses (README, "Performance (month close)"). Without huge pages it is
 * the same memory in small pages. Freed by cube_unmap. */
#define CUBE_ALIGN ((size_t)2 << 20)
static size_t cube_bytes(size_t count, size_t size)
{
	return (count * size + CUBE_ALIGN - 1) / CUBE_ALIGN * CUBE_ALIGN;
}

static void *cube_array(struct close_state *st, size_t count, size_t size)
{
	if (count == 0)
		return NULL;
	void *p = count > SIZE_MAX / size / 2 ? MAP_FAILED
		: mmap(NULL, cube_bytes(count, size), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		bs_op_fail(st->op, BS_EXIT_FAILURE, "out of memory (%zu × %zu bytes)",
			   count, size);
		return NULL;
	}
	(void)madvise(p, cube_bytes(count, size), MADV_HUGEPAGE);
	return p;
}

static int cube_alloc(struct close_state *st, struct cube *c, size_t rows)
{
	c->rows = rows;
	c->n = (size_t)st->n_buckets;
	c->in = cube_array(st, rows * c->n, sizeof(int64_t));
	c->out = cube_array(st, rows * c->n, sizeof(int64_t));
	c->present = cube_array(st, rows * c->n, 1);
	return st->op->rc;
}

static void cube_unmap(struct cube *c)
{
	const size_t count = c->rows * c->n;
	if (c->in != NULL)
		munmap(c->in, cube_bytes(count, sizeof(int64_t)));
	if (c->out != NULL)
		munmap(c->out, cube_bytes(count, sizeof(int64_t)));
	if (c->present != NULL)
		munmap(c->present, cube_bytes(count, 1));
	*c = (struct cube){ 0 };
}

static int load_allocations(struct close_state *st, const char *const *pp)
{
	PGresult *res = bs_op_query(st->op,
		"SELECT a.alloc_id, a.tenant_id, a.pool_id, a.plan_id, a.committed_bps, "
		EPOCH("lower(a.valid)") ", " EPOCH_OR_OPEN("upper(a.valid)") ","
		" pl.currency, pl.name"
		" FROM allocation a JOIN plan pl ON pl.plan_id = a.plan_id"
		" WHERE a.valid && " PERIOD_RANGE
		" ORDER BY a.tenant_id, pl.currency, a.pool_id, lower(a.valid), a.alloc_id",
		2, pp);
	if (res == NULL)
		return st->op->rc;
	st->n_allocs = (size_t)PQntuples(res);
	if (st->n_allocs > MAX_ALLOCS) {
		bs_op_fail(st->op, BS_EXIT_REFUSED, "%zu allocations in the period; "
			   "at most %d", st->n_allocs, MAX_ALLOCS);
		PQclear(res);
		return st->op->rc;
	}
	st->allocs = xcalloc(st->op, st->n_allocs, sizeof(*st->allocs));
	st->map.cap = 16;
	while (st->map.cap < 2 * st->n_allocs + 16)
		st->map.cap *= 2;
	st->map.keys = xcalloc(st->op, st->map.cap, sizeof(uint64_t));
	st->map.rows = xcalloc(st->op, st->map.cap, sizeof(size_t));
	size_t n_pairs = 0;
	for (size_t i = 0; st->op->rc == 0 && i < st->n_allocs; i++) {
		struct alloc_row *a = &st->allocs[i];
		int r = (int)i;
		a->a.alloc_id = to_i64(res, r, 0);
		a->a.tenant_id = to_i64(res, r, 1);
		a->a.pool_id = to_i64(res, r, 2);
		a->plan_id = to_i64(res, r, 3);
		a->a.committed_bps = to_i64(res, r, 4);
		a->a.valid.from = to_i64(res, r, 5);
		a->a.valid.to = to_i64(res, r, 6);
		snprintf(a->currency, sizeof(a->currency), "%s", PQgetvalue(res, r, 7));
		copy_name(a->plan_name, res, r, 8);
		a->pool = pool_index(st, a->a.pool_id);
		assert(a->pool != SIZE_MAX);   /* allocations lie inside their pool */
		size_t slot;
		uint64_t key = pair_key(a->a.tenant_id, a->a.pool_id);
		if (!pair_find(&st->map, key, &slot)) {
			st->map.keys[slot] = key;
			st->map.rows[slot] = n_pairs++;
		}
		a->pair = st->map.rows[slot];
		/* its plan's versions: a slice of the sorted array */
		size_t lo = 0, hi = st->n_versions;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (st->version_plan[mid] < a->plan_id)
				lo = mid + 1;
			else
				hi = mid;
		}
		a->first_version = lo;
		while (lo < st->n_versions && st->version_plan[lo] == a->plan_id)
			lo++;
		a->n_versions = lo - a->first_version;
	}
	PQclear(res);
	/* an `alloc change` mid-bucket: the bucket straddling it counts once,
	 * for the row in force at its start */
	struct bs_rating_alloc *plain = st->op->rc == 0
		? xcalloc(st->op, st->n_allocs, sizeof(*plain)) : NULL;
	if (plain != NULL) {
		for (size_t i = 0; i < st->n_allocs; i++)
			plain[i] = st->allocs[i].a;
		bs_rating_mark_changes(plain, st->n_allocs);
		for (size_t i = 0; i < st->n_allocs; i++)
			st->allocs[i].a.first_bucket_elsewhere =
				plain[i].first_bucket_elsewhere;
		free(plain);
	}
	if (st->op->rc == 0)
		cube_alloc(st, &st->pairs, n_pairs);
	if (st->op->rc == 0)
		cube_alloc(st, &st->pool_cube, st->n_pools);
	return st->op->rc;
}

static int load_tenants(struct close_state *st)
{
	PGresult *res = bs_op_query(st->op, "SELECT tenant_id FROM tenant"
				    " ORDER BY tenant_id", 0, NULL);
	if (res == NULL)
		return st->op->rc;
	st->n_tenants = (size_t)PQntuples(res);
	if (st->n_tenants > MAX_TENANTS) {
		bs_op_fail(st->op, BS_EXIT_REFUSED, "%zu tenants; at most %d",
			   st->n_tenants, MAX_TENANTS);
		PQclear(res);
		return st->op->rc;
	}
	st->tenants = xcalloc(st->op, st->n_tenants, sizeof(int64_t));
	for (size_t i = 0; st->tenants != NULL && i < st->n_tenants; i++)
		st->tenants[i] = to_i64(res, (int)i, 0);
	PQclear(res);
	return st->op->rc;
}

static bool tenant_known(const struct close_state *st, int64_t t)
{
	size_t lo = 0, hi = st->n_tenants;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (st->tenants[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < st->n_tenants && st->tenants[lo] == t;
}

/* BS_CLOSE_TIMING=1: each phase's wall time on stderr (for the benchmark;
 * nothing else reads it). */
static void phase(const char *name)
{
	static struct timespec last;
	static int on = -1;
	if (on < 0) {
		const char *e = getenv("BS_CLOSE_TIMING");
		on = e != NULL && strcmp(e, "1") == 0;
		clock_gettime(CLOCK_MONOTONIC, &last);
	}
	if (!on)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	fprintf(stderr, "close timing: %-12s %8.1f ms\n", name,
		(double)(now.tv_sec - last.tv_sec) * 1e3 +
		(double)(now.tv_nsec - last.tv_nsec) / 1e6);
	last = now;
}

/* ---- the usage ------------------------------------------------------------ */

static bool add_sample(struct cube *c, size_t row, int64_t b, bool in,
		       int64_t bytes)
{
	size_t i = row * c->n + (size_t)b;
	int64_t *v = in ? &c->in[i] : &c->out[i];
	c->present[i] = 1;
	return !__builtin_add_overflow(*v, bytes, v);
}

/* One rollup: its bytes added to its pair's and its pool's samples. */
static int take_sample(struct close_state *st, int64_t tenant, int64_t pool,
		       int64_t b, bool in, int64_t bytes)
{
	if (b < 0 || b >= st->n_buckets) {
		bs_op_fail(st->op, BS_EXIT_FAILURE, "rollup bucket %" PRId64
			   " outside the period", b);
		return st->op->rc;
	}
	const uint64_t key = pair_key(tenant, pool);
	if (key == st->last_key) {
		/* the same pair as the row before (the usual case when the
		 * table's rows lie in pair order): no lookups */
		if (add_sample(&st->pairs, st->last_pair, b, in, bytes) &&
		    add_sample(&st->pool_cube, st->last_pool, b, in, bytes))
			return 0;
		bs_op_fail(st->op, BS_EXIT_REFUSED, "pool %" PRId64 ": bytes of a "
			   "bucket exceed 2^63-1", pool);
		return st->op->rc;
	}
	size_t pi = pool_index(st, pool);
	if (pi == SIZE_MAX) {
		bs_op_fail(st->op, BS_EXIT_REFUSED, "pool %" PRId64 ": usage in %s "
			   "but no pool contract valid in the period (tenant %" PRId64
			   ", bucket %" PRId64 " of the period)", pool, st->req->period,
			   tenant, b);
		return st->op->rc;
	}
	size_t slot;
	bool ok = true;
	if (pair_find(&st->map, key, &slot)) {
		ok = add_sample(&st->pairs, st->map.rows[slot], b, in, bytes);
		if (tenant != 0) {   /* tenant 0's bytes also count as unattributed */
			st->last_key = key;
			st->last_pair = st->map.rows[slot];
			st->last_pool = pi;
		}
	} else if (tenant != 0 && !tenant_known(st, tenant)) {
		bs_op_fail(st->op, BS_EXIT_REFUSED, "tenant %" PRId64 ": usage in %s "
			   "on pool %" PRId64 " but no such tenant", tenant,
			   st->req->period, pool);
		return st->op->rc;
	}
	ok = ok && add_sample(&st->pool_cube, pi, b, in, bytes);
	if (tenant == 0)
		ok = ok && !__builtin_add_overflow(st->pools[pi].unattributed, bytes,
						   &st->pools[pi].unattributed);
	if (!ok)
		bs_op_fail(st->op, BS_EXIT_REFUSED, "pool %" PRId64 ": bytes of a "
			   "bucket exceed 2^63-1", pool);
	return st->op->rc;
}

/* The rollup key the usage queries pack (USAGE_KEY_SQL): tenant and pool,
 * each 0 .. 2^32-1 by the table's CHECKs, as (tenant - 2^31) · 2^32 + pool,
 * which fits an int8 exactly; decoded from its two's complement halves. */
static void unpack_key(uint64_t key, int64_t *tenant, int64_t *pool)
{
	*tenant = (int64_t)((key >> 32) ^ 0x80000000u);
	*pool = (int64_t)(key & 0xffffffffu);
}

/* One CopyData message of the binary stream (copyrows.h): rows of key
 * int8, bucket_start timestamptz, signed bytes int8 (>= 0: in; < 0: out,
 * -1 - bytes). Anything else is a failure, named. */
static int take_message(struct close_state *st, const unsigned char *p,
			const unsigned char *end, struct bs_copy3 *copy)
{
	int64_t v[3];
	int r;
	while ((r = bs_copy3_next(copy, &p, end, v)) > 0) {
		int64_t tenant, pool;
		unpack_key((uint64_t)v[0], &tenant, &pool);
		int64_t b = (bs_copy_timestamp_epoch(v[1]) - st->first_bucket) / 300;
		bool in = v[2] >= 0;
		if (take_sample(st, tenant, pool, b, in, in ? v[2] : -1 - v[2]) != 0)
			return st->op->rc;
	}
	if (r < 0)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: unexpected "
			   "binary COPY data");
	return st->op->rc;
}

/* One CopyData message of a compacted-day stream (copyrows.h): rows of
 * key int8, signed day int8 (the day's first second since 1970 >= 0: in;
 * < 0: out, -1 - it), then the day's 288 buckets (-1: no rollup, a gap).
 * Buckets outside the period are skipped (a UTC day overlaps the period's
 * first or last local day only in part). */
static int take_day_message(struct close_state *st, const unsigned char *p,
			    const unsigned char *end, struct bs_copy3 *copy)
{
	const int64_t period_end = st->first_bucket + st->n_buckets * 300;
	int64_t v[2];
	const unsigned char *slots;
	int r;
	while ((r = bs_copyday_next(copy, &p, end, v, &slots)) > 0) {
		int64_t tenant, pool;
		unpack_key((uint64_t)v[0], &tenant, &pool);
		bool in = v[1] >= 0;
		int64_t day = in ? v[1] : -1 - v[1];
		for (int i = 0; i < BS_COPY_DAY_SLOTS; i++) {
			int64_t t = day + 300 * (int64_t)i;
			if (t < st->first_bucket || t >= period_end)
				continue;
			uint64_t raw = bs_copy_be64(slots + 8 * i);
			if (raw == UINT64_MAX)
				continue;
			if (raw > INT64_MAX) {
				bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the "
					   "compacted day %" PRId64 ": a negative "
					   "byte count", day);
				return st->op->rc;
			}
			if (take_sample(st, tenant, pool, (t - st->first_bucket) / 300,
					in, (int64_t)raw) != 0)
				return st->op->rc;
		}
	}
	if (r < 0)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the compacted days: "
			   "unexpected binary COPY data");
	return st->op->rc;
}

/* The month is read by two connections at once, each a share of the
 * table's blocks (a TID range scan), all in one snapshot exported by the
 * close's transaction: the server's per-row work (scan, send) runs on two
 * cores, and the rows read are exactly those one COPY would read.
 * BS_CLOSE_STREAMS=1 reads it with one connection and a plain sequential
 * scan instead: about 30% less database CPU (no TID range scans, which
 * read through shared buffers without a scan's small ring), as long or
 * longer on two cores (README, "Performance (month close)"). */
#define USAGE_STREAMS_MAX 2
static int usage_streams(void)
{
	const char *e = getenv("BS_CLOSE_STREAMS");
	return e != NULL && strcmp(e, "1") == 0 ? 1 : USAGE_STREAMS_MAX;
}

/* A usage COPY statement's room: the period's other days as up to
 * PERIOD_DAYS_MAX / 2 ranges (~100 characters each), or its compacted
 * days' list. */
#define USAGE_SQL_MAX 8192
/* The UTC days a period overlaps, at the most (a month: 32). */
#define PERIOD_DAYS_MAX 40

struct usage_stream {
	PGconn *conn;
	struct bs_copy3 copy;
	bool copying;
	bool days;                  /* compacted days (usage_day), not rows */
};

/* Opens a stream's connection and its read-only transaction in the
 * exported snapshot. */
static int stream_open(struct close_state *st, struct usage_stream *s,
		       const char *snapshot)
{
	char err[512], begin[160];
	s->conn = bs_db_connect(st->op->cli->conninfo, st->op->cli->prog, err,
				sizeof(err));
	if (s->conn == NULL) {
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: %s", err);
		return st->op->rc;
	}
	/* SET TRANSACTION SNAPSHOT takes no parameters: the id was checked
	 * to be hex digits and dashes. */
	snprintf(begin, sizeof(begin), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
		 " SET TRANSACTION SNAPSHOT '%s'", snapshot);
	PGresult *res = PQexec(s->conn, begin);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: %s",
			   PQresultErrorMessage(res));
	PQclear(res);
	return st->op->rc;
}

/* Sends a stream's COPY, sql. */
static int stream_send(struct close_state *st, struct usage_stream *s,
		       const char *sql)
{
	if (PQsendQuery(s->conn, sql) != 1)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: %s",
			   PQerrorMessage(s->conn));
	return st->op->rc;
}

/* The rollup key both usage COPYs send (unpack_key decodes it), and the
 * column of the park's billing measure (the same name in usage_5m and
 * usage_day). */
#define USAGE_KEY_SQL "(tenant_id - 2147483648) * 4294967296 + pool_id"
static const char *measure_column(const struct close_state *st)
{
	return st->bmeasure == BS_MEASURE_IP ? "ip_bytes" : "frame_bytes";
}

/* The COPY of the period's rollup rows, in the billing measure: all of
 * them, or those of blocks [from, to) (to < 0: to the end of the table),
 * or (ranges not empty) only those in ranges, an SQL condition on
 * bucket_start. COPY takes no parameters: the values are integers
 * formatted here, the column one of two names. Binary: no text to format
 * or parse. */
static void rows_sql(const struct close_state *st, int64_t from, int64_t to,
		     const char *ranges, char *sql, size_t size)
{
	char where[USAGE_SQL_MAX / 2] = "";
	if (ranges[0] != '\0')
		snprintf(where, sizeof(where), " AND (%s)", ranges);
	else if (from > 0 && to >= 0)
		snprintf(where, sizeof(where), " AND ctid >= '(%" PRId64 ",0)' AND ctid < '(%" PRId64 ",0)'", from, to);
	else if (to >= 0)
		snprintf(where, sizeof(where), " AND ctid < '(%" PRId64 ",0)'", to);
	else if (from > 0)
		snprintf(where, sizeof(where), " AND ctid >= '(%" PRId64 ",0)'", from);
	/* Three fields a row, not five: each field is a send call and bytes
	 * on the wire, the per-row cost that dominates the close. Tenant and
	 * pool go packed in one int8 (unpack_key), the direction as the sign
	 * of the bytes (in: bytes; out: -1 - bytes; bytes ≥ 0 by CHECK). */
	const char *bytes = measure_column(st);
	int n = snprintf(sql, size,
		 "COPY (SELECT " USAGE_KEY_SQL ","
		 " bucket_start, CASE WHEN direction = 'in' THEN %s ELSE -1 - %s END"
		 " FROM usage_5m"
		 " WHERE bucket_start >= to_timestamp(%" PRId64 ")"
		 " AND bucket_start < to_timestamp(%" PRId64 ")"
		 "%s) TO STDOUT (FORMAT binary)",
		 bytes, bytes, st->first_bucket,
		 st->first_bucket + st->n_buckets * 300, where);
	assert(n > 0 && (size_t)n < size);
}

/* The COPY of the compacted days that days (plan_usage) selects, in the
 * billing measure: key, signed day (as in rows_sql: the direction as its
 * sign), the day's buckets. */
static void days_sql(const struct close_state *st, const char *days, char *sql,
		     size_t size)
{
	int n = snprintf(sql, size,
		 "COPY (SELECT " USAGE_KEY_SQL ","
		 " CASE WHEN direction = 'in' THEN e ELSE -1 - e END, %s"
		 " FROM (SELECT *, (day - date '1970-01-01')::int8 * 86400 AS e"
		 " FROM usage_day WHERE %s) d)"
		 " TO STDOUT (FORMAT binary)", measure_column(st), days);
	assert(n > 0 && (size_t)n < size);
}

/* Waits for a stream's COPY to start. */
static int stream_copying(struct close_state *st, struct usage_stream *s)
{
	PGresult *res = PQgetResult(s->conn);
	s->copying = PQresultStatus(res) == PGRES_COPY_OUT;
	if (!s->copying)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: %s",
			   res != NULL ? PQresultErrorMessage(res)
				       : PQerrorMessage(s->conn));
	PQclear(res);
	return st->op->rc;
}

/* Takes the rows a stream has ready; at its end, collects its result.
 * Returns whether it has ended. */
static bool stream_drain(struct close_state *st, struct usage_stream *s)
{
	char *buf;
	int len;
	while ((len = PQgetCopyData(s->conn, &buf, 1)) > 0) {
		if (st->op->rc == 0 && s->days)
			take_day_message(st, (const unsigned char *)buf,
					 (const unsigned char *)buf + len, &s->copy);
		else if (st->op->rc == 0)
			take_message(st, (const unsigned char *)buf,
				     (const unsigned char *)buf + len, &s->copy);
		PQfreemem(buf);
	}
	if (len == 0)
		return false;
	if (len == -2)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: %s",
			   PQerrorMessage(s->conn));
	PGresult *res;
	while ((res = PQgetResult(s->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: %s",
				   PQresultErrorMessage(res));
		PQclear(res);
	}
	if (st->op->rc == 0 && !s->copy.trailer)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: the binary "
			   "COPY ended without its trailer");
	s->copying = false;
	return true;
}

static bool snapshot_id_ok(const char *id)
{
	if (id[0] == '\0' || strlen(id) > 64)
		return false;
	for (; *id != '\0'; id++)
		if (!isxdigit((unsigned char)*id) && *id != '-')
			return false;
	return true;
}

/* How the period is read, from usage_day_state in the snapshot the
 * streams read (conn: a stream's, the snapshot imported; the close's own
 * transaction is READ COMMITTED, so that its next statement may see a
 * compaction committed since):
 * days gets the condition on usage_day.day of the clean compacted days it
 * overlaps ("" when none), for days_sql: a range, less the days in it that
 * are not clean (a range scan reads usage_day's rows in about half the
 * time a list of days does); ranges the condition on bucket_start of the
 * period's other days ("" when none), for rows_sql. A day written to after
 * its compaction is dirty (0029's triggers, in the writer's transaction: a
 * snapshot that sees the write sees the mark), so it is read from its
 * rows. */
static int plan_usage(struct close_state *st, PGconn *conn, char *days,
		      size_t days_size, char *ranges, size_t ranges_size)
{
	const int64_t start = st->first_bucket;
	const int64_t end = start + st->n_buckets * 300;
	assert(start > 0);   /* periods from 1970 on: UTC days by division */
	const int64_t k0 = start / 86400, k1 = (end - 1) / 86400;
	assert(k1 - k0 + 1 <= PERIOD_DAYS_MAX);
	char p0[24], p1[24];
	snprintf(p0, sizeof(p0), "%" PRId64, k0);
	snprintf(p1, sizeof(p1), "%" PRId64, k1);
	const char *params[2] = { p0, p1 };
	PGresult *res = PQexecParams(conn, "SELECT (day - date '1970-01-01')::int8"
		" FROM usage_day_state WHERE NOT dirty"
		" AND day >= date '1970-01-01' + $1::int"
		" AND day <= date '1970-01-01' + $2::int ORDER BY day", 2, NULL,
		params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the compacted days: %s",
			   PQresultErrorMessage(res));
		PQclear(res);
		return st->op->rc;
	}
	bool clean[PERIOD_DAYS_MAX] = { false };
	int64_t first = -1, last = -1;
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t k = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		assert(k >= k0 && k <= k1);
		clean[k - k0] = true;
		first = first < 0 ? k : first;
		last = k;
	}
	PQclear(res);
	days[0] = ranges[0] = '\0';
	if (first >= 0) {
		/* day numbers: (day - date '1970-01-01') is an integer */
		size_t dlen = (size_t)snprintf(days, days_size, "day >= date '1970-01-01'"
			" + %" PRId64 " AND day <= date '1970-01-01' + %" PRId64, first, last);
		const char *sep = " AND (day - date '1970-01-01') NOT IN (";
		for (int64_t k = first; k <= last; k++) {
			if (clean[k - k0])
				continue;
			dlen += (size_t)snprintf(days + dlen, days_size - dlen, "%s%" PRId64,
						 sep, k);
			sep = ", ";
		}
		if (sep[0] == ',')
			dlen += (size_t)snprintf(days + dlen, days_size - dlen, ")");
		assert(dlen + 1 < days_size);
	}
	/* the other days, consecutive ones as one range, within the period */
	size_t rlen = 0;
	for (int64_t k = k0; k <= k1; k++) {
		if (clean[k - k0])
			continue;
		int64_t k_end = k;
		while (k_end + 1 <= k1 && !clean[k_end + 1 - k0])
			k_end++;
		int64_t a = k * 86400 > start ? k * 86400 : start;
		int64_t b = (k_end + 1) * 86400 < end ? (k_end + 1) * 86400 : end;
		rlen += (size_t)snprintf(ranges + rlen, ranges_size - rlen,
			"%s(bucket_start >= to_timestamp(%" PRId64 ") AND bucket_start"
			" < to_timestamp(%" PRId64 "))", rlen == 0 ? "" : " OR ", a, b);
		assert(rlen + 1 < ranges_size);
		k = k_end;
	}
	return 0;
}

static int load_usage(struct close_state *st)
{
	PGresult *res = bs_op_query(st->op, "SELECT pg_export_snapshot(),"
		" pg_relation_size('usage_5m') / current_setting('block_size')::bigint",
		0, NULL);
	if (res == NULL)
		return st->op->rc;
	char snapshot[65];
	snprintf(snapshot, sizeof(snapshot), "%s", PQgetvalue(res, 0, 0));
	int64_t blocks = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if (!snapshot_id_ok(snapshot)) {
		bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: "
			   "unexpected snapshot id");
		return st->op->rc;
	}
	/* BS_CLOSE_TEST_PAUSE_MS: a pause here, for test_usage_day to commit a
	 * compaction between the snapshot and the reading of the days */
	const char *pause = getenv("BS_CLOSE_TEST_PAUSE_MS");
	if (pause != NULL) {
		long ms = strtol(pause, NULL, 10);
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };
		if (ms > 0 && ms <= 60000)
			nanosleep(&ts, NULL);
	}
	/* the first stream's connection, in the snapshot, says what to read */
	struct usage_stream s[USAGE_STREAMS_MAX] = { 0 };
	static char days[USAGE_SQL_MAX / 2], ranges[USAGE_SQL_MAX / 2];
	if (stream_open(st, &s[0], snapshot) != 0 ||
	    plan_usage(st, s[0].conn, days, sizeof(days), ranges, sizeof(ranges)) != 0) {
		if (s[0].conn != NULL)
			PQfinish(s[0].conn);
		return st->op->rc;
	}
	static char sql[USAGE_STREAMS_MAX][USAGE_SQL_MAX];
	int n_streams = 0;
	if (days[0] == '\0') {
		/* nothing compacted: blocks [k·share, (k+1)·share); the last
		 * stream to the table's end, wherever it is in the snapshot */
		n_streams = usage_streams();
		const int64_t share = blocks / n_streams + 1;
		for (int k = 0; k < n_streams; k++)
			rows_sql(st, k * share, k == n_streams - 1 ? -1 : (k + 1) * share,
				 "", sql[k], sizeof(sql[k]));
	} else {
		/* the compacted days, and the other days' rows beside them */
		s[n_streams].days = true;
		days_sql(st, days, sql[n_streams], sizeof(sql[n_streams]));
		n_streams++;
		if (ranges[0] != '\0') {
			rows_sql(st, 0, -1, ranges, sql[n_streams], sizeof(sql[n_streams]));
			n_streams++;
		}
	}
	for (int k = 1; k < n_streams && st->op->rc == 0; k++)
		stream_open(st, &s[k], snapshot);
	for (int k = 0; k < n_streams && st->op->rc == 0; k++)
		stream_send(st, &s[k], sql[k]);
	for (int k = 0; k < n_streams && st->op->rc == 0; k++)
		stream_copying(st, &s[k]);
	for (;;) {
		struct pollfd fds[USAGE_STREAMS_MAX];
		nfds_t n = 0;
		for (int k = 0; k < n_streams; k++) {
			if (!s[k].copying || stream_drain(st, &s[k]))
				continue;
			fds[n++] = (struct pollfd){ .fd = PQsocket(s[k].conn),
						    .events = POLLIN };
		}
		if (n == 0)
			break;
		if (poll(fds, n, -1) < 0 && errno != EINTR) {
			bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the rollups: "
				   "poll: %s", strerror(errno));
			break;
		}
		for (int k = 0; k < n_streams; k++)
			if (s[k].copying && PQconsumeInput(s[k].conn) != 1) {
				bs_op_fail(st->op, BS_EXIT_FAILURE, "reading the "
					   "rollups: %s", PQerrorMessage(s[k].conn));
				s[k].copying = false;
			}
	}
	for (int k = 0; k < n_streams; k++)
		if (s[k].conn != NULL)
			PQfinish(s[k].conn);
	return st->op->rc;
}

/* A cube row's present buckets as rating samples. */
static size_t row_samples(const struct close_state *st, const struct cube *c,
			  size_t row)
{
	size_t n = 0;
	const size_t base = row * c->n;
	for (size_t b = 0; b < c->n; b++) {
		if (!c->present[base + b])
			continue;
		st->samples[n++] = (struct bs_sample){
			.bucket = st->first_bucket + (int64_t)b * 300,
			.in_bytes = c->in[base + b], .out_bytes = c->out[base + b] };
	}
	return n;
}

/* ---- staging ------------------------------------------------------------ */

static void put(struct close_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int flush_copy(struct close_state *st)
{
	if (st->copylen > 0 && st->op->rc == 0 &&
	    PQputCopyData(st->op->conn, st->copybuf, (int)st->copylen) != 1)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "staging: %s",
			   PQerrorMessage(st->op->conn));
	st->copylen = 0;
	return st->op->rc;
}

#define COPYBUF_SIZE (1 << 20)
static void put(struct close_state *st, const char *fmt, ...)
{
	if (st->copylen > COPYBUF_SIZE - 4096)
		flush_copy(st);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(st->copybuf + st->copylen, COPYBUF_SIZE - st->copylen,
			  fmt, ap);
	va_end(ap);
	assert(n > 0 && (size_t)n < COPYBUF_SIZE - st->copylen);
	st->copylen += (size_t)n;
}

/* Text for COPY's text format: \, tab, newline, CR escaped. */
static void put_text(struct close_state *st, const char *s)
{
	char out[4 * NAME_MAX_LEN + 256];
	size_t o = 0;
	for (; *s && o < sizeof(out) - 3; s++) {
		if (*s == '\\' || *s == '\t' || *s == '\n' || *s == '\r') {
			out[o++] = '\\';
			out[o++] = *s == '\t' ? 't' : *s == '\n' ? 'n'
				 : *s == '\r' ? 'r' : '\\';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	put(st, "%s", out);
}

static void put_time(struct close_state *st, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	put(st, "%04d-%02d-%02d %02d:%02d:%02d+00", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* num / den to `places` decimals, half-up (num, den ≥ 0). */
static void put_decimal(struct close_state *st, unsigned __int128 num,
			unsigned __int128 den, int places)
{
	unsigned __int128 scale = 1;
	for (int i = 0; i < places; i++)
		scale *= 10;
	unsigned __int128 q = (num * scale * 2 + den) / (den * 2);
	char digits[64];
	int n = 0;
	do {
		digits[n++] = (char)('0' + (int)(q % 10));
		q /= 10;
	} while (q > 0 || n <= places);
	char out[72];
	int o = 0;
	for (int i = n - 1; i >= 0; i--) {
		out[o++] = digits[i];
		if (i == places && places > 0)
			out[o++] = '.';
	}
	out[o] = '\0';
	put(st, "%s", out);
}

static int copy_begin(struct close_state *st, const char *sql)
{
	PGresult *res = PQexec(st->op->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "staging: %s",
			   PQresultErrorMessage(res));
	PQclear(res);
	return st->op->rc;
}

static int copy_end(struct close_state *st)
{
	flush_copy(st);
	if (PQputCopyEnd(st->op->conn, st->op->rc == 0 ? NULL : "failed") != 1)
		bs_op_fail(st->op, BS_EXIT_FAILURE, "staging: %s",
			   PQerrorMessage(st->op->conn));
	PGresult *res;
	while ((res = PQgetResult(st->op->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && st->op->rc == 0)
			bs_op_fail(st->op, BS_EXIT_FAILURE, "staging: %s",
				   PQresultErrorMessage(res));
		PQclear(res);
	}
	return st->op->rc;
}

static void put_line(struct close_state *st, const struct alloc_row *a,
		     const struct bs_charge_line *l, int segment_no)
{
	const struct pool_row *p = &st->pools[a->pool];
	const struct bs_p95 *e = &l->p95;
	put(st, "%" PRId64 "\t%s\t%d\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%d\t%s\t%s\t",
	    a->a.tenant_id, a->currency, segment_no, a->a.alloc_id, a->a.pool_id,
	    l->plan_id, l->plan_version, bs_plan_kind_name(l->plan_kind),
	    bs_charge_name(l->charge));
	put_time(st, l->window.from);
	put(st, "\t");
	put_time(st, l->window.to);
	put(st, "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t",
	    l->window_s, l->period_s, bs_dir_rule_name(l->direction), st->measure,
	    e->n_buckets, e->gaps);
	if (e->has_billed)
		put(st, "%" PRId64 "\t", e->billed_rank);
	else
		put(st, "\\N\t");
	put(st, "%" PRId64 "\t", e->dropped);
	if (e->has_billed) {
		put_time(st, e->billed_bucket);
		put(st, "\t%" PRId64 "\t", e->billed_bytes);
	} else {
		put(st, "\\N\t\\N\t");
	}
	put(st, "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t", l->commit_bps,
	    e->bytes_in, e->bytes_out);
	/* quantity: Mbps committed, Mbps of the 95th above it, or GB */
	const char *unit = "Mbps";
	switch (l->charge) {
	case BS_CHARGE_COMMIT:
		put_decimal(st, (unsigned __int128)l->commit_bps, 1000000, 6);
		break;
	case BS_CHARGE_OVERAGE: {
		unsigned __int128 bits = (unsigned __int128)e->billed_bytes * 8;
		unsigned __int128 commit = (unsigned __int128)l->commit_bps * 300;
		put_decimal(st, bits > commit ? bits - commit : 0, 300000000, 6);
		unit = "Mbps above the commit";
		break;
	}
	case BS_CHARGE_VOLUME:
		put_decimal(st, (unsigned __int128)l->quantity, 1000000000, 9);
		unit = "GB";
		break;
	}
	if (l->charge == BS_CHARGE_VOLUME)
		put(st, "\t\\N\t");
	else
		put(st, "\t%" PRId64 "\t", l->unit_price_fen);
	put(st, "%" PRId64 "\t%d\t", l->amount_fen, l->vat_bp);
	char desc[4 * NAME_MAX_LEN + 128];
	snprintf(desc, sizeof(desc), "%s v%d %s (%s), allocation %" PRId64
		 " on pool %s", a->plan_name, l->plan_version,
		 bs_charge_name(l->charge), unit, a->a.alloc_id, p->name);
	put_text(st, desc);
	put(st, "\n");
}

static int rate_allocations(struct close_state *st)
{
	if (copy_begin(st, "COPY pg_temp.bs_close_line FROM STDIN") != 0)
		return st->op->rc;
	size_t cached_pair = SIZE_MAX, n_samples = 0;
	int segment_no = 0;
	struct bs_charge_line lines[2 * BS_RATING_MAX_SEGMENTS];
	for (size_t i = 0; st->op->rc == 0 && i < st->n_allocs; i++) {
		const struct alloc_row *a = &st->allocs[i];
		if (i == 0 || a->a.tenant_id != st->allocs[i - 1].a.tenant_id ||
		    strcmp(a->currency, st->allocs[i - 1].currency) != 0)
			segment_no = 0;
		if (a->pair != cached_pair) {
			n_samples = row_samples(st, &st->pairs, a->pair);
			cached_pair = a->pair;
		}
		struct bs_rating_error err;
		size_t n = 0;
		int rc = bs_rating_rate_allocation(st->period, &a->a,
			&st->versions[a->first_version], a->n_versions, st->samples,
			n_samples, st->bmeasure, st->scratch, lines,
			sizeof(lines) / sizeof(lines[0]), &n, &err);
		if (rc != 0) {
			bs_op_fail(st->op, rc == BS_RATING_ENOVERSION ||
				   rc == BS_RATING_ERANGE ? BS_EXIT_REFUSED
							  : BS_EXIT_FAILURE,
				   "allocation %" PRId64 " (tenant %" PRId64 ", pool %"
				   PRId64 ", plan %" PRId64 " '%s'): %s", a->a.alloc_id,
				   a->a.tenant_id, a->a.pool_id, a->plan_id,
				   a->plan_name, err.msg);
			break;
		}
		for (size_t k = 0; k < n; k++) {
			if (k == 0 || lines[k].window.from != lines[k - 1].window.from)
				segment_no++;
			put_line(st, a, &lines[k], segment_no);
		}
	}
	return copy_end(st);
}

static int rate_carriers(struct close_state *st)
{
	if (copy_begin(st, "COPY pg_temp.bs_close_carrier FROM STDIN") != 0)
		return st->op->rc;
	for (size_t i = 0; st->op->rc == 0 && i < st->n_pools; i++) {
		const struct pool_row *p = &st->pools[i];
		size_t n_samples = row_samples(st, &st->pool_cube, p->cube);
		struct bs_carrier_cost c;
		struct bs_rating_error err;
		if (bs_rating_carrier_cost(st->period, &p->contract, st->samples,
					   n_samples, st->scratch, &c, &err) != 0) {
			bs_op_fail(st->op, BS_EXIT_REFUSED, "pool %" PRId64 " (%s): "
				   "carrier cost: %s", p->pool_id, p->name, err.msg);
			break;
		}
		if (c.window_s <= 0)
			continue;
		bool p95 = c.model == BS_COST_P95;
		put(st, "%" PRId64 "\t", p->pool_id);
		put_text(st, p->carrier);
		put(st, "\t%s\t%s\t", p->currency, bs_cost_model_name(c.model));
		put_time(st, c.window.from);
		put(st, "\t");
		put_time(st, c.window.to);
		put(st, "\t%" PRId64 "\t%" PRId64 "\t", c.window_s, c.period_s);
		if (p95)
			put(st, "\\N\t%" PRId64 "\t%" PRId64 "\t",
			    p->contract.price_fen_per_mbps, p->contract.commit_floor_bps);
		else
			put(st, "%" PRId64 "\t\\N\t\\N\t", p->contract.monthly_fee_fen);
		put(st, "%s\t%" PRId64 "\t%" PRId64 "\t", st->measure,
		    c.p95.n_buckets, c.p95.gaps);
		if (c.p95.has_billed) {
			put(st, "%" PRId64 "\t", c.p95.billed_rank);
			put_time(st, c.p95.billed_bucket);
			put(st, "\t%" PRId64 "\t", c.p95.billed_bytes);
		} else {
			put(st, "\\N\t\\N\t\\N\t");
		}
		if (p95) {
			unsigned __int128 bits = (unsigned __int128)c.p95.billed_bytes * 8;
			unsigned __int128 floor = (unsigned __int128)c.commit_floor_bps * 300;
			put_decimal(st, bits > floor ? bits : floor, 300000000, 6);
			put(st, "\t");
		} else {
			put(st, "\\N\t");
		}
		put(st, "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
		    c.p95.bytes_in, c.p95.bytes_out, p->unattributed, c.amount_fen);
	}
	return copy_end(st);
}

/* ---- the statement digests ---------------------------------------------- */

struct alloc_order {
	int64_t alloc_id;
	size_t index;
};

static int by_alloc_id(const void *x, const void *y)
{
	const struct alloc_order *a = x, *b = y;
	return (a->alloc_id > b->alloc_id) - (a->alloc_id < b->alloc_id);
}

/* One document's digest: its allocations allocs[first, end) (consecutive,
 * one tenant and currency), computed by a digest worker. */
struct digest_job {
	size_t first, end;
	char hex[BS_DIGEST_HEX_LEN + 1];
	int64_t lines;
	bool failed;
};

struct digest_worker {
	const struct close_state *st;
	struct digest_job *jobs;
	size_t n_jobs, k, stride;     /* jobs k, k + stride, ... */
};

/* SHA-256 over the canonical lines of each of the worker's documents. Reads
 * only the close's state (allocations, the pair cube), writes only its own
 * jobs: the workers share nothing mutable. */
static void *digest_work(void *arg)
{
	struct digest_worker *w = arg;
	const struct close_state *st = w->st;
	struct bs_sample_digest *d = malloc(sizeof(*d));
	struct alloc_order *order = NULL;
	size_t order_cap = 0;
	for (size_t j = w->k; j < w->n_jobs; j += w->stride) {
		struct digest_job *job = &w->jobs[j];
		size_t n_allocs = job->end - job->first;
		if (n_allocs > order_cap) {
			free(order);
			order_cap = n_allocs;
			order = malloc(order_cap * sizeof(*order));
		}
		if (d == NULL || order == NULL || bs_sample_digest_begin(d) != 0) {
			job->failed = true;
			continue;
		}
		for (size_t i = job->first; i < job->end; i++)
			order[i - job->first] = (struct alloc_order){
				st->allocs[i].a.alloc_id, i };
		qsort(order, n_allocs, sizeof(*order), by_alloc_id);
		for (size_t k = 0; k < n_allocs; k++) {
			const struct alloc_row *a = &st->allocs[order[k].index];
			int64_t first, n;
			bs_sample_alloc_buckets(st->period, &a->a, &first, &n);
			size_t base = a->pair * st->pairs.n;
			for (int64_t b = 0; b < n; b++) {
				int64_t t = first + b * BS_RATING_BUCKET_S;
				size_t c = base + (size_t)((t - st->first_bucket) /
							   BS_RATING_BUCKET_S);
				bs_sample_digest_add(d, a->a.alloc_id, a->a.pool_id, t,
						     st->pairs.present[c] != 0,
						     st->pairs.in[c], st->pairs.out[c]);
			}
		}
		job->lines = d->lines;
		job->failed = bs_sample_digest_end(d, job->hex) != 0;
	}
	free(order);
	free(d);
	return NULL;
}

/* Per (tenant, currency): SHA-256 of its samples in the form
 * bandsplit-samples-v1 (sampledigest.h), staged in pg_temp.bs_close_digest
 * for bs_close_record_digests() (0025). The month's samples are hundreds
 * of MB of canonical text: DIGEST_THREADS threads hash the documents
 * (digests_start, as soon as the samples are in) while this thread rates,
 * stages and issues; digests_stage waits for them and stages the results
 * in order. The workers only read the allocations and the pair cube, which
 * nothing changes after the usage is loaded. */
#define DIGEST_THREADS 2

struct digests {
	struct digest_job *jobs;
	size_t n_jobs;
	struct digest_worker w[DIGEST_THREADS];
	pthread_t tid[DIGEST_THREADS];
	bool started[DIGEST_THREADS];
};

static void digests_start(struct close_state *st, struct digests *g)
{
	*g = (struct digests){ 0 };
	g->jobs = xcalloc(st->op, st->n_allocs + 1, sizeof(*g->jobs));
	if (g->jobs == NULL)
		return;
	for (size_t i = 0, j; i < st->n_allocs; i = j) {
		const struct alloc_row *a = &st->allocs[i];
		for (j = i; j < st->n_allocs &&
		     st->allocs[j].a.tenant_id == a->a.tenant_id &&
		     strcmp(st->allocs[j].currency, a->currency) == 0; j++)
			;
		g->jobs[g->n_jobs++] = (struct digest_job){ .first = i, .end = j };
	}
	for (int k = 0; k < DIGEST_THREADS; k++) {
		g->w[k] = (struct digest_worker){ st, g->jobs, g->n_jobs,
						  (size_t)k, DIGEST_THREADS };
		g->started[k] = pthread_create(&g->tid[k], NULL, digest_work,
					       &g->w[k]) == 0;
	}
}

/* Waits for the workers (doing a worker's share here if its thread did not
 * start) and frees them; the jobs stay for digests_stage. */
static void digests_join(struct digests *g)
{
	for (int k = 0; k < DIGEST_THREADS; k++) {
		if (g->started[k])
			pthread_join(g->tid[k], NULL);
		else if (g->jobs != NULL)
			digest_work(&g->w[k]);
		g->started[k] = false;
	}
}

static int digests_stage(struct close_state *st, struct digests *g)
{
	digests_join(g);
	if (st->op->rc != 0 || g->jobs == NULL)
		return st->op->rc;
	PQclear(bs_op_query(st->op, "CREATE TEMP TABLE IF NOT EXISTS bs_close_digest"
		" (tenant_id bigint NOT NULL, currency text NOT NULL,"
		" sha256 text NOT NULL, samples bigint NOT NULL) ON COMMIT DROP",
		0, NULL));
	if (st->op->rc == 0)
		PQclear(bs_op_query(st->op, "TRUNCATE pg_temp.bs_close_digest",
				    0, NULL));
	if (st->op->rc != 0 ||
	    copy_begin(st, "COPY pg_temp.bs_close_digest FROM STDIN") != 0)
		return st->op->rc;
	for (size_t j = 0; j < g->n_jobs && st->op->rc == 0; j++) {
		const struct alloc_row *a = &st->allocs[g->jobs[j].first];
		if (g->jobs[j].failed) {
			bs_op_fail(st->op, BS_EXIT_FAILURE, "SHA-256: OpenSSL failed");
			break;
		}
		put(st, "%" PRId64 "\t%s\t%s\t%" PRId64 "\n", a->a.tenant_id,
		    a->currency, g->jobs[j].hex, g->jobs[j].lines);
	}
	return copy_end(st);
}

/* ---- the run --------------------------------------------------------------- */

static int take_lock(struct close_state *st)
{
	PGresult *res = bs_op_query(st->op, "SELECT pg_try_advisory_xact_lock("
		"hashtext('bandsplit.close'))", 0, NULL);
	if (res == NULL)
		return st->op->rc;
	bool got = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (got)
		return 0;
	fprintf(stderr, "%s %s: another close is running; waiting for it to "
		"finish\n", st->op->cli->prog, st->op->cmd);
	PQclear(bs_op_query(st->op, "SELECT pg_advisory_xact_lock("
			    "hashtext('bandsplit.close'))", 0, NULL));
	return st->op->rc;
}

/* The period closed already: say so, and whether usage settled since. */
static int report_closed(struct close_state *st, const char *run_id,
			 const char *ran_at)
{
	const char *pp[2] = { st->period_date, NULL };
	PGresult *res = bs_op_query(st->op,
		"SELECT count(*), coalesce(sum(u.frame_bytes + u.ip_bytes), 0)"
		" FROM usage_5m u, park_settings s"
		" WHERE u.bucket_start >= ($1::date)::timestamp AT TIME ZONE s.time_zone"
		" AND u.bucket_start < ($1::date + interval '1 month')::timestamp"
		"     AT TIME ZONE s.time_zone"
		" AND u.updated_at >= (SELECT max(r.ran_at) FROM close_run r"
		"                       WHERE r.period = $1::date)", 1, pp);
	if (res == NULL)
		return st->op->rc;
	int n = snprintf(st->report->message, sizeof(st->report->message),
		"period %s is closed already (run %s at %s): nothing changed",
		st->req->period, run_id, ran_at);
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0 && n > 0 &&
	    (size_t)n < sizeof(st->report->message))
		snprintf(st->report->message + n, sizeof(st->report->message) - (size_t)n,
		       "\npending late usage: %s rollup row(s) of the period settled "
		       "after its last close (%s bytes): run '%s close --period %s "
		       "--adjust' to issue the notes", PQgetvalue(res, 0, 0),
		       PQgetvalue(res, 0, 1), st->op->cli->prog, st->req->period);
	PQclear(res);
	return 0;
}

static void warn_completeness(struct close_state *st, const char *const *pp)
{
	PGresult *res = bs_op_query(st->op,
		"SELECT count(*) FROM completeness_gaps g WHERE g.resolved_at IS NULL"
		" AND g.interval_start >= timestamptz 'epoch' + $1::bigint * interval '1 second'"
		" AND g.interval_start < timestamptz 'epoch' + $2::bigint * interval '1 second'",
		2, pp);
	if (res != NULL && strcmp(PQgetvalue(res, 0, 0), "0") != 0)
		fprintf(stderr, "%s %s: warning: %s open completeness gap(s) in %s "
			"(see '%s gaps'): records still missing will arrive late and "
			"need '--adjust'\n", st->op->cli->prog, st->op->cmd,
			PQgetvalue(res, 0, 0), st->req->period, st->op->cli->prog);
	PQclear(res);
}

static int issue(struct close_state *st, struct digests *g, bool *commit)
{
	char from[24], to[24];
	snprintf(from, sizeof(from), "%" PRId64, st->period.from);
	snprintf(to, sizeof(to), "%" PRId64, st->period.to);
	const char *ip[6] = { st->period_date, st->req->adjust ? "adjust" : "close",
			      st->time_zone, st->measure, from, to };
	PGresult *run = bs_op_query(st->op,
		"INSERT INTO close_run (period, kind, time_zone, billing_measure,"
		" period_start, period_end, actor) VALUES ($1::date, $2, $3, $4,"
		" timestamptz 'epoch' + $5::bigint * interval '1 second',"
		" timestamptz 'epoch' + $6::bigint * interval '1 second',"
		" coalesce(nullif(current_setting('bandsplit.actor', true), ''),"
		"          session_user::text)) RETURNING run_id::text", 6, ip);
	if (run == NULL)
		return st->op->rc;
	const char *pp[1] = { PQgetvalue(run, 0, 0) };
	PGresult *res = bs_op_query(st->op,
		"SELECT replace(r_doc, '_', ' ') AS document, r_number AS number,"
		" r_tenant AS tenant_id, r_pool AS pool_id, r_currency AS currency,"
		" bs_yuan(r_subtotal) AS subtotal, bs_yuan(r_vat) AS vat,"
		" bs_yuan(r_total) AS total FROM bs_close_issue($1::bigint)", 1, pp);
	if (res != NULL) {
		int n = PQntuples(res);
		if (n == 0 && st->req->adjust) {
			snprintf(st->report->message, sizeof(st->report->message),
				 "period %s: no change since its close; nothing issued",
				 st->req->period);
			PQclear(res);
		} else {
			st->report->documents = res;
			phase("documents");
			if (digests_stage(st, g) == 0)
				phase("digests");
			if (st->op->rc == 0)
				PQclear(bs_op_query(st->op, "SELECT"
					" bs_close_record_digests($1::bigint)", 1, pp));
			snprintf(st->report->message, sizeof(st->report->message),
				 "period %s: %d document(s) %s (run %s)",
				 st->req->period, n, st->req->dry_run
				 ? "would be issued; dry run, nothing written"
				 : "issued", PQgetvalue(run, 0, 0));
			*commit = !st->req->dry_run;
		}
	}
	PQclear(run);
	return st->op->rc;
}

static void free_state(struct close_state *st)
{
	free(st->pools);
	free(st->allocs);
	free(st->versions);
	free(st->version_plan);
	free(st->tenants);
	free(st->map.keys);
	free(st->map.rows);
	cube_unmap(&st->pairs);
	cube_unmap(&st->pool_cube);
	free(st->samples);
	free(st->scratch);
	free(st->copybuf);
}

int bs_close_run(struct bs_op *op, const struct bs_close_request *req,
		 bool *commit, struct bs_close_report *report)
{
	struct close_state st = { .op = op, .req = req, .report = report };
	*commit = false;
	report->documents = NULL;
	report->message[0] = '\0';
	snprintf(st.period_date, sizeof(st.period_date), "%s-01", req->period);
	if (take_lock(&st) != 0 || load_settings(&st) != 0)
		return op->rc;

	const char *cp[1] = { st.period_date };
	PGresult *closed = bs_op_query(op, "SELECT run_id::text, bs_iso(ran_at)"
		" FROM close_run WHERE period = $1::date AND kind = 'close'", 1, cp);
	if (closed == NULL)
		return op->rc;
	bool is_closed = PQntuples(closed) == 1;
	if (is_closed && !req->adjust) {
		report_closed(&st, PQgetvalue(closed, 0, 0), PQgetvalue(closed, 0, 1));
		PQclear(closed);
		return op->rc;
	}
	PQclear(closed);
	if (!is_closed && req->adjust) {
		bs_op_fail(op, BS_EXIT_REFUSED, "period %s is not closed yet: "
			   "--adjust only issues notes after a close", req->period);
		return op->rc;
	}

	char from[24], to[24];
	snprintf(from, sizeof(from), "%" PRId64, st.period.from);
	snprintf(to, sizeof(to), "%" PRId64, st.period.to);
	const char *pp[2] = { from, to };
	st.samples = xcalloc(op, BS_RATING_MAX_BUCKETS, sizeof(*st.samples));
	st.scratch = xcalloc(op, 1, sizeof(*st.scratch));
	st.copybuf = xcalloc(op, COPYBUF_SIZE, 1);
	phase("start");
	if (op->rc == 0)
		warn_completeness(&st, pp);
	if (op->rc == 0 && load_pools(&st, pp) == 0 && load_versions(&st, pp) == 0 &&
	    load_allocations(&st, pp) == 0 && load_tenants(&st) == 0 &&
	    (phase("model"), load_usage(&st)) == 0) {
		phase("usage");
		struct digests g;
		digests_start(&st, &g);
		PQclear(bs_op_query(op, "SELECT bs_close_stage()", 0, NULL));
		if (op->rc == 0 && rate_allocations(&st) == 0 &&
		    (phase("rate"), rate_carriers(&st)) == 0) {
			phase("carriers");
			issue(&st, &g, commit);
			phase("issue");
		}
		digests_join(&g);   /* every path: no worker outlives the state */
		free(g.jobs);
	}
	free_state(&st);
	return op->rc;
}
