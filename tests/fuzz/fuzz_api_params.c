/*
 * fuzz_api_params.c — libFuzzer target: bandsplit-api's request-parameter
 * parsers (settlement/api/params.c). The first byte picks the parser, the
 * rest is the value (NUL-terminated, as libmicrohttpd hands it over).
 * Beyond memory safety it checks each parser's stated results on success
 * (a time within 1970..9999, a step of 300/3600/86400, a canonical period,
 * an id within 1..2^53, a format the mask allows, an Accept-Encoding
 * that takes gzip still does with ", identity" after it) and a
 * NUL-terminated, bounded message on refusal.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"

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
	unsigned mask = (data[0] >> 4) | API_FMT_BIT(API_FMT_JSON);
	switch (data[0] % 10) {
	case 0: {
		int64_t t = -1;
		rc = api_parse_time(s, &t, err, sizeof(err));
		/* a date is local midnight: up to a day either side */
		assert(rc < 0 || (t >= -86400 && t < 253402387200LL));
		break;
	}
	case 1: {
		int st = 0;
		rc = api_parse_step(s, &st, err, sizeof(err));
		assert(rc < 0 || st == 300 || st == 3600 || st == 86400);
		break;
	}
	case 2: {
		enum api_direction d;
		rc = api_parse_direction(s, &d, err, sizeof(err));
		break;
	}
	case 3: {
		char p[8];
		rc = api_parse_period(s, p, err, sizeof(err));
		assert(rc < 0 || (strlen(p) == 7 && strcmp(p, s) == 0));
		break;
	}
	case 4:
		rc = api_parse_invoice_number(s, err, sizeof(err));
		assert(rc < 0 || strlen(s) == 11 || strlen(s) == 14);
		break;
	case 5: {
		int64_t id = 0;
		rc = api_parse_id(s, &id, err, sizeof(err));
		assert(rc < 0 || (id >= 1 && id <= ((int64_t)1 << 53)));
		break;
	}
	case 6: {
		enum api_format f = API_FMT_COUNT;
		rc = api_parse_format(s, mask, &f, err, sizeof(err));
		assert(rc < 0 || (f < API_FMT_COUNT && (mask & API_FMT_BIT(f))));
		break;
	}
	case 7: {
		enum api_format f = api_format_from_accept(s, mask);
		assert(f < API_FMT_COUNT && (mask & API_FMT_BIT(f)));
		break;
	}
	case 8: {
		/* a header that takes gzip still does with ", identity" added */
		bool gz = api_accepts_gzip(s);
		size_t n = strlen(s);
		char *t = malloc(n + 11);
		if (t != NULL) {
			memcpy(t, s, n);
			memcpy(t + n, ", identity", 11);
			assert(!gz || n + 10 > API_ACCEPT_MAX || api_accepts_gzip(t));
			free(t);
		}
		break;
	}
	default: {
		enum api_lang l;
		rc = api_parse_lang(s, &l, err, sizeof(err));
		break;
	}
	}
	if (rc < 0)
		assert(memchr(err, '\0', sizeof(err)) != NULL &&
		       strlen(err) < API_PARAM_ECHO_MAX + 200);
	free(s);
	return 0;
}
