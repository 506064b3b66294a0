/*
 * meter_bench.c — how fast the metering fast path (bs_meter_burst) runs on
 * one lcore, next to a receive loop that does nothing, on the same mbufs.
 *
 * Mode "mem" (the default): builds a park in memory — 100,000 IPv4 prefixes
 * of /20../29 and 10,000 IPv6 /48s over 10,000 tenants — and a set of
 * 60-byte frames (64 on the wire) with real Ethernet/IPv4/IPv6 headers in
 * mbufs of a real rte_mempool, 60% IPv4, 95% of them addressed into a
 * tenant's prefix. The mbufs sit in an rte_ring behind the net_ring PMD
 * (rte_eth_from_ring: one ring for rx and tx), so both loops below pay the
 * same driver cost and the same mbufs cycle forever:
 *     baseline: rte_eth_rx_burst → rte_eth_tx_burst (back into the ring)
 *     metered:  rte_eth_rx_burst → bs_meter_burst → rte_eth_tx_burst
 * Rounds alternate between the two; each prints Mpps, the summary prints the
 * median of each and their ratio. After every metered round the counters
 * are checked against what the frames must give (packets, unattributed).
 *
 * With --packets N --callgrind the loops run N packets each and tell
 * callgrind (run with --collect-atstart=no) what to count, one dump each:
 * "baseline" (rx + requeue), "meter_burst" (bs_meter_burst alone) and
 * "rx_meter_requeue" (the whole metered loop). Instructions per packet =
 * the dump's Ir / N.
 *
 * Mode "pcap": the first DPDK port (give it with --vdev=net_pcap0,rx_pcap=FILE,
 * or rx_pcap=- < FILE as bandsplit-meter reads it) read to its end with rx
 * burst + free — net_pcap's own rate — or with --pcap-map FILE also metered
 * with that map.
 *
 *   meter_bench [EAL options] -- [options]      (see --help)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_fib.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#ifdef BENCH_HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT do { } while (0)
#define CALLGRIND_DUMP_STATS_AT(s) do { (void)(s); } while (0)
#endif

#include "classify.h"
#include "config.h"
#include "counters.h"
#include "meter.h"
#include "pcap_stdin.h"
#include "prefix_map.h"

#define MAX_MBUFS         (1u << 20)
#define MAX_ROUNDS        50
#define FIRST_TENANT_ID   1001u
#define V4_SPACE_START    0x14000000u   /* 20.0.0.0: the park's IPv4 space */
#define V4_MISS_NET       0xc6336400u   /* 198.51.100.0/24: no tenant's */
#define V4_REMOTE_NET     0x64400000u   /* 100.64.0.0/10: remote hosts */
#define FRAME_LEN         60u           /* 64 on the wire with the FCS */
#define ETHER_HDR         14u
#define PCAP_IDLE_MS      200u          /* pcap mode: end of capture */
#define BENCH_NOW_S       1767225605u   /* fixed clock, inside one interval */

struct options {
	enum { MODE_MEM, MODE_PCAP } mode;
	double seconds;
	unsigned rounds;
	unsigned mbufs;
	unsigned burst;
	unsigned v4_prefixes, v6_prefixes, tenants;
	unsigned v4_share, hit_share;
	enum bs_port_role role;
	uint64_t packets;         /* fixed count instead of seconds */
	bool callgrind;
	bool fib_avx512;          /* prototype: DPDK's AVX-512 DIR24_8 lookup */
	bool thp;                 /* the mbufs on 2 MB pages (THP external heap) */
	uint64_t seed;
	const char *pcap_map;
	const char *write_map;    /* write the in-memory park's map and exit */
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: meter_bench [EAL options] -- [options]\n"
"\n"
"Metering rate of bs_meter_burst on one lcore next to an rx-and-requeue\n"
"baseline over the same mbufs (mode mem), or net_pcap's rx rate (mode pcap).\n"
"\n"
"  --mode mem|pcap          (default mem)\n"
"  --seconds S              per round (default 2)\n"
"  --rounds R               baseline/metered round pairs (default 5)\n"
"  --packets N              run N packets per loop instead of --seconds\n"
"  --callgrind              with --packets: mark regions for valgrind\n"
"                           --tool=callgrind --collect-atstart=no\n"
"  --mbufs N                frames cycled through the ring (default 1024: a\n"
"                           NIC ring of the meter's rx_desc = 1024)\n"
"  --burst N                rx burst (default 32, at most %u)\n"
"  --v4-prefixes N          (default 100000, /20../29)\n"
"  --v6-prefixes N          (default 10000, /48)\n"
"  --tenants N              (default 10000, ids from %u)\n"
"  --v4-share PCT           IPv4 among frames (default 60)\n"
"  --hit-share PCT          frames addressed into a tenant prefix (default 95)\n"
"  --role upstream|downstream|mirror   (default upstream)\n"
"  --fib-avx512             prototype: DPDK's AVX-512 IPv4 lookup (needs EAL\n"
"                           --force-max-simd-bitwidth=512 and the CPU)\n"
"  --thp                    the mbufs on 2 MB pages, as with hugepages: an\n"
"                           external DPDK heap of transparent huge pages\n"
"                           (EAL's --no-huge memory is 4 KB pages)\n"
"  --seed N                 (default 1)\n"
"  --pcap-map FILE          mode pcap: meter with this prefix map too\n"
"  --write-map FILE         write the in-memory park's prefix map (format of\n"
"                           config/prefixes.map) and exit\n"
"  --help\n"
"\n"
"Example:\n"
"  meter_bench -l 0 --no-huge --no-pci -m 1024 --no-shconf -- --seconds 2\n",
		BS_MAX_BURST, FIRST_TENANT_ID);
}

static int parse_uint(const char *name, const char *v, uint64_t min, uint64_t max,
		      uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno || x < min || x > max) {
		fprintf(stderr, "meter_bench: %s '%s': an integer from %" PRIu64 " to %" PRIu64 "\n",
			name, v, min, max);
		return -1;
	}
	*out = x;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'M' },
		{ "seconds", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "packets", required_argument, NULL, 'n' },
		{ "callgrind", no_argument, NULL, 'C' },
		{ "mbufs", required_argument, NULL, 'm' },
		{ "burst", required_argument, NULL, 'b' },
		{ "v4-prefixes", required_argument, NULL, '4' },
		{ "v6-prefixes", required_argument, NULL, '6' },
		{ "tenants", required_argument, NULL, 't' },
		{ "v4-share", required_argument, NULL, 'V' },
		{ "hit-share", required_argument, NULL, 'H' },
		{ "role", required_argument, NULL, 'R' },
		{ "fib-avx512", no_argument, NULL, 'A' },
		{ "thp", no_argument, NULL, 'T' },
		{ "seed", required_argument, NULL, 'S' },
		{ "pcap-map", required_argument, NULL, 'P' },
		{ "write-map", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct options){
		.mode = MODE_MEM, .seconds = 2.0, .rounds = 5, .mbufs = 1024,
		.burst = 32, .v4_prefixes = 100000, .v6_prefixes = 10000,
		.tenants = 10000, .v4_share = 60, .hit_share = 95,
		.role = BS_ROLE_UPSTREAM, .seed = 1,
	};
	uint64_t x;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'M':
			if (!strcmp(optarg, "mem"))
				o->mode = MODE_MEM;
			else if (!strcmp(optarg, "pcap"))
				o->mode = MODE_PCAP;
			else {
				fprintf(stderr, "meter_bench: --mode '%s': mem or pcap\n", optarg);
				return -1;
			}
			break;
		case 's': {
			char *end;
			o->seconds = strtod(optarg, &end);
			if (*end != '\0' || !(o->seconds > 0.0 && o->seconds <= 3600.0)) {
				fprintf(stderr, "meter_bench: --seconds '%s': 0 < S <= 3600\n", optarg);
				return -1;
			}
			break;
		}
		case 'r':
			if (parse_uint("--rounds", optarg, 1, MAX_ROUNDS, &x)) return -1;
			o->rounds = (unsigned)x;
			break;
		case 'n':
			if (parse_uint("--packets", optarg, 1, UINT64_C(1) << 40, &x)) return -1;
			o->packets = x;
			break;
		case 'C': o->callgrind = true; break;
		case 'm':
			if (parse_uint("--mbufs", optarg, 64, MAX_MBUFS, &x)) return -1;
			o->mbufs = (unsigned)x;
			break;
		case 'b':
			if (parse_uint("--burst", optarg, 1, BS_MAX_BURST, &x)) return -1;
			o->burst = (unsigned)x;
			break;
		case '4':
			if (parse_uint("--v4-prefixes", optarg, 0, BS_MAP_MAX_V4, &x)) return -1;
			o->v4_prefixes = (unsigned)x;
			break;
		case '6':
			if (parse_uint("--v6-prefixes", optarg, 0, BS_MAP_MAX_V6, &x)) return -1;
			o->v6_prefixes = (unsigned)x;
			break;
		case 't':
			if (parse_uint("--tenants", optarg, 1, BS_MAX_TENANTS, &x)) return -1;
			o->tenants = (unsigned)x;
			break;
		case 'V':
			if (parse_uint("--v4-share", optarg, 0, 100, &x)) return -1;
			o->v4_share = (unsigned)x;
			break;
		case 'H':
			if (parse_uint("--hit-share", optarg, 0, 100, &x)) return -1;
			o->hit_share = (unsigned)x;
			break;
		case 'R':
			if (bs_port_role_parse(optarg, strlen(optarg), &o->role) < 0) {
				fprintf(stderr, "meter_bench: --role '%s': upstream, downstream or mirror\n", optarg);
				return -1;
			}
			break;
		case 'A': o->fib_avx512 = true; break;
		case 'T': o->thp = true; break;
		case 'S':
			if (parse_uint("--seed", optarg, 0, UINT64_MAX, &x)) return -1;
			o->seed = x;
			break;
		case 'P': o->pcap_map = optarg; break;
		case 'W': o->write_map = optarg; break;
		case 'h': usage(stdout); exit(0);
		default:
			fprintf(stderr, "meter_bench: bad option (see --help)\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meter_bench: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->callgrind && o->packets == 0) {
		fprintf(stderr, "meter_bench: --callgrind needs --packets N\n");
		return -1;
	}
	if (o->mode == MODE_MEM && o->v4_share > 0 && o->v4_prefixes == 0 && o->hit_share > 0) {
		fprintf(stderr, "meter_bench: IPv4 hits need --v4-prefixes > 0\n");
		return -1;
	}
	if (o->mode == MODE_MEM && o->v4_share < 100 && o->v6_prefixes == 0 && o->hit_share > 0) {
		fprintf(stderr, "meter_bench: IPv6 hits need --v6-prefixes > 0\n");
		return -1;
	}
	if (o->v6_prefixes > 65536) {
		fprintf(stderr, "meter_bench: --v6-prefixes: at most 65536 distinct /48s here\n");
		return -1;
	}
	return 0;
}

/* ---- deterministic randomness (xorshift64*) ---------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static uint32_t rng_below(uint32_t n)
{
	RTE_VERIFY(n > 0);
	return (uint32_t)((rng_next() >> 32) * n >> 32);
}

/* ---- the park: an in-memory prefix map ---------------------------------- */

/* IPv4 prefix lengths and their weights (per mille): mostly /24, a tail of
 * shorter ones and many small (/25../29) blocks, as a park sells them. */
static const struct { uint8_t depth; unsigned permille; } v4_depths[] = {
	{ 20, 50 }, { 21, 50 }, { 22, 100 }, { 23, 100 }, { 24, 300 },
	{ 25, 100 }, { 26, 100 }, { 27, 80 }, { 28, 70 }, { 29, 50 },
};

static uint8_t pick_v4_depth(void)
{
	uint32_t r = rng_below(1000), acc = 0;
	for (size_t i = 0; i < RTE_DIM(v4_depths); i++) {
		acc += v4_depths[i].permille;
		if (r < acc)
			return v4_depths[i].depth;
	}
	return 24;
}

static int cmp_depth(const void *a, const void *b)
{
	const struct bs_prefix_v4 *x = a, *y = b;
	return (int)x->depth - (int)y->depth;
}

/* Disjoint prefixes: largest first from V4_SPACE_START, so each is aligned
 * without gaps; tenants drawn uniformly. */
static int build_map(const struct options *o, struct bs_prefix_map *map)
{
	memset(map, 0, sizeof(*map));
	map->version = 1;
	map->n_v4 = o->v4_prefixes;
	map->n_v6 = o->v6_prefixes;
	map->v4 = calloc(map->n_v4 ? map->n_v4 : 1, sizeof(*map->v4));
	map->v6 = calloc(map->n_v6 ? map->n_v6 : 1, sizeof(*map->v6));
	uint8_t *seen = calloc(o->tenants, 1);
	if (!map->v4 || !map->v6 || !seen) {
		free(seen);
		bs_prefix_map_free(map);
		return -1;
	}
	for (uint32_t i = 0; i < map->n_v4; i++)
		map->v4[i].depth = pick_v4_depth();
	qsort(map->v4, map->n_v4, sizeof(*map->v4), cmp_depth);
	uint64_t cursor = V4_SPACE_START;
	for (uint32_t i = 0; i < map->n_v4; i++) {
		uint64_t size = UINT64_C(1) << (32 - map->v4[i].depth);
		RTE_VERIFY(cursor % size == 0 && cursor + size <= V4_MISS_NET);
		map->v4[i].addr = (uint32_t)cursor;
		cursor += size;
		uint32_t t = rng_below(o->tenants);
		map->v4[i].tenant_id = FIRST_TENANT_ID + t;
		seen[t] = 1;
	}
	/* 2a0b:xxxx:yyyy::/48, the 32 bits spread by an odd multiplier (a
	 * bijection, so all distinct). */
	for (uint32_t i = 0; i < map->n_v6; i++) {
		uint32_t mid = i * 2654435761u;
		uint8_t *a = map->v6[i].addr;
		a[0] = 0x2a; a[1] = 0x0b;
		a[2] = (uint8_t)(mid >> 24); a[3] = (uint8_t)(mid >> 16);
		a[4] = (uint8_t)(mid >> 8);  a[5] = (uint8_t)mid;
		map->v6[i].depth = 48;
		uint32_t t = i % o->tenants;
		map->v6[i].tenant_id = FIRST_TENANT_ID + t;
		seen[t] = 1;
	}
	for (uint32_t t = 0; t < o->tenants; t++)
		map->n_tenants += seen[t];
	free(seen);
	return 0;
}

/* The map as a prefix-map file, for bandsplit-gen --reuse-map and the
 * meter. */
static int write_map_file(const struct bs_prefix_map *map, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "meter_bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char comment[128];
	snprintf(comment, sizeof(comment), "meter_bench park: %u IPv4, %u IPv6 prefixes, %u tenants",
		 map->n_v4, map->n_v6, map->n_tenants);
	bs_prefix_map_write(f, map, comment);
	if (fclose(f) != 0) {
		fprintf(stderr, "meter_bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- frames --------------------------------------------------------------- */

/* What a frame must count as, checked against the classifier at set-up and
 * against the counters after each metered round. */
struct frame_truth {
	uint32_t tenant_id;   /* of the tenant-side address; 0 = none */
};

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static uint16_t ipv4_checksum(const uint8_t *h)
{
	uint32_t sum = 0;
	for (unsigned i = 0; i < 20; i += 2)
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put_ether(uint8_t *f, uint16_t type)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
}

/* Ethernet + IPv4 (46 bytes: 20 header, TCP header, 6 bytes payload). */
static void build_v4(uint8_t *f, uint32_t src, uint32_t dst)
{
	memset(f, 0, FRAME_LEN);
	put_ether(f, 0x0800);
	uint8_t *ip = f + ETHER_HDR;
	ip[0] = 0x45;
	put16(ip + 2, FRAME_LEN - ETHER_HDR);
	put16(ip + 4, (uint16_t)rng_next());
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, ipv4_checksum(ip));
	uint8_t *tcp = ip + 20;
	put16(tcp, (uint16_t)(1024 + rng_below(64512)));
	put16(tcp + 2, 443);
	tcp[12] = 5 << 4;
	tcp[13] = 0x10;
}

/* Ethernet + IPv6 (40 header + 6 bytes payload, next header 59: no room
 * for a transport header in a 64-byte frame). */
static void build_v6(uint8_t *f, const uint8_t *src, const uint8_t *dst)
{
	memset(f, 0, FRAME_LEN);
	put_ether(f, 0x86dd);
	uint8_t *ip = f + ETHER_HDR;
	put32(ip, UINT32_C(6) << 28 | rng_below(1u << 20));
	put16(ip + 4, FRAME_LEN - ETHER_HDR - 40);
	ip[6] = 59;
	ip[7] = 64;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
}

static uint32_t random_v4_in(uint32_t net, uint8_t depth)
{
	uint32_t host_bits = 32u - depth;
	uint32_t host = host_bits ? (uint32_t)(rng_next() >> (64 - host_bits)) : 0;
	return net | host;
}

/* Fills mbuf i: the tenant-side address is the destination (upstream,
 * mirror) or the source (downstream); the other one is a remote host. */
static void make_frame(const struct options *o, const struct bs_prefix_map *map,
		       uint8_t *f, struct frame_truth *truth)
{
	bool v4 = rng_below(100) < o->v4_share;
	bool hit = rng_below(100) < o->hit_share;
	bool tenant_is_src = o->role == BS_ROLE_DOWNSTREAM;
	truth->tenant_id = 0;
	if (v4) {
		uint32_t tenant_addr, remote = random_v4_in(V4_REMOTE_NET, 10);
		if (hit) {
			const struct bs_prefix_v4 *p = &map->v4[rng_below(map->n_v4)];
			tenant_addr = random_v4_in(p->addr, p->depth);
			truth->tenant_id = p->tenant_id;
		} else {
			tenant_addr = random_v4_in(V4_MISS_NET, 24);
		}
		build_v4(f, tenant_is_src ? tenant_addr : remote, tenant_is_src ? remote : tenant_addr);
		return;
	}
	uint8_t tenant_addr[16], remote[16];
	static const uint8_t remote_net[6] = { 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff };
	static const uint8_t miss_net[6] = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01 };
	for (unsigned i = 0; i < 16; i++) {
		tenant_addr[i] = (uint8_t)rng_next();
		remote[i] = (uint8_t)rng_next();
	}
	memcpy(remote, remote_net, 6);
	if (hit) {
		const struct bs_prefix_v6 *p = &map->v6[rng_below(map->n_v6)];
		memcpy(tenant_addr, p->addr, 6);   /* /48 */
		truth->tenant_id = p->tenant_id;
	} else {
		memcpy(tenant_addr, miss_net, 6);
	}
	build_v6(f, tenant_is_src ? tenant_addr : remote, tenant_is_src ? remote : tenant_addr);
}

/* ---- the loops -------------------------------------------------------------- */

struct bench {
	struct options opt;
	uint16_t port;
	struct bs_classifier *cls;
	struct bs_tenant_index tidx;
	struct bs_meter meter;
	struct bs_meter_port mport;
	struct bs_lcore_counters ctr;
	struct bs_counter_layout layout;
	int64_t closed_upto;
	uint64_t now_ns;
	/* frames: unattributed_upto[k] = unattributed frames among 0..k-1 */
	uint32_t n_frames;
	uint64_t *unattributed_upto;
	uint64_t ring_pos;        /* frames taken from the ring so far */
};

static uint64_t cycles_for(double seconds)
{
	return (uint64_t)(seconds * (double)rte_get_tsc_hz());
}

/* The run's end: a packet count, or a deadline checked every 256 bursts. */
struct stop {
	uint64_t packets;        /* 0: by time */
	uint64_t deadline;
};

static inline bool should_stop(const struct stop *s, uint64_t done, uint64_t iter)
{
	if (s->packets)
		return done >= s->packets;
	return (iter & 255) == 0 && rte_rdtsc() >= s->deadline;
}

/* The rx-and-free baseline: receive, read what any receive path reads of
 * each frame (its length and its EtherType — the mbuf's and the frame's
 * first cache lines, which a NIC's receive brings in), and put the mbufs
 * back. No parsing, no lookup, no counting. Returns packets moved. */
static volatile uint64_t baseline_sink;

static __attribute__((noinline)) uint64_t loop_baseline(struct bench *b, const struct stop *s,
							bool mark)
{
	struct rte_mbuf *pkts[BS_MAX_BURST];
	const uint16_t burst = (uint16_t)b->opt.burst;
	uint64_t done = 0, iter = 0;
	if (mark)
		CALLGRIND_TOGGLE_COLLECT;
	do {
		uint16_t n = rte_eth_rx_burst(b->port, 0, pkts, burst);
		uint64_t touched = 0;
		for (uint16_t i = 0; i < n; i++)
			touched += pkts[i]->pkt_len + rte_pktmbuf_mtod(pkts[i], const uint8_t *)[12];
		uint16_t sent = rte_eth_tx_burst(b->port, 0, pkts, n);
		if (unlikely(sent != n))
			rte_panic("ring port refused %u of %u mbufs\n", n - sent, n);
		done += n;
		baseline_sink += touched;
	} while (!should_stop(s, done, ++iter));
	if (mark)
		CALLGRIND_TOGGLE_COLLECT;
	return done;
}

/* mark_meter: collect bs_meter_burst alone; mark_all: the whole loop. */
static __attribute__((noinline)) uint64_t loop_metered(struct bench *b, const struct stop *s,
						       bool mark_meter, bool mark_all)
{
	struct rte_mbuf *pkts[BS_MAX_BURST];
	const uint16_t burst = (uint16_t)b->opt.burst;
	uint64_t done = 0, iter = 0;
	if (mark_all)
		CALLGRIND_TOGGLE_COLLECT;
	do {
		uint16_t n = rte_eth_rx_burst(b->port, 0, pkts, burst);
		if (mark_meter)
			CALLGRIND_TOGGLE_COLLECT;
		bs_meter_burst(&b->meter, b->cls, &b->mport, pkts, n, b->now_ns);
		if (mark_meter)
			CALLGRIND_TOGGLE_COLLECT;
		uint16_t sent = rte_eth_tx_burst(b->port, 0, pkts, n);
		if (unlikely(sent != n))
			rte_panic("ring port refused %u of %u mbufs\n", n - sent, n);
		done += n;
	} while (!should_stop(s, done, ++iter));
	if (mark_all)
		CALLGRIND_TOGGLE_COLLECT;
	return done;
}

/* Unattributed frames among the next `count` taken from the ring, which
 * hands the frames out in order, round and round. */
static uint64_t unattributed_next(struct bench *b, uint64_t count)
{
	uint64_t start = b->ring_pos % b->n_frames;
	uint64_t full = count / b->n_frames, rest = count % b->n_frames;
	uint64_t total = full * b->unattributed_upto[b->n_frames];
	if (start + rest <= b->n_frames) {
		total += b->unattributed_upto[start + rest] - b->unattributed_upto[start];
	} else {
		total += b->unattributed_upto[b->n_frames] - b->unattributed_upto[start];
		total += b->unattributed_upto[start + rest - b->n_frames];
	}
	b->ring_pos += count;
	return total;
}

static struct bs_bank *open_bank(struct bench *b)
{
	return &b->ctr.bank[b->ctr.cur];
}

/* The counters moved exactly as the frames say. Aborts otherwise. */
static void check_counts(struct bench *b, uint64_t rx_before, uint64_t unatt_before,
			 uint64_t done)
{
	struct bs_bank *bank = open_bank(b);
	uint64_t want_unatt = unattributed_next(b, done);
	uint64_t got_rx = bank->rx.packets - rx_before;
	uint64_t got_unatt = bs_cells_unattributed(bank->cells, &b->layout).packets - unatt_before;
	if (got_rx != done || got_unatt != want_unatt) {
		fprintf(stderr, "meter_bench: counters disagree with the frames: rx %" PRIu64
			" (want %" PRIu64 "), unattributed %" PRIu64 " (want %" PRIu64 ")\n",
			got_rx, done, got_unatt, want_unatt);
		exit(1);
	}
}

static uint64_t run_baseline(struct bench *b, const struct stop *s, bool mark, double *secs)
{
	uint64_t t0 = rte_rdtsc();
	uint64_t done = loop_baseline(b, s, mark);
	*secs = (double)(rte_rdtsc() - t0) / (double)rte_get_tsc_hz();
	b->ring_pos += done;
	return done;
}

static uint64_t run_metered(struct bench *b, const struct stop *s, bool mark_meter,
			    bool mark_all, double *secs)
{
	struct bs_bank *bank = open_bank(b);
	uint64_t rx0 = bank->rx.packets, un0 = bs_cells_unattributed(bank->cells, &b->layout).packets;
	uint64_t t0 = rte_rdtsc();
	uint64_t done = loop_metered(b, s, mark_meter, mark_all);
	*secs = (double)(rte_rdtsc() - t0) / (double)rte_get_tsc_hz();
	check_counts(b, rx0, un0, done);
	return done;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* ---- set-up --------------------------------------------------------------- */

static void meter_setup(struct bench *b, enum bs_port_role role, uint32_t n_tenant_slots)
{
	static struct bs_meter_config cfg;   /* large: not on the stack */
	bs_meter_config_defaults(&cfg);
	cfg.clock = BS_CLOCK_SYSTEM;
	cfg.measure = BS_MEASURE_FRAME;
	cfg.n_pools = 1;
	cfg.pool_id[0] = 1;
	struct bs_port_config pc = { .role = role, .pool_id = 1, .rx_queues = 1 };
	snprintf(pc.name, sizeof(pc.name), "bench");
	bs_counter_layout_init(&b->layout, n_tenant_slots, 1);
	if (bs_lcore_counters_init(&b->ctr, &b->layout, (int)rte_socket_id()) < 0)
		rte_exit(1, "counters: out of DPDK memory (%u cells)\n", b->layout.n_cells);
	b->closed_upto = BS_INTERVAL_NONE;
	bs_meter_port_init(&b->mport, &cfg, &pc, b->port);
	bs_meter_init(&b->meter, &b->ctr, &b->layout, &cfg, &b->closed_upto);
	b->now_ns = (uint64_t)BENCH_NOW_S * UINT64_C(1000000000);
}

static void build_classifier(struct bench *b, const struct bs_prefix_map *map)
{
	char err[512];
	if (bs_tenant_index_init(&b->tidx) < 0)
		rte_exit(1, "tenant index: out of memory\n");
	uint64_t t0 = rte_rdtsc();
	b->cls = bs_classifier_build(map, &b->tidx, 0, err, sizeof(err));
	if (!b->cls)
		rte_exit(1, "%s\n", err);
	printf("classifier: %u IPv4 + %u IPv6 prefixes, %u tenants, built in %.1f ms\n",
	       map->n_v4, map->n_v6, map->n_tenants,
	       (double)(rte_rdtsc() - t0) * 1e3 / (double)rte_get_tsc_hz());
	if (b->opt.fib_avx512 && b->cls->fib4) {
		int rc = rte_fib_select_lookup(b->cls->fib4, RTE_FIB_LOOKUP_DIR24_8_VECTOR_AVX512);
		if (rc != 0)
			rte_exit(1, "--fib-avx512: not available here (%s); EAL needs "
				 "--force-max-simd-bitwidth=512 and an AVX-512 CPU\n", rte_strerror(-rc));
		printf("prototype: IPv4 lookups with DPDK's AVX-512 DIR24_8 function\n");
	}
}

/* The tenant-side address of frame f, looked up alone: must be truth. */
static void verify_frame(struct bench *b, const uint8_t *f, const struct frame_truth *truth)
{
	bool tenant_is_src = b->opt.role == BS_ROLE_DOWNSTREAM;
	uint64_t idx;
	if (f[12] == 0x08) {
		const uint8_t *a = f + ETHER_HDR + (tenant_is_src ? 12 : 16);
		uint32_t ip = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
		bs_classify_v4(b->cls, &ip, &idx, 1);
	} else {
		uint8_t ip6[1][16];
		memcpy(ip6[0], f + ETHER_HDR + (tenant_is_src ? 8 : 24), 16);
		bs_classify_v6(b->cls, ip6, &idx, 1);
	}
	RTE_VERIFY(idx < b->tidx.count);
	if (b->tidx.tenant_id[idx] != truth->tenant_id)
		rte_exit(1, "frame set-up: classifier says tenant %u, frame was built for %u\n",
			 b->tidx.tenant_id[idx], truth->tenant_id);
}

/* --thp: a DPDK heap on anonymous memory backed by transparent huge
 * pages, for the mbufs to sit on 2 MB pages as they do on a host with
 * hugepages (EAL's --no-huge memory is 4 KB pages: a TLB miss per mbuf
 * once the mbufs span more pages than the TLB holds). Returns the heap's
 * socket id. No IOVA: fine for net_ring, not for a NIC. */
static int thp_heap_socket(size_t bytes)
{
	const size_t page = (size_t)2 << 20;
	const size_t len = (bytes + page - 1) / page * page;
	uint8_t *raw = mmap(NULL, len + page, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		rte_exit(1, "--thp: mmap of %zu bytes: %s\n", len, strerror(errno));
	uint8_t *aligned = (uint8_t *)(((uintptr_t)raw + page - 1) & ~(uintptr_t)(page - 1));
	if (madvise(aligned, len, MADV_HUGEPAGE) != 0)
		rte_exit(1, "--thp: madvise(MADV_HUGEPAGE): %s\n", strerror(errno));
	memset(aligned, 0, len);   /* fault it in now, as 2 MB pages */
	if (rte_malloc_heap_create("bench_thp") != 0 ||
	    rte_malloc_heap_memory_add("bench_thp", aligned, len, NULL,
				       (unsigned)(len / page), page) != 0)
		rte_exit(1, "--thp: heap: %s\n", rte_strerror(rte_errno));
	return rte_malloc_heap_get_socket("bench_thp");
}

/* Mempool, frames, the ring and its port; every mbuf ends up in the ring. */
static void frames_setup(struct bench *b, const struct bs_prefix_map *map)
{
	const unsigned n = b->opt.mbufs;
	/* an mbuf object is under 2.5 KB; 8 MB for the pool's own headers */
	const int socket = b->opt.thp ?
		thp_heap_socket((size_t)n * 2560 + ((size_t)8 << 20)) : (int)rte_socket_id();
	struct rte_mempool *mp = rte_pktmbuf_pool_create("bench_mbufs", n, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (!mp)
		rte_exit(1, "mbuf pool of %u: %s (raise -m)\n", n, rte_strerror(rte_errno));
	struct rte_ring *ring = rte_ring_create("bench_ring", rte_align32pow2(n + 1),
		(int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!ring)
		rte_exit(1, "ring: %s\n", rte_strerror(rte_errno));
	b->n_frames = n;
	b->unattributed_upto = calloc((size_t)n + 1, sizeof(*b->unattributed_upto));
	if (!b->unattributed_upto)
		rte_exit(1, "out of memory\n");
	unsigned v4 = 0;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		if (!m)
			rte_exit(1, "mbuf %u: pool empty\n", i);
		uint8_t *f = (uint8_t *)rte_pktmbuf_append(m, FRAME_LEN);
		RTE_VERIFY(f != NULL);
		struct frame_truth truth;
		make_frame(&b->opt, map, f, &truth);
		verify_frame(b, f, &truth);
		v4 += f[12] == 0x08;
		b->unattributed_upto[i + 1] = b->unattributed_upto[i] + (truth.tenant_id == 0);
		if (rte_ring_enqueue(ring, m) != 0)
			rte_exit(1, "ring full at %u\n", i);
	}
	printf("frames: %u of %u bytes (+4 FCS on the wire), %.1f%% IPv4, %.1f%% to no tenant, role %s\n",
	       n, FRAME_LEN, 100.0 * v4 / n, 100.0 * (double)b->unattributed_upto[n] / n,
	       bs_port_role_name(b->opt.role));

	int port = rte_eth_from_ring(ring);
	if (port < 0)
		rte_exit(1, "rte_eth_from_ring: %s\n", rte_strerror(rte_errno));
	b->port = (uint16_t)port;
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(b->port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(b->port, 0, 1024, rte_socket_id(), NULL, mp) != 0 ||
	    rte_eth_tx_queue_setup(b->port, 0, 1024, rte_socket_id(), NULL) != 0 ||
	    rte_eth_dev_start(b->port) != 0)
		rte_exit(1, "ring port set-up failed\n");
}

/* ---- modes ---------------------------------------------------------------- */

static int mode_mem(struct bench *b)
{
	struct bs_prefix_map map;
	if (build_map(&b->opt, &map) < 0)
		rte_exit(1, "map: out of memory\n");
	if (b->opt.write_map) {
		int rc = write_map_file(&map, b->opt.write_map);
		bs_prefix_map_free(&map);
		return rc < 0 ? 1 : 0;
	}
	build_classifier(b, &map);
	/* The port id is known only after frames_setup; the meter port
	 * keeps it for nothing but telemetry, so set it up after. */
	frames_setup(b, &map);
	meter_setup(b, b->opt.role, b->tidx.count);
	bs_prefix_map_free(&map);

	if (b->opt.callgrind) {
		struct stop s = { .packets = b->opt.packets };
		double secs;
		uint64_t n0 = run_baseline(b, &s, true, &secs);
		CALLGRIND_DUMP_STATS_AT("baseline");
		uint64_t n1 = run_metered(b, &s, true, false, &secs);
		CALLGRIND_DUMP_STATS_AT("meter_burst");
		uint64_t n2 = run_metered(b, &s, false, true, &secs);
		CALLGRIND_DUMP_STATS_AT("rx_meter_requeue");
		printf("callgrind packets: baseline=%" PRIu64 " meter_burst=%" PRIu64
		       " rx_meter_requeue=%" PRIu64 "\n", n0, n1, n2);
		return 0;
	}

	/* Warm-up: caches, branch predictors, the open bank. */
	struct stop warm = { .deadline = rte_rdtsc() + cycles_for(0.2) };
	double secs;
	run_baseline(b, &warm, false, &secs);
	warm.deadline = rte_rdtsc() + cycles_for(0.2);
	run_metered(b, &warm, false, false, &secs);

	double base[MAX_ROUNDS], metered[MAX_ROUNDS];
	for (unsigned r = 0; r < b->opt.rounds; r++) {
		struct stop s = { .packets = b->opt.packets,
				  .deadline = rte_rdtsc() + cycles_for(b->opt.seconds) };
		uint64_t n = run_baseline(b, &s, false, &secs);
		base[r] = (double)n / secs / 1e6;
		s.deadline = rte_rdtsc() + cycles_for(b->opt.seconds);
		n = run_metered(b, &s, false, false, &secs);
		metered[r] = (double)n / secs / 1e6;
		printf("round %u: baseline %.2f Mpps, metered %.2f Mpps (%.1f ns/packet)\n",
		       r + 1, base[r], metered[r], 1e3 / metered[r]);
		fflush(stdout);
	}
	double mb = median(base, b->opt.rounds), mm = median(metered, b->opt.rounds);
	printf("result mode=mem role=%s burst=%u mbufs=%u pages=%s baseline_mpps=%.2f metered_mpps=%.2f "
	       "ratio=%.3f metered_ns_per_packet=%.2f meter_only_ns_per_packet=%.2f\n",
	       bs_port_role_name(b->opt.role), b->opt.burst, b->opt.mbufs,
	       b->opt.thp ? "2M" : "4K", mb, mm, mm / mb,
	       1e3 / mm, 1e3 / mm - 1e3 / mb);
	return 0;
}

/* net_pcap (or any first port) read to its end: rx + free, or + meter. */
static int mode_pcap(struct bench *b)
{
	if (rte_eth_dev_count_avail() == 0)
		rte_exit(2, "mode pcap: no port; give one with --vdev=net_pcap0,rx_pcap=FILE\n");
	uint16_t port = 0;
	RTE_ETH_FOREACH_DEV(port)
		break;
	b->port = port;
	struct rte_mempool *mp = rte_pktmbuf_pool_create("bench_mbufs", 16383, 256, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!mp)
		rte_exit(1, "mbuf pool: %s\n", rte_strerror(rte_errno));
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(port, 1, 0, &conf) != 0 ||
	    rte_eth_rx_queue_setup(port, 0, 1024, rte_socket_id(), NULL, mp) != 0 ||
	    rte_eth_dev_start(port) != 0)
		rte_exit(1, "port %u set-up failed\n", port);
	bool metering = b->opt.pcap_map != NULL;
	if (metering) {
		struct bs_prefix_map map;
		char err[1024];
		if (bs_prefix_map_load(b->opt.pcap_map, &map, err, sizeof(err)) < 0)
			rte_exit(2, "%s\n", err);
		build_classifier(b, &map);
		bs_prefix_map_free(&map);
		meter_setup(b, b->opt.role, BS_MAX_TENANTS + 1);
	}
	struct rte_mbuf *pkts[BS_MAX_BURST];
	const uint16_t burst = (uint16_t)b->opt.burst;
	const uint64_t idle = rte_get_tsc_hz() / 1000 * PCAP_IDLE_MS;
	uint64_t packets = 0, first = 0, last = rte_rdtsc();
	for (;;) {
		uint64_t t = rte_rdtsc();
		uint16_t n = rte_eth_rx_burst(port, 0, pkts, burst);
		if (n == 0) {
			if (t - last > idle)
				break;
			continue;
		}
		if (packets == 0)
			first = t;
		if (metering)
			bs_meter_burst(&b->meter, b->cls, &b->mport, pkts, n, b->now_ns);
		rte_pktmbuf_free_bulk(pkts, n);
		packets += n;
		last = rte_rdtsc();
	}
	if (packets == 0)
		rte_exit(1, "mode pcap: the port gave no packets\n");
	double secs = (double)(last - first) / (double)rte_get_tsc_hz();
	if (metering && open_bank(b)->rx.packets != packets)
		rte_exit(1, "counters: %" PRIu64 " packets, received %" PRIu64 "\n",
			 open_bank(b)->rx.packets, packets);
	printf("result mode=pcap metered=%s packets=%" PRIu64 " seconds=%.3f mpps=%.2f\n",
	       metering ? "yes" : "no", packets, secs, (double)packets / secs / 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	char stdin_err[256];   /* rx_pcap=-: stdin set up as bandsplit-meter does */
	if (bs_pcap_stdin_prepare(argc, argv, stdin_err, sizeof(stdin_err)) < 0) {
		fprintf(stderr, "meter_bench: %s\n", stdin_err);
		return 2;
	}
	int eal = rte_eal_init(argc, argv);
	if (eal < 0)
		rte_exit(2, "EAL: %s (try -l 0 --no-huge --no-pci -m 1024 --no-shconf)\n",
			 rte_strerror(rte_errno));
	static struct bench b;
	if (parse_args(argc - eal, argv + eal, &b.opt) < 0) {
		rte_eal_cleanup();
		return 2;
	}
	rng_state = b.opt.seed * 2 + 0x9e3779b97f4a7c15ull;
	int rc = b.opt.mode == MODE_MEM ? mode_mem(&b) : mode_pcap(&b);
	rte_eal_cleanup();
	return rc;
}
