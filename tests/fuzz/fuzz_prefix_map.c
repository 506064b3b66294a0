/*
 * fuzz_prefix_map.c — libFuzzer target: the prefix-map format
 * (common/prefix_map.c) on arbitrary text. Beyond memory safety it checks
 * the parser's promises: on failure the map is empty and the error is a
 * "name:line: message" string; on success the counts are within the
 * limits and every prefix has its host bits clear; and the writer's: an
 * accepted map written by bs_prefix_map_write parses back to the same
 * version and prefixes, in order.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefix_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int v6_host_bits_clear(const struct bs_prefix_v6 *p)
{
	for (unsigned bit = p->depth; bit < 128; bit++)
		if (p->addr[bit / 8] & (0x80u >> (bit % 8)))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	char *text = malloc(size ? size : 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	struct bs_prefix_map map;
	char err[256];
	err[0] = '\0';
	if (bs_prefix_map_parse(text, size, "fuzz", &map, err, sizeof(err)) != 0) {
		if (map.v4 != NULL || map.v6 != NULL || map.n_v4 || map.n_v6 ||
		    strncmp(err, "fuzz:", 5) != 0 || strlen(err) >= sizeof(err))
			abort();
		free(text);
		return 0;
	}
	if (map.n_v4 > BS_MAP_MAX_V4 || map.n_v6 > BS_MAP_MAX_V6 ||
	    map.n_tenants > map.n_v4 + map.n_v6)
		abort();
	for (uint32_t i = 0; i < map.n_v4; i++) {
		const struct bs_prefix_v4 *p = &map.v4[i];
		if (p->depth > 32)
			abort();
		uint32_t host = p->depth == 0 ? UINT32_MAX
			      : p->depth == 32 ? 0 : UINT32_MAX >> p->depth;
		if (p->addr & host)
			abort();
	}
	for (uint32_t i = 0; i < map.n_v6; i++)
		if (map.v6[i].depth > 128 || !v6_host_bits_clear(&map.v6[i]))
			abort();

	char *out = NULL;
	size_t out_len = 0;
	FILE *f = open_memstream(&out, &out_len);
	if (f == NULL)
		abort();
	bs_prefix_map_write(f, &map, "fuzz\nround trip");
	if (fclose(f) != 0)
		abort();
	struct bs_prefix_map back;
	if (bs_prefix_map_parse(out, out_len, "written", &back, err, sizeof(err)) != 0)
		abort();   /* the writer wrote what the parser refuses */
	if (back.version != map.version || back.n_v4 != map.n_v4 ||
	    back.n_v6 != map.n_v6 || back.n_tenants != map.n_tenants)
		abort();
	for (uint32_t i = 0; i < map.n_v4; i++)
		if (back.v4[i].addr != map.v4[i].addr ||
		    back.v4[i].depth != map.v4[i].depth ||
		    back.v4[i].tenant_id != map.v4[i].tenant_id)
			abort();
	for (uint32_t i = 0; i < map.n_v6; i++)
		if (memcmp(back.v6[i].addr, map.v6[i].addr, 16) != 0 ||
		    back.v6[i].depth != map.v6[i].depth ||
		    back.v6[i].tenant_id != map.v6[i].tenant_id)
			abort();
	bs_prefix_map_free(&back);
	free(out);
	bs_prefix_map_free(&map);
	free(text);
	return 0;
}
