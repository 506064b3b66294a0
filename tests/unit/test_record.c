/*
 * test_record.c — the usage record codec: round trips of both record types,
 * the exact wire form, every rejection reason of the strict decoder, keys;
 * v1 records (no late or malformed-reason counts) still accepted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"

#define BOOT "0123456789abcdef0123456789abcdef"

static struct bs_record sample_usage(void)
{
	struct bs_record r;
	memset(&r, 0, sizeof(r));
	r.head.type = BS_RECORD_USAGE;
	strcpy(r.head.node_id, "node-a");
	strcpy(r.head.boot_id, BOOT);
	r.head.seq = 17;
	r.head.interval_start = 1700000000;
	r.head.interval_len = 10;
	r.head.measure = BS_MEASURE_FRAME;
	r.head.map_version = 3;
	r.usage.tenant_id = 42;
	r.usage.pool_id = 1;
	r.usage.direction = BS_DIR_IN;
	r.usage.counts.packets = 10;
	r.usage.counts.bytes = 6400;
	r.usage.policed.packets = 2;
	r.usage.policed.bytes = 128;
	return r;
}

static struct bs_record sample_summary(void)
{
	struct bs_record r;
	memset(&r, 0, sizeof(r));
	r.head.type = BS_RECORD_SUMMARY;
	strcpy(r.head.node_id, "Node_B.2");
	strcpy(r.head.boot_id, BOOT);
	r.head.seq = 18;
	r.head.interval_start = 1700000000;
	r.head.interval_len = 10;
	r.head.measure = BS_MEASURE_IP;
	r.head.map_version = 3;
	r.summary.record_count = 17;
	r.summary.first_seq = 1;
	r.summary.dir[BS_DIR_IN] = (struct bs_counts){ 100, 64000 };
	r.summary.dir[BS_DIR_OUT] = (struct bs_counts){ 90, 9000 };
	r.summary.unattributed = (struct bs_counts){ 5, 300 };
	r.summary.malformed = (struct bs_counts){ 1, 20 };
	r.summary.non_ip = (struct bs_counts){ 2, 120 };
	r.summary.rx = (struct bs_counts){ 193, BS_COUNT_MAX };
	r.summary.late = (struct bs_counts){ 3, 180 };
	r.summary.malformed_reason[5] = 1;   /* bad_length */
	return r;
}

static const char USAGE_JSON[] =
	"{\"schema\":\"bandsplit.usage.v2\",\"type\":\"usage\","
	"\"node_id\":\"node-a\",\"boot_id\":\"" BOOT "\",\"seq\":17,"
	"\"interval_start\":1700000000,\"interval_len\":10,"
	"\"byte_measure\":\"frame\",\"map_version\":3,\"tenant_id\":42,"
	"\"pool_id\":1,\"direction\":\"in\",\"packets\":10,\"bytes\":6400,"
	"\"policed_packets\":2,\"policed_bytes\":128}";

static void assert_same(const struct bs_record *a, const struct bs_record *b)
{
	assert_int_equal(a->head.type, b->head.type);
	assert_int_equal(a->head.version ? a->head.version : BS_SCHEMA_VERSION,
			 b->head.version);
	assert_string_equal(a->head.node_id, b->head.node_id);
	assert_string_equal(a->head.boot_id, b->head.boot_id);
	assert_int_equal(a->head.seq, b->head.seq);
	assert_int_equal(a->head.interval_start, b->head.interval_start);
	assert_int_equal(a->head.interval_len, b->head.interval_len);
	assert_int_equal(a->head.measure, b->head.measure);
	assert_int_equal(a->head.map_version, b->head.map_version);
	if (a->head.type == BS_RECORD_USAGE)
		assert_memory_equal(&a->usage, &b->usage, sizeof(a->usage));
	else
		assert_memory_equal(&a->summary, &b->summary, sizeof(a->summary));
}

static void round_trip(const struct bs_record *in)
{
	char buf[BS_RECORD_MAX_BYTES];
	char err[256] = "";
	const char *reason = NULL;
	struct bs_record out;

	int n = bs_record_encode(in, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	memset(&out, 0xa5, sizeof(out));
	int rc = bs_record_decode(buf, (size_t)n, &out, &reason, err, sizeof(err));
	if (rc != 0)
		fail_msg("decode of %s failed: %s (%s)", buf, err, reason);
	assert_same(in, &out);
}

static void test_usage_round_trip(void **state)
{
	(void)state;
	struct bs_record r = sample_usage();
	round_trip(&r);
	r.usage.direction = BS_DIR_OUT;
	r.usage.tenant_id = UINT32_MAX;
	r.usage.counts.bytes = BS_COUNT_MAX;
	r.head.interval_start = 0;
	r.head.interval_len = BS_INTERVAL_MAX_S;
	round_trip(&r);
}

static void test_summary_round_trip(void **state)
{
	(void)state;
	struct bs_record r = sample_summary();
	round_trip(&r);
	r.summary.record_count = 0;
	r.summary.first_seq = 0;
	r.summary.unattributed = (struct bs_counts){ 0, 0 };
	round_trip(&r);
	/* a v1 summary: no late or reason counts on the wire */
	r.head.version = 1;
	r.summary.late = (struct bs_counts){ 0, 0 };
	r.summary.malformed_reason[5] = 0;
	round_trip(&r);
}

static void test_usage_wire_form(void **state)
{
	(void)state;
	struct bs_record r = sample_usage();
	char buf[BS_RECORD_MAX_BYTES];
	int n = bs_record_encode(&r, buf, sizeof(buf));
	assert_string_equal(buf, USAGE_JSON);
	assert_int_equal(n, (int)strlen(USAGE_JSON));
}

static void test_summary_wire_order(void **state)
{
	(void)state;
	static const char *const order[] = {
		"schema", "type", "node_id", "boot_id", "seq", "interval_start",
		"interval_len", "byte_measure", "map_version", "record_count",
		"first_seq", "in_packets", "in_bytes", "out_packets",
		"out_bytes", "unattributed_packets", "unattributed_bytes",
		"malformed_packets", "malformed_bytes", "non_ip_packets",
		"non_ip_bytes", "rx_packets", "rx_bytes", "late_packets",
		"late_bytes", "malformed_short_ether", "malformed_too_many_tags",
		"malformed_short_ip", "malformed_bad_version", "malformed_bad_ihl",
		"malformed_bad_length",
	};
	struct bs_record r = sample_summary();
	char buf[BS_RECORD_MAX_BYTES], key[64];
	assert_true(bs_record_encode(&r, buf, sizeof(buf)) > 0);
	const char *p = buf;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		snprintf(key, sizeof(key), "\"%s\":", order[i]);
		const char *at = strstr(buf, key);
		if (at == NULL || at < p)
			fail_msg("field %s missing or out of order in %s",
				 order[i], buf);
		p = at;
	}
	assert_non_null(strstr(buf, "\"rx_bytes\":4611686018427387904,"));
	assert_non_null(strstr(buf, "\"malformed_bad_length\":1}"));
}

/* The encoder against printf, the way it was first written: the same bytes
 * for records with extreme and random values. */
static int printf_encode(const struct bs_record *rec, char *buf, size_t size)
{
	const struct bs_record_head *h = &rec->head;
	char head[512];
	snprintf(head, sizeof(head), "{\"schema\":\"%s\",\"type\":\"%s\","
		 "\"node_id\":\"%s\",\"boot_id\":\"%s\",\"seq\":%" PRIu64 ","
		 "\"interval_start\":%" PRId64 ",\"interval_len\":%" PRIu32 ","
		 "\"byte_measure\":\"%s\",\"map_version\":%" PRIu64 ",",
		 h->version == 1 ? BS_SCHEMA_NAME_V1 : BS_SCHEMA_NAME,
		 h->type == BS_RECORD_USAGE ? "usage" : "summary", h->node_id,
		 h->boot_id, h->seq, h->interval_start, h->interval_len,
		 bs_measure_name(h->measure), h->map_version);
	if (h->type == BS_RECORD_USAGE) {
		const struct bs_usage *u = &rec->usage;
		return snprintf(buf, size, "%s\"tenant_id\":%" PRIu32 ",\"pool_id\":%" PRIu32 ","
			"\"direction\":\"%s\",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ","
			"\"policed_packets\":%" PRIu64 ",\"policed_bytes\":%" PRIu64 "}",
			head, u->tenant_id, u->pool_id, bs_direction_name(u->direction),
			u->counts.packets, u->counts.bytes, u->policed.packets, u->policed.bytes);
	}
	const struct bs_summary *s = &rec->summary;
	char tail[512] = "}";
	if (h->version != 1)
		snprintf(tail, sizeof(tail), ",\"late_packets\":%" PRIu64 ",\"late_bytes\":%" PRIu64
			 ",\"malformed_short_ether\":%" PRIu64 ",\"malformed_too_many_tags\":%" PRIu64
			 ",\"malformed_short_ip\":%" PRIu64 ",\"malformed_bad_version\":%" PRIu64
			 ",\"malformed_bad_ihl\":%" PRIu64 ",\"malformed_bad_length\":%" PRIu64 "}",
			 s->late.packets, s->late.bytes, s->malformed_reason[0],
			 s->malformed_reason[1], s->malformed_reason[2], s->malformed_reason[3],
			 s->malformed_reason[4], s->malformed_reason[5]);
	return snprintf(buf, size, "%s\"record_count\":%" PRIu32 ",\"first_seq\":%" PRIu64 ","
		"\"in_packets\":%" PRIu64 ",\"in_bytes\":%" PRIu64 ",\"out_packets\":%" PRIu64 ","
		"\"out_bytes\":%" PRIu64 ",\"unattributed_packets\":%" PRIu64 ","
		"\"unattributed_bytes\":%" PRIu64 ",\"malformed_packets\":%" PRIu64 ","
		"\"malformed_bytes\":%" PRIu64 ",\"non_ip_packets\":%" PRIu64 ","
		"\"non_ip_bytes\":%" PRIu64 ",\"rx_packets\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 "%s",
		head, s->record_count, s->first_seq, s->dir[BS_DIR_IN].packets,
		s->dir[BS_DIR_IN].bytes, s->dir[BS_DIR_OUT].packets, s->dir[BS_DIR_OUT].bytes,
		s->unattributed.packets, s->unattributed.bytes, s->malformed.packets,
		s->malformed.bytes, s->non_ip.packets, s->non_ip.bytes, s->rx.packets,
		s->rx.bytes, tail);
}

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;

/* a random value of random magnitude: 0, small, or up to 2^64 - 1 */
static uint64_t rnd_u64(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	unsigned bits = (unsigned)(rnd_state % 65);
	uint64_t v = rnd_state * 0x9e3779b97f4a7c15ull;
	return bits == 0 ? 0 : bits == 64 ? v : v >> (64 - bits);
}

static void test_encode_matches_printf(void **state)
{
	(void)state;
	char fast[BS_RECORD_MAX_BYTES], slow[BS_RECORD_MAX_BYTES];
	for (int i = 0; i < 20000; i++) {
		struct bs_record r = (i & 1) ? sample_summary() : sample_usage();
		r.head.seq = rnd_u64();
		r.head.interval_start = (int64_t)rnd_u64();
		r.head.interval_len = (uint32_t)rnd_u64();
		r.head.map_version = rnd_u64();
		r.head.measure = (i & 2) ? BS_MEASURE_IP : BS_MEASURE_FRAME;
		if (i == 0)
			r.head.seq = UINT64_MAX;
		if (i == 2)
			r.head.interval_start = INT64_MIN;
		if (r.head.type == BS_RECORD_USAGE) {
			r.usage.tenant_id = (uint32_t)rnd_u64();
			r.usage.pool_id = (uint32_t)rnd_u64();
			r.usage.direction = (i & 4) ? BS_DIR_OUT : BS_DIR_IN;
			r.usage.counts = (struct bs_counts){ rnd_u64(), rnd_u64() };
			r.usage.policed = (struct bs_counts){ rnd_u64(), rnd_u64() };
		} else {
			struct bs_summary *sm = &r.summary;
			struct bs_counts *c[] = { &sm->dir[BS_DIR_IN], &sm->dir[BS_DIR_OUT],
				&sm->unattributed, &sm->malformed, &sm->non_ip, &sm->rx, &sm->late };
			for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++)
				*c[k] = (struct bs_counts){ rnd_u64(), rnd_u64() };
			r.summary.record_count = (uint32_t)rnd_u64();
			r.summary.first_seq = rnd_u64();
			for (int k = 0; k < BS_RECORD_MAL_REASONS; k++)
				r.summary.malformed_reason[k] = rnd_u64();
		}
		r.head.version = (i & 8) ? 1 : 0;
		int n = bs_record_encode(&r, fast, sizeof(fast));
		int m = printf_encode(&r, slow, sizeof(slow));
		assert_true(n > 0);
		assert_int_equal(n, m);
		assert_string_equal(fast, slow);
		/* exactly the room it needs, and one byte less */
		assert_int_equal(bs_record_encode(&r, fast, (size_t)n + 1), n);
		assert_int_equal(bs_record_encode(&r, fast, (size_t)n), -1);
	}
}

static void test_encode_too_small(void **state)
{
	(void)state;
	struct bs_record r = sample_usage();
	char buf[BS_RECORD_MAX_BYTES];
	size_t need = strlen(USAGE_JSON) + 1;
	assert_int_equal(bs_record_encode(&r, buf, need - 1), -1);
	assert_int_equal(bs_record_encode(&r, buf, need),
			 (int)strlen(USAGE_JSON));
}

/* Returns USAGE_JSON (or json) with the first `from` replaced by `to`. */
static char *patched(const char *json, const char *from, const char *to)
{
	static char buf[8192];
	const char *at = strstr(json, from);
	if (at == NULL)
		fail_msg("'%s' not in the sample", from);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - json), json, to,
		 at + strlen(from));
	return buf;
}

static void expect_reject_n(const char *json, size_t len, const char *reason,
			    const char *in_err)
{
	char err[256] = "";
	const char *got = NULL;
	struct bs_record r;
	int rc = bs_record_decode(json, len, &r, &got, err, sizeof(err));
	if (rc != -1)
		fail_msg("accepted: %.*s", (int)len, json);
	assert_non_null(got);
	if (strcmp(got, reason) != 0)
		fail_msg("reason %s, want %s (%s) for %.*s", got, reason, err,
			 (int)len, json);
	if (in_err != NULL && strstr(err, in_err) == NULL)
		fail_msg("error '%s' does not mention '%s'", err, in_err);
}

static void expect_reject(const char *json, const char *reason,
			  const char *in_err)
{
	expect_reject_n(json, strlen(json), reason, in_err);
}

static void test_reject_parse(void **state)
{
	(void)state;
	expect_reject("", "parse", NULL);
	expect_reject("{\"schema\":", "parse", NULL);
	expect_reject("[1,2]", "parse", "not a JSON object");
	expect_reject("42", "parse", NULL); /* a number may go on */
	expect_reject("42 ", "parse", "not a JSON object");
	expect_reject("\"usage\"", "parse", "not a JSON object");
	expect_reject(patched(USAGE_JSON, "128}", "128}x"), "parse", NULL);
	expect_reject(patched(USAGE_JSON, "128}", "128}{}"), "parse", NULL);
	expect_reject(patched(USAGE_JSON, "\"pool_id\"", "'pool_id'"), "parse",
		      NULL);
	expect_reject(patched(USAGE_JSON, "\"bytes\":6400",
			      "\"bytes\":6400,\"bytes\":1"), "parse",
		      "duplicate");
	/* A NUL inside the buffer is not JSON either. */
	char nul[sizeof(USAGE_JSON)];
	memcpy(nul, USAGE_JSON, sizeof(USAGE_JSON));
	nul[5] = '\0';
	expect_reject_n(nul, sizeof(USAGE_JSON) - 1, "parse", NULL);
}

static void test_trailing_whitespace_ok(void **state)
{
	(void)state;
	char buf[sizeof(USAGE_JSON) + 2];
	snprintf(buf, sizeof(buf), "%s\n", USAGE_JSON);
	struct bs_record r;
	const char *reason;
	char err[128];
	assert_int_equal(bs_record_decode(buf, strlen(buf), &r, &reason, err,
					  sizeof(err)), 0);
	/* But the length given is what counts: a prefix is incomplete. */
	expect_reject_n(USAGE_JSON, sizeof(USAGE_JSON) - 2, "parse", NULL);
}

static void test_reject_too_large(void **state)
{
	(void)state;
	char big[BS_RECORD_MAX_BYTES + 64];
	size_t n = strlen(USAGE_JSON);
	memcpy(big, USAGE_JSON, n);
	/* Whitespace padding keeps it valid JSON: only the size is wrong. */
	memset(big + n, ' ', sizeof(big) - n);
	expect_reject_n(big, BS_RECORD_MAX_BYTES + 1, "too_large", "2048");

	struct bs_record r;
	const char *reason;
	char err[128];
	assert_int_equal(bs_record_decode(big, BS_RECORD_MAX_BYTES, &r, &reason,
					  err, sizeof(err)), 0);
}

static void test_reject_schema(void **state)
{
	(void)state;
	expect_reject(patched(USAGE_JSON, "usage.v2", "usage.v3"),
		      "schema_version", "schema");
	expect_reject(patched(USAGE_JSON, "\"bandsplit.usage.v2\"", "1"),
		      "schema_version", "schema");
	expect_reject(patched(USAGE_JSON, "\"schema\":\"bandsplit.usage.v2\",",
			      ""), "missing_field", "'schema'");
}

static void test_reject_missing_field(void **state)
{
	(void)state;
	expect_reject(patched(USAGE_JSON, "\"pool_id\":1,", ""),
		      "missing_field", "'pool_id'");
	expect_reject(patched(USAGE_JSON, ",\"policed_bytes\":128", ""),
		      "missing_field", "'policed_bytes'");
	expect_reject(patched(USAGE_JSON, "\"type\":\"usage\",", ""),
		      "missing_field", "'type'");
	/* A usage record is not a summary: its fields are missing. */
	expect_reject(patched(USAGE_JSON, "\"usage\"", "\"summary\""),
		      "missing_field", "'record_count'");
}

static void test_reject_unknown_field(void **state)
{
	(void)state;
	expect_reject(patched(USAGE_JSON, "\"pool_id\":1,",
			      "\"pool_id\":1,\"colour\":\"red\","),
		      "unknown_field", "'colour'");
	/* A summary's field in a usage record is unknown there. */
	expect_reject(patched(USAGE_JSON, "\"pool_id\":1,",
			      "\"pool_id\":1,\"rx_bytes\":1,"),
		      "unknown_field", "'rx_bytes'");
}

static void test_reject_type(void **state)
{
	(void)state;
	expect_reject(patched(USAGE_JSON, "\"bytes\":6400", "\"bytes\":\"12\""),
		      "type", "'bytes'");
	expect_reject(patched(USAGE_JSON, "\"bytes\":6400", "\"bytes\":1.5"),
		      "type", "'bytes'");
	expect_reject(patched(USAGE_JSON, "\"bytes\":6400", "\"bytes\":1e3"),
		      "type", "'bytes'");
	expect_reject(patched(USAGE_JSON, "\"bytes\":6400", "\"bytes\":null"),
		      "type", "'bytes'");
	expect_reject(patched(USAGE_JSON, "\"packets\":10", "\"packets\":true"),
		      "type", "'packets'");
	expect_reject(patched(USAGE_JSON, "\"packets\":10", "\"packets\":[10]"),
		      "type", "'packets'");
	expect_reject(patched(USAGE_JSON, "\"node_id\":\"node-a\"",
			      "\"node_id\":7"), "type", "'node_id'");
	expect_reject(patched(USAGE_JSON, "\"direction\":\"in\"",
			      "\"direction\":{}"), "type", "'direction'");
	expect_reject(patched(USAGE_JSON, "\"type\":\"usage\"", "\"type\":0"),
		      "type", "'type'");
}

static void test_reject_range(void **state)
{
	(void)state;
	expect_reject(patched(USAGE_JSON, "\"bytes\":6400", "\"bytes\":-1"),
		      "range", "'bytes'");
	expect_reject(patched(USAGE_JSON, "\"bytes\":6400",
			      "\"bytes\":4611686018427387905"), "range", "'bytes'");
	expect_reject(patched(USAGE_JSON, "\"bytes\":6400",
			      "\"bytes\":99999999999999999999999"),
		      "range", "'bytes'");
	expect_reject(patched(USAGE_JSON, "\"packets\":10",
			      "\"packets\":-99999999999999999999999"),
		      "range", "'packets'");
	expect_reject(patched(USAGE_JSON, "\"tenant_id\":42",
			      "\"tenant_id\":4294967296"), "range", "'tenant_id'");
	expect_reject(patched(USAGE_JSON, "\"seq\":17", "\"seq\":0"),
		      "range", "'seq'");
	expect_reject(patched(USAGE_JSON, "\"interval_len\":10",
			      "\"interval_len\":0"), "range", "'interval_len'");
	expect_reject(patched(USAGE_JSON, "\"interval_len\":10",
			      "\"interval_len\":86401"), "range", "'interval_len'");
	expect_reject(patched(USAGE_JSON, "\"interval_start\":1700000000",
			      "\"interval_start\":-10"), "range",
		      "'interval_start'");
	expect_reject(patched(USAGE_JSON, "\"direction\":\"in\"",
			      "\"direction\":\"up\""), "range", "'direction'");
	expect_reject(patched(USAGE_JSON, "\"direction\":\"in\"",
			      "\"direction\":\"IN\""), "range", "'direction'");
	expect_reject(patched(USAGE_JSON, "\"frame\"", "\"bits\""),
		      "range", "'byte_measure'");
	expect_reject(patched(USAGE_JSON, "\"usage\"", "\"total\""),
		      "range", "'type'");
}

static void test_reject_node_and_boot_id(void **state)
{
	(void)state;
	static const char *const bad_nodes[] = {
		"\"\"", "\"node a\"", "\"node/a\"", "\"n\\u00e9\"",
		"\"a\\u0000b\"",
		"\"0123456789012345678901234567890123456789012345678901234567890123\"",
	};
	char from[64];
	snprintf(from, sizeof(from), "\"node_id\":\"node-a\"");
	for (size_t i = 0; i < sizeof(bad_nodes) / sizeof(bad_nodes[0]); i++) {
		char to[128];
		snprintf(to, sizeof(to), "\"node_id\":%s", bad_nodes[i]);
		expect_reject(patched(USAGE_JSON, from, to), "range", "'node_id'");
	}
	/* 63 characters is the limit, and still fine. */
	char to[128];
	snprintf(to, sizeof(to), "\"node_id\":\"%s\"",
		 "012345678901234567890123456789012345678901234567890123456789012");
	struct bs_record r;
	const char *reason;
	char err[128];
	const char *ok = patched(USAGE_JSON, from, to);
	assert_int_equal(bs_record_decode(ok, strlen(ok), &r, &reason, err,
					  sizeof(err)), 0);
	assert_int_equal(strlen(r.head.node_id), 63);

	expect_reject(patched(USAGE_JSON, BOOT, "0123456789ABCDEF0123456789ABCDEF"),
		      "range", "'boot_id'");
	expect_reject(patched(USAGE_JSON, BOOT, "0123456789abcdef"),
		      "range", "'boot_id'");
	expect_reject(patched(USAGE_JSON, BOOT, BOOT "0"), "range", "'boot_id'");
	expect_reject(patched(USAGE_JSON, BOOT, "g123456789abcdef0123456789abcdef"),
		      "range", "'boot_id'");
}

static void test_reject_unaligned(void **state)
{
	(void)state;
	expect_reject(patched(USAGE_JSON, "\"interval_start\":1700000000",
			      "\"interval_start\":1700000005"), "unaligned",
		      "interval_start");
	expect_reject(patched(USAGE_JSON, "\"interval_len\":10",
			      "\"interval_len\":7"), "unaligned",
		      "interval_start");
}

static void test_reject_summary_consistency(void **state)
{
	(void)state;
	struct bs_record r = sample_summary();
	char json[BS_RECORD_MAX_BYTES];
	assert_true(bs_record_encode(&r, json, sizeof(json)) > 0);

	expect_reject(patched(json, "\"unattributed_packets\":5",
			      "\"unattributed_packets\":191"), "range",
		      "'unattributed_packets'");
	expect_reject(patched(json, "\"unattributed_bytes\":300",
			      "\"unattributed_bytes\":73001"), "range",
		      "'unattributed_bytes'");
	expect_reject(patched(json, "\"record_count\":17",
			      "\"record_count\":10000001"), "range",
		      "'record_count'");
	expect_reject(patched(json, "\"first_seq\":1", "\"first_seq\":0"),
		      "range", "'first_seq'");
	expect_reject(patched(json, "\"record_count\":17", "\"record_count\":0"),
		      "range", "'first_seq'");
	expect_reject(patched(json, "\"in_bytes\":64000", "\"in_bytes\":-64000"),
		      "range", "'in_bytes'");
}

/* v2's new summary fields: present in v2 only, consistent with the rest. */
static void test_summary_v2_fields(void **state)
{
	(void)state;
	struct bs_record r = sample_summary();
	char json[BS_RECORD_MAX_BYTES];
	assert_true(bs_record_encode(&r, json, sizeof(json)) > 0);
	expect_reject(patched(json, "\"malformed_bad_length\":1",
			      "\"malformed_bad_length\":0"), "range",
		      "sum to 0, malformed_packets is 1");
	expect_reject(patched(json, "\"malformed_short_ip\":0",
			      "\"malformed_short_ip\":1"), "range",
		      "sum to 2, malformed_packets is 1");
	expect_reject(patched(json, "\"late_packets\":3",
			      "\"late_packets\":194"), "range", "'late_packets'");
	expect_reject(patched(json, "\"late_packets\":3,", ""), "missing_field",
		      "'late_packets'");
	expect_reject(patched(json, "\"late_bytes\":180",
			      "\"late_bytes\":-1"), "range", "'late_bytes'");
	/* a v1 summary has none of them, and may not */
	expect_reject(patched(json, "usage.v2", "usage.v1"), "unknown_field",
		      "'late_packets'");
	struct bs_record v1 = sample_summary(), out;
	v1.head.version = 1;
	assert_true(bs_record_encode(&v1, json, sizeof(json)) > 0);
	assert_null(strstr(json, "late_"));
	const char *reason;
	char err[256];
	assert_int_equal(bs_record_decode(json, strlen(json), &out, &reason, err,
					  sizeof(err)), 0);
	assert_int_equal(out.head.version, 1);
	assert_int_equal(out.summary.late.packets, 0);
	assert_int_equal(out.summary.malformed_reason[5], 0);
	/* a v1 usage record is the same as v2's */
	char u1[sizeof(USAGE_JSON)];
	snprintf(u1, sizeof(u1), "%s", patched(USAGE_JSON, "usage.v2", "usage.v1"));
	assert_int_equal(bs_record_decode(u1, strlen(u1), &out, &reason, err,
					  sizeof(err)), 0);
	assert_int_equal(out.head.version, 1);
	assert_int_equal(out.usage.counts.bytes, 6400);
	assert_string_equal(bs_record_malformed_reason_name(0), "short_ether");
	assert_string_equal(bs_record_malformed_reason_name(5), "bad_length");
}

static void test_reject_summary_fields(void **state)
{
	(void)state;
	struct bs_record r = sample_summary();
	char json[BS_RECORD_MAX_BYTES];
	assert_true(bs_record_encode(&r, json, sizeof(json)) > 0);
	expect_reject(patched(json, "\"non_ip_bytes\":120,", ""),
		      "missing_field", "'non_ip_bytes'");
	expect_reject(patched(json, "\"rx_packets\":193",
			      "\"rx_packets\":193,\"packets\":1"),
		      "unknown_field", "'packets'");
	expect_reject(patched(json, "\"malformed_bytes\":20",
			      "\"malformed_bytes\":20.0"), "type",
		      "'malformed_bytes'");
}

static void test_key(void **state)
{
	(void)state;
	struct bs_record u = sample_usage(), s = sample_summary();
	char key[80];
	assert_int_equal(bs_record_key(&u, key, sizeof(key)), 2);
	assert_string_equal(key, "42");
	u.usage.tenant_id = 0;
	assert_int_equal(bs_record_key(&u, key, sizeof(key)), 1);
	assert_string_equal(key, "0");
	assert_int_equal(bs_record_key(&s, key, sizeof(key)), 13);
	assert_string_equal(key, "node:Node_B.2");
	assert_int_equal(bs_record_key(&s, key, 13), -1);
}

static void test_names_and_node_id(void **state)
{
	(void)state;
	assert_string_equal(bs_direction_name(BS_DIR_IN), "in");
	assert_string_equal(bs_direction_name(BS_DIR_OUT), "out");
	assert_string_equal(bs_measure_name(BS_MEASURE_FRAME), "frame");
	assert_string_equal(bs_measure_name(BS_MEASURE_IP), "ip");
	assert_true(bs_node_id_valid("a"));
	assert_true(bs_node_id_valid("edge-01.site_b"));
	assert_false(bs_node_id_valid(""));
	assert_false(bs_node_id_valid(NULL));
	assert_false(bs_node_id_valid("a b"));
	assert_false(bs_node_id_valid("a:b"));
	char long_id[80];
	memset(long_id, 'x', sizeof(long_id));
	long_id[BS_NODE_ID_MAX] = '\0';
	assert_true(bs_node_id_valid(long_id));
	long_id[BS_NODE_ID_MAX] = 'x';
	long_id[BS_NODE_ID_MAX + 1] = '\0';
	assert_false(bs_node_id_valid(long_id));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_round_trip),
		cmocka_unit_test(test_summary_round_trip),
		cmocka_unit_test(test_usage_wire_form),
		cmocka_unit_test(test_summary_wire_order),
		cmocka_unit_test(test_encode_too_small),
		cmocka_unit_test(test_encode_matches_printf),
		cmocka_unit_test(test_reject_parse),
		cmocka_unit_test(test_trailing_whitespace_ok),
		cmocka_unit_test(test_reject_too_large),
		cmocka_unit_test(test_reject_schema),
		cmocka_unit_test(test_reject_missing_field),
		cmocka_unit_test(test_reject_unknown_field),
		cmocka_unit_test(test_reject_type),
		cmocka_unit_test(test_reject_range),
		cmocka_unit_test(test_reject_node_and_boot_id),
		cmocka_unit_test(test_reject_unaligned),
		cmocka_unit_test(test_reject_summary_consistency),
		cmocka_unit_test(test_reject_summary_fields),
		cmocka_unit_test(test_summary_v2_fields),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_names_and_node_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
