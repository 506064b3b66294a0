/*
 * test_api_token.c — settlement/api_auth.c without a database: the token's
 * shape (bytes → "bst_" + base32 prefix + "_" + base64url secret, checked
 * against Python's base64), the well-formed check (every way to be off by
 * one character), the generator (from getrandom: well-formed, all
 * different, every character of both alphabets used about evenly) and the
 * SHA-256 (FIPS 180-2 vectors, and a token's).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api_auth.h"

static void from_bytes(void **state)
{
	(void)state;
	unsigned char p[5], s[32];
	char t[BS_API_TOKEN_LEN + 1];

	memset(p, 0, sizeof(p));
	memset(s, 0, sizeof(s));
	bs_api_token_from_bytes(p, s, t);
	assert_string_equal(t, "bst_aaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	memset(p, 0xff, sizeof(p));
	memset(s, 0xff, sizeof(s));
	bs_api_token_from_bytes(p, s, t);
	/* 256 one bits: 42 × "_" (63), then 1111 + 00 padding = 60 = '8' */
	assert_string_equal(t, "bst_77777777_"
			    "__________________________________________8");
	/* python3: base64.b32encode(bytes(range(5))).lower(),
	 * base64.urlsafe_b64encode(bytes(range(32, 64))).rstrip('=') */
	for (int i = 0; i < 5; i++)
		p[i] = (unsigned char)i;
	for (int i = 0; i < 32; i++)
		s[i] = (unsigned char)(32 + i);
	bs_api_token_from_bytes(p, s, t);
	assert_string_equal(t, "bst_aaaqeaye_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8");
	assert_int_equal(strlen(t), BS_API_TOKEN_LEN);
	assert_true(bs_api_token_wellformed(t));
	char prefix[BS_API_TOKEN_PREFIX_LEN + 1];
	bs_api_token_prefix(t, prefix);
	assert_string_equal(prefix, "aaaqeaye");
}

static void wellformed(void **state)
{
	(void)state;
	const char *good = "bst_aaaqeaye_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";
	assert_true(bs_api_token_wellformed(good));
	assert_true(bs_api_token_wellformed("bst_77777777_"
						 "-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-"));
	assert_false(bs_api_token_wellformed(NULL));
	assert_false(bs_api_token_wellformed(""));
	assert_false(bs_api_token_wellformed("bst_"));
	/* one character off, at every position: each replacement that is
	 * outside the alphabet of that position is refused */
	char t[BS_API_TOKEN_LEN + 2];
	static const char bad_any[] = " =+/.\x01\x7f\xc3";
	for (size_t i = 0; i < BS_API_TOKEN_LEN; i++) {
		for (const char *c = bad_any; *c; c++) {
			memcpy(t, good, BS_API_TOKEN_LEN + 1);
			t[i] = *c;
			assert_false(bs_api_token_wellformed(t));
		}
		memcpy(t, good, BS_API_TOKEN_LEN + 1);
		t[i] = '\0';   /* shorter */
		assert_false(bs_api_token_wellformed(t));
	}
	/* the prefix is lowercase base32: no capitals, no 0, 1, 8, 9 */
	static const char bad_prefix[] = "A0189Z-_";
	for (size_t i = 4; i < 12; i++) {
		for (const char *c = bad_prefix; *c; c++) {
			memcpy(t, good, BS_API_TOKEN_LEN + 1);
			t[i] = *c;
			assert_false(bs_api_token_wellformed(t));
		}
	}
	memcpy(t, good, BS_API_TOKEN_LEN + 1);
	t[12] = '-';   /* the separator */
	assert_false(bs_api_token_wellformed(t));
	memcpy(t, "BST", 3);
	memcpy(t + 3, good + 3, BS_API_TOKEN_LEN - 2);
	assert_false(bs_api_token_wellformed(t));
	/* longer: one more character, a newline */
	memcpy(t, good, BS_API_TOKEN_LEN);
	t[BS_API_TOKEN_LEN] = 'A';
	t[BS_API_TOKEN_LEN + 1] = '\0';
	assert_false(bs_api_token_wellformed(t));
	t[BS_API_TOKEN_LEN] = '\n';
	assert_false(bs_api_token_wellformed(t));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void generate(void **state)
{
	(void)state;
	enum { N = 2000 };
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char (*t)[BS_API_TOKEN_LEN + 1] = calloc(N, sizeof(*t));
	assert_non_null(t);
	char err[128];
	long count_prefix[256] = { 0 }, count_secret[256] = { 0 };
	for (int i = 0; i < N; i++) {
		assert_int_equal(bs_api_token_generate(t[i], sizeof(t[i]), err,
						       sizeof(err)), 0);
		assert_true(bs_api_token_wellformed(t[i]));
		for (int k = 4; k < 12; k++)
			count_prefix[(unsigned char)t[i][k]]++;
		/* the last character carries 4 bits only */
		for (int k = 13; k < BS_API_TOKEN_LEN - 1; k++)
			count_secret[(unsigned char)t[i][k]]++;
	}
	/* every character of each alphabet, about evenly: expected 500 per
	 * prefix character (σ ≈ 22) and 1312 per secret character (σ ≈ 36) */
	for (const char *c = b32; *c; c++) {
		assert_in_range(count_prefix[(unsigned char)*c], 350, 650);
	}
	for (const char *c = b64; *c; c++) {
		assert_in_range(count_secret[(unsigned char)*c], 1100, 1530);
	}
	/* all different, and their prefixes too (40 bits: a collision among
	 * 2000 has a probability of about 2e-6) */
	qsort(t, N, sizeof(*t), cmp_str);
	for (int i = 1; i < N; i++)
		assert_true(memcmp(t[i - 1], t[i], 12) != 0);
	free(t);
}

static void hashing(void **state)
{
	(void)state;
	char hex[BS_API_TOKEN_HASH_HEX_LEN + 1];
	/* FIPS 180-2 */
	assert_int_equal(bs_api_token_hash_hex("abc", hex), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(bs_api_token_hash_hex("", hex), 0);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(bs_api_token_hash_hex(
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex), 0);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* python3: hashlib.sha256(b'bst_aaaaaaaa_' + b'A' * 43).hexdigest() */
	assert_int_equal(bs_api_token_hash_hex(
		"bst_aaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", hex), 0);
	assert_string_equal(hex, "b42e0754cadf21670a2073dfc3d2fcd6608ff7cef0105ee190fd661d38d56d2d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(from_bytes),
		cmocka_unit_test(wellformed),
		cmocka_unit_test(generate),
		cmocka_unit_test(hashing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
