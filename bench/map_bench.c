/*
 * map_bench.c — how long the prefix map takes to parse, load and build into
 * the classifier, for the sizes a park reaches: the figures that unit tests
 * must not assert (a timed test fails on a loaded or sanitized build and
 * proves nothing about correctness, which tests/unit/test_prefix_map.c and
 * test_classify.c check).
 *
 *   map_bench [--runs N]
 *
 * Prints, per measure, the best and median of N runs (default 5) beside
 * its target, and exits 1 if a median misses its target:
 *   - parse of a map at the IPv4 limit (BS_MAP_MAX_V4 /24s):   < 2 s
 *   - load of a 100,000-prefix map from a file:                 < 0.2 s
 *   - classifier build of 90,000 IPv4 + 10,000 IPv6 prefixes:   < 5 s
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>

#include "classify.h"
#include "prefix_map.h"

#define MAX_RUNS 101

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "map_bench: %s: %s\n", what, err);
	exit(3);
}

/* n distinct IPv4 /24s over 5,000 tenants. */
static char *v4_map(uint32_t n, size_t *len)
{
	size_t cap = 16 + (size_t)n * 32, off;
	char *text = malloc(cap);
	if (text == NULL)
		die("v4_map", "out of memory");
	off = (size_t)snprintf(text, cap, "version 1\n");
	for (uint32_t i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, cap - off, "%u.%u.%u.0/24 %u\n",
					i >> 16, (i >> 8) & 0xff, i & 0xff, i % 5000 + 1);
	*len = off;
	return text;
}

/* A large park: 90,000 IPv4 (/24s and some /28s), 10,000 IPv6 /48s. */
static char *park_map(size_t *len)
{
	size_t cap = 100000 * 48, off;
	char *text = malloc(cap);
	if (text == NULL)
		die("park_map", "out of memory");
	off = (size_t)snprintf(text, cap, "version 1\n");
	for (uint32_t i = 0; i < 90000; i++) {
		if (i % 10 == 9)
			off += (size_t)snprintf(text + off, cap - off, "100.%u.%u.16/28 %u\n",
						(i / 10) >> 8, (i / 10) & 0xff, i % 5000 + 1);
		else
			off += (size_t)snprintf(text + off, cap - off, "%u.%u.%u.0/24 %u\n",
						30 + (i >> 16), (i >> 8) & 0xff, i & 0xff,
						i % 5000 + 1);
	}
	for (uint32_t i = 0; i < 10000; i++)
		off += (size_t)snprintf(text + off, cap - off, "2001:db8:%x::/48 %u\n",
					i, i % 5000 + 1);
	*len = off;
	return text;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Prints best and median; returns 1 if the median misses the target. */
static int report(const char *what, double *t, int runs, double target)
{
	qsort(t, (size_t)runs, sizeof(*t), cmp_double);
	double median = t[runs / 2];
	printf("%-52s best %8.4f s  median %8.4f s  target < %.2f s  %s\n", what,
	       t[0], median, target, median < target ? "met" : "MISSED");
	return median >= target;
}

int main(int argc, char **argv)
{
	int runs = 5;
	if (argc == 3 && strcmp(argv[1], "--runs") == 0)
		runs = atoi(argv[2]);
	if ((argc != 1 && argc != 3) || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: map_bench [--runs 1..%d]\n", MAX_RUNS);
		return 2;
	}
	char *eal_argv[] = { "map_bench", "--no-huge", "--no-pci", "-m", "512",
			     "--no-shconf", "--log-level=error", NULL };
	if (rte_eal_init(7, eal_argv) < 0)
		die("rte_eal_init", "failed");

	char err[512];
	double t[MAX_RUNS];
	int missed = 0;
	struct bs_prefix_map map;

	size_t len;
	char *text = v4_map(BS_MAP_MAX_V4, &len);
	for (int r = 0; r < runs; r++) {
		double t0 = now_s();
		if (bs_prefix_map_parse(text, len, "limit", &map, err, sizeof(err)) != 0)
			die("parse", err);
		t[r] = now_s() - t0;
		bs_prefix_map_free(&map);
	}
	free(text);
	char what[96];
	snprintf(what, sizeof(what), "parse, %u IPv4 prefixes (the limit)", BS_MAP_MAX_V4);
	missed += report(what, t, runs, 2.0);

	char path[] = "/tmp/map_bench.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp", path);
	text = v4_map(100000, &len);
	if (write(fd, text, len) != (ssize_t)len)
		die("write", path);
	close(fd);
	free(text);
	for (int r = 0; r < runs; r++) {
		double t0 = now_s();
		if (bs_prefix_map_load(path, &map, err, sizeof(err)) != 0)
			die("load", err);
		t[r] = now_s() - t0;
		bs_prefix_map_free(&map);
	}
	unlink(path);
	missed += report("load from a file, 100,000 IPv4 prefixes", t, runs, 0.2);

	text = park_map(&len);
	if (bs_prefix_map_parse(text, len, "park", &map, err, sizeof(err)) != 0)
		die("parse", err);
	free(text);
	for (int r = 0; r < runs; r++) {
		struct bs_tenant_index tidx;
		if (bs_tenant_index_init(&tidx) != 0)
			die("tenant index", "out of memory");
		double t0 = now_s();
		struct bs_classifier *cls = bs_classifier_build(&map, &tidx, (unsigned)r,
								err, sizeof(err));
		t[r] = now_s() - t0;
		if (cls == NULL)
			die("build", err);
		bs_classifier_free(cls);
		bs_tenant_index_free(&tidx);
	}
	bs_prefix_map_free(&map);
	missed += report("classifier build, 90,000 IPv4 + 10,000 IPv6", t, runs, 5.0);

	rte_eal_cleanup();
	return missed ? 1 : 0;
}
