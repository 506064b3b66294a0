/*
 * pool.c — the fixed PostgreSQL connection pool of bandsplit-api. See
 * pool.h. A mutex guards a stack of free slots.
 */
#include "pool.h"

#include "db.h"
#include "log.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct api_pool {
	pthread_mutex_t lock;
	unsigned size, nfree;
	PGconn **conns;
	int *free_slots;           /* a stack of nfree slot numbers */
	bool *taken;
	char *conninfo;
	api_pool_setup_fn setup;
	void *ctx;
};

struct api_pool *api_pool_open(const char *conninfo, unsigned size,
			       api_pool_setup_fn setup, void *ctx,
			       char *err, size_t err_size)
{
	assert(size > 0);
	struct api_pool *p = calloc(1, sizeof(*p));
	if (p == NULL || (p->conns = calloc(size, sizeof(*p->conns))) == NULL ||
	    (p->free_slots = calloc(size, sizeof(int))) == NULL ||
	    (p->taken = calloc(size, sizeof(bool))) == NULL ||
	    (p->conninfo = strdup(conninfo)) == NULL) {
		snprintf(err, err_size, "database pool: out of memory");
		if (p != NULL) {
			free(p->conns);
			free(p->free_slots);
			free(p->taken);
			free(p);
		}
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->size = size;
	p->setup = setup;
	p->ctx = ctx;
	for (unsigned i = 0; i < size; i++) {
		p->conns[i] = bs_db_connect(conninfo, "bandsplit-api", err, err_size);
		if (p->conns[i] == NULL ||
		    (setup != NULL && setup(p->conns[i], ctx, err, err_size) < 0)) {
			api_pool_close(p);
			return NULL;
		}
		p->free_slots[p->nfree++] = (int)i;
	}
	return p;
}

PGconn *api_pool_take(struct api_pool *p, int *slot)
{
	pthread_mutex_lock(&p->lock);
	assert(p->nfree > 0);       /* a worker per connection: never empty */
	int s = p->free_slots[--p->nfree];
	assert(!p->taken[s]);
	p->taken[s] = true;
	pthread_mutex_unlock(&p->lock);
	*slot = s;
	return p->conns[s];
}

/* Back to a clean idle session, reconnecting if it takes that. */
static void clean(struct api_pool *p, int s)
{
	PGconn *c = p->conns[s];
	if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE &&
	    PQpipelineStatus(c) == PQ_PIPELINE_OFF)
		return;
	if (PQstatus(c) == CONNECTION_OK) {
		PGresult *r = PQexec(c, "ROLLBACK");
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK &&
			  PQtransactionStatus(c) == PQTRANS_IDLE;
		PQclear(r);
		if (ok)
			return;
	}
	char err[BS_DB_ERR_MAX];
	PQreset(c);
	if (PQstatus(c) != CONNECTION_OK) {
		BS_WARN("database connection %d lost; reconnecting failed (retried "
			"when next used)", s);
		return;
	}
	if (p->setup != NULL && p->setup(c, p->ctx, err, sizeof(err)) < 0)
		BS_WARN("database connection %d: setting up again: %s", s, err);
	else
		BS_INFO("database connection %d reset", s);
}

void api_pool_give(struct api_pool *p, int slot, bool dirty)
{
	assert(slot >= 0 && (unsigned)slot < p->size);
	if (dirty || PQstatus(p->conns[slot]) != CONNECTION_OK ||
	    PQtransactionStatus(p->conns[slot]) != PQTRANS_IDLE ||
	    PQpipelineStatus(p->conns[slot]) != PQ_PIPELINE_OFF)
		clean(p, slot);
	pthread_mutex_lock(&p->lock);
	assert(p->taken[slot]);
	p->taken[slot] = false;
	p->free_slots[p->nfree++] = slot;
	pthread_mutex_unlock(&p->lock);
}

bool api_pool_repair(struct api_pool *p, int slot)
{
	assert(slot >= 0 && (unsigned)slot < p->size && p->taken[slot]);
	clean(p, slot);
	return PQstatus(p->conns[slot]) == CONNECTION_OK &&
	       PQtransactionStatus(p->conns[slot]) == PQTRANS_IDLE &&
	       PQpipelineStatus(p->conns[slot]) == PQ_PIPELINE_OFF;
}

void api_pool_counts(struct api_pool *p, unsigned *idle, unsigned *busy)
{
	pthread_mutex_lock(&p->lock);
	*idle = p->nfree;
	*busy = p->size - p->nfree;
	pthread_mutex_unlock(&p->lock);
}

void api_pool_close(struct api_pool *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->size; i++)
		if (p->conns[i] != NULL)
			PQfinish(p->conns[i]);
	pthread_mutex_destroy(&p->lock);
	free(p->conns);
	free(p->free_slots);
	free(p->taken);
	free(p->conninfo);
	free(p);
}
