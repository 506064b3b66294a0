/*
 * rating_driver.c — runs a rating case (the JSON input of rating_ref.py)
 * through the C rating library (settlement/rating.h) and prints the same
 * JSON output as rating_ref.py, so the property test can compare the two
 * exactly. The period comes from the C library's own zone handling (TZ and
 * mktime), not from the reference.
 *
 * Usage: rating_driver CASE.json → JSON on stdout; exit 0, 1 (refused by
 * a rule: {"error": {"kind", "message"}}), 2 (unreadable input).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "rating.h"

struct raw {                 /* one rollup row */
	int64_t key1, key2;  /* (tenant, pool) or (pool, 0) */
	int64_t bucket;
	int64_t in, out;
};

struct pair_samples {
	int64_t tenant, pool;
	struct bs_sample *s;
	size_t n;
};

struct plan {
	int64_t plan_id;
	enum bs_plan_kind kind;
	char currency[8];
	struct bs_plan_version *v;
	size_t n;
};

struct out_line {
	struct bs_charge_line l;
	char currency[8];
};

static struct bs_rating_scratch scratch;
static const char *measure_name = "frame";

static _Noreturn void die(int code, const char *kind, const char *msg)
{
	if (code == 1) {
		json_object *o = json_object_new_object(), *e = json_object_new_object();
		json_object_object_add(e, "kind", json_object_new_string(kind));
		json_object_object_add(e, "message", json_object_new_string(msg));
		json_object_object_add(o, "error", e);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	} else {
		fprintf(stderr, "rating_driver: %s\n", msg);
	}
	exit(code);
}

static void check(int rc, const struct bs_rating_error *err)
{
	static const char *const kinds[] = { "", "invalid", "range",
					     "no_version", "capacity" };
	if (rc)
		die(1, kinds[rc], err->msg);
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, k, &v))
		return NULL;
	return v;
}

static int64_t geti(json_object *o, const char *k, int64_t dflt)
{
	json_object *v = get(o, k);
	return v ? json_object_get_int64(v) : dflt;
}

static struct bs_interval valid(json_object *o)
{
	json_object *v = get(o, "valid");
	if (!v || json_object_array_length(v) != 2)
		die(2, "", "a validity is not [from, to]");
	json_object *to = json_object_array_get_idx(v, 1);
	return (struct bs_interval){
		json_object_get_int64(json_object_array_get_idx(v, 0)),
		to ? json_object_get_int64(to) : BS_RATING_OPEN,
	};
}

static struct bs_interval month_period(const char *tz, const char *month)
{
	int y, m;
	char extra;
	if (!month || sscanf(month, "%4d-%2d%c", &y, &m, &extra) != 2 ||
	    m < 1 || m > 12)
		die(1, "invalid", "month: expected YYYY-MM");
	setenv("TZ", tz, 1);
	tzset();
	struct tm a = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1,
			.tm_isdst = -1 };
	struct tm b = { .tm_year = y - 1900 + (m == 12), .tm_mon = m % 12,
			.tm_mday = 1, .tm_isdst = -1 };
	return (struct bs_interval){ mktime(&a), mktime(&b) };
}

static int raw_cmp(const void *pa, const void *pb)
{
	const struct raw *a = pa, *b = pb;
	if (a->key1 != b->key1)
		return a->key1 < b->key1 ? -1 : 1;
	if (a->key2 != b->key2)
		return a->key2 < b->key2 ? -1 : 1;
	return (a->bucket > b->bucket) - (a->bucket < b->bucket);
}

/* Sorts rows and merges equal (key1, key2, bucket) into samples; returns
 * the groups of distinct (key1, key2). */
static struct pair_samples *group(struct raw *r, size_t n, size_t *n_groups)
{
	qsort(r, n, sizeof *r, raw_cmp);
	struct pair_samples *g = calloc(n + 1, sizeof *g);
	struct bs_sample *all = calloc(n + 1, sizeof *all);
	size_t ng = 0, ns = 0;
	for (size_t i = 0; i < n; i++) {
		bool new_group = i == 0 || r[i].key1 != r[i - 1].key1 ||
				 r[i].key2 != r[i - 1].key2;
		if (new_group) {
			g[ng++] = (struct pair_samples){ r[i].key1, r[i].key2,
							 &all[ns], 0 };
		}
		struct pair_samples *cur = &g[ng - 1];
		if (cur->n && cur->s[cur->n - 1].bucket == r[i].bucket) {
			struct bs_sample *s = &cur->s[cur->n - 1];
			if (__builtin_add_overflow(s->in_bytes, r[i].in, &s->in_bytes) ||
			    __builtin_add_overflow(s->out_bytes, r[i].out, &s->out_bytes))
				die(1, "range", "a bucket's bytes exceed the 64-bit limit");
		} else {
			cur->s[cur->n++] = (struct bs_sample){ r[i].bucket, r[i].in,
							       r[i].out };
			ns++;
		}
	}
	if (ng == 0)
		g[0].s = all; /* so that the caller frees g[0].s in every case */
	*n_groups = ng;
	return g;
}

static const struct pair_samples *find(const struct pair_samples *g, size_t n,
				       int64_t k1, int64_t k2)
{
	for (size_t i = 0; i < n; i++)
		if (g[i].tenant == k1 && g[i].pool == k2)
			return &g[i];
	return NULL;
}

static int line_cmp(const void *pa, const void *pb)
{
	const struct out_line *a = pa, *b = pb;
	int c;
	if (a->l.tenant_id != b->l.tenant_id)
		return a->l.tenant_id < b->l.tenant_id ? -1 : 1;
	if ((c = strcmp(a->currency, b->currency)) != 0)
		return c;
	if (a->l.alloc_id != b->l.alloc_id)
		return a->l.alloc_id < b->l.alloc_id ? -1 : 1;
	if (a->l.window.from != b->l.window.from)
		return a->l.window.from < b->l.window.from ? -1 : 1;
	return (int)a->l.charge - (int)b->l.charge;
}

static json_object *jint(int64_t v)
{
	return json_object_new_int64(v);
}

static void add_p95(json_object *o, const struct bs_p95 *p)
{
	json_object_object_add(o, "n_buckets", jint(p->n_buckets));
	json_object_object_add(o, "gaps", jint(p->gaps));
	json_object_object_add(o, "billed_rank", jint(p->billed_rank));
	json_object_object_add(o, "billed_bucket",
			       p->has_billed ? jint(p->billed_bucket) : NULL);
	json_object_object_add(o, "billed_bytes", jint(p->billed_bytes));
}

static json_object *line_json(const struct bs_charge_line *l)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "alloc_id", jint(l->alloc_id));
	json_object_object_add(o, "tenant_id", jint(l->tenant_id));
	json_object_object_add(o, "pool_id", jint(l->pool_id));
	json_object_object_add(o, "plan_id", jint(l->plan_id));
	json_object_object_add(o, "plan_version", jint(l->plan_version));
	json_object_object_add(o, "charge",
			       json_object_new_string(bs_charge_name(l->charge)));
	json_object_object_add(o, "direction",
			       json_object_new_string(bs_dir_rule_name(l->direction)));
	json_object_object_add(o, "byte_measure",
			       json_object_new_string(measure_name));
	json_object_object_add(o, "window_from", jint(l->window.from));
	json_object_object_add(o, "window_to", jint(l->window.to));
	add_p95(o, &l->p95);
	json_object_object_add(o, "dropped", jint(l->p95.dropped));
	json_object_object_add(o, "billed_is_gap",
			       json_object_new_boolean(l->p95.billed_is_gap));
	json_object_object_add(o, "billed_in_bytes", jint(l->p95.billed_in_bytes));
	json_object_object_add(o, "billed_out_bytes", jint(l->p95.billed_out_bytes));
	json_object_object_add(o, "bytes_in", jint(l->p95.bytes_in));
	json_object_object_add(o, "bytes_out", jint(l->p95.bytes_out));
	json_object_object_add(o, "commit_bps", jint(l->commit_bps));
	json_object_object_add(o, "unit_price_fen", jint(l->unit_price_fen));
	json_object_object_add(o, "quantity", jint(l->quantity));
	json_object_object_add(o, "vat_bp", jint(l->vat_bp));
	json_object_object_add(o, "amount_fen", jint(l->amount_fen));
	return o;
}

static int vcmp(const void *pa, const void *pb)
{
	const struct bs_plan_version *a = pa, *b = pb;
	return (a->valid.from > b->valid.from) - (a->valid.from < b->valid.from);
}

static void load_plans(json_object *arr, struct plan **out, size_t *n_out)
{
	size_t n = arr ? json_object_array_length(arr) : 0;
	struct plan *p = calloc(n + 1, sizeof *p);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		p[i].plan_id = geti(o, "plan_id", 0);
		if (bs_plan_kind_parse(json_object_get_string(get(o, "kind")),
				       &p[i].kind))
			die(2, "", "plan kind unknown");
		json_object *cur = get(o, "currency");
		snprintf(p[i].currency, sizeof p[i].currency, "%s",
			 cur ? json_object_get_string(cur) : "CNY");
		json_object *vs = get(o, "versions");
		p[i].n = json_object_array_length(vs);
		p[i].v = calloc(p[i].n + 1, sizeof *p[i].v);
		for (size_t j = 0; j < p[i].n; j++) {
			json_object *vo = json_object_array_get_idx(vs, j);
			struct bs_plan_version *v = &p[i].v[j];
			v->plan_id = p[i].plan_id;
			v->version = (int32_t)geti(vo, "version", 0);
			v->kind = p[i].kind;
			json_object *d = get(vo, "direction");
			if (bs_dir_rule_parse(d ? json_object_get_string(d) : "max",
					      &v->direction))
				die(2, "", "direction rule unknown");
			v->vat_bp = (int32_t)geti(vo, "vat_bp", 600);
			v->valid = valid(vo);
			v->price_fen_per_mbps = geti(vo, "price_fen_per_mbps", 0);
			v->overage_fen_per_mbps = geti(vo, "overage_fen_per_mbps", 0);
			json_object *tf = get(vo, "tier_from_gb");
			json_object *tp = get(vo, "tier_fen_per_gb");
			v->n_tiers = tf ? (uint32_t)json_object_array_length(tf) : 0;
			if (v->n_tiers > BS_RATING_MAX_TIERS)
				die(1, "invalid", "too many tiers");
			for (uint32_t t = 0; t < v->n_tiers; t++) {
				v->tier_from_gb[t] = json_object_get_int64(
					json_object_array_get_idx(tf, t));
				v->tier_fen_per_gb[t] = json_object_get_int64(
					json_object_array_get_idx(tp, t));
			}
		}
		qsort(p[i].v, p[i].n, sizeof *p[i].v, vcmp);
	}
	*out = p;
	*n_out = n;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		die(2, "", "usage: rating_driver CASE.json");
	json_object *c = json_object_from_file(argv[1]);
	if (!c)
		die(2, "", json_util_get_last_err());
	json_object *tz = get(c, "time_zone"), *ms = get(c, "measure");
	ms = get(c, "byte_measure");
	if (ms)
		measure_name = json_object_get_string(ms);
	enum bs_byte_measure measure = strcmp(measure_name, "ip") == 0
				       ? BS_MEASURE_IP : BS_MEASURE_FRAME;
	struct bs_interval period = month_period(
		tz ? json_object_get_string(tz) : "Asia/Shanghai",
		json_object_get_string(get(c, "month")));

	struct plan *plans;
	size_t n_plans;
	load_plans(get(c, "plans"), &plans, &n_plans);

	json_object *ro = get(c, "rollups");
	size_t n_ro = ro ? json_object_array_length(ro) : 0;
	struct raw *pair_rows = calloc(n_ro + 1, sizeof *pair_rows);
	struct raw *pool_rows = calloc(n_ro + 1, sizeof *pool_rows);
	for (size_t i = 0; i < n_ro; i++) {
		json_object *o = json_object_array_get_idx(ro, i);
		int64_t bytes = geti(o, "bytes", 0);
		bool in = strcmp(json_object_get_string(get(o, "direction")), "in") == 0;
		pair_rows[i] = (struct raw){ geti(o, "tenant_id", 0),
					     geti(o, "pool_id", 0),
					     geti(o, "bucket", 0),
					     in ? bytes : 0, in ? 0 : bytes };
		pool_rows[i] = pair_rows[i];
		pool_rows[i].key1 = pool_rows[i].key2;
		pool_rows[i].key2 = 0;
	}
	size_t n_pairs, n_pools_s;
	struct pair_samples *pairs = group(pair_rows, n_ro, &n_pairs);
	struct pair_samples *pool_s = group(pool_rows, n_ro, &n_pools_s);

	json_object *al = get(c, "allocations");
	size_t n_al = al ? json_object_array_length(al) : 0;
	size_t cap = 16 * n_al + 16, n_lines = 0;
	struct out_line *lines = calloc(cap, sizeof *lines);
	struct bs_rating_alloc *allocs = calloc(n_al + 1, sizeof *allocs);
	int64_t *plan_of = calloc(n_al + 1, sizeof *plan_of);
	for (size_t i = 0; i < n_al; i++) {
		json_object *o = json_object_array_get_idx(al, i);
		allocs[i] = (struct bs_rating_alloc){
			.alloc_id = geti(o, "alloc_id", 0),
			.tenant_id = geti(o, "tenant_id", 0),
			.pool_id = geti(o, "pool_id", 0),
			.committed_bps = geti(o, "committed_bps", 0),
			.valid = valid(o),
		};
		plan_of[i] = geti(o, "plan_id", 0);
	}
	bs_rating_mark_changes(allocs, n_al);
	for (size_t i = 0; i < n_al; i++) {
		struct bs_rating_alloc a = allocs[i];
		int64_t plan_id = plan_of[i];
		const struct plan *p = NULL;
		for (size_t j = 0; j < n_plans; j++)
			if (plans[j].plan_id == plan_id)
				p = &plans[j];
		if (!p)
			die(2, "", "allocation of an unknown plan");
		const struct pair_samples *ps = find(pairs, n_pairs, a.tenant_id,
						     a.pool_id);
		struct bs_charge_line buf[2 * BS_RATING_MAX_SEGMENTS];
		size_t k;
		struct bs_rating_error err;
		check(bs_rating_rate_allocation(period, &a, p->v, p->n,
						ps ? ps->s : NULL, ps ? ps->n : 0,
						measure, &scratch, buf,
						sizeof buf / sizeof buf[0], &k,
						&err), &err);
		for (size_t j = 0; j < k; j++) {
			if (n_lines == cap)
				die(2, "", "too many lines");
			lines[n_lines].l = buf[j];
			snprintf(lines[n_lines].currency, 8, "%s", p->currency);
			n_lines++;
		}
	}
	qsort(lines, n_lines, sizeof *lines, line_cmp);

	json_object *out = json_object_new_object();
	json_object *per = json_object_new_object();
	json_object_object_add(per, "from", jint(period.from));
	json_object_object_add(per, "to", jint(period.to));
	json_object_object_add(per, "seconds", jint(period.to - period.from));
	json_object_object_add(out, "period", per);

	json_object *invoices = json_object_new_array();
	for (size_t i = 0; i < n_lines;) {
		size_t j = i;
		while (j < n_lines && lines[j].l.tenant_id == lines[i].l.tenant_id &&
		       strcmp(lines[j].currency, lines[i].currency) == 0)
			j++;
		struct bs_line_amount *am = calloc(j - i, sizeof *am);
		json_object *jl = json_object_new_array();
		for (size_t k = i; k < j; k++) {
			am[k - i] = (struct bs_line_amount){ lines[k].l.amount_fen,
							     lines[k].l.vat_bp };
			json_object_array_add(jl, line_json(&lines[k].l));
		}
		struct bs_vat_group groups[32];
		size_t ng;
		int64_t sub, vat, tot;
		struct bs_rating_error err;
		check(bs_rating_invoice_totals(am, j - i, groups, 32, &ng, &sub,
					       &vat, &tot, &err), &err);
		json_object *inv = json_object_new_object();
		json_object_object_add(inv, "tenant_id", jint(lines[i].l.tenant_id));
		json_object_object_add(inv, "currency",
				       json_object_new_string(lines[i].currency));
		json_object_object_add(inv, "lines", jl);
		json_object *jv = json_object_new_array();
		for (size_t g = 0; g < ng; g++) {
			json_object *go = json_object_new_object();
			json_object_object_add(go, "vat_bp", jint(groups[g].vat_bp));
			json_object_object_add(go, "base_fen", jint(groups[g].base_fen));
			json_object_object_add(go, "vat_fen", jint(groups[g].vat_fen));
			json_object_array_add(jv, go);
		}
		json_object_object_add(inv, "vat", jv);
		json_object_object_add(inv, "subtotal_fen", jint(sub));
		json_object_object_add(inv, "vat_fen", jint(vat));
		json_object_object_add(inv, "total_fen", jint(tot));
		json_object_array_add(invoices, inv);
		free(am);
		i = j;
	}
	json_object_object_add(out, "invoices", invoices);

	json_object *costs = json_object_new_array();
	json_object *pools = get(c, "pools");
	size_t n_pools = pools ? json_object_array_length(pools) : 0;
	/* by pool_id: the input may list them in any order */
	for (int64_t last = INT64_MIN;;) {
		json_object *next = NULL;
		int64_t best = INT64_MAX;
		for (size_t i = 0; i < n_pools; i++) {
			json_object *o = json_object_array_get_idx(pools, i);
			int64_t id = geti(o, "pool_id", 0);
			if (id > last && id <= best) {
				best = id;
				next = o;
			}
		}
		if (!next)
			break;
		last = best;
		struct bs_pool_contract pc = {
			.pool_id = best, .valid = valid(next),
			.direction = BS_RULE_MAX,
			.monthly_fee_fen = geti(next, "monthly_fee_fen", 0),
			.price_fen_per_mbps = geti(next, "price_fen_per_mbps", 0),
			.commit_floor_bps = geti(next, "commit_floor_bps", 0),
		};
		if (bs_cost_model_parse(json_object_get_string(get(next, "cost_model")),
					&pc.model))
			die(2, "", "cost model unknown");
		const struct pair_samples *ps = find(pool_s, n_pools_s, best, 0);
		struct bs_carrier_cost cc;
		struct bs_rating_error err;
		check(bs_rating_carrier_cost(period, &pc, ps ? ps->s : NULL,
					     ps ? ps->n : 0, &scratch, &cc, &err),
		      &err);
		if (cc.window_s == 0)
			continue;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "pool_id", jint(best));
		json_object_object_add(o, "cost_model",
				       json_object_new_string(bs_cost_model_name(pc.model)));
		json_object_object_add(o, "window_from", jint(cc.window.from));
		json_object_object_add(o, "window_to", jint(cc.window.to));
		add_p95(o, &cc.p95);
		json_object_object_add(o, "floor_applied",
				       json_object_new_boolean(cc.floor_applied));
		json_object_object_add(o, "amount_fen", jint(cc.amount_fen));
		json_object_array_add(costs, o);
	}
	json_object_object_add(out, "carrier_costs", costs);
	puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));

	/* Everything freed, so that the sanitizer build's leak check sees
	 * only what the rating code itself might leak. */
	json_object_put(out);
	json_object_put(c);
	free(pairs[0].s);
	free(pairs);
	free(pool_s[0].s);
	free(pool_s);
	free(pair_rows);
	free(pool_rows);
	free(lines);
	free(allocs);
	free(plan_of);
	for (size_t i = 0; i < n_plans; i++)
		free(plans[i].v);
	free(plans);
	return 0;
}
