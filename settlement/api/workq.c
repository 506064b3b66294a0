/*
 * workq.c — the FIFO of requests waiting for the database and its
 * workers (workq.h): a ring of item pointers under one mutex, workers
 * sleeping on one condition variable.
 */
#include "workq.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define WORKQ_WORKERS_MAX 256u
#define WORKQ_CAPACITY_MAX (1u << 20)

struct api_workq {
	pthread_mutex_t lock;
	pthread_cond_t pushed;
	void **ring;
	unsigned capacity;
	unsigned head;              /* the oldest item */
	unsigned count;             /* items waiting */
	bool stopping;
	api_workq_fn fn;
	void *ctx;
	unsigned workers;
	pthread_t threads[];
};

static void *worker(void *arg)
{
	struct api_workq *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->count == 0 && !q->stopping)
			pthread_cond_wait(&q->pushed, &q->lock);
		if (q->count == 0)          /* stopping, and nothing left */
			break;
		void *item = q->ring[q->head];
		q->head = (q->head + 1) % q->capacity;
		q->count--;
		pthread_mutex_unlock(&q->lock);
		q->fn(item, q->ctx);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct api_workq *api_workq_start(unsigned workers, unsigned capacity,
				  api_workq_fn fn, void *ctx)
{
	assert(workers >= 1 && workers <= WORKQ_WORKERS_MAX);
	assert(capacity >= 1 && capacity <= WORKQ_CAPACITY_MAX);
	assert(fn != NULL);
	struct api_workq *q = calloc(1, sizeof(*q) + workers * sizeof(pthread_t));
	if (q == NULL)
		return NULL;
	q->ring = calloc(capacity, sizeof(void *));
	if (q->ring == NULL) {
		free(q);
		return NULL;
	}
	q->capacity = capacity;
	q->fn = fn;
	q->ctx = ctx;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->pushed, NULL);
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
	q->ring[(q->head + q->count) % q->capacity] = item;
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
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->workers; i++)
		pthread_join(q->threads[i], NULL);
	assert(q->count == 0);
	pthread_cond_destroy(&q->pushed);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q);
}
