/*
 * workq.c — the FIFO of requests waiting for the database and its
 * workers (workq.h): a ring of item pointers (and the times they came)
 * under one mutex, workers sleeping on one condition variable, a reaper
 * waking every REAP_TICK_MS to expire the head while it is too old.
 */
#include "workq.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define WORKQ_WORKERS_MAX 256u
#define WORKQ_CAPACITY_MAX (1u << 20)
#define REAP_TICK_MS 10u

struct api_workq {
	pthread_mutex_t lock;
	pthread_cond_t pushed;
	pthread_cond_t reaper_wake; /* stop */
	void **ring;
	uint64_t *since_us;         /* when ring[i] came (monotonic) */
	unsigned capacity;
	unsigned head;              /* the oldest item */
	unsigned count;             /* items waiting */
	bool stopping;
	api_workq_fn fn, expire;
	uint64_t timeout_us;        /* 0: no reaper */
	void *ctx;
	bool reaping;               /* the reaper thread runs */
	pthread_t reaper;
	unsigned workers;
	pthread_t threads[];
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The oldest item, taken out; under the lock, count > 0. */
static void *pop_head(struct api_workq *q)
{
	assert(q->count > 0);
	void *item = q->ring[q->head];
	q->head = (q->head + 1) % q->capacity;
	q->count--;
	return item;
}

static void *worker(void *arg)
{
	struct api_workq *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->count == 0 && !q->stopping)
			pthread_cond_wait(&q->pushed, &q->lock);
		if (q->count == 0)          /* stopping, and nothing left */
			break;
		void *item = pop_head(q);
		pthread_mutex_unlock(&q->lock);
		q->fn(item, q->ctx);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* Every REAP_TICK_MS: the items at the head that waited longer than the
 * timeout go to expire, in the order they came. */
static void *reaper(void *arg)
{
	struct api_workq *q = arg;
	void *expired[64];
	pthread_mutex_lock(&q->lock);
	while (!q->stopping) {
		unsigned n = 0;
		uint64_t now = now_us();
		while (q->count > 0 && n < sizeof(expired) / sizeof(expired[0]) &&
		       now - q->since_us[q->head] > q->timeout_us)
			expired[n++] = pop_head(q);
		if (n > 0) {
			pthread_mutex_unlock(&q->lock);
			for (unsigned i = 0; i < n; i++)
				q->expire(expired[i], q->ctx);
			pthread_mutex_lock(&q->lock);
			continue;           /* more may be due */
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)REAP_TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&q->reaper_wake, &q->lock, &until);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct api_workq *api_workq_start(unsigned workers, unsigned capacity,
				  api_workq_fn fn, api_workq_fn expire,
				  unsigned timeout_ms, void *ctx)
{
	assert(workers >= 1 && workers <= WORKQ_WORKERS_MAX);
	assert(capacity >= 1 && capacity <= WORKQ_CAPACITY_MAX);
	assert(fn != NULL);
	assert(timeout_ms == 0 || expire != NULL);
	struct api_workq *q = calloc(1, sizeof(*q) + workers * sizeof(pthread_t));
	if (q == NULL)
		return NULL;
	q->ring = calloc(capacity, sizeof(void *));
	q->since_us = calloc(capacity, sizeof(uint64_t));
	if (q->ring == NULL || q->since_us == NULL) {
		free(q->ring);
		free(q->since_us);
		free(q);
		return NULL;
	}
	q->capacity = capacity;
	q->fn = fn;
	q->expire = expire;
	q->timeout_us = (uint64_t)timeout_ms * 1000u;
	q->ctx = ctx;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->pushed, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->reaper_wake, &ca);
	pthread_condattr_destroy(&ca);
	if (timeout_ms > 0) {
		if (pthread_create(&q->reaper, NULL, reaper, q) != 0) {
			api_workq_stop(q);
			return NULL;
		}
		q->reaping = true;
	}
	for (unsigned i = 0; i < workers; i++) {
		if (pthread_create(&q->threads[i], NULL, worker, q) != 0) {
			api_workq_stop(q);
			return NULL;
		}
		q->workers = i + 1;
	}
	return q;
}

bool api_workq_push(struct api_workq *q, void *item, api_workq_enter_fn enter)
{
	assert(item != NULL);
	pthread_mutex_lock(&q->lock);
	if (q->stopping || q->count == q->capacity) {
		pthread_mutex_unlock(&q->lock);
		return false;
	}
	if (enter != NULL)
		enter(item);
	unsigned tail = (q->head + q->count) % q->capacity;
	q->ring[tail] = item;
	q->since_us[tail] = now_us();
	q->count++;
	pthread_cond_signal(&q->pushed);
	pthread_mutex_unlock(&q->lock);
	return true;
}

unsigned api_workq_depth(struct api_workq *q)
{
	pthread_mutex_lock(&q->lock);
	unsigned n = q->count;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void api_workq_stop(struct api_workq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->pushed);
	pthread_cond_broadcast(&q->reaper_wake);
	pthread_mutex_unlock(&q->lock);
	if (q->reaping)
		pthread_join(q->reaper, NULL);
	for (unsigned i = 0; i < q->workers; i++)
		pthread_join(q->threads[i], NULL);
	assert(q->count == 0 || q->workers == 0);
	pthread_cond_destroy(&q->reaper_wake);
	pthread_cond_destroy(&q->pushed);
	pthread_mutex_destroy(&q->lock);
	free(q->since_us);
	free(q->ring);
	free(q);
}
