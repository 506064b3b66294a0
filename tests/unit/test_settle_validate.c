/*
 * test_settle_validate.c — the settlement's verdict on a Kafka message
 * (settlement/settle/validate.c): every rejection reason, the settlement's
 * own limits (absurd rates, future intervals, the retention horizon) at
 * their boundaries, and the reason names used by metrics and the DLQ.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

#define NOW 1795768200   /* a multiple of 300 */

static const struct settle_limits limits = {
	.now_s = NOW, .max_future_s = 86400, .horizon_s = SETTLE_NO_HORIZON,
};

static struct bs_record usage_record(void)
{
	struct bs_record r;
	memset(&r, 0, sizeof(r));
	r.head.type = BS_RECORD_USAGE;
	strcpy(r.head.node_id, "node-1");
	strcpy(r.head.boot_id, "0123456789abcdef0123456789abcdef");
	r.head.seq = 7;
	r.head.interval_start = NOW - 600;
	r.head.interval_len = 10;
	r.head.measure = BS_MEASURE_FRAME;
	r.head.map_version = 3;
	r.usage.tenant_id = 42;
	r.usage.pool_id = 2;
	r.usage.direction = BS_DIR_OUT;
	r.usage.counts.packets = 10;
	r.usage.counts.bytes = 12345;
	return r;
}

static int encode(const struct bs_record *r, char *buf, size_t size)
{
	int n = bs_record_encode(r, buf, size);
	assert_true(n > 0);
	return n;
}

/* Replaces the first `from` of json by `to`. */
static void edit(char *json, const char *from, const char *to)
{
	char *p = strstr(json, from);
	assert_non_null(p);
	char rest[4096];
	snprintf(rest, sizeof(rest), "%s", p + strlen(from));
	sprintf(p, "%s%s", to, rest);
}

static const char *verdict(const char *json, size_t len,
			   const struct settle_limits *l, char *err, size_t err_size)
{
	struct bs_record rec;
	const char *reason = NULL;
	int rc = settle_validate(json, len, l, &rec, &reason, err, err_size);
	if (rc == 0)
		return "ok";
	assert_non_null(reason);
	assert_true(err[0] != '\0');
	return reason;
}

static void check(const char *json, const char *want_reason, const char *want_in_err)
{
	char err[256] = "";
	const char *got = verdict(json, strlen(json), &limits, err, sizeof(err));
	assert_string_equal(got, want_reason);
	if (want_in_err != NULL && strstr(err, want_in_err) == NULL)
		fail_msg("error '%s' does not mention '%s'", err, want_in_err);
}

static void test_valid_usage(void **state)
{
	(void)state;
	struct bs_record r = usage_record(), got;
	char json[BS_RECORD_MAX_BYTES], err[256];
	const char *reason = NULL;
	int n = encode(&r, json, sizeof(json));
	assert_int_equal(settle_validate(json, (size_t)n, &limits, &got, &reason,
					 err, sizeof(err)), 0);
	assert_int_equal(got.head.type, BS_RECORD_USAGE);
	assert_string_equal(got.head.node_id, "node-1");
	assert_int_equal(got.usage.tenant_id, 42);
	assert_int_equal(got.usage.direction, BS_DIR_OUT);
	assert_int_equal(got.usage.counts.bytes, 12345);
}

static void test_decoder_reasons(void **state)
{
	(void)state;
	struct bs_record r = usage_record();
	char base[BS_RECORD_MAX_BYTES], json[4096];
	encode(&r, base, sizeof(base));

	check("", "parse", "empty");
	snprintf(json, sizeof(json), "%.*s", (int)strlen(base) - 3, base);
	check(json, "parse", NULL);
	check("[1,2,3]", "parse", NULL);

	strcpy(json, base);
	edit(json, "bandsplit.usage.v2", "bandsplit.usage.v3");
	check(json, "schema_version", "schema");

	strcpy(json, base);
	edit(json, "\"map_version\":3,", "");
	check(json, "missing_field", "map_version");

	strcpy(json, base);
	edit(json, "{", "{\"colour\":\"blue\",");
	check(json, "unknown_field", "colour");

	strcpy(json, base);
	edit(json, "\"bytes\":12345", "\"bytes\":\"12345\"");
	check(json, "type", "bytes");

	strcpy(json, base);
	edit(json, "\"packets\":10,", "\"packets\":-1,");
	check(json, "range", "packets");

	char start[64], unaligned[64];
	snprintf(start, sizeof(start), "\"interval_start\":%d,", NOW - 600);
	snprintf(unaligned, sizeof(unaligned), "\"interval_start\":%d,", NOW - 599);
	strcpy(json, base);
	edit(json, start, unaligned);
	check(json, "unaligned", "interval_start");

	/* valid JSON, but beyond the size limit */
	memset(json, ' ', BS_RECORD_MAX_BYTES);
	strcpy(json + BS_RECORD_MAX_BYTES, base);
	check(json, "too_large", NULL);
}

static void test_absurd_rates(void **state)
{
	(void)state;
	struct bs_record r = usage_record();
	char json[BS_RECORD_MAX_BYTES], err[256];

	/* exactly 10 Tbit/s over the 10 s interval passes, one byte more not */
	r.usage.counts.bytes = SETTLE_MAX_BYTES_PER_S * 10;
	int n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "ok");
	r.usage.counts.bytes++;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "range");
	assert_non_null(strstr(err, "'bytes'"));

	r = usage_record();
	r.usage.policed.packets = SETTLE_MAX_PACKETS_PER_S * 10 + 1;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "range");
	assert_non_null(strstr(err, "'policed_packets'"));

	struct bs_record s;
	memset(&s, 0, sizeof(s));
	s.head = r.head;
	s.head.type = BS_RECORD_SUMMARY;
	s.summary.rx.bytes = SETTLE_MAX_BYTES_PER_S * 10 + 1;
	n = encode(&s, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "range");
	assert_non_null(strstr(err, "'rx_bytes'"));
}

static void test_future_and_expired(void **state)
{
	(void)state;
	struct bs_record r = usage_record();
	char json[BS_RECORD_MAX_BYTES], err[256];
	int n;

	r.head.interval_start = NOW + 86400;   /* exactly the limit */
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "ok");
	r.head.interval_start = NOW + 86410;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "future");

	struct settle_limits l = limits;
	l.horizon_s = NOW - 600;               /* at the horizon: kept */
	r.head.interval_start = NOW - 600;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &l, err, sizeof(err)), "ok");
	r.head.interval_start = NOW - 610;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &l, err, sizeof(err)), "expired");
}

/* Records that cannot be true (issue 10, item 8): each its own reason,
 * at the boundary. */
static void test_impossible_records(void **state)
{
	(void)state;
	struct bs_record r = usage_record();
	char json[BS_RECORD_MAX_BYTES], err[256];
	int n;

	/* 10 packets: 340 frame bytes pass, 339 not; 200 ip bytes pass, 199 not */
	r.usage.counts.bytes = 10 * SETTLE_MIN_FRAME_BYTES;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "ok");
	r.usage.counts.bytes--;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)),
			    "impossible_bytes");
	assert_non_null(strstr(err, "'bytes'"));
	r.head.measure = BS_MEASURE_IP;
	r.usage.counts.bytes = 10 * SETTLE_MIN_IP_BYTES;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "ok");
	r.usage.counts.bytes--;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)),
			    "impossible_bytes");
	/* bytes without packets; policed counts too */
	r = usage_record();
	r.usage.counts.packets = 0;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)),
			    "impossible_bytes");
	r = usage_record();
	r.usage.policed.packets = 5;
	r.usage.policed.bytes = 5 * SETTLE_MIN_FRAME_BYTES - 1;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)),
			    "impossible_bytes");
	assert_non_null(strstr(err, "'policed_bytes'"));
	/* a summary's direction totals */
	struct bs_record s;
	memset(&s, 0, sizeof(s));
	s.head = usage_record().head;
	s.head.type = BS_RECORD_SUMMARY;
	s.summary.dir[BS_DIR_IN].packets = 3;
	s.summary.dir[BS_DIR_IN].bytes = 3 * SETTLE_MIN_FRAME_BYTES;
	n = encode(&s, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "ok");
	s.summary.dir[BS_DIR_OUT].packets = 1;
	s.summary.dir[BS_DIR_OUT].bytes = 33;
	n = encode(&s, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)),
			    "impossible_bytes");
	assert_non_null(strstr(err, "'out_bytes'"));

	/* interval_len must divide 300: 300 and 1 pass, 7 and 86,400 not */
	static const struct { uint32_t len; const char *want; } lens[] = {
		{ 300, "ok" }, { 1, "ok" }, { 60, "ok" }, { 7, "interval_len" },
		{ 600, "interval_len" }, { 86400, "interval_len" },
	};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		r = usage_record();
		r.head.interval_len = lens[i].len;
		r.head.interval_start = (NOW - 86400 * 8) / 604800 * 604800;
		n = encode(&r, json, sizeof(json));
		const char *got = verdict(json, (size_t)n, &limits, err, sizeof(err));
		if (strcmp(got, lens[i].want) != 0)
			fail_msg("interval_len %u: %s, want %s (%s)", lens[i].len,
				 got, lens[i].want, err);
	}

	/* interval_start before 2000-01-01: 1999-12-31T23:59:50 refused */
	r = usage_record();
	r.head.interval_start = SETTLE_EPOCH_MIN;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "ok");
	r.head.interval_start = SETTLE_EPOCH_MIN - 10;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "too_old");
	r.head.interval_start = 0;
	n = encode(&r, json, sizeof(json));
	assert_string_equal(verdict(json, (size_t)n, &limits, err, sizeof(err)), "too_old");

	/* a NUL in a key: "packets\u0000x" is not "packets" */
	r = usage_record();
	encode(&r, json, sizeof(json));
	edit(json, "\"packets\":", "\"packets\\u0000x\":");
	check(json, "nul_escape", NULL);
	encode(&r, json, sizeof(json));
	edit(json, "\"node-1\"", "\"node\\u0000-1\"");
	check(json, "nul_escape", NULL);
	/* an escaped backslash before u0000 is no NUL (and no known key) */
	encode(&r, json, sizeof(json));
	edit(json, "{", "{\"a\\\\u0000\":1,");
	check(json, "unknown_field", NULL);
}

static void test_reason_names(void **state)
{
	(void)state;
	for (int i = 0; i < SETTLE_R_COUNT; i++) {
		const char *name = settle_reason_name((enum settle_reason)i);
		assert_int_equal(settle_reason_index(name), i);
	}
	assert_int_equal(settle_reason_index("no_such_reason"), SETTLE_R_OTHER);
	assert_int_equal(settle_reason_index(NULL), SETTLE_R_OTHER);
	assert_string_equal(settle_reason_name(SETTLE_R_DB_REFUSED), "db_refused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_usage),
		cmocka_unit_test(test_decoder_reasons),
		cmocka_unit_test(test_absurd_rates),
		cmocka_unit_test(test_future_and_expired),
		cmocka_unit_test(test_impossible_records),
		cmocka_unit_test(test_reason_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
