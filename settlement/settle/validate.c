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
	[SETTLE_R_IMPOSSIBLE_BYTES] = "impossible_bytes",
	[SETTLE_R_INTERVAL_LEN] = "interval_len",
	[SETTLE_R_TOO_OLD] = "too_old",
	[SETTLE_R_NUL_ESCAPE] = "nul_escape",
	[SETTLE_R_IDENTITY_CONFLICT] = "identity_conflict",
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

/* Fewer bytes than packets × the smallest packet of the measure, or bytes
 * without packets: no traffic looks like that. */
static int check_sizes(const char *prefix, const struct bs_counts *c,
		       enum bs_byte_measure measure, const char **reason,
		       char *err, size_t err_size)
{
	uint64_t min = measure == BS_MEASURE_IP ? SETTLE_MIN_IP_BYTES
						: SETTLE_MIN_FRAME_BYTES;
	/* packets ≤ 2e10 × 86400 (check_rate): the product fits */
	if (c->bytes >= c->packets * min && (c->packets > 0 || c->bytes == 0))
		return 0;
	*reason = reason_names[SETTLE_R_IMPOSSIBLE_BYTES];
	snprintf(err, err_size, "field '%sbytes': %" PRIu64 " for %" PRIu64
		 " packets, below %" PRIu64 " bytes a packet (measure %s)",
		 prefix, c->bytes, c->packets, min, bs_measure_name(measure));
	return -1;
}

static int check_all_sizes(const struct bs_record *rec, const char **reason,
			   char *err, size_t err_size)
{
	enum bs_byte_measure m = rec->head.measure;
	if (rec->head.type == BS_RECORD_USAGE)
		return check_sizes("", &rec->usage.counts, m, reason, err, err_size) ||
		       check_sizes("policed_", &rec->usage.policed, m, reason,
				   err, err_size) ? -1 : 0;
	/* malformed, non-IP and rx frames can be runts: not checked */
	const struct bs_summary *s = &rec->summary;
	return check_sizes("in_", &s->dir[BS_DIR_IN], m, reason, err, err_size) ||
	       check_sizes("out_", &s->dir[BS_DIR_OUT], m, reason, err, err_size)
	       ? -1 : 0;
}

/* A \u0000 escape anywhere in the text (json-c would cut a key or string
 * there); escaped backslashes are stepped over. */
static bool has_nul_escape(const char *p, size_t len)
{
	const char *end = p + len;
	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && p[1] == 'u' && memcmp(p + 2, "0000", 4) == 0)
			return true;
		p += 2;   /* the escaped character */
		if (p >= end)
			break;
	}
	return false;
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
	if (has_nul_escape(payload, len)) {
		*reason = reason_names[SETTLE_R_NUL_ESCAPE];
		snprintf(err, err_size, "a \\u0000 escape (a NUL in a key or string)");
		return -1;
	}
	if (!settle_fast_decode(payload, len, rec) &&
	    bs_record_decode(payload, len, rec, reason, err, err_size) < 0) {
		*reason = reason_names[settle_reason_index(*reason)];
		return -1;
	}
	if (check_all_counts(rec, reason, err, err_size) < 0)
		return -1;
	if (SETTLE_ROLLUP_S % rec->head.interval_len != 0) {
		*reason = reason_names[SETTLE_R_INTERVAL_LEN];
		snprintf(err, err_size, "field 'interval_len': %" PRIu32 " does not "
			 "divide %d (the rollup's bucket)", rec->head.interval_len,
			 SETTLE_ROLLUP_S);
		return -1;
	}
	if (check_all_sizes(rec, reason, err, err_size) < 0)
		return -1;
	int64_t start = rec->head.interval_start;
	if (start < SETTLE_EPOCH_MIN) {
		*reason = reason_names[SETTLE_R_TOO_OLD];
		snprintf(err, err_size, "field 'interval_start': %" PRId64 " is before "
			 "2000-01-01 (%" PRId64 ")", start, SETTLE_EPOCH_MIN);
		return -1;
	}
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
