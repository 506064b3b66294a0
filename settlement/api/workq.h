/*
 * workq.h — bandsplit-api's one queue of requests waiting for the
 * database, and the workers that answer them.
 *
 * The HTTP threads (libmicrohttpd's) read and parse requests; a request
 * that needs PostgreSQL is suspended and pushed here, and one of a fixed
 * set of workers (one per pooled connection) takes it, in arrival order,
 * runs its transaction and resumes it. One first-in first-out queue for
 * the whole server: a request waits behind those that came before it,
 * whichever HTTP thread read it (with a queue per HTTP thread, a thread
 * that happened to accept more connections made its requests wait
 * longer: the latency's tail).
 *
 * Bounded: at most `capacity` requests wait (the server's connection cap;
 * a connection has one request in flight), and for at most `timeout_ms`:
 * a reaper thread takes what waited longer from the head of the queue
 * (all items wait for the same time, so the oldest are at the head) and
 * hands it to `expire` (bandsplit-api: 503), even while every worker is
 * busy. Allocated at start.
 */
#ifndef BS_API_WORKQ_H
#define BS_API_WORKQ_H

#include <stdbool.h>

struct api_workq;

/* A worker's work on one item. */
typedef void (*api_workq_fn)(void *item, void *ctx);
/* Run under the queue's lock just before an item goes in (bandsplit-api:
 * suspends its connection, so no worker can resume it first). */
typedef void (*api_workq_enter_fn)(void *item);

/* Starts `workers` threads calling fn(item, ctx) on the items pushed,
 * and the reaper calling expire(item, ctx) on an item that waited longer
 * than timeout_ms (0: no reaper, items wait as long as it takes). Each
 * item goes to exactly one of fn and expire. NULL when out of memory or a
 * thread cannot start. */
struct api_workq *api_workq_start(unsigned workers, unsigned capacity,
				  api_workq_fn fn, api_workq_fn expire,
				  unsigned timeout_ms, void *ctx);

/* Queues item (enter(item) first, under the lock). false, enter not
 * called, when the queue is stopping or full. */
bool api_workq_push(struct api_workq *q, void *item, api_workq_enter_fn enter);

/* Items waiting (not those being worked on). */
unsigned api_workq_depth(struct api_workq *q);

/* Refuses further pushes, lets the workers finish every item already
 * queued (none expires after this), joins them and frees the queue. NULL
 * is allowed. */
void api_workq_stop(struct api_workq *q);

#endif
