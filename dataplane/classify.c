/*
 * classify.c — tenant prefix map → DPDK longest-prefix-match tables
 * (rte_fib DIR24_8 for IPv4, rte_fib6 trie for IPv6) whose next hop is a
 * dense tenant index, and the process-lifetime tenant id → index table.
 *
 * Next-hop width: DPDK keeps one flag bit in each table entry, so 2-byte
 * entries hold next hops and tbl8 group numbers up to 32767. A table uses
 * 2-byte entries (32 MB tbl24) while both fit, and 4-byte entries (64 MB)
 * beyond, so BS_MAX_TENANTS indices always work and small parks stay small.
 */
#include "classify.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_memory.h>

#define TIDX_HASH_SIZE  (1u << 17)  /* ≥ 2 × (BS_MAX_TENANTS + 1), power of 2 */
#define MAX_NH_2B       32767u      /* 2-byte entries: 15 bits of value */
#define MAX_NH_4B       0x7fffffffu /* 4-byte entries: 31 bits of value */
#define TBL8_MARGIN     64u         /* spare tbl8 groups per table */
#define ROUTE_MARGIN    64          /* spare RIB routes per table */
#define FIB_NAME_SIZE   32          /* DPDK memzone names are < 32 bytes */

_Static_assert(TIDX_HASH_SIZE >= 2u * (BS_MAX_TENANTS + 1u),
	       "tenant hash must stay at most half full");
_Static_assert(BS_MAX_TENANTS <= UINT16_MAX, "indices are stored as uint16_t");

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
	if (err == NULL || err_size == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

static inline uint32_t hash_id(uint32_t id, uint32_t size)
{
	return (uint32_t)(((uint64_t)id * 0x9e3779b97f4a7c15ull) >> 32) &
	       (size - 1);
}

/* Slot of id in an open-addressing table keyed by nonzero ids: the slot
 * holding id, or the empty slot where it would go. */
static uint32_t find_slot(const uint32_t *keys, uint32_t size, uint32_t id)
{
	uint32_t slot = hash_id(id, size);

	while (keys[slot] != 0 && keys[slot] != id)
		slot = (slot + 1) & (size - 1);
	return slot;
}

int bs_tenant_index_init(struct bs_tenant_index *tidx)
{
	memset(tidx, 0, sizeof(*tidx));
	tidx->tenant_id = calloc(BS_MAX_TENANTS + 1, sizeof(*tidx->tenant_id));
	tidx->hash_keys = calloc(TIDX_HASH_SIZE, sizeof(*tidx->hash_keys));
	tidx->hash_vals = calloc(TIDX_HASH_SIZE, sizeof(*tidx->hash_vals));
	if (tidx->tenant_id == NULL || tidx->hash_keys == NULL ||
	    tidx->hash_vals == NULL) {
		bs_tenant_index_free(tidx);
		return -1;
	}
	tidx->hash_size = TIDX_HASH_SIZE;
	tidx->tenant_id[0] = 0;   /* index 0: unattributed */
	tidx->count = 1;
	tidx->limit = BS_MAX_TENANTS;
	return 0;
}

void bs_tenant_index_free(struct bs_tenant_index *tidx)
{
	free(tidx->tenant_id);
	free(tidx->hash_keys);
	free(tidx->hash_vals);
	memset(tidx, 0, sizeof(*tidx));
}

/* Dense index of a known tenant, 0 if it has none yet. */
static uint32_t tidx_lookup(const struct bs_tenant_index *tidx, uint32_t id)
{
	uint32_t slot = find_slot(tidx->hash_keys, tidx->hash_size, id);
	return tidx->hash_keys[slot] == id ? tidx->hash_vals[slot] : 0;
}

/* Tenants of a map that tidx does not know yet, with the indices they will
 * get if the build succeeds (tidx->count, tidx->count + 1, ...). */
struct pending {
	uint32_t size;
	uint32_t *keys;
	uint32_t *vals;
	uint32_t n;
	uint32_t *ids;   /* in index order */
};

static void pending_free(struct pending *pd)
{
	free(pd->keys);
	free(pd->vals);
	free(pd->ids);
}

static uint32_t index_of(const struct bs_tenant_index *tidx,
			 const struct pending *pd, uint32_t id)
{
	uint32_t idx = tidx_lookup(tidx, id);
	if (idx != 0)
		return idx;
	uint32_t slot = find_slot(pd->keys, pd->size, id);
	assert(pd->keys[slot] == id);
	return pd->vals[slot];
}

/* Records id as pending if new; -1 when the index space would overflow. */
static int plan_tenant(const struct bs_tenant_index *tidx, struct pending *pd,
		       uint32_t id)
{
	if (tidx_lookup(tidx, id) != 0)
		return 0;
	uint32_t slot = find_slot(pd->keys, pd->size, id);
	if (pd->keys[slot] == id)
		return 0;
	if (tidx->count + pd->n > tidx->limit)
		return -1;
	pd->keys[slot] = id;
	pd->vals[slot] = tidx->count + pd->n;
	pd->ids[pd->n++] = id;
	return 0;
}

static int plan_indices(const struct bs_prefix_map *map,
			const struct bs_tenant_index *tidx, struct pending *pd,
			char *err, size_t err_size)
{
	size_t n = (size_t)map->n_v4 + map->n_v6;
	pd->size = 16;
	while (pd->size < 2 * n)
		pd->size *= 2;
	pd->keys = calloc(pd->size, sizeof(*pd->keys));
	pd->vals = calloc(pd->size, sizeof(*pd->vals));
	pd->ids = calloc(n > 0 ? n : 1, sizeof(*pd->ids));
	if (pd->keys == NULL || pd->vals == NULL || pd->ids == NULL) {
		set_err(err, err_size, "classifier: out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t id = i < map->n_v4 ? map->v4[i].tenant_id :
				map->v6[i - map->n_v4].tenant_id;
		assert(id != 0);
		if (plan_tenant(tidx, pd, id) != 0) {
			set_err(err, err_size, "classifier: map brings more "
				"new tenants than the %u free of %u tenant "
				"indices (max_tenants)",
				tidx->limit + 1 - tidx->count,
				tidx->limit);
			return -1;
		}
	}
	return 0;
}

/* Makes the planned indices visible: ids first, then the count, so a
 * reader that sees an index < count also sees its tenant id. */
static void commit_indices(struct bs_tenant_index *tidx,
			   const struct pending *pd)
{
	for (uint32_t i = 0; i < pd->n; i++) {
		uint32_t idx = tidx->count + i;
		uint32_t id = pd->ids[i];
		uint32_t slot = find_slot(tidx->hash_keys, tidx->hash_size, id);
		assert(tidx->hash_keys[slot] == 0 && idx <= BS_MAX_TENANTS);
		tidx->tenant_id[idx] = id;
		tidx->hash_keys[slot] = id;
		tidx->hash_vals[slot] = (uint16_t)idx;
	}
	__atomic_store_n(&tidx->count, tidx->count + pd->n, __ATOMIC_RELEASE);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* DIR24_8 needs one tbl8 group per /24 that holds a longer prefix. */
static int v4_tbl8_needed(const struct bs_prefix_map *map, uint32_t *needed)
{
	uint32_t *blocks = malloc(((size_t)map->n_v4 + 1) * sizeof(*blocks));
	if (blocks == NULL)
		return -1;
	uint32_t n = 0;
	for (uint32_t i = 0; i < map->n_v4; i++)
		if (map->v4[i].depth > 24)
			blocks[n++] = map->v4[i].addr >> 8;
	qsort(blocks, n, sizeof(*blocks), cmp_u32);
	uint32_t distinct = 0;
	for (uint32_t i = 0; i < n; i++)
		distinct += i == 0 || blocks[i] != blocks[i - 1];
	free(blocks);
	*needed = distinct;
	return 0;
}

/* The trie reserves up to ceil((depth - 24) / 8) tbl8 groups per prefix
 * deeper than 24 bits; the sum bounds what it can ask for. */
static uint64_t v6_tbl8_needed(const struct bs_prefix_map *map)
{
	uint64_t sum = 0;
	for (uint32_t i = 0; i < map->n_v6; i++)
		if (map->v6[i].depth > 24)
			sum += (map->v6[i].depth - 24u + 7u) / 8u;
	return sum;
}

static struct rte_fib *build_fib4(const struct bs_prefix_map *map,
				  const struct bs_tenant_index *tidx,
				  const struct pending *pd, uint32_t max_index,
				  unsigned instance, char *err, size_t err_size)
{
	uint32_t tbl8;
	if (v4_tbl8_needed(map, &tbl8) != 0) {
		set_err(err, err_size, "classifier: out of memory");
		return NULL;
	}
	uint64_t num_tbl8 = (uint64_t)tbl8 + TBL8_MARGIN;
	int wide = max_index > MAX_NH_2B || num_tbl8 > MAX_NH_2B;
	if (num_tbl8 > MAX_NH_4B) {
		set_err(err, err_size, "classifier: IPv4 map needs %llu tbl8 "
			"groups, more than DIR24_8 allows",
			(unsigned long long)num_tbl8);
		return NULL;
	}
	struct rte_fib_conf conf = {
		.type = RTE_FIB_DIR24_8,
		.default_nh = 0,
		.max_routes = (int)map->n_v4 + ROUTE_MARGIN,
		.rib_ext_sz = 0,
		.dir24_8 = {
			.nh_sz = wide ? RTE_FIB_DIR24_8_4B : RTE_FIB_DIR24_8_2B,
			.num_tbl8 = (uint32_t)num_tbl8,
		},
	};
	char name[FIB_NAME_SIZE];
	snprintf(name, sizeof(name), "bs_fib4_%u", instance);
	struct rte_fib *fib = rte_fib_create(name, SOCKET_ID_ANY, &conf);
	if (fib == NULL) {
		set_err(err, err_size, "classifier: rte_fib_create %s (%u "
			"tbl8 groups, %s entries): %s", name,
			conf.dir24_8.num_tbl8, wide ? "4-byte" : "2-byte",
			rte_strerror(rte_errno));
		return NULL;
	}
	for (uint32_t i = 0; i < map->n_v4; i++) {
		const struct bs_prefix_v4 *p = &map->v4[i];
		uint32_t idx = index_of(tidx, pd, p->tenant_id);
		int rc = rte_fib_add(fib, p->addr, p->depth, idx);
		if (rc < 0) {
			set_err(err, err_size, "classifier: rte_fib_add "
				"%u.%u.%u.%u/%u: %s", p->addr >> 24,
				(p->addr >> 16) & 0xff, (p->addr >> 8) & 0xff,
				p->addr & 0xff, p->depth, rte_strerror(-rc));
			rte_fib_free(fib);
			return NULL;
		}
	}
	return fib;
}

static struct rte_fib6 *build_fib6(const struct bs_prefix_map *map,
				   const struct bs_tenant_index *tidx,
				   const struct pending *pd, uint32_t max_index,
				   unsigned instance, char *err, size_t err_size)
{
	uint64_t num_tbl8 = v6_tbl8_needed(map) + TBL8_MARGIN;
	int wide = max_index > MAX_NH_2B || num_tbl8 > MAX_NH_2B;
	if (num_tbl8 > MAX_NH_4B) {
		set_err(err, err_size, "classifier: IPv6 map needs %llu tbl8 "
			"groups, more than the trie allows",
			(unsigned long long)num_tbl8);
		return NULL;
	}
	struct rte_fib6_conf conf = {
		.type = RTE_FIB6_TRIE,
		.default_nh = 0,
		.max_routes = (int)map->n_v6 + ROUTE_MARGIN,
		.rib_ext_sz = 0,
		.trie = {
			.nh_sz = wide ? RTE_FIB6_TRIE_4B : RTE_FIB6_TRIE_2B,
			.num_tbl8 = (uint32_t)num_tbl8,
		},
	};
	char name[FIB_NAME_SIZE];
	snprintf(name, sizeof(name), "bs_fib6_%u", instance);
	struct rte_fib6 *fib = rte_fib6_create(name, SOCKET_ID_ANY, &conf);
	if (fib == NULL) {
		set_err(err, err_size, "classifier: rte_fib6_create %s (%u "
			"tbl8 groups, %s entries): %s", name,
			conf.trie.num_tbl8, wide ? "4-byte" : "2-byte",
			rte_strerror(rte_errno));
		return NULL;
	}
	for (uint32_t i = 0; i < map->n_v6; i++) {
		const struct bs_prefix_v6 *p = &map->v6[i];
		uint32_t idx = index_of(tidx, pd, p->tenant_id);
		int rc = rte_fib6_add(fib, p->addr, p->depth, idx);
		if (rc < 0) {
			set_err(err, err_size, "classifier: rte_fib6_add "
				"(prefix %u of the map, /%u): %s", i + 1,
				p->depth, rte_strerror(-rc));
			rte_fib6_free(fib);
			return NULL;
		}
	}
	return fib;
}

struct bs_classifier *bs_classifier_build(const struct bs_prefix_map *map,
					  struct bs_tenant_index *tidx,
					  unsigned instance,
					  char *err, size_t err_size)
{
	assert(map != NULL && tidx != NULL && tidx->count >= 1);
	struct pending pd = { 0 };
	struct bs_classifier *cls = calloc(1, sizeof(*cls));
	if (cls == NULL) {
		set_err(err, err_size, "classifier: out of memory");
		return NULL;
	}
	if (plan_indices(map, tidx, &pd, err, err_size) != 0)
		goto fail;
	uint32_t max_index = tidx->count - 1 + pd.n;

	/* An empty family gets no table; the lookups answer 0 for it. */
	if (map->n_v4 > 0) {
		cls->fib4 = build_fib4(map, tidx, &pd, max_index, instance,
				       err, err_size);
		if (cls->fib4 == NULL)
			goto fail;
	}
	if (map->n_v6 > 0) {
		cls->fib6 = build_fib6(map, tidx, &pd, max_index, instance,
				       err, err_size);
		if (cls->fib6 == NULL)
			goto fail;
	}
	commit_indices(tidx, &pd);
	pending_free(&pd);
	cls->version = map->version;
	cls->n_v4 = map->n_v4;
	cls->n_v6 = map->n_v6;
	return cls;

fail:
	pending_free(&pd);
	bs_classifier_free(cls);
	return NULL;
}

void bs_classifier_free(struct bs_classifier *cls)
{
	if (cls == NULL)
		return;
	rte_fib_free(cls->fib4);
	rte_fib6_free(cls->fib6);
	free(cls);
}

void bs_classify_v4(const struct bs_classifier *cls, const uint32_t *ips,
		    uint64_t *idx, unsigned n)
{
	if (cls->fib4 == NULL) {
		memset(idx, 0, (size_t)n * sizeof(*idx));
		return;
	}
	/* The lookup only reads ips; DPDK's prototype lacks the const. */
	rte_fib_lookup_bulk(cls->fib4, (uint32_t *)(uintptr_t)ips, idx,
			    (int)n);
}

void bs_classify_v6(const struct bs_classifier *cls, uint8_t (*ips)[16],
		    uint64_t *idx, unsigned n)
{
	if (cls->fib6 == NULL) {
		memset(idx, 0, (size_t)n * sizeof(*idx));
		return;
	}
	rte_fib6_lookup_bulk(cls->fib6, ips, idx, (int)n);
}
