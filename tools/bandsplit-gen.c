/*
 * bandsplit-gen.c — deterministic generator of park-traffic captures with
 * their exact ground truth, for the README demo, integration tests and
 * benchmarks.
 *
 * From a seed it makes (or reads, --reuse-map) a tenant prefix map, writes a
 * nanosecond pcap of Ethernet frames (VLAN/QinQ, IPv4, IPv6, non-IP and
 * malformed frames) and a truth file: what bandsplit-meter must count for
 * that capture replayed on one port of a given role. The truth is computed
 * here, independently of the dataplane code, from the addresses the
 * generator decided to put in each frame: every address it uses is
 * classified once, at setup, by this file's own longest-prefix match; the
 * per-packet loop only adds up. Same arguments and seed → byte-identical
 * files.
 *
 * Counting rules mirrored (the metering contract):
 *   upstream   tenant = LPM(dst), direction in;
 *   downstream tenant = LPM(src), direction out;
 *   mirror     LPM(dst) → "in" for it, LPM(src) → "out" for it, both when
 *              both match; neither → tenant 0, "in".
 *   No match → tenant 0. Pool = --vlan-pool of the OUTER VLAN id, else
 *   --pool. "frame" bytes = captured length (frames padded to 60 bytes);
 *   "ip" bytes = IPv4 total length / IPv6 40 + payload length. Interval =
 *   floor(ts / interval) * interval. Malformed and non-IP frames go only to
 *   the node's buckets (reported in the header comments). --slice (a sliced
 *   port): IP frames are cut after their L4 header, "frame" bytes = L2
 *   header + IP length of a frame cut short, the node's rx bytes what was
 *   captured.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs_version.h"
#include "gen_records.h"
#include "log.h"
#include "names.h"
#include "prefix_map.h"

/* ---- limits ------------------------------------------------------------ */

#define GEN_MAX_PACKETS      1000000000ull
#define GEN_MAX_TENANTS      65534u        /* + the moved-to tenant ≤ 65535 */
#define GEN_MAX_V4_TOP       40000u        /* generated top-level v4 prefixes */
#define GEN_MAX_V6_TOP       200000u       /* generated top-level v6 prefixes */
#define GEN_MAX_PER_TENANT   64u           /* prefixes per tenant per family */
#define GEN_MAX_INTERVALS    1000000u      /* intervals one capture spans */
#define GEN_MAX_INTERVAL_S   86400u
#define GEN_MAX_DURATION_S   (31u * 86400u)
#define GEN_MAX_VLAN_POOLS   4094u
#define GEN_EP_RANDOM        6             /* random addresses per prefix */
#define GEN_REMOTES          256           /* remote addresses per family */
#define GEN_MOVED_PPM        100000u       /* share of picks sent to moved */
#define GEN_SNAPLEN          65535
#define GEN_MIN_FRAME        60            /* Ethernet minimum without FCS */
#define GEN_MAX_IP_LEN       1500
#define GEN_FRAME_BUF        9216          /* up to 9,014-byte jumbo frames */
#define PPM                  1000000u
#define NS_PER_S             1000000000ull

#define ETH_IPV4  0x0800
#define ETH_IPV6  0x86dd
#define ETH_ARP   0x0806
#define ETH_LLDP  0x88cc
#define TPID_8021Q  0x8100
#define TPID_8021AD 0x88a8
#define TPID_QINQ   0x9100

enum dir { DIR_IN = 0, DIR_OUT = 1 };
enum size_mix { MIX_IMIX, MIX_64, MIX_RANDOM, MIX_JUMBO };
enum truth_by { BY_INTERVAL, BY_TENANT };

enum mal_reason {
	MAL_SHORT_ETHER, MAL_TOO_MANY_TAGS, MAL_SHORT_IP, MAL_BAD_VERSION,
	MAL_BAD_IHL, MAL_BAD_LENGTH, MAL_COUNT,
};
static const char *const mal_names[MAL_COUNT] = {
	"short_ether", "too_many_tags", "short_ip", "bad_version",
	"bad_ihl", "bad_length",
};

/* ---- errors ------------------------------------------------------------ */

static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* "bandsplit-gen: MESSAGE" (then hint on a line of its own), or with
 * --log-format json one JSON log object. */
static void complain(const char *fmt, va_list ap, const char *hint)
	__attribute__((format(printf, 1, 0)));
static void complain(const char *fmt, va_list ap, const char *hint)
{
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (bs_log_is_json())
		BS_ERROR("%s%s", msg, hint);
	else if (hint[0] != '\0')
		fprintf(stderr, "bandsplit-gen: %s\n%s\n", msg, hint + 1);
	else
		fprintf(stderr, "bandsplit-gen: %s\n", msg);
}

/* Bad arguments or bad input files: exit 2. */
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	complain(fmt, ap, " (see bandsplit-gen --help)");
	va_end(ap);
	exit(2);
}

/* I/O and resource failures: exit 1. */
static void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	complain(fmt, ap, "");
	va_end(ap);
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

static void *xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	void *q = realloc(p, n * size);
	if (!q)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return q;
}

/* ---- random numbers: xoshiro256** seeded by splitmix64 ------------------ */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n), n > 0 (multiply-shift; the bias is negligible). */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
	assert(n > 0);
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static bool rng_ppm(struct rng *r, uint32_t ppm)
{
	return rng_below(r, PPM) < ppm;
}

/* ---- options ------------------------------------------------------------ */

struct options {
	const char *out, *map, *truth, *reuse_map;
	uint64_t map_version;
	enum truth_by truth_by;
	uint64_t seed;
	uint32_t tenants;
	bool sparse_ids;
	bool no_nested;         /* no tenant's prefix inside another's */
	uint32_t v4_per_tenant, v6_per_tenant;
	uint64_t packets;
	uint64_t start, duration, interval;
	enum bs_port_role role;
	uint32_t pool;
	uint32_t vlan_pool[4096];   /* VID → pool, 0 = no mapping */
	uint16_t mapped_vids[GEN_MAX_VLAN_POOLS];
	uint32_t n_mapped_vids;
	uint32_t vlan_ppm, v4_ppm, unattributed_ppm, malformed_ppm, non_ip_ppm,
		 intra_ppm;
	bool boundary;
	bool slice;                 /* cut IP frames after their L4 header */
	enum size_mix size_mix;
	bool move_prefix;
};

static const char help_text[] =
"usage: bandsplit-gen --out FILE.pcap [options]\n"
"Writes a deterministic capture (pcap, nanosecond timestamps) of park traffic,\n"
"the tenant prefix map it uses and the exact counts bandsplit-meter must\n"
"report for it when replayed on one port of the given role.\n"
"\n"
"Files:\n"
"  --out FILE            capture to write (required)\n"
"  --map FILE            write the generated prefix map (prefix_map.h format)\n"
"  --map-version N       version of the generated map (default 1)\n"
"  --reuse-map FILE      read this map instead of generating one\n"
"  --move-prefix         also write FILE.v2 (version+1): one prefix moved to a\n"
"                        new tenant owning nothing else; needs --map; the truth\n"
"                        under that map goes to TRUTH.v2\n"
"  --truth FILE          write the ground truth ('-' = stdout)\n"
"  --truth-by interval|tenant\n"
"                        rows per interval (default) or totals per tenant\n"
"Map:\n"
"  --seed N              random seed (default 1)\n"
"  --tenants N           tenants (default 50, ids 1001..)\n"
"  --sparse-ids          random sparse tenant ids instead of 1001..\n"
"  --v4-prefixes-per-tenant N   (default 2, /16../30)\n"
"  --v6-prefixes-per-tenant N   (default 1, /48../64)\n"
"  --no-nested           no prefix inside another (a park model's map)\n"
"                        otherwise: plus nested more-specific prefixes owned by other\n"
"                        tenants (about one per 5 tenants, per family)\n"
"Traffic:\n"
"  --packets N           frames to write (default 100000)\n"
"  --start UNIX_SECONDS  first timestamp (default 1767225600)\n"
"  --duration SECONDS    timestamps spread over [start, start+duration)\n"
"                        (default 60)\n"
"  --interval SECONDS    metering interval for the truth (default 10)\n"
"  --role upstream|downstream|mirror   port role (default upstream)\n"
"  --pool N              the port's default pool (default 1)\n"
"  --vlan-pool VID:POOL  outer VLAN id → pool (repeatable)\n"
"  --vlan-share PCT      frames with VLAN tags, a quarter of them QinQ\n"
"                        (default 10)\n"
"  --v4-share PCT        IPv4 among IP frames (default 60)\n"
"  --unattributed-share PCT  IP frames matching no tenant (default 5)\n"
"  --malformed-share PCT frames that fail parsing (default 0.1)\n"
"  --non-ip-share PCT    ARP/LLDP frames (default 0.2)\n"
"  --intra-share PCT     mirror only: frames between two tenants (default 5)\n"
"  --boundary-packets    also put frames at k*interval s and 1 ns before\n"
"  --size-mix imix|64|random|jumbo   IP sizes 40/576/1500 7:4:1, 60-byte\n"
"                        frames, uniform up to 1500, or frames of 60 (IP 40),\n"
"                        1519, 2049 and 9014 bytes 1:1:1:1 (default imix)\n"
"  --slice               cut every IP frame after its L4 header, as a packet\n"
"                        broker's slicing or a snaplen does (pcap caplen <\n"
"                        len); the truth counts the IP length ('frame': L2\n"
"                        header + IP length); needs --malformed-share 0\n"
"  --log-format FMT      log lines on stderr as 'text' (default) or 'json'\n"
"                        (one JSON object per line: ts, level, program, pid, msg)\n"
"  --help                this text\n"
"  --version             print the version\n"
"\n"
"Truth file: '#' lines are metadata (totals, malformed and non-IP counts,\n"
"per-interval node summaries); then tab-separated rows\n"
"  measure interval_start tenant_id pool_id direction packets bytes\n"
"(--truth-by tenant: without interval_start), measure frame|ip, direction\n"
"in|out, sorted numerically by the key columns in that order.\n"
"Exit status: 0 ok, 1 I/O error, 2 bad arguments or bad map file.\n";

static uint64_t parse_u64(const char *opt, const char *s, uint64_t min,
			  uint64_t max)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		usage_error("%s: '%s' is not a number in %" PRIu64 "..%" PRIu64,
			    opt, s ? s : "", min, max);
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		usage_error("%s: '%s' is not a number in %" PRIu64 "..%" PRIu64,
			    opt, s, min, max);
	return v;
}

/* A percentage 0..100 with up to 4 decimals, as parts per million. */
static uint32_t parse_pct(const char *opt, const char *s)
{
	uint64_t whole = 0, frac = 0;
	unsigned digits = 0, frac_digits = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > 100)
			break;
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9' && frac_digits < 4;
		     p++, frac_digits++)
			frac = frac * 10 + (uint64_t)(*p - '0');
	if (digits == 0 || *p || whole > 100)
		usage_error("%s: '%s' is not a percentage 0..100 (at most 4 "
			    "decimals)", opt, s);
	while (frac_digits++ < 4)
		frac *= 10;
	uint64_t ppm = whole * 10000 + frac;
	if (ppm > PPM)
		usage_error("%s: '%s' is more than 100", opt, s);
	return (uint32_t)ppm;
}

static void parse_vlan_pool(struct options *o, const char *s)
{
	char vid_s[16];
	const char *colon = strchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof vid_s)
		usage_error("--vlan-pool: '%s' is not VID:POOL", s);
	memcpy(vid_s, s, (size_t)(colon - s));
	vid_s[colon - s] = '\0';
	uint64_t vid = parse_u64("--vlan-pool VID", vid_s, 1, 4094);
	uint64_t pool = parse_u64("--vlan-pool POOL", colon + 1, 1, UINT32_MAX);
	if (o->vlan_pool[vid])
		usage_error("--vlan-pool: VLAN %" PRIu64 " mapped twice", vid);
	o->vlan_pool[vid] = (uint32_t)pool;
	assert(o->n_mapped_vids < GEN_MAX_VLAN_POOLS);
	o->mapped_vids[o->n_mapped_vids++] = (uint16_t)vid;
}

enum {
	OPT_OUT = 256, OPT_MAP, OPT_MAP_VERSION, OPT_REUSE_MAP, OPT_MOVE,
	OPT_TRUTH, OPT_TRUTH_BY, OPT_SEED, OPT_TENANTS, OPT_SPARSE, OPT_NO_NESTED, OPT_V4PP,
	OPT_V6PP, OPT_PACKETS, OPT_START, OPT_DURATION, OPT_INTERVAL, OPT_ROLE,
	OPT_POOL, OPT_VLAN_POOL, OPT_VLAN_SHARE, OPT_V4_SHARE, OPT_UNATTR,
	OPT_MALFORMED, OPT_NON_IP, OPT_INTRA, OPT_BOUNDARY, OPT_SIZE_MIX, OPT_SLICE,
	OPT_HELP, OPT_VERSION, OPT_LOG_FORMAT,
};

static const struct option long_opts[] = {
	{ "out", required_argument, NULL, OPT_OUT },
	{ "map", required_argument, NULL, OPT_MAP },
	{ "map-version", required_argument, NULL, OPT_MAP_VERSION },
	{ "reuse-map", required_argument, NULL, OPT_REUSE_MAP },
	{ "move-prefix", no_argument, NULL, OPT_MOVE },
	{ "truth", required_argument, NULL, OPT_TRUTH },
	{ "truth-by", required_argument, NULL, OPT_TRUTH_BY },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "tenants", required_argument, NULL, OPT_TENANTS },
	{ "sparse-ids", no_argument, NULL, OPT_SPARSE },
	{ "no-nested", no_argument, NULL, OPT_NO_NESTED },
	{ "v4-prefixes-per-tenant", required_argument, NULL, OPT_V4PP },
	{ "v6-prefixes-per-tenant", required_argument, NULL, OPT_V6PP },
	{ "packets", required_argument, NULL, OPT_PACKETS },
	{ "start", required_argument, NULL, OPT_START },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "role", required_argument, NULL, OPT_ROLE },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "vlan-pool", required_argument, NULL, OPT_VLAN_POOL },
	{ "vlan-share", required_argument, NULL, OPT_VLAN_SHARE },
	{ "v4-share", required_argument, NULL, OPT_V4_SHARE },
	{ "unattributed-share", required_argument, NULL, OPT_UNATTR },
	{ "malformed-share", required_argument, NULL, OPT_MALFORMED },
	{ "non-ip-share", required_argument, NULL, OPT_NON_IP },
	{ "intra-share", required_argument, NULL, OPT_INTRA },
	{ "boundary-packets", no_argument, NULL, OPT_BOUNDARY },
	{ "size-mix", required_argument, NULL, OPT_SIZE_MIX },
	{ "slice", no_argument, NULL, OPT_SLICE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ NULL, 0, NULL, 0 },
};

static void parse_args(int argc, char **argv, struct options *o)
{
	bool map_shape_given = false, intra_given = false;
	memset(o, 0, sizeof *o);
	o->map_version = 1;
	o->seed = 1;
	o->tenants = 50;
	o->v4_per_tenant = 2;
	o->v6_per_tenant = 1;
	o->packets = 100000;
	o->start = 1767225600;
	o->duration = 60;
	o->interval = 10;
	o->pool = 1;
	o->vlan_ppm = 100000;
	o->v4_ppm = 600000;
	o->unattributed_ppm = 50000;
	o->malformed_ppm = 1000;
	o->non_ip_ppm = 2000;
	o->intra_ppm = 50000;

	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_OUT: o->out = optarg; break;
		case OPT_MAP: o->map = optarg; break;
		case OPT_MAP_VERSION:
			o->map_version = parse_u64("--map-version", optarg, 1,
						   UINT64_MAX - 1);
			map_shape_given = true;
			break;
		case OPT_REUSE_MAP: o->reuse_map = optarg; break;
		case OPT_MOVE: o->move_prefix = true; break;
		case OPT_TRUTH: o->truth = optarg; break;
		case OPT_TRUTH_BY:
			if (!strcmp(optarg, "interval"))
				o->truth_by = BY_INTERVAL;
			else if (!strcmp(optarg, "tenant"))
				o->truth_by = BY_TENANT;
			else
				usage_error("--truth-by: '%s' is not interval "
					    "or tenant", optarg);
			break;
		case OPT_SEED:
			o->seed = parse_u64("--seed", optarg, 0, UINT64_MAX);
			break;
		case OPT_TENANTS:
			o->tenants = (uint32_t)parse_u64("--tenants", optarg, 1,
							 GEN_MAX_TENANTS);
			map_shape_given = true;
			break;
		case OPT_NO_NESTED: o->no_nested = true; map_shape_given = true; break;
		case OPT_SPARSE: o->sparse_ids = true; map_shape_given = true;
			break;
		case OPT_V4PP:
			o->v4_per_tenant = (uint32_t)parse_u64(
				"--v4-prefixes-per-tenant", optarg, 0,
				GEN_MAX_PER_TENANT);
			map_shape_given = true;
			break;
		case OPT_V6PP:
			o->v6_per_tenant = (uint32_t)parse_u64(
				"--v6-prefixes-per-tenant", optarg, 0,
				GEN_MAX_PER_TENANT);
			map_shape_given = true;
			break;
		case OPT_PACKETS:
			o->packets = parse_u64("--packets", optarg, 1,
					       GEN_MAX_PACKETS);
			break;
		case OPT_START:
			o->start = parse_u64("--start", optarg, 0, UINT32_MAX);
			break;
		case OPT_DURATION:
			o->duration = parse_u64("--duration", optarg, 1,
						GEN_MAX_DURATION_S);
			break;
		case OPT_INTERVAL:
			o->interval = parse_u64("--interval", optarg, 1,
						GEN_MAX_INTERVAL_S);
			break;
		case OPT_ROLE:
			if (bs_port_role_parse(optarg, strlen(optarg),
					       &o->role) < 0)
				usage_error("--role: '%s' is not upstream, "
					    "downstream or mirror", optarg);
			break;
		case OPT_POOL:
			o->pool = (uint32_t)parse_u64("--pool", optarg, 1,
						      UINT32_MAX);
			break;
		case OPT_VLAN_POOL: parse_vlan_pool(o, optarg); break;
		case OPT_VLAN_SHARE:
			o->vlan_ppm = parse_pct("--vlan-share", optarg);
			break;
		case OPT_V4_SHARE:
			o->v4_ppm = parse_pct("--v4-share", optarg);
			break;
		case OPT_UNATTR:
			o->unattributed_ppm = parse_pct("--unattributed-share",
							optarg);
			break;
		case OPT_MALFORMED:
			o->malformed_ppm = parse_pct("--malformed-share", optarg);
			break;
		case OPT_NON_IP:
			o->non_ip_ppm = parse_pct("--non-ip-share", optarg);
			break;
		case OPT_INTRA:
			o->intra_ppm = parse_pct("--intra-share", optarg);
			intra_given = true;
			break;
		case OPT_BOUNDARY: o->boundary = true; break;
		case OPT_SIZE_MIX:
			if (!strcmp(optarg, "imix"))
				o->size_mix = MIX_IMIX;
			else if (!strcmp(optarg, "64"))
				o->size_mix = MIX_64;
			else if (!strcmp(optarg, "random"))
				o->size_mix = MIX_RANDOM;
			else if (!strcmp(optarg, "jumbo"))
				o->size_mix = MIX_JUMBO;
			else
				usage_error("--size-mix: '%s' is not imix, 64, "
					    "random or jumbo", optarg);
			break;
		case OPT_SLICE: o->slice = true; break;
		case OPT_HELP:
			fputs(help_text, stdout);
			exit(0);
		case OPT_VERSION:
			printf("bandsplit-gen %s\n", BS_PACKAGE_VERSION);
			exit(0);
		case OPT_LOG_FORMAT:
			if (bs_log_format_option("bandsplit-gen", optarg) < 0)
				exit(2);
			break;
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->out)
		usage_error("--out FILE.pcap is required");
	if (o->reuse_map && map_shape_given)
		usage_error("--reuse-map cannot be combined with --tenants, "
			    "--sparse-ids, --v4/v6-prefixes-per-tenant or "
			    "--map-version (the map file decides them)");
	if (o->reuse_map && o->map)
		usage_error("--reuse-map and --map are exclusive");
	if (o->move_prefix && !o->map)
		usage_error("--move-prefix needs --map (FILE.v2 is written "
			    "beside it)");
	if (!o->reuse_map && o->v4_per_tenant + o->v6_per_tenant == 0)
		usage_error("a tenant needs at least one prefix");
	if (!o->reuse_map &&
	    (uint64_t)o->tenants * o->v4_per_tenant > GEN_MAX_V4_TOP)
		usage_error("--tenants x --v4-prefixes-per-tenant must be at "
			    "most %u", GEN_MAX_V4_TOP);
	if (!o->reuse_map &&
	    (uint64_t)o->tenants * o->v6_per_tenant > GEN_MAX_V6_TOP)
		usage_error("--tenants x --v6-prefixes-per-tenant must be at "
			    "most %u", GEN_MAX_V6_TOP);
	if (intra_given && o->role != BS_ROLE_MIRROR && o->intra_ppm)
		usage_error("--intra-share only applies to --role mirror");
	if (o->role != BS_ROLE_MIRROR)
		o->intra_ppm = 0;
	/* A frame whose IP length lies is what a sliced frame looks like. */
	if (o->slice && o->malformed_ppm > 0)
		usage_error("--slice needs --malformed-share 0");
	if ((uint64_t)o->malformed_ppm + o->non_ip_ppm > PPM)
		usage_error("--malformed-share + --non-ip-share exceed 100");
	if ((uint64_t)o->unattributed_ppm + o->intra_ppm > PPM)
		usage_error("--unattributed-share + --intra-share exceed 100");
	if (o->start + o->duration > (uint64_t)UINT32_MAX + 1)
		usage_error("--start + --duration must stay within 32-bit pcap "
			    "seconds");
	uint64_t first_iv = o->start / o->interval;
	uint64_t last_iv = (o->start + o->duration - 1) / o->interval;
	if (last_iv - first_iv + 1 > GEN_MAX_INTERVALS)
		usage_error("--duration / --interval spans more than %u "
			    "intervals", GEN_MAX_INTERVALS);
}

/* ---- prefix map ---------------------------------------------------------- */

struct prefix {
	uint8_t family;        /* 4 or 6 */
	uint8_t depth;
	uint32_t v4;           /* host order, host bits zero */
	uint8_t v6[16];        /* network order, host bits zero */
	uint32_t tenant;
	uint32_t ep_begin, ep_count;   /* its endpoints (see below) */
};

struct lpm_entry {
	uint8_t depth;
	uint32_t v4;
	uint8_t v6[16];
	uint32_t prefix;       /* index into map.p */
};

struct lpm_group {
	uint8_t depth;
	uint32_t begin, end;   /* range of entries with this depth */
};

/* Entries sorted by (depth descending, address), grouped by depth: a lookup
 * binary-searches each depth from the longest, the first hit wins. */
struct lpm {
	struct lpm_entry *e;
	uint32_t n;
	struct lpm_group g[129];
	uint32_t n_groups;
};

struct prefix_map {
	uint64_t version;
	struct prefix *p;
	uint32_t n, cap;
	uint32_t n4, n6;
	uint32_t *fam4, *fam6;         /* prefix indices per family */
	struct lpm lpm4, lpm6;
	uint32_t max_tenant;
	uint32_t n_tenants;
};

static uint32_t mask4(unsigned depth)
{
	assert(depth <= 32);
	return depth == 0 ? 0 : ~(uint32_t)0 << (32 - depth);
}

static void mask6(uint8_t out[16], const uint8_t in[16], unsigned depth)
{
	assert(depth <= 128);
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = depth > i * 8 ? depth - i * 8 : 0;
		uint8_t m = bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);
		out[i] = in[i] & m;
	}
}

static uint32_t map_add(struct prefix_map *m, const struct prefix *p)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->p = xrealloc(m->p, m->cap, sizeof *m->p);
	}
	m->p[m->n] = *p;
	if (p->family == 4)
		m->n4++;
	else
		m->n6++;
	return m->n++;
}

static int cmp_lpm_entry(const void *a, const void *b)
{
	const struct lpm_entry *x = a, *y = b;
	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	if (x->v4 != y->v4)
		return x->v4 < y->v4 ? -1 : 1;
	return memcmp(x->v6, y->v6, 16);
}

/* Builds the lookup for one family. Returns the index of a prefix listed
 * twice, or -1. */
static int64_t lpm_build(struct lpm *l, const struct prefix_map *m,
			 uint8_t family)
{
	l->n = 0;
	l->e = xcalloc(family == 4 ? m->n4 : m->n6, sizeof *l->e);
	for (uint32_t i = 0; i < m->n; i++) {
		if (m->p[i].family != family)
			continue;
		struct lpm_entry *e = &l->e[l->n++];
		e->depth = m->p[i].depth;
		e->v4 = m->p[i].v4;
		memcpy(e->v6, m->p[i].v6, 16);
		e->prefix = i;
	}
	qsort(l->e, l->n, sizeof *l->e, cmp_lpm_entry);
	l->n_groups = 0;
	for (uint32_t i = 0; i < l->n; i++) {
		if (i > 0 && cmp_lpm_entry(&l->e[i - 1], &l->e[i]) == 0)
			return l->e[i].prefix;
		if (l->n_groups == 0 ||
		    l->g[l->n_groups - 1].depth != l->e[i].depth) {
			assert(l->n_groups < 129);
			l->g[l->n_groups].depth = l->e[i].depth;
			l->g[l->n_groups].begin = i;
			l->n_groups++;
		}
		l->g[l->n_groups - 1].end = i + 1;
	}
	return -1;
}

/* Longest match of an address (v4 host order, or v6 bytes): prefix index or
 * -1. */
static int64_t lpm_lookup(const struct lpm *l, uint32_t v4, const uint8_t *v6)
{
	for (uint32_t g = 0; g < l->n_groups; g++) {
		struct lpm_entry key = { .depth = l->g[g].depth };
		if (v6)
			mask6(key.v6, v6, key.depth);
		else
			key.v4 = v4 & mask4(key.depth);
		uint32_t lo = l->g[g].begin, hi = l->g[g].end;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			int c = cmp_lpm_entry(&l->e[mid], &key);
			if (c == 0)
				return l->e[mid].prefix;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return -1;
}

static void format_prefix(const struct prefix *p, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	if (p->family == 4) {
		uint32_t n = htonl(p->v4);
		inet_ntop(AF_INET, &n, a, sizeof a);
	} else {
		inet_ntop(AF_INET6, p->v6, a, sizeof a);
	}
	snprintf(buf, size, "%s/%u", a, p->depth);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Family lists, lookups, tenant statistics. `name` names the map in errors
 * (a duplicate prefix in a file the user gave us is their error). */
static void map_finish(struct prefix_map *m, const char *name)
{
	m->fam4 = xcalloc(m->n4, sizeof *m->fam4);
	m->fam6 = xcalloc(m->n6, sizeof *m->fam6);
	uint32_t i4 = 0, i6 = 0;
	uint32_t *ids = xcalloc(m->n, sizeof *ids);
	for (uint32_t i = 0; i < m->n; i++) {
		if (m->p[i].family == 4)
			m->fam4[i4++] = i;
		else
			m->fam6[i6++] = i;
		ids[i] = m->p[i].tenant;
	}
	int64_t dup = lpm_build(&m->lpm4, m, 4);
	if (dup < 0)
		dup = lpm_build(&m->lpm6, m, 6);
	if (dup >= 0) {
		char buf[64];
		format_prefix(&m->p[dup], buf, sizeof buf);
		usage_error("%s: prefix %s is listed twice", name, buf);
	}
	qsort(ids, m->n, sizeof *ids, cmp_u32);
	m->n_tenants = 0;
	m->max_tenant = 0;
	for (uint32_t i = 0; i < m->n; i++) {
		if (i == 0 || ids[i] != ids[i - 1])
			m->n_tenants++;
		m->max_tenant = ids[i] > m->max_tenant ? ids[i] : m->max_tenant;
	}
	free(ids);
}

/* ---- map generation ------------------------------------------------------ */

/* Tenant ids: 1001.. or distinct random ids. */
static uint32_t *make_tenant_ids(struct rng *r, const struct options *o)
{
	uint32_t *ids = xcalloc(o->tenants, sizeof *ids);
	for (uint32_t i = 0; i < o->tenants; i++)
		ids[i] = 1001 + i;
	if (!o->sparse_ids)
		return ids;
	uint32_t *sorted = xcalloc(o->tenants, sizeof *sorted);
	for (;;) {
		for (uint32_t i = 0; i < o->tenants; i++)
			ids[i] = 1 + (uint32_t)rng_below(r, UINT32_MAX - 1);
		memcpy(sorted, ids, o->tenants * sizeof *ids);
		qsort(sorted, o->tenants, sizeof *sorted, cmp_u32);
		bool dup = false;
		for (uint32_t i = 1; i < o->tenants && !dup; i++)
			dup = sorted[i] == sorted[i - 1];
		if (!dup)
			break;
	}
	free(sorted);
	return ids;
}

/* A top-level v4 prefix in its own /16 block (first octet 11..223 except
 * 127), so top-level prefixes never overlap one another. */
static struct prefix gen_top_v4(struct rng *r, uint8_t *used16, uint32_t tenant)
{
	uint32_t block;
	do {
		uint32_t a = 11 + (uint32_t)rng_below(r, 223 - 11 + 1);
		block = a << 8 | (uint32_t)rng_below(r, 256);
	} while ((block >> 8) == 127 || used16[block]);
	used16[block] = 1;
	struct prefix p = { .family = 4, .tenant = tenant };
	p.depth = (uint8_t)(16 + rng_below(r, 15));
	p.v4 = (block << 16 | (uint32_t)rng_below(r, 1u << 16)) & mask4(p.depth);
	return p;
}

/* A top-level v6 prefix in its own /40 block under 2000::/4.. 2fff::. */
static struct prefix gen_top_v6(struct rng *r, uint64_t *used40,
				uint32_t used_size, uint32_t tenant)
{
	uint64_t block;
	for (;;) {
		block = (0x2000ull + rng_below(r, 0x1000)) << 24 |
			rng_below(r, 1u << 24);
		uint32_t h = (uint32_t)((block * 0x9e3779b97f4a7c15ull) >> 40) &
			     (used_size - 1);
		while (used40[h] && used40[h] != block)
			h = (h + 1) & (used_size - 1);
		if (!used40[h]) {
			used40[h] = block;
			break;
		}
	}
	struct prefix p = { .family = 6, .tenant = tenant };
	p.depth = (uint8_t)(48 + rng_below(r, 17));
	uint8_t a[16] = { 0 };
	for (int i = 0; i < 5; i++)
		a[i] = (uint8_t)(block >> (32 - 8 * i));
	for (int i = 5; i < 8; i++)
		a[i] = (uint8_t)rng_below(r, 256);
	mask6(p.v6, a, p.depth);
	return p;
}

/* A more specific prefix inside `parent` for another tenant: 1..8 bits
 * longer, at most /30 or /64. */
static struct prefix gen_nested(struct rng *r, const struct prefix *parent,
				uint32_t tenant)
{
	struct prefix c = *parent;
	unsigned max_depth = parent->family == 4 ? 30 : 64;
	assert(parent->depth < max_depth);
	unsigned room = max_depth - parent->depth;
	c.tenant = tenant;
	c.depth = (uint8_t)(parent->depth + 1 + rng_below(r, room < 8 ? room : 8));
	if (c.family == 4) {
		c.v4 = (parent->v4 | ((uint32_t)rng_next(r) & ~mask4(parent->depth)))
		       & mask4(c.depth);
	} else {
		uint8_t a[16], host[16];
		for (int i = 0; i < 16; i++)
			a[i] = (uint8_t)rng_below(r, 256);
		mask6(host, a, parent->depth);
		for (int i = 0; i < 16; i++)
			a[i] = parent->v6[i] | (a[i] & (uint8_t)~host[i]);
		mask6(c.v6, a, c.depth);
	}
	c.ep_begin = c.ep_count = 0;
	return c;
}

static bool same_prefix(const struct prefix *a, const struct prefix *b)
{
	return a->family == b->family && a->depth == b->depth &&
	       a->v4 == b->v4 && !memcmp(a->v6, b->v6, 16);
}

/* Nested prefixes of one family: about one per 5 tenants, each owned by a
 * random tenant inside a random earlier prefix (possibly itself nested) of
 * another tenant. Top-level prefixes sit in distinct blocks, so only two
 * nested ones could be equal: those are redrawn. */
static void gen_nested_family(struct rng *r, struct prefix_map *m,
			      const uint32_t *ids, uint32_t n_ids,
			      uint8_t family, uint32_t first_nested)
{
	uint32_t want = n_ids >= 2 ? (n_ids + 4) / 5 : 0;
	unsigned max_depth = family == 4 ? 30 : 64;
	uint32_t n_family = family == 4 ? m->n4 : m->n6;
	if (n_family == 0)
		return;
	for (uint32_t k = 0, tries = 0; k < want && tries < want * 100; tries++) {
		uint32_t pi = (uint32_t)rng_below(r, m->n);
		const struct prefix *parent = &m->p[pi];
		uint32_t owner = ids[rng_below(r, n_ids)];
		if (parent->family != family || parent->depth >= max_depth ||
		    parent->tenant == owner)
			continue;
		struct prefix c = gen_nested(r, parent, owner);
		bool dup = false;
		for (uint32_t i = first_nested; i < m->n && !dup; i++)
			dup = same_prefix(&m->p[i], &c);
		if (dup)
			continue;
		map_add(m, &c);
		k++;
	}
}

static void generate_map(struct rng *r, const struct options *o,
			 struct prefix_map *m)
{
	uint32_t *ids = make_tenant_ids(r, o);
	uint8_t *used16 = xcalloc(1u << 16, 1);
	uint32_t used_size = 1;
	while (used_size < 2 * o->tenants * o->v6_per_tenant + 2)
		used_size <<= 1;
	uint64_t *used40 = xcalloc(used_size, sizeof *used40);
	m->version = o->map_version;
	for (uint32_t t = 0; t < o->tenants; t++) {
		for (uint32_t k = 0; k < o->v4_per_tenant; k++) {
			struct prefix p = gen_top_v4(r, used16, ids[t]);
			map_add(m, &p);
		}
		for (uint32_t k = 0; k < o->v6_per_tenant; k++) {
			struct prefix p = gen_top_v6(r, used40, used_size, ids[t]);
			map_add(m, &p);
		}
	}
	uint32_t first_nested = m->n;
	if (!o->no_nested) {
		gen_nested_family(r, m, ids, o->tenants, 4, first_nested);
		gen_nested_family(r, m, ids, o->tenants, 6, first_nested);
	}
	free(used40);
	free(used16);
	free(ids);
	map_finish(m, "generated map");
}

/* ---- map file input (--reuse-map): the common prefix-map parser --------- */

/* Adds the parsed map's prefixes in file order (the parser keeps each
 * family's own order and every prefix's line). */
static void read_map(const char *path, struct prefix_map *m)
{
	struct bs_prefix_map pm;
	char err[1024];
	if (bs_prefix_map_load(path, &pm, err, sizeof err) != 0)
		usage_error("%s", err);
	if (pm.version == UINT64_MAX)
		usage_error("%s: version %" PRIu64 " leaves no room for the "
			    "moved map's version + 1", path, pm.version);
	m->version = pm.version;
	uint32_t i4 = 0, i6 = 0;
	while (i4 < pm.n_v4 || i6 < pm.n_v6) {
		struct prefix p = { 0 };
		if (i6 == pm.n_v6 ||
		    (i4 < pm.n_v4 && pm.line_v4[i4] < pm.line_v6[i6])) {
			p.family = 4;
			p.v4 = pm.v4[i4].addr;
			p.depth = pm.v4[i4].depth;
			p.tenant = pm.v4[i4].tenant_id;
			i4++;
		} else {
			p.family = 6;
			memcpy(p.v6, pm.v6[i6].addr, 16);
			p.depth = pm.v6[i6].depth;
			p.tenant = pm.v6[i6].tenant_id;
			i6++;
		}
		map_add(m, &p);
	}
	bs_prefix_map_free(&pm);
	if (m->n == 0)
		usage_error("%s: no prefixes", path);
	map_finish(m, path);
}

/* ---- map file output ------------------------------------------------------ */

static FILE *open_tmp(const char *path, char *tmp, size_t size)
{
	if ((size_t)snprintf(tmp, size, "%s.tmp", path) >= size)
		usage_error("path too long: %s", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		fatal("%s: %s", tmp, strerror(errno));
	return f;
}

/* Closes and renames into place, so a watcher never sees half a file. */
static void commit_tmp(FILE *f, const char *tmp, const char *path)
{
	if (ferror(f) || fclose(f) != 0)
		fatal("%s: write error: %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0)
		fatal("rename %s → %s: %s", tmp, path, strerror(errno));
}

/* `moved` ≥ 0: that prefix is written with `new_tenant`. */
static void write_map(const char *path, const struct prefix_map *m,
		      uint64_t version, uint64_t seed, int64_t moved,
		      uint32_t new_tenant)
{
	char tmp[4096];
	FILE *f = open_tmp(path, tmp, sizeof tmp);
	char comment[160];
	snprintf(comment, sizeof comment, "tenant prefix map written by "
		 "bandsplit-gen (seed %" PRIu64 ", %" PRIu32 " IPv4 and %" PRIu32
		 " IPv6 prefixes)", seed, m->n4, m->n6);
	bs_prefix_map_write_head(f, comment, version);
	for (uint32_t i = 0; i < m->n; i++) {
		const struct prefix *p = &m->p[i];
		uint32_t tenant = (int64_t)i == moved ? new_tenant : p->tenant;
		if (p->family == 4)
			bs_prefix_map_write_v4(f, p->v4, p->depth, tenant);
		else
			bs_prefix_map_write_v6(f, p->v6, p->depth, tenant);
	}
	commit_tmp(f, tmp, path);
}

/* ---- endpoints: every address a frame may carry, classified once -------- */

struct endpoint {
	uint8_t family;
	uint32_t v4;           /* host order */
	uint8_t v6[16];
	uint32_t tenant;       /* LPM in the map, 0 = none */
	uint32_t tenant2;      /* LPM in the moved map (FILE.v2) */
	bool in_moved;         /* matched by the moved prefix */
};

struct endpoints {
	struct endpoint *e;    /* per prefix: prefix.ep_begin.. */
	uint32_t n, cap;
	struct endpoint remote4[GEN_REMOTES], remote6[GEN_REMOTES];
	int64_t moved;         /* prefix index, -1 if none */
	uint32_t moved_to;     /* its tenant in the v2 map */
};

static void classify(const struct prefix_map *m, struct endpoints *eps,
		     struct endpoint *e)
{
	int64_t pi = e->family == 4 ? lpm_lookup(&m->lpm4, e->v4, NULL)
				    : lpm_lookup(&m->lpm6, 0, e->v6);
	e->tenant = pi < 0 ? 0 : m->p[pi].tenant;
	e->in_moved = pi >= 0 && pi == eps->moved;
	e->tenant2 = e->in_moved ? eps->moved_to : e->tenant;
}

static void add_endpoint(struct endpoints *eps, const struct endpoint *e)
{
	if (eps->n == eps->cap) {
		eps->cap = eps->cap ? eps->cap * 2 : 1024;
		eps->e = xrealloc(eps->e, eps->cap, sizeof *eps->e);
	}
	eps->e[eps->n++] = *e;
}

/* v6 address ± 1; false if it wraps. */
static bool v6_step(uint8_t a[16], int delta)
{
	for (int i = 15; i >= 0; i--) {
		if (delta > 0) {
			if (++a[i] != 0)
				return true;
		} else {
			if (a[i]-- != 0)
				return true;
		}
	}
	return false;
}

/* A prefix's addresses: its first, its last, random ones inside, and the
 * addresses just outside it when another prefix holds them (the edges of a
 * nested prefix inside its parent). */
static void make_prefix_endpoints(struct rng *r, struct prefix_map *m,
				  struct endpoints *eps, uint32_t pi)
{
	const struct prefix *p = &m->p[pi];
	struct endpoint cand[GEN_EP_RANDOM + 4];
	unsigned n = 0;
	memset(cand, 0, sizeof cand);
	if (p->family == 4) {
		uint32_t host = ~mask4(p->depth);
		cand[n++].v4 = p->v4;
		cand[n++].v4 = p->v4 | host;
		for (int k = 0; k < GEN_EP_RANDOM; k++)
			cand[n++].v4 = p->v4 | ((uint32_t)rng_next(r) & host);
		if (p->v4 != 0)
			cand[n++].v4 = p->v4 - 1;
		if ((p->v4 | host) != UINT32_MAX)
			cand[n++].v4 = (p->v4 | host) + 1;
	} else {
		uint8_t netmask[16], ones[16] = { 0 };
		memset(ones, 0xff, sizeof ones);
		mask6(netmask, ones, p->depth);
		uint8_t last[16];
		for (int i = 0; i < 16; i++)
			last[i] = p->v6[i] | (uint8_t)~netmask[i];
		memcpy(cand[n++].v6, p->v6, 16);
		memcpy(cand[n++].v6, last, 16);
		for (int k = 0; k < GEN_EP_RANDOM; k++, n++)
			for (int i = 0; i < 16; i++)
				cand[n].v6[i] = p->v6[i] |
					((uint8_t)rng_below(r, 256) &
					 (uint8_t)~netmask[i]);
		memcpy(cand[n].v6, p->v6, 16);
		if (v6_step(cand[n].v6, -1))
			n++;
		memcpy(cand[n].v6, last, 16);
		if (v6_step(cand[n].v6, +1))
			n++;
	}
	uint32_t begin = eps->n;
	for (unsigned k = 0; k < n; k++) {
		cand[k].family = p->family;
		classify(m, eps, &cand[k]);
		/* The edge addresses outside the prefix are kept only when
		 * another prefix holds them. */
		if (k >= 2 + GEN_EP_RANDOM && cand[k].tenant == 0)
			continue;
		add_endpoint(eps, &cand[k]);
	}
	m->p[pi].ep_begin = begin;
	m->p[pi].ep_count = eps->n - begin;
}

/* Remote (internet-side) addresses: random unicast addresses that match no
 * prefix where possible; when the map covers everything they match what
 * they match, the truth follows the classification either way. */
static void make_remote(struct rng *r, const struct prefix_map *m,
			struct endpoints *eps, struct endpoint *e, uint8_t family)
{
	for (int tries = 0; tries < 10000; tries++) {
		memset(e, 0, sizeof *e);
		e->family = family;
		if (family == 4) {
			uint32_t a;
			do {
				a = (uint32_t)rng_next(r);
			} while ((a >> 24) == 0 || (a >> 24) == 127 ||
				 (a >> 24) >= 224);
			e->v4 = a;
		} else {
			for (int i = 0; i < 16; i++)
				e->v6[i] = (uint8_t)rng_below(r, 256);
			e->v6[0] = (uint8_t)(0x20 | (e->v6[0] & 0x0f));
		}
		classify(m, eps, e);
		if (e->tenant == 0)
			return;
	}
}

/* Does any other v4 prefix sit inside p? */
static bool v4_has_nested(const struct prefix_map *m, uint32_t pi)
{
	const struct prefix *p = &m->p[pi];
	for (uint32_t j = 0; j < m->n; j++) {
		const struct prefix *q = &m->p[j];
		if (j != pi && q->family == 4 && q->depth > p->depth &&
		    (q->v4 & mask4(p->depth)) == p->v4)
			return true;
	}
	return false;
}

/* Picks the prefix to move (a random v4 prefix with no prefix nested in it,
 * after a bounded number of draws any prefix) and the new tenant id, owning
 * nothing else. */
static void choose_moved(struct rng *r, const struct prefix_map *m,
			 struct endpoints *eps, bool sparse)
{
	uint32_t pi = (uint32_t)rng_below(r, m->n);
	for (int tries = 0; tries < 1000; tries++) {
		if (m->p[pi].family == 4 && !v4_has_nested(m, pi))
			break;
		pi = (uint32_t)rng_below(r, m->n);
	}
	eps->moved = pi;
	uint32_t *ids = xcalloc(m->n, sizeof *ids);
	for (uint32_t i = 0; i < m->n; i++)
		ids[i] = m->p[i].tenant;
	qsort(ids, m->n, sizeof *ids, cmp_u32);
	uint32_t id = m->max_tenant < UINT32_MAX && !sparse ? m->max_tenant + 1 : 0;
	while (id == 0 || bsearch(&id, ids, m->n, sizeof *ids, cmp_u32))
		id = 1 + (uint32_t)rng_below(r, UINT32_MAX - 1);
	eps->moved_to = id;
	free(ids);
}

static void make_endpoints(struct rng *r, struct prefix_map *m,
			   struct endpoints *eps, const struct options *o)
{
	eps->moved = -1;
	if (o->move_prefix)
		choose_moved(r, m, eps, o->sparse_ids);
	for (uint32_t i = 0; i < m->n; i++)
		make_prefix_endpoints(r, m, eps, i);
	for (int i = 0; i < GEN_REMOTES; i++) {
		make_remote(r, m, eps, &eps->remote4[i], 4);
		make_remote(r, m, eps, &eps->remote6[i], 6);
	}
}

/* ---- ground truth accumulation ------------------------------------------- */

struct cell {
	uint32_t iv;           /* interval index from the first interval */
	uint32_t tenant, pool;
	uint8_t dir;
	bool used;
	uint64_t packets, frame_bytes, ip_bytes;
};

struct truth {
	struct cell *c;
	uint32_t size, count;  /* size a power of two, count ≤ size / 2 */
};

static uint64_t cell_hash(uint32_t iv, uint32_t tenant, uint32_t pool,
			  uint8_t dir)
{
	uint64_t h = (uint64_t)iv * 0x9e3779b97f4a7c15ull;
	h ^= ((uint64_t)tenant << 1 | dir) * 0xc2b2ae3d27d4eb4full;
	h ^= (uint64_t)pool * 0x165667b19e3779f9ull;
	return h ^ (h >> 29);
}

static struct cell *truth_slot(struct cell *c, uint32_t size, uint32_t iv,
			       uint32_t tenant, uint32_t pool, uint8_t dir)
{
	uint32_t i = (uint32_t)cell_hash(iv, tenant, pool, dir) & (size - 1);
	while (c[i].used && !(c[i].iv == iv && c[i].tenant == tenant &&
			      c[i].pool == pool && c[i].dir == dir))
		i = (i + 1) & (size - 1);
	return &c[i];
}

static void truth_grow(struct truth *t)
{
	uint32_t size = t->size ? t->size * 2 : 4096;
	if (size == 0 || size > (1u << 30))
		fatal("ground truth table too large");
	struct cell *c = xcalloc(size, sizeof *c);
	for (uint32_t i = 0; i < t->size; i++) {
		if (!t->c[i].used)
			continue;
		const struct cell *o = &t->c[i];
		*truth_slot(c, size, o->iv, o->tenant, o->pool, o->dir) = *o;
	}
	free(t->c);
	t->c = c;
	t->size = size;
}

static void truth_add(struct truth *t, uint32_t iv, uint32_t tenant,
		      uint32_t pool, uint8_t dir, uint32_t frame_len,
		      uint32_t ip_len)
{
	if ((t->count + 1) * 2 > t->size)
		truth_grow(t);
	struct cell *c = truth_slot(t->c, t->size, iv, tenant, pool, dir);
	if (!c->used) {
		c->used = true;
		c->iv = iv;
		c->tenant = tenant;
		c->pool = pool;
		c->dir = dir;
		t->count++;
	}
	c->packets++;
	c->frame_bytes += frame_len;
	c->ip_bytes += ip_len;
}

/* The metering rule for one IP frame, for the tenants of one map. */
static void count_ip(struct truth *t, enum bs_port_role role, uint32_t iv,
		     uint32_t pool, uint32_t src_tenant, uint32_t dst_tenant,
		     uint32_t frame_len, uint32_t ip_len)
{
	switch (role) {
	case BS_ROLE_UPSTREAM:
		truth_add(t, iv, dst_tenant, pool, DIR_IN, frame_len, ip_len);
		break;
	case BS_ROLE_DOWNSTREAM:
		truth_add(t, iv, src_tenant, pool, DIR_OUT, frame_len, ip_len);
		break;
	case BS_ROLE_MIRROR:
		if (dst_tenant)
			truth_add(t, iv, dst_tenant, pool, DIR_IN, frame_len,
				  ip_len);
		if (src_tenant)
			truth_add(t, iv, src_tenant, pool, DIR_OUT, frame_len,
				  ip_len);
		if (!dst_tenant && !src_tenant)
			truth_add(t, iv, 0, pool, DIR_IN, frame_len, ip_len);
		break;
	}
}

/* Node buckets of one interval (the summary record). */
struct node_counts {
	uint64_t rx_packets, rx_bytes;
	uint64_t malformed_packets, malformed_bytes;
	uint64_t non_ip_packets, non_ip_bytes;
};

struct stats {
	struct node_counts total;
	struct node_counts *iv;        /* per interval index */
	uint32_t n_iv;
	uint64_t ip_packets, ipv4_packets, ipv6_packets, tagged, qinq;
	uint64_t boundary_packets, moved_packets;
	uint64_t sliced_ip_packets;    /* --slice: frames shorter than their IP length */
	uint64_t mal_reason[MAL_COUNT];
};

/* ---- frames --------------------------------------------------------------- */

struct tags {
	uint8_t n;
	uint16_t tpid[3];
	uint16_t vid[3];
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Ethernet header and tags; returns its length. */
static uint32_t put_l2(uint8_t *b, const struct tags *t, uint16_t ethertype)
{
	static const uint8_t macs[12] = {
		0x02, 0x00, 0x5e, 0x10, 0x00, 0x01,   /* dst */
		0x02, 0x00, 0x5e, 0x20, 0x00, 0x02,   /* src */
	};
	memcpy(b, macs, sizeof macs);
	uint32_t off = 12;
	for (unsigned i = 0; i < t->n; i++, off += 4) {
		put16(b + off, t->tpid[i]);
		put16(b + off + 2, t->vid[i] & 0x0fff);
	}
	put16(b + off, ethertype);
	return off + 2;
}

static uint16_t ipv4_checksum(const uint8_t *h, unsigned len)
{
	uint32_t sum = 0;
	for (unsigned i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* VLAN tags of a frame: none, one 802.1Q, or QinQ with an 802.1ad, old
 * 0x9100 or 802.1Q outer tag. Outer VIDs are mapped ones most of the time
 * when --vlan-pool is given, sometimes unmapped, rarely 0 (priority tag). */
static void choose_tags(struct rng *r, const struct options *o, struct tags *t)
{
	t->n = 0;
	if (!rng_ppm(r, o->vlan_ppm))
		return;
	uint16_t outer;
	uint64_t pick = rng_below(r, 32);
	if (pick == 0)
		outer = 0;
	else if (o->n_mapped_vids && pick < 24)
		outer = o->mapped_vids[rng_below(r, o->n_mapped_vids)];
	else
		outer = (uint16_t)(1 + rng_below(r, 4094));
	if (rng_below(r, 4) == 0) {
		static const uint16_t outer_tpids[3] = {
			TPID_8021AD, TPID_QINQ, TPID_8021Q };
		t->n = 2;
		t->tpid[0] = outer_tpids[rng_below(r, 3)];
		t->tpid[1] = TPID_8021Q;
		t->vid[1] = (uint16_t)(1 + rng_below(r, 4094));
	} else {
		t->n = 1;
		t->tpid[0] = TPID_8021Q;
	}
	t->vid[0] = outer;
}

static uint32_t pool_of(const struct options *o, const struct tags *t)
{
	if (t->n == 0 || o->vlan_pool[t->vid[0]] == 0)
		return o->pool;
	return o->vlan_pool[t->vid[0]];
}

static uint32_t choose_ip_len(struct rng *r, const struct options *o,
			      uint32_t l2, unsigned min_ip)
{
	uint32_t len;
	switch (o->size_mix) {
	case MIX_64:
		len = GEN_MIN_FRAME > l2 ? GEN_MIN_FRAME - l2 : 0;
		break;
	case MIX_RANDOM:
		len = min_ip + (uint32_t)rng_below(r, GEN_MAX_IP_LEN - min_ip + 1);
		break;
	case MIX_JUMBO: {
		static const uint32_t frames[] = { 0, 1519, 2049, 9014 };
		uint32_t k = (uint32_t)rng_below(r, 4);
		len = k == 0 ? 40 : frames[k] - l2;
		break;
	}
	case MIX_IMIX:
	default: {
		uint64_t k = rng_below(r, 12);
		len = k < 7 ? 40 : k < 11 ? 576 : 1500;
		break;
	}
	}
	return len < min_ip ? min_ip : len;
}

/* Transport header inside ip_payload bytes: TCP if it fits, else UDP,
 * else none (IPv6 next header 59 / IPv4 protocol 253, experimental). */
static uint8_t put_l4(struct rng *r, uint8_t *b, uint32_t room, bool v6)
{
	uint16_t sport = (uint16_t)(1024 + rng_below(r, 64512));
	uint16_t dport = (uint16_t)(rng_below(r, 2) ? 443 : 80);
	if (room >= 20) {
		put16(b, sport);
		put16(b + 2, dport);
		put32(b + 4, (uint32_t)rng_next(r));
		put32(b + 8, (uint32_t)rng_next(r));
		b[12] = 5 << 4;
		b[13] = 0x10;               /* ACK */
		put16(b + 14, 65535);
		return 6;
	}
	if (room >= 8) {
		put16(b, sport);
		put16(b + 2, 53);
		put16(b + 4, (uint16_t)room);
		return 17;
	}
	return v6 ? 59 : 253;
}

/* Writes a well-formed IP frame; returns its length, *ip_len its IP
 * length, *l2_ip_len its L2 header + IP length (the frame unpadded),
 * *hdr_end where its L4 header ends. */
static uint32_t build_ip_frame(struct rng *r, const struct options *o,
			       uint8_t *b, const struct tags *t,
			       const struct endpoint *src,
			       const struct endpoint *dst, uint32_t *ip_len,
			       uint32_t *l2_ip_len, uint32_t *hdr_end)
{
	bool v6 = src->family == 6;
	assert(src->family == dst->family);
	uint32_t l2 = put_l2(b, t, v6 ? ETH_IPV6 : ETH_IPV4);
	unsigned hdr = v6 ? 40 : 20;
	uint32_t len = choose_ip_len(r, o, l2, hdr);
	uint32_t frame_len = l2 + len < GEN_MIN_FRAME ? GEN_MIN_FRAME : l2 + len;
	assert(frame_len <= GEN_FRAME_BUF);
	uint8_t *ip = b + l2;
	memset(ip, 0, frame_len - l2);
	uint8_t proto = put_l4(r, ip + hdr, len - hdr, v6);
	if (v6) {
		put32(ip, 0x60000000u | (uint32_t)rng_below(r, 1u << 20));
		put16(ip + 4, (uint16_t)(len - 40));
		ip[6] = proto;
		ip[7] = 64;
		memcpy(ip + 8, src->v6, 16);
		memcpy(ip + 24, dst->v6, 16);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)len);
		put16(ip + 4, (uint16_t)rng_next(r));
		put16(ip + 6, 0x4000);          /* DF */
		ip[8] = 64;
		ip[9] = proto;
		put32(ip + 12, src->v4);
		put32(ip + 16, dst->v4);
		put16(ip + 10, ipv4_checksum(ip, 20));
	}
	*ip_len = len;
	*l2_ip_len = l2 + len;
	*hdr_end = l2 + hdr + (proto == 6 ? 20u : proto == 17 ? 8u : 0u);
	return frame_len;
}

/* A well-formed non-IP frame: ARP request, or an LLDP-typed frame. */
static uint32_t build_non_ip_frame(struct rng *r, uint8_t *b,
				   const struct tags *t)
{
	bool arp = rng_below(r, 4) != 0;
	uint32_t l2 = put_l2(b, t, arp ? ETH_ARP : ETH_LLDP);
	uint32_t frame_len = l2 + 46 > GEN_MIN_FRAME ? l2 + 46 : GEN_MIN_FRAME;
	uint8_t *p = b + l2;
	memset(p, 0, frame_len - l2);
	if (arp) {
		put16(p, 1);                    /* Ethernet */
		put16(p + 2, ETH_IPV4);
		p[4] = 6;
		p[5] = 4;
		put16(p + 6, 1);                /* request */
		memcpy(p + 8, b + 6, 6);
		put32(p + 14, (uint32_t)rng_next(r));
		put32(p + 24, (uint32_t)rng_next(r));
	} else {
		p[0] = 0x02;                    /* chassis id TLV, anything */
		p[1] = 7;
	}
	return frame_len;
}

/* A frame bs_parse_frame must refuse, of a random kind; returns its length
 * and the reason. Frames are truncated only where truncation is the point. */
static uint32_t build_malformed_frame(struct rng *r, const struct options *o,
				      uint8_t *b, enum mal_reason *why)
{
	struct tags t;
	choose_tags(r, o, &t);
	uint64_t kind = rng_below(r, 9);
	uint32_t l2, len;
	switch (kind) {
	case 0:                                  /* runt: part of a header */
		*why = MAL_SHORT_ETHER;
		len = 1 + (uint32_t)rng_below(r, 13);
		memset(b, 0xab, len);
		return len;
	case 1:                                  /* tag without EtherType */
		*why = MAL_SHORT_ETHER;
		t.n = 1;
		t.tpid[0] = TPID_8021Q;
		t.vid[0] = 10;
		put_l2(b, &t, ETH_IPV4);
		return 16;
	case 2: {                                /* three tags */
		struct tags three = { .n = 3,
			.tpid = { TPID_8021AD, TPID_8021Q, TPID_8021Q },
			.vid = { 100, 200, 300 } };
		*why = MAL_TOO_MANY_TAGS;
		l2 = put_l2(b, &three, ETH_IPV4);
		len = 64;
		memset(b + l2, 0, len - l2);
		b[l2] = 0x45;
		put16(b + l2 + 2, (uint16_t)(len - l2));
		return len;
	}
	case 3:                                  /* IPv4 cut inside header */
		*why = MAL_SHORT_IP;
		t.n = 0;
		l2 = put_l2(b, &t, ETH_IPV4);
		len = l2 + 1 + (uint32_t)rng_below(r, 19);
		memset(b + l2, 0, len - l2);
		b[l2] = 0x45;
		return len;
	case 4:                                  /* QinQ + IPv6 in 60 bytes */
		*why = MAL_SHORT_IP;
		t.n = 2;
		t.tpid[0] = TPID_8021AD;
		t.tpid[1] = TPID_8021Q;
		t.vid[0] = 7;
		t.vid[1] = 8;
		l2 = put_l2(b, &t, ETH_IPV6);
		len = GEN_MIN_FRAME;
		memset(b + l2, 0, len - l2);
		b[l2] = 0x60;
		return len;
	case 5:                                  /* version nibble disagrees */
		*why = MAL_BAD_VERSION;
		l2 = put_l2(b, &t, rng_below(r, 2) ? ETH_IPV4 : ETH_IPV6);
		len = l2 + 60;
		memset(b + l2, 0, len - l2);
		b[l2] = b[l2 - 1] == (ETH_IPV4 & 0xff) && b[l2 - 2] == 0x08
			? 0x65 : 0x45;
		put16(b + l2 + 2, 60);
		return len;
	case 6:                                  /* IHL < 5 */
		*why = MAL_BAD_IHL;
		l2 = put_l2(b, &t, ETH_IPV4);
		len = l2 + 60;
		memset(b + l2, 0, len - l2);
		b[l2] = (uint8_t)(0x40 | rng_below(r, 5));
		put16(b + l2 + 2, 60);
		return len;
	case 7:                                  /* IPv4 total length too big,
						  * or below the header */
		*why = MAL_BAD_LENGTH;
		l2 = put_l2(b, &t, ETH_IPV4);
		len = l2 + 46 > GEN_MIN_FRAME ? l2 + 46 : GEN_MIN_FRAME;
		memset(b + l2, 0, len - l2);
		b[l2] = 0x45;
		put16(b + l2 + 2, rng_below(r, 4) == 0
		      ? (uint16_t)rng_below(r, 20)
		      : (uint16_t)(len - l2 + 1 + rng_below(r, 1400)));
		b[l2 + 8] = 64;
		b[l2 + 9] = 17;
		return len;
	default:                                 /* IPv6 payload too big */
		*why = MAL_BAD_LENGTH;
		l2 = put_l2(b, &t, ETH_IPV6);
		len = l2 + 40 + 20;
		memset(b + l2, 0, len - l2);
		b[l2] = 0x60;
		put16(b + l2 + 4, (uint16_t)(20 + 1 + rng_below(r, 1400)));
		b[l2 + 6] = 6;
		b[l2 + 7] = 64;
		return len;
	}
}

/* ---- the capture ------------------------------------------------------------ */

struct gen {
	const struct options *o;
	struct rng rng;
	const struct prefix_map *map;
	const struct endpoints *eps;
	struct truth t1, t2;   /* under the map, under the moved map */
	struct stats st;
	uint64_t first_iv_start;
	uint64_t iv_ns;
};

static const struct endpoint *pick_remote(struct gen *g, uint8_t family)
{
	uint64_t i = rng_below(&g->rng, GEN_REMOTES);
	return family == 4 ? &g->eps->remote4[i] : &g->eps->remote6[i];
}

/* A tenant-side address of the family: a random prefix (the moved one
 * more often), a random endpoint of it. */
static const struct endpoint *pick_tenant(struct gen *g, uint8_t family)
{
	const struct prefix_map *m = g->map;
	uint32_t n = family == 4 ? m->n4 : m->n6;
	if (n == 0)
		return pick_remote(g, family);
	const struct prefix *p;
	if (g->eps->moved >= 0 && m->p[g->eps->moved].family == family &&
	    rng_ppm(&g->rng, GEN_MOVED_PPM))
		p = &m->p[g->eps->moved];
	else
		p = &m->p[(family == 4 ? m->fam4 : m->fam6)[rng_below(&g->rng, n)]];
	assert(p->ep_count > 0);
	return &g->eps->e[p->ep_begin + rng_below(&g->rng, p->ep_count)];
}

/* Addresses of an IP frame, by the traffic shares and the port role. */
static void choose_flow(struct gen *g, const struct endpoint **src,
			const struct endpoint **dst)
{
	const struct options *o = g->o;
	uint8_t family = rng_ppm(&g->rng, o->v4_ppm) ? 4 : 6;
	if (family == 4 && g->map->n4 == 0 && g->map->n6 > 0)
		family = 6;
	else if (family == 6 && g->map->n6 == 0 && g->map->n4 > 0)
		family = 4;
	uint64_t u = rng_below(&g->rng, PPM);
	if (u < o->unattributed_ppm) {
		*src = pick_remote(g, family);
		*dst = pick_remote(g, family);
		return;
	}
	if (u < (uint64_t)o->unattributed_ppm + o->intra_ppm) {
		*src = pick_tenant(g, family);
		*dst = pick_tenant(g, family);
		return;
	}
	bool in = o->role == BS_ROLE_UPSTREAM ||
		  (o->role == BS_ROLE_MIRROR && rng_below(&g->rng, 2) == 0);
	if (in) {
		*dst = pick_tenant(g, family);
		*src = pick_remote(g, family);
	} else {
		*src = pick_tenant(g, family);
		*dst = pick_remote(g, family);
	}
}

/* Timestamp of frame i: spread evenly with jitter, strictly inside
 * [start, start + duration), non-decreasing. With --boundary-packets the
 * frames that first cross a boundary B are moved back to B - 1 ns and B. */
static uint64_t timestamp_ns(struct gen *g, uint64_t i, uint64_t *last,
			     uint64_t *next_b, int *stage)
{
	const struct options *o = g->o;
	uint64_t start = o->start * NS_PER_S, dur = o->duration * NS_PER_S;
	uint64_t step = dur / o->packets;
	uint64_t t = start +
		(uint64_t)(((unsigned __int128)dur * i) / o->packets) +
		(step ? rng_below(&g->rng, step) : 0);
	if (o->boundary) {
		if (i == 0 && start % g->iv_ns == 0) {
			t = start;
			g->st.boundary_packets++;
		} else if (t >= *next_b) {
			if (*stage == 0 && *next_b - 1 >= *last) {
				t = *next_b - 1;
				*stage = 1;
			} else {
				t = *next_b;
				*stage = 0;
				*next_b = (t / g->iv_ns + 1) * g->iv_ns;
			}
			g->st.boundary_packets++;
		}
	}
	assert(t >= *last && t < start + dur);
	*last = t;
	return t;
}

static void count_node(struct node_counts *n, uint32_t frame_len, int kind)
{
	n->rx_packets++;
	n->rx_bytes += frame_len;
	if (kind == 1) {
		n->malformed_packets++;
		n->malformed_bytes += frame_len;
	} else if (kind == 2) {
		n->non_ip_packets++;
		n->non_ip_bytes += frame_len;
	}
}

static void write_capture(struct gen *g)
{
	const struct options *o = g->o;
	pcap_t *pd = pcap_open_dead_with_tstamp_precision(
		DLT_EN10MB, GEN_SNAPLEN, PCAP_TSTAMP_PRECISION_NANO);
	if (!pd)
		fatal("pcap_open_dead failed");
	char tmp[4096];
	FILE *f = open_tmp(o->out, tmp, sizeof tmp);
	static char iobuf[1 << 20];
	setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
	pcap_dumper_t *d = pcap_dump_fopen(pd, f);
	if (!d)
		fatal("%s: %s", tmp, pcap_geterr(pd));

	static uint8_t frame[GEN_FRAME_BUF];
	uint64_t last = 0, next_b = (o->start * NS_PER_S / g->iv_ns + 1) * g->iv_ns;
	int stage = 0;
	for (uint64_t i = 0; i < o->packets; i++) {
		uint64_t ts = timestamp_ns(g, i, &last, &next_b, &stage);
		uint32_t iv = (uint32_t)(ts / g->iv_ns -
					 g->first_iv_start / o->interval);
		assert(iv < g->st.n_iv);
		uint32_t frame_len, ip_len = 0, caplen;
		int kind;                /* 0 IP, 1 malformed, 2 non-IP */
		uint64_t u = rng_below(&g->rng, PPM);
		if (u < o->malformed_ppm) {
			enum mal_reason why;
			frame_len = build_malformed_frame(&g->rng, o, frame, &why);
			g->st.mal_reason[why]++;
			kind = 1;
		} else if (u < (uint64_t)o->malformed_ppm + o->non_ip_ppm) {
			struct tags t;
			choose_tags(&g->rng, o, &t);
			frame_len = build_non_ip_frame(&g->rng, frame, &t);
			kind = 2;
		} else {
			struct tags t;
			const struct endpoint *src, *dst;
			choose_tags(&g->rng, o, &t);
			choose_flow(g, &src, &dst);
			uint32_t l2_ip_len, hdr_end;
			frame_len = build_ip_frame(&g->rng, o, frame, &t, src,
						   dst, &ip_len, &l2_ip_len, &hdr_end);
			/* Sliced: the capture keeps the headers, the meter
			 * counts what the IP header says ("frame": L2 header
			 * + IP length, without the padding it cannot see). */
			uint32_t counted = frame_len;
			caplen = frame_len;
			if (o->slice && hdr_end < frame_len) {
				caplen = hdr_end;
				counted = l2_ip_len;
				g->st.sliced_ip_packets += hdr_end < l2_ip_len;
			}
			uint32_t pool = pool_of(o, &t);
			count_ip(&g->t1, o->role, iv, pool, src->tenant,
				 dst->tenant, counted, ip_len);
			if (g->eps->moved >= 0)
				count_ip(&g->t2, o->role, iv, pool, src->tenant2,
					 dst->tenant2, counted, ip_len);
			g->st.ip_packets++;
			g->st.ipv4_packets += src->family == 4;
			g->st.ipv6_packets += src->family == 6;
			g->st.tagged += t.n > 0;
			g->st.qinq += t.n == 2;
			bool moved = (o->role != BS_ROLE_DOWNSTREAM && dst->in_moved) ||
				     (o->role != BS_ROLE_UPSTREAM && src->in_moved);
			g->st.moved_packets += moved;
			kind = 0;
		}
		if (kind != 0)
			caplen = frame_len;
		count_node(&g->st.total, caplen, kind);
		count_node(&g->st.iv[iv], caplen, kind);
		struct pcap_pkthdr h = {
			.ts = { .tv_sec = (time_t)(ts / NS_PER_S),
				.tv_usec = (suseconds_t)(ts % NS_PER_S) },
			.caplen = caplen, .len = frame_len,
		};
		pcap_dump((u_char *)d, &h, frame);
	}
	if (pcap_dump_flush(d) != 0)
		fatal("%s: write error: %s", tmp, strerror(errno));
	pcap_dump_close(d);             /* closes f */
	pcap_close(pd);
	if (rename(tmp, o->out) != 0)
		fatal("rename %s → %s: %s", tmp, o->out, strerror(errno));
}

/* ---- truth output ------------------------------------------------------------ */

static int cmp_cell_interval(const void *a, const void *b)
{
	const struct cell *x = a, *y = b;
	if (x->iv != y->iv)
		return x->iv < y->iv ? -1 : 1;
	if (x->tenant != y->tenant)
		return x->tenant < y->tenant ? -1 : 1;
	if (x->pool != y->pool)
		return x->pool < y->pool ? -1 : 1;
	return (int)x->dir - (int)y->dir;
}

static int cmp_cell_tenant(const void *a, const void *b)
{
	const struct cell *x = a, *y = b;
	if (x->tenant != y->tenant)
		return x->tenant < y->tenant ? -1 : 1;
	if (x->pool != y->pool)
		return x->pool < y->pool ? -1 : 1;
	if (x->dir != y->dir)
		return (int)x->dir - (int)y->dir;
	return x->iv < y->iv ? -1 : x->iv > y->iv;
}

static void write_header(FILE *f, const struct gen *g, uint64_t map_version)
{
	const struct options *o = g->o;
	const struct stats *s = &g->st;
	static const char *const mixes[] = { "imix", "64", "random", "jumbo" };
	fprintf(f, "# bandsplit-gen ground truth\n");
	fprintf(f, "# seed %" PRIu64 "\n", o->seed);
	fprintf(f, "# role %s\n", bs_port_role_name(o->role));
	fprintf(f, "# pool %" PRIu32 "\n", o->pool);
	for (uint32_t i = 0; i < o->n_mapped_vids; i++)
		fprintf(f, "# vlan_pool %u:%" PRIu32 "\n", o->mapped_vids[i],
			o->vlan_pool[o->mapped_vids[i]]);
	fprintf(f, "# start %" PRIu64 "\n# duration %" PRIu64 "\n"
		"# interval %" PRIu64 "\n", o->start, o->duration, o->interval);
	fprintf(f, "# size_mix %s\n", mixes[o->size_mix]);
	fprintf(f, "# map_version %" PRIu64 "\n", map_version);
	fprintf(f, "# tenants %" PRIu32 "\n# v4_prefixes %" PRIu32
		"\n# v6_prefixes %" PRIu32 "\n", g->map->n_tenants,
		g->map->n4, g->map->n6);
	fprintf(f, "# packets %" PRIu64 "\n", s->total.rx_packets);
	fprintf(f, "# bytes %" PRIu64 "\n", s->total.rx_bytes);
	fprintf(f, "# ip_packets %" PRIu64 "\n# ipv4_packets %" PRIu64
		"\n# ipv6_packets %" PRIu64 "\n", s->ip_packets,
		s->ipv4_packets, s->ipv6_packets);
	fprintf(f, "# vlan_tagged_ip_packets %" PRIu64 "\n# qinq_ip_packets %"
		PRIu64 "\n", s->tagged, s->qinq);
	fprintf(f, "# malformed_packets %" PRIu64 "\n# malformed_bytes %"
		PRIu64 "\n", s->total.malformed_packets,
		s->total.malformed_bytes);
	for (int i = 0; i < MAL_COUNT; i++)
		fprintf(f, "# malformed_reason %s %" PRIu64 "\n", mal_names[i],
			s->mal_reason[i]);
	fprintf(f, "# non_ip_packets %" PRIu64 "\n# non_ip_bytes %" PRIu64
		"\n", s->total.non_ip_packets, s->total.non_ip_bytes);
	fprintf(f, "# boundary_packets %" PRIu64 "\n", s->boundary_packets);
	if (o->slice)
		fprintf(f, "# sliced_ip_packets %" PRIu64 "\n", s->sliced_ip_packets);
	if (g->eps->moved >= 0) {
		char buf[64];
		const struct prefix *p = &g->map->p[g->eps->moved];
		format_prefix(p, buf, sizeof buf);
		fprintf(f, "# moved_prefix %s from %" PRIu32 " to %" PRIu32
			"\n", buf, p->tenant, g->eps->moved_to);
		fprintf(f, "# moved_prefix_packets %" PRIu64 "\n",
			s->moved_packets);
	}
	if (o->truth_by == BY_INTERVAL) {
		fprintf(f, "# summary\tinterval_start\trx_packets\trx_bytes\t"
			"malformed_packets\tmalformed_bytes\tnon_ip_packets\t"
			"non_ip_bytes\n");
		for (uint32_t i = 0; i < s->n_iv; i++) {
			const struct node_counts *n = &s->iv[i];
			if (!n->rx_packets)
				continue;
			fprintf(f, "# summary\t%" PRIu64 "\t%" PRIu64 "\t%"
				PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
				"\t%" PRIu64 "\n",
				g->first_iv_start + (uint64_t)i * o->interval,
				n->rx_packets, n->rx_bytes, n->malformed_packets,
				n->malformed_bytes, n->non_ip_packets,
				n->non_ip_bytes);
		}
		fprintf(f, "# measure\tinterval_start\ttenant_id\tpool_id\t"
			"direction\tpackets\tbytes\n");
	} else {
		fprintf(f, "# measure\ttenant_id\tpool_id\tdirection\tpackets\t"
			"bytes\n");
	}
}

/* Rows, sorted, for one measure. In tenant mode consecutive cells that
 * differ only by interval are summed. */
static void write_rows(FILE *f, const struct gen *g, const struct cell *c,
		       uint32_t n, bool ip)
{
	static const char *const dirs[2] = { "in", "out" };
	const char *measure = bs_measure_name(ip ? BS_MEASURE_IP
						    : BS_MEASURE_FRAME);
	for (uint32_t i = 0; i < n;) {
		uint64_t packets = 0, bytes = 0;
		uint32_t j = i;
		do {
			packets += c[j].packets;
			bytes += ip ? c[j].ip_bytes : c[j].frame_bytes;
			j++;
		} while (g->o->truth_by == BY_TENANT && j < n &&
			 c[j].tenant == c[i].tenant && c[j].pool == c[i].pool &&
			 c[j].dir == c[i].dir);
		if (g->o->truth_by == BY_INTERVAL)
			fprintf(f, "%s\t%" PRIu64 "\t%" PRIu32 "\t%" PRIu32
				"\t%s\t%" PRIu64 "\t%" PRIu64 "\n", measure,
				g->first_iv_start + (uint64_t)c[i].iv *
				g->o->interval, c[i].tenant, c[i].pool,
				dirs[c[i].dir], packets, bytes);
		else
			fprintf(f, "%s\t%" PRIu32 "\t%" PRIu32 "\t%s\t%" PRIu64
				"\t%" PRIu64 "\n", measure, c[i].tenant,
				c[i].pool, dirs[c[i].dir], packets, bytes);
		i = j;
	}
}

static void write_truth(const char *path, const struct gen *g,
			const struct truth *t, uint64_t map_version)
{
	struct cell *c = xcalloc(t->count, sizeof *c);
	uint32_t n = 0;
	for (uint32_t i = 0; i < t->size; i++)
		if (t->c[i].used)
			c[n++] = t->c[i];
	assert(n == t->count);
	qsort(c, n, sizeof *c, g->o->truth_by == BY_INTERVAL
	      ? cmp_cell_interval : cmp_cell_tenant);
	bool to_stdout = !strcmp(path, "-");
	char tmp[4096];
	FILE *f = to_stdout ? stdout : open_tmp(path, tmp, sizeof tmp);
	write_header(f, g, map_version);
	write_rows(f, g, c, n, false);
	write_rows(f, g, c, n, true);
	if (to_stdout) {
		if (fflush(stdout) != 0)
			fatal("stdout: write error: %s", strerror(errno));
	} else {
		commit_tmp(f, tmp, path);
	}
	free(c);
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv)
{
	/* A simulated month of usage records instead of a capture. */
	if (argc > 1 && strcmp(argv[1], "--records") == 0)
		return gen_records_main(argc - 1, argv + 1);
	static struct options o;
	bs_log_init("bandsplit-gen");
	parse_args(argc, argv, &o);

	struct gen g = { .o = &o };
	rng_seed(&g.rng, o.seed);
	static struct prefix_map map;
	if (o.reuse_map)
		read_map(o.reuse_map, &map);
	else
		generate_map(&g.rng, &o, &map);
	static struct endpoints eps;
	make_endpoints(&g.rng, &map, &eps, &o);
	g.map = &map;
	g.eps = &eps;

	g.iv_ns = o.interval * NS_PER_S;
	g.first_iv_start = o.start / o.interval * o.interval;
	g.st.n_iv = (uint32_t)((o.start + o.duration - 1) / o.interval -
			       o.start / o.interval + 1);
	g.st.iv = xcalloc(g.st.n_iv, sizeof *g.st.iv);

	if (o.map) {
		write_map(o.map, &map, map.version, o.seed, -1, 0);
		if (eps.moved >= 0) {
			char v2[4096];
			if ((size_t)snprintf(v2, sizeof v2, "%s.v2", o.map) >=
			    sizeof v2)
				usage_error("--map path too long");
			write_map(v2, &map, map.version + 1, o.seed, eps.moved,
				  eps.moved_to);
		}
	}
	write_capture(&g);
	if (o.truth) {
		write_truth(o.truth, &g, &g.t1, map.version);
		if (eps.moved >= 0 && strcmp(o.truth, "-") != 0) {
			char v2[4096];
			if ((size_t)snprintf(v2, sizeof v2, "%s.v2", o.truth) >=
			    sizeof v2)
				usage_error("--truth path too long");
			write_truth(v2, &g, &g.t2, map.version + 1);
		}
	}
	free(g.t1.c);
	free(g.t2.c);
	free(g.st.iv);
	return 0;
}
