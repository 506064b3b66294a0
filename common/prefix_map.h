/*
 * prefix_map.h — the tenant prefix-map file: which addresses belong to which
 * tenant. The one definition of the format shared by everything that reads
 * or writes it (the meter, `bandsplit prefixes export`, bandsplit-gen,
 * meter_bench): its limits, its parser and validation, and its writer. No
 * DPDK here; the meter's classify.h turns a parsed map into lookup tables.
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
#include <stdio.h>

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
	uint32_t *line_v4, *line_v6; /* file line of each prefix (parsed maps
				      * only; NULL in a map built by hand) */
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

/* The writer. Every map file is written through these, so what one program
 * writes the parser reads back unchanged. Write errors stay in the FILE for
 * the caller's fflush/ferror/fclose.
 *
 * The head: `comment` (may be NULL or hold several '\n'-separated lines)
 * as "# " lines, then "version N". */
void bs_prefix_map_write_head(FILE *f, const char *comment, uint64_t version);

/* One "<prefix>/<len> <tenant_id>" line. */
void bs_prefix_map_write_v4(FILE *f, uint32_t addr, uint8_t depth,
			    uint32_t tenant_id);
void bs_prefix_map_write_v6(FILE *f, const uint8_t addr[16], uint8_t depth,
			    uint32_t tenant_id);

/* A prefix given as text ("10.0.0.0/8", "2001:db8::/32"), checked as the
 * parser checks it and written in the canonical form. Returns 0, or -1 with
 * err set (nothing written). */
int bs_prefix_map_write_text(FILE *f, const char *prefix, uint32_t tenant_id,
			     char *err, size_t err_size);

/* A whole map: the head, then the IPv4 and the IPv6 prefixes in order. */
void bs_prefix_map_write(FILE *f, const struct bs_prefix_map *map,
			 const char *comment);

#endif
