/*
 * validate.c — one Kafka message → a record to settle, or a reason to
 * reject it. See validate.h.
 */
#include "validate.h"

#include "fastdecode.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const reason_names[SETTLE_R_COUNT] = {
	[SETTLE_R_PARSE] = "parse",
	[SETTLE_R_SCHEMA_VERSION] = "schema_version",
	[SETTLE_R_MISSING_FIELD] = "missing_field",
	[SETTLE_R_UNKNOWN_FIELD] = "unknown_field",
	[SETTLE_R_TYPE] = "type",
	[SETTLE_R_RANGE] = "range",
	[SETTLE_R_UNALIGNED] = "unaligned",
	[SETTLE_R_TOO_LARGE] = "too_large",
	[SETTLE_R_FUTURE] = "future",
	[SETTLE_R_EXPIRED] = "expired",
	[SETTLE_R_DB_REFUSED] = "db_refused",
	[SETTLE_R_OTHER] = "other",
};

enum settle_reason settle_reason_index(const char *reason)
{
	for (int i = 0; i < SETTLE_R_COUNT; i++)
		if (reason != NULL && strcmp(reason, reason_names[i]) == 0)
			return (enum settle_reason)i;
	return SETTLE_R_OTHER;
}

const char *settle_reason_name(enum settle_reason r)
{
	return r >= 0 && r < SETTLE_R_COUNT ? reason_names[r] : "other";
}

/* A count over an interval of len seconds beyond what any link carries.
 * The field name is formatted only for the error. */
static int check_rate(const char *prefix, const char *what, uint64_t value,
		      uint64_t per_s, uint32_t len, const char **reason,
		      char *err, size_t err_size)
{
	uint64_t max = per_s * len;   /* ≤ 2e10 × 86400 < 2^61: no overflow */
	if (value <= max)
		return 0;
	*reason = reason_names[SETTLE_R_RANGE];
	snprintf(err, err_size, "field '%s%s': %" PRIu64 " exceeds %" PRIu64
		 " for a %" PRIu32 " s interval", prefix, what, value, max, len);
	return -1;
}

static int check_counts(const char *prefix, const struct bs_counts *c,
			uint32_t len, const char **reason, char *err,
			size_t err_size)
{
	if (check_rate(prefix, "packets", c->packets, SETTLE_MAX_PACKETS_PER_S,
		       len, reason, err, err_size) < 0)
		return -1;
	return check_rate(prefix, "bytes", c->bytes, SETTLE_MAX_BYTES_PER_S, len,
			  reason, err, err_size);
}

static int check_all_counts(const struct bs_record *rec, const char **reason,
			    char *err, size_t err_size)
{
	uint32_t len = rec->head.interval_len;
	if (rec->head.type == BS_RECORD_USAGE)
		return check_counts("", &rec->usage.counts, len, reason, err, err_size) ||
		       check_counts("policed_", &rec->usage.policed, len, reason,
				    err, err_size) ? -1 : 0;
	const struct bs_summary *s = &rec->summary;
	return check_counts("in_", &s->dir[BS_DIR_IN], len, reason, err, err_size) ||
	       check_counts("out_", &s->dir[BS_DIR_OUT], len, reason, err, err_size) ||
	       check_counts("unattributed_", &s->unattributed, len, reason, err, err_size) ||
	       check_counts("malformed_", &s->malformed, len, reason, err, err_size) ||
	       check_counts("non_ip_", &s->non_ip, len, reason, err, err_size) ||
	       check_counts("rx_", &s->rx, len, reason, err, err_size) ||
	       check_counts("late_", &s->late, len, reason, err, err_size) ? -1 : 0;
}

int settle_validate(const void *payload, size_t len,
		    const struct settle_limits *limits, struct bs_record *rec,
		    const char **reason, char *err, size_t err_size)
{
	if (payload == NULL || len == 0) {
		*reason = reason_names[SETTLE_R_PARSE];
		snprintf(err, err_size, "empty message");
		return -1;
	}
	if (!settle_fast_decode(payload, len, rec) &&
	    bs_record_decode(payload, len, rec, reason, err, err_size) < 0) {
		*reason = reason_names[settle_reason_index(*reason)];
		return -1;
	}
	if (check_all_counts(rec, reason, err, err_size) < 0)
		return -1;
	int64_t start = rec->head.interval_start;
	if (start > limits->now_s + limits->max_future_s) {
		*reason = reason_names[SETTLE_R_FUTURE];
		snprintf(err, err_size, "field 'interval_start': %" PRId64 " is more "
			 "than %" PRId64 " s after now (%" PRId64 ")", start,
			 limits->max_future_s, limits->now_s);
		return -1;
	}
	if (limits->horizon_s != SETTLE_NO_HORIZON && start < limits->horizon_s) {
		*reason = reason_names[SETTLE_R_EXPIRED];
		snprintf(err, err_size, "field 'interval_start': %" PRId64 " is "
			 "before the raw retention horizon %" PRId64, start,
			 limits->horizon_s);
		return -1;
	}
	return 0;
}
