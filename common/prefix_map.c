/*
 * prefix_map.c — reads, validates and writes the tenant prefix-map file
 * (format in prefix_map.h and config/prefixes.map). One pass over the lines collects the
 * prefixes; a sort finds duplicates and a hash set counts distinct tenants,
 * so a map of a million prefixes loads in a fraction of a second. Every
 * refusal names the file and line.
 */
#include "prefix_map.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOKENS 3            /* enough to spot trailing garbage */
#define V4_INDEX_BITS 20        /* BS_MAP_MAX_V4 == 1 << 20 indices */

_Static_assert(BS_MAP_MAX_V4 <= (1u << V4_INDEX_BITS),
	       "v4 index must fit the duplicate-sort key");

/* Parsing state: the map being built and where each prefix came from. */
struct map_parser {
	const char *name;
	char *err;
	size_t err_size;
	uint32_t line;
	uint32_t version_line;       /* 0 until 'version N' is seen */
	struct bs_prefix_map map;
	uint32_t cap_v4, cap_v6;
};

__attribute__((format(printf, 2, 3)))
static int fail_at(struct map_parser *p, const char *fmt, ...)
{
	if (p->err == NULL || p->err_size == 0)
		return -1;
	int n = snprintf(p->err, p->err_size, "%s:%u: ", p->name, p->line);
	if (n >= 0 && (size_t)n < p->err_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->err_size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Decimal digits only (no sign, no spaces), at most `max`. */
static bool parse_decimal(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned digit = (unsigned)(*s - '0');
		if (v > (max - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}

static int split_tokens(char *line, char *tokens[MAX_TOKENS])
{
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t\r\v\f", &save);
	     t != NULL && n < MAX_TOKENS;
	     t = strtok_r(NULL, " \t\r\v\f", &save))
		tokens[n++] = t;
	return n;
}

static int parse_version(struct map_parser *p, char **tok, int ntok)
{
	uint64_t v;

	if (p->version_line != 0)
		return fail_at(p, "version given twice (first at line %u)",
			       p->version_line);
	if (ntok < 2)
		return fail_at(p, "'version' needs a number");
	if (ntok > 2)
		return fail_at(p, "trailing garbage '%s' after the version",
			       tok[2]);
	if (!parse_decimal(tok[1], UINT64_MAX, &v) || v == 0)
		return fail_at(p, "bad version '%s' (expected an integer >= 1)",
			       tok[1]);
	p->map.version = v;
	p->version_line = p->line;
	return 0;
}

static int parse_tenant(struct map_parser *p, const char *prefix, char **tok,
			int ntok, uint32_t *tenant)
{
	uint64_t v;

	if (ntok < 2)
		return fail_at(p, "missing tenant id after %s", prefix);
	if (ntok > 2)
		return fail_at(p, "trailing garbage '%s' after the tenant id",
			       tok[2]);
	if (!parse_decimal(tok[1], UINT32_MAX, &v))
		return fail_at(p, "bad tenant id '%s' (expected 1..%u)",
			       tok[1], UINT32_MAX);
	if (v == 0)
		return fail_at(p, "tenant id 0 is reserved for unattributed "
			       "traffic");
	*tenant = (uint32_t)v;
	return 0;
}

/* Grows a prefix array and its line array to hold one more entry. */
static int grow(struct map_parser *p, void **items, size_t item_size,
		uint32_t **lines, uint32_t *cap, uint32_t limit)
{
	uint32_t new_cap = *cap == 0 ? 1024 : *cap * 2;
	if (new_cap > limit)
		new_cap = limit;
	void *ni = realloc(*items, (size_t)new_cap * item_size);
	if (ni != NULL)
		*items = ni;
	uint32_t *nl = realloc(*lines, (size_t)new_cap * sizeof(**lines));
	if (nl != NULL)
		*lines = nl;
	if (ni == NULL || nl == NULL)
		return fail_at(p, "out of memory after %u prefixes",
			       p->map.n_v4 + p->map.n_v6);
	*cap = new_cap;
	return 0;
}

static int add_v4(struct map_parser *p, const char *prefix, const char *addr_s,
		  uint64_t depth, uint32_t tenant)
{
	struct in_addr a;

	if (inet_pton(AF_INET, addr_s, &a) != 1)
		return fail_at(p, "bad IPv4 address '%s' in %s", addr_s, prefix);
	if (depth > 32)
		return fail_at(p, "prefix length %llu out of range for IPv4 "
			       "(0..32) in %s", (unsigned long long)depth,
			       prefix);
	uint32_t addr = ntohl(a.s_addr);
	uint32_t mask = depth == 0 ? 0 : UINT32_MAX << (32 - depth);
	if ((addr & ~mask) != 0) {
		char net[INET_ADDRSTRLEN];
		struct in_addr m = { .s_addr = htonl(addr & mask) };
		inet_ntop(AF_INET, &m, net, sizeof(net));
		return fail_at(p, "host bits set in %s (did you mean %s/%llu?)",
			       prefix, net, (unsigned long long)depth);
	}
	if (p->map.n_v4 == BS_MAP_MAX_V4)
		return fail_at(p, "too many IPv4 prefixes (limit %u)",
			       BS_MAP_MAX_V4);
	if (p->map.n_v4 == p->cap_v4 &&
	    grow(p, (void **)&p->map.v4, sizeof(*p->map.v4), &p->map.line_v4,
		 &p->cap_v4, BS_MAP_MAX_V4) != 0)
		return -1;
	p->map.v4[p->map.n_v4] = (struct bs_prefix_v4){
		.addr = addr, .depth = (uint8_t)depth, .tenant_id = tenant };
	p->map.line_v4[p->map.n_v4] = p->line;
	p->map.n_v4++;
	return 0;
}

static int add_v6(struct map_parser *p, const char *prefix, const char *addr_s,
		  uint64_t depth, uint32_t tenant)
{
	uint8_t addr[16];

	if (inet_pton(AF_INET6, addr_s, addr) != 1)
		return fail_at(p, "bad IPv6 address '%s' in %s", addr_s, prefix);
	if (depth > 128)
		return fail_at(p, "prefix length %llu out of range for IPv6 "
			       "(0..128) in %s", (unsigned long long)depth,
			       prefix);
	uint8_t net_addr[16];
	bool host_bits = false;
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = depth >= 8 * (i + 1) ? 8 :
				depth > 8 * i ? (unsigned)depth - 8 * i : 0;
		uint8_t mask = (uint8_t)(0xff00u >> bits);
		net_addr[i] = addr[i] & mask;
		host_bits |= net_addr[i] != addr[i];
	}
	if (host_bits) {
		char net[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, net_addr, net, sizeof(net));
		return fail_at(p, "host bits set in %s (did you mean %s/%llu?)",
			       prefix, net, (unsigned long long)depth);
	}
	if (p->map.n_v6 == BS_MAP_MAX_V6)
		return fail_at(p, "too many IPv6 prefixes (limit %u)",
			       BS_MAP_MAX_V6);
	if (p->map.n_v6 == p->cap_v6 &&
	    grow(p, (void **)&p->map.v6, sizeof(*p->map.v6), &p->map.line_v6,
		 &p->cap_v6, BS_MAP_MAX_V6) != 0)
		return -1;
	struct bs_prefix_v6 *e = &p->map.v6[p->map.n_v6];
	memcpy(e->addr, addr, sizeof(e->addr));
	e->depth = (uint8_t)depth;
	e->tenant_id = tenant;
	p->map.line_v6[p->map.n_v6] = p->line;
	p->map.n_v6++;
	return 0;
}

/* "<addr>/<len> <tenant>" */
static int parse_prefix_line(struct map_parser *p, char **tok, int ntok)
{
	char prefix[BS_MAP_MAX_LINE + 1];
	uint32_t tenant = 0;
	uint64_t depth = 0;

	/* Keep the prefix as written for messages; split a copy at '/'. */
	snprintf(prefix, sizeof(prefix), "%s", tok[0]);
	char *slash = strchr(tok[0], '/');
	if (slash == NULL)
		return fail_at(p, "expected 'version N' or '<prefix>/<len> "
			       "<tenant>', got '%s'", prefix);
	if (p->version_line == 0)
		return fail_at(p, "missing 'version N' before the first prefix");
	*slash = '\0';
	const char *addr_s = tok[0];
	const char *len_s = slash + 1;
	if (!parse_decimal(len_s, 255, &depth))
		return fail_at(p, "bad prefix length '%s' in %s", len_s, prefix);
	if (parse_tenant(p, prefix, tok, ntok, &tenant) != 0)
		return -1;
	if (strchr(addr_s, ':') != NULL)
		return add_v6(p, prefix, addr_s, depth, tenant);
	return add_v4(p, prefix, addr_s, depth, tenant);
}

/* One line, NUL-terminated, comment and newline included or not. */
static int parse_line(struct map_parser *p, char *line)
{
	char *tok[MAX_TOKENS];

	char *hash = strchr(line, '#');
	if (hash != NULL)
		*hash = '\0';
	int ntok = split_tokens(line, tok);
	if (ntok == 0)
		return 0;
	if (strcmp(tok[0], "version") == 0)
		return parse_version(p, tok, ntok);
	return parse_prefix_line(p, tok, ntok);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* A v6 prefix with its position in the file, for the duplicate sort. */
struct v6_key {
	uint8_t addr[16];
	uint8_t depth;
	uint32_t index;
};

static int cmp_v6_key(const void *a, const void *b)
{
	const struct v6_key *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, sizeof(x->addr));
	if (c != 0)
		return c;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/* Reports the duplicate whose second occurrence comes first in the file. */
static int report_duplicate(struct map_parser *p, uint32_t first_line,
			    uint32_t dup_line, const char *text)
{
	p->line = dup_line;
	return fail_at(p, "%s listed twice (first at line %u)", text,
		       first_line);
}

static int check_duplicates_v4(struct map_parser *p)
{
	uint32_t n = p->map.n_v4;
	if (n < 2)
		return 0;
	uint64_t *keys = malloc((size_t)n * sizeof(*keys));
	if (keys == NULL)
		return fail_at(p, "out of memory checking duplicates");
	for (uint32_t i = 0; i < n; i++)
		keys[i] = (uint64_t)p->map.v4[i].addr << (V4_INDEX_BITS + 6) |
			  (uint64_t)p->map.v4[i].depth << V4_INDEX_BITS | i;
	qsort(keys, n, sizeof(*keys), cmp_u64);

	const uint64_t idx_mask = (1u << V4_INDEX_BITS) - 1;
	uint32_t best_first = 0, best_dup = UINT32_MAX;
	uint32_t group_first = (uint32_t)(keys[0] & idx_mask);
	for (uint32_t i = 1; i < n; i++) {
		uint32_t idx = (uint32_t)(keys[i] & idx_mask);
		if ((keys[i] >> V4_INDEX_BITS) != (keys[i - 1] >> V4_INDEX_BITS)) {
			group_first = idx;
			continue;
		}
		if (best_dup == UINT32_MAX || idx < best_dup) {
			best_dup = idx;
			best_first = group_first;
		}
	}
	free(keys);
	if (best_dup == UINT32_MAX)
		return 0;

	char text[INET_ADDRSTRLEN + 4];
	struct in_addr a = { .s_addr = htonl(p->map.v4[best_dup].addr) };
	char addr[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a, addr, sizeof(addr));
	snprintf(text, sizeof(text), "%s/%u", addr, p->map.v4[best_dup].depth);
	return report_duplicate(p, p->map.line_v4[best_first],
				p->map.line_v4[best_dup], text);
}

static int check_duplicates_v6(struct map_parser *p)
{
	uint32_t n = p->map.n_v6;
	if (n < 2)
		return 0;
	struct v6_key *keys = malloc((size_t)n * sizeof(*keys));
	if (keys == NULL)
		return fail_at(p, "out of memory checking duplicates");
	for (uint32_t i = 0; i < n; i++) {
		memcpy(keys[i].addr, p->map.v6[i].addr, 16);
		keys[i].depth = p->map.v6[i].depth;
		keys[i].index = i;
	}
	qsort(keys, n, sizeof(*keys), cmp_v6_key);

	uint32_t best_first = 0, best_dup = UINT32_MAX;
	uint32_t group_first = keys[0].index;
	for (uint32_t i = 1; i < n; i++) {
		if (memcmp(keys[i].addr, keys[i - 1].addr, 16) != 0 ||
		    keys[i].depth != keys[i - 1].depth) {
			group_first = keys[i].index;
			continue;
		}
		if (best_dup == UINT32_MAX || keys[i].index < best_dup) {
			best_dup = keys[i].index;
			best_first = group_first;
		}
	}
	free(keys);
	if (best_dup == UINT32_MAX)
		return 0;

	char addr[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 5];
	inet_ntop(AF_INET6, p->map.v6[best_dup].addr, addr, sizeof(addr));
	snprintf(text, sizeof(text), "%s/%u", addr, p->map.v6[best_dup].depth);
	return report_duplicate(p, p->map.line_v6[best_first],
				p->map.line_v6[best_dup], text);
}

/* Distinct tenant ids, by an open-addressing set (0 never occurs). */
static int count_tenants(struct map_parser *p)
{
	size_t n = (size_t)p->map.n_v4 + p->map.n_v6;
	size_t size = 16;
	while (size < 2 * n)
		size *= 2;
	uint32_t *set = calloc(size, sizeof(*set));
	if (set == NULL)
		return fail_at(p, "out of memory counting tenants");

	uint32_t distinct = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t id = i < p->map.n_v4 ? p->map.v4[i].tenant_id :
				p->map.v6[i - p->map.n_v4].tenant_id;
		assert(id != 0);
		size_t slot = ((uint64_t)id * 0x9e3779b97f4a7c15ull >> 32) &
			      (size - 1);
		while (set[slot] != 0 && set[slot] != id)
			slot = (slot + 1) & (size - 1);
		if (set[slot] == 0) {
			set[slot] = id;
			distinct++;
		}
	}
	free(set);
	p->map.n_tenants = distinct;
	return 0;
}

static int parse_all_lines(struct map_parser *p, const char *text, size_t len)
{
	char buf[BS_MAP_MAX_LINE + 1];
	const char *cur = text, *end = text + len;

	while (cur < end) {
		p->line++;
		const char *nl = memchr(cur, '\n', (size_t)(end - cur));
		const char *eol = nl != NULL ? nl : end;
		size_t n = (size_t)(eol - cur);
		if (n > BS_MAP_MAX_LINE)
			return fail_at(p, "line too long (%zu bytes, limit %u)",
				       n, BS_MAP_MAX_LINE);
		memcpy(buf, cur, n);
		buf[n] = '\0';
		if (memchr(buf, '\0', n) != NULL)
			return fail_at(p, "NUL byte in line");
		if (parse_line(p, buf) != 0)
			return -1;
		cur = nl != NULL ? nl + 1 : end;
	}
	if (p->version_line == 0) {
		p->line = 1;
		return fail_at(p, "missing 'version N' (the map has none)");
	}
	return 0;
}

int bs_prefix_map_parse(const char *text, size_t len, const char *name,
			struct bs_prefix_map *map, char *err, size_t err_size)
{
	struct map_parser p = { .name = name, .err = err,
				.err_size = err_size };

	memset(map, 0, sizeof(*map));
	int rc = parse_all_lines(&p, text, len);
	if (rc == 0)
		rc = check_duplicates_v4(&p);
	if (rc == 0)
		rc = check_duplicates_v6(&p);
	if (rc == 0)
		rc = count_tenants(&p);
	if (rc != 0) {
		bs_prefix_map_free(&p.map);
		return -1;
	}
	*map = p.map;
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int fail_file(char *err, size_t err_size, const char *fmt, ...)
{
	if (err != NULL && err_size > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int bs_prefix_map_load(const char *path, struct bs_prefix_map *map,
		       char *err, size_t err_size)
{
	struct stat st;

	memset(map, 0, sizeof(*map));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_file(err, err_size, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return fail_file(err, err_size, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail_file(err, err_size, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > BS_MAP_MAX_FILE_SIZE) {
		close(fd);
		return fail_file(err, err_size,
				 "%s: file is %lld bytes, limit %u", path,
				 (long long)st.st_size, BS_MAP_MAX_FILE_SIZE);
	}

	size_t size = (size_t)st.st_size;
	char *text = malloc(size > 0 ? size : 1);
	if (text == NULL) {
		close(fd);
		return fail_file(err, err_size, "%s: out of memory (%zu bytes)",
				 path, size);
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, text + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(text);
			close(fd);
			return fail_file(err, err_size, "%s: %s", path,
					 strerror(e));
		}
		if (r == 0)
			break;    /* shrank while reading: parse what is there */
		got += (size_t)r;
	}
	close(fd);

	int rc = bs_prefix_map_parse(text, got, path, map, err, err_size);
	free(text);
	return rc;
}

void bs_prefix_map_free(struct bs_prefix_map *map)
{
	free(map->v4);
	free(map->v6);
	free(map->line_v4);
	free(map->line_v6);
	memset(map, 0, sizeof(*map));
}

/* ---- writer ---------------------------------------------------------- */

void bs_prefix_map_write_head(FILE *f, const char *comment, uint64_t version)
{
	while (comment != NULL && *comment != '\0') {
		size_t n = strcspn(comment, "\n");
		fprintf(f, "# %.*s\n", (int)n, comment);
		comment += n;
		if (*comment == '\n')
			comment++;
	}
	fprintf(f, "version %" PRIu64 "\n", version);
}

void bs_prefix_map_write_v4(FILE *f, uint32_t addr, uint8_t depth,
			    uint32_t tenant_id)
{
	assert(depth <= 32 && tenant_id != 0);
	char text[INET_ADDRSTRLEN];
	struct in_addr a = { .s_addr = htonl(addr) };
	inet_ntop(AF_INET, &a, text, sizeof(text));
	fprintf(f, "%s/%u %" PRIu32 "\n", text, depth, tenant_id);
}

void bs_prefix_map_write_v6(FILE *f, const uint8_t addr[16], uint8_t depth,
			    uint32_t tenant_id)
{
	assert(depth <= 128 && tenant_id != 0);
	char text[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, addr, text, sizeof(text));
	fprintf(f, "%s/%u %" PRIu32 "\n", text, depth, tenant_id);
}

int bs_prefix_map_write_text(FILE *f, const char *prefix, uint32_t tenant_id,
			     char *err, size_t err_size)
{
	char addr_s[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(prefix, '/');
	uint64_t depth;
	size_t n = slash != NULL ? (size_t)(slash - prefix) : 0;
	if (slash == NULL || n >= sizeof(addr_s) ||
	    !parse_decimal(slash + 1, 255, &depth) || tenant_id == 0) {
		snprintf(err, err_size, "'%s %" PRIu32 "' is not '<prefix>/<len> "
			 "<tenant>'", prefix, tenant_id);
		return -1;
	}
	memcpy(addr_s, prefix, n);
	addr_s[n] = '\0';
	/* The same checks as the parser's, through its own functions. */
	struct map_parser p = { .name = "prefix", .line = 1 };
	char why[256];
	p.err = why;
	p.err_size = sizeof(why);
	struct bs_prefix_v4 v4[1];
	struct bs_prefix_v6 v6[1];
	uint32_t line[1];
	p.map.v4 = v4;
	p.map.v6 = v6;
	p.map.line_v4 = line;
	p.map.line_v6 = line;
	p.cap_v4 = p.cap_v6 = 1;
	int rc = strchr(addr_s, ':') != NULL
		? add_v6(&p, prefix, addr_s, depth, tenant_id)
		: add_v4(&p, prefix, addr_s, depth, tenant_id);
	if (rc != 0) {
		snprintf(err, err_size, "%s", why + strlen("prefix:1: "));
		return -1;
	}
	if (p.map.n_v4 == 1)
		bs_prefix_map_write_v4(f, v4[0].addr, v4[0].depth, tenant_id);
	else
		bs_prefix_map_write_v6(f, v6[0].addr, v6[0].depth, tenant_id);
	return 0;
}

void bs_prefix_map_write(FILE *f, const struct bs_prefix_map *map,
			 const char *comment)
{
	bs_prefix_map_write_head(f, comment, map->version);
	for (uint32_t i = 0; i < map->n_v4; i++)
		bs_prefix_map_write_v4(f, map->v4[i].addr, map->v4[i].depth,
				       map->v4[i].tenant_id);
	for (uint32_t i = 0; i < map->n_v6; i++)
		bs_prefix_map_write_v6(f, map->v6[i].addr, map->v6[i].depth,
				       map->v6[i].tenant_id);
}
