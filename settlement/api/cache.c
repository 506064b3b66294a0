/*
 * cache.c — the LRU cache of closed statements. See cache.h. A small
 * chained hash table over a fixed array of entries, and a doubly linked
 * recency list through the same entries.
 */
#include "cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	struct api_cache_key key;
	char *doc;
	size_t len;
	int hnext;             /* next in the hash chain, -1 */
	int prev, next;        /* recency list, -1 */
	bool used;
};

struct api_cache {
	pthread_mutex_t lock;
	unsigned n, nbuckets;
	size_t max_bytes;
	struct entry *e;
	int *bucket;           /* first entry of each chain, -1 */
	int head, tail;        /* most / least recently used */
	int nfree;             /* entries never used yet: e[n - nfree ...] */
	uint64_t hits, misses;
	unsigned used;
};

static bool key_eq(const struct api_cache_key *a, const struct api_cache_key *b)
{
	return a->tenant == b->tenant && a->version == b->version &&
	       a->format == b->format && a->lang == b->lang &&
	       a->encoding == b->encoding &&
	       strcmp(a->period, b->period) == 0;
}

static unsigned key_hash(const struct api_cache_key *k, unsigned nbuckets)
{
	uint64_t h = 1469598103934665603ull;
	const uint64_t parts[5] = { (uint64_t)k->tenant, (uint64_t)k->version,
				    (uint64_t)k->format, (uint64_t)k->lang,
				    (uint64_t)k->encoding };
	for (int i = 0; i < 5; i++)
		h = (h ^ parts[i]) * 1099511628211ull;
	for (const char *p = k->period; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (unsigned)(h % nbuckets);
}

struct api_cache *api_cache_new(unsigned entries, size_t max_bytes)
{
	struct api_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->n = entries;
	c->max_bytes = max_bytes;
	c->head = c->tail = -1;
	if (entries == 0)
		return c;
	c->nbuckets = entries * 2 + 1;
	c->e = calloc(entries, sizeof(*c->e));
	c->bucket = malloc(c->nbuckets * sizeof(int));
	if (c->e == NULL || c->bucket == NULL) {
		api_cache_free(c);
		return NULL;
	}
	for (unsigned i = 0; i < c->nbuckets; i++)
		c->bucket[i] = -1;
	c->nfree = (int)entries;
	return c;
}

void api_cache_free(struct api_cache *c)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->n && c->e != NULL; i++)
		free(c->e[i].doc);
	free(c->e);
	free(c->bucket);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void unlink_lru(struct api_cache *c, int i)
{
	struct entry *x = &c->e[i];
	if (x->prev >= 0) c->e[x->prev].next = x->next; else c->head = x->next;
	if (x->next >= 0) c->e[x->next].prev = x->prev; else c->tail = x->prev;
	x->prev = x->next = -1;
}

static void push_front(struct api_cache *c, int i)
{
	struct entry *x = &c->e[i];
	x->prev = -1;
	x->next = c->head;
	if (c->head >= 0)
		c->e[c->head].prev = i;
	c->head = i;
	if (c->tail < 0)
		c->tail = i;
}

static int find(struct api_cache *c, const struct api_cache_key *k)
{
	for (int i = c->bucket[key_hash(k, c->nbuckets)]; i >= 0; i = c->e[i].hnext)
		if (key_eq(&c->e[i].key, k))
			return i;
	return -1;
}

static void unhash(struct api_cache *c, int i)
{
	int *pp = &c->bucket[key_hash(&c->e[i].key, c->nbuckets)];
	while (*pp != i) {
		assert(*pp >= 0);
		pp = &c->e[*pp].hnext;
	}
	*pp = c->e[i].hnext;
}

char *api_cache_get(struct api_cache *c, const struct api_cache_key *k,
		    size_t *len)
{
	char *out = NULL;
	pthread_mutex_lock(&c->lock);
	int i = c->n > 0 ? find(c, k) : -1;
	if (i >= 0 && (out = malloc(c->e[i].len ? c->e[i].len : 1)) != NULL) {
		memcpy(out, c->e[i].doc, c->e[i].len);
		*len = c->e[i].len;
		unlink_lru(c, i);
		push_front(c, i);
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->lock);
	return out;
}

void api_cache_put(struct api_cache *c, const struct api_cache_key *k,
		   const char *doc, size_t len)
{
	if (c->n == 0 || len > c->max_bytes)
		return;
	char *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return;
	memcpy(copy, doc, len);
	pthread_mutex_lock(&c->lock);
	int i = find(c, k);
	if (i >= 0) {                       /* raced with another request */
		pthread_mutex_unlock(&c->lock);
		free(copy);
		return;
	}
	if (c->nfree > 0) {
		i = (int)c->n - c->nfree--;
		c->used++;
	} else {
		i = c->tail;                    /* evict the least recently used */
		assert(i >= 0);
		unlink_lru(c, i);
		unhash(c, i);
		free(c->e[i].doc);
	}
	struct entry *x = &c->e[i];
	x->key = *k;
	x->doc = copy;
	x->len = len;
	x->used = true;
	unsigned b = key_hash(k, c->nbuckets);
	x->hnext = c->bucket[b];
	c->bucket[b] = i;
	push_front(c, i);
	pthread_mutex_unlock(&c->lock);
}

void api_cache_stats(struct api_cache *c, uint64_t *hits, uint64_t *misses,
		     unsigned *used)
{
	pthread_mutex_lock(&c->lock);
	*hits = c->hits;
	*misses = c->misses;
	*used = c->used;
	pthread_mutex_unlock(&c->lock);
}
