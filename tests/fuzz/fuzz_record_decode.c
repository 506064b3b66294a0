/*
 * fuzz_record_decode.c — libFuzzer target: bs_record_decode (common/record.c)
 * on arbitrary bytes as one Kafka message. Beyond memory safety it checks
 * that a refusal names a reason, and that an accepted record survives a
 * round trip: its encoding decodes again and encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	struct bs_record rec;
	const char *reason = NULL;
	char err[256] = "";
	if (bs_record_decode(buf, size, &rec, &reason, err, sizeof(err)) != 0) {
		if (reason == NULL || reason[0] == '\0' || err[0] == '\0')
			abort();
		free(buf);
		return 0;
	}
	char a[BS_RECORD_MAX_BYTES * 2], b[BS_RECORD_MAX_BYTES * 2];
	int na = bs_record_encode(&rec, a, sizeof(a));
	if (na < 0)
		abort();
	struct bs_record again;
	if (bs_record_decode(a, (size_t)na, &again, &reason, err, sizeof(err)) != 0)
		abort();
	int nb = bs_record_encode(&again, b, sizeof(b));
	if (nb != na || memcmp(a, b, (size_t)na) != 0)
		abort();
	free(buf);
	return 0;
}
