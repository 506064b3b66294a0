/*
 * fuzz_parse_units.c — libFuzzer target: the CLI's unit parsers
 * (settlement/parse_units.c). The first byte picks the parser, the rest is
 * the text (NUL-terminated, as from argv). Beyond memory safety it checks
 * each parser's stated range on success and a NUL-terminated message on
 * failure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse_units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	char *s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	char err[256];
	memset(err, 'x', sizeof(err));
	int rc = 0;
	switch (data[0] % 7) {
	case 0: {
		uint64_t bps = 0;
		rc = bs_parse_rate(s, &bps, err, sizeof(err));
		if (rc == 0 && (bps < 1 || bps > BS_RATE_MAX_BPS))
			abort();
		break;
	}
	case 1: {
		int64_t fen = -1;
		rc = bs_parse_money(s, &fen, err, sizeof(err));
		if (rc == 0 && (fen < 0 || fen > BS_MONEY_MAX_FEN))
			abort();
		break;
	}
	case 2: {
		int bp = -1;
		rc = bs_parse_percent(s, &bp, err, sizeof(err));
		if (rc == 0 && (bp < 0 || bp > 10000))
			abort();
		break;
	}
	case 3: {
		uint64_t v = 0;
		int decimals = (int)(size % 10);
		rc = bs_parse_decimal(s, decimals, 1000000000000ULL, &v, err, sizeof(err));
		if (rc == 0 && v > 1000000000000ULL)
			abort();
		break;
	}
	case 4: {
		uint64_t v = 0;
		rc = bs_parse_uint(s, 1, 4294967295u, &v, err, sizeof(err));
		if (rc == 0 && (v < 1 || v > 4294967295u))
			abort();
		break;
	}
	case 5: {
		char canon[64];
		int family = 0;
		rc = bs_parse_prefix(s, canon, sizeof(canon), &family, err, sizeof(err));
		if (rc == 0 && ((family != 4 && family != 6) ||
				memchr(canon, '\0', sizeof(canon)) == NULL))
			abort();
		break;
	}
	default: {
		char out[BS_TIME_TEXT_MAX];
		rc = bs_parse_time(s, out, sizeof(out), err, sizeof(err));
		if (rc == 0 && memchr(out, '\0', sizeof(out)) == NULL)
			abort();
		break;
	}
	}
	if (rc != 0 && (rc != -1 || memchr(err, '\0', sizeof(err)) == NULL))
		abort();
	free(s);
	return 0;
}
