/*
 * fuzz_api_token.c — libFuzzer target: the API token's shape check and
 * encoder (settlement/api_auth.c), which see the Authorization header of
 * every request. The input, NUL-terminated, goes to
 * bs_api_token_wellformed, whose answer must equal an independent check
 * written with character ranges; a well-formed one must give its prefix
 * and a 64-hex-digit SHA-256. The first 37 bytes, as random bytes, must
 * encode to a well-formed token that decodes back to them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool in(char c, char lo, char hi)
{
	return c >= lo && c <= hi;
}

static bool reference(const char *s)
{
	if (strlen(s) != 56 || strncmp(s, "bst_", 4) != 0 || s[12] != '_')
		return false;
	for (int i = 4; i < 12; i++)
		if (!in(s[i], 'a', 'z') && !in(s[i], '2', '7'))
			return false;
	for (int i = 13; i < 56; i++)
		if (!in(s[i], 'a', 'z') && !in(s[i], 'A', 'Z') && !in(s[i], '0', '9') &&
		    s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

static int b32(char c)
{
	return in(c, 'a', 'z') ? c - 'a' : c - '2' + 26;
}

static int b64(char c)
{
	return in(c, 'A', 'Z') ? c - 'A' : in(c, 'a', 'z') ? c - 'a' + 26
	     : in(c, '0', '9') ? c - '0' + 52 : c == '-' ? 62 : 63;
}

/* The token's bits back to bytes: 5 of the prefix, 32 of the secret. */
static void decode(const char *t, unsigned char out[37])
{
	uint64_t bits = 0;
	for (int i = 4; i < 12; i++)
		bits = bits << 5 | (uint64_t)b32(t[i]);
	for (int i = 0; i < 5; i++)
		out[i] = (unsigned char)(bits >> (8 * (4 - i)));
	uint32_t acc = 0;
	int nbits = 0, n = 5;
	for (int i = 13; i < 56; i++) {
		acc = acc << 6 | (uint32_t)b64(t[i]);
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			if (n < 37)
				out[n++] = (unsigned char)(acc >> nbits);
			acc &= (1u << nbits) - 1;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	bool wf = bs_api_token_wellformed(s);
	if (wf != reference(s))
		abort();
	if (wf) {
		char prefix[BS_API_TOKEN_PREFIX_LEN + 1], hex[BS_API_TOKEN_HASH_HEX_LEN + 1];
		bs_api_token_prefix(s, prefix);
		if (memcmp(prefix, s + 4, 8) != 0 || prefix[8] != '\0')
			abort();
		if (bs_api_token_hash_hex(s, hex) != 0 || strlen(hex) != 64 ||
		    strspn(hex, "0123456789abcdef") != 64)
			abort();
	}
	free(s);
	if (size >= 37) {
		char t[BS_API_TOKEN_LEN + 1];
		unsigned char back[37];
		bs_api_token_from_bytes(data, data + 5, t);
		if (!bs_api_token_wellformed(t) || !reference(t))
			abort();
		decode(t, back);
		if (memcmp(back, data, 37) != 0)
			abort();
	}
	return 0;
}
