/*
 * test_settle_fastdecode.c — the settlement's fast path for canonical
 * records (settlement/settle/fastdecode.c) against the strict decoder
 * (common/record.c): on records the encoder writes it must decode to the
 * identical struct; on every mutation of them (a byte changed, removed or
 * added) it must either decline or agree with the strict decoder, and
 * never accept what the strict decoder refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fastdecode.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Mostly small values, sometimes the limits. */
static uint64_t count(void)
{
	switch (next() % 8) {
	case 0: return 0;
	case 1: return (UINT64_C(1) << 62) - 1;
	case 2: return UINT64_C(1) << 62;        /* strict limit: declined */
	default: return next() % 100000000;
	}
}

static struct bs_record random_record(void)
{
	struct bs_record r;
	memset(&r, 0, sizeof(r));
	r.head.type = next() % 4 == 0 ? BS_RECORD_SUMMARY : BS_RECORD_USAGE;
	int n = 1 + (int)(next() % BS_NODE_ID_MAX);
	static const char chars[] = "abcXYZ019._-";
	for (int i = 0; i < n; i++)
		r.head.node_id[i] = chars[next() % (sizeof(chars) - 1)];
	for (int i = 0; i < BS_BOOT_ID_LEN; i++)
		r.head.boot_id[i] = "0123456789abcdef"[next() % 16];
	r.head.seq = 1 + next() % 1000000;
	r.head.interval_len = next() % 5 == 0 ? BS_INTERVAL_MAX_S : 10;
	r.head.interval_start = (int64_t)(next() % 200000000) * r.head.interval_len;
	r.head.measure = next() % 2 ? BS_MEASURE_IP : BS_MEASURE_FRAME;
	r.head.map_version = count();
	if (r.head.type == BS_RECORD_USAGE) {
		r.usage.tenant_id = next() % 3 == 0 ? UINT32_MAX : (uint32_t)(next() % 5000);
		r.usage.pool_id = (uint32_t)(next() % 10);
		r.usage.direction = next() % 2 ? BS_DIR_OUT : BS_DIR_IN;
		r.usage.counts.packets = count();
		r.usage.counts.bytes = count();
		r.usage.policed.packets = count();
		r.usage.policed.bytes = count();
	} else {
		r.summary.record_count = (uint32_t)(next() % 3000);
		r.summary.first_seq = r.summary.record_count ? 1 + next() % 1000 : 0;
		r.summary.dir[0].packets = next() % 1000000;
		r.summary.dir[0].bytes = next() % 1000000000;
		r.summary.dir[1].packets = next() % 1000000;
		r.summary.dir[1].bytes = next() % 1000000000;
		r.summary.unattributed.packets = r.summary.dir[0].packets / 3;
		r.summary.unattributed.bytes = r.summary.dir[1].bytes / 2;
		r.summary.rx.bytes = count();
		/* v2: late within rx, reasons summing to malformed */
		r.summary.rx.packets = next() % 1000000;
		r.summary.late.packets = r.summary.rx.packets / 7;
		r.summary.late.bytes = r.summary.rx.bytes / 5;
		for (int k = 0; k < BS_RECORD_MAL_REASONS; k++) {
			r.summary.malformed_reason[k] = next() % 1000;
			r.summary.malformed.packets += r.summary.malformed_reason[k];
		}
	}
	r.head.version = next() % 3 == 0 ? 1 : 0;   /* v1 still accepted */
	if (r.head.version == 1 && r.head.type == BS_RECORD_SUMMARY) {
		r.summary.late = (struct bs_counts){ 0, 0 };
		memset(r.summary.malformed_reason, 0, sizeof(r.summary.malformed_reason));
	}
	return r;
}

/* The fast path either declines, or agrees with the strict decoder. */
static int compare(const char *buf, size_t len, bool *fast_accepted)
{
	struct bs_record fast, strict;
	const char *reason;
	char err[256];
	memset(&strict, 0, sizeof(strict));
	*fast_accepted = settle_fast_decode(buf, len, &fast);
	int rc = bs_record_decode(buf, len, &strict, &reason, err, sizeof(err));
	if (*fast_accepted) {
		if (rc != 0)
			fail_msg("fast path accepted what the decoder refuses (%s): %.*s",
				 err, (int)len, buf);
		assert_memory_equal(&fast, &strict, sizeof(fast));
	}
	return rc;
}

static void test_canonical_records(void **state)
{
	(void)state;
	int accepted = 0;
	for (int i = 0; i < 20000; i++) {
		struct bs_record r = random_record();
		char buf[BS_RECORD_MAX_BYTES];
		int n = bs_record_encode(&r, buf, sizeof(buf));
		assert_true(n > 0);
		bool fast;
		int rc = compare(buf, (size_t)n, &fast);
		accepted += fast;
		/* the encoder's output within the fast limits is always taken */
		bool within = r.head.map_version < (UINT64_C(1) << 62) &&
			(r.head.type == BS_RECORD_SUMMARY ||
			 (r.usage.counts.packets < (UINT64_C(1) << 62) &&
			  r.usage.counts.bytes < (UINT64_C(1) << 62) &&
			  r.usage.policed.packets < (UINT64_C(1) << 62) &&
			  r.usage.policed.bytes < (UINT64_C(1) << 62))) &&
			(r.head.type == BS_RECORD_USAGE ||
			 r.summary.rx.bytes < (UINT64_C(1) << 62));
		if (within && rc == 0 && !fast)
			fail_msg("fast path declined a canonical record: %s", buf);
	}
	assert_true(accepted > 5000);
}

static void test_mutations(void **state)
{
	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct bs_record r = random_record();
		char buf[BS_RECORD_MAX_BYTES + 8];
		int n = bs_record_encode(&r, buf, BS_RECORD_MAX_BYTES);
		assert_true(n > 0);
		size_t len = (size_t)n;
		size_t at = next() % len;
		static const char bytes[] = "0123456789\"{}:, -abz\\.";
		switch (next() % 3) {
		case 0:
			buf[at] = bytes[next() % (sizeof(bytes) - 1)];
			break;
		case 1:
			memmove(buf + at, buf + at + 1, len - at - 1);
			len--;
			break;
		default:
			memmove(buf + at + 1, buf + at, len - at);
			buf[at] = bytes[next() % (sizeof(bytes) - 1)];
			len++;
			break;
		}
		bool fast;
		compare(buf, len, &fast);
	}
}

static void test_declines(void **state)
{
	(void)state;
	struct bs_record rec;
	static const char *const cases[] = {
		"",
		"{}",
		/* whitespace: valid JSON, not the canonical layout */
		"{ \"schema\":\"bandsplit.usage.v1\"}",
		/* leading zero */
		"{\"schema\":\"bandsplit.usage.v1\",\"type\":\"usage\",\"node_id\":\"n\","
		"\"boot_id\":\"0123456789abcdef0123456789abcdef\",\"seq\":01,",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_false(settle_fast_decode(cases[i], strlen(cases[i]), &rec));
}

/* Replaces from by to in buf (one occurrence). */
static void edit(char *buf, const char *from, const char *to)
{
	char *p = strstr(buf, from);
	assert_non_null(p);
	char rest[BS_RECORD_MAX_BYTES];
	snprintf(rest, sizeof(rest), "%s", p + strlen(from));
	sprintf(p, "%s%s", to, rest);
}

/* Values just beyond each limit: the strict decoder refuses them, so the
 * fast path must decline. */
static void test_limits(void **state)
{
	(void)state;
	struct bs_record u;
	memset(&u, 0, sizeof(u));
	u.head.type = BS_RECORD_USAGE;
	strcpy(u.head.node_id, "n1");
	strcpy(u.head.boot_id, "0123456789abcdef0123456789abcdef");
	u.head.seq = 1;
	u.head.interval_start = 600;
	u.head.interval_len = 10;
	u.usage.tenant_id = 7;
	struct bs_record m = u;
	m.head.type = BS_RECORD_SUMMARY;
	m.summary.record_count = 1;
	m.summary.first_seq = 1;
	m.summary.dir[0].packets = 5;
	m.summary.dir[0].bytes = 500;
	static const struct { bool summary; const char *from, *to; } cases[] = {
		{ false, "\"seq\":1,", "\"seq\":0," },
		{ false, "\"interval_len\":10,", "\"interval_len\":0," },
		{ false, "\"interval_len\":10,", "\"interval_len\":86401," },
		{ false, "\"interval_start\":600,", "\"interval_start\":605," },
		{ false, "\"interval_start\":600,", "\"interval_start\":-600," },
		{ false, "\"tenant_id\":7,", "\"tenant_id\":4294967296," },
		{ false, "\"packets\":0,", "\"packets\":4611686018427387905," },
		{ false, "\"packets\":0,", "\"packets\":99999999999999999999," },
		{ true, "\"first_seq\":1,", "\"first_seq\":0," },
		{ true, "\"record_count\":1,", "\"record_count\":10000001," },
		{ true, "\"unattributed_packets\":0,", "\"unattributed_packets\":6," },
		{ true, "\"unattributed_bytes\":0,", "\"unattributed_bytes\":501," },
		{ true, "\"late_packets\":0,", "\"late_packets\":1," },
		{ true, "\"late_bytes\":0,", "\"late_bytes\":1," },
		{ true, "\"malformed_bad_ihl\":0,", "\"malformed_bad_ihl\":1," },
		{ true, "\"schema\":\"bandsplit.usage.v2\"", "\"schema\":\"bandsplit.usage.v1\"" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[BS_RECORD_MAX_BYTES];
		assert_true(bs_record_encode(cases[i].summary ? &m : &u, buf,
					     sizeof(buf)) > 0);
		bool fast;
		assert_int_equal(compare(buf, strlen(buf), &fast), 0);
		assert_true(fast);
		edit(buf, cases[i].from, cases[i].to);
		if (compare(buf, strlen(buf), &fast) == 0)
			fail_msg("case %zu: the strict decoder accepts %s", i, buf);
		assert_false(fast);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_records),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_declines),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
