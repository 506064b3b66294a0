/*
 * gzip.c — one document compressed in one call of zlib's deflate. See
 * gzip.h.
 */
#include "gzip.h"

#include <assert.h>
#include <stdlib.h>
#include <zlib.h>

/* 15 bits of window, + 16: the gzip header and trailer, not zlib's */
#define GZIP_WINDOW_BITS (15 + 16)
#define GZIP_MEM_LEVEL 8

char *api_gzip(const char *in, size_t len, size_t *out_len)
{
	if (len == 0 || len > API_GZIP_MAX)
		return NULL;
	z_stream z = { 0 };
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WINDOW_BITS,
			 GZIP_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	/* deflateBound covers the zlib wrapper; the gzip one is 18 bytes,
	 * 12 more */
	size_t cap = deflateBound(&z, (uLong)len) + 12;
	char *out = malloc(cap);
	if (out == NULL) {
		deflateEnd(&z);
		return NULL;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	size_t n = (size_t)z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END || n >= len) {
		free(out);
		return NULL;
	}
	assert(n <= cap);
	*out_len = n;
	return out;
}
