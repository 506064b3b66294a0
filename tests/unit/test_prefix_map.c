/*
 * test_prefix_map.c — the prefix-map parser: a good map in all its
 * syntactic variety, every refusal with its exact "file:line: message",
 * the prefix limits and file loading of large maps (their timing is
 * bench/map_bench's).
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
#include <unistd.h>

#include "prefix_map.h"

static int parse_str(const char *text, struct bs_prefix_map *map, char *err,
		     size_t err_size)
{
	return bs_prefix_map_parse(text, strlen(text), "map.txt", map, err,
				   err_size);
}

static void expect_error(const char *text, const char *message)
{
	struct bs_prefix_map map;
	char err[512] = "";

	assert_int_equal(parse_str(text, &map, err, sizeof(err)), -1);
	assert_string_equal(err, message);
	/* Nothing to free after a failure. */
	assert_null(map.v4);
	assert_null(map.v6);
	assert_int_equal(map.n_v4, 0);
	assert_int_equal(map.n_v6, 0);
}

static void test_good_map(void **state)
{
	(void)state;
	static const char text[] =
		"# a comment line\n"
		"\n"
		"   version   42   # trailing comment\n"
		"10.0.0.0/8 1\n"
		"10.1.0.0/16\t2\r\n"
		"\t192.168.1.77/32   3 # one host\n"
		"0.0.0.0/0 4294967295\n"
		"2001:db8::/32 2\n"
		"2001:DB8:0:1::/64 5\n"
		"::/0 6\n"
		"2001:db8::1/128 1\n"
		"   \t  \n"
		"172.16.0.0/12 1";   /* no final newline */
	struct bs_prefix_map map;
	char err[256] = "";

	assert_int_equal(parse_str(text, &map, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(map.version, 42);
	assert_int_equal(map.n_v4, 5);
	assert_int_equal(map.n_v6, 4);
	assert_int_equal(map.n_tenants, 6);

	/* File order, host byte order. */
	assert_int_equal(map.v4[0].addr, 0x0a000000);
	assert_int_equal(map.v4[0].depth, 8);
	assert_int_equal(map.v4[0].tenant_id, 1);
	assert_int_equal(map.v4[1].addr, 0x0a010000);
	assert_int_equal(map.v4[1].tenant_id, 2);
	assert_int_equal(map.v4[2].addr, 0xc0a8014d);
	assert_int_equal(map.v4[2].depth, 32);
	assert_int_equal(map.v4[3].addr, 0);
	assert_int_equal(map.v4[3].depth, 0);
	assert_int_equal(map.v4[3].tenant_id, 4294967295u);
	assert_int_equal(map.v4[4].addr, 0xac100000);
	assert_int_equal(map.v4[4].depth, 12);

	static const uint8_t a1[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1 };
	static const uint8_t a3[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t zero[16] = { 0 };
	assert_int_equal(map.v6[0].depth, 32);
	assert_memory_equal(map.v6[1].addr, a1, 16);
	assert_int_equal(map.v6[1].depth, 64);
	assert_int_equal(map.v6[1].tenant_id, 5);
	assert_memory_equal(map.v6[2].addr, zero, 16);
	assert_int_equal(map.v6[2].depth, 0);
	assert_memory_equal(map.v6[3].addr, a3, 16);
	assert_int_equal(map.v6[3].depth, 128);

	bs_prefix_map_free(&map);
	assert_null(map.v4);
	assert_int_equal(map.n_v4, 0);
}

static void test_version_only_and_crlf(void **state)
{
	(void)state;
	struct bs_prefix_map map;
	char err[256];

	assert_int_equal(parse_str("version 18446744073709551615\r\n", &map,
				   err, sizeof(err)), 0);
	assert_int_equal(map.version, UINT64_MAX);
	assert_int_equal(map.n_v4 + map.n_v6, 0);
	assert_int_equal(map.n_tenants, 0);
	bs_prefix_map_free(&map);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error("version 1\n10.1.2.0/16 5\n",
		     "map.txt:2: host bits set in 10.1.2.0/16 "
		     "(did you mean 10.1.0.0/16?)");
	expect_error("version 1\n\n0.0.0.1/0 5\n",
		     "map.txt:3: host bits set in 0.0.0.1/0 "
		     "(did you mean 0.0.0.0/0?)");
	expect_error("version 1\n2001:db8::1/64 5\n",
		     "map.txt:2: host bits set in 2001:db8::1/64 "
		     "(did you mean 2001:db8::/64?)");
	expect_error("version 1\n2001:db8:ffff::/33 5\n",
		     "map.txt:2: host bits set in 2001:db8:ffff::/33 "
		     "(did you mean 2001:db8:8000::/33?)");
	expect_error("version 1\n10.0.0.0/8 0\n",
		     "map.txt:2: tenant id 0 is reserved for unattributed "
		     "traffic");
	expect_error("10.0.0.0/8 1\nversion 1\n",
		     "map.txt:1: missing 'version N' before the first prefix");
	expect_error("# only a comment\n\n",
		     "map.txt:1: missing 'version N' (the map has none)");
	expect_error("",
		     "map.txt:1: missing 'version N' (the map has none)");
	expect_error("version 1\n# x\nversion 2\n",
		     "map.txt:3: version given twice (first at line 1)");
	expect_error("version 0\n",
		     "map.txt:1: bad version '0' (expected an integer >= 1)");
	expect_error("version 18446744073709551616\n",
		     "map.txt:1: bad version '18446744073709551616' "
		     "(expected an integer >= 1)");
	expect_error("version\n", "map.txt:1: 'version' needs a number");
	expect_error("version 1 2\n",
		     "map.txt:1: trailing garbage '2' after the version");
	expect_error("version 1\n10.0.0.0/8 1 extra\n",
		     "map.txt:2: trailing garbage 'extra' after the tenant id");
	expect_error("version 1\n10.0.0.0/8\n",
		     "map.txt:2: missing tenant id after 10.0.0.0/8");
	expect_error("version 1\n10.0.0.0/8 4294967296\n",
		     "map.txt:2: bad tenant id '4294967296' "
		     "(expected 1..4294967295)");
	expect_error("version 1\n10.0.0.0/8 -1\n",
		     "map.txt:2: bad tenant id '-1' (expected 1..4294967295)");
	expect_error("version 1\n10.0.0.0/8 12a\n",
		     "map.txt:2: bad tenant id '12a' (expected 1..4294967295)");
	expect_error("version 1\n300.0.0.0/8 1\n",
		     "map.txt:2: bad IPv4 address '300.0.0.0' in 300.0.0.0/8");
	expect_error("version 1\n10.0.0/8 1\n",
		     "map.txt:2: bad IPv4 address '10.0.0' in 10.0.0/8");
	expect_error("version 1\n2001:db8:::/32 1\n",
		     "map.txt:2: bad IPv6 address '2001:db8:::' in "
		     "2001:db8:::/32");
	expect_error("version 1\n10.0.0.0/33 1\n",
		     "map.txt:2: prefix length 33 out of range for IPv4 "
		     "(0..32) in 10.0.0.0/33");
	expect_error("version 1\n::/129 1\n",
		     "map.txt:2: prefix length 129 out of range for IPv6 "
		     "(0..128) in ::/129");
	expect_error("version 1\n10.0.0.0/ 1\n",
		     "map.txt:2: bad prefix length '' in 10.0.0.0/");
	expect_error("version 1\n10.0.0.0/+8 1\n",
		     "map.txt:2: bad prefix length '+8' in 10.0.0.0/+8");
	expect_error("version 1\n10.0.0.0/99999 1\n",
		     "map.txt:2: bad prefix length '99999' in 10.0.0.0/99999");
	expect_error("version 1\n10.0.0.0 1\n",
		     "map.txt:2: expected 'version N' or '<prefix>/<len> "
		     "<tenant>', got '10.0.0.0'");
	expect_error("versions 1\n",
		     "map.txt:1: expected 'version N' or '<prefix>/<len> "
		     "<tenant>', got 'versions'");
}

static void test_nul_and_long_lines(void **state)
{
	(void)state;
	struct bs_prefix_map map;
	char err[256];

	static const char with_nul[] = "version 1\n10.0.0.0/8 1\0 2\n";
	assert_int_equal(bs_prefix_map_parse(with_nul, sizeof(with_nul) - 1,
					     "m", &map, err, sizeof(err)), -1);
	assert_string_equal(err, "m:2: NUL byte in line");

	/* Exactly BS_MAP_MAX_LINE bytes (padded with a comment) is fine;
	 * one more is refused. */
	char text[2 * BS_MAP_MAX_LINE];
	int n = snprintf(text, sizeof(text), "version 1\n10.0.0.0/8 1 #");
	memset(text + n, 'x', BS_MAP_MAX_LINE - (size_t)(n - 10));
	text[10 + BS_MAP_MAX_LINE] = '\n';
	text[11 + BS_MAP_MAX_LINE] = '\0';
	assert_int_equal(parse_str(text, &map, err, sizeof(err)), 0);
	assert_int_equal(map.n_v4, 1);
	bs_prefix_map_free(&map);

	text[10 + BS_MAP_MAX_LINE] = 'x';
	text[11 + BS_MAP_MAX_LINE] = '\n';
	text[12 + BS_MAP_MAX_LINE] = '\0';
	char want[128];
	snprintf(want, sizeof(want), "map.txt:2: line too long (%u bytes, "
		 "limit %u)", BS_MAP_MAX_LINE + 1, BS_MAP_MAX_LINE);
	expect_error(text, want);

	/* A short error buffer gets a truncated, terminated message. */
	char small[12];
	assert_int_equal(parse_str("version 0\n", &map, small, sizeof(small)),
			 -1);
	assert_string_equal(small, "map.txt:1: ");
}

static void test_duplicates(void **state)
{
	(void)state;
	/* Same prefix, different tenants, lines 3 and 9: refused, named by
	 * both lines. A later duplicate (line 10) is not the one reported. */
	expect_error("version 1\n"
		     "10.0.0.0/8 1\n"
		     "10.1.0.0/16 2\n"
		     "10.1.0.0/17 2\n"
		     "10.2.0.0/16 2\n"
		     "10.0.0.0/9 2\n"
		     "# comment\n"
		     "192.168.0.0/16 2\n"
		     "10.1.0.0/16 3\n"
		     "10.0.0.0/8 1\n",
		     "map.txt:9: 10.1.0.0/16 listed twice (first at line 3)");
	/* Three copies: the second copy is reported against the first. */
	expect_error("version 1\n1.0.0.0/8 1\n\n1.0.0.0/8 1\n1.0.0.0/8 1\n",
		     "map.txt:4: 1.0.0.0/8 listed twice (first at line 2)");
	/* IPv6, spelled differently; reported in canonical form. */
	expect_error("version 1\n"
		     "2001:db8::/32 1\n"
		     "2001:db8:1::/48 1\n"
		     "2001:0DB8:0000::/32 7\n",
		     "map.txt:4: 2001:db8::/32 listed twice (first at line 2)");
	/* Same address, different lengths is not a duplicate. */
	struct bs_prefix_map map;
	char err[256];
	assert_int_equal(parse_str("version 1\n10.0.0.0/8 1\n10.0.0.0/16 1\n"
				   "::/0 1\n::/1 1\n", &map, err, sizeof(err)),
			 0);
	assert_int_equal(map.n_tenants, 1);
	bs_prefix_map_free(&map);
}

/* A map of n distinct IPv4 /24s (or IPv6 /64s) after a version line. */
static char *make_map(uint32_t n, int v6, size_t *len)
{
	size_t cap = 16 + (size_t)n * 48;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t off = (size_t)snprintf(text, cap, "version 7\n");
	for (uint32_t i = 0; i < n; i++) {
		int w;
		if (v6)
			w = snprintf(text + off, cap - off,
				     "2001:db8:%x:%x::/64 %u\n", i >> 16,
				     i & 0xffff, i % 5000 + 1);
		else
			w = snprintf(text + off, cap - off,
				     "%u.%u.%u.0/24 %u\n", i >> 16,
				     (i >> 8) & 0xff, i & 0xff, i % 5000 + 1);
		off += (size_t)w;
	}
	*len = off;
	return text;
}

static void test_limits_and_big_maps(void **state)
{
	(void)state;
	struct bs_prefix_map map;
	char err[256];
	size_t len;

	/* Exactly the IPv4 limit loads (its parse time is measured by
	 * bench/map_bench, not here). */
	char *text = make_map(BS_MAP_MAX_V4, 0, &len);
	assert_int_equal(bs_prefix_map_parse(text, len, "big", &map, err,
					     sizeof(err)), 0);
	assert_int_equal(map.n_v4, BS_MAP_MAX_V4);
	assert_int_equal(map.n_tenants, 5000);
	assert_int_equal(map.v4[BS_MAP_MAX_V4 - 1].addr,
			 (BS_MAP_MAX_V4 - 1) << 8);
	bs_prefix_map_free(&map);

	/* One more is refused on its line. */
	free(text);
	text = make_map(BS_MAP_MAX_V4 + 1, 0, &len);
	assert_int_equal(bs_prefix_map_parse(text, len, "big", &map, err,
					     sizeof(err)), -1);
	char want[128];
	snprintf(want, sizeof(want), "big:%u: too many IPv4 prefixes "
		 "(limit %u)", BS_MAP_MAX_V4 + 2, BS_MAP_MAX_V4);
	assert_string_equal(err, want);
	assert_null(map.v4);
	free(text);

	text = make_map(BS_MAP_MAX_V6, 1, &len);
	assert_int_equal(bs_prefix_map_parse(text, len, "big6", &map, err,
					     sizeof(err)), 0);
	assert_int_equal(map.n_v6, BS_MAP_MAX_V6);
	bs_prefix_map_free(&map);
	free(text);
	text = make_map(BS_MAP_MAX_V6 + 1, 1, &len);
	assert_int_equal(bs_prefix_map_parse(text, len, "big6", &map, err,
					     sizeof(err)), -1);
	snprintf(want, sizeof(want), "big6:%u: too many IPv6 prefixes "
		 "(limit %u)", BS_MAP_MAX_V6 + 2, BS_MAP_MAX_V6);
	assert_string_equal(err, want);
	free(text);

	/* A duplicate at the very end of a big map is still found. */
	text = make_map(200000, 0, &len);
	char *dup = realloc(text, len + 32);
	assert_non_null(dup);
	text = dup;
	len += (size_t)sprintf(text + len, "0.1.0.0/24 9\n");
	assert_int_equal(bs_prefix_map_parse(text, len, "big", &map, err,
					     sizeof(err)), -1);
	assert_string_equal(err, "big:200002: 0.1.0.0/24 listed twice "
			    "(first at line 258)");
	free(text);
}

static char *write_temp_n(const char *content, size_t len)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/bs_test_map_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static char *write_temp(const char *content)
{
	return write_temp_n(content, strlen(content));
}

static void test_load_file(void **state)
{
	(void)state;
	struct bs_prefix_map map;
	char err[512];

	char *path = write_temp("version 3\n10.0.0.0/8 1\n::/0 2\n");
	assert_int_equal(bs_prefix_map_load(path, &map, err, sizeof(err)), 0);
	assert_int_equal(map.version, 3);
	assert_int_equal(map.n_v4, 1);
	assert_int_equal(map.n_v6, 1);
	assert_int_equal(map.n_tenants, 2);
	bs_prefix_map_free(&map);
	unlink(path);

	/* Errors name the path as given. */
	path = write_temp("version 3\n\n10.0.0.1/8 1\n");
	assert_int_equal(bs_prefix_map_load(path, &map, err, sizeof(err)), -1);
	char want[256];
	snprintf(want, sizeof(want), "%s:3: host bits set in 10.0.0.1/8 "
		 "(did you mean 10.0.0.0/8?)", path);
	assert_string_equal(err, want);
	unlink(path);

	assert_int_equal(bs_prefix_map_load("/nonexistent/map.txt", &map, err,
					    sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/map.txt: No such file or "
			    "directory");
	assert_null(map.v4);
	assert_int_equal(bs_prefix_map_load("/tmp", &map, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "/tmp: not a regular file");
}

/* A 100,000-prefix map loads from a file (bench/map_bench times it). */
static void test_load_100k(void **state)
{
	(void)state;
	struct bs_prefix_map map;
	char err[256];
	size_t len;

	char *text = make_map(100000, 0, &len);
	char *path = write_temp_n(text, len);
	free(text);
	assert_int_equal(bs_prefix_map_load(path, &map, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(map.n_v4, 100000);
	assert_int_equal(map.n_tenants, 5000);
	bs_prefix_map_free(&map);
}

/* The shipped example map must parse (found beside this source file). */
static void test_example_map(void **state)
{
	(void)state;
	char path[4096];
	const char *slash = strrchr(__FILE__, '/');
	int dir_len = slash != NULL ? (int)(slash - __FILE__) : 0;
	snprintf(path, sizeof(path), "%.*s%s../../config/prefixes.map",
		 dir_len, __FILE__, dir_len > 0 ? "/" : "");
	if (access(path, R_OK) != 0) {
		printf("# %s not reachable from the working directory\n", path);
		skip();
	}
	struct bs_prefix_map map;
	char err[512] = "";
	int rc = bs_prefix_map_load(path, &map, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_true(map.n_v4 > 0 && map.n_v6 > 0);
	bs_prefix_map_free(&map);
}

/* The writer: what it writes the parser reads back as the same map, in the
 * format's canonical text, with each prefix's line; a prefix given as text
 * is checked as the parser checks it and nothing is written for a bad one. */
static void test_writer_round_trip(void **state)
{
	(void)state;
	struct bs_prefix_map map, back;
	char err[256];
	assert_int_equal(parse_str("version 42\n10.0.0.0/8 1\n2001:db8::/32 2\n"
				   "192.168.1.0/24 3\n::/0 4\n0.0.0.0/0 5\n",
				   &map, err, sizeof(err)), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	bs_prefix_map_write(f, &map, "two lines\nof comment");
	assert_int_equal(fclose(f), 0);
	assert_string_equal(text, "# two lines\n# of comment\nversion 42\n"
			    "10.0.0.0/8 1\n192.168.1.0/24 3\n0.0.0.0/0 5\n"
			    "2001:db8::/32 2\n::/0 4\n");
	assert_int_equal(bs_prefix_map_parse(text, len, "w", &back, err,
					     sizeof(err)), 0);
	assert_int_equal(back.version, 42);
	assert_int_equal(back.n_v4, 3);
	assert_int_equal(back.n_v6, 2);
	assert_memory_equal(back.v4, map.v4, 3 * sizeof(*map.v4));
	assert_memory_equal(back.v6, map.v6, 2 * sizeof(*map.v6));
	assert_int_equal(back.line_v4[2], 6);
	assert_int_equal(back.line_v6[0], 7);
	assert_int_equal(map.line_v4[1], 4);   /* the original's file order */
	free(text);
	bs_prefix_map_free(&back);
	bs_prefix_map_free(&map);

	f = open_memstream(&text, &len);
	assert_non_null(f);
	bs_prefix_map_write_head(f, NULL, 7);
	assert_int_equal(bs_prefix_map_write_text(f, "2001:0DB8:0::/48", 9, err,
						  sizeof(err)), 0);
	assert_int_equal(bs_prefix_map_write_text(f, "10.1.0.0/16", 10, err,
						  sizeof(err)), 0);
	assert_int_equal(bs_prefix_map_write_text(f, "10.1.2.0/16", 11, err,
						  sizeof(err)), -1);
	assert_string_equal(err, "host bits set in 10.1.2.0/16 (did you mean "
			    "10.1.0.0/16?)");
	assert_int_equal(bs_prefix_map_write_text(f, "10.1.0.0/33", 11, err,
						  sizeof(err)), -1);
	assert_int_equal(bs_prefix_map_write_text(f, "10.1.0.0", 11, err,
						  sizeof(err)), -1);
	assert_int_equal(bs_prefix_map_write_text(f, "10.1.0.0/8", 0, err,
						  sizeof(err)), -1);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(text, "version 7\n2001:db8::/48 9\n10.1.0.0/16 10\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_map),
		cmocka_unit_test(test_version_only_and_crlf),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_nul_and_long_lines),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_limits_and_big_maps),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_100k),
		cmocka_unit_test(test_example_map),
		cmocka_unit_test(test_writer_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
