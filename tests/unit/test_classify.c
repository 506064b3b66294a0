/*
 * test_classify.c — the LPM classifier on a real (no-hugepage) EAL: nested
 * IPv4 and IPv6 prefixes, the /0, /32 and /128 edges, unattributed traffic,
 * empty families, deep prefixes that need many tbl8 groups, dense indices
 * that survive a rebuild with another map, and the tenant limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>

#include "classify.h"
#include "prefix_map.h"

static int eal_setup(void **state)
{
	(void)state;
	char *argv[] = { "test", "--no-huge", "--no-pci", "-m", "512",
			 "--no-shconf", "--log-level=error", NULL };
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	return rte_eal_init(argc, argv) < 0 ? -1 : 0;
}

static int eal_teardown(void **state)
{
	(void)state;
	rte_eal_cleanup();
	return 0;
}

static void parse_map(const char *text, struct bs_prefix_map *map)
{
	char err[256] = "";
	if (bs_prefix_map_parse(text, strlen(text), "test", map, err,
				sizeof(err)) != 0)
		fail_msg("%s", err);
}

static struct bs_classifier *build(const struct bs_prefix_map *map,
				   struct bs_tenant_index *tidx,
				   unsigned instance)
{
	char err[256] = "";
	struct bs_classifier *cls = bs_classifier_build(map, tidx, instance,
							err, sizeof(err));
	if (cls == NULL)
		fail_msg("build: %s", err);
	return cls;
}

static uint32_t v4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return ntohl(a.s_addr);
}

/* Tenant id that `addr` classifies to (0 = unattributed). */
static uint32_t tenant_v4(const struct bs_classifier *cls,
			  const struct bs_tenant_index *tidx, const char *addr)
{
	uint32_t ip = v4(addr);
	uint64_t idx = UINT64_MAX;
	bs_classify_v4(cls, &ip, &idx, 1);
	assert_true(idx < tidx->count);
	return tidx->tenant_id[idx];
}

static uint32_t tenant_v6(const struct bs_classifier *cls,
			  const struct bs_tenant_index *tidx, const char *addr)
{
	uint8_t ip[1][16];
	uint64_t idx = UINT64_MAX;
	assert_int_equal(inet_pton(AF_INET6, addr, ip[0]), 1);
	bs_classify_v6(cls, ip, &idx, 1);
	assert_true(idx < tidx->count);
	return tidx->tenant_id[idx];
}

static void test_v4_longest_match(void **state)
{
	(void)state;
	struct bs_tenant_index tidx;
	struct bs_prefix_map map;
	assert_int_equal(bs_tenant_index_init(&tidx), 0);
	parse_map("version 5\n"
		  "10.1.2.128/25 4\n"   /* deeper prefixes before shallower */
		  "10.0.0.0/8 1\n"
		  "10.1.2.130/32 5\n"
		  "10.1.0.0/16 2\n"
		  "10.1.2.0/24 3\n"
		  "255.255.255.255/32 6\n"
		  "0.0.0.0/32 7\n", &map);
	struct bs_classifier *cls = build(&map, &tidx, 1);
	assert_int_equal(cls->version, 5);
	assert_int_equal(cls->n_v4, 7);
	assert_int_equal(cls->n_v6, 0);

	assert_int_equal(tenant_v4(cls, &tidx, "10.2.3.4"), 1);
	assert_int_equal(tenant_v4(cls, &tidx, "10.255.255.255"), 1);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.0.0"), 2);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.255.255"), 2);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.2.0"), 3);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.2.127"), 3);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.2.128"), 4);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.2.129"), 4);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.2.130"), 5);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.2.131"), 4);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.2.255"), 4);
	assert_int_equal(tenant_v4(cls, &tidx, "10.1.3.0"), 2);
	assert_int_equal(tenant_v4(cls, &tidx, "255.255.255.255"), 6);
	assert_int_equal(tenant_v4(cls, &tidx, "255.255.255.254"), 0);
	assert_int_equal(tenant_v4(cls, &tidx, "0.0.0.0"), 7);
	assert_int_equal(tenant_v4(cls, &tidx, "0.0.0.1"), 0);
	assert_int_equal(tenant_v4(cls, &tidx, "11.0.0.0"), 0);
	assert_int_equal(tenant_v4(cls, &tidx, "9.255.255.255"), 0);
	/* No IPv6 table: every IPv6 address is unattributed. */
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8::1"), 0);

	/* Indices are handed out in order of first appearance. */
	assert_int_equal(tidx.count, 8);
	static const uint32_t order[] = { 0, 4, 1, 5, 2, 3, 6, 7 };
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(tidx.tenant_id[i], order[i]);

	/* Bulk: a burst of 64 in one call; n = 0 is harmless. */
	uint32_t ips[64];
	uint64_t idx[64];
	for (unsigned i = 0; i < 64; i++)
		ips[i] = v4("10.1.2.100") + i;   /* .100 .. .163 */
	bs_classify_v4(cls, ips, idx, 64);
	for (unsigned i = 0; i < 64; i++) {
		uint32_t want = i < 28 ? 3 : i == 30 ? 5 : 4;
		assert_int_equal(tidx.tenant_id[idx[i]], want);
	}
	bs_classify_v4(cls, ips, idx, 0);

	bs_classifier_free(cls);
	bs_prefix_map_free(&map);
	bs_tenant_index_free(&tidx);
}

static void test_v4_default_route(void **state)
{
	(void)state;
	struct bs_tenant_index tidx;
	struct bs_prefix_map map;
	assert_int_equal(bs_tenant_index_init(&tidx), 0);
	parse_map("version 1\n0.0.0.0/0 9\n192.168.0.0/16 8\n", &map);
	struct bs_classifier *cls = build(&map, &tidx, 2);
	assert_int_equal(tenant_v4(cls, &tidx, "0.0.0.0"), 9);
	assert_int_equal(tenant_v4(cls, &tidx, "8.8.8.8"), 9);
	assert_int_equal(tenant_v4(cls, &tidx, "255.255.255.255"), 9);
	assert_int_equal(tenant_v4(cls, &tidx, "192.168.7.7"), 8);
	bs_classifier_free(cls);
	bs_prefix_map_free(&map);
	bs_tenant_index_free(&tidx);
}

static void test_v6_longest_match(void **state)
{
	(void)state;
	struct bs_tenant_index tidx;
	struct bs_prefix_map map;
	assert_int_equal(bs_tenant_index_init(&tidx), 0);
	parse_map("version 1\n"
		  "2001:db8:1:2::1/128 4\n"
		  "2001:db8::/32 1\n"
		  "2001:db8:1::/48 2\n"
		  "2001:db8:1:2::/64 3\n"
		  "2001:db8:1:2::/127 5\n"
		  "2001:db8:8000::/33 6\n"
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128 7\n", &map);
	struct bs_classifier *cls = build(&map, &tidx, 3);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8::"), 1);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8:7fff::1"), 1);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8:8000::1"), 6);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8:1:ffff::"), 2);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8:1:2:ffff::"), 3);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8:1:2::"), 5);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8:1:2::1"), 4);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8:1:2::2"), 3);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db9::"), 0);
	assert_int_equal(tenant_v6(cls, &tidx, "::"), 0);
	assert_int_equal(
		tenant_v6(cls, &tidx, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
		7);
	assert_int_equal(
		tenant_v6(cls, &tidx, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"),
		0);
	/* No IPv4 table: every IPv4 address is unattributed. */
	assert_int_equal(tenant_v4(cls, &tidx, "10.0.0.1"), 0);
	bs_classifier_free(cls);
	bs_prefix_map_free(&map);

	parse_map("version 2\n::/0 11\n2001:db8::/32 12\n", &map);
	cls = build(&map, &tidx, 4);
	assert_int_equal(tenant_v6(cls, &tidx, "::"), 11);
	assert_int_equal(tenant_v6(cls, &tidx, "fe80::1"), 11);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8:ffff::"), 12);
	bs_classifier_free(cls);
	bs_prefix_map_free(&map);
	bs_tenant_index_free(&tidx);
}

static void test_empty_map(void **state)
{
	(void)state;
	struct bs_tenant_index tidx;
	struct bs_prefix_map map;
	assert_int_equal(bs_tenant_index_init(&tidx), 0);
	parse_map("version 1\n", &map);
	struct bs_classifier *cls = build(&map, &tidx, 5);
	assert_int_equal(tenant_v4(cls, &tidx, "1.2.3.4"), 0);
	assert_int_equal(tenant_v6(cls, &tidx, "::1"), 0);
	assert_int_equal(tidx.count, 1);
	bs_classifier_free(cls);
	bs_prefix_map_free(&map);
	bs_tenant_index_free(&tidx);
}

static void test_indices_stable_across_builds(void **state)
{
	(void)state;
	struct bs_tenant_index tidx;
	struct bs_prefix_map a, b;
	assert_int_equal(bs_tenant_index_init(&tidx), 0);
	parse_map("version 1\n10.0.0.0/8 100\n11.0.0.0/8 200\n"
		  "2001:db8::/32 300\n", &a);
	parse_map("version 2\n2001:db8::/32 400\n12.0.0.0/8 300\n"
		  "11.0.0.0/8 100\n10.0.0.0/8 500\n", &b);
	struct bs_classifier *ca = build(&a, &tidx, 10);
	assert_int_equal(tidx.count, 4);
	uint64_t idx_100, idx_300, idx_400;
	uint32_t ip = v4("10.9.9.9");
	bs_classify_v4(ca, &ip, &idx_100, 1);
	assert_int_equal(idx_100, 1);
	uint8_t ip6[1][16];
	inet_pton(AF_INET6, "2001:db8::5", ip6[0]);
	bs_classify_v6(ca, ip6, &idx_300, 1);
	assert_int_equal(idx_300, 3);

	/* The reload builds beside the classifier in use. */
	struct bs_classifier *cb = build(&b, &tidx, 11);
	assert_int_equal(tidx.count, 6);
	uint64_t got;
	ip = v4("11.1.1.1");
	bs_classify_v4(cb, &ip, &got, 1);
	assert_int_equal(got, idx_100);           /* 100 kept index 1 */
	ip = v4("12.1.1.1");
	bs_classify_v4(cb, &ip, &got, 1);
	assert_int_equal(got, idx_300);           /* 300 kept index 3 */
	/* New tenants go after, IPv4 prefixes' tenants first. */
	bs_classify_v6(cb, ip6, &idx_400, 1);
	assert_int_equal(idx_400, 5);
	assert_int_equal(tidx.tenant_id[4], 500);
	assert_int_equal(tidx.tenant_id[5], 400);
	/* The old classifier still answers as before. */
	ip = v4("11.1.1.1");
	bs_classify_v4(ca, &ip, &got, 1);
	assert_int_equal(tidx.tenant_id[got], 200);

	bs_classifier_free(ca);
	bs_classifier_free(cb);
	bs_prefix_map_free(&a);
	bs_prefix_map_free(&b);
	bs_tenant_index_free(&tidx);
}

/* A map of n IPv4 /24s (10.0.0.0/24 upward), tenant first_tenant + i. */
static void make_v4_map(struct bs_prefix_map *map, uint32_t n,
			uint32_t first_tenant)
{
	memset(map, 0, sizeof(*map));
	map->version = 1;
	map->n_v4 = n;
	map->v4 = calloc(n, sizeof(*map->v4));
	assert_non_null(map->v4);
	for (uint32_t i = 0; i < n; i++) {
		map->v4[i].addr = 0x0a000000u + (i << 8);
		map->v4[i].depth = 24;
		map->v4[i].tenant_id = first_tenant + i;
	}
	map->n_tenants = n;
}

static void test_tenant_limit(void **state)
{
	(void)state;
	struct bs_tenant_index tidx;
	struct bs_prefix_map full, one_more, known;
	char err[256] = "";
	assert_int_equal(bs_tenant_index_init(&tidx), 0);

	/* One tenant too many for a fresh index: refused, nothing taken. */
	make_v4_map(&one_more, BS_MAX_TENANTS + 1, 1);
	assert_null(bs_classifier_build(&one_more, &tidx, 20, err,
					sizeof(err)));
	assert_non_null(strstr(err, "tenant indices (max_tenants)"));
	assert_int_equal(tidx.count, 1);
	bs_prefix_map_free(&one_more);

	/* Exactly the limit fits, beyond the 2-byte next-hop range. */
	make_v4_map(&full, BS_MAX_TENANTS, 1000);
	struct bs_classifier *cls = build(&full, &tidx, 21);
	assert_int_equal(tidx.count, BS_MAX_TENANTS + 1);
	static const uint32_t probes[] = { 0, 1, 32766, 32767, 32768, 40000,
					   BS_MAX_TENANTS - 1 };
	for (unsigned i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint32_t ip = 0x0a000000u + (probes[i] << 8) + 77;
		uint64_t idx;
		bs_classify_v4(cls, &ip, &idx, 1);
		assert_int_equal(idx, probes[i] + 1);
		assert_int_equal(tidx.tenant_id[idx], 1000 + probes[i]);
	}
	bs_classifier_free(cls);

	/* Full: one new tenant is refused and changes nothing. */
	make_v4_map(&one_more, 2, 1000 + BS_MAX_TENANTS - 1);
	err[0] = '\0';
	assert_null(bs_classifier_build(&one_more, &tidx, 22, err,
					sizeof(err)));
	assert_string_not_equal(err, "");
	assert_int_equal(tidx.count, BS_MAX_TENANTS + 1);
	bs_prefix_map_free(&one_more);

	/* Known tenants still build. */
	make_v4_map(&known, 10, 5000);
	cls = build(&known, &tidx, 23);
	uint32_t ip = 0x0a000000u + (3u << 8);
	uint64_t idx;
	bs_classify_v4(cls, &ip, &idx, 1);
	assert_int_equal(tidx.tenant_id[idx], 5003);
	assert_int_equal(idx, 5003 - 1000 + 1);
	bs_classifier_free(cls);
	bs_prefix_map_free(&known);
	bs_prefix_map_free(&full);
	bs_tenant_index_free(&tidx);
}

static void test_failed_build_changes_nothing(void **state)
{
	(void)state;
	struct bs_tenant_index tidx;
	struct bs_prefix_map a, b;
	char err[256] = "";
	assert_int_equal(bs_tenant_index_init(&tidx), 0);
	parse_map("version 1\n10.0.0.0/8 1\n", &a);
	parse_map("version 2\n10.0.0.0/8 1\n11.0.0.0/8 2\n::/0 3\n", &b);
	struct bs_classifier *ca = build(&a, &tidx, 30);
	/* The same instance while the first is alive: DPDK refuses the
	 * name, so the build fails and the new tenants get no index. */
	assert_null(bs_classifier_build(&b, &tidx, 30, err, sizeof(err)));
	assert_non_null(strstr(err, "bs_fib4_30"));
	assert_int_equal(tidx.count, 2);
	bs_classifier_free(ca);
	/* With the name free again the build succeeds. */
	struct bs_classifier *cb = build(&b, &tidx, 30);
	assert_int_equal(tidx.count, 4);
	assert_int_equal(tenant_v6(cb, &tidx, "::1"), 3);
	bs_classifier_free(cb);
	bs_prefix_map_free(&a);
	bs_prefix_map_free(&b);
	bs_tenant_index_free(&tidx);
}

/* Many prefixes deeper than /24 (each in its own /24, or IPv6 /128s)
 * need tbl8 groups; more than 32767 forces the wide entries. */
static void test_deep_prefixes(void **state)
{
	(void)state;
	struct bs_tenant_index tidx;
	struct bs_prefix_map map = { .version = 1 };
	assert_int_equal(bs_tenant_index_init(&tidx), 0);

	map.n_v4 = 40000;
	map.n_v6 = 3000;
	map.v4 = calloc(map.n_v4, sizeof(*map.v4));
	map.v6 = calloc(map.n_v6, sizeof(*map.v6));
	assert_non_null(map.v4);
	assert_non_null(map.v6);
	for (uint32_t i = 0; i < map.n_v4; i++) {
		map.v4[i].addr = 0x14000000u + (i << 8) + 16;
		map.v4[i].depth = 28 + (uint8_t)(i % 5);
		map.v4[i].addr &= UINT32_MAX << (32 - map.v4[i].depth);
		map.v4[i].tenant_id = 1 + i % 7;
	}
	for (uint32_t i = 0; i < map.n_v6; i++) {
		map.v6[i].addr[0] = 0x20;
		map.v6[i].addr[1] = 0x01;
		map.v6[i].addr[4] = (uint8_t)(i >> 8);
		map.v6[i].addr[5] = (uint8_t)i;
		map.v6[i].addr[15] = 1;
		map.v6[i].depth = 128;
		map.v6[i].tenant_id = 100 + i % 3;
	}
	struct bs_classifier *cls = build(&map, &tidx, 40);
	for (uint32_t i = 0; i < map.n_v4; i += 997) {
		uint32_t ip = 0x14000000u + (i << 8) + 16;
		uint64_t idx;
		bs_classify_v4(cls, &ip, &idx, 1);
		assert_int_equal(tidx.tenant_id[idx], 1 + i % 7);
		ip = 0x14000000u + (i << 8) + 200;   /* outside the prefix */
		bs_classify_v4(cls, &ip, &idx, 1);
		assert_int_equal(idx, 0);
	}
	for (uint32_t i = 0; i < map.n_v6; i += 101) {
		uint8_t ip[2][16];
		uint64_t idx[2];
		memcpy(ip[0], map.v6[i].addr, 16);
		memcpy(ip[1], map.v6[i].addr, 16);
		ip[1][15] = 2;
		bs_classify_v6(cls, ip, idx, 2);
		assert_int_equal(tidx.tenant_id[idx[0]], 100 + i % 3);
		assert_int_equal(idx[1], 0);
	}
	bs_classifier_free(cls);
	bs_prefix_map_free(&map);
	bs_tenant_index_free(&tidx);
}

/* A large park's map builds and classifies (bench/map_bench times the
 * build). */
static void test_build_100k(void **state)
{
	(void)state;
	struct bs_tenant_index tidx;
	struct bs_prefix_map map;
	assert_int_equal(bs_tenant_index_init(&tidx), 0);
	/* 90,000 IPv4 (/24s and some /28s) and 10,000 IPv6 /48s over 5,000
	 * tenants: a large park. */
	size_t cap = 100000 * 48, off = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	off += (size_t)snprintf(text, cap, "version 1\n");
	for (uint32_t i = 0; i < 90000; i++) {
		if (i % 10 == 9)
			off += (size_t)snprintf(text + off, cap - off,
				"100.%u.%u.16/28 %u\n", (i / 10) >> 8,
				(i / 10) & 0xff, i % 5000 + 1);
		else
			off += (size_t)snprintf(text + off, cap - off,
				"%u.%u.%u.0/24 %u\n", 30 + (i >> 16),
				(i >> 8) & 0xff, i & 0xff, i % 5000 + 1);
	}
	for (uint32_t i = 0; i < 10000; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"2001:db8:%x::/48 %u\n", i,
					i % 5000 + 1);
	char err[256];
	assert_int_equal(bs_prefix_map_parse(text, off, "big", &map, err,
					     sizeof(err)), 0);
	free(text);
	struct bs_classifier *cls = build(&map, &tidx, 50);
	assert_int_equal(tidx.count, 5001);
	assert_int_equal(tenant_v4(cls, &tidx, "30.0.5.1"), 6);
	assert_int_equal(tenant_v6(cls, &tidx, "2001:db8:2a::1"), 43);
	bs_classifier_free(cls);
	bs_prefix_map_free(&map);
	bs_tenant_index_free(&tidx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_longest_match),
		cmocka_unit_test(test_v4_default_route),
		cmocka_unit_test(test_v6_longest_match),
		cmocka_unit_test(test_empty_map),
		cmocka_unit_test(test_indices_stable_across_builds),
		cmocka_unit_test(test_tenant_limit),
		cmocka_unit_test(test_failed_build_changes_nothing),
		cmocka_unit_test(test_deep_prefixes),
		cmocka_unit_test(test_build_100k),
	};
	return cmocka_run_group_tests(tests, eal_setup, eal_teardown);
}
