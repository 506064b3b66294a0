/*
 * fastdecode.c — the canonical layout of bs_record_encode(), recognised in
 * one scan. See fastdecode.h. Every helper returns false on the first byte
 * that is not exactly what the encoder writes.
 */
#include "fastdecode.h"

#include <stdint.h>
#include <string.h>

/* Stricter than bs_record_decode()'s own limits, so that a value the fast
 * path accepts is always one the strict decoder accepts too. */
#define FAST_COUNT_MAX        ((UINT64_C(1) << 62) - 1)
#define FAST_RECORD_COUNT_MAX 1000000u

struct scan {
	const char *p, *end;
};

static bool lit(struct scan *s, const char *text, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, text, n) != 0)
		return false;
	s->p += n;
	return true;
}

#define LIT(s, text) lit((s), (text), sizeof(text) - 1)

/* A JSON integer as the encoder writes it: "0" or [1-9][0-9]*, at most
 * 19 digits, no sign. */
static bool uint_value(struct scan *s, uint64_t max, uint64_t *out)
{
	const char *p = s->p;
	if (p == s->end || *p < '0' || *p > '9')
		return false;
	if (*p == '0') {
		s->p = p + 1;
		*out = 0;
		return s->p == s->end || *s->p < '0' || *s->p > '9';
	}
	uint64_t v = 0;
	int digits = 0;
	while (p < s->end && *p >= '0' && *p <= '9') {
		if (++digits > 19)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (v > max)
		return false;
	s->p = p;
	*out = v;
	return true;
}

static bool node_id_value(struct scan *s, char *out)
{
	const char *start = s->p;
	while (s->p < s->end && *s->p != '"') {
		char c = *s->p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
		s->p++;
	}
	size_t n = (size_t)(s->p - start);
	if (n == 0 || n > BS_NODE_ID_MAX || s->p == s->end)
		return false;
	memcpy(out, start, n);
	out[n] = '\0';
	s->p++;   /* the closing quote */
	return true;
}

static bool boot_id_value(struct scan *s, char *out)
{
	if (s->end - s->p < BS_BOOT_ID_LEN + 1 || s->p[BS_BOOT_ID_LEN] != '"')
		return false;
	for (int i = 0; i < BS_BOOT_ID_LEN; i++) {
		char c = s->p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	memcpy(out, s->p, BS_BOOT_ID_LEN);
	out[BS_BOOT_ID_LEN] = '\0';
	s->p += BS_BOOT_ID_LEN + 1;
	return true;
}

static bool counts(struct scan *s, const char *packets_key, size_t pk_len,
		   const char *bytes_key, size_t bk_len, struct bs_counts *c)
{
	return lit(s, packets_key, pk_len) &&
	       uint_value(s, FAST_COUNT_MAX, &c->packets) &&
	       lit(s, bytes_key, bk_len) &&
	       uint_value(s, FAST_COUNT_MAX, &c->bytes);
}

#define COUNTS(s, pk, bk, c) counts((s), pk, sizeof(pk) - 1, bk, sizeof(bk) - 1, (c))

static bool head(struct scan *s, struct bs_record_head *h)
{
	uint64_t v;
	if (!LIT(s, "\"node_id\":\"") || !node_id_value(s, h->node_id) ||
	    !LIT(s, ",\"boot_id\":\"") || !boot_id_value(s, h->boot_id) ||
	    !LIT(s, ",\"seq\":") || !uint_value(s, FAST_COUNT_MAX, &h->seq) ||
	    h->seq < 1 ||
	    !LIT(s, ",\"interval_start\":") || !uint_value(s, FAST_COUNT_MAX, &v))
		return false;
	h->interval_start = (int64_t)v;
	if (!LIT(s, ",\"interval_len\":") || !uint_value(s, BS_INTERVAL_MAX_S, &v) ||
	    v < 1)
		return false;
	h->interval_len = (uint32_t)v;
	if (!LIT(s, ",\"byte_measure\":\""))
		return false;
	if (LIT(s, BS_MEASURE_FRAME_NAME "\""))
		h->measure = BS_MEASURE_FRAME;
	else if (LIT(s, BS_MEASURE_IP_NAME "\""))
		h->measure = BS_MEASURE_IP;
	else
		return false;
	return LIT(s, ",\"map_version\":") &&
	       uint_value(s, FAST_COUNT_MAX, &h->map_version) &&
	       h->interval_start % h->interval_len == 0;
}

static bool usage_body(struct scan *s, struct bs_usage *u)
{
	uint64_t v;
	if (!LIT(s, ",\"tenant_id\":") || !uint_value(s, UINT32_MAX, &v))
		return false;
	u->tenant_id = (uint32_t)v;
	if (!LIT(s, ",\"pool_id\":") || !uint_value(s, UINT32_MAX, &v))
		return false;
	u->pool_id = (uint32_t)v;
	if (!LIT(s, ",\"direction\":\""))
		return false;
	if (LIT(s, "in\""))
		u->direction = BS_DIR_IN;
	else if (LIT(s, "out\""))
		u->direction = BS_DIR_OUT;
	else
		return false;
	return COUNTS(s, ",\"packets\":", ",\"bytes\":", &u->counts) &&
	       COUNTS(s, ",\"policed_packets\":", ",\"policed_bytes\":", &u->policed);
}

/* v2's late counts and malformed reasons, and the strict decoder's checks
 * of them. */
static bool summary_v2_tail(struct scan *s, struct bs_summary *m)
{
	static const char *const keys[BS_RECORD_MAL_REASONS] = {
		",\"malformed_short_ether\":", ",\"malformed_too_many_tags\":",
		",\"malformed_short_ip\":", ",\"malformed_bad_version\":",
		",\"malformed_bad_ihl\":", ",\"malformed_bad_length\":",
	};
	if (!COUNTS(s, ",\"late_packets\":", ",\"late_bytes\":", &m->late))
		return false;
	uint64_t reasons = 0;
	for (unsigned i = 0; i < BS_RECORD_MAL_REASONS; i++) {
		if (!lit(s, keys[i], strlen(keys[i])) ||
		    !uint_value(s, FAST_COUNT_MAX, &m->malformed_reason[i]))
			return false;
		reasons += m->malformed_reason[i];
	}
	return m->late.packets <= m->rx.packets && m->late.bytes <= m->rx.bytes &&
	       reasons == m->malformed.packets;
}

static bool summary_body(struct scan *s, struct bs_summary *m, unsigned version)
{
	uint64_t v;
	if (!LIT(s, ",\"record_count\":") || !uint_value(s, FAST_RECORD_COUNT_MAX, &v))
		return false;
	m->record_count = (uint32_t)v;
	if (!LIT(s, ",\"first_seq\":") || !uint_value(s, FAST_COUNT_MAX, &m->first_seq) ||
	    !COUNTS(s, ",\"in_packets\":", ",\"in_bytes\":", &m->dir[BS_DIR_IN]) ||
	    !COUNTS(s, ",\"out_packets\":", ",\"out_bytes\":", &m->dir[BS_DIR_OUT]) ||
	    !COUNTS(s, ",\"unattributed_packets\":", ",\"unattributed_bytes\":",
		    &m->unattributed) ||
	    !COUNTS(s, ",\"malformed_packets\":", ",\"malformed_bytes\":", &m->malformed) ||
	    !COUNTS(s, ",\"non_ip_packets\":", ",\"non_ip_bytes\":", &m->non_ip) ||
	    !COUNTS(s, ",\"rx_packets\":", ",\"rx_bytes\":", &m->rx) ||
	    (version == 2 && !summary_v2_tail(s, m)))
		return false;
	/* the strict decoder's cross-field checks; sums cannot overflow
	 * (each term < 2^62) */
	uint64_t pk = m->dir[BS_DIR_IN].packets + m->dir[BS_DIR_OUT].packets;
	uint64_t by = m->dir[BS_DIR_IN].bytes + m->dir[BS_DIR_OUT].bytes;
	return m->unattributed.packets <= pk && m->unattributed.bytes <= by &&
	       (m->record_count > 0) == (m->first_seq != 0);
}

bool settle_fast_decode(const char *buf, size_t len, struct bs_record *rec)
{
	if (len > BS_RECORD_MAX_BYTES)
		return false;
	struct scan s = { buf, buf + len };
	memset(rec, 0, sizeof(*rec));
	if (LIT(&s, "{\"schema\":\"" BS_SCHEMA_NAME "\",\"type\":\""))
		rec->head.version = 2;
	else if (LIT(&s, "{\"schema\":\"" BS_SCHEMA_NAME_V1 "\",\"type\":\""))
		rec->head.version = 1;
	else
		return false;
	bool ok;
	if (LIT(&s, "usage\",")) {
		rec->head.type = BS_RECORD_USAGE;
		ok = head(&s, &rec->head) && usage_body(&s, &rec->usage);
	} else if (LIT(&s, "summary\",")) {
		rec->head.type = BS_RECORD_SUMMARY;
		ok = head(&s, &rec->head) &&
		     summary_body(&s, &rec->summary, rec->head.version);
	} else {
		return false;
	}
	return ok && LIT(&s, "}") && s.p == s.end;
}
