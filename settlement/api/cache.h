/*
 * cache.h — a bounded LRU cache of rendered statements of closed periods,
 * keyed by (tenant, period, format, language, version, encoding). The
 * version is the tenant's latest document of the period (an adjustment
 * run issuing a note makes a new version, so a stale statement is never
 * served); an open period is never cached. Thread-safe (one mutex);
 * lookups copy out.
 */
#ifndef BS_API_CACHE_H
#define BS_API_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct api_cache_key {
	int64_t tenant;
	int64_t version;
	char period[8];
	int format;
	int lang;
	int encoding;      /* 0: the document as rendered; 1: gzip (gzip.h) */
};

struct api_cache;

/* entries 0: no cache (every call a miss, puts ignored). */
struct api_cache *api_cache_new(unsigned entries, size_t max_bytes);
void api_cache_free(struct api_cache *c);

/* A malloc'd copy of the document (*len bytes) or NULL on a miss. */
char *api_cache_get(struct api_cache *c, const struct api_cache_key *k,
		    size_t *len);

/* Stores a copy (documents over max_bytes are not kept); the least
 * recently used entry makes room. */
void api_cache_put(struct api_cache *c, const struct api_cache_key *k,
		   const char *doc, size_t len);

/* Hits and misses so far (for /metrics). */
void api_cache_stats(struct api_cache *c, uint64_t *hits, uint64_t *misses,
		     unsigned *used);

#endif
