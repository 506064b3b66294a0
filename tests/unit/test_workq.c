/*
 * test_workq.c — bandsplit-api's queue of requests waiting for the
 * database (settlement/api/workq.c): first in, first out; the enter hook
 * run before a worker can see the item; the capacity bound; stop drains
 * what is queued; several workers take every item exactly once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workq.h"

#define ITEMS 200

struct item {
	int id;
	bool entered;               /* set by the enter hook */
};

/* What the workers saw; item 0 holds its worker until released. */
struct seen {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool holding, released;
	int order[ITEMS * 50];
	int count;
	int not_entered;
	int times[ITEMS * 50];
	int expired[ITEMS];         /* ids, in the order they expired */
	int n_expired;
};

static void expire(void *it, void *ctx)
{
	struct item *item = it;
	struct seen *s = ctx;
	pthread_mutex_lock(&s->lock);
	s->expired[s->n_expired++] = item->id;
	s->times[item->id]++;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void work(void *it, void *ctx)
{
	struct item *item = it;
	struct seen *s = ctx;
	pthread_mutex_lock(&s->lock);
	if (!item->entered)
		s->not_entered++;
	if (item->id == 0) {
		s->holding = true;
		pthread_cond_broadcast(&s->changed);
		while (!s->released)
			pthread_cond_wait(&s->changed, &s->lock);
	}
	s->order[s->count++] = item->id;
	s->times[item->id]++;
	pthread_mutex_unlock(&s->lock);
}

static void enter(void *it)
{
	((struct item *)it)->entered = true;
}

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
}

/* pushes item 0 and waits until a worker holds it */
static void hold_worker(struct api_workq *q, struct seen *s, struct item *zero)
{
	assert_true(api_workq_push(q, zero, enter));
	pthread_mutex_lock(&s->lock);
	while (!s->holding)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

static void release_worker(struct seen *s)
{
	pthread_mutex_lock(&s->lock);
	s->released = true;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

/* One worker held on item 0 while 1..ITEMS-1 wait: they are taken in
 * the order they came, and each went through enter first. */
static void test_fifo(void **state)
{
	(void)state;
	static struct seen s;
	static struct item items[ITEMS];
	seen_init(&s);
	struct api_workq *q = api_workq_start(1, ITEMS, work, NULL, 0, &s);
	assert_non_null(q);
	for (int i = 0; i < ITEMS; i++)
		items[i] = (struct item){ .id = i };
	hold_worker(q, &s, &items[0]);
	for (int i = 1; i < ITEMS; i++)
		assert_true(api_workq_push(q, &items[i], enter));
	assert_int_equal(api_workq_depth(q), ITEMS - 1);
	release_worker(&s);
	api_workq_stop(q);          /* drains: every item worked on */
	assert_int_equal(s.count, ITEMS);
	for (int i = 0; i < ITEMS; i++)
		assert_int_equal(s.order[i], i);
	assert_int_equal(s.not_entered, 0);
}

/* At most `capacity` items wait; a full queue refuses without calling
 * enter (the caller answers the request itself). */
static void test_capacity(void **state)
{
	(void)state;
	static struct seen s;
	static struct item items[8];
	seen_init(&s);
	struct api_workq *q = api_workq_start(1, 4, work, NULL, 0, &s);
	assert_non_null(q);
	for (int i = 0; i < 8; i++)
		items[i] = (struct item){ .id = i };
	hold_worker(q, &s, &items[0]);     /* taken: the queue is empty */
	for (int i = 1; i <= 4; i++)
		assert_true(api_workq_push(q, &items[i], enter));
	assert_false(api_workq_push(q, &items[5], enter));
	assert_false(items[5].entered);
	assert_int_equal(api_workq_depth(q), 4);
	release_worker(&s);
	api_workq_stop(q);
	assert_int_equal(s.count, 5);
	assert_int_equal(s.times[5], 0);
}

/* Four workers, many items pushed from two threads: each item is worked
 * on exactly once, and stop returns only when all are. */
struct pusher { struct api_workq *q; struct item *items; int from, n; };

static void *push_all(void *arg)
{
	struct pusher *p = arg;
	for (int i = p->from; i < p->from + p->n; i++)
		while (!api_workq_push(p->q, &p->items[i], enter))
			;                   /* full for a moment: try again */
	return NULL;
}

static void test_workers(void **state)
{
	(void)state;
	enum { N = ITEMS * 50 };
	static struct seen s;
	static struct item items[N];
	seen_init(&s);
	s.released = true;          /* item 0 holds nobody */
	for (int i = 0; i < N; i++)
		items[i] = (struct item){ .id = i };
	struct api_workq *q = api_workq_start(4, 64, work, NULL, 0, &s);
	assert_non_null(q);
	struct pusher a = { q, items, 0, N / 2 }, b = { q, items, N / 2, N / 2 };
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, push_all, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, push_all, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	api_workq_stop(q);
	assert_int_equal(s.count, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(s.times[i], 1);
	assert_int_equal(s.not_entered, 0);
}


/* The only worker held: the items behind it expire after the timeout, in
 * the order they came, without a worker; none is also worked on. */
static void test_expire(void **state)
{
	(void)state;
	enum { N = 50, TIMEOUT_MS = 200 };
	static struct seen s;
	static struct item items[N + 1];
	seen_init(&s);
	for (int i = 0; i <= N; i++)
		items[i] = (struct item){ .id = i };
	struct api_workq *q = api_workq_start(1, 64, work, expire, TIMEOUT_MS, &s);
	assert_non_null(q);
	hold_worker(q, &s, &items[0]);
	uint64_t t0 = ms_now();
	for (int i = 1; i <= N; i++)
		assert_true(api_workq_push(q, &items[i], enter));
	if (ms_now() - t0 < TIMEOUT_MS / 2)         /* none due yet */
		assert_int_equal(api_workq_depth(q), N);
	pthread_mutex_lock(&s.lock);
	while (s.n_expired < N && ms_now() - t0 < 10000)
		pthread_cond_wait(&s.changed, &s.lock);
	pthread_mutex_unlock(&s.lock);
	uint64_t waited = ms_now() - t0;
	assert_int_equal(s.n_expired, N);
	assert_true(waited >= TIMEOUT_MS);
	assert_int_equal(api_workq_depth(q), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(s.expired[i], i + 1);
	release_worker(&s);
	api_workq_stop(q);
	assert_int_equal(s.count, 1);               /* item 0 only */
	for (int i = 1; i <= N; i++)
		assert_int_equal(s.times[i], 1);
	assert_int_equal(s.not_entered, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_workers),
		cmocka_unit_test(test_expire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
