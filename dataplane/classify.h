/*
 * classify.h — address → dense tenant index, by longest-prefix match in
 * DPDK's rte_fib (IPv4, DIR24_8) and rte_fib6 (IPv6, trie) tables.
 *
 * Dense indices are handed out by a bs_tenant_index that lives as long as
 * the process and only grows, so an index counted before a map reload still
 * names the same tenant after it. Index 0 is "unattributed" (tenant 0): the
 * tables' default next hop. A classifier is built once per map (beside the
 * one in use) and is read-only afterwards, so workers share it without locks.
 */
#ifndef BS_CLASSIFY_H
#define BS_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "prefix_map.h"

#define BS_MAX_TENANTS 65535u  /* dense indices 1..BS_MAX_TENANTS */

struct rte_fib;
struct rte_fib6;

struct bs_tenant_index {
	uint32_t count;          /* indices in use, including 0 */
	uint32_t limit;          /* highest index allowed (≤ BS_MAX_TENANTS) */
	uint32_t *tenant_id;     /* [BS_MAX_TENANTS + 1]: index → tenant id */
	/* open-addressing hash tenant id → index, private to classify.c */
	uint32_t hash_size;
	uint32_t *hash_keys;
	uint16_t *hash_vals;
};

struct bs_classifier {
	struct rte_fib *fib4;
	struct rte_fib6 *fib6;
	uint64_t version;        /* the map's version */
	uint32_t n_v4, n_v6;
};

int bs_tenant_index_init(struct bs_tenant_index *tidx);
void bs_tenant_index_free(struct bs_tenant_index *tidx);

/* Builds lookup tables for map, assigning dense indices in tidx to new
 * tenants (fails, changing nothing visible, if that would exceed
 * BS_MAX_TENANTS). `instance` makes the DPDK object names unique. Needs an
 * initialised EAL. Returns NULL with err set on failure. */
struct bs_classifier *bs_classifier_build(const struct bs_prefix_map *map,
					  struct bs_tenant_index *tidx,
					  unsigned instance,
					  char *err, size_t err_size);
void bs_classifier_free(struct bs_classifier *cls);

/* Bulk lookups: idx[i] = dense tenant index for ips[i] (0 if no match).
 * IPv4 addresses in host byte order; IPv6 as 16 network-order bytes. */
void bs_classify_v4(const struct bs_classifier *cls, const uint32_t *ips,
		    uint64_t *idx, unsigned n);
void bs_classify_v6(const struct bs_classifier *cls, uint8_t (*ips)[16],
		    uint64_t *idx, unsigned n);

#endif
