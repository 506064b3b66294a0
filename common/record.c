/*
 * record.c — the JSON wire form of a usage record (schemas/usage.v1).
 *
 * Encoding writes the fields in a fixed order, by hand (no printf): the
 * dataplane encodes tens of thousands of records per interval, and kcat
 * users see the same layout every time. Decoding parses with json-c in
 * strict mode, then checks every field against one table per record type:
 * present, the right JSON type, in range; no unknown or duplicate fields.
 */
#include "record.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#define SUMMARY_RECORD_COUNT_MAX 10000000u /* usage records per interval */

const char *bs_direction_name(enum bs_direction dir)
{
	return dir == BS_DIR_IN ? "in" : dir == BS_DIR_OUT ? "out" : "?";
}

static const char *const mal_reason_names[BS_RECORD_MAL_REASONS] = {
	"short_ether", "too_many_tags", "short_ip", "bad_version", "bad_ihl",
	"bad_length",
};

const char *bs_record_malformed_reason_name(unsigned i)
{
	return i < BS_RECORD_MAL_REASONS ? mal_reason_names[i] : "?";
}

static bool node_id_valid_n(const char *s, size_t len)
{
	if (len == 0 || len > BS_NODE_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			  c == '-';
		if (!ok)
			return false;
	}
	return true;
}

bool bs_node_id_valid(const char *node_id)
{
	return node_id != NULL &&
	       node_id_valid_n(node_id, strnlen(node_id, BS_NODE_ID_MAX + 1));
}

static bool boot_id_valid_n(const char *s, size_t len)
{
	if (len != BS_BOOT_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* --- encode ---------------------------------------------------------- */

/* The encoder appends to a bounded buffer; running out of room marks it
 * full and every later append does nothing. No snprintf: the dataplane
 * encodes tens of thousands of records per interval close, and formatting
 * by hand is about ten times faster. The layout is fixed (record.h). */
struct out {
	char *p, *end;   /* end: one past the last byte usable for text */
	bool full;
};

static inline void put_mem(struct out *o, const char *s, size_t len)
{
	if (o->full || (size_t)(o->end - o->p) < len) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, len);
	o->p += len;
}

#define PUT_LIT(o, lit) put_mem((o), (lit), sizeof(lit) - 1)

static inline void put_str(struct out *o, const char *s)
{
	put_mem(o, s, strlen(s));
}

static inline void put_u64(struct out *o, uint64_t v)
{
	char digits[20];
	size_t n = 0;
	do {
		digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put_mem(o, digits + sizeof(digits) - n, n);
}

static inline void put_i64(struct out *o, int64_t v)
{
	if (v < 0) {
		PUT_LIT(o, "-");
		put_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(o, (uint64_t)v);
	}
}

/* "name":value, — the separator after every field but the last */
static inline void put_field_u64(struct out *o, const char *name_colon, size_t len,
				 uint64_t v, bool last)
{
	put_mem(o, name_colon, len);
	put_u64(o, v);
	put_mem(o, last ? "}" : ",", 1);
}

#define FIELD_U64(o, name, v) put_field_u64((o), "\"" name "\":", sizeof("\"" name "\":") - 1, (v), false)
#define LAST_U64(o, name, v) put_field_u64((o), "\"" name "\":", sizeof("\"" name "\":") - 1, (v), true)

static void put_head(struct out *o, const struct bs_record_head *h, const char *type)
{
	if (h->version == 1)
		PUT_LIT(o, "{\"schema\":\"" BS_SCHEMA_NAME_V1 "\",\"type\":\"");
	else
		PUT_LIT(o, "{\"schema\":\"" BS_SCHEMA_NAME "\",\"type\":\"");
	put_str(o, type);
	PUT_LIT(o, "\",\"node_id\":\"");
	put_str(o, h->node_id);
	PUT_LIT(o, "\",\"boot_id\":\"");
	put_mem(o, h->boot_id, BS_BOOT_ID_LEN);
	PUT_LIT(o, "\",");
	FIELD_U64(o, "seq", h->seq);
	PUT_LIT(o, "\"interval_start\":");
	put_i64(o, h->interval_start);
	PUT_LIT(o, ",");
	FIELD_U64(o, "interval_len", h->interval_len);
	PUT_LIT(o, "\"byte_measure\":\"");
	put_str(o, bs_measure_name(h->measure));
	PUT_LIT(o, "\",");
	FIELD_U64(o, "map_version", h->map_version);
}

int bs_record_encode(const struct bs_record *rec, char *buf, size_t buf_size)
{
	const struct bs_record_head *h = &rec->head;

	/* Producers validate node_id and boot_id once, at startup; anything
	 * else here would produce JSON that the settlement refuses. */
	assert(bs_node_id_valid(h->node_id));
	assert(boot_id_valid_n(h->boot_id, strnlen(h->boot_id, BS_BOOT_ID_LEN + 1)));
	assert(h->measure == BS_MEASURE_FRAME || h->measure == BS_MEASURE_IP);
	assert(h->version <= BS_SCHEMA_VERSION);
	if (buf_size == 0)
		return -1;
	/* one byte is kept for the terminating NUL */
	struct out o = { buf, buf + buf_size - 1, false };

	if (h->type == BS_RECORD_USAGE) {
		const struct bs_usage *u = &rec->usage;
		assert(u->direction == BS_DIR_IN || u->direction == BS_DIR_OUT);
		put_head(&o, h, "usage");
		FIELD_U64(&o, "tenant_id", u->tenant_id);
		FIELD_U64(&o, "pool_id", u->pool_id);
		PUT_LIT(&o, "\"direction\":\"");
		put_str(&o, bs_direction_name(u->direction));
		PUT_LIT(&o, "\",");
		FIELD_U64(&o, "packets", u->counts.packets);
		FIELD_U64(&o, "bytes", u->counts.bytes);
		FIELD_U64(&o, "policed_packets", u->policed.packets);
		LAST_U64(&o, "policed_bytes", u->policed.bytes);
	} else {
		const struct bs_summary *s = &rec->summary;
		assert(h->type == BS_RECORD_SUMMARY);
		put_head(&o, h, "summary");
		FIELD_U64(&o, "record_count", s->record_count);
		FIELD_U64(&o, "first_seq", s->first_seq);
		FIELD_U64(&o, "in_packets", s->dir[BS_DIR_IN].packets);
		FIELD_U64(&o, "in_bytes", s->dir[BS_DIR_IN].bytes);
		FIELD_U64(&o, "out_packets", s->dir[BS_DIR_OUT].packets);
		FIELD_U64(&o, "out_bytes", s->dir[BS_DIR_OUT].bytes);
		FIELD_U64(&o, "unattributed_packets", s->unattributed.packets);
		FIELD_U64(&o, "unattributed_bytes", s->unattributed.bytes);
		FIELD_U64(&o, "malformed_packets", s->malformed.packets);
		FIELD_U64(&o, "malformed_bytes", s->malformed.bytes);
		FIELD_U64(&o, "non_ip_packets", s->non_ip.packets);
		FIELD_U64(&o, "non_ip_bytes", s->non_ip.bytes);
		FIELD_U64(&o, "rx_packets", s->rx.packets);
		if (h->version == 1) {
			LAST_U64(&o, "rx_bytes", s->rx.bytes);
		} else {
			FIELD_U64(&o, "rx_bytes", s->rx.bytes);
			FIELD_U64(&o, "late_packets", s->late.packets);
			FIELD_U64(&o, "late_bytes", s->late.bytes);
			FIELD_U64(&o, "malformed_short_ether", s->malformed_reason[0]);
			FIELD_U64(&o, "malformed_too_many_tags", s->malformed_reason[1]);
			FIELD_U64(&o, "malformed_short_ip", s->malformed_reason[2]);
			FIELD_U64(&o, "malformed_bad_version", s->malformed_reason[3]);
			FIELD_U64(&o, "malformed_bad_ihl", s->malformed_reason[4]);
			LAST_U64(&o, "malformed_bad_length", s->malformed_reason[5]);
		}
	}
	if (o.full)
		return -1;
	*o.p = '\0';
	return (int)(o.p - buf);
}

int bs_record_key_of(enum bs_record_type type, uint32_t tenant_id,
		     const char *node_id, char *buf, size_t buf_size)
{
	int n;
	if (type == BS_RECORD_USAGE)
		n = snprintf(buf, buf_size, "%" PRIu32, tenant_id);
	else
		n = snprintf(buf, buf_size, "node:%s", node_id);
	if (n < 0 || (size_t)n >= buf_size)
		return -1;
	return n;
}

int bs_record_key(const struct bs_record *rec, char *buf, size_t buf_size)
{
	return bs_record_key_of(rec->head.type, rec->usage.tenant_id,
				rec->head.node_id, buf, buf_size);
}

/* --- decode ---------------------------------------------------------- */

enum field_kind {
	F_SCHEMA,   /* checked before the table is walked */
	F_TYPE,
	F_NODE_ID,
	F_BOOT_ID,
	F_MEASURE,
	F_DIRECTION,
	F_U64,      /* uint64_t, min..max */
	F_I64,      /* int64_t, min..max */
	F_U32,      /* uint32_t, min..max */
};

struct field {
	const char *name;
	enum field_kind kind;
	size_t offset;        /* into struct bs_record */
	int64_t min, max;     /* for the integer kinds */
};

#define OFF(member) offsetof(struct bs_record, member)
#define COUNT_MAX ((int64_t)BS_COUNT_MAX)

#define HEAD_FIELDS \
	{ "schema", F_SCHEMA, 0, 0, 0 }, \
	{ "type", F_TYPE, 0, 0, 0 }, \
	{ "node_id", F_NODE_ID, OFF(head.node_id), 0, 0 }, \
	{ "boot_id", F_BOOT_ID, OFF(head.boot_id), 0, 0 }, \
	{ "seq", F_U64, OFF(head.seq), 1, COUNT_MAX }, \
	{ "interval_start", F_I64, OFF(head.interval_start), 0, COUNT_MAX }, \
	{ "interval_len", F_U32, OFF(head.interval_len), 1, BS_INTERVAL_MAX_S }, \
	{ "byte_measure", F_MEASURE, OFF(head.measure), 0, 0 }, \
	{ "map_version", F_U64, OFF(head.map_version), 0, COUNT_MAX }

#define COUNTS(prefix, member) \
	{ prefix "packets", F_U64, OFF(member.packets), 0, COUNT_MAX }, \
	{ prefix "bytes", F_U64, OFF(member.bytes), 0, COUNT_MAX }

static const struct field usage_fields[] = {
	HEAD_FIELDS,
	{ "tenant_id", F_U32, OFF(usage.tenant_id), 0, UINT32_MAX },
	{ "pool_id", F_U32, OFF(usage.pool_id), 0, UINT32_MAX },
	{ "direction", F_DIRECTION, OFF(usage.direction), 0, 0 },
	COUNTS("", usage.counts),
	COUNTS("policed_", usage.policed),
};

#define SUMMARY_V1_FIELDS \
	HEAD_FIELDS, \
	{ "record_count", F_U32, OFF(summary.record_count), 0, \
	  SUMMARY_RECORD_COUNT_MAX }, \
	{ "first_seq", F_U64, OFF(summary.first_seq), 0, COUNT_MAX }, \
	COUNTS("in_", summary.dir[BS_DIR_IN]), \
	COUNTS("out_", summary.dir[BS_DIR_OUT]), \
	COUNTS("unattributed_", summary.unattributed), \
	COUNTS("malformed_", summary.malformed), \
	COUNTS("non_ip_", summary.non_ip), \
	COUNTS("rx_", summary.rx)

#define MAL_REASON(name, i) \
	{ "malformed_" name, F_U64, OFF(summary.malformed_reason[i]), 0, COUNT_MAX }

static const struct field summary_fields_v1[] = {
	SUMMARY_V1_FIELDS,
};

static const struct field summary_fields[] = {
	SUMMARY_V1_FIELDS,
	COUNTS("late_", summary.late),
	MAL_REASON("short_ether", 0),
	MAL_REASON("too_many_tags", 1),
	MAL_REASON("short_ip", 2),
	MAL_REASON("bad_version", 3),
	MAL_REASON("bad_ihl", 4),
	MAL_REASON("bad_length", 5),
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

struct decode_ctx {
	const char **reason;
	char *err;
	size_t err_size;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct decode_ctx *c, const char *reason, const char *fmt, ...)
{
	va_list ap;
	*c->reason = reason;
	if (c->err_size > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->err_size, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* json-c keeps the last of duplicate keys and accepts single-quoted strings
 * even in strict mode. One pass over the raw text refuses the quotes and
 * counts the members of the top-level object, so a duplicate is seen when
 * the count differs from json-c's. Returns the count, or -1. */
static int raw_member_count(const char *buf, size_t len)
{
	int depth = 0, members = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		switch (c) {
		case '"': in_string = true; break;
		case '\'': return -1;
		case '{': case '[': depth++; break;
		case '}': case ']': depth--; break;
		case ':': if (depth == 1) members++; break;
		default: break;
		}
	}
	return members;
}

static int string_field(struct decode_ctx *c, const struct field *f,
			json_object *v, const char **s, size_t *len)
{
	if (json_object_get_type(v) != json_type_string)
		return fail(c, "type", "field '%s': must be a string", f->name);
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return 0;
}

static int int_field(struct decode_ctx *c, const struct field *f,
		     json_object *v, int64_t *out)
{
	if (json_object_get_type(v) != json_type_int)
		return fail(c, "type", "field '%s': must be an integer", f->name);
	/* json-c clamps values beyond int64 to INT64_MIN/MAX, both outside
	 * every range below, so an overflow cannot slip through. */
	int64_t x = json_object_get_int64(v);
	if (x < f->min || x > f->max)
		return fail(c, "range",
			    "field '%s': %" PRId64 " is outside %" PRId64
			    "..%" PRId64, f->name, x, f->min, f->max);
	*out = x;
	return 0;
}

static int decode_field(struct decode_ctx *c, const struct field *f,
			json_object *v, struct bs_record *rec)
{
	char *dst = (char *)rec + f->offset;
	const char *s = NULL;
	size_t len = 0;
	int64_t x;

	switch (f->kind) {
	case F_SCHEMA:
	case F_TYPE:
		return 0; /* already checked by bs_record_decode */
	case F_NODE_ID:
		if (string_field(c, f, v, &s, &len) < 0)
			return -1;
		if (!node_id_valid_n(s, len))
			return fail(c, "range", "field '%s': must be 1..%d of "
				    "[A-Za-z0-9._-]", f->name, BS_NODE_ID_MAX);
		memcpy(dst, s, len + 1);
		return 0;
	case F_BOOT_ID:
		if (string_field(c, f, v, &s, &len) < 0)
			return -1;
		if (!boot_id_valid_n(s, len))
			return fail(c, "range", "field '%s': must be %d lowercase "
				    "hex digits", f->name, BS_BOOT_ID_LEN);
		memcpy(dst, s, len + 1);
		return 0;
	case F_MEASURE:
		if (string_field(c, f, v, &s, &len) < 0)
			return -1;
		if (bs_measure_parse(s, len, (enum bs_byte_measure *)(void *)dst) < 0)
			return fail(c, "range", "field '%s': must be \""
				    BS_MEASURE_FRAME_NAME "\" or \""
				    BS_MEASURE_IP_NAME "\"", f->name);
		return 0;
	case F_DIRECTION:
		if (string_field(c, f, v, &s, &len) < 0)
			return -1;
		if (strcmp(s, "in") == 0 && len == 2)
			*(enum bs_direction *)(void *)dst = BS_DIR_IN;
		else if (strcmp(s, "out") == 0 && len == 3)
			*(enum bs_direction *)(void *)dst = BS_DIR_OUT;
		else
			return fail(c, "range", "field '%s': must be \"in\" or "
				    "\"out\"", f->name);
		return 0;
	case F_U64:
		if (int_field(c, f, v, &x) < 0)
			return -1;
		*(uint64_t *)(void *)dst = (uint64_t)x;
		return 0;
	case F_I64:
		if (int_field(c, f, v, &x) < 0)
			return -1;
		*(int64_t *)(void *)dst = x;
		return 0;
	case F_U32:
		if (int_field(c, f, v, &x) < 0)
			return -1;
		*(uint32_t *)(void *)dst = (uint32_t)x;
		return 0;
	}
	assert(!"unreachable field kind");
	return -1;
}

/* Names the first member of obj that is not in fields[]. */
static int unknown_field(struct decode_ctx *c, json_object *obj,
			 const struct field *fields, size_t nfields)
{
	json_object_object_foreach(obj, key, val) {
		(void)val;
		bool known = false;
		for (size_t i = 0; i < nfields && !known; i++)
			known = strcmp(key, fields[i].name) == 0;
		if (!known)
			return fail(c, "unknown_field", "field '%.64s': unknown "
				    "in a %s record", key,
				    fields == usage_fields ? "usage" : "summary");
	}
	return 0;
}

static int check_summary(struct decode_ctx *c, const struct bs_summary *s,
			 unsigned version)
{
	uint64_t pk = s->dir[BS_DIR_IN].packets + s->dir[BS_DIR_OUT].packets;
	uint64_t by = s->dir[BS_DIR_IN].bytes + s->dir[BS_DIR_OUT].bytes;

	if (s->unattributed.packets > pk)
		return fail(c, "range", "field 'unattributed_packets': exceeds "
			    "in_packets + out_packets");
	if (s->unattributed.bytes > by)
		return fail(c, "range", "field 'unattributed_bytes': exceeds "
			    "in_bytes + out_bytes");
	if (s->record_count > 0 && s->first_seq == 0)
		return fail(c, "range", "field 'first_seq': must be >= 1 when "
			    "record_count > 0");
	if (s->record_count == 0 && s->first_seq != 0)
		return fail(c, "range", "field 'first_seq': must be 0 when "
			    "record_count is 0");
	if (version == 1)
		return 0;
	if (s->late.packets > s->rx.packets)
		return fail(c, "range", "field 'late_packets': exceeds rx_packets");
	if (s->late.bytes > s->rx.bytes)
		return fail(c, "range", "field 'late_bytes': exceeds rx_bytes");
	uint64_t reasons = 0;   /* each < 2^62: six cannot overflow */
	for (unsigned i = 0; i < BS_RECORD_MAL_REASONS; i++)
		reasons += s->malformed_reason[i];
	if (reasons != s->malformed.packets)
		return fail(c, "range", "fields 'malformed_short_ether'.."
			    "'malformed_bad_length': sum to %" PRIu64
			    ", malformed_packets is %" PRIu64, reasons,
			    s->malformed.packets);
	return 0;
}

static int decode_object(struct decode_ctx *c, json_object *obj, int members,
			 struct bs_record *rec)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, "schema", &v))
		return fail(c, "missing_field", "field 'schema': missing");
	if (json_object_get_type(v) != json_type_string)
		return fail(c, "schema_version", "field 'schema': expected \"%s\"",
			    BS_SCHEMA_NAME);
	if (strcmp(json_object_get_string(v), BS_SCHEMA_NAME) == 0)
		rec->head.version = 2;
	else if (strcmp(json_object_get_string(v), BS_SCHEMA_NAME_V1) == 0)
		rec->head.version = 1;
	else
		return fail(c, "schema_version", "field 'schema': expected \"%s\" "
			    "(or \"%s\")", BS_SCHEMA_NAME, BS_SCHEMA_NAME_V1);

	if (!json_object_object_get_ex(obj, "type", &v))
		return fail(c, "missing_field", "field 'type': missing");
	if (json_object_get_type(v) != json_type_string)
		return fail(c, "type", "field 'type': must be a string");
	const struct field *fields;
	size_t nfields;
	const char *type = json_object_get_string(v);
	if (strcmp(type, "usage") == 0) {
		rec->head.type = BS_RECORD_USAGE;
		fields = usage_fields;
		nfields = NFIELDS(usage_fields);
	} else if (strcmp(type, "summary") == 0) {
		rec->head.type = BS_RECORD_SUMMARY;
		fields = rec->head.version == 1 ? summary_fields_v1 : summary_fields;
		nfields = rec->head.version == 1 ? NFIELDS(summary_fields_v1)
						 : NFIELDS(summary_fields);
	} else {
		return fail(c, "range", "field 'type': must be \"usage\" or "
			    "\"summary\"");
	}

	for (size_t i = 0; i < nfields; i++) {
		if (!json_object_object_get_ex(obj, fields[i].name, &v))
			return fail(c, "missing_field", "field '%s': missing",
				    fields[i].name);
		if (decode_field(c, &fields[i], v, rec) < 0)
			return -1;
	}
	if ((size_t)json_object_object_length(obj) != nfields)
		return unknown_field(c, obj, fields, nfields);
	if (members != (int)nfields)
		return fail(c, "parse", "record has a duplicate field");

	if (rec->head.interval_start % rec->head.interval_len != 0)
		return fail(c, "unaligned", "field 'interval_start': %" PRId64
			    " is not a multiple of interval_len %" PRIu32,
			    rec->head.interval_start, rec->head.interval_len);
	if (rec->head.type == BS_RECORD_SUMMARY)
		return check_summary(c, &rec->summary, rec->head.version);
	return 0;
}

int bs_record_decode(const char *buf, size_t len, struct bs_record *rec,
		     const char **reason, char *err, size_t err_size)
{
	struct decode_ctx c = { reason, err, err_size };

	if (len > BS_RECORD_MAX_BYTES)
		return fail(&c, "too_large", "record of %zu bytes exceeds %d",
			    len, BS_RECORD_MAX_BYTES);
	if (memchr(buf, '\0', len) != NULL)
		return fail(&c, "parse", "record contains a NUL byte");

	json_tokener *tok = json_tokener_new();
	if (tok == NULL)
		return fail(&c, "parse", "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	int rc;
	if (jerr != json_tokener_success || obj == NULL) {
		rc = fail(&c, "parse", "invalid JSON at byte %zu: %s", end,
			  jerr == json_tokener_continue ? "unexpected end"
			  : json_tokener_error_desc(jerr));
	} else if (end != len) {
		rc = fail(&c, "parse", "trailing data at byte %zu", end);
	} else if (json_object_get_type(obj) != json_type_object) {
		rc = fail(&c, "parse", "record is not a JSON object");
	} else {
		int members = raw_member_count(buf, len);
		memset(rec, 0, sizeof(*rec));
		if (members < 0)
			rc = fail(&c, "parse", "invalid JSON: single quote");
		else
			rc = decode_object(&c, obj, members, rec);
	}
	json_object_put(obj);
	return rc;
}
