/*
 * record.h — the usage record of schemas/usage.v1.schema.json, in C.
 *
 * Two record types travel on bandsplit.usage.v1:
 *   - "usage":   one per (node, boot, interval, tenant, pool, direction)
 *                that saw traffic;
 *   - "summary": one per (node, boot, interval): the node's totals, so the
 *                settlement can prove Σ usage records = node totals.
 *
 * The wire form is one JSON object per Kafka message (readable by kcat).
 * bs_record_encode() writes fields in a fixed order; bs_record_decode() is
 * strict: unknown fields, missing fields, wrong types, negative or absurd
 * counts, a wrong schema version or an unaligned interval are refused and the
 * error names the field. Both are pure (no I/O) so tests and fuzzers reach
 * them directly.
 */
#ifndef BS_RECORD_H
#define BS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "names.h"

#define BS_SCHEMA_NAME      "bandsplit.usage.v2"   /* what producers write */
#define BS_SCHEMA_NAME_V1   "bandsplit.usage.v1"   /* still accepted */
#define BS_SCHEMA_VERSION   2
#define BS_NODE_ID_MAX      63      /* bytes, [A-Za-z0-9._-] */
#define BS_BOOT_ID_LEN      32      /* lowercase hex of 128 random bits */
#define BS_RECORD_MAX_BYTES 2048    /* encoded size limit, both types */
#define BS_INTERVAL_MAX_S   86400   /* interval_len limit */
#define BS_COUNT_MAX        (UINT64_C(1) << 62) /* per-field sanity bound */

enum bs_record_type { BS_RECORD_USAGE = 0, BS_RECORD_SUMMARY = 1 };
enum bs_direction { BS_DIR_IN = 0, BS_DIR_OUT = 1, BS_DIR_COUNT = 2 };

struct bs_counts {
	uint64_t packets;
	uint64_t bytes;
};

/* Fields common to both record types: identity of the interval. */
struct bs_record_head {
	enum bs_record_type type;
	uint8_t version;           /* schema version: 1 or 2 (0 = BS_SCHEMA_VERSION
				    * when encoding) */
	char node_id[BS_NODE_ID_MAX + 1];
	char boot_id[BS_BOOT_ID_LEN + 1];
	uint64_t seq;              /* per (node, boot), contiguous from 1 */
	int64_t interval_start;    /* Unix seconds UTC, multiple of interval_len */
	uint32_t interval_len;     /* seconds, 1..BS_INTERVAL_MAX_S */
	enum bs_byte_measure measure;
	uint64_t map_version;      /* newest prefix-map version counted in it */
};

struct bs_usage {
	uint32_t tenant_id;        /* 0 = unattributed */
	uint32_t pool_id;
	enum bs_direction direction;
	struct bs_counts counts;
	struct bs_counts policed;  /* dropped by policing; 0 when it is off */
};

/* Why frames were malformed (v2), in the dataplane parser's order
 * (dataplane/parse.h, BS_MAL_SHORT_ETHER.. BS_MAL_BAD_LENGTH). */
enum { BS_RECORD_MAL_REASONS = 6 };

struct bs_summary {
	uint32_t record_count;     /* usage records of this interval */
	uint64_t first_seq;        /* seq of its first usage record (0 if none) */
	struct bs_counts dir[BS_DIR_COUNT]; /* Σ usage counts per direction */
	struct bs_counts unattributed;      /* part of dir[] with tenant 0 */
	struct bs_counts malformed;         /* frames that failed to parse */
	struct bs_counts non_ip;            /* well-formed frames, not IP */
	struct bs_counts rx;                /* every frame received */
	/* v2 only (0 in a v1 record): */
	struct bs_counts late;              /* part of rx older than the interval
					     * (packet clock), counted in it */
	uint64_t malformed_reason[BS_RECORD_MAL_REASONS]; /* Σ = malformed.packets */
};

struct bs_record {
	struct bs_record_head head;
	union {
		struct bs_usage usage;
		struct bs_summary summary;
	};
};

/* Writes the JSON form (no trailing newline) into buf. Returns its length,
 * or -1 if it would not fit in buf_size (including the NUL). */
int bs_record_encode(const struct bs_record *rec, char *buf, size_t buf_size);

/* Parses and validates one record. Returns 0 on success; on failure returns
 * -1 and writes a message naming the field into err ("field 'bytes': must be
 * a non-negative integer"). Also sets *reason to a short stable code
 * ("parse", "schema_version", "missing_field", "unknown_field", "type",
 * "range", "unaligned", "too_large") for metrics and the DLQ header. */
int bs_record_decode(const char *buf, size_t len, struct bs_record *rec,
		     const char **reason, char *err, size_t err_size);

const char *bs_direction_name(enum bs_direction dir);   /* "in" / "out" */
/* "short_ether", ... "bad_length" for 0..BS_RECORD_MAL_REASONS-1: the
 * summary field is "malformed_" + this name. */
const char *bs_record_malformed_reason_name(unsigned i);
bool bs_node_id_valid(const char *node_id);

/* Kafka message key: the tenant id in decimal for usage records,
 * "node:<node_id>" for summaries. Returns the key length or -1. */
int bs_record_key(const struct bs_record *rec, char *buf, size_t buf_size);
/* The same key from its parts, for a record not decoded (the meter's
 * spooled records); tenant_id is ignored for a summary. */
int bs_record_key_of(enum bs_record_type type, uint32_t tenant_id,
		     const char *node_id, char *buf, size_t buf_size);
/* A buffer that holds any key. */
#define BS_RECORD_KEY_MAX (BS_NODE_ID_MAX + 8)

#endif
