/*
 * usage_gen.c — deterministic usage records with known totals. See
 * usage_gen.h.
 */
#include "usage_gen.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* splitmix64: a good 64-bit mix, enough for test data */
static uint64_t mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

int usage_gen_init(struct usage_gen *g, const struct usage_gen_opts *o,
		   char *err, size_t err_size)
{
	memset(g, 0, sizeof(*g));
	g->o = *o;
	uint64_t combos = (uint64_t)o->tenants * o->pools * 2;
	if (o->nodes < 1 || o->nodes > 64 || o->tenants < 1 || o->pools < 1 ||
	    o->per_node < 1 || o->per_node > combos || o->interval_len < 1 ||
	    300 % o->interval_len != 0 || o->records < 1) {
		snprintf(err, err_size, "generator: need 1..64 nodes, tenants and "
			 "pools >= 1, 1 <= per_node <= tenants*pools*2, "
			 "interval_len dividing 300, records >= 1");
		return -1;
	}
	if (g->o.start == 0) {
		uint64_t intervals = (o->records + (uint64_t)o->nodes * o->per_node - 1) /
				     ((uint64_t)o->nodes * o->per_node);
		int64_t span = (int64_t)intervals * o->interval_len;
		int64_t now = (int64_t)time(NULL);
		g->o.start = (now - span) / 300 * 300;
	}
	if (g->o.start % o->interval_len != 0 || g->o.start < 0) {
		snprintf(err, err_size, "generator: start must be a non-negative "
			 "multiple of interval_len");
		return -1;
	}
	for (uint32_t n = 0; n < o->nodes; n++) {
		uint64_t a = mix(o->seed ^ (n * 2 + 1)), b = mix(a);
		snprintf(g->boot[n], sizeof(g->boot[n]), "%016llx%016llx",
			 (unsigned long long)a, (unsigned long long)b);
		g->seq[n] = 1;
	}
	return 0;
}

static void head(const struct usage_gen *g, struct bs_record *rec,
		 enum bs_record_type type)
{
	memset(rec, 0, sizeof(*rec));
	rec->head.type = type;
	snprintf(rec->head.node_id, sizeof(rec->head.node_id), "node-%02u", g->node);
	memcpy(rec->head.boot_id, g->boot[g->node], sizeof(rec->head.boot_id));
	rec->head.interval_start = g->o.start + (int64_t)g->interval * g->o.interval_len;
	rec->head.interval_len = g->o.interval_len;
	rec->head.measure = BS_MEASURE_FRAME;
	rec->head.map_version = 1;
}

bool usage_gen_next(struct usage_gen *g, struct bs_record *rec)
{
	const struct usage_gen_opts *o = &g->o;
	bool more = g->emitted < o->records;
	if (g->k == o->per_node || (!more && g->k > 0)) {
		/* the node's interval is complete: its summary */
		head(g, rec, BS_RECORD_SUMMARY);
		g->sum.record_count = g->k;
		rec->head.seq = g->seq[g->node]++;
		rec->summary = g->sum;
		rec->summary.rx.packets = g->sum.dir[0].packets + g->sum.dir[1].packets;
		rec->summary.rx.bytes = g->sum.dir[0].bytes + g->sum.dir[1].bytes;
		memset(&g->sum, 0, sizeof(g->sum));
		g->k = 0;
		if (++g->node == o->nodes) {
			g->node = 0;
			g->interval++;
		}
		return true;
	}
	if (!more)
		return false;
	/* the k-th distinct (tenant, pool, direction) of this node-interval:
	 * a stride walk over all combinations from a per-interval start */
	uint64_t combos = (uint64_t)o->tenants * o->pools * 2;
	uint64_t h = mix(o->seed ^ (g->interval << 8) ^ g->node);
	uint64_t idx = (h + (uint64_t)g->k) % combos;
	uint32_t tenant = (uint32_t)(idx / (o->pools * 2)) + 1;
	uint32_t pool = (uint32_t)(idx / 2 % o->pools) + 1;
	enum bs_direction dir = idx % 2 == 0 ? BS_DIR_IN : BS_DIR_OUT;

	head(g, rec, BS_RECORD_USAGE);
	rec->head.seq = g->seq[g->node]++;
	if (g->k == 0)
		g->sum.first_seq = rec->head.seq;
	uint64_t r = mix(h ^ (idx << 20) ^ g->emitted);
	rec->usage.tenant_id = tenant;
	rec->usage.pool_id = pool;
	rec->usage.direction = dir;
	rec->usage.counts.packets = 1 + r % 5000;
	rec->usage.counts.bytes = rec->usage.counts.packets * (64 + (r >> 16) % 1400);
	if ((r >> 40) % 10 == 0) {
		rec->usage.policed.packets = (r >> 44) % 100;
		rec->usage.policed.bytes = rec->usage.policed.packets * 100;
	}
	g->sum.dir[dir].packets += rec->usage.counts.packets;
	g->sum.dir[dir].bytes += rec->usage.counts.bytes;
	g->k++;
	g->emitted++;
	return true;
}
