/*
 * ratelimit.h — per-tenant request rate limit of bandsplit-api: a token
 * bucket per tenant (rate tokens per second, at most burst), in a bounded
 * table (API_RATE_SLOTS tenants; when full, the tenant seen longest ago
 * among a probe window gives its slot up, starting again with a full
 * bucket). Thread-safe.
 */
#ifndef BS_API_RATELIMIT_H
#define BS_API_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define API_RATE_SLOTS 4096

struct api_ratelimit;

/* rate 0: no limit. */
struct api_ratelimit *api_ratelimit_new(uint32_t rate, uint32_t burst);
void api_ratelimit_free(struct api_ratelimit *rl);

/* Takes one token of tenant's bucket at now_us (a monotonic clock, µs).
 * False when empty: *retry_after_s says when one will be there. */
bool api_ratelimit_take(struct api_ratelimit *rl, int64_t tenant,
			uint64_t now_us, unsigned *retry_after_s);

#endif
