/*
 * fuzz_copyrows.c — libFuzzer target: the binary COPY readers of
 * settlement/copyrows.h (the month close's rollup rows and compacted days,
 * a statement's samples). The first byte picks the reader, the second how
 * the rest is cut into CopyData messages (as PQgetCopyData hands them
 * out). Beyond memory safety it checks that a row is only ever returned
 * whole inside its message, that each call moves forward or stops, and
 * that nothing is read after the trailer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copyrows.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 1 << 16)
		return 0;
	const bool days = data[0] & 1;
	const size_t cut = (size_t)data[1] * 7 + 1;     /* message length */
	data += 2;
	size -= 2;
	struct bs_copy3 c = { 0 };
	for (size_t off = 0; off < size;) {
		size_t len = size - off < cut ? size - off : cut;
		/* a message of its own, so that ASan sees a read past it */
		unsigned char *msg = malloc(len ? len : 1);
		if (msg == NULL)
			return 0;
		memcpy(msg, data + off, len);
		const unsigned char *p = msg, *end = msg + len;
		int r;
		for (;;) {
			const unsigned char *before = p;
			int64_t v[3];
			const unsigned char *slots = NULL;
			r = days ? bs_copyday_next(&c, &p, end, v, &slots)
				 : bs_copy3_next(&c, &p, end, v);
			if (r <= 0)
				break;
			if (p <= before || p > end)
				abort();
			if (days && (slots < before || slots + 8 * BS_COPY_DAY_SLOTS > p))
				abort();
			if (days)
				(void)bs_copy_be64(slots + 8 * (BS_COPY_DAY_SLOTS - 1));
		}
		if (r == 0 && p != end)
			abort();
		free(msg);
		if (r < 0)
			return 0;
		if (c.trailer && off + len < size) {
			/* bytes after the trailer: the next message must be refused */
			unsigned char extra = data[off + len];
			const unsigned char *q = &extra;
			int64_t v[3];
			const unsigned char *slots;
			int r2 = days ? bs_copyday_next(&c, &q, &extra + 1, v, &slots)
				      : bs_copy3_next(&c, &q, &extra + 1, v);
			if (r2 != -1)
				abort();
			return 0;
		}
		off += len;
	}
	return 0;
}
