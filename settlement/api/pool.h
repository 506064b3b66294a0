/*
 * pool.h — bandsplit-api's fixed pool of PostgreSQL connections, opened at
 * start-up (as the role bandsplit_api) and shared by the database workers,
 * one worker per connection (workq.h: requests wait in the workers' queue,
 * never here).
 *
 * A request takes one connection, runs its one transaction on it and
 * gives it back. Given back "dirty" (after an error,
 * or not idle), the connection is rolled back, and reset (reconnected, the
 * session set up again) when that fails or the connection is lost: a
 * pooled connection never carries a transaction, or its settings, into the
 * next request.
 */
#ifndef BS_API_POOL_H
#define BS_API_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

struct api_pool;

/* Run on every new or reset connection (session settings, prepared
 * statements). Returns 0 or -1 with err set. */
typedef int (*api_pool_setup_fn)(PGconn *conn, void *ctx, char *err,
				 size_t err_size);

/* Opens size connections; all must succeed. NULL with err set. */
struct api_pool *api_pool_open(const char *conninfo, unsigned size,
			       api_pool_setup_fn setup, void *ctx,
			       char *err, size_t err_size);

/* A free connection; there always is one (as many workers as
 * connections, each giving its connection back before its next request).
 * *slot identifies it for api_pool_give. */
PGconn *api_pool_take(struct api_pool *p, int *slot);

/* Gives the connection back; dirty: roll back / reset first. */
void api_pool_give(struct api_pool *p, int slot, bool dirty);

/* Reconnects a taken connection found lost (PQstatus not OK) and sets
 * its session up again; true when it is usable. */
bool api_pool_repair(struct api_pool *p, int slot);

void api_pool_counts(struct api_pool *p, unsigned *idle, unsigned *busy);

/* Closes every connection (none may be taken). */
void api_pool_close(struct api_pool *p);

#endif
