/*
 * validate.h — the settlement's verdict on one Kafka message of
 * bandsplit.usage.v1: a usage or summary record to settle, or a rejection
 * with a short stable reason (for the DLQ header "bandsplit-reject-reason",
 * the rejected_records table and the metrics) and a message naming the
 * field.
 *
 * Reasons: those of bs_record_decode() ("parse", "schema_version",
 * "missing_field", "unknown_field", "type", "range", "unaligned",
 * "too_large"), plus the settlement's own:
 *   "range"       also: counts beyond 10 Tbit/s (or 2×10^10 packets/s) over
 *                 the interval — they cannot be real, and would overflow the
 *                 rollups;
 *   "future"      interval_start more than max_future_s after now;
 *   "expired"     interval_start before the raw retention horizon (its
 *                 duplicates could no longer be recognised);
 *   "impossible_bytes" bytes below packets × the smallest packet of the
 *                 record's measure (SETTLE_MIN_FRAME_BYTES, SETTLE_MIN_IP_BYTES),
 *                 or bytes without packets: usage, policed, summary in/out;
 *   "interval_len" interval_len does not divide 300 (the 5-minute rollup
 *                 bucket would hold a part of the interval's traffic only);
 *   "too_old"     interval_start before 2000-01-01 (SETTLE_EPOCH_MIN);
 *   "nul_escape"  a \u0000 escape in a string or key (json-c would cut the
 *                 key there: "packets\u0000x" read as "packets");
 *   "db_refused"  PostgreSQL refused the row (a constraint), set by the
 *                 consumer, never by settle_validate();
 *   "identity_conflict" a usage record or summary whose identity is stored
 *                 with other counts (store.c, never settle_validate()).
 * Pure: no I/O, no allocation.
 */
#ifndef BS_SETTLE_VALIDATE_H
#define BS_SETTLE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define SETTLE_MAX_BYTES_PER_S   UINT64_C(1250000000000)  /* 10 Tbit/s */
#define SETTLE_MAX_PACKETS_PER_S UINT64_C(20000000000)
#define SETTLE_NO_HORIZON        INT64_MIN
#define SETTLE_MIN_FRAME_BYTES   34   /* Ethernet header + a 20-byte IPv4 header */
#define SETTLE_MIN_IP_BYTES      20   /* an IPv4 header (IPv6: 40) */
#define SETTLE_ROLLUP_S          300  /* interval_len must divide it */
#define SETTLE_EPOCH_MIN         INT64_C(946684800)  /* 2000-01-01T00:00:00Z */

enum settle_reason {
	SETTLE_R_PARSE = 0,
	SETTLE_R_SCHEMA_VERSION,
	SETTLE_R_MISSING_FIELD,
	SETTLE_R_UNKNOWN_FIELD,
	SETTLE_R_TYPE,
	SETTLE_R_RANGE,
	SETTLE_R_UNALIGNED,
	SETTLE_R_TOO_LARGE,
	SETTLE_R_FUTURE,
	SETTLE_R_EXPIRED,
	SETTLE_R_DB_REFUSED,
	SETTLE_R_IMPOSSIBLE_BYTES,
	SETTLE_R_INTERVAL_LEN,
	SETTLE_R_TOO_OLD,
	SETTLE_R_NUL_ESCAPE,
	SETTLE_R_IDENTITY_CONFLICT,
	SETTLE_R_OTHER,
	SETTLE_R_COUNT
};

struct settle_limits {
	int64_t now_s;          /* wall clock, Unix seconds */
	int64_t max_future_s;
	int64_t horizon_s;      /* raw retention horizon, or SETTLE_NO_HORIZON */
};

/* Decodes and checks one message payload. Returns 0 with *rec filled, or
 * -1 with *reason (a static string of the list above) and err. */
int settle_validate(const void *payload, size_t len,
		    const struct settle_limits *limits, struct bs_record *rec,
		    const char **reason, char *err, size_t err_size);

/* The reason's index for metrics (SETTLE_R_OTHER if unknown) and back. */
enum settle_reason settle_reason_index(const char *reason);
const char *settle_reason_name(enum settle_reason r);

#endif
