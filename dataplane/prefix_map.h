/*
 * prefix_map.h — the tenant prefix-map file: which addresses belong to which
 * tenant. Pure parsing and validation (no DPDK); classify.h turns the result
 * into lookup tables.
 *
 * Format (documented in config/prefixes.map): UTF-8 text, one item a line,
 * '#' starts a comment, blank lines ignored.
 *     version <N>                   required, once, before any prefix; N ≥ 1
 *     <prefix>/<len> <tenant_id>    IPv4 or IPv6, tenant_id 1..4294967295
 * Refused, with "file:line: message": syntax errors, host bits set below the
 * prefix length, a prefix listed twice, tenant 0, more than the limits.
 */
#ifndef BS_PREFIX_MAP_H
#define BS_PREFIX_MAP_H

#include <stddef.h>
#include <stdint.h>

#define BS_MAP_MAX_V4        (1u << 20)   /* IPv4 prefixes per map */
#define BS_MAP_MAX_V6        (1u << 18)   /* IPv6 prefixes per map */
#define BS_MAP_MAX_LINE      512          /* bytes per line */
#define BS_MAP_MAX_FILE_SIZE (256u << 20) /* bytes */

struct bs_prefix_v4 {
	uint32_t addr;       /* host byte order, host bits zero */
	uint8_t depth;       /* 0..32 */
	uint32_t tenant_id;
};

struct bs_prefix_v6 {
	uint8_t addr[16];    /* network byte order, host bits zero */
	uint8_t depth;       /* 0..128 */
	uint32_t tenant_id;
};

struct bs_prefix_map {
	uint64_t version;
	uint32_t n_v4, n_v6;
	struct bs_prefix_v4 *v4;    /* malloc'd, in file order */
	struct bs_prefix_v6 *v6;
	uint32_t n_tenants;         /* distinct tenant ids */
};

/* Parses text (not NUL-terminated necessarily) named `name` for errors.
 * Returns 0, or -1 with err = "name:line: message". On failure *map is
 * left empty (nothing to free). */
int bs_prefix_map_parse(const char *text, size_t len, const char *name,
			struct bs_prefix_map *map, char *err, size_t err_size);

/* Reads and parses a file (size limit BS_MAP_MAX_FILE_SIZE). */
int bs_prefix_map_load(const char *path, struct bs_prefix_map *map,
		       char *err, size_t err_size);

void bs_prefix_map_free(struct bs_prefix_map *map);

#endif
