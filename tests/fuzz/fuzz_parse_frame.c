/*
 * fuzz_parse_frame.c — libFuzzer target: bs_parse_frame (dataplane/parse.c)
 * on arbitrary bytes as one Ethernet frame. Beyond memory safety (ASan,
 * UBSan) it checks what the meter relies on: the kind is one of the five,
 * a malformed frame names a reason and only a malformed one does, and the
 * IPv6 address pointers lie inside the frame.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65535)
		return 0;
	/* a copy of exactly `size` bytes, so ASan sees any read past the end */
	uint8_t *frame = malloc(size ? size : 1);
	if (frame == NULL)
		return 0;
	memcpy(frame, data, size);
	struct bs_frame f;
	memset(&f, 0xa5, sizeof(f));
	enum bs_frame_kind kind = bs_parse_frame(frame, (uint32_t)size, &f);
	if (kind != f.kind || (int)kind < 0 || kind > BS_FRAME_MALFORMED)
		abort();
	if ((kind == BS_FRAME_MALFORMED) != (f.reason != BS_MAL_NONE) ||
	    f.reason >= BS_MAL_REASON_COUNT)
		abort();
	if (bs_malformed_reason_name(f.reason) == NULL)
		abort();
	if (kind == BS_FRAME_IPV6 &&
	    (f.src6 < frame || f.src6 + 16 > frame + size ||
	     f.dst6 < frame || f.dst6 + 16 > frame + size))
		abort();
	free(frame);
	return 0;
}
