/*
 * fuzz_fastdecode.c — libFuzzer target: the settlement's fast decoder
 * (settle_fast_decode, settlement/settle/fastdecode.c) against the strict
 * one. What the fast path accepts, bs_record_decode must accept too, and
 * both must read the same record (compared through their encodings).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastdecode.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4 * BS_RECORD_MAX_BYTES)
		return 0;
	char *buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	struct bs_record fast, strict;
	if (settle_fast_decode(buf, size, &fast)) {
		const char *reason = NULL;
		char err[256];
		if (bs_record_decode(buf, size, &strict, &reason, err, sizeof(err)) != 0)
			abort();   /* the fast path took what the strict one refuses */
		char a[BS_RECORD_MAX_BYTES * 2], b[BS_RECORD_MAX_BYTES * 2];
		int na = bs_record_encode(&fast, a, sizeof(a));
		int nb = bs_record_encode(&strict, b, sizeof(b));
		if (na < 0 || na != nb || memcmp(a, b, (size_t)na) != 0)
			abort();   /* the two read different records */
	}
	free(buf);
	return 0;
}
