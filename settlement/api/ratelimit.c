/*
 * ratelimit.c — token buckets per tenant. See ratelimit.h.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>

#define PROBE 16

struct slot {
	int64_t tenant;        /* 0: free (tenant ids start at 1) */
	double tokens;
	uint64_t last_us;
};

struct api_ratelimit {
	pthread_mutex_t lock;
	double rate, burst;
	struct slot slots[API_RATE_SLOTS];
};

struct api_ratelimit *api_ratelimit_new(uint32_t rate, uint32_t burst)
{
	struct api_ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate;
	rl->burst = burst;
	return rl;
}

void api_ratelimit_free(struct api_ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

static struct slot *slot_of(struct api_ratelimit *rl, int64_t tenant,
			    uint64_t now_us)
{
	unsigned h = (unsigned)(((uint64_t)tenant * 11400714819323198485ull) >> 52)
		     % API_RATE_SLOTS;
	struct slot *pick = NULL;
	for (unsigned i = 0; i < PROBE; i++) {
		struct slot *s = &rl->slots[(h + i) % API_RATE_SLOTS];
		if (s->tenant == tenant)
			return s;
		if (pick == NULL || (pick->tenant != 0 &&
		    (s->tenant == 0 || s->last_us < pick->last_us)))
			pick = s;     /* the first free slot, else the stalest */
	}
	struct slot *stalest = pick;
	stalest->tenant = tenant;
	stalest->tokens = rl->burst;
	stalest->last_us = now_us;
	return stalest;
}

bool api_ratelimit_take(struct api_ratelimit *rl, int64_t tenant,
			uint64_t now_us, unsigned *retry_after_s)
{
	if (rl->rate <= 0)
		return true;
	pthread_mutex_lock(&rl->lock);
	struct slot *s = slot_of(rl, tenant, now_us);
	if (now_us > s->last_us) {
		s->tokens += (double)(now_us - s->last_us) / 1e6 * rl->rate;
		if (s->tokens > rl->burst)
			s->tokens = rl->burst;
		s->last_us = now_us;
	}
	bool ok = s->tokens >= 1.0;
	if (ok)
		s->tokens -= 1.0;
	else
		*retry_after_s = (unsigned)((1.0 - s->tokens) / rl->rate) + 1;
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
